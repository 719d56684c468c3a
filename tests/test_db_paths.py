"""Database paths the user gives (--diff-db, ini diff_db, the command's DB argument): a
directory is never taken for a database, only a file that is ours is ever moved aside, and
folders are created only for the database itself."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from difftest_support import ALL_TESTS, DB, Project, ran

MODES = {
    "diff": ("--diff",),
    "baseline": ("--diff-baseline",),
    "force": ("--diff-baseline", "--diff-force"),
}


def listing(root: Path) -> list[str]:
    """The project's files, without pytester's own (its output files and scratch folders)."""
    found = (path.relative_to(root).as_posix() for path in root.rglob("*"))
    ours = (name for name in found if name not in ("stdout", "stderr"))
    return sorted(name for name in ours if not name.startswith("runpytest-"))


def assert_one_line_usage_error(result: pytest.RunResult, message: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert ran(result) == set()


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("where", [".", "dbdir"])
def test_a_directory_is_not_a_database(project: Project, where: str, mode: str) -> None:
    (project.root / "dbdir").mkdir()
    (project.root / "dbdir" / "keep.txt").write_text("mine")
    before = listing(project.root)
    result = project.run(*MODES[mode], "--diff-db", where)
    assert_one_line_usage_error(
        result, f"--diff-db {where}: * is a directory, not a database file*"
    )
    assert listing(project.root) == before
    assert [p for p in project.root.parent.iterdir() if ".broken-" in p.name] == []


def test_a_directory_in_ini_diff_db_is_not_a_database(project: Project) -> None:
    project.write("pyproject.toml", project.read("pyproject.toml") + 'diff_db = "src"\n')
    result = project.run("--diff-baseline", "--diff-force")
    assert_one_line_usage_error(result, "ini diff_db: * is a directory, not a database file*")
    assert (project.root / "src" / "pkg" / "calc.py").is_file()


def foreign_sqlite(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO orders VALUES (1, 9.5)")
        conn.execute("PRAGMA user_version = 7")


@pytest.mark.parametrize("kind", ["text", "sqlite"])
def test_force_never_moves_a_file_that_is_not_ours(project: Project, kind: str) -> None:
    name = "notes.txt" if kind == "text" else "app.sqlite"
    target = project.root / name
    if kind == "text":
        target.write_text("my notes\n" * 50)
    else:
        foreign_sqlite(target)
    before = target.read_bytes()
    result = project.run("--diff-baseline", "--diff-force", "--diff-db", name)
    assert_one_line_usage_error(
        result, "--diff-force: * is not a pytest-difftest database*left as it is*"
    )
    assert target.read_bytes() == before
    assert not [p for p in project.root.iterdir() if ".broken-" in p.name]
    # Without --diff-force: one line, every test runs, the file is left alone.
    result = project.run("--diff-baseline", "--diff-db", name)
    result.stdout.fnmatch_lines(["difftest: cannot use the database, running every test: *"])
    assert ran(result) == ALL_TESTS
    assert target.read_bytes() == before
    assert not [p for p in project.root.iterdir() if ".broken-" in p.name]


def test_a_foreign_sqlite_database_is_not_taken_for_an_older_one(project: Project) -> None:
    # Tables and user_version 0: what an older version of ours would look like to a schema
    # check, and what a baseline rebuilds by itself. Not ours: left where it is.
    target = project.root / "app.sqlite"
    foreign_sqlite(target)
    with closing(sqlite3.connect(target)) as conn, conn:
        conn.execute("PRAGMA user_version = 0")
    before = target.read_bytes()
    result = project.run("--diff-baseline", "--diff-db", "app.sqlite")
    assert ran(result) == ALL_TESTS
    assert target.read_bytes() == before
    assert not [p for p in project.root.iterdir() if ".broken-" in p.name]


def test_force_moves_our_own_database_under_any_name(project: Project) -> None:
    project.settled("--diff-db", "state/deps.db")
    db = project.root / "state" / "deps.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("PRAGMA user_version = 99")
    before = db.read_bytes()
    result = project.baseline("--diff-force", "--diff-db", "state/deps.db")
    assert ran(result) == ALL_TESTS
    kept = [p for p in db.parent.iterdir() if p.name.startswith("deps.db.broken-")]
    assert [p.read_bytes() for p in kept if not p.name.endswith(("-wal", "-shm"))] == [before]


def test_missing_folders_are_created_under_rootdir(project: Project) -> None:
    project.settled("--diff-db", "state/deep/er/deps.db")
    assert (project.root / "state" / "deep" / "er" / "deps.db").is_file()


def test_outside_rootdir_only_the_database_folder_is_created(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = project.run("--diff-baseline", f"--diff-db={elsewhere}/new/deeper/x.db")
    assert_one_line_usage_error(
        result, f"--diff-db *: {elsewhere / 'new'} does not exist: create it first*"
    )
    assert list(elsewhere.iterdir()) == []
    # One level, the database's own folder, is made.
    project.settled(f"--diff-db={elsewhere}/new/x.db")
    assert (elsewhere / "new" / "x.db").is_file()


def test_dot_dot_out_of_rootdir_counts_as_outside(project: Project) -> None:
    outside = project.root.parent / "not-here"
    result = project.run("--diff-baseline", "--diff-db", "../not-here/deeper/x.db")
    assert_one_line_usage_error(result, f"--diff-db *: {outside} does not exist: create it first*")
    assert not outside.exists()


def test_a_file_on_the_way_is_not_a_folder(project: Project) -> None:
    result = project.run("--diff-baseline", "--diff-db", "src/pkg/calc.py/x.db")
    assert_one_line_usage_error(result, "--diff-db *: *calc.py is not a directory*")


@pytest.mark.parametrize("command", ["inspect", "status", "report"])
def test_the_command_refuses_a_directory_as_its_database(project: Project, command: str) -> None:
    project.settled()
    result = project.cli(command, ".")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["pytest-difftest: DB .: * is a directory, not a database file*"])
    assert len(result.stderr.lines) == 1
    project.write("pyproject.toml", project.read("pyproject.toml") + 'diff_db = "tests"\n')
    result = project.cli(command)
    assert result.ret == 2
    result.stderr.fnmatch_lines(["pytest-difftest: ini diff_db: *tests is a directory, not a*"])


def test_merge_output_follows_the_same_rules(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.settled()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = project.cli("merge", str(elsewhere), str(DB))
    assert result.ret == 2
    result.stderr.fnmatch_lines(["pytest-difftest: OUTPUT *: * is a directory, not a database*"])
    result = project.cli("merge", str(elsewhere / "a" / "b" / "out.db"), str(DB))
    assert result.ret == 2
    result.stderr.fnmatch_lines([f"pytest-difftest: OUTPUT *: {elsewhere / 'a'} does not exist*"])
    assert list(elsewhere.iterdir()) == []
    assert project.cli("merge", str(elsewhere / "a" / "out.db"), str(DB)).ret == 0


def test_merge_never_replaces_a_file_that_is_not_ours(project: Project) -> None:
    project.settled()
    calc = project.root / "src" / "pkg" / "calc.py"
    before = calc.read_bytes()
    result = project.cli("merge", "src/pkg/calc.py", str(DB))
    assert result.ret == 2
    result.stderr.fnmatch_lines(["pytest-difftest: *calc.py: cannot merge: the output is not a*"])
    assert calc.read_bytes() == before
