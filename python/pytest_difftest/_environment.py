"""Facts about the environment that tests depend on, as pseudo-files for the core.

A pseudo-file is a path starting with ``<`` (no project path does) whose one ``<data>`` block's
checksum is the hash of the fact's value: ``<dist>/NAME`` (an installed distribution's version
and install location), ``<config>/ini`` (pytest's configuration section), ``<config>/plugins``
(the installed pytest plugins), ``<python>`` (the interpreter's minor version) and
``<glob>/PATTERN`` (the files a declared glob matches). A test that depends on one is selected
when the value changes, through the same stale-block machinery as code.
"""

from __future__ import annotations

import configparser
import contextlib
import glob
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest

from pytest_difftest._paths import ProjectFiles

CONFIG_INI = "<config>/ini"
CONFIG_PLUGINS = "<config>/plugins"
PYTHON = "<python>"
ALWAYS = "<always>"
DIST_PREFIX = "<dist>/"
GLOB_PREFIX = "<glob>/"
# Facts every test depends on: a change selects everything. The Rust core names the same three
# (record.rs GLOBAL_FACTS) to store them once per shared set rather than once per test.
GLOBAL_FACTS = (CONFIG_INI, CONFIG_PLUGINS, PYTHON)
# Our own distribution runs in every test's window, and its version is not the tests' input.
_OWN_DISTRIBUTION = "pytest-difftest"


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


def test_machinery(config: pytest.Config) -> dict[str, str]:
    """Distributions that run around every test rather than in it: pytest, pluggy, the
    installed pytest plugins and what they require (xdist's execnet, pytest-cov's coverage),
    with their versions. Every test depends on all of them at once (``<config>/plugins``), so
    that a test's own distributions are the same with and without a plugin that runs code
    during tests, such as xdist."""
    return _machinery(
        (str(dist.project_name or ""), str(dist.version), getattr(dist, "requires", None))
        for _, dist in config.pluginmanager.list_plugin_distinfo()
    )


def installed_machinery() -> dict[str, str]:
    """`test_machinery` without a pytest session (for `pytest-difftest status`): the plugins
    are those installed with a ``pytest11`` entry point, as pytest loads them by default."""
    plugins = [
        (str(dist.metadata["Name"] or ""), str(dist.version), dist.requires)
        for dist in metadata.distributions()
        if any(entry_point.group == "pytest11" for entry_point in dist.entry_points)
    ]
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
    found.pop(_OWN_DISTRIBUTION, None)
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


