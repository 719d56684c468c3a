"""Data files tests read: recorded automatically, selected precisely."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, ran, reported

DATA_FILES = {
    "data/prices.json": '{"apple": 3}\n',
    "data/names.txt": "ada\n",
    "tests/test_prices.py": """
        import json
        from pathlib import Path


        def test_prices():
            assert json.loads(Path("data/prices.json").read_text())["apple"] == 3


        def test_no_data():
            assert True
    """,
    "tests/test_optional.py": """
        import os


        def test_optional_override():
            try:
                with open(os.path.join("data", "override.json")) as f:
                    assert f.read() == "{}"
            except FileNotFoundError:
                pass
    """,
    "tests/test_names.py": """
        from pathlib import Path

        NAMES = Path("data/names.txt").read_text().split()


        def test_names():
            assert NAMES == ["ada"]


        def test_names_too():
            assert "ada" in NAMES
    """,
    "tests/test_writer.py": """
        from pathlib import Path


        def test_writer():
            Path("data/out.txt").write_text("written")
    """,
}

ALL = {
    "test_prices",
    "test_no_data",
    "test_optional_override",
    "test_names",
    "test_names_too",
    "test_writer",
}


@pytest.fixture
def data_project(project: Project) -> Project:
    project.write_files(DATA_FILES)
    project.settled()
    return project


def test_changed_json_selects_its_reader_only(data_project: Project) -> None:
    assert ran(data_project.diff()) == set()
    data_project.write("data/prices.json", '{"apple": 4}\n')
    result = data_project.diff("--diff-explain")
    assert ran(result) == {"test_prices"}
    result.stdout.fnmatch_lines(["*why*test_prices: changed data file data/prices.json"])


def test_deleted_then_recreated_file_selects_its_reader(data_project: Project) -> None:
    data_project.delete("data/prices.json")
    result = data_project.baseline("--diff-explain")
    assert ran(result) == {"test_prices"}
    result.stdout.fnmatch_lines(["*why*test_prices: data file data/prices.json was deleted"])
    assert ran(data_project.diff()) == {"test_prices"}  # it failed
    data_project.write("data/prices.json", '{"apple": 3}\n')
    assert ran(data_project.diff()) == {"test_prices"}


def test_a_file_that_was_missing_selects_its_reader_when_created(data_project: Project) -> None:
    data_project.write("data/override.json", "{}")
    result = data_project.diff("--diff-explain")
    assert ran(result) == {"test_optional_override"}
    result.stdout.fnmatch_lines(["*test_optional_override: data file data/override.json was*"])


def test_file_read_while_the_module_is_imported_selects_the_module(
    data_project: Project,
) -> None:
    data_project.write("data/names.txt", "ada\nbob\n")
    assert ran(data_project.diff()) == {"test_names", "test_names_too"}


def test_written_files_are_not_dependencies(data_project: Project) -> None:
    data_project.write("data/out.txt", "edited")
    assert ran(data_project.diff()) == set()


def test_data_files_under_xdist(project: Project) -> None:
    pytest.importorskip("xdist")
    project.write_files(DATA_FILES)
    assert project.baseline("-n", "2").ret == 0
    data_project = project
    data_project.write("data/prices.json", '{"apple": 4}\n')
    result = data_project.diff("-n", "2", "-rA")
    result.stdout.fnmatch_lines(["*1 of * tests selected*"])
    assert "test_prices" in result.stdout.str()


def test_files_in_caches_and_virtualenvs_are_not_dependencies(project: Project) -> None:
    project.write_files(
        {
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/share/notes.txt": "a",
            ".git/HEAD": "ref: refs/heads/main\n",
            "data/real.txt": "a",
            "tests/test_reads.py": """
                from pathlib import Path


                def test_reads():
                    for name in ("env/share/notes.txt", ".git/HEAD", "data/real.txt"):
                        assert Path(name).read_text()
            """,
        }
    )
    project.settled()
    project.write("env/share/notes.txt", "b")
    project.write(".git/HEAD", "ref: refs/heads/other\n")
    assert ran(project.diff()) == set()
    project.write("data/real.txt", "b")
    assert ran(project.diff()) == {"test_reads"}


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_python_source_read_as_text_is_data(project: Project, workers: tuple[str, ...]) -> None:
    # A release test reads __version__ from the source without importing it.
    project.write("src/pkg/__init__.py", '__version__ = "1.0"\n')
    project.write(
        "tests/test_release.py",
        """
        import re
        from pathlib import Path


        def test_version():
            text = Path("src/pkg/__init__.py").read_text()
            assert re.search(r'__version__ = "(.*)"', text).group(1) == "1.0"
        """,
    )
    project.settled(*workers)
    project.write("src/pkg/__init__.py", '__version__ = "1.1"\n')
    assert reported(project.diff("-rA", *workers)) == {"test_version": "FAILED"}


def test_declared_python_file_is_not_reported_deleted(project: Project) -> None:
    project.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        testpaths = ["tests"]
        diff_depends = ["tests/test_shout.py*: src/pkg/calc.py"]
        """,
    )
    project.write("tests/test_shout.py", "def test_shout():\n    assert True\n")
    project.settled()
    unchanged = project.diff()
    assert "was deleted" not in unchanged.stdout.str()
    assert outcomes(unchanged) == {}
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    assert "test_shout" in outcomes(project.diff())
