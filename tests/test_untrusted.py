"""Databases someone else wrote: a shared baseline fetched with --diff-remote, an input of
`pytest-difftest merge`, a file planted as the local database. Each is made from a real baseline
and altered with sqlite3, as anyone with write access to the file could (#19)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from difftest_support import ALL_TESTS, DB, Project, outcomes, ran, recorded_tests

# A run that hangs is stopped after this long and fails its test; a healthy one takes seconds.
LIMIT = 120

# An id list of one run of 2**62 ids: ten bytes that once asked for 4 GiB.
ENDLESS_RUN = "x'03ffffffffffffffff3f'"

RECURSIVE_META = (
    "DROP TABLE meta; "
    "CREATE VIEW meta (key, value) AS WITH RECURSIVE n(i) AS "
    "(SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT 'k' || i, 'v' FROM n"
)

# Turns every recorded failure into a pass.
HIDE_FAILURES = (
    "CREATE TRIGGER hide_failures AFTER UPDATE ON test BEGIN "
    "UPDATE test SET outcome = 0 WHERE nodeid = new.nodeid; END"
)


def run(project: Project, *args: str) -> pytest.RunResult:
    """pytest -v in a subprocess that may not take longer than LIMIT."""
    return project.run(*args, timeout=LIMIT)


def merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_difftest", "merge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )


def crafted(project: Project, tmp_path: Path, script: str) -> Path:
    """A copy of the project's baseline, altered by an SQL script."""
    if not (project.root / DB).exists():
        project.settled()
    path = tmp_path / "crafted.db"
    shutil.copy(project.root / DB, path)
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(script)
    return path


def clone(project: Project, tmp_path: Path) -> Project:
    """The project's files elsewhere, without its database."""
    root = tmp_path / "clone"
    shutil.copytree(project.root, root, ignore=shutil.ignore_patterns(".pytest_cache", "*.db"))
    return Project(project.pytester, root)


