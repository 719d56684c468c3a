"""A full disk and read-only files: every test still runs, one line says what happened, and
the database stays intact where it is (never set aside, never half-written)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from difftest_support import ALL_TESTS, DB, S3, Project, fill_up, outcomes, ran

FILLER_TEST = """
import os


def test_fill():
    # Fills the disk the database is on, as another program would while the baseline runs.
    fd = os.open(os.environ["DIFFTEST_FILLER"], os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
"""


def intact(db: Path) -> bool:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def notes(result: pytest.RunResult) -> list[str]:
    """The summary lines of ours that are not the selection's count."""
    return [
        line
        for line in result.outlines
        if line.startswith("difftest: ")
        and not line.startswith(("difftest: --diff", "difftest: why"))
        and " tests selected " not in line
    ]


def test_a_disk_full_mid_baseline_loses_only_what_could_not_be_written(
    project: Project, small_disk: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = small_disk("2m")
    db = disk / "deps.db"
    # One argument: pytest takes a separate existing path for a place to look for its rootdir.
    args = ("-p", "no:randomly", "--diff-batch-size", "1", f"--diff-db={db}")
    project.settled(*args)
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    project.replace("src/pkg/text.py", '"!"', '"" + "!"')
    project.write("tests/test_fill.py", FILLER_TEST)
    monkeypatch.setenv("DIFFTEST_FILLER", str(disk / "filler"))
    # test_calc.py runs first, test_fill.py fills the disk, test_text.py runs on a full disk.
    result = project.baseline(*args)
    assert outcomes(result) == {"test_add": "PASSED", "test_fill": "PASSED", "test_shout": "PASSED"}
    assert result.ret == 0
    [line] = notes(result)
    assert "database or disk is full" in line, line
    assert "--diff-force" not in line
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    (disk / "filler").unlink()
    assert intact(db)
    # What was written before the disk filled up is kept; what was not stays selected.
    assert ran(project.diff(*args)) == {"test_fill", "test_shout"}


def test_a_full_disk_at_start_leaves_the_database_alone_even_with_force(
    project: Project, small_disk: Callable[[str], Path]
) -> None:
    disk = small_disk("1m")
    db = disk / "deps.db"
    project.settled(f"--diff-db={db}")
    before = db.read_bytes()
    filler = fill_up(disk)
    for args in (["--diff"], ["--diff-baseline", "--diff-force"]):
        result = project.run(*args, f"--diff-db={db}")
        assert ran(result) == ALL_TESTS
        [line] = notes(result)
        assert line.startswith("difftest: cannot use the database, running every test: "), line
        # Forcing a rebuild cannot help a full disk: the advice would send the user in circles.
        assert "--diff-force" not in line
    assert not [p for p in disk.iterdir() if ".broken-" in p.name or ".probe-" in p.name]
    assert db.read_bytes() == before
    filler.unlink()
    assert ran(project.diff(f"--diff-db={db}")) == set()


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_database(
    project: Project, read_only: Callable[[Path], None], what: str
) -> None:
    project.settled()
    db = project.root / DB
    before = db.read_bytes()
    read_only(db if what == "file" else db.parent)
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    result = project.diff()
    if what == "file":
        # Selection only reads.
        assert ran(result) == {"test_add"}
    else:
        # SQLite cannot open a WAL database in a directory where it cannot make its index.
        assert ran(result) == ALL_TESTS
        [line] = notes(result)
        assert line.startswith("difftest: cannot use the database, running every test: "), line
        assert "--diff-force" not in line
    result = project.baseline()
    assert ran(result) == ALL_TESTS
    [line] = notes(result)
    assert "--diff-force" not in line
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert db.read_bytes() == before


@pytest.mark.parametrize("scheme", ["file", "s3"])
def test_a_full_disk_while_downloading_stops_the_run_naming_the_url(
    project: Project,
    small_disk: Callable[[str], Path],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    scheme: str,
) -> None:
    disk = small_disk("1m")
    baseline = b"\0" * 3_000_000  # more than the disk holds: it never gets to be read
    if scheme == "s3":
        s3: S3 = request.getfixturevalue("s3")
        s3.client.put_object(Bucket=s3.bucket, Key="main.db", Body=baseline)
        url = s3.url("main.db")
    else:
        (tmp_path / "main.db").write_bytes(baseline)
        url = (tmp_path / "main.db").as_uri()
    result = project.run("--diff", "--diff-remote", url, f"--diff-db={disk / 'deps.db'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ran(result) == set()
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    assert url in lines[0]
    assert "No space left on device" in lines[0]
    assert str(disk / "deps.db.remote") in lines[0]
    assert not [p for p in disk.iterdir() if ".part-" in p.name]
