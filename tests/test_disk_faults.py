"""A full disk and read-only files: every test still runs, one line says what happened, and
the database stays intact where it is (never set aside, never half-written)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from difftest_support import ALL_TESTS, S3, Project, fill_up, ran


def notes(result: pytest.RunResult) -> list[str]:
    """The summary lines of ours that are not the selection's count."""
    return [
        line
        for line in result.outlines
        if line.startswith("difftest: ")
        and not line.startswith(("difftest: --diff", "difftest: why"))
        and " tests selected " not in line
    ]


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
