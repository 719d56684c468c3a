"""Command-line options and ini keys → one validated, frozen `Settings`."""

from __future__ import annotations

import argparse
import builtins
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_difftest._core import VARIANT_SEPARATOR
from pytest_difftest.dbfile import (
    DB_DIRECTORY,
    DB_NAME,
    DatabasePathError,
    check_location,
    normalized,
)


def positive_int(text: str) -> int:
    """argparse `type=` for counts: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def add_options(parser: pytest.Parser) -> None:
    """Registers the ``--diff*`` options and ``diff_*`` ini keys."""
    group = parser.getgroup("difftest", "run only the tests affected by a change (pytest-difftest)")
    group.addoption(
        "--diff",
        action="store_true",
        help="run only the tests affected by changes since the baseline, plus failing ones",
    )
    group.addoption(
        "--diff-baseline",
        action="store_true",
        help="record which code each test depends on (incremental after the first run)",
    )
    group.addoption(
        "--diff-force",
        action="store_true",
        help="with --diff-baseline: discard the database and rebuild it from a full run",
    )
    group.addoption("--diff-v", action="store_true", help="list the changed files and blocks")
    group.addoption(
        "--diff-explain", action="store_true", help="say, for each selected test, why it runs"
    )
    group.addoption(
        "--diff-batch-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="tests written to the database per transaction (default 20; ini diff_batch_size)",
    )
    group.addoption(
        "--diff-cache-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="files kept parsed in memory (default 100000; ini diff_cache_size)",
    )
    group.addoption(
        "--diff-db",
        default=None,
        metavar="PATH",
        help="the database file (default <cache_dir>/pytest-difftest/pytest_difftest.db; "
        "ini diff_db)",
    )
    group.addoption(
        "--diff-remote",
        default=None,
        metavar="URL",
        help="a shared baseline (s3://bucket/key.db or file:///path/key.db) fetched and merged "
        "into the local database first (ini diff_remote_url)",
    )
    group.addoption(
        "--diff-upload",
        action="store_true",
        help="with --diff-baseline: upload the finished baseline to --diff-remote",
    )
    group.addoption(
        "--diff-project-directory",
        action="append",
        default=None,
        metavar="DIR",
        help="track code and data files under DIR only (repeatable; default rootdir; a "
        "directory outside rootdir tracks a sibling package; ini diff_project_directories)",
    )
    group.addoption(
        "--diff-subprocess",
        action="store_true",
        default=None,
        help="with --diff-baseline: also record what Python subprocesses of a test execute "
        "(ini diff_subprocess)",
    )
    parser.addini("diff_db", "the pytest-difftest database file, relative to rootdir")
    parser.addini(
        "diff_depends",
        "declared dependencies, one rule a line: 'NODEID_GLOB: FILE_GLOB [FILE_GLOB ...]'",
        type="linelist",
        default=[],
    )
    parser.addini(
        "diff_always", "node id globs of tests every --diff run runs", type="linelist", default=[]
    )
    parser.addini(
        "diff_project_directories",
        "directories whose code and data files are tracked (default rootdir)",
        type="paths",
        default=[],
    )
    parser.addini(
        "diff_env",
        "run variant: a Python expression (os, sys, hashlib, md5(s) available); results are kept "
        "per value",
    )
    parser.addini(
        "diff_subprocess", "record what Python subprocesses of tests execute", type="bool"
    )
    parser.addini("diff_remote_url", "a shared baseline: s3://bucket/key.db or file:///path/key.db")
    parser.addini("diff_batch_size", "tests written to the database per transaction", default="20")
    parser.addini("diff_cache_size", "files kept parsed in memory", default="100000")


@dataclass(frozen=True)
class Settings:
    """What the user asked for, validated once."""

    # --diff-baseline (record, and select what to rerun), rather than --diff (select only).
    baseline: bool
    force: bool
    verbose: bool
    explain: bool
    batch_size: int
    cache_size: int
    db_path: Path
    remote_url: str | None
    upload: bool
    # (node id glob, file globs) from ini diff_depends.
    depends: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Node id globs from ini diff_always.
    always: tuple[str, ...] = ()
    project_directories: tuple[Path, ...] = ()
    subprocess: bool = False
    # The run variant (ini diff_env's value); "" by default.
    variant: str = ""

    def cache_file(self, name: str) -> Path:
        """A file beside the database keeping what is slow to compute and rarely changes
        (what the installed distributions say), with the key it is valid for."""
        return self.db_path.with_name(name)

    @property
    def option(self) -> str:
        """The option that made this run: ``--diff-baseline`` or ``--diff``."""
        return "--diff-baseline" if self.baseline else "--diff"

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings | None:
        """None when the plugin is inactive (neither --diff nor --diff-baseline)."""
        option = config.option
        if option.diff and option.diff_baseline:
            raise pytest.UsageError(
                "--diff and --diff-baseline exclude each other: --diff-baseline already runs "
                "only the affected tests and updates the baseline"
            )
        if option.diff_force and not option.diff_baseline:
            raise pytest.UsageError(
                "--diff-force rebuilds the baseline: use it with --diff-baseline"
            )
        if option.diff_upload and not option.diff_baseline:
            raise pytest.UsageError(
                "--diff-upload uploads a finished baseline: use it with --diff-baseline"
            )
        if option.diff_remote is not None and not (option.diff or option.diff_baseline):
            raise pytest.UsageError(
                "--diff-remote is where --diff and --diff-baseline get their baseline: "
                "use it with one of them"
            )
        if not (option.diff or option.diff_baseline):
            return None
        remote = option.diff_remote or str(config.getini("diff_remote_url")).strip() or None
        if option.diff_upload and remote is None:
            raise pytest.UsageError(
                "--diff-upload needs somewhere to upload to: --diff-remote URL or ini "
                "diff_remote_url"
            )
        return cls(
            baseline=bool(option.diff_baseline),
            force=option.diff_force,
            verbose=option.diff_v,
            explain=option.diff_explain,
            batch_size=_setting(config, option.diff_batch_size, "diff_batch_size"),
            cache_size=_setting(config, option.diff_cache_size, "diff_cache_size"),
            db_path=_db_path(config),
            remote_url=remote,
            upload=option.diff_upload,
            depends=_depends(config.getini("diff_depends")),
            always=tuple(str(line).strip() for line in config.getini("diff_always")),
            project_directories=_project_directories(config),
            subprocess=bool(option.diff_subprocess or config.getini("diff_subprocess")),
            variant=variant_of(str(config.getini("diff_env") or "").strip()),
        )


def _db_path(config: pytest.Config) -> Path:
    """--diff-db, else ini diff_db, else inside pytest's cache directory. The cache directory
    is pytest's cacheprovider's setting; with ``-p no:cacheprovider`` it does not exist, and
    the default place, ``.pytest_cache``, is used all the same."""
    given = config.option.diff_db
    chosen = given or config.getini("diff_db")
    if chosen:
        path = Path(chosen)
        source = f"--diff-db {given}" if given else "ini diff_db"
    else:
        try:
            cache_dir = Path(config.getini("cache_dir"))
        except ValueError:
            cache_dir = Path(".pytest_cache")
        path = cache_dir / DB_DIRECTORY / DB_NAME
        source = "the database"
    path = normalized(path, config.rootpath)
    try:
        check_location(path, config.rootpath)
    except DatabasePathError as error:
        raise pytest.UsageError(f"{source}: {error}") from None
    return path


def _setting(config: pytest.Config, from_command_line: int | None, ini_key: str) -> int:
    if from_command_line is not None:
        return from_command_line
    text = str(config.getini(ini_key)).strip()
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as error:
        raise pytest.UsageError(f"ini key {ini_key}: {error}") from None


def _depends(lines: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rules = []
    for line in lines:
        tests, colon, files = str(line).partition(":")
        if not colon or not tests.strip() or not files.split():
            raise pytest.UsageError(
                f"ini key diff_depends: expected 'NODEID_GLOB: FILE_GLOB [FILE_GLOB ...]', "
                f"got {line!r}"
            )
        rules.append((tests.strip(), tuple(files.split())))
    return tuple(rules)


def tracked_directories(given: list[str] | None, config: pytest.Config) -> list[Path]:
    """--diff-project-directory values (`given`), else ini diff_project_directories; empty
    for the default, rootdir. Unchecked: the recorder needs them before options are final."""
    if given:
        return [Path(d) if Path(d).is_absolute() else Path.cwd() / d for d in given]
    return [Path(d) for d in config.getini("diff_project_directories")]


def _project_directories(config: pytest.Config) -> tuple[Path, ...]:
    directories = tracked_directories(config.option.diff_project_directory, config)
    for directory in directories:
        if not directory.is_dir():
            raise pytest.UsageError(f"--diff-project-directory: {directory} is not a directory")
    return tuple(directories)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


# The builtins a diff_env expression may use: values and the functions that compute with them.
# Nothing that imports, opens, evaluates or reaches into namespaces (`__import__`, `open`,
# `exec`, `eval`, `compile`, `getattr`, `globals`, `vars`, `breakpoint`, `input`).
_SAFE_BUILTIN_NAMES = (
    "abs all any ascii bin bool chr dict divmod enumerate filter float format frozenset hex "
    "int isinstance len list map max min oct ord pow range repr reversed round set slice "
    "sorted str sum tuple zip"
)
_SAFE_BUILTINS = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES.split()}


def variant_of(expression: str) -> str:
    """The value of ini diff_env: the name of the run variant whose results this run uses.

    The expression is the user's code, run as conftest.py is, only where a test run starts
    (never by the ``pytest-difftest`` command), with the names README lists: ``os``, ``sys``,
    ``hashlib``, ``md5`` and plain builtins. Not a sandbox (``os`` can do anything): a narrow
    namespace that keeps it an expression for a value."""
    if not expression:
        return ""
    namespace = {
        "__builtins__": _SAFE_BUILTINS,
        "os": os,
        "sys": sys,
        "hashlib": hashlib,
        "md5": _md5,
    }
    try:
        value = eval(expression, namespace)
    except Exception as error:  # any error in the user's expression is a usage error
        raise pytest.UsageError(
            f"ini key diff_env: cannot evaluate {expression!r}: {type(error).__name__}: {error}"
        ) from None
    # The separator of stored variant node ids cannot be part of a variant.
    return str(value).replace(VARIANT_SEPARATOR, " ")
