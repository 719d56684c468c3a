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


SIDE_EFFECT_INI = "diff_env = \"os.makedirs('evaluated', exist_ok=True) or 'dev'\"\n"


def test_the_command_never_evaluates_diff_env(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + SIDE_EFFECT_INI)
    project.settled()
    assert (project.root / "evaluated").is_dir()  # a test run evaluates it
    (project.root / "evaluated").rmdir()
    status = project.cli("status")
    assert status.ret == 0, status.stderr.str()
    status.stdout.fnmatch_lines(["variant  'dev' (the last run's; --variant NAME for another)"])
    assert project.cli("inspect").ret == 0
    assert project.cli("report", "-o", "report.html").ret == 0
    assert not (project.root / "evaluated").exists()


def test_status_shows_the_variant_it_is_given_or_the_last_runs(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_files(ENV_TEST)
    project.write("pyproject.toml", project.read("pyproject.toml") + VARIANT_INI)
    monkeypatch.setenv("APP_SETTINGS", "dev")
    project.settled()
    monkeypatch.setenv("APP_SETTINGS", "prod")
    assert project.baseline().ret == 1  # test_dev_only fails in prod
    prod = project.cli_json("status")
    assert prod["variant"] == "prod9dd4"
    assert [t["nodeid"] for t in prod["selected"]] == ["tests/test_env.py::test_dev_only"]
    dev = project.cli_json("status", "--variant", "dev9dd4")
    assert dev["variant"] == "dev9dd4"
    assert dev["selected"] == []
    unknown = project.cli("status", "--variant", "staging")
    assert unknown.ret == 0
    unknown.stdout.fnmatch_lines(
        ["no results for variant 'staging' yet: `pytest --diff` would run every test"]
    )
    # Without a record of the last run, the command says what it needs.
    project.stored_update("DELETE FROM meta WHERE key = 'last_run'")
    result = project.cli("status")
    assert result.ret == 2
    result.stderr.fnmatch_lines(
        ["pytest-difftest: ini diff_env *not evaluated*--variant NAME*'dev9dd4', 'prod9dd4'*"]
    )


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').getcwd()",
        "open('pyproject.toml').read()",
        "exec('x = 1')",
        "eval('1')",
        "compile('1', 'f', 'eval')",
        "globals()",
        "getattr(os, 'getcwd')()",
        "vars()",
    ],
)
def test_diff_env_cannot_reach_beyond_the_names_readme_lists(
    project: Project, expression: str
) -> None:
    ini = f'diff_env = "{expression}"\n'
    project.write("pyproject.toml", project.read("pyproject.toml") + ini)
    result = project.run("--diff")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*diff_env: cannot evaluate *: NameError: name '*' is not defined"]
    )
    assert ran(result) == set()


@pytest.mark.parametrize(
    ("expression", "variant"),
    [
        ("str(sys.version_info[:1])", "(3,)"),
        ("os.environ.get('NOT_SET_ANYWHERE', 'dev') + md5('x')[:4]", "dev9dd4"),
        ("hashlib.sha256(b'x').hexdigest()[:6]", "2d7116"),
        ("'-'.join(sorted(str(n) for n in range(3) if n != 1))", "0-2"),
        ("max(len(os.sep), 1) * 'x'", "x"),
    ],
)
def test_diff_env_has_os_sys_hashlib_md5_and_plain_builtins(
    project: Project, expression: str, variant: str
) -> None:
    ini = f'diff_env = "{expression}"\n'
    project.write("pyproject.toml", project.read("pyproject.toml") + ini)
    result = project.run("--diff")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines([f"difftest: --diff, *variant {variant!r}*"])
