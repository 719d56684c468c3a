"""Plugins people run beside us, each installed at a pinned version (the development extra):
a baseline, a change, and `--diff` running exactly the affected tests with the right exit code,
with the plugin doing its job."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, summary


def test_pytest_asyncio_and_anyio_tests_are_recorded(project: Project) -> None:
    pytest.importorskip("pytest_asyncio")
    project.write(
        "src/pkg/fetch.py",
        """
        import asyncio


        async def fetch(n):
            await asyncio.sleep(0)
            return n * 2
        """,
    )
    project.write(
        "tests/test_fetch.py",
        """
        import pytest

        from pkg.fetch import fetch


        @pytest.mark.asyncio
        async def test_fetch_asyncio():
            assert await fetch(2) == 4


        @pytest.mark.anyio
        async def test_fetch_anyio():
            assert await fetch(3) == 6


        @pytest.fixture
        def anyio_backend():
            return "asyncio"
        """,
    )
    project.settled()
    project.replace("src/pkg/fetch.py", "n * 2", "n * 3")
    assert outcomes(project.diff()) == {
        "test_fetch_asyncio": "FAILED",
        "test_fetch_anyio": "FAILED",
    }


def test_pytest_rerunfailures_records_the_passing_rerun(project: Project) -> None:
    pytest.importorskip("pytest_rerunfailures")
    project.write(
        "tests/test_flaky.py",
        """
        from pathlib import Path

        from pkg.calc import add


        def test_flaky():
            marker = Path("flaky.txt")
            first = not marker.exists()
            marker.write_text("ran")
            assert add(1, 1) == 2
            assert not first, "fails on its first attempt"
        """,
    )
    result = project.baseline("--reruns", "2")
    assert result.ret == 0, result.stdout.str()
    assert project.stored("SELECT outcome FROM test WHERE nodeid LIKE '%test_flaky'") == [(0,)]
    assert outcomes(project.diff("--reruns", "2")) == {}
    project.replace("src/pkg/calc.py", "return a + b", "return a + b + 0")
    assert outcomes(project.diff("--reruns", "2"))["test_flaky"] == "PASSED"


def test_pytest_timeout_failures_are_selected_until_they_pass(project: Project) -> None:
    pytest.importorskip("pytest_timeout")
    project.write(
        "tests/test_slow.py",
        """
        import time

        from pkg.config import TIMEOUT


        def test_slow():
            time.sleep(3 if TIMEOUT == 30 else 0)
        """,
    )
    result = project.baseline("--timeout", "1")
    assert result.ret == 1
    assert outcomes(project.diff("--timeout", "1")) == {"test_slow": "FAILED"}
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31")
    found = outcomes(project.diff("--timeout", "1"))
    assert found["test_slow"] == "PASSED"
    assert found["test_timeout"] == "FAILED"


def test_pytest_mock_spied_functions_are_dependencies(project: Project) -> None:
    pytest.importorskip("pytest_mock")
    project.write(
        "tests/test_spy.py",
        """
        import pkg.calc


        def test_spy(mocker):
            spy = mocker.spy(pkg.calc, "mul")
            assert pkg.calc.mul(2, 3) == 6
            spy.assert_called_once_with(2, 3)
        """,
    )
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    assert outcomes(project.diff()) == {"test_spy": "PASSED", "test_mul": "PASSED"}


def test_pytest_split_groups_together_run_the_selection(project: Project) -> None:
    pytest.importorskip("pytest_split")
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    project.replace("src/pkg/text.py", 'upper() + "!"', 'upper() + "!" * 1')
    whole = set(summary(project.diff("-rA")))
    assert whole == {"tests/test_calc.py::test_mul", "tests/test_text.py::test_shout"}
    groups = [set(summary(project.diff("-rA", "--splits", "2", "--group", g))) for g in "12"]
    assert groups[0] | groups[1] == whole
    assert not groups[0] & groups[1]
