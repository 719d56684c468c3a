"""The file system beyond reading a file: directory listings, existence checks, files that
appear. A change there must select the tests whose outcome it can change (they fail), and no
other, also under pytest-xdist."""

from __future__ import annotations

import pytest

from difftest_support import Project, reported

pytest.importorskip("xdist")

WORKERS = pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])

# Ways to list `data/cases`, each giving the names of its entries.
LISTINGS = {
    "os.listdir": 'os.listdir("data/cases")',
    "os.scandir": '[entry.name for entry in os.scandir("data/cases")]',
    "os.walk": 'next(os.walk("data/cases"))[2]',
    "glob.glob": '[os.path.basename(p) for p in glob.glob("data/cases/*.txt")]',
    "Path.glob": '[p.name for p in Path("data/cases").glob("*.txt")]',
    "Path.rglob": '[p.name for p in Path("data").rglob("*.txt")]',
    "Path.iterdir": '[p.name for p in Path("data/cases").iterdir()]',
}


def ran_and_failed(result: pytest.RunResult) -> tuple[set[str], set[str]]:
    """The tests that ran and those that failed, by function name (with parameters)."""
    found = reported(result)
    return set(found), {name for name, outcome in found.items() if outcome == "FAILED"}


def write_lister(project: Project, listing: str) -> None:
    project.write("data/cases/a.txt", "a\n")
    project.write("data/cases/b.txt", "b\n")
    project.write(
        "src/pkg/cases.py",
        f"""
        import glob
        import os
        from pathlib import Path


        def names():
            return sorted({listing})
        """,
    )
    project.write(
        "tests/test_cases.py",
        """
        from pkg.cases import names


        def test_cases():
            assert names() == ["a.txt", "b.txt"]
        """,
    )


@WORKERS
@pytest.mark.parametrize("how", sorted(LISTINGS))
def test_a_file_added_to_or_removed_from_a_listed_directory(
    project: Project, how: str, workers: list[str]
) -> None:
    write_lister(project, LISTINGS[how])
    project.settled(*workers)
    project.write("data/cases/c.txt", "c\n")
    assert ran_and_failed(project.diff("-rA", *workers)) == ({"test_cases"}, {"test_cases"})
    project.delete("data/cases/c.txt")
    project.settled(*workers)
    project.delete("data/cases/b.txt")
    assert ran_and_failed(project.diff("-rA", *workers)) == ({"test_cases"}, {"test_cases"})


@WORKERS
def test_a_listing_kept_in_a_cache_counts_for_every_test_that_reads_it(
    project: Project, workers: list[str]
) -> None:
    write_lister(project, LISTINGS["os.listdir"])
    project.replace("src/pkg/cases.py", "def names():", "@functools.lru_cache\ndef names():")
    project.replace("src/pkg/cases.py", "import glob", "import functools\nimport glob")
    for name in ("x", "y"):
        project.write(
            f"tests/test_cases_{name}.py",
            f"""
            from pkg.cases import names


            def test_cases_{name}():
                assert names() == ["a.txt", "b.txt"]
            """,
        )
    project.settled(*workers)
    project.write("data/cases/c.txt", "c\n")
    ran, failed = ran_and_failed(project.diff("-rA", *workers))
    assert ran == failed == {"test_cases", "test_cases_x", "test_cases_y"}


def test_editing_a_file_of_a_listed_directory_selects_only_its_readers(project: Project) -> None:
    write_lister(project, LISTINGS["os.listdir"])
    project.settled()
    project.write("data/cases/a.txt", "changed\n")
    assert ran_and_failed(project.diff("-rA")) == (set(), set())


