"""``s3://`` URLs: an object in S3 or an S3-compatible store, through boto3 (an optional
dependency, imported only here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pytest_difftest.errors import RemoteError, RemoteMissing
from pytest_difftest.remote.transfer import CHUNK, download, showing_progress

# Seconds boto3 waits to connect or for a response; a few tries at most, so an unreachable
# endpoint fails a run in seconds rather than minutes.
TIMEOUT_ENV = "PYTEST_DIFFTEST_S3_TIMEOUT"
DEFAULT_TIMEOUT = 10.0


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
            size = response.get("ContentLength")
            with showing_progress(f"downloading {self.url}", size) as progress:
                for chunk in body.iter_chunks(CHUNK):
                    out.write(chunk)
                    progress(len(chunk))

        try:
            download(self.url, dest, fill)
        except RemoteError:
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
            with showing_progress(f"uploading {self.url}", source.stat().st_size) as progress:
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
