"""Shared baselines: a database behind a URL (``s3://bucket/key.db`` or ``file:///path/key.db``).

A backend fetches the remote database only when it changed since the copy we hold (an ETag
check costing one conditional request), uploads a finished snapshot so that readers never see a
half-written object, and lists the databases under a prefix (for ``pytest-difftest merge``).
boto3 is imported by the S3 backend only: it is an optional dependency.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

# Seconds boto3 waits to connect or for a response; a few tries at most, so an unreachable
# endpoint fails a run in seconds rather than minutes.
TIMEOUT_ENV = "PYTEST_DIFFTEST_S3_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
CHUNK = 1 << 20


class RemoteError(Exception):
    """A remote that cannot be used; the message names the URL and the cause, on one line."""


class RemoteMissing(RemoteError):
    """The remote database does not exist (yet): its bucket or directory does."""


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
        return S3Backend(url)
    if url.startswith("file://"):
        return FileBackend(url)
    raise RemoteError(f"{url}: expected an s3://bucket/key.db or file:///path/key.db URL")


# -- progress ------------------------------------------------------------------------------------


class Progress:
    """Counts transferred bytes (boto3 calls it from several threads) and, once a transfer has
    taken more than `delay` seconds, prints where it is at most once a second."""

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        delay: float = 1.0,
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.next_report = self.started + delay
        self.done = 0
        self.reported = False
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        with self._lock:
            self.done += count
            now = self.clock()
            if now >= self.next_report:
                self.next_report = now + 1.0
                self._print()

    def finish(self) -> None:
        with self._lock:
            if self.reported:
                self._print(final=True)

    def _print(self, final: bool = False) -> None:
        self.reported = True
        size = (
            _size(self.done) if self.total is None else f"{_size(self.done)} of {_size(self.total)}"
        )
        state = "done" if final else "..."
        print(f"difftest: {self.label}: {size} {state}", file=self.stream, flush=True)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _progress(label: str, total: int | None) -> Iterator[Progress]:
    progress = Progress(label, total)
    yield progress
    progress.finish()


def _write_atomically(dest: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """Writes `dest` through a temporary file in its directory: it is replaced whole or not."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        with temporary.open("wb") as out:
            fill(out)
        os.replace(temporary, dest)
    finally:
        temporary.unlink(missing_ok=True)


# -- file:// ---------------------------------------------------------------------------------------


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
                    with _progress(f"downloading {self.url}", stat.st_size) as progress:
                        while chunk := source.read(CHUNK):
                            out.write(chunk)
                            progress(len(chunk))

                _write_atomically(dest, fill)
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

            _write_atomically(self.path, fill)
            stat = self.path.stat()
        except OSError as error:
            raise RemoteError(f"{self.url}: {error.strerror or error}") from None
        return f"{stat.st_size}-{stat.st_mtime_ns}"

    def list_databases(self) -> list[str]:
        if not self.path.is_dir():
            raise RemoteError(f"{self.url}: no such directory")
        return [path.as_uri() for path in sorted(self.path.rglob("*.db")) if path.is_file()]


# -- s3:// -----------------------------------------------------------------------------------------


