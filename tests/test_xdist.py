"""pytest-xdist: the controller selects and writes, workers record and send; the results must
be exactly those of the same run without xdist."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing

import pytest

from difftest_support import DB, Project, decode_ids, summary

pytest.importorskip("xdist")

EXTRA_FILES = {
    "src/pkg/cache.py": """
        import functools


        @functools.lru_cache
        def table():
            return [n * 2 for n in range(4)]


        def lookup(i):
            return table()[i]
    """,
    "tests/conftest.py": """
        import pytest

        from pkg.calc import add


        @pytest.fixture(scope="session")
        def base():
            return add(1, 1)
    """,
    "tests/test_cache.py": """
        from pkg.cache import lookup


        def test_lookup_one(base):
            assert lookup(1) == base


        def test_lookup_two():
            assert lookup(2) == 4
    """,
}


def dependencies(project: Project) -> dict[str, set[tuple[str, str, int]]]:
    """Every test's full set of (file, block, checksum), direct and shared."""
    with closing(sqlite3.connect(project.root / DB)) as conn, conn:
        blocks = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT b.id, f.path, b.name, b.checksum "
                "FROM block b JOIN file f ON f.id = b.file_id"
            )
        }
        sets = dict(conn.execute("SELECT id, blocks FROM depset").fetchall())
        tests = conn.execute("SELECT nodeid, deps, depset_id FROM test").fetchall()
    found: dict[str, set[tuple[str, str, int]]] = {}
    for nodeid, deps, depset_id in tests:
        ids = decode_ids(deps) + (decode_ids(sets[depset_id]) if depset_id else [])
        found[nodeid] = {blocks[block_id] for block_id in ids}
    return found


@pytest.fixture
def xproject(project: Project) -> Project:
    project.write_files(EXTRA_FILES)
    return project


def test_baseline_with_workers_records_what_a_single_process_records(xproject: Project) -> None:
    single = xproject.baseline("-p", "no:randomly")
    assert single.ret == 0
    expected = dependencies(xproject)
    shutil.rmtree(xproject.root / DB.parent)
    parallel = xproject.baseline("-n", "2", "-p", "no:randomly")
    assert parallel.ret == 0
    parallel.assert_outcomes(passed=7)
    assert dependencies(xproject) == expected
    assert len(expected) == 7


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("src/pkg/calc.py", "return a + b", "return a + b + 0"),
        ("src/pkg/cache.py", "n * 2", "n * 3"),
        ("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31"),
        ("tests/conftest.py", "add(1, 1)", "add(1, 0)"),
    ],
)
def test_workers_select_what_a_single_process_selects(
    xproject: Project, path: str, old: str, new: str
) -> None:
    xproject.settled("-n", "2")
    xproject.replace(path, old, new)
    single = summary(xproject.diff("-rA"))
    parallel = summary(xproject.diff("-rA", "-n", "2"))
    assert parallel == single
    assert single, "the change must select something"
    assert summary(xproject.baseline("-rA", "-n", "2")) == single
    # Undo the change: the workers' records must leave nothing owed once everything passes.
    xproject.replace(path, new, old)
    assert xproject.baseline("-n", "2").ret == 0
    nothing = xproject.diff("-n", "2")
    assert nothing.ret == 0
    nothing.stdout.fnmatch_lines(["difftest: 0 of 7 tests selected*"])


def test_a_crashed_worker_loses_only_its_own_test(
    xproject: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    xproject.write(
        "tests/test_crash.py",
        """
        import os


        def test_kills_its_worker():
            if os.environ.get("DIFFTEST_CRASH"):
                os._exit(3)
        """,
    )
    monkeypatch.setenv("DIFFTEST_CRASH", "1")
    result = xproject.baseline("-rA", "-n", "2", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["*crashed while running*test_kills_its_worker*"])
    with closing(sqlite3.connect(xproject.root / DB)) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Nothing changed, but the crashed test never finished: it alone is owed.
    monkeypatch.delenv("DIFFTEST_CRASH")
    assert summary(xproject.diff("-rA", "-n", "2")) == {
        "tests/test_crash.py::test_kills_its_worker": "PASSED"
    }


def test_a_workers_first_test_importing_a_module_keeps_collection_time_code(
    project: Project,
) -> None:
    # What ran while test files were collected (`build`, called at import through a name no
    # source mentions) reaches the controller with a worker's first test; that test's own first
    # import must not replace it.
    project.write(
        "src/pkg/table.py",
        'def build():\n    return [1, 2]\n\n\nTABLE = globals()["bu" + "ild"]()\n',
    )
    project.write("src/pkg/lazy.py", "VALUE = 1\n")
    project.write(
        "tests/test_0_lazy.py",
        """
        from pkg.table import TABLE


        def test_lazy():
            import pkg.lazy

            assert TABLE == [1, 2] and pkg.lazy.VALUE == 1
        """,
    )
    # One worker, whose first test is that one.
    project.settled("-n", "1", "-p", "no:randomly")
    project.replace("src/pkg/table.py", "return [1, 2]", "return [2, 1]")
    assert summary(project.diff("-rA", "-n", "1")) == {"tests/test_0_lazy.py::test_lazy": "FAILED"}
