"""Fixtures of the end-to-end suite; the helpers live in difftest_support.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from difftest_support import BASE_FILES, S3, Project


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """The default project (config, calc and text modules, one test file each), not yet run."""
    proj = Project(pytester, pytester.path)
    proj.write_files(BASE_FILES)
    return proj


# The server runs in a process of its own: pytester restores `sys.modules` after every test,
# which would make moto import its modules afresh mid-session and stop recognising its own
# exception classes (every AccessDenied then turns into a 500).
_MOTO_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test session closes our stdin
server.stop()
"""


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on loopback, one per test process.
    Port 0: the system picks a free port, which the server reports."""
    server = subprocess.Popen(
        [sys.executable, "-c", _MOTO_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3:
    """A fresh bucket on the moto server, and boto3 pointed at it through the environment, as
    users point it at an S3-compatible server (the pytest runs under test inherit it)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # No profile or credentials file of the machine running the tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return S3.create(moto_endpoint)


def _mount(*args: str) -> str | None:
    """Runs mount(8); the reason it failed, or None."""
    try:
        result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    except OSError as error:
        return str(error)
    return (
        (result.stderr.strip() or f"exit status {result.returncode}") if result.returncode else None
    )


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Makes small file systems (a tmpfs of the given size, ``"1m"``) for a test to fill up:
    a real full disk, not a mock. Skips where mounting is not allowed (not Linux, not root)."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        problem = _mount("-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(where))
        if problem is not None:
            pytest.skip(f"a small file system needs `mount -t tmpfs` (Linux, as root): {problem}")
        mounted.append(where)
        return where

    yield make
    for where in reversed(mounted):
        _unmount(where)


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a file or directory read-only for the processes a test starts: by permissions, or
    for root, whom permissions do not stop, by a read-only bind mount of it. Skips where neither
    works (Windows; root where mounting is not allowed)."""
    undo: list[Callable[[], None]] = []

    def make(path: Path) -> None:
        if os.name == "nt":
            pytest.skip("read-only directories are not enforced on Windows")
        if os.geteuid() != 0:
            mode = path.stat().st_mode
            path.chmod(mode & ~0o222)
            undo.append(lambda: path.chmod(mode))
            return
        problem = _mount("--bind", str(path), str(path))
        if problem is None:
            undo.append(lambda: _unmount(path))
            problem = _mount("-o", "remount,bind,ro", str(path))
        if problem is not None:
            pytest.skip(f"root ignores permissions, and a read-only bind mount failed: {problem}")

    yield make
    for step in reversed(undo):
        step()
