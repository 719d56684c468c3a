"""`pytest-difftest inspect`: the summary, --test and --file views, as text and JSON, checked
against what the plugin stored (read back with sqlite3)."""

from __future__ import annotations

import pytest

from difftest_support import Project
from pytest_difftest import SCHEMA_VERSION

ADD = "tests/test_calc.py::test_add"
MUL = "tests/test_calc.py::test_mul"


def test_summary_matches_the_database(project: Project) -> None:
    project.write("tests/test_fails.py", "def test_fails():\n    assert False\n")
    project.baseline()
    data = project.cli_json("inspect")
    stored = project.stored("SELECT nodeid, outcome, duration_ms / 1000.0 FROM test")
    assert data["tests"] == len(stored) == 6
    assert data["outcomes"] == {"failed": 1, "passed": 5}
    assert data["files"] == project.stored("SELECT count(*) FROM file")[0][0]
    assert data["blocks"] == project.stored("SELECT count(*) FROM block")[0][0]
    assert data["baseline"]["created"] == float(
        project.stored("SELECT value FROM meta WHERE key = 'created'")[0][0]
    )
    slowest = sorted(stored, key=lambda row: row[2], reverse=True)[:5]
    assert [t["duration"] for t in data["slowest"]] == [row[2] for row in slowest]
    assert data["last_run"]["mode"] == "--diff-baseline"
    assert data["last_run"]["outcomes"] == {"failed": 1, "passed": 5}

    text = project.cli("inspect")
    assert text.ret == 0
    text.stdout.fnmatch_lines(
        [
            f"database*pytest_difftest.db (*KiB, schema {SCHEMA_VERSION})",
            "tests       6 (1 failed, 5 passed)",
            "baseline    *s ago*",
            "last run    --diff-baseline, *: 1 failed, 5 passed",
            "slowest",
        ]
    )


def test_last_run_follows_a_diff_run(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    project.diff()
    assert project.cli_json("inspect")["last_run"]["outcomes"] == {"failed": 1}


def test_test_view_lists_its_blocks_with_current_lines(project: Project) -> None:
    project.settled()
    data = project.cli_json("inspect", "--test", ADD)
    assert data["outcome"] == "passed"
    assert (
        data["duration"]
        == project.stored("SELECT duration_ms / 1000.0 FROM test WHERE nodeid=?", ADD)[0][0]
    )
    own = {(d["path"], d["name"]): d for d in data["dependencies"] if not d["shared"]}
    assert own[("src/pkg/calc.py", "add")]["lines"] == [1, 2]
    assert own[("tests/test_calc.py", "test_add")]["lines"] == [4, 5]
    assert ("src/pkg/calc.py", "mul") not in own
    # Every block it names is a stored block version with that checksum.
    for dep in data["dependencies"]:
        assert project.stored(
            "SELECT count(*) FROM block JOIN file ON file.id = block.file_id "
            "WHERE file.path = ? AND block.name = ? AND block.checksum = ?",
            dep["path"],
            dep["name"],
            dep["checksum"],
        ) == [(1,)]
    assert {d["state"] for d in data["dependencies"]} == {"current"}

    project.replace("src/pkg/calc.py", "def add(a, b):", "# first\ndef add(a, b):\n    a = int(a)")
    after = project.cli_json("inspect", "--test", ADD)
    add = next(d for d in after["dependencies"] if d["name"] == "add")
    assert (add["lines"], add["state"]) == ([2, 4], "changed")

    text = project.cli("inspect", "--test", ADD)
    text.stdout.fnmatch_lines(
        [
            f"{ADD}: passed, *s",
            "depends on * blocks in * files:",
            "  src/pkg/calc.py",
            "*add*lines 2-4 ?changed?",
        ]
    )


def test_file_view_groups_tests_by_block(project: Project) -> None:
    project.settled()
    data = project.cli_json("inspect", "--file", "src/pkg/calc.py")
    blocks = {b["name"]: b for b in data["blocks"]}
    assert blocks["add"]["tests"] == [ADD]
    assert blocks["mul"]["tests"] == [MUL]
    assert blocks["<module>"]["tests"] == [ADD, MUL]
    assert data["blocks"][0]["name"] == "<module>"
    # A path relative to the working directory works from a subdirectory too.
    with project.in_project(), pytest.MonkeyPatch.context() as patch:
        patch.chdir(project.root / "src")
        result = project.pytester.run(
            *project.cli_command(), "inspect", "--file", "pkg/calc.py", "--json"
        )
    assert result.ret == 0, result.stderr.str()
    text = project.cli("inspect", "--file", "src/pkg/calc.py")
    text.stdout.fnmatch_lines(
        ["src/pkg/calc.py: * stored blocks", "  add * lines 1-2: 1 test", f"    {ADD}"]
    )


def test_deleted_file_is_marked(project: Project) -> None:
    project.settled()
    project.delete("src/pkg/text.py")
    data = project.cli_json("inspect", "--file", "src/pkg/text.py")
    assert {b["state"] for b in data["blocks"]} == {"deleted"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("inspect", "--test", "tests/test_nope.py::test_x"), "*knows no test*check the node id*"),
        (("inspect", "--file", "nope.py"), "*knows no file 'nope.py'*"),
        (("inspect", "missing.db"), "*no database at *missing.db: record one with*"),
    ],
)
def test_unknown_things_are_one_line_errors(
    project: Project, args: tuple[str, ...], message: str
) -> None:
    project.settled()
    result = project.cli(*args)
    assert result.ret == 2
    result.stderr.fnmatch_lines([f"pytest-difftest: {message}"])
    assert len([line for line in result.stderr.lines if line]) == 1


