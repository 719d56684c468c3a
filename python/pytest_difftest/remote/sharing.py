"""The plugin's side of shared baselines: bring the remote baseline into the local database
before a run, publish the local one after a baseline. Backends live in `_remote`."""

from __future__ import annotations

import os

import pytest

from pytest_difftest import display
from pytest_difftest._core import Engine
from pytest_difftest.errors import DifftestError, RemoteError, RemoteMissing
from pytest_difftest.remote import RemoteCache, open_backend
from pytest_difftest.settings import Settings

# Meta key of the local database: "<url> <etag>" of the remote copy last merged into it.
MERGED_META = "remote"


def fetch_and_merge(engine: Engine, settings: Settings) -> str:
    """Fetches the shared baseline (only when it changed) and merges it into the local database,
    where the more recent record of each test wins. Returns what happened, for the header.
    Raises `pytest.UsageError` for any problem with the remote: a run must not silently go on
    without the baseline it was asked to use."""
    url = settings.remote_url
    assert url is not None
    if settings.force:
        return f"remote baseline {url} not used: --diff-force rebuilds"
    cache = RemoteCache(settings.db_path)
    try:
        etag, downloaded = cache.refresh(open_backend(url))
    except RemoteMissing as error:
        if settings.upload:
            return f"no remote baseline at {url} yet: this run creates it"
        raise pytest.UsageError(f"cannot fetch the remote baseline: {error}") from None
    except RemoteError as error:
        raise pytest.UsageError(f"cannot fetch the remote baseline: {error}") from None
    status = (
        f"remote baseline {url} {'downloaded' if downloaded else 'unchanged since the last fetch'}"
    )
    marker = f"{url} {etag}"
    if engine.meta(MERGED_META) == marker:
        return status  # this copy is already merged into the local database
    try:
        engine.merge_from([cache.copy])
        engine.set_meta([(MERGED_META, marker)])
    except (DifftestError, OSError) as error:
        # The message may quote what the remote database holds.
        message = display.printable(str(error))
        raise pytest.UsageError(f"cannot use the remote baseline {url}: {message}") from None
    return status + ", merged into the local database"


def upload(engine: Engine, settings: Settings) -> None:
    """Uploads a consistent single-file snapshot of the local database (not the live WAL file).
    Raises `RemoteError`, `DifftestError` or `OSError`."""
    url = settings.remote_url
    assert url is not None
    cache = RemoteCache(settings.db_path)
    snapshot = cache.copy.with_name(f".{cache.copy.name}.upload-{os.getpid()}")
    try:
        snapshot.unlink(missing_ok=True)
        engine.snapshot(snapshot)
        etag = open_backend(url).upload(snapshot)
        # What we uploaded is now the remote's contents: the next fetch need not download it.
        os.replace(snapshot, cache.copy)
        cache.remember(url, etag)
        engine.set_meta([(MERGED_META, f"{url} {etag}")])
    finally:
        snapshot.unlink(missing_ok=True)
