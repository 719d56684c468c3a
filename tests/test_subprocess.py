"""--diff-subprocess: code that tests run in Python subprocesses is their dependency too."""

from __future__ import annotations

import sys

import pytest

from difftest_support import Project, ran

SUBPROCESS_FILES = {
    "src/pkg/worker.py": """
        def compute():
            return 21 * 2


        def unused():
            return 0


        def main():
            print(compute())


        if __name__ == "__main__":
            main()
    """,
    "src/pkg/spawned.py": """
        def task(queue):
            queue.put(7)
    """,
    "data/input.txt": "3\n",
    "tests/test_cli.py": """
        import subprocess
        import sys


        def test_cli():
            out = subprocess.run(
                [sys.executable, "src/pkg/worker.py"], capture_output=True, text=True, check=True
            )
            assert out.stdout.strip() == "42"


        def test_reads_in_child():
            code = "print(open('data/input.txt').read().strip())"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert out.stdout.strip() == "3"
    """,
    "tests/test_spawn.py": """
        import multiprocessing

        import pkg.spawned


        def test_spawn():
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            process = context.Process(target=pkg.spawned.task, args=(queue,))
            process.start()
            assert queue.get(timeout=60) == 7
            process.join()
    """,
}


@pytest.fixture
def sub_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    project.write_files(SUBPROCESS_FILES)
    # The spawned child imports pkg: src must be on its path.
    monkeypatch.setenv("PYTHONPATH", str(project.root / "src"))
    return project


def test_code_run_only_in_a_subprocess_selects_its_test(sub_project: Project) -> None:
    sub_project.settled("--diff-subprocess")
    sub_project.replace("src/pkg/worker.py", "21 * 2", "2 * 21")
    result = sub_project.diff("--diff-explain")
    assert ran(result) == {"test_cli"}
    result.stdout.fnmatch_lines(["*test_cli: src/pkg/worker.py::compute changed"])
    sub_project.replace("src/pkg/worker.py", "return 0", "return 1")
    assert ran(sub_project.diff()) == {"test_cli"}  # still owed, unused() is not a dependency


def test_data_file_read_in_a_subprocess(sub_project: Project) -> None:
    sub_project.settled("--diff-subprocess")
    sub_project.write("data/input.txt", "4\n")
    assert ran(sub_project.diff()) == {"test_reads_in_child"}


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_child(sub_project: Project, method: str) -> None:
    if method == "fork" and sys.platform == "win32":
        pytest.skip("no fork on Windows")
    sub_project.replace("tests/test_spawn.py", '"spawn"', repr(method))
    sub_project.settled("--diff-subprocess")
    sub_project.replace("src/pkg/spawned.py", "queue.put(7)", "queue.put(3 + 4)")
    assert ran(sub_project.diff()) == {"test_spawn"}


def test_without_the_option_subprocess_code_is_not_recorded(sub_project: Project) -> None:
    sub_project.settled()
    sub_project.replace("src/pkg/worker.py", "21 * 2", "2 * 21")
    assert ran(sub_project.diff()) == set()


def test_the_hook_is_removed_after_the_run(
    sub_project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.setenv("TMPDIR", str(temp))
    sub_project.write(
        "tests/test_env.py",
        """
        import os


        def test_env():
            assert os.path.isdir(os.environ["PYTEST_DIFFTEST_SUBPROCESS_DIR"])
        """,
    )
    result = sub_project.baseline("--diff-subprocess")
    assert result.ret == 0
    assert "test_env" in ran(result)
    assert [p.name for p in temp.iterdir() if p.name.startswith("pytest-difftest")] == []
