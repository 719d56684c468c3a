"""`pytest-difftest status` and `pytest --diff --collect-only`: a dry run that agrees with what
`pytest --diff` then runs; and the time saved in the --diff summary, from stored durations."""

from __future__ import annotations

import re

import pytest

from difftest_support import Project, ran


def _edit(project: Project) -> None:
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 30\nprint('loaded')")
    project.write("tests/test_new.py", "def test_new():\n    pass\n")


def test_status_equals_what_diff_runs(project: Project) -> None:
    project.settled()
    _edit(project)
    data = project.cli_json("status")
    selected = {test["nodeid"] for test in data["selected"]}
    assert selected == {
        "tests/test_calc.py::test_add",
        "tests/test_timeout.py::test_timeout",
        "tests/test_retries.py::test_retries",
    }
    assert data["new_test_files"] == ["tests/test_new.py"]
    assert {c["path"]: c["blocks"] for c in data["changed"]} == {
        "src/pkg/calc.py": ["add"],
        "src/pkg/config.py": ["<module>"],
    }
    stored = dict(project.stored("SELECT nodeid, duration_ms / 1000.0 FROM test"))
    # Sums of floats: the order they are added in (a set's) moves the last digit.
    assert data["estimated_seconds"] == pytest.approx(sum(stored[nodeid] for nodeid in selected))
    assert data["saved_seconds"] == pytest.approx(
        sum(d for n, d in stored.items() if n not in selected)
    )

    result = project.diff("--diff-explain")
    assert ran(result) == {"test_add", "test_timeout", "test_retries", "test_new"}
    explained = {
        match.group(1): match.group(2)
        for line in result.outlines
        if (match := re.match(r"^difftest: why (\S+): (.*)$", line))
    }
    for test in data["selected"]:
        assert explained[test["nodeid"]] == test["reason"]


def test_status_runs_nothing_and_says_so_in_text(project: Project) -> None:
    project.write(
        "tests/test_marker.py",
        "from pathlib import Path\n\n\ndef test_marker():\n    Path('ran.txt').write_text('x')\n",
    )
    project.settled()
    (project.root / "ran.txt").unlink()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    project.replace("tests/test_marker.py", "'x'", "'y'")
    result = project.cli("status")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "changed  src/pkg/calc.py: mul",
            "changed  tests/test_marker.py: test_marker",
            "would run 2 of 6 stored tests, about *s (saves about *s)",
            "  tests/test_calc.py::test_mul  (*s): src/pkg/calc.py::mul changed",
            "  tests/test_marker.py::test_marker  (*s): tests/test_marker.py::test_marker changed",
        ]
    )
    assert not (project.root / "ran.txt").exists()


def test_nothing_changed(project: Project) -> None:
    project.settled()
    result = project.cli("status")
    result.stdout.fnmatch_lines(["no changes since the baseline", "would run 0 of 5 stored tests*"])


def test_collect_only_lists_what_diff_runs(project: Project) -> None:
    project.settled()
    _edit(project)
    listed = project.run("--diff", "--collect-only", "-qq")
    assert listed.ret == 0
    nodeids = {line for line in listed.outlines if "::" in line}
    assert nodeids == {
        "tests/test_calc.py::test_add",
        "tests/test_timeout.py::test_timeout",
        "tests/test_retries.py::test_retries",
        "tests/test_new.py::test_new",
    }
    listed.stdout.fnmatch_lines(["difftest: 4 of 6 tests selected*running them would take about*"])
    assert "passed" not in listed.stdout.str()
    # A listing is not a run: the last run stays the baseline.
    assert project.cli_json("inspect")["last_run"]["mode"] == "--diff-baseline"
    # Nothing ran, and --diff then runs exactly what was listed.
    assert {nodeid.rpartition("::")[2] for nodeid in nodeids} == ran(project.diff())


def test_time_saved_comes_from_stored_durations(project: Project) -> None:
    project.settled()
    # Durations a real run could not produce here, so the figure can only come from the database.
    calc = "nodeid LIKE 'tests/test_calc.py%'"
    project.stored_update(f"UPDATE test SET duration_ms = 64000 WHERE {calc}")
    project.stored_update(f"UPDATE test SET duration_ms = 500 WHERE NOT {calc}")
    project.replace("src/pkg/text.py", 'return word.upper() + "!"', 'return word.upper() + "!" * 1')
    result = project.diff()
    # test_add and test_mul (2 x 64s) + test_timeout and test_retries (2 x 0.5s) deselected.
    result.stdout.fnmatch_lines(
        ["difftest: 1 of 5 tests selected *; 4 deselected, saved about 2m09s"]
    )


def test_plugins_disabled_on_the_command_line_are_options_of_status_too(project: Project) -> None:
    # The baseline ran without one installed plugin: status cannot see pytest's command line,
    # so it takes the same -p options, and reads them from ini addopts by itself.
    project.load_installed_plugins()
    project.settled("-p", "no:anyio")
    assert ran(project.diff("-p", "no:anyio")) == set()
    told = project.cli("status").stdout.str()
    assert "pass the same -p options" in told
    assert (
        project.cli("status", "-p", "no:anyio")
        .stdout.str()
        .startswith("no changes since the baseline")
    )
    project.replace(
        "pyproject.toml",
        "[tool.pytest.ini_options]",
        '[tool.pytest.ini_options]\naddopts = "-p no:anyio"',
    )
    project.settled()
    assert project.cli("status").stdout.str().startswith("no changes since the baseline")


def test_quoted_addopts_are_read_as_pytest_reads_them(project: Project) -> None:
    # click's `addopts = "-m 'not stress'"`: one quoted argument, which a split on spaces broke
    # in two halves that shlex then refused ("No closing quotation").
    project.replace(
        "pyproject.toml",
        "[tool.pytest.ini_options]",
        "[tool.pytest.ini_options]\naddopts = \"-m 'not stress' -p no:anyio\"",
    )
    project.settled()
    for command in ("status", "inspect", "report"):
        result = project.cli(command)
        assert result.ret == 0, result.stderr.str()
        assert "Traceback" not in result.stderr.str()
    assert project.cli("status").stdout.str().startswith("no changes since the baseline")


def test_status_after_a_baseline_with_ignore_agrees_with_diff(project: Project) -> None:
    ignore = "--ignore=tests/test_text.py"
    project.settled(ignore)
    assert ran(project.diff(ignore)) == set()
    told = project.cli("status")
    assert told.ret == 0, told.stderr.str()
    told.stdout.fnmatch_lines(["no changes since the baseline", "would run 0 of 4 stored tests*"])
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    told = project.cli("status")
    told.stdout.fnmatch_lines(
        ["changed  src/pkg/calc.py: mul", "would run 1 of 4 stored tests*", "  *::test_mul *"]
    )
    assert ran(project.diff(ignore)) == {"test_mul"}


def test_status_after_a_baseline_with_another_config_file(project: Project) -> None:
    # `-c ci.ini`: pytest reads its configuration from another file than the one status finds.
    project.write("ci.ini", "[pytest]\npythonpath = src\ntestpaths = tests\n")
    project.settled("-c", "ci.ini")
    assert ran(project.diff("-c", "ci.ini")) == set()
    plain = project.cli("status").stdout.str()
    # Not "the pytest configuration changed" for every test, unless it says why it may be wrong.
    assert "the pytest configuration changed" not in plain or "-c" in plain, plain
    given = project.cli("status", "-c", "ci.ini")
    assert given.ret == 0, given.stderr.str()
    assert given.stdout.str().startswith("no changes since the baseline")