class S3Backend:
    """An object in S3 or an S3-compatible store. Credentials, region and endpoint come from
    boto3's usual sources (environment, profiles, ``AWS_ENDPOINT_URL``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise RemoteError(
                f"{url}: s3:// URLs need boto3: pip install 'pytest-difftest[s3]'"
            ) from None
        parts = urlsplit(url)
        self.bucket = parts.netloc
        self.key = unquote(parts.path.lstrip("/"))
        if not self.bucket:
            raise RemoteError(f"{url}: no bucket in the URL (expected s3://bucket/key.db)")
        try:
            self.timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
        except ValueError:
            raise RemoteError(f"{TIMEOUT_ENV} must be a number of seconds") from None
        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"total_max_attempts": 2, "mode": "standard"},
        )
        try:
            self.client: Any = boto3.session.Session().client("s3", config=config)
        except Exception as error:  # boto3 raises many kinds for a bad configuration
            raise self._error(error) from None

    def fetch(self, dest: Path, etag: str | None) -> str | None:
        if not self.key or self.key.endswith("/"):
            raise RemoteError(f"{self.url}: expected the key of a database, not a prefix")
        request: dict[str, str] = {"Bucket": self.bucket, "Key": self.key}
        if etag:
            request["IfNoneMatch"] = etag
        try:
            response = self.client.get_object(**request)
        except Exception as error:
            if _error_code(error) in ("304", "NotModified"):
                return None
            raise self._error(error) from None
        body = response["Body"]

        def fill(out: IO[bytes]) -> None:
            with _progress(f"downloading {self.url}", response.get("ContentLength")) as progress:
                for chunk in body.iter_chunks(CHUNK):
                    out.write(chunk)
                    progress(len(chunk))

        try:
            _write_atomically(dest, fill)
        except OSError:
            raise
        except Exception as error:
            raise self._error(error) from None
        finally:
            body.close()
        return str(response["ETag"])

    def upload(self, source: Path) -> str:
        from boto3.s3.transfer import TransferConfig

        # Managed transfer: multipart above 8 MB. S3 makes an object visible only once it is
        # complete (a multipart upload when it is completed), so readers never see half of it.
        config = TransferConfig(multipart_threshold=8 * 1024 * 1024)
        try:
            with _progress(f"uploading {self.url}", source.stat().st_size) as progress:
                self.client.upload_file(
                    str(source), self.bucket, self.key, Callback=progress, Config=config
                )
            head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        except OSError:
            raise
        except Exception as error:
            raise self._error(error) from None
        return str(head["ETag"])

    def list_databases(self) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key
            )
            keys = [
                item["Key"]
                for page in pages
                for item in page.get("Contents", [])
                if item["Key"].endswith(".db")
            ]
        except Exception as error:
            raise self._error(error) from None
        return [f"s3://{self.bucket}/{key}" for key in sorted(keys)]

    def _error(self, error: BaseException) -> RemoteError:
        """One line naming the URL and what went wrong, for any boto3/botocore error."""
        from botocore import exceptions as boto

        # boto3's managed transfers wrap the client's error.
        cause = error.__cause__ or error.__context__
        if not isinstance(error, (boto.ClientError, boto.BotoCoreError)) and isinstance(
            cause, (boto.ClientError, boto.BotoCoreError)
        ):
            error = cause
        code = _error_code(error)
        endpoint = getattr(getattr(self, "client", None), "meta", None)
        where = endpoint.endpoint_url if endpoint is not None else "the S3 endpoint"
        if code == "NoSuchBucket":
            why = f"no such bucket {self.bucket!r}"
        elif code in ("NoSuchKey", "404", "NotFound"):
            return RemoteMissing(f"{self.url}: no such key")
        elif code in ("AccessDenied", "403", "AllAccessDisabled", "Forbidden"):
            why = "access denied (the credentials lack permission for this bucket or key)"
        elif code in (
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "InvalidToken",
            "TokenRefreshRequired",
            "InvalidClientTokenId",
        ):
            why = f"the credentials were refused ({code})"
        elif code:
            message = getattr(error, "response", {}).get("Error", {}).get("Message") or ""
            why = f"{code} {message}".strip()
        elif isinstance(error, boto.NoCredentialsError):
            why = "no AWS credentials found (environment, ~/.aws or an instance profile)"
        elif isinstance(error, (boto.ConnectTimeoutError, boto.ReadTimeoutError)):
            why = f"timed out after {self.timeout:g} s talking to {where}"
        elif isinstance(error, boto.EndpointConnectionError):
            why = f"cannot reach {where}"
        else:
            why = " ".join(str(error).split()) or type(error).__name__
        return RemoteError(f"{self.url}: {why}")


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


# -- the local copy --------------------------------------------------------------------------------


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
        self.remember(backend.url, fetched)
        return fetched, True

    def remember(self, url: str, etag: str) -> None:
        data = json.dumps({"url": url, "etag": etag}).encode()

        def fill(out: IO[bytes]) -> None:
            out.write(data)

        _write_atomically(self.tag_file, fill)