def test_no_baseline_is_a_clear_error(project: Project) -> None:
    result = project.cli("inspect")
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        ["pytest-difftest: no database at *: record one with `pytest --diff-baseline`*"]
    )
    assert not (project.root / ".pytest_cache").exists()


def test_database_from_ini_and_explicit_path(project: Project) -> None:
    project.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        testpaths = ["tests"]
        diff_db = "build/deps.db"
        """,
    )
    project.settled()
    assert (project.root / "build/deps.db").is_file()
    assert project.cli_json("inspect")["tests"] == 5
    assert project.cli_json("inspect", "build/deps.db")["tests"] == 5


def test_test_view_marks_fixtures(project: Project) -> None:
    project.write(
        "tests/conftest.py",
        """
        import pytest


        @pytest.fixture
        def numbers():
            return (2, 3)
        """,
    )
    project.write(
        "tests/test_fixture.py",
        """
        from pkg.calc import add


        def test_with_fixture(numbers):
            assert add(*numbers) == 5
        """,
    )
    project.settled()
    data = project.cli_json("inspect", "--test", "tests/test_fixture.py::test_with_fixture")
    marked = {(d["path"], d["name"]) for d in data["dependencies"] if d["fixture"]}
    assert marked == {("tests/conftest.py", "numbers")}
    text = project.cli("inspect", "--test", "tests/test_fixture.py::test_with_fixture")
    text.stdout.fnmatch_lines(["  tests/conftest.py", "    numbers * lines 4-6 (fixture)"])


def test_last_run_counts_outcomes_under_xdist(project: Project) -> None:
    project.write("tests/test_fails.py", "def test_fails():\n    assert False\n")
    project.baseline("-n", "2")
    last = project.cli_json("inspect")["last_run"]
    assert last["outcomes"] == {"failed": 1, "passed": 5}


def test_test_view_names_what_data_and_fact_blocks_stand_for(project: Project) -> None:
    project.write("data/rates.json", '{"rate": 2}\n')
    project.write(
        "tests/test_rates.py",
        """
        import json
        import os


        def test_rates():
            assert json.load(open("data/rates.json"))["rate"] == 2
            assert os.listdir("data") == ["rates.json"]
        """,
    )
    project.settled()
    text = project.cli("inspect", "--test", "tests/test_rates.py::test_rates").stdout
    assert "no longer in the file" not in text.str(), text.str()
    text.fnmatch_lines(
        [
            "  <python>",
            "    <data>*a fact of the environment*",
            "  data/",
            "    <data>*the directory's entries",
            "  data/rates.json",
            "    <data>*the file's contents",
        ]
    )
    project.write("data/rates.json", '{"rate": 3}\n')
    changed = project.cli("inspect", "--test", "tests/test_rates.py::test_rates").stdout
    changed.fnmatch_lines(["    <data>*the file's contents ?changed?"])
