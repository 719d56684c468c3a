"""Options, ini keys, usage errors, the header line and the summary line."""

from __future__ import annotations

import pytest

from difftest_support import DB, Project, outcomes, ran


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--diff-batch-size", "0"), "*--diff-batch-size*expected a number of at least 1, got 0*"),
        (("--diff-batch-size", "abc"), "*--diff-batch-size*expected a whole number, got 'abc'*"),
        (("--diff-cache-size", "-5"), "*--diff-cache-size*at least 1*"),
        (("--diff-cache-size", "1.5"), "*--diff-cache-size*expected a whole number*"),
    ],
)
def test_bad_size_option_is_a_usage_error(
    project: Project, args: tuple[str, ...], message: str
) -> None:
    result = project.run("--diff-baseline", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert ran(result) == set()
    assert not (project.root / DB).exists()


@pytest.mark.parametrize(("key", "value"), [("diff_batch_size", "0"), ("diff_cache_size", "many")])
def test_bad_ini_value_is_a_usage_error(project: Project, key: str, value: str) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + f'{key} = "{value}"\n')
    result = project.run("--diff")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{key}*"])
    assert ran(result) == set()


def test_bad_ini_value_is_ignored_when_the_plugin_is_off(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + 'diff_batch_size = "0"\n')
    result = project.run()
    assert result.ret == 0
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--diff", "--diff-baseline"), "*--diff and --diff-baseline exclude each other*"),
        (("--diff-force",), "*--diff-force*--diff-baseline*"),
        (("--diff", "--diff-force"), "*--diff-force*--diff-baseline*"),
    ],
)
def test_conflicting_modes_are_a_usage_error(
    project: Project, args: tuple[str, ...], message: str
) -> None:
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert ran(result) == set()


@pytest.mark.parametrize("size", ["1", "2"])
def test_small_batch_and_cache_sizes_record_correctly(project: Project, size: str) -> None:
    sizes = ("--diff-batch-size", size, "--diff-cache-size", size)
    project.settled(*sizes)
    assert ran(project.diff(*sizes)) == set()
    project.replace("src/pkg/text.py", "word.upper()", "word")
    assert outcomes(project.diff(*sizes)) == {"test_shout": "FAILED"}


def test_ini_batch_size_is_used(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + 'diff_batch_size = "1"\n')
    project.settled()
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    assert outcomes(project.baseline()) == {"test_add": "FAILED"}


def test_header_lines(project: Project) -> None:
    first_diff = project.diff()
    first_diff.stdout.fnmatch_lines(
        ["difftest: --diff, database *pytest_difftest.db, no baseline yet: running every test"]
    )
    baseline = project.baseline()
    baseline.stdout.fnmatch_lines(["difftest: --diff-baseline, database *pytest_difftest.db*"])
    assert str(project.root / DB) in baseline.stdout.str()
    project.diff().stdout.fnmatch_lines(
        ["difftest: --diff, database *pytest_difftest.db, baseline from *s ago*"]
    )


def test_plugin_inactive_without_its_options(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/text.py", "word.upper()", "word")
    result = project.run()
    assert "difftest:" not in result.stdout.str()
    result.assert_outcomes(passed=4, failed=1)


def test_summary_line_for_one_changed_block(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31")
    result = project.diff("--diff-v")
    result.stdout.fnmatch_lines(
        [
            "difftest: 1 of 5 tests selected (1 changed block in 1 file); 4 deselected*",
            "difftest:   src/pkg/config.py: =TIMEOUT",
        ]
    )


def test_summary_line_plural_and_verbose_listing(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    project.replace("src/pkg/text.py", "word.upper()", "word.upper().strip()")
    result = project.diff("--diff-v")
    result.stdout.fnmatch_lines(
        ["difftest: 3 of 5 tests selected (3 changed blocks in 2 files); 2 deselected*"]
    )
    result.stdout.fnmatch_lines(["difftest:   src/pkg/calc.py: add, mul"])
    result.stdout.fnmatch_lines(["difftest:   src/pkg/text.py: shout"])


def test_verbose_listing_marks_deleted_and_new_files(project: Project) -> None:
    project.settled()
    project.delete("src/pkg/text.py")
    project.write("tests/test_extra.py", "def test_extra():\n    pass\n")
    result = project.diff("--diff-v")
    result.stdout.fnmatch_lines(["difftest:   src/pkg/text.py (deleted): *"])
    result.stdout.fnmatch_lines(["difftest:   tests/test_extra.py (new)"])


def test_verbose_listing_absent_without_diff_v(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31")
    result = project.diff()
    result.stdout.fnmatch_lines(["difftest: 1 of 5 tests selected*"])
    result.stdout.no_fnmatch_line("difftest:   *")


def test_summary_line_in_baseline_mode(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    result = project.baseline()
    result.stdout.fnmatch_lines(
        ["difftest: 1 of 5 tests selected (1 changed block in 1 file); 4 deselected*"]
    )
    assert result.ret == 0


def test_config_file_in_a_subdirectory_runs_the_tests_outside_rootdir(project: Project) -> None:
    # `-c ci/ci.ini` makes ci/ the rootdir: the tests live outside it, so they are not
    # tracked, and must run rather than be deselected.
    project.write("ci/ci.ini", "[pytest]\npythonpath = ../src\n")
    args = ("-c", "ci/ci.ini", "tests")
    project.settled(*args)
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    result = project.diff(*args)
    assert outcomes(result)["test_add"] == "FAILED"
    result.stdout.fnmatch_lines(["difftest: * outside the tracked directories (rootdir *ci*"])