@WORKERS
def test_a_case_file_added_to_a_parametrizing_listing_is_collected_and_run(
    project: Project, workers: list[str]
) -> None:
    project.write("tests/golden/one.txt", "ok\n")
    project.write("tests/golden/two.txt", "ok\n")
    project.write(
        "tests/test_golden.py",
        """
        import os

        import pytest

        HERE = os.path.join(os.path.dirname(__file__), "golden")


        @pytest.mark.parametrize("case", sorted(os.listdir(HERE)))
        def test_golden(case):
            with open(os.path.join(HERE, case)) as stream:
                assert stream.read() == "ok\\n"
        """,
    )
    project.settled(*workers)
    project.write("tests/golden/three.txt", "not ok\n")
    _, failed = ran_and_failed(project.diff("-rA", *workers))
    assert failed == {"test_golden[three.txt]"}


@WORKERS
def test_a_plugin_module_found_by_pkgutil_selects_the_tests_that_discovered_plugins(
    project: Project, workers: list[str]
) -> None:
    project.write("src/pkg/plugins/__init__.py", "")
    project.write("src/pkg/plugins/alpha.py", "NAME = 'alpha'\n")
    project.write(
        "src/pkg/registry.py",
        """
        import pkgutil

        import pkg.plugins


        def plugin_names():
            return [name for _, name, _ in pkgutil.iter_modules(pkg.plugins.__path__)]
        """,
    )
    project.write(
        "tests/test_registry.py",
        """
        from pkg.registry import plugin_names


        def test_registry():
            assert plugin_names() == ["alpha"]
        """,
    )
    project.settled(*workers)
    project.write("src/pkg/plugins/beta.py", "NAME = 'beta'\n")
    ran, failed = ran_and_failed(project.diff("-rA", *workers))
    assert failed == {"test_registry"}
    assert ran == {"test_registry"}


@WORKERS
def test_a_data_file_read_while_a_module_is_imported_counts_for_all_its_importers(
    project: Project, workers: list[str]
) -> None:
    # Only the first test module collected imports `pkg.settings_file`, and with it reads the file;
    # the others find the module imported.
    project.write("data/settings.json", '{"limit": 3}\n')
    project.write(
        "src/pkg/settings_file.py",
        """
        import json

        with open("data/settings.json") as stream:
            LIMIT = json.load(stream)["limit"]
        """,
    )
    for name in ("a", "b", "c"):
        project.write(
            f"tests/test_limit_{name}.py",
            f"""
            from pkg.settings_file import LIMIT


            def test_limit_{name}():
                assert LIMIT == 3
            """,
        )
    project.settled(*workers)
    project.write("data/settings.json", '{"limit": 4}\n')
    ran, failed = ran_and_failed(project.diff("-rA", *workers))
    assert ran == failed == {"test_limit_a", "test_limit_b", "test_limit_c"}


# Ways to check whether `config/override.ini` exists.
CHECKS = {
    "os.path.exists": 'os.path.exists("config/override.ini")',
    "os.path.isfile": 'os.path.isfile("config/override.ini")',
    "Path.exists": 'Path("config/override.ini").exists()',
    "Path.is_file": 'Path("config/override.ini").is_file()',
}


@WORKERS
@pytest.mark.parametrize("how", sorted(CHECKS))
def test_an_optional_file_created_or_deleted_selects_the_tests_that_checked_for_it(
    project: Project, how: str, workers: list[str]
) -> None:
    project.write("config/base.ini", "base\n")
    project.write(
        "src/pkg/mode.py",
        f"""
        import os
        from pathlib import Path


        def mode():
            return "override" if {CHECKS[how]} else "default"
        """,
    )
    project.write(
        "tests/test_mode.py",
        """
        from pkg.mode import mode


        def test_mode():
            assert mode() == "default"
        """,
    )
    project.settled(*workers)
    project.write("config/override.ini", "")
    assert ran_and_failed(project.diff("-rA", *workers)) == ({"test_mode"}, {"test_mode"})
    project.replace("tests/test_mode.py", '"default"', '"override"')
    project.settled(*workers)
    project.delete("config/override.ini")
    assert ran_and_failed(project.diff("-rA", *workers)) == ({"test_mode"}, {"test_mode"})


