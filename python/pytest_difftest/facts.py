"""Facts about the environment that tests depend on, as pseudo-files for the core.

A pseudo-file is a path starting with ``<`` (no project path does) whose one ``<data>`` block's
checksum is the hash of the fact's value: ``<dist>/NAME`` (an installed distribution's version
and install location), ``<config>/ini`` (pytest's configuration section), ``<config>/plugins``
(the installed pytest plugins), ``<python>`` (the interpreter's minor version),
``<glob>/PATTERN`` (the files a declared glob matches) and ``<snapshot>/FILE::NAME`` (a test's
entries in a syrupy amber file, see `integrations.amber`). A test that depends on one is
selected when the value changes, through the same stale-block machinery as code.
"""

from __future__ import annotations

import configparser
import contextlib
import glob
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import pytest

# The pseudo-files the core knows by name are defined there (`GLOBAL_FACTS`, `ALWAYS`, ...).
from pytest_difftest._core import CONFIG_INI, CONFIG_PLUGINS, PYTHON
from pytest_difftest.integrations import amber

DIST_PREFIX = "<dist>/"
GLOB_PREFIX = "<glob>/"
# The pseudo-files `project_facts` computes.
PROJECT_PREFIXES = (GLOB_PREFIX, amber.PREFIX)
# Our own distribution runs in every test's window, and its version is not the tests' input.
OWN_DISTRIBUTION = "pytest-difftest"
# `test_machinery` of a session: reading the plugins' metadata takes tens of milliseconds.
_MACHINERY = pytest.StashKey[dict[str, str]]()


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution_facts() -> dict[str, str]:
    """``<dist>/NAME`` → what identifies the installed distribution: the version from its
    metadata directory's name, the size and modification time of its metadata file (a
    reinstall or an edited version), and for a direct (editable, local) install where it comes
    from. One directory listing per ``sys.path`` entry and a stat per distribution, without
    parsing any metadata: this runs on every ``--diff``."""
    facts: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except OSError:
            continue  # a zip file, a missing directory
        with listing:
            for item in listing:
                fact = _distribution_fact(item)
                if fact is not None:
                    # The first on sys.path wins, as for imports.
                    facts.setdefault(fact[0], fact[1])
    return facts


def _distribution_fact(item: os.DirEntry[str]) -> tuple[str, str] | None:
    name = item.name
    if name.endswith(".dist-info"):
        metadata_file = os.path.join(item.path, "METADATA")
    elif name.endswith(".egg-info"):
        is_dir = item.is_dir()
        metadata_file = os.path.join(item.path, "PKG-INFO") if is_dir else item.path
    else:
        return None
    try:
        stat = os.stat(metadata_file)
    except OSError:
        return None
    project, _, version = name.rpartition(".")[0].partition("-")
    value = f"{version}\n{stat.st_size}:{stat.st_mtime_ns}"
    direct_url = os.path.join(item.path, "direct_url.json")
    with contextlib.suppress(OSError), open(direct_url, encoding="utf-8") as file:
        value += "\n" + file.read()
    return DIST_PREFIX + normalize(project), value


def test_machinery(
    config: pytest.Config, cache: Path | None, installed: dict[str, str] | None
) -> dict[str, str]:
    """Distributions that run around every test rather than in it: pytest, pluggy, the
    installed pytest plugins and what they require (xdist's execnet, pytest-cov's coverage),
    with their versions. Every test depends on all of them at once (``<config>/plugins``), so
    that a test's own distributions are the same with and without a plugin that runs code
    during tests, such as xdist. Computed once per session, and kept in `cache` while the same
    plugins are loaded and no distribution changed (`installed`: `distribution_facts`):
    reading the plugins' metadata took 20 ms of every run."""
    found = config.stash.get(_MACHINERY, None)
    if found is None:
        plugins = config.pluginmanager.list_plugin_distinfo()
        identity = json.dumps(sorted((installed or distribution_facts()).items()))
        key = [
            sys.version,
            *sorted(getattr(plugin, "__name__", type(plugin).__name__) for plugin, _ in plugins),
            hashlib.sha256(identity.encode()).hexdigest(),
        ]
        found = config.stash[_MACHINERY] = cached(
            cache,
            key,
            lambda: _machinery(
                (str(dist.project_name or ""), str(dist.version), getattr(dist, "requires", None))
                for _, dist in plugins
            ),
            lambda stored: {str(name): str(version) for name, version in stored.items()},
        )
    return found


_Value = TypeVar("_Value")


