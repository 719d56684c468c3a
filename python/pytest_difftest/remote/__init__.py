"""Shared baselines: a database behind a URL (``s3://bucket/key.db`` or ``file:///path/key.db``).

A backend fetches the remote database only when it changed since the copy we hold (an ETag
check costing one conditional request), uploads a finished snapshot so that readers never see a
half-written object, and lists the databases under a prefix (for ``pytest-difftest merge``).
The backends live in `file` and `s3`; boto3 is imported by the S3 backend only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Protocol

from pytest_difftest.errors import RemoteError, RemoteMissing
from pytest_difftest.remote.transfer import Progress, write_atomically


class Backend(Protocol):
    url: str

    def fetch(self, dest: Path, etag: str | None) -> str | None:
        """Writes the remote database to `dest` unless its ETag is still `etag`; returns the new
        ETag, or None when it is unchanged. Raises `RemoteMissing` when it does not exist."""

    def upload(self, source: Path) -> str:
        """Replaces the remote database with `source` as a whole; returns the new ETag."""

    def list_databases(self) -> list[str]:
        """URLs of the ``.db`` objects under this URL taken as a prefix, sorted."""


def open_backend(url: str) -> Backend:
    """The backend for `url`. Raises `RemoteError` for a URL we cannot use."""
    if url.startswith("s3://"):
        from pytest_difftest.remote.s3 import S3Backend

        return S3Backend(url)
    if url.startswith("file://"):
        from pytest_difftest.remote.file import FileBackend

        return FileBackend(url)
    raise RemoteError(f"{url}: expected an s3://bucket/key.db or file:///path/key.db URL")


class RemoteCache:
    """The last fetched copy of a remote database and its ETag, next to the local database."""

    def __init__(self, db_path: Path) -> None:
        self.copy = db_path.with_name(db_path.name + ".remote")
        self.tag_file = db_path.with_name(db_path.name + ".remote.etag")

    def etag(self, url: str) -> str | None:
        """The ETag of our copy of `url`, if we hold one."""
        try:
            saved = json.loads(self.tag_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("url") != url or not self.copy.is_file():
            return None
        etag = saved.get("etag")
        return etag if isinstance(etag, str) else None

    def refresh(self, backend: Backend) -> tuple[str, bool]:
        """Brings our copy up to date: ``(etag, downloaded)``. Raises `RemoteMissing` when the
        remote does not exist, `RemoteError` for anything else."""
        cached = self.etag(backend.url)
        fetched = backend.fetch(self.copy, cached)
        if fetched is None:
            assert cached is not None
            return cached, False
        try:
            self.remember(backend.url, fetched)
        except OSError as error:
            raise RemoteError(
                f"{backend.url}: cannot write {self.tag_file}: {error.strerror or error}"
            ) from None
        return fetched, True

    def remember(self, url: str, etag: str) -> None:
        data = json.dumps({"url": url, "etag": etag}).encode()

        def fill(out: IO[bytes]) -> None:
            out.write(data)

        write_atomically(self.tag_file, fill)


__all__ = ["Backend", "Progress", "RemoteCache", "RemoteError", "RemoteMissing", "open_backend"]
