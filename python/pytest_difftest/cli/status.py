"""``pytest-difftest status``: a dry run of ``pytest --diff``.

Lists the changed files and blocks and the stored tests ``--diff`` would run, with why and how
long they took last time, without importing or running anything. It uses the same selection
pass as the plugin, so it agrees with what ``--diff`` then runs (tests in new test files, which
only collection can name, are listed by file).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
from typing import TYPE_CHECKING, Any

from pytest_difftest import display
from pytest_difftest._core import CONFIG_INI, CONFIG_PLUGINS, VARIANT_SEPARATOR
from pytest_difftest.cli.project import (
    DEFAULT_NORECURSEDIRS,
    DEFAULT_PYTHON_FILES,
    Project,
    add_database_arguments,
    open_database,
)
from pytest_difftest.errors import CliError

if TYPE_CHECKING:
    from pytest_difftest._core import Engine


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="dry run: the changed blocks and the tests `pytest --diff` would run",
        description="Show what changed since the baseline and which tests `pytest --diff` "
        "would run, with the time they took last time. Runs nothing.",
    )
    add_database_arguments(parser)
    parser.add_argument(
        "--variant",
        metavar="NAME",
        help="the run variant (a value of ini diff_env) to show; default: the last run's. "
        "diff_env itself is not evaluated: it is code, which only a test run runs",
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project, _, engine = open_database(args)
    variant, why = _variant(args, project, engine)
    engine.set_variant(variant)
    patterns = project.values("python_files", DEFAULT_PYTHON_FILES)
    skip_dirs = project.values("norecursedirs", DEFAULT_NORECURSEDIRS)
    selection = engine.select(skip_dirs)
    durations = _durations(engine, variant)
    data = {
        "variant": variant,
        # Why this variant: "--variant", "the last run's", or None without variants.
        "variant_from": why,
        "stored_tests": len(selection.known_tests),
        "changed": [
            {
                "path": file.path,
                "blocks": file.blocks,
                "deleted": file.deleted,
                "parse_error": file.parse_error,
            }
            for file in selection.changed
            if file.blocks
        ],
        "new_files": selection.new_files,
        "new_test_files": [
            path
            for path in selection.new_files
            if any(fnmatch.fnmatch(path.rpartition("/")[2], p) for p in patterns)
        ],
        "selected": [
            {"nodeid": nodeid, "reason": reason, "duration": durations.get(nodeid, 0.0)}
            for nodeid, reason in zip(selection.selected, selection.reasons)
        ],
        "estimated_seconds": selection.selected_duration,
        "saved_seconds": selection.deselected_duration,
    }
    print(json.dumps(data, indent=2) if args.json else display.text(_text(data)))
    return 0


def _variant(args: argparse.Namespace, project: Project, engine: Engine) -> tuple[str, str | None]:
    """The run variant to select for, and why that one. ini diff_env is an expression that runs
    code, and this command runs nothing: the variant is the one named, or the one the last
    test run on this database used (`pytest` records it), or the command says it cannot know."""
    if args.variant is not None:
        return args.variant, "--variant"
    if not project.values("diff_env", []):
        return "", None
    try:
        last_run = json.loads(engine.meta("last_run") or "")
    except ValueError:
        last_run = None
    variant = last_run.get("variant") if isinstance(last_run, dict) else None
    if isinstance(variant, str):
        return variant, "the last run's"
    known = sorted({_split(nodeid)[0] for nodeid, *_ in engine.tests()})
    has = ", ".join(map(repr, known)) if known else "none yet"
    raise CliError(
        "ini diff_env names the run variant, and it is not evaluated here (it is code: only a "
        f"test run runs it): name the variant with --variant NAME (the database has {has})"
    )


def _split(stored: str) -> tuple[str, str]:
    """A stored node id as (variant, node id)."""
    variant, separator, nodeid = stored.partition(VARIANT_SEPARATOR)
    return (variant, nodeid) if separator else ("", stored)


def _durations(engine: Engine, variant: str) -> dict[str, float]:
    """The stored duration of each test of `variant`, by node id."""
    found = {}
    for stored, _, _, seconds in engine.tests():
        of, nodeid = _split(stored)
        if of == variant:
            found[nodeid] = seconds
    return found


def _text(data: dict[str, Any]) -> list[str]:
    out = []
    if data["variant_from"] is not None:
        shown = f"variant  {data['variant']!r}"
        if data["variant_from"] != "--variant":
            shown += f" ({data['variant_from']}; --variant NAME for another)"
        out.append(shown)
    if not data["stored_tests"]:
        if data["variant_from"] is not None:
            variant = data["variant"]
            out.append(
                f"no results for variant {variant!r} yet: `pytest --diff` would run every test"
            )
        else:
            out.append("the database knows no tests yet: `pytest --diff` would run every test")
        return out
    for file in data["changed"]:
        state = " (deleted)" if file["deleted"] else ""
        if file["parse_error"]:
            state = f" (does not parse: {file['parse_error']})"
        out.append(f"changed  {file['path']}{state}: {', '.join(file['blocks'])}")
    out.extend(f"new      {path}" for path in data["new_files"])
    if any(file["path"] == CONFIG_INI for file in data["changed"]):
        out.append(
            "         (a run given another configuration file with -c FILE reads other values: "
            "pass the same -c option to status)"
        )
    if any(file["path"] == CONFIG_PLUGINS for file in data["changed"]):
        out.append(
            "         (a plugin left out with -p on pytest's command line changes this too: "
            "pass the same -p options to status)"
        )
    if not data["changed"] and not data["new_files"]:
        out.append("no changes since the baseline")
    selected = data["selected"]
    out.append(
        f"would run {len(selected):,} of {data['stored_tests']:,} stored tests, "
        f"about {display.duration(data['estimated_seconds'])} "
        f"(saves about {display.duration(data['saved_seconds'])})"
    )
    out.extend(
        f"  {test['nodeid']}  ({display.duration(test['duration'])}): {test['reason']}"
        for test in selected
    )
    if data["new_test_files"]:
        out.append("and every test in the new files " + ", ".join(data["new_test_files"]))
    return out