def cached(
    cache: Path | None, key: list[str], compute: Callable[[], _Value], load: Callable[[Any], _Value]
) -> _Value:
    """`compute()`, read back from the JSON file `cache` (`load` turning what was stored into
    the value, raising on anything else) while it was written under the same `key`, and
    written there when it was not. A missing, unreadable or foreign file means computing."""
    if cache is not None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored["key"] == key:
                return load(stored["value"])
    value = compute()
    if cache is not None:
        with contextlib.suppress(OSError):
            partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            partial.write_text(json.dumps({"key": key, "value": value}), encoding="utf-8")
            os.replace(partial, cache)
    return value


def installed_machinery(plugin_options: Iterable[str] = ()) -> dict[str, str]:
    """`test_machinery` without a pytest session (for `pytest-difftest status`): the plugins
    installed with a ``pytest11`` entry point, as pytest loads them, given the values of its
    ``-p`` options (``no:NAME`` keeps the entry point NAME out; with
    PYTEST_DISABLE_PLUGIN_AUTOLOAD only those named load)."""
    options = list(plugin_options)
    blocked = {option[3:] for option in options if option.startswith("no:")}
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    plugins = []
    for dist in metadata.distributions():
        names = {e.name for e in dist.entry_points if e.group == "pytest11"}
        if any(n not in blocked and (autoload or n in options) for n in names):
            plugins.append((str(dist.metadata["Name"] or ""), str(dist.version), dist.requires))
    return _machinery(plugins)


def _machinery(plugins: Iterable[tuple[str, str, Iterable[str] | None]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("pytest", "pluggy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    for project_name, version, requires in plugins:
        if not project_name:
            continue
        found[normalize(project_name)] = version
        for requirement in requires or ():
            if "extra ==" in requirement.replace('"', "").replace("'", ""):
                continue
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            if match:
                with contextlib.suppress(metadata.PackageNotFoundError):
                    found[normalize(match.group())] = metadata.version(match.group())
    found.pop(OWN_DISTRIBUTION, None)
    return found


def config_facts(inipath: Path | None, machinery: dict[str, str]) -> dict[str, str]:
    """pytest's configuration section (only the section pytest reads, from whichever file it
    came from), the test machinery's distributions, and the Python version."""
    return {
        CONFIG_INI: config_section(inipath),
        CONFIG_PLUGINS: "\n".join(
            f"{name}=={version}" for name, version in sorted(machinery.items())
        ),
        PYTHON: f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]}",
    }


def config_section(inipath: Path | None) -> str:
    """The part of pytest's configuration file that pytest reads, canonically: other sections
    (a linter's, the project's metadata) do not affect tests."""
    if inipath is None:
        return ""
    try:
        text = inipath.read_text(encoding="utf-8")
    except OSError as error:
        return f"unreadable: {error}"
    if inipath.suffix == ".toml":
        return _toml_section(text)
    return _ini_section(text, "tool:pytest" if inipath.name == "setup.cfg" else "pytest")


def _toml_section(text: str) -> str:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pytest depends on tomli before 3.11
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        tool = tomllib.loads(text).get("tool", {})
    except ValueError:
        return text  # pytest will report it; any edit counts
    return json.dumps(tool.get("pytest", {}), sort_keys=True, default=str)


def _ini_section(text: str, name: str) -> str:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error:
        return text
    if not parser.has_section(name):
        return ""
    return json.dumps(sorted(parser.items(name)))


def glob_matches(root: Path, pattern: str) -> list[str]:
    """The files under `root` a declared glob (``data/**/*.json``) matches, relative, sorted."""
    found = []
    for match in glob.glob(os.path.join(glob.escape(str(root)), pattern), recursive=True):
        if os.path.isfile(match):
            found.append(os.path.relpath(match, root).replace(os.sep, "/"))
    return sorted(found)


def glob_facts(root: Path, stored: list[str]) -> dict[str, str]:
    """``<glob>/PATTERN`` → the files it matches now, for the stored declared globs."""
    return {
        path: "\n".join(glob_matches(root, path[len(GLOB_PREFIX) :]))
        for path in stored
        if path.startswith(GLOB_PREFIX)
    }


def project_facts(root: Path, stored: list[str]) -> dict[str, str]:
    """The facts that stand for parts of the project's files, for the stored pseudo-files:
    declared globs and snapshot entries. Computed wherever a selection is (a run, `status`),
    and by a recording run for those it meets first."""
    found = glob_facts(root, stored)
    found.update(amber.entry_facts(root, stored))
    return found


def markers_help() -> list[str]:
    """The ``markers`` ini lines that register our markers."""
    return [
        "diff_depends(*globs): pytest-difftest: the test depends on the files matching these "
        "globs (relative to rootdir)",
        "diff_always: pytest-difftest: run this test in every --diff run",
    ]
