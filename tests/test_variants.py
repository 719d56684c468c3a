"""Run variants (ini diff_env) and tracked directories (--diff-project-directory)."""

from __future__ import annotations

import pytest

from difftest_support import ALL_TESTS, Project, ran

VARIANT_INI = "diff_env = \"os.environ.get('APP_SETTINGS', 'dev') + md5('x')[:4]\"\n"

ENV_TEST = {
    "tests/test_env.py": """
        import os


        def test_dev_only():
            assert os.environ.get("APP_SETTINGS", "dev") == "dev"
    """,
}


def test_each_variant_keeps_its_own_results(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_files(ENV_TEST)
    project.write("pyproject.toml", project.read("pyproject.toml") + VARIANT_INI)
    monkeypatch.setenv("APP_SETTINGS", "dev")
    project.settled()
    assert ran(project.diff()) == set()

    monkeypatch.setenv("APP_SETTINGS", "prod")
    result = project.diff()
    result.stdout.fnmatch_lines(
        ["difftest: --diff, *variant 'prod9dd4', no baseline for this variant yet: running*"]
    )
    assert ran(result) == {*ALL_TESTS, "test_dev_only"}  # no baseline for prod yet
    assert project.baseline().ret == 1
    assert ran(project.diff()) == {"test_dev_only"}  # failed last time, in prod

    monkeypatch.setenv("APP_SETTINGS", "dev")
    assert ran(project.diff()) == set()  # passed in dev
    project.replace("src/pkg/text.py", '"!"', '"!!"')
    assert ran(project.diff()) == {"test_shout"}
    monkeypatch.setenv("APP_SETTINGS", "prod")
    assert ran(project.diff()) == {"test_shout", "test_dev_only"}


def test_bad_variant_expression_is_a_usage_error(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + 'diff_env = "1 +"\n')
    result = project.run("--diff")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*diff_env: cannot evaluate '1 +': SyntaxError*"])
    assert ran(result) == set()


SIBLING_FILES = {
    "lib/libpkg/__init__.py": "",
    "lib/libpkg/core.py": """
        def answer():
            return 42


        def other():
            return 0
    """,
    "proj/pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["../lib"]
    """,
    "proj/tests/test_lib.py": """
        from libpkg.core import answer, other


        def test_answer():
            assert answer() == 42


        def test_other():
            assert other() == 0
    """,
}


@pytest.mark.parametrize("how", ["option", "ini"])
def test_project_directory_outside_rootdir_is_tracked(pytester: pytest.Pytester, how: str) -> None:
    outer = Project(pytester, pytester.path)
    outer.write_files(SIBLING_FILES)
    project = Project(pytester, pytester.path / "proj")
    args: tuple[str, ...] = ()
    if how == "option":
        args = ("--diff-project-directory", ".", "--diff-project-directory", "../lib")
    else:
        ini = 'diff_project_directories = [".", "../lib"]\n'
        project.write("pyproject.toml", project.read("pyproject.toml") + ini)
    project.settled(*args)
    outer.replace("lib/libpkg/core.py", "return 42", "return 6 * 7")
    result = project.diff("--diff-explain", *args)
    assert ran(result) == {"test_answer"}
    result.stdout.fnmatch_lines(["*test_answer: ../lib/libpkg/core.py::answer changed"])


def test_code_outside_rootdir_is_not_tracked_by_default(pytester: pytest.Pytester) -> None:
    outer = Project(pytester, pytester.path)
    outer.write_files(SIBLING_FILES)
    project = Project(pytester, pytester.path / "proj")
    project.settled()
    outer.replace("lib/libpkg/core.py", "return 42", "return 6 * 7")
    assert ran(project.diff()) == set()


def test_missing_project_directory_is_a_usage_error(project: Project) -> None:
    result = project.run("--diff", "--diff-project-directory", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--diff-project-directory: *nowhere is not a directory*"])
