"""Text from the database (node ids, file paths, block names, baseline facts) and from the
checkout is printed with its control characters escaped: a crafted baseline cannot retitle the
terminal, clear it, or add a line of its own to what the plugin and the command print."""

from __future__ import annotations

import json
import os

import pytest

from difftest_support import Project

# Sets the window title, rings the bell, clears the line, then forges a line of ours.
FORGED = "difftest: 0 of 5 tests selected (0 changed blocks in 0 files); 5 deselected"
CRAFTED = f"\x1b]0;owned\x07\x1b[2K\r\n{FORGED}"


def assert_escaped(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in text
    assert FORGED not in result.outlines + result.errlines
    assert r"\x1b]0;owned\x07\x1b[2K\r\n" + FORGED in text


def test_crafted_database_text_is_escaped(project: Project) -> None:
    project.settled()
    project.stored_update("UPDATE block SET name = 'add' || ? WHERE name = 'add'", CRAFTED)
    project.stored_update(
        "INSERT INTO test (nodeid, outcome, duration_ms) VALUES (?, 2, 99000)",
        f"tests/test_calc.py::test_gone{CRAFTED}",
    )
    project.stored_update("INSERT OR REPLACE INTO meta VALUES ('commit', ?)", "\x1b[2J\x1b[H1234")
    project.stored_update("UPDATE meta SET value = ? WHERE key = 'python'", CRAFTED)
    last_run = {"mode": CRAFTED, "time": 0, "outcomes": {CRAFTED: 1}}
    project.stored_update("UPDATE meta SET value = ? WHERE key = 'last_run'", json.dumps(last_run))
    # Parsed again, calc.py no longer has the stored block: it counts as changed.
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")

    for args in (("status",), ("inspect",), ("inspect", "--file", "src/pkg/calc.py")):
        result = project.cli(*args)
        assert result.ret == 0, result.stderr.str()
        assert_escaped(result)
    result = project.cli("inspect", "--test", f"tests/test_calc.py::test_gone{CRAFTED}")
    assert result.ret == 0, result.stderr.str()
    assert_escaped(result)
    # The JSON views carry the text as it is stored, escaped by JSON.
    status = project.cli_json("status")
    assert f"tests/test_calc.py::test_gone{CRAFTED}" in {t["nodeid"] for t in status["selected"]}

    result = project.diff("--diff-explain", "--diff-v")
    assert_escaped(result)
    result.stdout.fnmatch_lines([r"difftest: why tests/test_calc.py::test_add: *add\x1b]0;owned*"])


@pytest.mark.skipif(os.name == "nt", reason="Windows file names cannot hold control characters")
def test_file_names_with_control_characters_are_escaped(project: Project) -> None:
    name = "tests/test_\x1b[31mred\x07.py"
    project.write(name, "def test_red():\n    pass\n")
    project.settled()
    project.write(name, "def test_red():\n    assert True\n")
    result = project.diff("--diff-explain", "--diff-v")
    # pytest's own -v lines print the node id as it is; ours escape it.
    assert not [line for line in result.outlines if line.startswith("difftest") and "\x1b" in line]
    result.stdout.fnmatch_lines(
        [
            r"difftest: why tests/test_\x1b[[]31mred\x07.py::test_red: *",
            r"difftest:   tests/test_\x1b[[]31mred\x07.py: test_red",
        ]
    )
    status = project.cli("status")
    assert "\x1b" not in status.stdout.str()
    status.stdout.fnmatch_lines([r"changed  tests/test_\x1b[[]31mred\x07.py: test_red"])


def test_baseline_facts_of_the_wrong_shape_are_left_out(project: Project) -> None:
    # A merged baseline brings its creation time with it: whatever it holds, the header and
    # inspect must not fail on it.
    project.settled()
    project.stored_update("UPDATE meta SET value = 'not a time' WHERE key = 'created'")
    last_run = {"mode": 1, "time": "NaN", "outcomes": []}
    project.stored_update("UPDATE meta SET value = ? WHERE key = 'last_run'", json.dumps(last_run))
    inspect = project.cli("inspect")
    assert inspect.ret == 0, inspect.stderr.str()
    data = project.cli_json("inspect")
    assert data["baseline"]["created"] is None
    assert data["last_run"] is None
    result = project.diff()  # records a last run of its own
    assert result.ret == 0, result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str()
    project.stored_update("UPDATE meta SET value = 'inf' WHERE key = 'created'")
    assert project.diff().ret == 0
    assert project.cli("inspect").ret == 0
