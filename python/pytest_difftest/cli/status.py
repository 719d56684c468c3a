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
from typing import Any

from pytest_difftest import display
from pytest_difftest.cli.project import (
    DEFAULT_NORECURSEDIRS,
    DEFAULT_PYTHON_FILES,
    add_database_arguments,
    open_database,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="dry run: the changed blocks and the tests `pytest --diff` would run",
        description="Show what changed since the baseline and which tests `pytest --diff` "
        "would run, with the time they took last time. Runs nothing.",
    )
    add_database_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project, _, engine = open_database(args)
    patterns = project.values("python_files", DEFAULT_PYTHON_FILES)
    skip_dirs = project.values("norecursedirs", DEFAULT_NORECURSEDIRS)
    selection = engine.select(patterns, skip_dirs)
    durations = {test[0]: test[3] for test in engine.tests()}
    data = {
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


def _text(data: dict[str, Any]) -> list[str]:
    if not data["stored_tests"]:
        return ["the database knows no tests yet: `pytest --diff` would run every test"]
    out = []
    for file in data["changed"]:
        state = " (deleted)" if file["deleted"] else ""
        if file["parse_error"]:
            state = f" (does not parse: {file['parse_error']})"
        out.append(f"changed  {file['path']}{state}: {', '.join(file['blocks'])}")
    out.extend(f"new      {path}" for path in data["new_files"])
    if not out:
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
