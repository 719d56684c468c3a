"""``pytest-difftest merge``: parallel jobs' partial baselines into one, from files, folders and S3
prefixes or keys, to a file or an S3 key."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from difftest_support import ALL_TESTS, DB, S3, Project, dump, ran, recorded_tests

# Two CI jobs, each running its share of the suite.
SHARDS = {
    "1": ["tests/test_calc.py", "tests/test_text.py"],
    "2": ["tests/test_timeout.py", "tests/test_retries.py"],
}


def merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_difftest", "merge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def merged(*args: str | Path) -> str:
    result = merge(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(*args: str | Path) -> str:
    """The merge failed with one line on stderr; returns it."""
    result = merge(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pytest-difftest: ")
    return lines[0]


def shard_baselines(project: Project, into: Path) -> dict[str, Path]:
    """Each shard's baseline, as its job would leave it: ``into/<shard>/pytest_difftest.db``
    (equal names in different folders)."""
    found = {}
    for shard, paths in SHARDS.items():
        db = into / shard / DB.name
        db.parent.mkdir(parents=True)
        assert project.baseline("--diff-db", str(db), *paths).ret == 0
        found[shard] = db
    return found


def test_merge_of_folders_with_equal_names_gives_a_baseline_that_selects(
    project: Project, tmp_path: Path
) -> None:
    shards = shard_baselines(project, tmp_path / "artifacts")
    assert len(recorded_tests(shards["1"])) == 3
    output = project.root / DB
    out = merged(output, tmp_path / "artifacts")
    assert "merged 2 databases (5 tests)" in out
    inside = tmp_path / "artifacts" / "merged.db"
    merged(inside, tmp_path / "artifacts")
    assert "merged 2 databases (5 tests)" in merged(inside, tmp_path / "artifacts")
    assert len(recorded_tests(output)) == 5
    assert ran(project.diff()) == set()
    project.replace("src/pkg/config.py", "RETRIES = 3", "RETRIES = 4")
    assert ran(project.diff()) == {"test_retries"}


def test_merge_does_not_depend_on_the_order_of_the_inputs(project: Project, tmp_path: Path) -> None:
    shards = shard_baselines(project, tmp_path)
    # Both jobs ran test_add, on different code: the later record must win either way.
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    # Records keep whole seconds, and a tie is decided by contents: begin the later one in the
    # next second (a baseline of two files can finish within the second the shards did).
    time.sleep(1.01 - time.time() % 1)
    later = tmp_path / "later.db"
    assert project.baseline("--diff-db", str(later), "tests/test_calc.py").ret == 0
    inputs = [shards["1"], shards["2"], later]
    merged(tmp_path / "forward.db", *inputs)
    merged(tmp_path / "backward.db", *reversed(inputs))
    merged(tmp_path / "shuffled.db", inputs[1], inputs[2], inputs[0])
    forward = dump(tmp_path / "forward.db")
    assert forward == dump(tmp_path / "backward.db") == dump(tmp_path / "shuffled.db")
    (project.root / DB).parent.mkdir(parents=True)
    shutil.copy(tmp_path / "backward.db", project.root / DB)
    # The merged baseline holds the later test_add (on `b + a`): nothing to run.
    assert ran(project.diff()) == set()


def test_merge_from_an_s3_prefix_to_an_s3_key(
    project: Project, s3: S3, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    shards = shard_baselines(project, tmp_path)
    for shard, db in shards.items():
        s3.put(f"run-7/job-{shard}/{DB.name}", db)  # equal names under different prefixes
    s3.put("elsewhere/other.db", shards["1"])
    s3.put("run-7/notes.txt", shards["1"])  # not a .db: ignored
    out = merged(s3.url("main/merged.db"), s3.url("run-7/"))
    assert "merged 2 databases (5 tests)" in out
    # An output under the prefix is not one of its inputs.
    again = merged(s3.url("run-7/merged.db"), s3.url("run-7/"))
    assert "merged 2 databases" in again
    again = merged(s3.url("run-7/merged.db"), s3.url("run-7/"))
    assert "merged 2 databases" in again
    assert "main/merged.db" in s3.objects()
    whole = s3.get("main/merged.db", tmp_path / "whole.db")
    assert len(recorded_tests(whole)) == 5

    # A fresh checkout starting from the merged remote baseline.
    clone = tmp_path / "clone"
    shutil.copytree(project.root, clone, ignore=shutil.ignore_patterns(".pytest_cache", "*.db"))
    fresh = Project(pytester, clone)
    result = fresh.diff("--diff-remote", s3.url("main/merged.db"))
    result.stdout.fnmatch_lines(["difftest: 0 of 5 tests selected*"])


def test_merge_of_single_keys_pulls_only_those(project: Project, s3: S3, tmp_path: Path) -> None:
    shards = shard_baselines(project, tmp_path)
    s3.put("a/pytest_difftest.db", shards["1"])
    s3.put("b/pytest_difftest.db", shards["2"])
    output = tmp_path / "out" / "one.db"
    merged(output, s3.url("a/pytest_difftest.db"))
    assert set(recorded_tests(output)) == {
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_mul",
        "tests/test_text.py::test_shout",
    }
    # A whole bucket, and file:// URLs, work too.
    merged(output.as_uri(), f"s3://{s3.bucket}")
    assert {nodeid.rpartition("::")[2] for nodeid in recorded_tests(output)} == ALL_TESTS


def test_merge_refuses_bad_inputs_with_one_line(project: Project, s3: S3, tmp_path: Path) -> None:
    project.settled()
    good = project.root / DB
    old = tmp_path / "old.db"
    shutil.copy(good, old)
    with closing(sqlite3.connect(old)) as conn, conn:
        conn.execute("PRAGMA user_version = 1")
    text = tmp_path / "notes.db"
    text.write_text("not a database " * 100)
    output = tmp_path / "out.db"

    line = refused(output, good, old)
    assert str(old) in line
    assert "schema version 1" in line
    assert "not a pytest-difftest database" in refused(output, good, text)
    assert "no such file or directory" in refused(output, tmp_path / "missing.db")
    (tmp_path / "empty").mkdir()
    assert "no .db files" in refused(output, tmp_path / "empty")
    assert "no .db objects under this prefix" in refused(output, s3.url("nothing/"))
    assert "no such key" in refused(output, s3.url("nothing.db"))
    assert "no such bucket" in refused(output, "s3://no-such-bucket-difftest/x.db")
    assert not output.exists()
