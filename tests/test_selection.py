"""The selection table: which tests --diff and --diff-baseline run after each kind of change."""

from __future__ import annotations

import pytest

from difftest_support import ALL_TESTS, BASE_FILES, Project, collected, outcomes, ran

BROKEN_MUL = """
    def add(a, b):
        return a + b


    def mul(a, b):
        return a * b + 1
"""


def test_no_changes_diff_runs_nothing_and_exits_0(project: Project) -> None:
    project.settled()
    result = project.diff()
    assert ran(result) == set()
    assert collected(result) == 0
    assert result.ret == 0
    result.stdout.fnmatch_lines(["difftest: 0 of 5 tests selected*; 5 deselected*"])


def test_no_changes_baseline_runs_nothing(project: Project) -> None:
    project.settled()
    result = project.baseline()
    assert ran(result) == set()
    assert result.ret == 0


def test_modified_source_diff_runs_only_its_tests(project: Project) -> None:
    project.settled()
    project.write("src/pkg/calc.py", BROKEN_MUL)
    result = project.diff()
    assert outcomes(result) == {"test_mul": "FAILED"}
    result.assert_outcomes(failed=1)
    assert result.ret == 1


def test_modified_source_baseline_runs_its_tests_and_updates(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    result = project.baseline()
    assert outcomes(result) == {"test_mul": "PASSED"}
    assert ran(project.diff()) == set()
    assert ran(project.baseline()) == set()


@pytest.mark.parametrize("mode", ["diff", "baseline"])
def test_new_test_function_runs(project: Project, mode: str) -> None:
    project.settled()
    text = project.read("tests/test_calc.py")
    project.write("tests/test_calc.py", text + "\n\ndef test_sub():\n    assert add(2, -3) == 0\n")
    result = getattr(project, mode)()
    assert outcomes(result)["test_sub"] == "FAILED"
    assert ran(result) <= {"test_sub", "test_add", "test_mul"}


@pytest.mark.parametrize("mode", ["diff", "baseline"])
def test_new_test_file_runs_alone(project: Project, mode: str) -> None:
    project.settled()
    project.write("tests/test_new.py", "def test_brand_new():\n    assert 1 + 1 == 3\n")
    result = getattr(project, mode)()
    assert outcomes(result) == {"test_brand_new": "FAILED"}


def test_new_source_module_imported_by_changed_test_runs(project: Project) -> None:
    project.settled()
    project.write("src/pkg/power.py", "def square(x):\n    return x * x + 1\n")
    text = project.read("tests/test_calc.py")
    test = "\n\ndef test_square():\n    from pkg.power import square\n\n    assert square(3) == 9\n"
    project.write("tests/test_calc.py", text + test)
    result = project.diff()
    assert outcomes(result)["test_square"] == "FAILED"


@pytest.mark.parametrize("mode", ["diff", "baseline"])
def test_failing_test_is_selected_until_it_passes(project: Project, mode: str) -> None:
    project.settled()
    project.write("src/pkg/calc.py", BROKEN_MUL)
    assert outcomes(project.baseline()) == {"test_mul": "FAILED"}
    # Nothing changed since, but the test still fails: it runs again, in either mode.
    assert outcomes(getattr(project, mode)()) == {"test_mul": "FAILED"}
    assert outcomes(project.baseline()) == {"test_mul": "FAILED"}
    project.replace("src/pkg/calc.py", "return a * b + 1", "return a * b")
    assert outcomes(project.baseline()) == {"test_mul": "PASSED"}
    assert ran(project.diff()) == set()


@pytest.mark.parametrize("mode", ["diff", "baseline"])
def test_test_with_fixture_error_is_selected_until_it_passes(project: Project, mode: str) -> None:
    project.write(
        "tests/test_fixture.py",
        """
        import pytest


        @pytest.fixture
        def resource():
            raise RuntimeError("cannot set up")


        def test_uses_resource(resource):
            pass
        """,
    )
    first = project.baseline()
    assert outcomes(first)["test_uses_resource"] == "ERROR"
    assert outcomes(getattr(project, mode)()) == {"test_uses_resource": "ERROR"}
    project.replace("tests/test_fixture.py", 'raise RuntimeError("cannot set up")', "return 1")
    assert outcomes(project.baseline()) == {"test_uses_resource": "PASSED"}
    assert ran(project.diff()) == set()


def test_tests_left_unrun_by_exitfirst_stay_owed(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")  # test_add fails
    project.replace("src/pkg/text.py", 'upper() + "!"', 'upper() + "?"')  # test_shout fails
    first = project.baseline("-x")
    assert outcomes(first) == {"test_add": "FAILED"}  # -x stops before tests/test_text.py
    # test_shout never ran against its changed code: still owed, as is the failing test_add.
    assert outcomes(project.diff()) == {"test_add": "FAILED", "test_shout": "FAILED"}
    assert outcomes(project.baseline()) == {"test_add": "FAILED", "test_shout": "FAILED"}


def test_skipped_and_xfail_tests_are_not_reselected(project: Project) -> None:
    project.write(
        "tests/test_marks.py",
        """
        import pytest
        from pkg.text import shout


        @pytest.mark.skip(reason="not today")
        def test_skipped():
            assert shout("a") == "nope"


        @pytest.mark.xfail(reason="known bug", strict=True)
        def test_known_bug():
            assert shout("a") == "a"
        """,
    )
    first = project.baseline()
    assert outcomes(first)["test_skipped"] == "SKIPPED"
    assert outcomes(first)["test_known_bug"] == "XFAIL"
    assert ran(project.diff()) == set()
    assert ran(project.baseline()) == set()
    # The xfail test executed shout: a change there selects it (it now passes: strict XPASS).
    # The skipped test never executed shout, so only an edit of its own code selects it.
    project.replace("src/pkg/text.py", 'word.upper() + "!"', "word")
    result = project.diff()
    assert outcomes(result) == {"test_shout": "FAILED", "test_known_bug": "FAILED"}
    project.replace("tests/test_marks.py", '"nope"', '"still nope"')
    assert "test_skipped" in ran(project.diff())


@pytest.mark.parametrize(
    "narrowing",
    [("-k", "add"), ("-m", "not slow"), ("tests/test_calc.py::test_add",), ("tests/test_text.py",)],
    ids=["-k", "-m", "node-id", "path"],
)
def test_test_deselected_during_baseline_stays_owed(
    project: Project, narrowing: tuple[str, ...]
) -> None:
    project.replace(
        "tests/test_calc.py", "def test_mul", "import pytest\n\n\n@pytest.mark.slow\ndef test_mul"
    )
    project.settled()
    project.write("src/pkg/calc.py", BROKEN_MUL)
    result = project.baseline(*narrowing)
    assert "test_mul" not in ran(result)
    # test_mul was not run against the changed mul: the next --diff still owes it.
    assert outcomes(project.diff())["test_mul"] == "FAILED"
    assert outcomes(project.baseline())["test_mul"] == "FAILED"


def test_selection_intersects_with_k_m_and_paths(project: Project) -> None:
    project.replace(
        "tests/test_calc.py", "def test_mul", "import pytest\n\n\n@pytest.mark.slow\ndef test_mul"
    )
    project.settled()
    project.write("src/pkg/calc.py", BROKEN_MUL.replace("a + b", "a - b"))
    project.replace("src/pkg/text.py", "word.upper()", "word")
    assert ran(project.diff()) == {"test_add", "test_mul", "test_shout"}
    assert ran(project.diff("-k", "add or timeout")) == {"test_add"}
    assert ran(project.diff("-m", "slow")) == {"test_mul"}
    assert ran(project.diff("tests/test_text.py", "tests/test_timeout.py")) == {"test_shout"}


def test_deleted_module_selects_its_dependents(project: Project) -> None:
    project.settled()
    project.delete("src/pkg/text.py")
    result = project.diff()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting tests/test_text.py*"])
    assert ran(result) == set()  # nothing else ran


def test_renamed_module_selects_its_dependents(project: Project) -> None:
    project.settled()
    project.rename("src/pkg/text.py", "src/pkg/words.py")
    result = project.diff()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting tests/test_text.py*"])


def test_moved_module_still_importable_selects_its_dependents(project: Project) -> None:
    project.write(
        "pyproject.toml", project.read("pyproject.toml").replace('["src"]', '["src", "lib"]')
    )
    project.write("src/units.py", "def metres(km):\n    return km * 1000\n")
    project.write(
        "tests/test_units.py",
        "from units import metres\n\n\ndef test_metres():\n    assert metres(2) == 2000\n",
    )
    project.settled()
    project.rename("src/units.py", "lib/units.py")
    result = project.diff()
    assert outcomes(result) == {"test_metres": "PASSED"}


def test_files_with_nothing_selected_are_not_collected(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        "tests/test_guarded.py",
        """
        import os

        if os.environ.get("DIFFTEST_GUARD"):
            raise RuntimeError("imported")


        def test_guarded():
            pass
        """,
    )
    project.write(
        "tests/conftest.py", "def pytest_report_header():\n    return 'conftest loaded'\n"
    )
    project.write("tests/inner/__init__.py", "")
    project.write(
        "tests/inner/test_inner.py",
        "from pkg.calc import mul\n\n\ndef test_inner():\n    assert mul(1, 1) == 1\n",
    )
    project.settled()
    project.write("src/pkg/calc.py", BROKEN_MUL)
    monkeypatch.setenv("DIFFTEST_GUARD", "1")
    result = project.diff()
    assert outcomes(result) == {"test_mul": "FAILED", "test_inner": "FAILED"}
    # Only tests/test_calc.py (2 tests, one deselected) and tests/inner/test_inner.py are read.
    assert collected(result) == 3
    result.stdout.fnmatch_lines(["conftest loaded"])
    result.stdout.no_fnmatch_line("*RuntimeError*")


def test_project_inside_a_directory_named_tests(pytester: pytest.Pytester) -> None:
    project = Project(pytester, pytester.path / "tests")
    project.write_files(BASE_FILES)
    first = project.settled()
    first.stdout.fnmatch_lines(["rootdir: */tests"])
    assert ran(first) == ALL_TESTS
    project.write("src/pkg/calc.py", BROKEN_MUL)
    assert outcomes(project.diff()) == {"test_mul": "FAILED"}
    assert outcomes(project.baseline()) == {"test_mul": "FAILED"}
