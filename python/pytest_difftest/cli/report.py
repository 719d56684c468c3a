"""``pytest-difftest report -o report.html``: the database as one self-contained web page.

The page carries its data as embedded JSON and renders it with inline JavaScript (no network,
no external files): per source file its blocks and how many tests depend on each, per test its
dependencies, the last ``--diff`` run's selection with reasons, and a search box.
"""

from __future__ import annotations

import argparse
import html
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_difftest.cli.project import add_database_arguments, open_database
from pytest_difftest.errors import CliError

if TYPE_CHECKING:
    from pytest_difftest._core import Engine

_TEMPLATE = Path(__file__).with_name("report.html")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained, searchable HTML page of the database",
        description="Write one HTML page (no network needed) showing each file's blocks and "
        "their tests, each test's dependencies, and the last --diff selection with reasons.",
    )
    add_database_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        default="difftest-report.html",
        metavar="FILE",
        help="where to write the page (default: difftest-report.html)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    project, _, engine = open_database(args)
    output = Path(args.output)
    if output.is_dir():
        raise CliError(f"-o {args.output} is a directory: name the HTML file to write")
    page = render(report_data(engine, str(project.root)))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"pytest-difftest: wrote {output} ({len(page) / 1024:.0f} KiB)")
    return 0


def report_data(engine: Engine, root: str) -> dict[str, Any]:
    """The page's data. Tests are referred to by index to keep big projects' pages small; the
    page inverts file → block → tests into test → dependencies itself."""
    tests = sorted(engine.tests())
    index = {test[0]: number for number, test in enumerate(tests)}
    files = []
    paths = engine.files()
    for path, found in zip(paths, engine.file_dependents(paths)):
        blocks = found or []
        files.append(
            {
                "path": path,
                "blocks": [
                    [
                        block.name,
                        list(block.lines) if block.lines else None,
                        block.state,
                        [index[nodeid] for nodeid in block.tests if nodeid in index],
                    ]
                    for block in blocks
                ],
            }
        )
    meta = dict(engine.meta_items())
    try:
        last = json.loads(meta["last_selection"])
    except (KeyError, ValueError):
        last = None
    return {
        "root": root,
        "generated": time.time(),
        "baseline": {key: meta.get(key) for key in ("created", "commit", "tool_version")},
        "tests": [list(test) for test in tests],
        "files": files,
        "last_selection": last,
    }


def render(data: dict[str, Any]) -> str:
    # "<" is escaped so that no string in the data can close the script element.
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    template = _TEMPLATE.read_text(encoding="utf-8")
    return template.replace("{{TITLE}}", html.escape(data["root"])).replace("{{DATA}}", payload)
