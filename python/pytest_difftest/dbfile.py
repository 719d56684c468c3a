"""The database file a user names (``--diff-db``, ini ``diff_db``, the command's ``DB``): what
may be there, which folders are made for it, and what may be moved aside.

A path comes from the user and may name anything: the project directory (``--diff-db .``), a
file of theirs, a folder far from the project. Nothing here may move or create what the user
did not mean for the database.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path

from pytest_difftest._core import Engine
from pytest_difftest.errors import DifftestError

DB_DIRECTORY = "pytest-difftest"
DB_NAME = "pytest_difftest.db"

# Tables every schema version so far has created: a file holding them all is ours.
OUR_TABLES = frozenset({"meta", "file", "block", "test", "depset"})


class DatabasePathError(DifftestError):
    """A path that cannot be the database; the message says why (the caller names the option)."""


class ForeignFileError(DatabasePathError):
    """A file that is not ours where a damaged database was to be set aside: it stays."""


def normalized(path: Path, root: Path) -> Path:
    """`path` made absolute against `root`, with ``..`` resolved as text, as the user reads it."""
    return Path(os.path.normpath(root / path))


def check_file(path: Path) -> None:
    """Raises `DatabasePathError` when `path` exists and is not a file (a directory: the
    project itself, with ``--diff-db .``)."""
    if path.is_dir():
        raise DatabasePathError(f"{path} is a directory, not a database file")
    if path.exists() and not path.is_file():
        raise DatabasePathError(f"{path} is not a regular file")


def check_location(path: Path, root: Path) -> None:
    """Raises `DatabasePathError` unless `path` can hold the database: `check_file`, and its
    folder exists, or may be made: under `root` (the rootdir) as deep as needed, elsewhere only
    the database's own folder, in a directory that exists. A mistyped absolute path then never
    grows a tree of folders from the file system's root."""
    check_file(path)
    folder = path.parent
    if folder.is_dir():
        return
    existing = next((parent for parent in folder.parents if parent.exists()), None)
    if existing is None:  # a drive that is not there
        raise DatabasePathError(f"{folder} does not exist")
    for candidate in (folder, existing):
        if candidate.exists() and not candidate.is_dir():
            raise DatabasePathError(f"{candidate} is not a directory")
    if existing == folder.parent or existing.resolve().is_relative_to(root.resolve()):
        return
    raise DatabasePathError(
        f"{folder.parent} does not exist: create it first (outside rootdir only the "
        "database's own folder is made)"
    )


def set_aside(path: Path, root: Path) -> Path:
    """Moves the database at `path`, which could not be opened, and its WAL files out of the way
    (``NAME.broken-<time>``) so that a new one can take its place; returns where it went.

    Only a file of ours (`is_ours`) is moved, else `ForeignFileError`; and only once a new
    database has been made, and deleted, next to it: where none can be made (a full disk, a
    read-only folder), moving the old one would only lose it (`DifftestError`)."""
    probe = path.with_name(f".{path.name}.probe-{os.getpid()}")
    try:
        Engine(probe, root, 1)
    except (DifftestError, OSError) as error:
        raise DifftestError(
            f"{path} is left as it is: a new database cannot be made next to it ({error})"
        ) from None
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                probe.with_name(probe.name + suffix).unlink(missing_ok=True)
    if not is_ours(path):
        raise ForeignFileError(
            f"{path} is not a pytest-difftest database (nor named {DB_NAME}), so it is left as "
            "it is: move it away yourself, or choose another --diff-db"
        )
    kept = path.with_name(f"{path.name}.broken-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.replace(kept.with_name(kept.name + suffix))
    return kept


def is_ours(path: Path) -> bool:
    """Whether `path` is a regular file (not a link, not a directory) that we may move aside:
    one with our name, or an SQLite database holding our tables. A damaged file under another
    name is the user's to move."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    if not stat.S_ISREG(mode):
        return False
    return path.name == DB_NAME or _has_our_tables(path)


def _has_our_tables(path: Path) -> bool:
    # Only the names in SQLite's own schema table are read, read-only: the core opens a
    # database to use it, and this file is one it could not use.
    try:
        import sqlite3
    except ImportError:  # an interpreter built without it: we cannot tell
        return False
    uri = path.resolve().as_uri()
    # Read-only, then, where SQLite cannot make its index files (a full disk, a read-only
    # folder), as an immutable file: without the WAL, whose tables are then missed.
    for mode in ("mode=ro", "immutable=1"):
        try:
            with contextlib.closing(sqlite3.connect(f"{uri}?{mode}", uri=True)) as conn:
                query = "SELECT name FROM sqlite_master WHERE type = 'table'"
                names = {name for (name,) in conn.execute(query)}
        except sqlite3.Error:
            continue
        if names >= OUR_TABLES:
            return True
    return False
