"""``pytest-difftest inspect``: what the database knows, for a person or a script.

Three views: a summary of the whole database, ``--test NODEID`` (what one test depends on) and
``--file PATH`` (which tests depend on each block of a file). ``--json`` prints any view as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_difftest import display
from pytest_difftest.cli.project import Project, add_database_arguments, open_database
from pytest_difftest.errors import CliError

if TYPE_CHECKING:
    from pytest_difftest._core import Engine, StoredBlock

SLOWEST = 5


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show what the database knows: a summary, one test's dependencies, one file's tests",
        description="Show what the dependency database knows. Without options: a summary.",
    )
    add_database_arguments(parser)
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--test", metavar="NODEID", help="the blocks this test depends on")
    view.add_argument("--file", metavar="PATH", help="the tests that depend on this file's blocks")
    parser.add_argument("--json", action="store_true", help="print the view as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project, db_path, engine = open_database(args)
    if args.test:
        data = test_view(engine, args.test, project.root)
        if data is None:
            raise CliError(f"the database knows no test {args.test!r}: check the node id")
        lines = _test_text(data)
    elif args.file:
        path = relative_path(project, args.file)
        data = file_view(engine, path)
        if data is None:
            raise CliError(f"the database knows no file {path!r}: no test depends on it")
        lines = _file_text(data)
    else:
        data = summary(engine, db_path)
        lines = _summary_text(data)
    print(json.dumps(data, indent=2) if args.json else display.text(lines))
    return 0


def relative_path(project: Project, given: str) -> str:
    """`given` (absolute, or relative to the working directory) as stored: relative to the
    project root, with ``/`` separators. Paths outside the root are returned as given."""
    path = Path(given)
    full = path if path.is_absolute() else Path.cwd() / path
    try:
        return Path(os.path.normpath(full)).relative_to(project.root).as_posix()
    except ValueError:
        return path.as_posix()


def block_json(block: StoredBlock) -> dict[str, Any]:
    return {
        "path": block.path,
        "name": block.name,
        "lines": list(block.lines) if block.lines else None,
        "state": block.state,
        "checksum": block.checksum,
    }


def test_view(engine: Engine, nodeid: str, root: Path) -> dict[str, Any] | None:
    blocks = engine.test_dependencies(nodeid)
    if blocks is None:
        return None
    record = next(test for test in engine.tests() if test[0] == nodeid)
    sources: dict[str, list[str]] = {}
    return {
        "nodeid": nodeid,
        "file": record[1],
        "outcome": record[2],
        "duration": record[3],
        "dependencies": [
            {
                **block_json(block),
                "shared": block.shared,
                "fixture": _is_fixture(block, root, sources),
            }
            for block in blocks
        ],
    }


def _is_fixture(block: StoredBlock, root: Path, sources: dict[str, list[str]]) -> bool:
    """Whether the block, as it is now, is a function decorated as a pytest fixture. The
    database stores what a test depends on, not why; a fixture is recognised by its decorator
    (the block's lines start with its decorators)."""
    if block.lines is None or block.kind != "function":
        return False
    if block.path not in sources:
        try:
            text = (root / block.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        sources[block.path] = text.splitlines()
    lines = sources[block.path][block.lines[0] - 1 : block.lines[1]]
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("@"):
            return False
        if stripped.startswith(("@pytest.fixture", "@fixture", "@pytest_asyncio.fixture")):
            return True
    return False


def file_view(engine: Engine, path: str) -> dict[str, Any] | None:
    [blocks] = engine.file_dependents([path])
    if blocks is None:
        return None
    return {
        "path": path,
        "blocks": [{**block_json(block), "tests": block.tests} for block in blocks],
    }


def summary(engine: Engine, db_path: Path) -> dict[str, Any]:
    from pytest_difftest import SCHEMA_VERSION, __version__

    counts = engine.counts()
    meta = dict(engine.meta_items())
    size = sum(path.stat().st_size for path in (db_path, Path(f"{db_path}-wal")) if path.is_file())
    slowest = sorted(engine.tests(), key=lambda test: test[3], reverse=True)[:SLOWEST]
    return {
        "database": str(db_path),
        "size_bytes": size,
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "tests": counts.tests,
        "files": counts.files,
        "blocks": counts.blocks,
        "shared_sets": counts.depsets,
        "outcomes": counts.outcomes,
        "baseline": {
            "created": display.stored_time(meta.get("created")),
            "commit": meta.get("commit"),
            "tool_version": meta.get("tool_version"),
            "python": meta.get("python"),
            "platform": meta.get("platform"),
        },
        "last_run": _last_run(meta),
        "slowest": [{"nodeid": test[0], "duration": test[3]} for test in slowest],
    }


def _last_run(meta: dict[str, str]) -> dict[str, Any] | None:
    """The last run's record (see `Database.remember_run`), or None when the database holds
    none of that shape."""
    try:
        last = json.loads(meta["last_run"])
    except (KeyError, ValueError):
        return None
    if not isinstance(last, dict):
        return None
    outcomes = last.get("outcomes")
    if (
        not isinstance(last.get("mode"), str)
        or display.stored_time(last.get("time")) is None
        or not isinstance(outcomes, dict)
        or not all(isinstance(count, int) for count in outcomes.values())
    ):
        return None
    return last


def lines_text(block: StoredBlock | dict[str, Any]) -> str:
    if isinstance(block, dict):
        path, name, lines, state = block["path"], block["name"], block["lines"], block["state"]
    else:
        path, name, lines, state = block.path, block.name, block.lines, block.state
    if lines:
        where = f"lines {lines[0]}-{lines[1]}"
    elif name == "<module>":
        where = "module-level code"
    elif name == "<data>":
        # The one block of a data file, a listed directory or a fact (paths as in schema.sql).
        if path.startswith("<snapshot>/"):
            where = "snapshot entries and the file's header"
        elif path.startswith("<"):
            where = "a fact of the environment"
        elif path.endswith("/"):
            where = "the directory's entries"
        else:
            where = "the file's contents"
    else:
        where = "no longer in the file"
    return where if state == "current" else f"{where} [{state}]"


def _test_text(data: dict[str, Any]) -> list[str]:
    out = [f"{data['nodeid']}: {data['outcome']}, {display.duration(data['duration'])}"]
    by_file: dict[str, list[dict[str, Any]]] = {}
    for block in data["dependencies"]:
        by_file.setdefault(block["path"], []).append(block)
    out.append(f"depends on {len(data['dependencies'])} blocks in {len(by_file)} files:")
    for path, blocks in by_file.items():
        out.append(f"  {path}")
        for block in blocks:
            via = " (import-time, shared)" if block["shared"] else ""
            if block["fixture"]:
                via += " (fixture)"
            out.append(f"    {block['name']:<30} {lines_text(block)}{via}")
    return out


def _file_text(data: dict[str, Any]) -> list[str]:
    out = [f"{data['path']}: {len(data['blocks'])} stored blocks"]
    for block in data["blocks"]:
        count = len(block["tests"])
        out.append(f"  {block['name']:<30} {lines_text(block)}: {count} test{'s' * (count != 1)}")
        out.extend(f"    {nodeid}" for nodeid in block["tests"])
    return out


def _summary_text(data: dict[str, Any]) -> list[str]:
    baseline = data["baseline"]
    out = [
        f"database    {data['database']} ({data['size_bytes'] / 1024:.0f} KiB, "
        f"schema {data['schema_version']})",
        f"tests       {data['tests']:,} ("
        + ", ".join(f"{n:,} {outcome}" for outcome, n in data["outcomes"].items())
        + ")",
        f"files       {data['files']:,}, {data['blocks']:,} block versions, "
        f"{data['shared_sets']:,} shared sets",
    ]
    if baseline["created"] is not None:
        commit = f" at {baseline['commit'][:10]}" if baseline["commit"] else ""
        out.append(
            f"baseline    {display.age(baseline['created'])} ago{commit}, by pytest-difftest "
            f"{baseline['tool_version']} on Python {baseline['python']}"
        )
    else:
        out.append("baseline    not finished yet")
    last = data["last_run"]
    if last:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in last["outcomes"].items())
        out.append(
            f"last run    {last['mode']}, {display.age(last['time'])} ago: "
            f"{counts or 'no tests ran'}"
        )
    if data["slowest"]:
        out.append("slowest")
        out.extend(
            f"  {display.duration(test['duration']):>8}  {test['nodeid']}"
            for test in data["slowest"]
        )
    out.append(f"tool        pytest-difftest {data['tool_version']}")
    return out
