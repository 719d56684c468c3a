"""``file://`` URLs: a database on a (shared) file system."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pytest_difftest.errors import RemoteError, RemoteMissing
from pytest_difftest.remote.transfer import CHUNK, download, showing_progress, write_atomically


def file_url_path(url: str) -> Path:
    """The local path of a ``file://`` URL (``file:///C:/x.db`` on Windows)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise RemoteError(f"{url}: only local file:// URLs are supported (file:///path)")
    return Path(url2pathname(parts.path))


class FileBackend:
    """A database on a (shared) file system. Its ETag is its size and modification time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = file_url_path(url)

    def fetch(self, dest: Path, etag: str | None) -> str | None:
        try:
            with self.path.open("rb") as source:
                stat = os.fstat(source.fileno())
                current = f"{stat.st_size}-{stat.st_mtime_ns}"
                if current == etag:
                    return None

                def fill(out: IO[bytes]) -> None:
                    with showing_progress(f"downloading {self.url}", stat.st_size) as progress:
                        while chunk := source.read(CHUNK):
                            out.write(chunk)
                            progress(len(chunk))

                download(self.url, dest, fill)
                return current
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise RemoteError(f"{self.url}: no such directory {self.path.parent}") from None
            raise RemoteMissing(f"{self.url}: no such file") from None
        except OSError as error:
            raise RemoteError(f"{self.url}: {error.strerror or error}") from None

    def upload(self, source: Path) -> str:
        if not self.path.parent.is_dir():
            raise RemoteError(f"{self.url}: no such directory {self.path.parent}")
        try:

            def fill(out: IO[bytes]) -> None:
                with source.open("rb") as data:
                    shutil.copyfileobj(data, out, CHUNK)

            write_atomically(self.path, fill)
            stat = self.path.stat()
        except OSError as error:
            raise RemoteError(f"{self.url}: {error.strerror or error}") from None
        return f"{stat.st_size}-{stat.st_mtime_ns}"

    def list_databases(self) -> list[str]:
        if not self.path.is_dir():
            raise RemoteError(f"{self.url}: no such directory")
        return [path.as_uri() for path in sorted(self.path.rglob("*.db")) if path.is_file()]
