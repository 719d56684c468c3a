"""Data files a test reads: an audit hook on ``open`` notes every file opened for reading while a
test runs; the project's data files among them become the test's dependencies.

Audit hooks cannot be removed, so one hook is installed per process and does nothing (one
attribute test) unless a watcher is active.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

from pytest_difftest.paths import ProjectFiles

# Opened with one of these, a file is written, not read: its contents are the test's output.
_WRITE_MODES = frozenset("wax")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_DIRECTORY", 0)
# Source and bytecode are tracked as code (or are the interpreter's business), not as data.
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pth")
# Directories whose files are never a test's input: caches, VCS metadata, tool environments.
_SKIPPED_PARTS = frozenset(
    {
        ".pytest_cache",
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        "__pycache__",
        "site-packages",
        "node_modules",
    }
)


# How far up the stack an open looks for the project functions running it.
_MAX_FRAMES = 64
# Frames of the standard library: an open made through them is made by whoever called them;
# but one the import system makes (loading a module's source) is an import, not a read.
_IMPORT_SYSTEM = ("<frozen importlib", os.path.join(os.path.dirname(os.__file__), "importlib"))
_STDLIB = ("<frozen", os.path.dirname(os.__file__))


class _Hook:
    """The process's one audit hook (a filter written in Rust, see `AuditFilter`) forwards
    ``open`` events here, and here to the active watcher, if any."""

    watcher: DataWatcher | None = None
    installed = False

    @classmethod
    def opened(cls, args: tuple[Any, ...]) -> None:
        watcher = cls.watcher
        if watcher is not None:
            watcher.opened(args)


class DataWatcher:
    """Collects the files opened for reading; `take` hands them out as project data files."""

    def __init__(self, files: ProjectFiles) -> None:
        self.files = files
        self._seen: set[str] = set()
        # For each file opened, the project functions that were running (file, first line):
        # one of them may keep what it read in a cache that later tests read (see `beneath`).
        self._openers: dict[str, set[tuple[str, int]]] = {}
        self._relative: dict[str, str | None] = {}
        # Python sources project code opened as files (see `opened`).
        self._sources: set[str] = set()
        self._venv_dirs: dict[str, bool] = {}
        if not _Hook.installed:
            from pytest_difftest._core import AuditFilter

            sys.addaudithook(AuditFilter("open", _Hook.opened))
            _Hook.installed = True
        _Hook.watcher = self

    def opened(self, args: tuple[Any, ...]) -> None:
        """The audit event ``open(path, mode, flags)``: `mode` is None for ``os.open``."""
        path, mode, flags = args
        if isinstance(mode, str):
            if _WRITE_MODES.intersection(mode):
                return
        elif isinstance(flags, int) and flags & _WRITE_FLAGS:
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        elif not isinstance(path, str):
            try:
                path = os.fspath(path)
            except TypeError:
                return  # a file descriptor: whatever opened it was seen then
            if not isinstance(path, str):
                return
        if not os.path.isabs(path):
            # Resolved now: the test may change directory before the test ends.
            path = os.path.join(os.getcwd(), path)
        self._seen.add(path)
        openers = self._openers.setdefault(path, set())
        relative = self.files.relative
        # Who opened it: the first frame outside the standard library. A Python source that
        # project code reads (a release test reading `__version__` from the text) is data; one
        # the import system or a tool (pytest's assertion rewriting, tracebacks) reads is not.
        opener: str | None = None
        # Frames 0 and 1 are this method and the hook's dispatch.
        frame: FrameType | None = sys._getframe(2)
        for _ in range(_MAX_FRAMES):
            if frame is None:
                break
            code = frame.f_code
            filename = code.co_filename
            where = relative(filename)
            if where is not None and code.co_name != "<module>":
                openers.add((where, code.co_firstlineno))
            if opener is None:
                if filename.startswith(_IMPORT_SYSTEM):
                    opener = "import"
                elif not filename.startswith(_STDLIB):
                    opener = "project" if where is not None else "other"
            frame = frame.f_back
        if opener == "project" and path.endswith(".py"):
            self._sources.add(path)

    def take(self) -> list[str]:
        """The project data files opened since the last `take`, relative to the root."""
        found = []
        for path in self._seen:
            # A source may have been imported before it was read as text: not from the cache.
            relative = self._relative.get(path, "") if path not in self._sources else ""
            if relative == "":
                relative = self._relative[path] = self.data_file(path)
            if relative is not None:
                found.append(relative)
        self._seen.clear()
        return sorted(found)

    def take_openers(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """The project data files opened since the last call (whatever `take` took since),
        each with the project functions (file, first line) that were running when it was
        opened."""
        found = []
        for path, openers in self._openers.items():
            relative = self._relative.get(path, "")
            if relative == "":
                relative = self._relative[path] = self.data_file(path)
            if relative is not None and openers:
                found.append((relative, sorted(openers)))
        self._openers.clear()
        return sorted(found)

    def take_absolute(self) -> list[str]:
        """The absolute paths opened since the last take, unfiltered (for a forked child,
        whose parent filters them)."""
        found = sorted(self._seen)
        self._seen.clear()
        return found

    def begin_nested(self) -> list[str]:
        """Like `take`, at the start of a part of a test (a fixture's setup)."""
        return self.take()

    def end_nested(self, outer: list[str]) -> list[str]:
        """The part's files; they still count for the test too."""
        inner = self.take()
        self._seen.update(os.path.join(self.files.root, path) for path in outer + inner)
        return inner

    def data_file(self, path: str) -> str | None:
        """The project data file at absolute `path`, relative to the root, or None."""
        # A file that did not exist counts too: the test is affected when it appears.
        is_code = path.endswith(_CODE_SUFFIXES) and path not in self._sources
        if is_code or os.path.isdir(path):
            return None
        relative = self.files.project_path(path)
        if relative is None or _SKIPPED_PARTS.intersection(relative.split("/")):
            return None
        if self._in_virtualenv(os.path.dirname(os.path.realpath(path))):
            return None
        return relative

    def _in_virtualenv(self, directory: str) -> bool:
        """Whether `directory` lies in a virtual environment (any, not only the active one)
        inside the project: a directory above it holds ``pyvenv.cfg``."""
        found = self._venv_dirs.get(directory)
        if found is None:
            parent = os.path.dirname(directory)
            found = os.path.isfile(os.path.join(directory, "pyvenv.cfg")) or (
                parent != directory
                and directory.startswith(self.files.root)
                and self._in_virtualenv(parent)
            )
            self._venv_dirs[directory] = found
        return found

    def close(self) -> None:
        if _Hook.watcher is self:
            _Hook.watcher = None
