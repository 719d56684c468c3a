"""Interrupted, crashed, concurrent and damaged: the database stays consistent, finished tests
are kept, unfinished ones stay selected, and a damaged file is never overwritten silently."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from difftest_support import DB, Project, outcomes, ran, recorded_tests

STOPPERS = {
    "sigterm": "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
    "ctrl_c": "raise KeyboardInterrupt",
    "crash": "import os; os._exit(3)",
    "sigkill": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
}


def write_ordered_tests(project: Project, stopper: str) -> None:
    project.write(
        "tests/test_order.py",
        f"""
        from pkg.calc import add


        def test_1_before():
            assert add(1, 1) == 2


        def test_2_stops():
            {stopper}


        def test_3_after():
            assert add(2, 2) == 4
        """,
    )


@pytest.mark.parametrize("how", sorted(STOPPERS))
def test_interrupted_baseline_keeps_finished_tests(project: Project, how: str) -> None:
    if how == "sigkill" and not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on Windows")
    write_ordered_tests(project, STOPPERS[how])
    # A batch of one: even a killed process has written every test that finished.
    project.baseline("-p", "no:randomly", "--diff-batch-size", "1")
    with closing(sqlite3.connect(project.root / DB)) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    write_ordered_tests(project, "pass")
    rerun = outcomes(project.diff("-p", "no:randomly"))
    # The finished tests (test_calc.py runs first) are not owed; the interrupted one and every
    # test after it are.
    assert rerun == {
        "test_2_stops": "PASSED",
        "test_3_after": "PASSED",
        "test_retries": "PASSED",
        "test_shout": "PASSED",
        "test_timeout": "PASSED",
    }


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on Windows")
def test_a_killed_xdist_controller_keeps_what_it_wrote(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        "tests/test_many.py",
        """
        import os
        import signal

        import pytest

        from pkg.calc import add


        @pytest.mark.parametrize("n", range(8))
        def test_before(n):
            assert add(n, 0) == n


        def test_kill():
            if os.environ.get("DIFFTEST_KILL") and os.environ.get("PYTEST_XDIST_WORKER"):
                os.kill(os.getppid(), signal.SIGKILL)  # a worker's parent: the controller


        @pytest.mark.parametrize("n", range(8))
        def test_after(n):
            assert add(0, n) == n
        """,
    )
    monkeypatch.setenv("DIFFTEST_KILL", "1")
    killed = project.run(
        "--diff-baseline", "-p", "no:randomly", "-n", "2", "--diff-batch-size", "1"
    )
    assert killed.ret == -signal.SIGKILL
    with closing(sqlite3.connect(project.root / DB)) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = recorded_tests(project.root / DB)
    assert stored["tests/test_many.py::test_kill"] == "pending"
    monkeypatch.delenv("DIFFTEST_KILL")
    # Exactly what did not finish reruns: nothing the controller wrote is lost or half-written.
    unfinished = {nodeid.rpartition("::")[2] for nodeid, o in stored.items() if o != "passed"}
    assert ran(project.baseline()) == unfinished
    assert ran(project.diff()) == set()
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    assert ran(project.diff()) == {"test_mul"}


def test_concurrent_baseline_and_diff_both_finish(project: Project) -> None:
    project.settled()
    project.write("tests/test_slow.py", "import time\n\n\ndef test_slow():\n    time.sleep(1.5)\n")
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"]
    runs = [
        subprocess.Popen(
            [*command, flag],
            cwd=project.root,
            stdout=subprocess.PIPE,
            text=True,
            env=project.subprocess_environment(),
        )
        for flag in ("--diff-baseline", "--diff", "--diff")
    ]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output
        assert "locked" not in output
    with closing(sqlite3.connect(project.root / DB)) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert outcomes(project.diff()) == {}


def damage(project: Project, how: str) -> bytes:
    db = project.root / DB
    if how == "truncated":
        db.write_bytes(db.read_bytes()[:200])
    elif how == "not_sqlite":
        db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 50)
    else:
        version = {"newer": 99, "older": 0}[how]
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(f"PRAGMA user_version = {version}")
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    return db.read_bytes()


@pytest.mark.parametrize("how", ["truncated", "not_sqlite", "newer", "older"])
def test_damaged_database_runs_everything_and_is_left_alone(project: Project, how: str) -> None:
    project.settled()
    before = damage(project, how)
    result = project.diff()
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["difftest: cannot use the database, running every test: *"])
    assert "--diff-force" in result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert (project.root / DB).read_bytes() == before


def test_a_newer_schema_is_one_plain_line(project: Project) -> None:
    from pytest_difftest import SCHEMA_VERSION

    project.settled()
    damage(project, "newer")
    message = (
        f"*{DB.name}: database schema version 99, this version of pytest-difftest uses "
        f"{SCHEMA_VERSION} (run with --diff-force to rebuild it)"
    )
    result = project.diff()
    result.stdout.fnmatch_lines(
        [f"difftest: cannot use the database, running every test: {message}"]
    )
    result = project.cli("inspect")
    assert result.ret == 2
    result.stderr.fnmatch_lines([f"pytest-difftest: {message}"])


@pytest.mark.parametrize("how", ["truncated", "newer"])
def test_damaged_database_is_not_overwritten_by_a_baseline(project: Project, how: str) -> None:
    project.settled()
    before = damage(project, how)
    result = project.baseline()
    result.assert_outcomes(passed=5)
    assert (project.root / DB).read_bytes() == before


def test_older_schema_is_rebuilt_by_a_baseline_and_kept_aside(project: Project) -> None:
    project.settled()
    before = damage(project, "older")
    result = project.baseline()
    result.stdout.fnmatch_lines(["difftest: the old database is from an older version*"])
    kept = [p for p in (project.root / DB).parent.iterdir() if ".broken-" in p.name]
    assert [p.read_bytes() for p in kept if not p.name.endswith(("-wal", "-shm"))] == [before]
    assert outcomes(project.diff()) == {}


def test_force_moves_a_broken_database_aside(project: Project) -> None:
    project.settled()
    before = damage(project, "not_sqlite")
    result = project.baseline("--diff-force")
    result.assert_outcomes(passed=5)
    kept = [p for p in (project.root / DB).parent.iterdir() if ".broken-" in p.name]
    assert [p.read_bytes() for p in kept] == [before]
    assert outcomes(project.diff()) == {}


def test_without_cacheprovider_and_with_an_explicit_database(project: Project) -> None:
    project.baseline("-p", "no:cacheprovider").assert_outcomes(passed=5)
    assert (project.root / DB).exists()
    assert outcomes(project.diff("-p", "no:cacheprovider")) == {}
    project.baseline("--diff-db", "state/deps.db").assert_outcomes(passed=5)
    assert (project.root / "state" / "deps.db").exists()
    project.replace("src/pkg/text.py", 'word.upper() + "!"', 'word.upper() + "?"')
    assert outcomes(project.diff("--diff-db", "state/deps.db")) == {"test_shout": "FAILED"}


def test_the_database_file_alone_holds_the_baseline_after_a_run(project: Project) -> None:
    """Copying the file after a session (to a cache, a bucket, another machine) takes the whole
    baseline: the session closes the database, folding its write-ahead log into the file."""
    project.baseline().assert_outcomes(passed=5)
    db = project.root / DB
    assert not db.with_name(db.name + "-wal").exists()
    copy = project.root / "copy.db"
    copy.write_bytes(db.read_bytes())
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT count(*) FROM test").fetchone()[0] == 5
