"""Project layouts (#16): a src layout installed in editable mode, namespace packages split
across directories, pytest started from a subdirectory, and an explicit ``--rootdir``. Each is
a real project: a baseline, one changed function, and ``--diff`` running exactly the affected
tests with the right exit code; with nothing changed, ``--diff`` runs nothing."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from difftest_support import (
    ALL_TESTS,
    BASE_FILES,
    DB,
    OUR_PLUGINS_ONLY,
    Project,
    reported,
    venv_seeing,
)

pytest.importorskip("xdist")

WORKERS = pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])


@pytest.fixture
def project(project: Project) -> Project:
    """The default project, run with this plugin and xdist only: a layout is about where pytest
    finds the project, not about other plugins, whose start-up would be most of the time of
    these runs (and some cannot load in the editable install's venv on every interpreter)."""
    project.environment = dict(OUR_PLUGINS_ONLY)
    return project


def run_from(
    project: Project, cwd: Path, *args: str, python: str | None = None
) -> pytest.RunResult:
    """pytest -v -rA from `cwd` (the report lines of a run with or without xdist), with this
    environment's interpreter or `python`."""
    with project.in_project(), pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        if python is None:
            return project.pytester.runpytest_subprocess("-v", "-rA", *args)
        return project.pytester.run(python, "-m", "pytest", "-v", "-rA", *args)


def diff_from(
    project: Project, cwd: Path, *args: str, python: str | None = None
) -> pytest.RunResult:
    result = run_from(project, cwd, "--diff", *args, python=python)
    result.stdout.fnmatch_lines(["difftest: --diff,*"])
    return result


def baseline_from(
    project: Project, cwd: Path, *args: str, python: str | None = None
) -> pytest.RunResult:
    result = run_from(project, cwd, "--diff-baseline", *args, python=python)
    result.stdout.fnmatch_lines(["difftest: --diff-baseline*"])
    return result


def assert_ran(result: pytest.RunResult, expected: dict[str, str], ret: int) -> None:
    """Exactly the `expected` tests ran, with these outcomes, and pytest exited with `ret`."""
    assert reported(result) == expected, result.stdout.str()
    assert result.ret == ret, result.stdout.str()


# -- a src layout installed in editable mode --------------------------------------------------

EDITABLE_PYPROJECT = """
    [build-system]
    requires = ["setuptools>=70.1"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "difftest-layout-demo"
    version = "0.1"

    [tool.setuptools.packages.find]
    where = ["src"]

    [tool.pytest.ini_options]
    testpaths = ["tests"]
"""


def editable_venv(project: Project, where: Path) -> str:
    """A virtual environment at `where` that runs this environment's pytest and plugin (through
    a ``.pth``: this environment may be a venv itself, whose packages a new venv's
    ``--system-site-packages`` would not see), with `project` installed into it by
    ``pip install -e``; its interpreter."""
    outer = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    python = venv_seeing(sys.executable, where, outer)
    install = subprocess.run(
        [
            *(python, "-m", "pip", "install", "-q", "--disable-pip-version-check"),
            *("--no-deps", "--no-build-isolation", "--no-index", "-e", str(project.root)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return python


@WORKERS
def test_src_layout_installed_in_editable_mode(
    project: Project, tmp_path_factory: pytest.TempPathFactory, workers: list[str]
) -> None:
    # No `pythonpath = ["src"]`: the package is importable only through the editable install.
    project.write("pyproject.toml", EDITABLE_PYPROJECT)
    python = editable_venv(project, tmp_path_factory.mktemp("editable") / "venv")
    where = subprocess.run(
        [python, "-c", "import pkg.calc; print(pkg.calc.__file__)"],
        cwd=tmp_path_factory.mktemp("elsewhere"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where) == project.root / "src" / "pkg" / "calc.py"
    not_installed = subprocess.run(
        [sys.executable, "-c", "import pkg"], cwd=project.root, capture_output=True, check=False
    )
    assert not_installed.returncode != 0

    root = project.root
    assert_ran(
        baseline_from(project, root, *workers, python=python), dict.fromkeys(ALL_TESTS, "PASSED"), 0
    )
    assert_ran(diff_from(project, root, *workers, python=python), {}, 0)
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    assert_ran(diff_from(project, root, *workers, python=python), {"test_add": "FAILED"}, 1)
    project.replace("src/pkg/calc.py", "return a - b", "return b + a")
    assert_ran(baseline_from(project, root, *workers, python=python), {"test_add": "PASSED"}, 0)
    assert_ran(diff_from(project, root, *workers, python=python), {}, 0)


# -- namespace packages (PEP 420) ---------------------------------------------------------------

NAMESPACE_FILES = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["src", "plugins"]
        testpaths = ["tests"]
    """,
    # `ns` has no __init__.py in either directory: one namespace package in two portions.
    "src/ns/calc.py": """
        def add(a, b):
            return a + b


        def mul(a, b):
            return a * b
    """,
    "plugins/ns/text.py": """
        def shout(word):
            return word.upper() + "!"
    """,
    # A regular package inside the namespace, in the second portion.
    "plugins/ns/extra/__init__.py": "",
    "plugins/ns/extra/config.py": """
        TIMEOUT = 30
        RETRIES = 3
    """,
    "tests/test_calc.py": """
        from ns.calc import add, mul


        def test_add():
            assert add(2, 3) == 5


        def test_mul():
            assert mul(2, 3) == 6
    """,
    "tests/test_text.py": """
        import ns.text


        def test_shout():
            assert ns.text.shout("hi") == "HI!"
    """,
    "tests/test_config.py": """
        from ns.extra.config import RETRIES, TIMEOUT


        def test_timeout():
            assert TIMEOUT == 30


        def test_retries():
            assert RETRIES == 3
    """,
}


@WORKERS
def test_namespace_package_split_across_two_directories(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    project = Project(pytester, pytester.path)
    project.write_files(NAMESPACE_FILES)
    root = project.root
    assert_ran(baseline_from(project, root, *workers), dict.fromkeys(ALL_TESTS, "PASSED"), 0)
    assert_ran(diff_from(project, root, *workers), {}, 0)
    project.replace("plugins/ns/text.py", '"!"', '"?"')
    assert_ran(diff_from(project, root, *workers), {"test_shout": "FAILED"}, 1)
    project.replace("plugins/ns/text.py", '"?"', '"!"')
    project.replace("src/ns/calc.py", "return a * b", "return b * a")
    assert_ran(diff_from(project, root, *workers), {"test_mul": "PASSED"}, 0)
    project.replace("plugins/ns/extra/config.py", "RETRIES = 3", "RETRIES = 4")
    assert_ran(
        baseline_from(project, root, *workers),
        {"test_mul": "PASSED", "test_retries": "FAILED"},
        1,
    )
    project.replace("plugins/ns/extra/config.py", "RETRIES = 4", "RETRIES = 3")
    assert_ran(baseline_from(project, root, *workers), {"test_retries": "PASSED"}, 0)
    assert_ran(diff_from(project, root, *workers), {}, 0)


# -- pytest started from a subdirectory ---------------------------------------------------------


def with_test_subpackage(project: Project) -> None:
    """The default project with its calc tests one level down, in tests/calc/."""
    project.rename("tests/test_calc.py", "tests/calc/test_calc.py")


@WORKERS
@pytest.mark.parametrize("where", ["tests", "tests/calc"])
def test_baseline_from_the_root_diff_from_a_subdirectory(
    project: Project, where: str, workers: list[str]
) -> None:
    with_test_subpackage(project)
    sub = project.root / where
    project.settled(*workers)
    assert_ran(diff_from(project, sub, *workers), {}, 0)
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    assert_ran(diff_from(project, sub, *workers), {"test_add": "FAILED"}, 1)
    project.replace("src/pkg/calc.py", "return a - b", "return b + a")
    assert_ran(diff_from(project, sub, *workers), {"test_add": "PASSED"}, 0)
    # A change outside the subdirectory's tests: nothing to run there, all to run from the root.
    project.replace("src/pkg/text.py", '"!"', '"?"')
    if where == "tests/calc":
        assert_ran(diff_from(project, sub, *workers), {"test_add": "PASSED"}, 0)
    else:
        assert_ran(
            diff_from(project, sub, *workers), {"test_add": "PASSED", "test_shout": "FAILED"}, 1
        )
    assert_ran(
        diff_from(project, project.root, *workers),
        {"test_add": "PASSED", "test_shout": "FAILED"},
        1,
    )


@WORKERS
@pytest.mark.parametrize("where", ["tests", "tests/calc"])
def test_baseline_from_a_subdirectory_diff_from_the_root(
    project: Project, where: str, workers: list[str]
) -> None:
    with_test_subpackage(project)
    sub, root = project.root / where, project.root
    # Everything once from the root; from then on the subdirectory's baselines keep it current.
    project.settled(*workers)
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert_ran(baseline_from(project, sub, *workers), {"test_mul": "FAILED"}, 1)
    assert_ran(diff_from(project, root, *workers), {"test_mul": "FAILED"}, 1)
    project.replace("src/pkg/calc.py", "return a * b + 1", "return b * a")
    assert_ran(baseline_from(project, sub, *workers), {"test_mul": "PASSED"}, 0)
    assert_ran(diff_from(project, root, *workers), {}, 0)
    assert_ran(baseline_from(project, root, *workers), {}, 0)


def test_first_baseline_from_the_tests_directory(project: Project) -> None:
    tests, root = project.root / "tests", project.root
    assert_ran(baseline_from(project, tests), dict.fromkeys(ALL_TESTS, "PASSED"), 0)
    assert (root / DB).is_file()
    assert not (tests / DB).exists()
    assert_ran(diff_from(project, root), {}, 0)
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31")
    assert_ran(diff_from(project, root), {"test_timeout": "FAILED"}, 1)


# -- an explicit --rootdir ----------------------------------------------------------------------

# No configuration file: without --rootdir, `pytest tests` would take tests/ for the rootdir.
ROOTDIR_FILES = {
    relative.replace("src/", ""): text
    for relative, text in BASE_FILES.items()
    if relative != "pyproject.toml"
}
# A package, so that pytest puts the project root (and with it pkg/) on sys.path.
ROOTDIR_FILES["tests/__init__.py"] = ""


@WORKERS
def test_explicit_rootdir_from_inside_and_outside_the_project(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    project = Project(pytester, pytester.path / "proj")
    project.write_files(ROOTDIR_FILES)
    root = project.root
    elsewhere = pytester.path / "elsewhere"
    elsewhere.mkdir()
    outside = ("--rootdir=../proj", "../proj/tests", *workers)
    inside = ("--rootdir=..", *workers)  # from tests/

    first = baseline_from(project, elsewhere, *outside)
    first.stdout.fnmatch_lines(["rootdir: *proj"])
    assert_ran(first, dict.fromkeys(ALL_TESTS, "PASSED"), 0)
    assert (root / DB).is_file()
    assert not (root / "tests" / DB).exists()
    assert not (elsewhere / DB).exists()
    assert_ran(diff_from(project, root / "tests", *inside), {}, 0)
    assert_ran(diff_from(project, root, f"--rootdir={root}", "tests", *workers), {}, 0)
    project.replace("pkg/calc.py", "return a + b", "return a - b")
    assert_ran(diff_from(project, elsewhere, *outside), {"test_add": "FAILED"}, 1)
    assert_ran(diff_from(project, root / "tests", *inside), {"test_add": "FAILED"}, 1)
    project.replace("pkg/calc.py", "return a - b", "return b + a")
    assert_ran(baseline_from(project, root / "tests", *inside), {"test_add": "PASSED"}, 0)
    assert_ran(diff_from(project, elsewhere, *outside), {}, 0)
