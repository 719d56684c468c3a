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
    # Each group's run must see the same order: pytest-randomly would shuffle each differently.
    unshuffled = ("-p", "no:randomly")
    project.settled(*unshuffled)
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    project.replace("src/pkg/text.py", 'upper() + "!"', 'upper() + "!" * 1')
    whole = set(summary(project.diff("-rA", *unshuffled)))
    assert whole == {"tests/test_calc.py::test_mul", "tests/test_text.py::test_shout"}
    split = ("-rA", *unshuffled, "--splits", "2", "--group")
    groups = [set(summary(project.diff(*split, g))) for g in "12"]
    assert groups[0] | groups[1] == whole
    assert not groups[0] & groups[1]


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_pytest_randomly_selects_the_same_tests_for_every_seed(
    project: Project, workers: tuple[str, ...]
) -> None:
    pytest.importorskip("pytest_randomly")
    # Which test fills the cache (and so runs `_split`) depends on the order, and so on the seed.
    project.write(
        "src/pkg/parsing.py",
        """
        from functools import lru_cache


        def _split(text):
            return tuple(text.split(","))


        @lru_cache(maxsize=None)
        def parse(text):
            return _split(text)
        """,
    )
    for name in ("a", "b", "c"):
        project.write(
            f"tests/test_parse_{name}.py",
            f"""
            from pkg.parsing import parse


            def test_parse_{name}():
                assert parse("x,y") == ("x", "y")
            """,
        )
    baseline = project.settled(*workers, "--randomly-seed=1")
    baseline.stdout.fnmatch_lines(["Using --randomly-seed=1"])
    project.replace("src/pkg/parsing.py", '(text.split(","))', '(text.split(",")) + ("z",)')
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    expected = {
        "tests/test_parse_a.py::test_parse_a": "FAILED",
        "tests/test_parse_b.py::test_parse_b": "FAILED",
        "tests/test_parse_c.py::test_parse_c": "FAILED",
        "tests/test_calc.py::test_mul": "PASSED",
    }
    for seed in ("2", "3", "4"):
        result = project.diff("-rA", *workers, f"--randomly-seed={seed}")
        result.stdout.fnmatch_lines([f"Using --randomly-seed={seed}"])
        assert summary(result) == expected, seed
        assert result.ret == 1


def test_pytest_benchmark_benchmarks_the_selected_tests_only(project: Project) -> None:
    pytest.importorskip("pytest_benchmark")
    project.write(
        "tests/test_speed.py",
        """
        from pkg.calc import add, mul


        def test_add_speed(benchmark):
            assert benchmark(add, 2, 3) == 5


        def test_mul_speed(benchmark):
            assert benchmark(mul, 2, 3) == 6
        """,
    )
    fast = ("--benchmark-max-time=0.01", "--benchmark-autosave")
    project.settled(*fast)
    saved = sorted((project.root / ".benchmarks").rglob("*.json"))
    assert len(saved) == 1
    # The saved results are the session's own output, not data: comparing against them, with
    # nothing changed, runs nothing and exits 0.
    nothing = project.diff(*fast, "--benchmark-compare")
    assert outcomes(nothing) == {}
    assert nothing.ret == 0
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    result = project.diff(*fast, "--benchmark-compare")
    assert outcomes(result) == {"test_mul": "PASSED", "test_mul_speed": "PASSED"}
    assert result.ret == 0
    benchmarked = result.stdout.str()
    assert "test_mul_speed" in benchmarked.split("benchmark:")[-1]
    assert "test_add_speed" not in benchmarked
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    failing = project.diff(*fast)
    assert outcomes(failing) == {
        "test_add": "FAILED",
        "test_add_speed": "FAILED",
        "test_mul": "PASSED",
        "test_mul_speed": "PASSED",
    }
    assert failing.ret == 1
    # Nothing we ran deleted a saved result.
    assert set(saved) <= set((project.root / ".benchmarks").rglob("*.json"))


def test_a_benchmark_skipped_by_benchmark_skip_is_still_owed(project: Project) -> None:
    # The usual split: `--benchmark-skip` in the test job, `--benchmark-only` in the benchmark
    # job. A baseline that skipped a benchmark because of an option has not run it against the
    # change, as `-k` would not have: the next --diff must still run it.
    pytest.importorskip("pytest_benchmark")
    project.write(
        "tests/test_speed.py",
        """
        from pkg.calc import mul


        def test_mul_speed(benchmark):
            assert benchmark(mul, 2, 3) == 6
        """,
    )
    fast = "--benchmark-max-time=0.01"
    project.settled(fast)
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    skipped = project.baseline(fast, "--benchmark-skip")
    assert outcomes(skipped) == {"test_mul": "FAILED", "test_mul_speed": "SKIPPED"}
    assert outcomes(project.diff(fast, "--benchmark-only"))["test_mul_speed"] == "FAILED"
