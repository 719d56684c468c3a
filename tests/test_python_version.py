"""A Python version change: everything runs; with a per-interpreter ``diff_env`` baselines for
several interpreters live side by side. Needs a second interpreter (3.11 or newer, any minor
version but this one), which runs this environment's pytest and plugin through a ``.pth``."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from difftest_support import ALL_TESTS, Project, ran, venv_seeing


def _minor(executable: str) -> int | None:
    try:
        found = subprocess.run(
            [executable, "-c", "import sys; print(sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = found.stdout.strip()
    return int(text) if found.returncode == 0 and text.isdigit() else None


def _other_interpreter() -> str | None:
    mine = sys.version_info[1]
    candidates = [shutil.which(f"python3.{minor}") for minor in range(11, 16) if minor != mine]
    candidates += glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
    for executable in candidates:
        if executable:
            minor = _minor(executable)
            if minor is not None and minor >= 11 and minor != mine:
                return executable
    return None


@pytest.fixture(scope="module")
def other_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    executable = _other_interpreter()
    if executable is None:
        pytest.skip("no second Python interpreter (3.11+) found")
    venv = tmp_path_factory.mktemp("other-venv")
    return venv_seeing(executable, venv, [sysconfig.get_path("purelib")])


def run_with(project: Project, python: str, *args: str) -> pytest.RunResult:
    # In the project's environment, which loads our plugin and xdist only: other installed
    # plugins may not load in another interpreter through the .pth (anyio imports trio, whose
    # installed copy may not support it; hypothesis has a part compiled for this interpreter).
    with project.in_project():
        return project.pytester.run(python, "-m", "pytest", "-v", *args)


def test_python_version_change_selects_everything(project: Project, other_python: str) -> None:
    project.settled()
    result = run_with(project, other_python, "--diff")
    assert ran(result) == ALL_TESTS
    result.stdout.fnmatch_lines(["difftest: the Python version changed: every test is selected"])


def test_per_interpreter_variants_live_side_by_side(project: Project, other_python: str) -> None:
    ini = 'diff_env = "sys.implementation.name + str(sys.version_info[:2])"\n'
    project.write("pyproject.toml", project.read("pyproject.toml") + ini)
    project.settled()
    assert run_with(project, other_python, "--diff-baseline").ret == 0
    assert ran(run_with(project, other_python, "--diff")) == set()
    assert ran(project.diff()) == set()
    project.replace("src/pkg/text.py", '"!"', '"!!"')
    assert ran(run_with(project, other_python, "--diff")) == {"test_shout"}
    assert ran(project.diff()) == {"test_shout"}
