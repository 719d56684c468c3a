"""A full disk: every test still runs, or the run stops, with one line that says what
happened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from difftest_support import S3, Project, ran


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
