"""Data files a test reads: an audit hook on ``open`` notes every file opened for reading while a
test runs; the project's data files among them become the test's dependencies.

Audit hooks cannot be removed, so one hook is installed per process and does nothing (one
attribute test) unless a watcher is active.
"""

from __future__ import annotations

import functools
import os
import pathlib
import sys
from collections.abc import Callable, Iterable, Sequence
from types import CodeType
from typing import Any

from pytest_difftest import own_checks
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.readers import IMPORT_LISTINGS, IMPORT_SYSTEM, who_reads
from pytest_difftest.recorder.collector import Executed

# Opened with one of these, a file is written, not read: its contents are the test's output.
_WRITE_MODES = frozenset("wax")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_DIRECTORY", 0)
# Source and bytecode are tracked as code (or are the interpreter's business), not as data.
_BYTECODE_SUFFIXES = (".pyc", ".pyo")
_CODE_SUFFIXES = (".py", ".pth", *_BYTECODE_SUFFIXES)
# Directories whose files are never a test's input: caches (hypothesis rewrites its example
# database on every run), VCS metadata, tool environments.
_SKIPPED_PARTS = frozenset(
    {
        ".pytest_cache",
        ".hypothesis",
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        "__pycache__",
        "site-packages",
        "node_modules",
    }
)


def _absolute(path: Any) -> str | None:
    """An audit event's path argument as an absolute path; None for a file descriptor."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    elif not isinstance(path, str):
        try:
            path = os.fspath(path)
        except TypeError:
            return None
        if not isinstance(path, str):
            return None
    # Resolved now: the test may change directory before the test ends.
    return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)


# Checking whether a file exists raises no audit event: `os.stat` and `os.lstat` (which
# `os.path.exists`/`isfile`, pathlib's `exists`/`is_file` and the like call) are wrapped, once
# per process, and the wrappers report to the active watcher, if any.
_MISSING = (FileNotFoundError, NotADirectoryError)


def _reporting(real: Callable[..., os.stat_result]) -> Callable[..., os.stat_result]:
    """`real` (``os.stat`` or ``os.lstat``), telling the watcher which path it was given."""

    @functools.wraps(real)
    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        watcher = _Hook.watcher
        if watcher is None or isinstance(path, int) or own_checks.ours():
            return real(path, *args, **kwargs)
        try:
            found = real(path, *args, **kwargs)
        except _MISSING:
            watcher.checked(path)
            raise
        watcher.checked(path)
        return found

    return stat


def _report_existence_checks() -> None:
    for name in ("stat", "lstat"):
        real = getattr(os, name)
        wrapper = _reporting(real)
        setattr(os, name, wrapper)
        # Code that asks what `os.stat` supports (shutil, os.fwalk) gets the same answers.
        for supports in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks):
            if real in supports:
                supports.add(wrapper)
        # Python < 3.11: pathlib calls the functions it found at import, through an accessor.
        accessor = getattr(pathlib, "_NormalAccessor", None)
        if accessor is not None and getattr(accessor, name, None) is real:
            setattr(accessor, name, staticmethod(wrapper))


class _LastFinder:
    """The last finder on ``sys.meta_path``: asked only when every other finder failed, it
    reports the module that will not be found, and finds nothing."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None, target: object = None) -> None:
        watcher = _Hook.watcher
        if watcher is not None and not own_checks.ours():
            watcher.import_failed(name, path)