class DistributionMap:
    """Which installed distributions a test used: the distributions owning the modules whose
    code it executed outside the project, and those its module imported."""

    def __init__(
        self, files: ProjectFiles, machinery: dict[str, str], cache: Path | None = None
    ) -> None:
        self.files = files
        skipped = {_OWN_DISTRIBUTION, *machinery}
        # Import name → distributions, computed once (and kept in `cache` between sessions).
        self._owners = {
            top: sorted({normalize(name) for name in names} - skipped)
            for top, names in _cached_import_owners(files, cache).items()
        }
        entries = {os.path.realpath(entry) for entry in sys.path if entry}
        # Longest first: a site directory inside another path entry wins.
        self._entries = sorted(
            (entry.rstrip(os.sep) + os.sep for entry in entries), key=len, reverse=True
        )
        self._by_file: dict[str, list[str]] = {}
        self._by_module: dict[str, list[str]] = {}
        # By the code object's id, not the code object: equal code objects of two files resolve
        # their names in different modules. The code object is held so its id is not reused.
        self._by_project_code: dict[int, tuple[CodeType, frozenset[str]]] = {}
        # Each distinct answer of `_by_project_code`, kept once: the code objects of one module
        # mostly share theirs, and a baseline asks for tens of thousands of them.
        self._answers: dict[frozenset[str], frozenset[str]] = {}
        # Project file name → its module, rebuilt when sys.modules grows.
        self._module_by_file: dict[str, ModuleType] = {}
        self._modules_seen = -1

    def of_code(self, codes: Iterable[CodeType]) -> set[str]:
        """The distributions of the code objects outside the project."""
        found: set[str] = set()
        cache = self._by_file
        for code in codes:
            filename = code.co_filename
            dists = cache.get(filename)
            if dists is None:
                dists = cache[filename] = self._file_owners(filename)
            if dists:
                found.update(dists)
        return found

    def of_project_code(self, codes: Iterable[CodeType]) -> set[str]:
        """The distributions that the project code in `codes` refers to: modules imported
        inside a function (their names are in the code's ``co_names``) and whatever the
        code's module imports. On Python 3.12+ the recorder reports library code only to the
        first test that runs it, so this is what keeps every later test that reaches the
        library through project code depending on it."""
        found: set[str] = set()
        cache = self._by_project_code
        for code in codes:
            entry = cache.get(id(code))
            if entry is None:
                dists = self._project_code_owners(code)
                entry = cache[id(code)] = (code, self._answers.setdefault(dists, dists))
            dists = entry[1]
            if dists:
                found.update(dists)
        return found

    def _project_code_owners(self, code: CodeType) -> frozenset[str]:
        if self.files.relative(code.co_filename) is None:
            return frozenset()
        dists: set[str] = set()
        for name in code.co_names:
            owners = self._owners.get(name)  # most names are no distribution's: one lookup
            if not owners:
                continue
            filename = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(filename, str) and self.files.project_path(filename) is None:
                dists.update(owners)
        if len(sys.modules) != self._modules_seen:
            self._modules_seen = len(sys.modules)
            self._module_by_file = {}
            for module in list(sys.modules.values()):
                filename = getattr(module, "__file__", None)
                if isinstance(filename, str):
                    self._module_by_file[filename] = module
        dists.update(self.of_module(self._module_by_file.get(code.co_filename)))
        return frozenset(dists)

    def of_module(self, module: ModuleType | None) -> list[str]:
        """The distributions a test module imports from (its global names' top-level
        modules): a test that only calls C code of a package still depends on it."""
        if module is None:
            return []
        name = module.__name__
        found = self._by_module.get(name)
        if found is None:
            tops: set[str] = set()
            for value in list(vars(module).values()):
                owner: Any = value.__name__ if isinstance(value, ModuleType) else _module_of(value)
                if isinstance(owner, str) and owner:
                    tops.add(owner.partition(".")[0])
            dists: set[str] = set()
            for top in tops:
                loaded = sys.modules.get(top)
                filename = getattr(loaded, "__file__", None)
                if isinstance(filename, str) and self.files.project_path(filename) is None:
                    dists.update(self._owners.get(top, ()))
            found = self._by_module[name] = sorted(dists)
        return found

    def _file_owners(self, filename: str) -> list[str]:
        if self.files.relative(filename) is not None or not os.path.isabs(filename):
            return []  # project code, or frozen/generated code
        full = os.path.realpath(filename)
        for entry in self._entries:
            if full.startswith(entry):
                top = full[len(entry) :].split(os.sep, 1)[0]
                top = top.split(".", 1)[0]  # "six.py", "_cffi.cpython-311.so"
                return self._owners.get(top, [])
        return []


def _cached_import_owners(files: ProjectFiles, cache: Path | None) -> Mapping[str, list[str]]:
    """`_import_owners`, read from `cache` while the import path's directories outside the
    project are unchanged: installing, upgrading or removing a distribution adds or removes its
    ``.dist-info`` directory, which changes the modification time of the directory holding it.
    Computing it reads every installed distribution's file list (a tenth of a second or more).
    """
    key = [sys.version]
    for entry in sys.path:
        if files.project_path(os.path.join(entry or ".", "x")) is not None:
            continue  # the project's own directories: a new test file is no new distribution
        with contextlib.suppress(OSError):
            key.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
    if cache is not None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            stored = json.loads(cache.read_text(encoding="utf-8"))
            if stored["key"] == key:
                return {
                    str(top): [str(n) for n in names] for top, names in stored["owners"].items()
                }
    owners = _import_owners()
    if cache is not None:
        with contextlib.suppress(OSError):
            partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            partial.write_text(json.dumps({"key": key, "owners": owners}), encoding="utf-8")
            os.replace(partial, cache)
    return owners


def _import_owners() -> Mapping[str, list[str]]:
    """Top-level import name → the distributions providing it
    (`importlib.metadata.packages_distributions`, which Python 3.9 lacks)."""
    stdlib = getattr(metadata, "packages_distributions", None)
    if stdlib is not None:
        owners: Mapping[str, list[str]] = stdlib()
        return owners
    found: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        tops = set((dist.read_text("top_level.txt") or "").split())
        for file in () if tops else dist.files or ():
            parts = file.parts
            top = parts[0] if len(parts) > 1 else parts[0].partition(".")[0]
            if top and not top.endswith((".dist-info", ".egg-info")) and top != "..":
                tops.add(top)
        for top in tops:
            found.setdefault(top, []).append(name)
    return found


def _module_of(value: object) -> object:
    try:
        return getattr(value, "__module__", None)
    except Exception:  # a proxy object whose attribute access fails
        return None


def markers_help() -> list[str]:
    """The ``markers`` ini lines that register our markers."""
    return [
        "diff_depends(*globs): pytest-difftest: the test depends on the files matching these "
        "globs (relative to rootdir)",
        "diff_always: pytest-difftest: run this test in every --diff run",
    ]
