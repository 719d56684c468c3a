"""The database's life: first runs, --diff-force, read-only --diff, forgetting removed tests,
an unusable database file, where the file lives."""

from __future__ import annotations

from difftest_support import ALL_TESTS, DB, Project, outcomes, ran


def test_first_diff_with_empty_database_runs_all_and_writes_nothing(project: Project) -> None:
    result = project.diff()
    assert ran(result) == ALL_TESTS
    assert result.ret == 0
    result.stdout.fnmatch_lines(["difftest: --diff,*no baseline yet: running every test*"])
    # --diff is read-only: the following baseline is still a first, full run.
    assert ran(project.baseline()) == ALL_TESTS
    assert ran(project.diff()) == set()


def test_first_baseline_runs_all_and_creates_the_database(project: Project) -> None:
    assert not (project.root / DB).exists()
    result = project.baseline()
    assert ran(result) == ALL_TESTS
    result.assert_outcomes(passed=5)
    assert (project.root / DB).is_file()


def test_database_follows_cache_dir(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + 'cache_dir = "build/cache"\n')
    project.settled()
    assert (project.root / "build/cache/pytest-difftest/pytest_difftest.db").is_file()
    assert not (project.root / DB).exists()
    assert ran(project.diff()) == set()


def test_force_rebuilds_and_runs_all(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert outcomes(project.baseline()) == {"test_mul": "FAILED"}
    project.replace("src/pkg/calc.py", "return a * b + 1", "return a * b")
    result = project.baseline("--diff-force")
    assert ran(result) == ALL_TESTS
    result.assert_outcomes(passed=5)
    assert ran(project.diff()) == set()


def test_rebuild_leaves_no_free_space_behind(project: Project) -> None:
    many = (
        "import pytest\n\n\n@pytest.mark.parametrize('n', range(3000))\ndef test_n(n):\n    pass\n"
    )
    project.write("tests/test_many.py", many)
    project.settled()
    before = (project.root / DB).stat().st_size
    project.delete("tests/test_many.py")
    assert ran(project.baseline("--diff-force")) == ALL_TESTS
    # The rebuilt database is compacted: the pages of 3,000 forgotten tests are not kept.
    assert (project.root / DB).stat().st_size < before / 2
    assert project.stored("PRAGMA freelist_count") == [(0,)]


def test_diff_never_records(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    assert outcomes(project.diff()) == {"test_mul": "PASSED"}
    # Passing under --diff does not update the baseline: the change is still pending.
    assert outcomes(project.diff()) == {"test_mul": "PASSED"}
    assert outcomes(project.baseline()) == {"test_mul": "PASSED"}
    assert ran(project.diff()) == set()


def test_deleted_test_file_runs_nothing_and_is_forgotten(project: Project) -> None:
    project.settled()
    project.delete("tests/test_text.py")
    result = project.diff()
    assert ran(result) == set()
    assert result.ret == 0
    project.baseline()
    project.diff().stdout.fnmatch_lines(["difftest: 0 of 4 tests selected*; 4 deselected*"])


def test_renamed_test_function_runs_and_old_name_is_forgotten(project: Project) -> None:
    project.settled()
    project.replace("tests/test_calc.py", "def test_mul", "def test_product")
    assert "test_product" in ran(project.diff())
    assert "test_product" in ran(project.baseline())
    result = project.diff()
    assert ran(result) == set()
    result.stdout.fnmatch_lines(["difftest: 0 of 5 tests selected*; 5 deselected*"])


def test_unusable_database_runs_every_test_until_forced(project: Project) -> None:
    project.settled()
    (project.root / DB).write_bytes(b"not a database" * 100)
    result = project.diff()
    assert ran(result) == ALL_TESTS
    result.stdout.fnmatch_lines(["difftest: cannot use the database*"])
    assert ran(project.baseline("--diff-force")) == ALL_TESTS
    assert ran(project.diff()) == set()