class _Hook:
    """The process's audit hooks (filters written in Rust, see `AuditFilter`) forward ``open``
    and listing events here, and here to the active watcher, if any."""

    watcher: DataWatcher | None = None
    installed = False

    @classmethod
    def opened(cls, args: tuple[Any, ...]) -> None:
        watcher = cls.watcher
        if watcher is not None:
            watcher.opened(args)

    @classmethod
    def listed(cls, args: tuple[Any, ...]) -> None:
        watcher = cls.watcher
        if watcher is not None:
            watcher.listed(args)


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
        # Files read while each project module executed (its import), by the module's path.
        self._module_reads: dict[str, set[str]] = {}
        # Files project code read (the first frame outside the standard library is the
        # project's) since the last `take`.
        self._project_reads: set[str] = set()
        # Files library code read, by the innermost project function that called it (held by
        # id with the code object, which keeps the id from being reused): see `_note`.
        self._library_reads: dict[int, tuple[CodeType, set[str]]] = {}
        if not _Hook.installed:
            from pytest_difftest._core import AuditFilter

            sys.addaudithook(AuditFilter("open", _Hook.opened))
            for event in ("os.listdir", "os.scandir"):
                sys.addaudithook(AuditFilter(event, _Hook.listed))
            _report_existence_checks()
            sys.meta_path.append(_LastFinder)
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
        path = _absolute(path)
        if path is None:
            return  # a file descriptor: whatever opened it was seen then
        if path.endswith(_BYTECODE_SUFFIXES):
            return  # never a data file (see `_data_file`): the import system loading a module
        if self._note((path,), IMPORT_SYSTEM) == "project" and path.endswith(".py"):
            self._sources.add(path)

    def checked(self, path: Any) -> None:
        """``os.stat`` or ``os.lstat`` was called on `path`: whether the file is there may
        decide the outcome (an optional override file), so it is a data file of the test,
        missing or not."""
        path = _absolute(path)
        # Checks are many (every library asks whether its files exist): outside the tracked
        # directories, as given, one is not worth a look at the stack.
        if (
            path is None
            or not path.startswith(self.files.tracked)
            or path.endswith(_BYTECODE_SUFFIXES)
        ):
            return
        self._note((path,), IMPORT_SYSTEM)

    def listed(self, args: tuple[Any, ...]) -> None:
        """The audit events ``os.listdir(path)`` and ``os.scandir(path)`` (which ``glob``,
        ``pathlib``, ``os.walk`` and ``pkgutil`` list through): the test depends on which
        entries the directory holds, noted as the directory's path with a trailing separator.
        The import system lists the directories it searches: that is an import, not a read."""
        path = _absolute("." if args[0] is None else args[0])
        if path is None:
            return
        self._note((path.rstrip(os.sep) + os.sep,), IMPORT_LISTINGS, imports=False)

    def _note(
        self, paths: Iterable[str], import_system: tuple[str, ...], imports: bool = True
    ) -> str | None:
        """Notes that `paths` were read, with who read them (see `who_reads`), and returns
        what read them; a read by the import system is not noted unless `imports`."""
        with own_checks.checking():  # working out who reads is no read
            openers, opener, module, caller = who_reads(self.files.relative, import_system)
        if opener == "import" and not imports:
            return opener
        # Library code may keep what it read (a template engine's cache): the project function
        # that called it is what later callers run, never reading the file themselves.
        beneath = None
        if opener == "other" and caller is not None:
            beneath = self._library_reads.setdefault(id(caller), (caller, set()))[1]
        for path in paths:
            self._seen.add(path)
            self._openers.setdefault(path, set()).update(openers)
            if module is not None:
                self._module_reads.setdefault(module, set()).add(path)
            if opener == "project":
                self._project_reads.add(path)
            if beneath is not None:
                beneath.add(path)
        return opener

    def import_failed(self, name: str, path: Sequence[str] | None) -> None:
        """No finder found module `name` (in the package directories `path`, or on
        ``sys.path``): each file that would have been imported is a missing source, and its
        appearing selects the tests that looked for it (``try: import local_settings``)."""
        leaf = name.rpartition(".")[2]
        candidates = []
        for entry in sys.path if path is None else path:
            if not isinstance(entry, str) or not entry:
                continue  # a zip or path hook's entry, or the current directory ("")
            base = os.path.join(os.getcwd(), entry, leaf)
            candidates += [base + ".py", os.path.join(base, "__init__.py")]
        self._sources.update(candidates)
        self._note(candidates, ())

    def take(self) -> list[str]:
        """The project data files opened since the last `take`, relative to the root."""
        found = {self._relative_of(path) for path in self._seen}
        self._seen.clear()
        self._project_reads.clear()
        return sorted(path for path in found if path is not None)

    def take_project_reads(self) -> list[str]:
        """Like `take`, but only the files that project code read itself (a conftest hook
        reading a list of tests to skip), not pytest or a plugin."""
        project_reads = {self._relative_of(path) for path in self._project_reads}
        return [path for path in self.take() if path in project_reads]

    def _relative_of(self, path: str) -> str | None:
        """`data_file(path)`, remembered."""
        # A source may have been imported before it was read as text: not from the cache.
        relative = self._relative.get(path, "") if path not in self._sources else ""
        if relative == "":
            relative = self._relative[path] = self.data_file(path)
        return relative

    def take_openers(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """The project data files opened since the last call (whatever `take` took since),
        each with the project functions (file, first line) that were running when it was
        opened."""
        found = []
        for path, openers in self._openers.items():
            relative = self._relative_of(path)
            if relative is not None and openers:
                found.append((relative, sorted(openers)))
        self._openers.clear()
        return sorted(found)

    def library_reads(self, executed: Executed) -> list[str]:
        """The project data files library code ever read beneath a project function of
        `executed` (a test that ran the function relies on what it had loaded)."""
        found: set[str | None] = set()
        for key, (_, paths) in self._library_reads.items():
            if key in executed:
                found.update(map(self._relative_of, paths))
        return sorted(path for path in found if path is not None)

    def take_module_reads(self, module: str) -> list[str]:
        """The project data files read while `module` (relative path) executed, since the
        last call for it."""
        found = {self._relative_of(path) for path in self._module_reads.pop(module, ())}
        return sorted(path for path in found if path is not None)

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
        """The project data file at absolute `path`, relative to the root, or None; for a
        listed directory (`path` ends with a separator), the directory relative to the root
        with a trailing ``/``."""
        with own_checks.checking():  # working out what a path is is no read
            return self._data_file(path)

    def _data_file(self, path: str) -> str | None:
        listing = path.endswith(os.sep)
        if listing:
            path = path[: -len(os.sep)]
        # A file that did not exist counts too: the test is affected when it appears.
        elif (path.endswith(_CODE_SUFFIXES) and path not in self._sources) or os.path.isdir(path):
            return None
        relative = self.files.project_path(path)
        if not relative or relative == "." or _SKIPPED_PARTS.intersection(relative.split("/")):
            # The root's own listing changes with every file a tool drops there: not tracked.
            return None
        if relative.startswith("<"):
            # "<frozen abc>", "<string>": the name of code that came from no file, looked up
            # in the current directory by linecache (a traceback); and the pseudo-files' space.
            return None
        directory = path if listing else os.path.dirname(path)
        if self._in_virtualenv(os.path.realpath(directory)):
            return None
        return relative + "/" if listing else relative

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
