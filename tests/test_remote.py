"""Shared baselines: --diff-remote and --diff-upload against a real S3-compatible server (moto's
server mode on loopback) and the file:// backend; fresh clones starting from the remote."""

from __future__ import annotations

import io
import os
import shutil
import socket
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from difftest_support import DB, S3, Project, free_port, outcomes, ran, recorded_tests

REMOTE_COPY = DB.with_name(DB.name + ".remote")


@pytest.fixture
def clones(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory) -> Clones:
    return Clones(pytester, tmp_path_factory)


class Clones:
    """Fresh checkouts of a project elsewhere: its files, without its .pytest_cache."""

    def __init__(self, pytester: pytest.Pytester, factory: pytest.TempPathFactory) -> None:
        self.pytester = pytester
        self.factory = factory

    def of(self, project: Project) -> Project:
        root = self.factory.mktemp("clone") / "checkout"
        shutil.copytree(
            project.root,
            root,
            ignore=shutil.ignore_patterns(".pytest_cache", "__pycache__", "*.db"),
        )
        return Project(self.pytester, root)


def one_error_line(result: pytest.RunResult) -> str:
    """The run stopped before any test with one line on stderr; returns that line."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert ran(result) == set()
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# -- S3 --------------------------------------------------------------------------------------------


def test_upload_then_a_fresh_clone_starts_from_the_remote_baseline(
    project: Project, s3: S3, clones: Clones, tmp_path: Path
) -> None:
    url = s3.url("main/difftest.db")
    # The key does not exist yet: a first upload is not an error.
    result = project.baseline("--diff-remote", url, "--diff-upload")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [f"difftest: no remote baseline at {url} yet: this run creates it", "*5 passed*"]
    )
    result.stdout.fnmatch_lines([f"difftest: baseline uploaded to {url}"])
    assert s3.objects() == ["main/difftest.db"]
    uploaded = s3.get("main/difftest.db", tmp_path / "uploaded.db")
    assert set(recorded_tests(uploaded).values()) == {"passed"}
    assert len(recorded_tests(uploaded)) == 5
    with closing(sqlite3.connect(uploaded)) as conn:
        # A self-contained file, not a live WAL database.
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    clone = clones.of(project)
    first = clone.diff("--diff-remote", url)
    first.stdout.fnmatch_lines([f"difftest: remote baseline {url} downloaded, merged*"])
    assert ran(first) == set()
    assert first.ret == 0
    first.stdout.fnmatch_lines(["difftest: 0 of 5 tests selected*"])
    clone.replace("src/pkg/calc.py", "return a * b", "return b * a")
    assert outcomes(clone.diff("--diff-remote", url)) == {"test_mul": "PASSED"}


def test_unchanged_remote_is_not_downloaded_again_and_a_changed_one_is(
    project: Project, s3: S3, clones: Clones
) -> None:
    url = s3.url("difftest.db")
    project.baseline("--diff-remote", url, "--diff-upload")
    clone = clones.of(project)
    clone.diff("--diff-remote", url).stdout.fnmatch_lines(["*remote baseline * downloaded*"])
    copy = clone.root / REMOTE_COPY
    before = copy.stat()

    again = clone.diff("--diff-remote", url)
    again.stdout.fnmatch_lines([f"difftest: remote baseline {url} unchanged since the last fetch"])
    after = copy.stat()
    # Not rewritten: a download replaces the file (a new inode), it never edits it in place.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert ran(again) == set()

    # The main branch changes mul and uploads a new baseline: the clone, still on the old code,
    # downloads it, and its test_mul now differs from what the baseline recorded.
    project.replace("src/pkg/calc.py", "return a * b", "return b * a")
    project.baseline("--diff-remote", url, "--diff-upload")
    changed = clone.diff("--diff-remote", url)
    changed.stdout.fnmatch_lines([f"difftest: remote baseline {url} downloaded, merged*"])
    assert outcomes(changed) == {"test_mul": "PASSED"}
    assert copy.stat().st_ino != before.st_ino


def test_local_results_newer_than_the_remote_ones_are_kept(
    project: Project, s3: S3, clones: Clones, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(
        "tests/test_env.py",
        """
        import os


        def test_env():
            assert "BREAK" not in os.environ
        """,
    )
    url = s3.url("difftest.db")
    project.baseline("--diff-remote", url, "--diff-upload")
    clone = clones.of(project)
    # The clone's own full baseline, in an environment where test_env fails.
    with monkeypatch.context() as patch:
        patch.setenv("BREAK", "1")
        failed = clone.baseline()
    assert outcomes(failed)["test_env"] == "FAILED"
    assert len(outcomes(failed)) == 6
    # Main moves on: an incremental baseline reruns only test_shout, so the remote's record of
    # test_env is older than the clone's.
    project.replace("src/pkg/text.py", '"!"', '"!" * 1')
    assert outcomes(project.baseline("--diff-remote", url, "--diff-upload")) == {
        "test_shout": "PASSED"
    }
    result = clone.diff("--diff-remote", url)
    result.stdout.fnmatch_lines(["*remote baseline * downloaded, merged*"])
    # test_env failed here more recently than it passed there; test_shout's newer record comes
    # from the remote, on code this clone does not have yet.
    assert outcomes(result) == {"test_env": "PASSED", "test_shout": "PASSED"}


def test_upload_with_xdist_and_ini_url(project: Project, s3: S3, clones: Clones) -> None:
    url = s3.url("ini/difftest.db")
    project.write("pyproject.toml", project.read("pyproject.toml") + f'diff_remote_url = "{url}"\n')
    result = project.baseline("-n", "2", "--diff-upload")
    assert result.ret == 0
    assert s3.objects() == ["ini/difftest.db"]
    assert ran(clones.of(project).diff("-n", "2")) == set()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_bucket", "no such bucket 'no-such-bucket-difftest'"),
        ("no_key", "no such key"),
        ("no_bucket_on_upload", "no such bucket 'no-such-bucket-difftest'"),
        ("access_denied", "access denied"),
        ("bad_credentials", "the credentials were refused (InvalidAccessKeyId)"),
        ("unreachable", "cannot reach http://127.0.0.1:"),
        ("timeout", "timed out after 1 s talking to http://127.0.0.1:"),
    ],
)
def test_remote_errors_stop_the_run_with_one_line(
    project: Project, s3: S3, monkeypatch: pytest.MonkeyPatch, case: str, expected: str
) -> None:
    project.settled()
    url = s3.url("difftest.db")
    s3.put("difftest.db", project.root / DB)
    args = ["--diff"]
    auth = False
    if case.startswith("no_bucket"):
        url = "s3://no-such-bucket-difftest/difftest.db"
        if case == "no_bucket_on_upload":
            args = ["--diff-baseline", "--diff-upload"]
    elif case == "no_key":
        url = s3.url("missing.db")
    elif case == "access_denied":
        key, secret = s3.user_without_permissions()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        auth = True
    elif case == "bad_credentials":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7NOTREAL")
        auth = True
    elif case == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    if case == "timeout":
        # A server that accepts connections and never answers.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
            monkeypatch.setenv("PYTEST_DIFFTEST_S3_TIMEOUT", "1")
            result = project.run(*args, "--diff-remote", url)
    elif auth:
        with s3.authentication():
            result = project.run(*args, "--diff-remote", url)
    else:
        result = project.run(*args, "--diff-remote", url)
    line = one_error_line(result)
    assert url in line
    assert expected in line


def test_s3_url_without_boto3_names_the_extra(project: Project, s3: S3) -> None:
    project.settled()
    # Makes boto3 unimportable in the run under test, as when it is not installed.
    project.write("conftest.py", "import sys\n\nsys.modules['boto3'] = None\n")
    line = one_error_line(project.run("--diff", "--diff-remote", s3.url("difftest.db")))
    assert "pip install 'pytest-difftest[s3]'" in line


def test_remote_of_another_schema_version_is_refused(
    project: Project, s3: S3, clones: Clones, tmp_path: Path
) -> None:
    project.settled()
    old = tmp_path / "old.db"
    shutil.copy(project.root / DB, old)
    with closing(sqlite3.connect(old)) as conn, conn:
        conn.execute("PRAGMA user_version = 1")
    s3.put("old.db", old)
    line = one_error_line(clones.of(project).run("--diff", "--diff-remote", s3.url("old.db")))
    assert s3.url("old.db") in line
    assert "schema version 1" in line


# -- file:// ---------------------------------------------------------------------------------------


def test_file_backend_upload_fetch_and_cache(
    project: Project, clones: Clones, tmp_path: Path
) -> None:
    url = (tmp_path / "shared.db").as_uri()
    assert project.baseline("--diff-remote", url, "--diff-upload").ret == 0
    assert len(recorded_tests(tmp_path / "shared.db")) == 5
    assert not [p for p in tmp_path.iterdir() if p.name != "shared.db"]  # no temporary left
    clone = clones.of(project)
    clone.diff("--diff-remote", url).stdout.fnmatch_lines(["*remote baseline * downloaded*"])
    clone.diff("--diff-remote", url).stdout.fnmatch_lines(["*remote baseline * unchanged*"])
    clone.replace("src/pkg/text.py", '"!"', '"?"')
    assert outcomes(clone.diff("--diff-remote", url)) == {"test_shout": "FAILED"}

    missing_dir = (tmp_path / "nowhere" / "shared.db").as_uri()
    line = one_error_line(project.run("--diff", "--diff-remote", missing_dir))
    assert "no such directory" in line
    line = one_error_line(project.run("--diff", "--diff-remote", (tmp_path / "x.db").as_uri()))
    assert "no such file" in line


def test_a_local_database_of_an_older_version_is_replaced_by_the_remote_baseline(
    project: Project, clones: Clones, tmp_path: Path
) -> None:
    url = (tmp_path / "shared.db").as_uri()
    project.baseline("--diff-remote", url, "--diff-upload")
    clone = clones.of(project)
    clone.settled()
    with closing(sqlite3.connect(clone.root / DB)) as conn, conn:
        conn.execute("PRAGMA user_version = 1")
    result = clone.diff("--diff-remote", url)
    result.stdout.fnmatch_lines(
        ["difftest: the old database is from an older version; rebuilt from the remote*"]
    )
    assert ran(result) == set()


def test_an_interrupted_baseline_is_not_uploaded(project: Project, tmp_path: Path) -> None:
    project.write("tests/test_stop.py", "def test_stop():\n    raise KeyboardInterrupt\n")
    url = (tmp_path / "shared.db").as_uri()
    result = project.baseline("--diff-remote", url, "--diff-upload")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"difftest: not uploaded to {url}: interrupted"])
    assert not (tmp_path / "shared.db").exists()


def test_a_failed_upload_fails_the_run(project: Project, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    url = (shared / "base.db").as_uri()
    # The directory is there when the run starts (nothing to fetch yet), gone by its end.
    project.write(
        "tests/test_gone.py", f"import os\n\n\ndef test_gone():\n    os.rmdir({str(shared)!r})\n"
    )
    result = project.baseline("--diff-remote", url, "--diff-upload")
    result.stdout.fnmatch_lines([f"difftest: upload failed: {url}: no such directory*"])
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR


# -- options and git -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--diff-upload"], "*--diff-upload uploads a finished baseline*"),
        (["--diff", "--diff-upload"], "*--diff-upload uploads a finished baseline*"),
        (["--diff-baseline", "--diff-upload"], "*--diff-upload needs somewhere to upload to*"),
        (["--diff-remote", "file:///tmp/x.db"], "*--diff-remote is where --diff*"),
        (["--diff", "--diff-remote", "http://x/y.db"], "*expected an s3://bucket/key.db*"),
        (["--diff", "--diff-remote", "s3:///key.db"], "*no bucket in the URL*"),
    ],
)
def test_option_mistakes(project: Project, args: list[str], expected: str) -> None:
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_warns_when_the_baseline_commit_is_not_an_ancestor_of_head(project: Project) -> None:
    git(project.root, "init", "-q")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "one")
    project.settled()
    assert "not an ancestor" not in project.diff().stdout.str()
    # Rewriting the commit leaves the baseline's commit off this branch.
    git(project.root, "commit", "-q", "--amend", "-m", "one, amended")
    result = project.diff()
    result.stdout.fnmatch_lines(["difftest: warning: the baseline's commit * is not an ancestor*"])
    assert result.ret == 0


# -- progress --------------------------------------------------------------------------------------


def test_progress_is_shown_only_for_transfers_that_take_a_while() -> None:
    from pytest_difftest.remote import Progress

    now = [0.0]
    out = io.StringIO()
    quick = Progress("downloading s3://b/k.db", 3000, stream=out, clock=lambda: now[0])
    quick(1000)
    now[0] = 0.5
    quick(2000)
    quick.finish()
    assert out.getvalue() == ""

    slow = Progress("uploading s3://b/k.db", 3_000_000, stream=out, clock=lambda: now[0])
    now[0] = 2.0
    slow(1_000_000)
    slow(1_000_000)  # within a second of the last line: not printed
    now[0] = 3.5
    slow(1_000_000)
    slow.finish()
    assert out.getvalue().splitlines() == [
        "difftest: uploading s3://b/k.db: 1.0 MB of 3.0 MB ...",
        "difftest: uploading s3://b/k.db: 3.0 MB of 3.0 MB ...",
        "difftest: uploading s3://b/k.db: 3.0 MB of 3.0 MB done",
    ]


def test_an_s3_prefix_is_not_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused before any request: building a boto3 client needs neither a network nor keys.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from pytest_difftest.remote import RemoteError, open_backend

    with pytest.raises(RemoteError, match="not a prefix"):
        open_backend("s3://bucket/prefix/").fetch(Path(os.devnull), None)
