"""What both backends need to move a database: atomic writes and progress on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pytest_difftest.errors import RemoteError

CHUNK = 1 << 20


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
def showing_progress(label: str, total: int | None) -> Iterator[Progress]:
    progress = Progress(label, total)
    yield progress
    progress.finish()


def write_atomically(dest: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """Writes `dest` through a temporary file in its directory: it is replaced whole or not."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        with temporary.open("wb") as out:
            fill(out)
        os.replace(temporary, dest)
    finally:
        temporary.unlink(missing_ok=True)


def download(url: str, dest: Path, fill: Callable[[IO[bytes]], None]) -> None:
    """`write_atomically` for a download from `url`: a failure on our side (a full disk, a
    read-only folder) stops the run like any problem with the remote, in one line that names
    the URL, whatever the backend."""
    try:
        write_atomically(dest, fill)
    except OSError as error:
        raise RemoteError(
            f"{url}: cannot download it to {dest}: {error.strerror or error}"
        ) from None
