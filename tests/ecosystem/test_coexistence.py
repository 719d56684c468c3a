"""Other tools in the same run: pytest-cov must report the same coverage, and we must still
record what each test depends on, whichever of us installs its hook first."""

from __future__ import annotations

import re
import sys

import pytest

from difftest_support import Project, outcomes

pytest.importorskip("pytest_cov")


def coverage_total(result: pytest.RunResult) -> str:
    for line in result.stdout.lines:
        match = re.match(r"^TOTAL\s+\d+\s+\d+\s+(\d+%)", line)
        if match:
            return match.group(1)
    raise AssertionError("no coverage TOTAL line in the output")


def test_pytest_cov_reports_the_same_coverage_and_we_still_record(project: Project) -> None:
    plain = project.run("--cov=pkg", "--cov-report=term", "-p", "no:difftest")
    with_us = project.baseline("--cov=pkg", "--cov-report=term")
    assert coverage_total(with_us) == coverage_total(plain)
    with_us.assert_outcomes(passed=5)
    # Had coverage's tracer replaced ours, no test would depend on pkg.calc.add.
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    assert outcomes(project.diff("--cov=pkg")) == {"test_add": "FAILED"}
    assert outcomes(project.baseline("--cov=pkg")) == {"test_add": "FAILED"}


def test_unittest_doctest_importlib_and_last_failed(project: Project) -> None:
    project.write(
        "src/pkg/calc.py",
        '''
        def add(a, b):
            """Add.

            >>> add(1, 2)
            3
            """
            return a + b


        def mul(a, b):
            return a * b
        ''',
    )
    project.write(
        "tests/test_unit.py",
        """
        import unittest

        from pkg.calc import mul


        class TestMul(unittest.TestCase):
            def setUp(self):
                self.factor = 3

            def test_mul(self):
                self.assertEqual(mul(2, self.factor), 6)
        """,
    )
    args = ("--doctest-modules", "--import-mode=importlib", "src", "tests")
    project.settled(*args)
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert outcomes(project.diff(*args)) == {"test_mul": "FAILED"}
    project.replace("src/pkg/calc.py", "    3\n", "    4\n")
    # The docstring is part of add's block: the doctest and the test that runs add.
    assert outcomes(project.diff(*args)) == {
        "test_mul": "FAILED",
        "pkg.calc.add": "FAILED",
        "test_add": "PASSED",
    }
    # --lf narrows further: only what failed in the previous run, which selection also picked.
    assert outcomes(project.diff(*args, "--lf")) == {"test_mul": "FAILED", "pkg.calc.add": "FAILED"}


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is Python 3.12+")
@pytest.mark.parametrize(
    "taken",
    [[], [4], [4, 5], [3, 4, 5]],
    ids=["both-tool-ids-free", "one-tool-id-left", "only-hypothesis-id-left", "no-tool-id-left"],
)
def test_other_sys_monitoring_tools_leave_recording_correct(
    project: Project, taken: list[int]
) -> None:
    # A plugin loaded before ours (-p) holds sys.monitoring tool ids we would use.
    project.write(
        "occupy.py",
        f"""
        import sys

        for tool in {taken!r}:
            sys.monitoring.use_tool_id(tool, "another tool")
        """,
    )
    # Two tests run the same function: each must record it, not only the first.
    project.write(
        "tests/test_twice.py",
        """
        from pkg.calc import add


        def test_first():
            assert add(1, 1) == 2


        def test_second():
            assert add(2, 2) == 4
        """,
    )
    project.settled("-p", "occupy")
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    assert set(outcomes(project.diff("-p", "occupy"))) == {"test_add", "test_first", "test_second"}
