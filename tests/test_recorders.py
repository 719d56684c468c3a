"""What the recorders see whatever else runs: code a test runs in threads it starts, generators
it resumes, and a profiler that holds the hook the recorder prefers."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, ran, reported

# The tests name only the `run_*` functions: what the threads run is found by recording alone.
THREADS = {
    "src/pkg/work.py": """
        import threading
        from concurrent.futures import ThreadPoolExecutor


        def _square(x):
            return x * x


        def _cube(x):
            return x * x * x


        def run_square_in_thread():
            results = []
            thread = threading.Thread(target=lambda: results.append(_square(3)))
            thread.start()
            thread.join()
            return results[0]


        def run_cube_in_pool():
            with ThreadPoolExecutor(2) as pool:
                return list(pool.map(_cube, [2]))[0]
    """,
    "tests/test_work.py": """
        from pkg.work import run_cube_in_pool, run_square_in_thread


        def test_square():
            assert run_square_in_thread() == 9


        def test_cube():
            assert run_cube_in_pool() == 8
    """,
}


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["single", "xdist"])
def test_code_run_in_threads_a_test_starts(project: Project, xdist: tuple[str, ...]) -> None:
    project.write_files(THREADS)
    project.settled(*xdist)
    project.replace("src/pkg/work.py", "return x * x * x", "return x * x * x + 1")
    assert reported(project.diff("-rA", *xdist)) == {"test_cube": "FAILED"}
    project.replace("src/pkg/work.py", "return x * x\n", "return x * x + 1\n")
    assert reported(project.diff("-rA", *xdist)) == {"test_square": "FAILED", "test_cube": "FAILED"}


def test_a_generator_resumed_by_a_later_test(project: Project) -> None:
    # The generator starts in one test and is resumed in the next, which names nothing of it: a
    # resumption counts as a run in the test that resumes it (the recorders mark code seen per
    # test).
    project.write_files(
        {
            "src/pkg/stream.py": """
                def _numbers():
                    yield 1
                    yield 2


                def numbers():
                    return _numbers()
            """,
            "tests/test_stream.py": """
                from pkg import stream

                STARTED = []


                def test_first():
                    STARTED.append(stream.numbers())
                    assert next(STARTED[0]) == 1


                def test_second():
                    assert next(STARTED[0]) == 2
            """,
        }
    )
    project.settled()
    project.replace("src/pkg/stream.py", "yield 2", "yield 3")
    assert outcomes(project.diff()) == {"test_first": "PASSED", "test_second": "FAILED"}


def test_another_profiler_keeps_its_hook_and_we_still_record(project: Project) -> None:
    # A profiler installed by the project (cProfile, a sampling tool) holds `sys.setprofile`:
    # the recorder must neither take it away nor stop recording.
    project.write_files(
        {
            "conftest.py": """
                import sys

                CALLS = []


                def profiler(frame, event, arg):
                    if event == "call":
                        CALLS.append(frame.f_code.co_name)


                def pytest_configure(config):
                    sys.setprofile(profiler)
            """,
            "tests/test_profiled.py": """
                import sys

                import conftest
                from pkg.calc import mul


                def test_profiled():
                    assert sys.getprofile() is conftest.profiler
                    del conftest.CALLS[:]
                    assert mul(2, 3) == 6
                    assert "mul" in conftest.CALLS
            """,
        }
    )
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert outcomes(project.diff()) == {"test_mul": "FAILED", "test_profiled": "FAILED"}


# Methods the interpreter calls without a call instruction, each used by one test after a test
# that warmed them up (CPython 3.11 specialises hot instructions, and some specialisations run a
# Python method without a call of their own).
SPECIAL_METHODS = {
    "src/pkg/box.py": """
        class Box:
            def __init__(self, value):
                self.value = value

            def __getitem__(self, index):
                return self.value + index

            @property
            def double(self):
                return self.value * 2

            def __eq__(self, other):
                return isinstance(other, Box) and other.value == self.value

            def __hash__(self):
                return hash(self.value)

            def __enter__(self):
                return self.value

            def __exit__(self, *exc):
                return False

            def __iter__(self):
                return iter([self.value])
    """,
    "tests/test_box.py": """
        from pkg.box import Box


        def test_warm():
            box = Box(1)
            for _ in range(3000):
                assert box[1] == 2 and box.double == 2 and box == Box(1)
                assert {box: 1}[box] == 1 and list(box) == [1]
                with box as value:
                    assert value == 1


        def test_getitem():
            assert Box(1)[1] == 2


        def test_property():
            assert Box(1).double == 2


        def test_eq():
            assert Box(1) == Box(1)


        def test_hash():
            box = Box(1)
            assert {box: 1}[box] == 1


        def test_with():
            with Box(1) as value:
                assert value == 1


        def test_iter():
            assert list(Box(1)) == [1]
    """,
}


@pytest.mark.parametrize(
    ("old", "new", "test"),
    [
        ("return self.value + index", "return self.value + index + 1", "test_getitem"),
        ("return self.value * 2", "return self.value * 3", "test_property"),
        ("other.value == self.value", "other.value != self.value", "test_eq"),
        ("return hash(self.value)", "return hash(self.value) + 1", "test_hash"),
        ("return self.value\n\n    def __exit__", "return 0\n\n    def __exit__", "test_with"),
        ("return iter([self.value])", "return iter([])", "test_iter"),
    ],
)
def test_methods_run_without_a_call_instruction(
    project: Project, old: str, new: str, test: str
) -> None:
    project.write_files(SPECIAL_METHODS)
    project.settled()
    project.replace("src/pkg/box.py", old, new)
    assert ran(project.diff()) == {"test_warm", test}


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["single", "xdist"])
@pytest.mark.parametrize("kind", ["generator", "ids"])
def test_code_pytest_runs_while_collecting(
    project: Project, xdist: tuple[str, ...], kind: str
) -> None:
    # pytest itself consumes a parametrize generator and calls an `ids` function while it
    # collects, outside any module's execution and any test.
    project.write(
        "tests/cases.py",
        """
        def cases():
            yield 1
            yield 2


        def name(value):
            return f"case{value}"
        """,
    )
    if kind == "generator":
        decorator = '@pytest.mark.parametrize("n", cases())'
        change = ("yield 2", "yield 3")
        failing = {"test_case[3]": "FAILED"}
    else:
        decorator = '@pytest.mark.parametrize("n", [1, 2], ids=name)'
        change = ('f"case{value}"', 'f"case{value}" if value == 1 else "x"')
        failing = {"test_case[case1]": "PASSED", "test_case[x]": "FAILED"}
    project.write(
        "tests/test_cases.py",
        f"""
        import pytest

        from cases import cases, name


        {decorator}
        def test_case(n, request):
            assert n in (1, 2)
            assert request.node.callspec.id in ("case1", "case2", "1", "2")
        """,
    )
    project.settled(*xdist)
    project.replace("tests/cases.py", *change)
    selected = reported(project.diff("-rA", *xdist))
    assert {name: outcome for name, outcome in selected.items() if "case" in name} == {
        **failing,
        **({"test_case[1]": "PASSED"} if kind == "generator" else {}),
    }


def test_a_generator_closed_while_a_module_executes(project: Project) -> None:
    # `any()` stops early and drops its generator, which Python then closes by throwing
    # GeneratorExit into it: the recorder must leave that pending exception alone.
    project.write(
        "src/pkg/flags.py",
        """
        def has_keyword(names):
            return any(name == "kw" for name in names)


        FLAG = has_keyword(["kw", "a", "b"])
        """,
    )
    project.write(
        "tests/test_flags.py",
        """
        from pkg.flags import FLAG


        def test_flag():
            assert FLAG
        """,
    )
    result = project.baseline("-W", "error::pytest.PytestUnraisableExceptionWarning")
    assert result.ret == 0, result.stdout.str()
    assert "SystemError" not in result.stdout.str()


def test_endless_recursion_under_a_raised_limit_raises_recursion_error(project: Project) -> None:
    # Plain Python raises RecursionError at the limit. On 3.9-3.11 the recorder's
    # frame-evaluation hook makes every call a C call: the C stack must not run out first
    # (it did, a segmentation fault, at a limit of 20,000). The test passes so that pytest
    # does not format 100,000 frames.
    project.write(
        "tests/test_deep.py",
        """
        import sys

        import pytest


        def down(n):
            return down(n + 1) + 1


        def test_deep():
            sys.setrecursionlimit(100_000)
            with pytest.raises(RecursionError):
                down(0)


        def test_after():
            assert True
        """,
    )
    result = project.settled()
    found = reported(result)
    assert {name: found.get(name) for name in ("test_deep", "test_after")} == {
        "test_deep": "PASSED",
        "test_after": "PASSED",
    }