@WORKERS
def test_a_file_read_in_a_conftest_hook_selects_the_tests_it_decides_about(
    project: Project, workers: list[str]
) -> None:
    project.write("quarantine.txt", "test_flaky\n")
    project.write(
        "tests/conftest.py",
        """
        from pathlib import Path

        import pytest


        def pytest_collection_modifyitems(config, items):
            quarantined = Path("quarantine.txt").read_text().split()
            for item in items:
                if item.name in quarantined:
                    item.add_marker(pytest.mark.skip(reason="quarantined"))
        """,
    )
    project.write(
        "tests/test_flaky.py",
        """
        def test_flaky():
            assert False
        """,
    )
    project.settled(*workers)
    project.write("quarantine.txt", "")
    _, failed = ran_and_failed(project.diff("-rA", *workers))
    assert "test_flaky" in failed


@WORKERS
@pytest.mark.parametrize(
    "statement",
    ["from local_settings import *", "import local_settings", "from pkg import local_settings"],
)
def test_a_module_whose_import_failed_selects_its_importers_when_it_appears(
    project: Project, workers: list[str], statement: str
) -> None:
    where = "src/pkg" if statement.startswith("from pkg") else "src"
    project.write(
        "src/pkg/defaults.py",
        f"""
        DEBUG = False
        try:
            {statement}
        except ImportError:
            pass
        else:
            DEBUG = True
        """,
    )
    project.write(
        "tests/test_defaults.py",
        """
        from pkg.defaults import DEBUG


        def test_defaults():
            assert DEBUG is False
        """,
    )
    project.settled(*workers)
    project.write(f"{where}/local_settings.py", "DEBUG = True\n")
    ran, failed = ran_and_failed(project.diff("-rA", *workers))
    assert ran == failed == {"test_defaults"}


def test_the_names_of_code_not_from_a_file_are_not_data(project: Project) -> None:
    # Tracebacks and explanations look up "<frozen ...>" and "<string>" in the current
    # directory (linecache stats them): names no file of the project can have.
    project.write(
        "tests/test_pseudo.py",
        """
        import linecache
        import os


        def test_pseudo():
            assert not os.path.exists("<frozen _collections_abc>")
            assert linecache.getline("<string>", 1) == ""
        """,
    )
    result = project.settled()
    assert "recording stopped" not in result.stdout.str()
    assert (
        project.stored("SELECT path FROM file WHERE path LIKE '<frozen%' OR path = '<string>'")
        == []
    )


@WORKERS
def test_a_file_a_library_caches_counts_for_every_caller_of_the_code_that_loaded_it(
    project: Project, workers: list[str]
) -> None:
    # A template engine, a config loader: library code (outside the tracked directories) that
    # reads a file once per process and serves it from memory afterwards. The project function
    # that had it loaded is what later tests run: they depend on the file through it.
    project.replace("pyproject.toml", 'pythonpath = ["src"]', 'pythonpath = ["src", "vendor"]')
    project.replace(
        "pyproject.toml",
        "[tool.pytest.ini_options]",
        '[tool.pytest.ini_options]\ndiff_project_directories = ["src", "tests"]',
    )
    project.write(
        "vendor/loader.py",
        """
        _loaded = {}


        def load(path):
            if path not in _loaded:
                with open(path) as file:
                    _loaded[path] = file.read().strip()
            return _loaded[path]
        """,
    )
    project.write("src/pkg/templates/home.txt", "home\n")
    project.write(
        "src/pkg/pages.py",
        """
        import os

        from loader import load


        def page(name):
            return load(os.path.join(os.path.dirname(__file__), "templates", name))
        """,
    )
    for name in ("first", "second"):
        project.write(
            f"tests/test_{name}.py",
            f"""
            from pkg.pages import page


            def test_{name}():
                assert page("home.txt") == "home"
            """,
        )
    project.settled(*workers)
    project.write("src/pkg/templates/home.txt", "away\n")
    ran, failed = ran_and_failed(project.diff(*workers, "-rA"))
    assert failed == {"test_first", "test_second"}
    assert ran == failed
