"""Code objects that compare equal: CPython's code objects are equal (and hash equal) when
their bytecode, constants, names and first line match, whatever file they come from. Every
recorder must tell them apart, or a test is credited with a function of another file."""

from __future__ import annotations

import sys

import pytest

from difftest_support import Project, outcomes

pytest.importorskip("xdist")

# How each recorder is reached: on Python 3.12+, `sys.monitoring` with its two tool ids, with
# one left (it re-arms with restart_events), and the trace hook when another tool holds both.
RECORDERS = (
    {"monitoring": [], "one-tool-id": [4], "trace": [3, 4, 5]}
    if sys.version_info >= (3, 12)
    else {"trace": []}
)

SAME_FUNCTION = {
    **{f"src/pkg/m0{n}.py": "def value(x):\n    return x + 1\n" for n in range(3)},
    **{
        f"tests/test_m0{n}.py": f"""
            from pkg import m0{n}


            def test_m0{n}():
                assert m0{n}.value(1) == 2
        """
        for n in range(3)
    },
}


@pytest.fixture(params=list(RECORDERS))
def recorder_args(request: pytest.FixtureRequest, project: Project) -> list[str]:
    """Options that make the inner runs use the recorder named by the parameter."""
    taken = RECORDERS[request.param]
    if not taken:
        return []
    project.write(
        "occupy.py",
        f"""
        import sys

        for tool in {taken!r}:
            sys.monitoring.use_tool_id(tool, "another tool")
        """,
    )
    return ["-p", "occupy"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_identical_functions_in_different_files(
    project: Project, recorder_args: list[str], workers: list[str]
) -> None:
    project.write_files(SAME_FUNCTION)
    project.settled(*recorder_args, *workers)
    project.replace("src/pkg/m02.py", "x + 1", "x + 2")
    result = project.diff(*recorder_args, "-rA")
    assert outcomes(result) == {"test_m02": "FAILED"}, result.stdout.str()
    depends = project.cli_json("inspect", "--test", "tests/test_m02.py::test_m02")
    files = {dep["path"] for dep in depends["dependencies"]}
    assert "src/pkg/m02.py" in files
    assert not {"src/pkg/m00.py", "src/pkg/m01.py"} & files


def test_identical_methods_in_classes_of_different_files(
    project: Project, recorder_args: list[str]
) -> None:
    for name in ("a", "b"):
        project.write(
            f"src/pkg/shape_{name}.py",
            f"""
            class Shape{name.upper()}:
                def __init__(self, size):
                    self.size = size

                def __repr__(self):
                    return f"<{{self.size}}>"
            """,
        )
        project.write(
            f"tests/test_shape_{name}.py",
            f"""
            from pkg.shape_{name} import Shape{name.upper()}


            def test_shape_{name}():
                assert repr(Shape{name.upper()}(3)) == "<3>"
            """,
        )
    project.settled(*recorder_args)
    project.replace("src/pkg/shape_b.py", 'f"<{self.size}>"', 'f"[{self.size}]"')
    assert outcomes(project.diff(*recorder_args)) == {"test_shape_b": "FAILED"}


def test_identical_closures_at_different_lines(project: Project, recorder_args: list[str]) -> None:
    project.write(
        "src/pkg/adders.py",
        """
        def first():
            def inner(x):
                return x + 1

            return inner


        def second():
            def inner(x):
                return x + 1

            return inner
        """,
    )
    project.write(
        "tests/test_adders.py",
        """
        from pkg.adders import first, second


        def test_first():
            assert first()(1) == 2


        def test_second():
            assert second()(1) == 2
        """,
    )
    project.settled(*recorder_args)
    text = project.read("src/pkg/adders.py")
    head, _, tail = text.rpartition("x + 1")
    project.write("src/pkg/adders.py", head + "x + 2" + tail)
    assert outcomes(project.diff(*recorder_args)) == {"test_second": "FAILED"}


def test_identical_functions_run_in_one_subprocess(project: Project) -> None:
    project.write_files(SAME_FUNCTION)
    project.write(
        "tests/test_child.py",
        """
        import subprocess
        import sys


        def test_child():
            code = "from pkg import m00, m02; print(m00.value(1) + m02.value(1))"
            out = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                cwd="src",
                check=True,
            )
            assert out.stdout.strip() == "4"
        """,
    )
    project.settled("--diff-subprocess")
    project.replace("src/pkg/m02.py", "x + 1", "x + 2")
    assert outcomes(project.diff()) == {"test_m02": "FAILED", "test_child": "FAILED"}
