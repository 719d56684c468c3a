"""The plugin's own looks at the file system (resolving a path, asking whether a stored test's
file is still there, the data watcher working out who reads a file), which the data watcher
must not take for a test's reads: a test depends on the files it checks, not on those the
plugin checks while it runs (see `DataWatcher`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """The calling thread's file-system checks, until the block ends, are the plugin's."""
    depth = getattr(_state, "depth", 0)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth


def ours() -> bool:
    """Whether the calling thread is making the plugin's own checks."""
    return getattr(_state, "depth", 0) > 0