def one_error_line(result: pytest.RunResult) -> str:
    """The run stopped before any test with one line on stderr; returns that line."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert ran(result) == set()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def refused_as_remote(project: Project, tmp_path: Path, db: Path) -> str:
    """--diff-remote file://DB stops with one line, this run and the next (which reuses the
    downloaded copy); returns the line."""
    fresh = clone(project, tmp_path)
    url = db.as_uri()
    line = one_error_line(run(fresh, "--diff", "--diff-remote", url))
    assert url in line
    assert one_error_line(run(fresh, "--diff", "--diff-remote", url)) == line
    return line


def refused_by_merge(tmp_path: Path, db: Path) -> str:
    """`pytest-difftest merge` refuses the input with one line naming it; returns the line."""
    output = tmp_path / "out.db"
    result = merge(output, db)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pytest-difftest: {db}: ")
    assert not output.exists()
    return lines[0]


def refused_as_local(project: Project, db: Path, *, at_open: bool = True) -> str:
    """Planted as the local database, `db` gets one line and every test runs; --diff-force then
    rebuilds it. What is refused when the database is opened (`at_open`) leaves the file as it
    is, byte for byte, and --diff-force moves it aside first, as it does a damaged file. Returns
    the line."""
    local = project.root / DB
    shutil.copy(db, local)
    before = local.read_bytes()
    result = run(project, "--diff")
    assert ran(result) == ALL_TESTS
    lines = [line for line in result.outlines if "cannot use the database" in line]
    assert len(lines) == 1, result.stdout.str()
    assert lines[0].startswith("difftest: cannot use the database, running every test: ")
    assert str(local) in lines[0]
    if at_open:
        assert local.read_bytes() == before
    forced = run(project, "--diff-baseline", "--diff-force")
    assert ran(forced) == ALL_TESTS
    if at_open:
        forced.stdout.fnmatch_lines(["difftest: the old database could not be opened; rebuilt*"])
        (kept,) = local.parent.glob(f"{DB.name}.broken-*")
        assert kept.read_bytes() == before
    assert ran(run(project, "--diff")) == set()
    return lines[0]


# -- paths outside the project ---------------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the project that no database may make pytest-difftest read."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text("not yours\n" * 7)
    return path


def outside_paths(project: Project, secret: Path) -> list[str]:
    up = os.path.relpath(secret, project.root).replace(os.sep, "/")
    assert up.startswith("../")
    return [
        secret.as_posix(),
        up,
        f"src/{up}",
        f"<glob>/{secret.parent.as_posix()}/*",
        f"<glob>/{os.path.dirname(up)}/*",
        "<somewhere>/else",
    ]


@pytest.mark.parametrize("which", range(6))
def test_a_path_outside_the_project_is_refused_locally(
    project: Project, secret: Path, tmp_path: Path, which: int
) -> None:
    project.settled()
    path = outside_paths(project, secret)[which]
    db = crafted(project, tmp_path, f"INSERT INTO file (path) VALUES ('{path}')")
    assert path in refused_as_local(project, db)


@pytest.mark.parametrize("which", range(6))
def test_a_path_outside_the_project_is_refused_from_the_remote(
    project: Project, secret: Path, tmp_path: Path, which: int
) -> None:
    project.settled()
    path = outside_paths(project, secret)[which]
    db = crafted(project, tmp_path, f"INSERT INTO file (path) VALUES ('{path}')")
    assert path in refused_as_remote(project, tmp_path, db)


def test_merge_refuses_paths_that_cannot_be_inside_any_project(
    project: Project, secret: Path, tmp_path: Path
) -> None:
    project.settled()
    up = os.path.relpath(secret, project.root).replace(os.sep, "/")
    for path in [secret.as_posix(), f"src/{up}", "src/./pkg/calc.py", "<glob>//etc/*", "<x>"]:
        db = crafted(project, tmp_path, f"INSERT INTO file (path) VALUES ('{path}')")
        assert path in refused_by_merge(tmp_path, db)
    # A leading '..' may name a tracked directory outside the root (--diff-project-directory
    # ../lib): merge cannot know, the run that uses the result checks it.
    db = crafted(project, tmp_path, f"INSERT INTO file (path) VALUES ('{up}')")
    assert merge(tmp_path / "out.db", db).returncode == 0
    shutil.copy(tmp_path / "out.db", project.root / DB)
    result = run(project, "--diff")
    result.stdout.fnmatch_lines([f"difftest: cannot use the database*{up}*"])


def test_a_tracked_directory_outside_the_root_is_not_outside_the_project(
    project: Project, tmp_path: Path
) -> None:
    # A sibling of the project, unique to this test.
    lib = project.root.parent / f"{project.root.name}-lib"
    (lib / "shared").mkdir(parents=True)
    (lib / "shared" / "__init__.py").write_text("")
    (lib / "shared" / "util.py").write_text("def double(x):\n    return 2 * x\n")
    project.write(
        "tests/test_shared.py",
        "from shared.util import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    )
    project.write(
        "pyproject.toml",
        project.read("pyproject.toml").replace(
            'pythonpath = ["src"]', f'pythonpath = ["src", "../{lib.name}"]'
        ),
    )
    tracked = ("--diff-project-directory", ".", "--diff-project-directory", str(lib))
    assert run(project, "--diff-baseline", *tracked).ret == 0
    assert project.stored("SELECT path FROM file WHERE path = ?", f"../{lib.name}/shared/util.py")
    assert ran(run(project, "--diff", *tracked)) == set()
    (lib / "shared" / "util.py").write_text("def double(x):\n    return x + x\n")
    assert ran(run(project, "--diff", *tracked)) == {"test_double"}
    # The same database, where that directory is not tracked, is refused.
    result = run(project, "--diff")
    result.stdout.fnmatch_lines([f"difftest: cannot use the database*../{lib.name}/shared*"])


# -- id lists --------------------------------------------------------------------------------------


def endless_deps(project: Project, tmp_path: Path) -> Path:
    return crafted(
        project,
        tmp_path,
        f"UPDATE test SET deps = {ENDLESS_RUN} WHERE nodeid = 'tests/test_calc.py::test_add'",
    )


def test_an_endless_id_list_is_refused_from_the_remote(project: Project, tmp_path: Path) -> None:
    line = refused_as_remote(project, tmp_path, endless_deps(project, tmp_path))
    assert "tests/test_calc.py::test_add" in line


def test_an_endless_id_list_is_refused_by_merge(project: Project, tmp_path: Path) -> None:
    line = refused_by_merge(tmp_path, endless_deps(project, tmp_path))
    assert "tests/test_calc.py::test_add" in line


def test_an_endless_id_list_is_refused_locally(project: Project, tmp_path: Path) -> None:
    db = endless_deps(project, tmp_path)
    # Only a change makes --diff read the id lists.
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    line = refused_as_local(project, db, at_open=False)
    assert "tests/test_calc.py::test_add" in line


# -- schema objects we did not create --------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "named"),
    [
        (RECURSIVE_META, 'view "meta"'),
        (HIDE_FAILURES, 'trigger "hide_failures"'),
        ("CREATE INDEX test_outcome ON test (outcome)", 'index "test_outcome"'),
        ("ALTER TABLE file ADD COLUMN note TEXT", 'table "file"'),
    ],
)
def test_a_schema_we_did_not_create_is_refused_everywhere(
    project: Project, tmp_path: Path, script: str, named: str
) -> None:
    db = crafted(project, tmp_path, script)
    assert named in refused_by_merge(tmp_path, db)
    assert named in refused_as_remote(project, tmp_path, db)
    assert named in refused_as_local(project, db)


def test_a_planted_trigger_cannot_hide_a_failure(project: Project) -> None:
    project.settled()
    project.stored_update(HIDE_FAILURES)
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    result = run(project, "--diff-baseline")
    assert outcomes(result)["test_mul"] == "FAILED"
    result.stdout.fnmatch_lines(["difftest: cannot use the database*hide_failures*"])
    # Nothing was recorded: the failure is not forgotten.
    assert outcomes(run(project, "--diff"))["test_mul"] == "FAILED"
    assert outcomes(run(project, "--diff-baseline", "--diff-force"))["test_mul"] == "FAILED"
    assert outcomes(run(project, "--diff")) == {"test_mul": "FAILED"}


# -- merging next to a live run --------------------------------------------------------------------

MERGE_MEANWHILE = """
import subprocess
import sys


