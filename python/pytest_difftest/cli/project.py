"""Finding a project from the command line as pytest would: its rootdir, ini values, database.

Only the simple cases of pytest's rules are followed (the first ancestor of the working
directory holding a pytest configuration); ``--root`` and an explicit database path cover the
rest.
"""

from __future__ import annotations

import argparse
import configparser
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_difftest.dbfile import DB_DIRECTORY, DB_NAME, DatabasePathError, check_file, normalized
from pytest_difftest.errors import CliError

if TYPE_CHECKING:
    from pytest_difftest._core import Engine

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before 3.11
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

# pytest's own defaults for the ini keys selection needs.
DEFAULT_PYTHON_FILES = ["test_*.py", "*_test.py"]
DEFAULT_NORECURSEDIRS = [
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
]


@dataclass(frozen=True)
class Project:
    """A project's root directory and the ini values pytest-difftest reads."""

    root: Path
    ini: dict[str, list[str]] = field(default_factory=dict)
    # The configuration file the ini values come from (pytest's `inipath`).
    inipath: Path | None = None

    def values(self, key: str, default: list[str]) -> list[str]:
        return self.ini.get(key, default)

    def default_db(self) -> Path:
        """The database `pytest --diff` uses here: ini ``diff_db``, else in the cache dir."""
        chosen = self.ini.get("diff_db")
        if chosen:
            path = Path(chosen[0])
        else:
            cache_dir = self.ini.get("cache_dir", [".pytest_cache"])[0]
            path = Path(cache_dir, DB_DIRECTORY, DB_NAME)
        return normalized(path, self.root)


def find_project(start: Path, root: Path | None = None, config: Path | None = None) -> Project:
    """The project around `start` (or at `root`, when given); with `config` (pytest's ``-c``),
    the one that file configures, rooted at its directory unless `root` says otherwise."""
    if config is not None:
        ini = _read_ini(config)
        return Project((root or config.parent).resolve(), ini or {}, config.resolve())
    directories = [root] if root is not None else [start, *start.parents]
    for directory in directories:
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            ini = _read_ini(directory / name)
            if ini is not None:
                return Project(directory.resolve(), ini, (directory / name).resolve())
    return Project((root or start).resolve())


def _read_ini(path: Path) -> dict[str, list[str]] | None:
    """The pytest section of a configuration file, or None if it has none."""
    if not path.is_file():
        return None
    try:
        if path.suffix == ".toml":
            with path.open("rb") as stream:
                data = tomllib.load(stream)
            section = data.get("tool", {}).get("pytest", {}).get("ini_options")
            if not isinstance(section, dict):
                return None
            return {key: _as_list(value) for key, value in section.items()}
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
    except (OSError, ValueError, configparser.Error):
        return None
    name = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    if not parser.has_section(name):
        # pytest.ini makes its directory the rootdir even without a [pytest] section.
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    return {key: value.split() for key, value in parser.items(name)}


def _as_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value).split()


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``[DB]`` and ``--root`` arguments every database command takes."""
    parser.add_argument(
        "db",
        nargs="?",
        default=None,
        metavar="DB",
        help="the database file (default: the one `pytest --diff` uses in this project)",
    )
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="the project's root directory (default: found like pytest's rootdir)",
    )
    parser.add_argument(
        "-c",
        dest="config_file",
        default=None,
        metavar="FILE",
        help="the -c option of the pytest command line: the configuration file the run read",
    )
    parser.add_argument(
        "-p",
        dest="plugin_options",
        action="append",
        default=[],
        metavar="NAME",
        help="a -p option of the pytest command line (-p no:NAME: a plugin left out), so that "
        "the plugins compare as in that run; ini addopts and PYTEST_ADDOPTS are read too",
    )


def open_database(args: argparse.Namespace) -> tuple[Project, Path, Engine]:
    """The project, database path and an engine on it, told about the environment as the
    plugin tells it; `CliError` if there is no database."""
    from pytest_difftest._core import Engine

    root = Path(args.root) if args.root else None
    if root is not None and not root.is_dir():
        raise CliError(f"--root {args.root}: no such directory")
    config = Path(args.config_file) if args.config_file else None
    if config is not None and not config.is_file():
        raise CliError(f"-c {args.config_file}: no such file")
    project = find_project(Path.cwd(), root, config)
    db_path = Path(args.db).resolve() if args.db else project.default_db()
    source = f"DB {args.db}" if args.db else "ini diff_db" if "diff_db" in project.ini else None
    try:
        check_file(db_path)
    except DatabasePathError as error:
        raise CliError(f"{source}: {error}" if source else str(error)) from None
    if not db_path.is_file():
        raise CliError(
            f"no database at {db_path}: record one with `pytest --diff-baseline`, "
            "or name the database file"
        )
    # Ini's tracked directories, as the plugin takes them when no option names others.
    base = project.inipath.parent if project.inipath else project.root
    tracked = [base / d for d in project.values("diff_project_directories", [])]
    engine = Engine(db_path, project.root, project_directories=tracked)
    describe_environment(project, engine, args.plugin_options)
    return project, db_path, engine


def describe_environment(project: Project, engine: Engine, plugin_options: list[str]) -> None:
    """Gives the engine the environment facts `pytest --diff` would, so that selection and the
    views see the same configuration, plugins and packages. Not the run variant: ini diff_env
    is code, which only a test run evaluates (see `status`)."""
    from pytest_difftest import facts as env

    options = [*_plugin_options(project), *plugin_options]
    facts = env.config_facts(project.inipath, env.installed_machinery(options))
    facts.update(env.distribution_facts())
    facts.update(env.project_facts(project.root, engine.pseudo_files()))
    engine.set_facts(sorted(facts.items()))


def _arguments(text: str) -> list[str]:
    """`text` split like a shell splits it; on spaces when its quotes do not match (pytest
    refuses such options itself, with its own message)."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _plugin_options(project: Project) -> list[str]:
    """The values of the ``-p`` options in ini addopts and PYTEST_ADDOPTS, as pytest reads
    them before the command line."""
    # The ini value is kept split on spaces: joined again, it splits as pytest splits it.
    words = _arguments(" ".join(project.values("addopts", [])))
    words += _arguments(os.environ.get("PYTEST_ADDOPTS", ""))
    found = []
    for index, word in enumerate(words):
        if word == "-p" and index + 1 < len(words):
            found.append(words[index + 1])
        elif word.startswith("-p") and len(word) > 2 and not word.startswith("--"):
            found.append(word[2:])
    return found
