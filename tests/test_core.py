"""The Rust extension called directly: blocks, error types, schema checks."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import pytest_difftest
from pytest_difftest._core import SCHEMA_VERSION, DifftestError, Engine, parse_blocks
from pytest_difftest.records import Record


def names(source: str) -> list[tuple[str, str]]:
    blocks, error = parse_blocks(source.encode())
    assert error is None
    return [(name, kind) for name, kind, *_ in blocks]


def test_blocks_of_a_module() -> None:
    source = "import os\nLIMIT = 3\n\nclass C:\n    def m(self):\n        return LIMIT\n"
    assert names(source) == [
        ("<module>", "module"),
        ("import:os", "binding"),
        ("=LIMIT", "binding"),
        ("C.m", "function"),
        ("class:C", "binding"),
    ]


def test_lines_and_checksum_survive_moving_a_function() -> None:
    before, _ = parse_blocks(b"def f():\n    return 1\n")
    after, _ = parse_blocks(b"# a comment\n\n\ndef f():\n    return 1  # same\n")
    (f_before,) = [b for b in before if b[0] == "f"]
    (f_after,) = [b for b in after if b[0] == "f"]
    assert f_before[2:4] == (1, 2)
    assert f_after[2:4] == (4, 5)
    assert f_before[4] == f_after[4]


def test_unparsable_source_is_one_opaque_block() -> None:
    blocks, error = parse_blocks(b"def broken(:\n")
    assert error is not None
    assert "line 1" in error
    assert [b[0] for b in blocks] == ["<module>"]
    other, _ = parse_blocks(b"def broken(::\n")
    assert other[0][4] != blocks[0][4]


def test_not_a_database_is_a_difftest_error(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DifftestError, match=r"x\.db.*--diff-force"):
        Engine(db, tmp_path)
    assert db.read_bytes() == b"this is not sqlite" * 100, "the file must be left alone"


def test_other_schema_version_is_refused_with_both_versions(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(DifftestError, match=rf"schema version 999.*uses {SCHEMA_VERSION}"):
        Engine(db, tmp_path)


def test_engine_round_trip(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    engine = Engine(tmp_path / "db" / "d.db", tmp_path)
    assert engine.select([]).known_tests == []
    engine.set_modules([("m", "m.py")])
    engine.record(
        [Record("t.py::test", "t.py", "passed", 0.5, [("m.py", 1)], ["m.py"], [], [], [])]
    )
    engine.finish([("created", "1")])
    assert engine.test_count() == 1
    assert engine.meta("created") == "1"
    selection = Engine(tmp_path / "db" / "d.db", tmp_path).select([])
    assert selection.selected == []
    assert selection.deselected_duration == 0.5
    (tmp_path / "m.py").write_text("def f():\n    return 2\n")
    changed = Engine(tmp_path / "db" / "d.db", tmp_path).select([])
    assert changed.selected == ["t.py::test"]
    assert [(c.path, c.blocks) for c in changed.changed] == [("m.py", ["f"])]


def test_public_names() -> None:
    assert pytest_difftest.DifftestError is DifftestError
    # One root: every error pytest-difftest raises is a DifftestError.
    from pytest_difftest import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), DifftestError), name
    assert pytest_difftest.__version__.count(".") == 2
