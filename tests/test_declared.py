"""Declared dependencies (marker and ini) and tests that always run."""

from __future__ import annotations

from difftest_support import Project, ran

DECLARED_FILES = {
    "schema/users.sql": "CREATE TABLE users (id int);\n",
    "docker/Dockerfile": "FROM python:3.12\n",
    "tests/test_db.py": """
        import pytest


        @pytest.mark.diff_depends("schema/*.sql")
        def test_schema():
            assert True


        def test_plain():
            assert True
    """,
    "tests/deploy/test_image.py": """
        def test_image():
            assert True
    """,
    "tests/test_smoke.py": """
        import pytest


        @pytest.mark.diff_always
        def test_smoke():
            assert True


        def test_not_smoke():
            assert True
    """,
}

INI = """
    diff_depends = ["tests/deploy/*: docker/Dockerfile"]
    diff_always = ["*::test_shout"]
"""


def declared_project(project: Project) -> Project:
    project.write_files(DECLARED_FILES)
    project.write("pyproject.toml", project.read("pyproject.toml") + INI)
    project.settled("-W", "error::pytest.PytestUnknownMarkWarning", "--strict-markers")
    return project


def test_marker_glob_selects_on_a_changed_or_new_matching_file(project: Project) -> None:
    declared_project(project)
    project.write("schema/users.sql", "CREATE TABLE users (id int, name text);\n")
    result = project.diff("--diff-explain")
    assert ran(result) == {"test_schema", "test_smoke", "test_shout"}
    result.stdout.fnmatch_lines(["*test_schema: changed data file schema/users.sql"])
    project.baseline()
    project.write("schema/orders.sql", "CREATE TABLE orders (id int);\n")
    result = project.diff("--diff-explain")
    assert ran(result) == {"test_schema", "test_smoke", "test_shout"}
    result.stdout.fnmatch_lines(["*test_schema: the files matching declared dependency*"])


def test_ini_rule_selects_the_tests_it_names(project: Project) -> None:
    declared_project(project)
    project.write("docker/Dockerfile", "FROM python:3.13\n")
    assert ran(project.diff()) == {"test_image", "test_smoke", "test_shout"}


def test_always_run_marker_and_ini(project: Project) -> None:
    declared_project(project)
    result = project.diff("--diff-explain")
    assert ran(result) == {"test_smoke", "test_shout"}
    result.stdout.fnmatch_lines(["*why*test_smoke: always runs (diff_always)"])
    assert ran(project.baseline()) == {"test_smoke", "test_shout"}


def test_bad_diff_depends_line_is_a_usage_error(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + 'diff_depends = ["nocolon"]\n')
    result = project.run("--diff")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*diff_depends*NODEID_GLOB: FILE_GLOB*'nocolon'*"])