def test_merge_meanwhile():
    merged = subprocess.run(
        [sys.executable, "-m", "pytest_difftest", "merge", {db!r}, {db!r}, {other!r}],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merged.returncode == 0, merged.stderr
"""


def test_merge_into_the_database_a_baseline_is_writing_keeps_both(
    project: Project, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    assert run(project, "--diff-baseline", "--diff-db", str(other), "tests/test_text.py").ret == 0
    local = project.root / DB
    project.write("tests/test_zz_merge.py", MERGE_MEANWHILE.format(db=str(local), other=str(other)))
    project.write("tests/test_zzz_after.py", "def test_after():\n    pass\n")
    # One test per transaction: the tests before the merge are in the file when it runs.
    result = run(project, "--diff-baseline", "--diff-batch-size", "1")
    assert result.ret == 0, result.stdout.str()
    names = {nodeid.rpartition("::")[2] for nodeid in recorded_tests(local)}
    assert names == ALL_TESTS | {"test_merge_meanwhile", "test_after"}
    assert ran(run(project, "--diff")) == set()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    assert ran(run(project, "--diff")) == {"test_mul"}
    result = merge(tmp_path / "check.db", local)
    assert result.returncode == 0, result.stderr


def test_stale_temporary_files_of_a_killed_merge_are_removed(
    project: Project, tmp_path: Path
) -> None:
    project.settled()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead, alive = finished.pid, os.getpid()

    def plant(database: Path) -> Callable[[], list[str]]:
        names = [
            f".{database.name}.merging-{pid}{suffix}"
            for pid in (dead, alive)
            for suffix in ("", "-journal")
        ]
        for name in names:
            (database.parent / name).write_bytes(b"half a merge")
        return lambda: sorted(p.name for p in database.parent.glob(f".{database.name}.merging-*"))

    output = tmp_path / "out.db"
    left = plant(output)
    assert merge(output, project.root / DB).returncode == 0
    assert left() == [f".out.db.merging-{alive}", f".out.db.merging-{alive}-journal"]

    left = plant(project.root / DB)
    assert ran(run(project, "--diff")) == set()
    assert left() == [f".{DB.name}.merging-{alive}", f".{DB.name}.merging-{alive}-journal"]
