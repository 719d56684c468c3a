"""Amber snapshot files cut into entries where syrupy cuts them, and the values of a test's
entries: what changes them, and when a file counts as a whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_difftest.integrations.amber import Amber, entry_facts, names_of, parse, read

FILE = """\
# serializer version: 1
# name: TestShapes.test_square
  4
# ---
# name: test_param[a.b]
  'x'
# ---
# name: test_param[a.b].1
  'y'
# ---
# name: test_twice
  1
# ---
# name: test_twice[label]
  2
# ---
"""


def test_each_entry_counts_for_its_name_and_its_tests() -> None:
    amber = parse(FILE)
    assert isinstance(amber, Amber)
    assert amber.shared == "# serializer version: 1\n"
    assert amber.entries["TestShapes.test_square"] == [
        "# name: TestShapes.test_square\n  4\n# ---\n"
    ]
    assert len(amber.entries["test_param[a.b]"]) == 2
    assert len(amber.entries["test_twice"]) == 2
    assert amber.value("test_missing") is None
    assert amber.value("test_twice") != amber.value("test_twice[label]")


def test_names_of_an_entry() -> None:
    assert names_of("test_x") == ["test_x"]
    assert names_of("T.test_x[a].1") == ["T.test_x[a].1", "T", "T.test_x", "T.test_x[a]"]


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("  4\n", "  5\n", {"TestShapes.test_square"}),
        ("  'y'\n", "  'z'\n", {"test_param[a.b]"}),
        ("# name: test_twice[label]\n  2\n# ---\n", "", {"test_twice"}),
        ("# name: test_twice\n", "# name: test_thrice\n", {"test_twice"}),
        ("# serializer version: 1\n", "# serializer version: 2\n", "all"),
        ("# ---\n# name: test_twice\n", "# ---\n\n# name: test_twice\n", "all"),
    ],
    ids=["edited", "further-assertion", "removed", "renamed", "header", "between-entries"],
)
def test_what_an_edit_changes(old: str, new: str, changed: set[str] | str) -> None:
    names = ["TestShapes.test_square", "test_param[a.b]", "test_twice"]
    before = parse(FILE)
    after = parse(FILE.replace(old, new, 1))
    assert isinstance(before, Amber)
    assert isinstance(after, Amber)
    differ = {name for name in names if before.value(name) != after.value(name)}
    assert differ == (set(names) if changed == "all" else changed)


@pytest.mark.parametrize(
    "text",
    [
        # An entry without its end: syrupy reads the next name's lines as the same data.
        FILE.replace("  4\n# ---\n", "  4\n", 1),
        # A marker inside an entry (a version marker there fails the whole file).
        FILE.replace("  4\n", "  4\n# serializer version: 1\n", 1),
        FILE.replace("# name: test_twice\n", "# name:\n", 1),
        FILE + "# name: test_open\n  1\n",
    ],
    ids=["no-end", "marker-inside", "empty-name", "unterminated"],
)
def test_a_file_that_does_not_read_as_entries(text: str) -> None:
    assert parse(text) is None


def test_lines_end_as_syrupy_reads_them() -> None:
    assert parse(FILE.replace("\n", "\r\n")) == parse(FILE)


def test_entry_facts(tmp_path: Path) -> None:
    snapshots = tmp_path / "__snapshots__"
    snapshots.mkdir()
    (snapshots / "good.ambr").write_text(FILE, encoding="utf-8")
    (snapshots / "bad.ambr").write_text(FILE + "# name: test_open\n", encoding="utf-8")
    (snapshots / "latin.ambr").write_bytes(FILE.encode() + b"\xff")
    stored = [
        "<snapshot>/__snapshots__/good.ambr::test_twice",
        "<snapshot>/__snapshots__/good.ambr::test_gone",
        "<snapshot>/__snapshots__/bad.ambr::test_twice",
        "<snapshot>/__snapshots__/latin.ambr::test_twice",
        "<snapshot>/__snapshots__/missing.ambr::test_twice",
        "<glob>/data/*.json",
    ]
    facts = entry_facts(tmp_path, stored)
    assert set(facts) == {stored[0], stored[2], stored[3]}
    good = read(snapshots / "good.ambr")
    assert isinstance(good, Amber)
    assert facts[stored[0]] == good.value("test_twice")
    # A file that does not read as entries is data as a whole, for every entry of it.
    assert facts[stored[2]].endswith(FILE + "# name: test_open\n")
    # Not UTF-8 (syrupy cannot read it): the same, byte for byte.
    assert facts[stored[3]].endswith(FILE + "\xff")
