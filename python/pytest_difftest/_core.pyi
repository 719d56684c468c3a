"""Rust core of pytest-difftest: parsing, checksums, the dependency database and selection."""

from collections.abc import Callable, Sequence
from os import PathLike
from types import CodeType
from typing import Any, Literal, Protocol, final

__all__ = [
    "ALWAYS",
    "CONFIG_INI",
    "CONFIG_PLUGINS",
    "GLOBAL_FACTS",
    "PYTHON",
    "SCHEMA_VERSION",
    "VARIANT_SEPARATOR",
    "AuditFilter",
    "CallHook",
    "ChangedFile",
    "Counts",
    "DifftestError",
    "Engine",
    "SchemaVersionError",
    "Selection",
    "StoredBlock",
    "__version__",
    "merge_databases",
    "parse_blocks",
]

__version__: str
SCHEMA_VERSION: int
# Pseudo-files (facts about the environment, stored like files; see schema.sql).
CONFIG_INI: str
CONFIG_PLUGINS: str
PYTHON: str
# The facts every test depends on: a change in one selects everything.
GLOBAL_FACTS: list[str]
# The pseudo-file of tests that always run.
ALWAYS: str
# Separates a run variant from the node id in stored node ids.
VARIANT_SEPARATOR: str

class DifftestError(Exception):
    """A problem with the database or inputs; the message names the file and what to do."""

class SchemaVersionError(DifftestError):
    """The database was written by another schema version: `found` (in the file) and
    `expected` (of this version)."""

    found: int
    expected: int

class _RecordFields(Protocol):
    """What `Engine.record` reads of each test, by attribute name
    (`pytest_difftest.records.Record`)."""

    @property
    def nodeid(self) -> str: ...
    @property
    def file(self) -> str:
        """The file the test was collected from, relative to the root."""
    @property
    def outcome(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def code(self) -> list[tuple[str, int]]:
        """``(file, first line)`` of what the test executed or requested (0: module code)."""
    @property
    def roots(self) -> list[str]:
        """The files it depends on by import: its own, the conftest files above it, ..."""
    @property
    def names(self) -> list[str]:
        """Extra names it uses (its class), as if its code mentioned them."""
    @property
    def data(self) -> list[str]:
        """The data files it read and the pseudo-files of the facts it depends on."""
    @property
    def openers(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """Data files it opened, with the project functions (file, first line) running then."""

@final
class CallHook:
    """The recorder's native hooks on Python 3.9-3.11 (see src/call_hook.rs): each adds the
    code objects it sees run to `seen` by `id`, once until `forget`, and while `executing` or
    `modules` is not empty hands each start and end of a code object's run to
    `on_module_event(code, is_start)`, but the ends of code not in `executing` and the starts
    of code of files `project_files` says are not the project's. `addresses`: of
    PyEval_SetProfile, PyFrame_GetCode, _PyEval_RequestCodeExtraIndex, _PyCode_GetExtra,
    _PyCode_SetExtra, _PyInterpreterState_GetEvalFrameFunc,
    _PyInterpreterState_SetEvalFrameFunc and _PyEval_EvalFrameDefault; RuntimeError if one
    is missing. `internal_frames`: Python 3.11's frame layout."""

    def __new__(
        cls,
        seen: dict[int, CodeType],
        executing: dict[int, tuple[CodeType, int]],
        modules: list[Any],
        on_module_event: Callable[[CodeType, bool], None],
        project_files: dict[str, bool],
        addresses: tuple[int, int, int, int, int, int, int, int],
        internal_frames: bool,
    ) -> CallHook: ...
    def take_evaluation(self) -> bool:
        """Takes the frame-evaluation hook (PEP 523) unless another tool holds it."""
    def release_evaluation(self) -> None: ...
    @staticmethod
    def collect(on: bool) -> None:
        """Whether the frame-evaluation hook collects the calling thread's frames from now on."""
    def install(self) -> None:
        """Becomes the calling thread's profile function."""
    def uninstall(self) -> None: ...
    @staticmethod
    def forget() -> None: ...

@final
class AuditFilter:
    """An audit hook for `sys.addaudithook` that calls `callback` with the arguments of each
    `event` event (``open``, ``exec``) and ignores every other event, without running Python
    code for them."""

    def __new__(cls, event: str, callback: Callable[[tuple[Any, ...]], object]) -> AuditFilter: ...
    def __call__(self, event: str, args: tuple[Any, ...]) -> None: ...

@final
class ChangedFile:
    """A stored file whose blocks are outdated."""

    @property
    def path(self) -> str:
        """Path relative to the project root, with ``/`` separators."""
    @property
    def blocks(self) -> list[str]:
        """Names of the outdated blocks: ``<module>``, ``Order.total``, ``=TIMEOUT``."""
    @property
    def parse_error(self) -> str | None:
        """Why the file could not be parsed (it then counts as changed as a whole)."""
    @property
    def deleted(self) -> bool:
        """The file no longer exists."""

@final
class Selection:
    """What `Engine.select` found. Read each attribute once: every access copies."""

    @property
    def selected(self) -> list[str]:
        """Node ids of stored tests that must run."""
    @property
    def reasons(self) -> list[str]:
        """Why each of `selected` must run, in the same order."""
    @property
    def known_tests(self) -> list[str]:
        """Node ids of every stored test."""
    @property
    def known_files(self) -> list[str]:
        """Files stored tests were collected from."""
    @property
    def collect_files(self) -> list[str]:
        """Files holding at least one selected test."""
    @property
    def changed(self) -> list[ChangedFile]:
        """Stored files with outdated blocks."""
    @property
    def new_files(self) -> list[str]:
        """Python files under the project that the database does not know."""
    @property
    def deselected_duration(self) -> float:
        """Recorded seconds of the stored tests that were not selected."""
    @property
    def selected_duration(self) -> float:
        """Recorded seconds of the selected stored tests: what running them should take."""

@final
class StoredBlock:
    """A stored block version, compared with the file as it is now."""

    @property
    def path(self) -> str:
        """File, relative to the project root."""
    @property
    def name(self) -> str:
        """``<module>``, ``Order.total`` or ``=TIMEOUT`` (the grammar: src/block_name.rs)."""
    @property
    def kind(self) -> Literal["module", "data", "function", "binding", "other"]:
        """What the name says the block is."""
    @property
    def checksum(self) -> int:
        """The stored checksum."""
    @property
    def lines(self) -> tuple[int, int] | None:
        """(first, last) line in the current file; None for ``<module>`` and vanished blocks."""
    @property
    def state(self) -> str:
        """``current``, ``changed``, ``unparsable`` (file does not parse) or ``deleted``."""
    @property
    def shared(self) -> bool:
        """Held through the import-time set shared by tests with the same imports."""
    @property
    def tests(self) -> list[str]:
        """From `Engine.file_dependents`: node ids of the tests depending on it, sorted."""

@final
class Counts:
    """Counts over the whole database."""

    @property
    def tests(self) -> int: ...
    @property
    def files(self) -> int: ...
    @property
    def blocks(self) -> int:
        """Stored block versions."""
    @property
    def depsets(self) -> int:
        """Stored shared dependency sets."""
    @property
    def outcomes(self) -> dict[str, int]:
        """Last outcome (``passed``, ``failed``, ``skipped``, ``pending``) → number of tests."""

@final
class Engine:
    """The dependency database of one project plus what this session learned of its files.

    `project_directories` are the tracked directories (empty: `root`); every file path stored
    in the database must be inside them, relative to `root`.

    Raises `DifftestError` when the database is corrupt, foreign, from another schema version,
    or holds what this version never writes (objects in its schema, a path outside the project),
    and `OSError` when its directory cannot be created.
    """

    def __new__(
        cls,
        db_path: str | PathLike[str],
        root: str | PathLike[str],
        cache_size: int = 100000,
        project_directories: Sequence[str | PathLike[str]] = ...,
    ) -> Engine: ...
    def select(self, skip_dirs: list[str]) -> Selection:
        """Compare the project on disk with the database (`skip_dirs`: pytest's
        ``norecursedirs``)."""
    def prefetch(self) -> None:
        """Start reading and parsing the Python files the database knows, in the background:
        a baseline's first record needs most of them."""
    def set_modules(self, modules: list[tuple[str, str]]) -> None:
        """Tell the engine which module names map to which project files (from `sys.modules`)."""
    def set_variant(self, variant: str) -> None:
        """Select and record against this run variant (ini ``diff_env``; "" is the default)."""
    def set_facts(self, facts: list[tuple[str, str]]) -> None:
        """Facts about the environment by pseudo-file path (``<dist>/requests``): a test that
        depends on a pseudo-file is selected when the hash of its value changes."""
    def set_reset_state(self, names: list[str]) -> None:
        """State the test runner sets afresh before every test, as module attributes
        (``sys.stdout``): a function that writes only such state keeps nothing a later test
        reads."""
    def pseudo_files(self) -> list[str]:
        """The stored pseudo-file paths."""
    def mark_import_time(self, code: list[tuple[str, int]]) -> None:
        """Functions (file, first line) that ran during start-up and collection outside any
        module's import: importers of their own files depend on them."""
    def mark_module_import(
        self, module: str, code: list[tuple[str, int, int]], data: list[str]
    ) -> None:
        """Functions (file, first line, line of `module` running then: negated inside the
        execution of a project module that line imported; 0: not known) that ran, and data
        files that were read, while `module` was imported: its importers depend on them, but
        for what ran beneath a statement whose calls the engine follows."""
    def mark_read_whole(self, module: str) -> None:
        """`module` (relative path) is read whole by code outside the project (imported before
        recording began, or read by name by a framework): every importer depends on every
        top-level binding of it."""
    def record(self, tests: Sequence[_RecordFields]) -> None:
        """Store finished tests in one transaction (`_RecordFields` says what each holds)."""
    def add_pending(self, tests: list[tuple[str, str]]) -> None:
        """Store ``(nodeid, file)`` of collected tests that have not run yet."""
    def remove_tests(self, nodeids: list[str]) -> None:
        """Forget tests that no longer exist."""
    def finish(self, meta: list[tuple[str, str]]) -> None:
        """End a baseline: settle file fingerprints, drop unused block versions, store `meta`."""
    def adopt_new_files(self) -> None:
        """Make the files the last `select` found new known now (at the start of a baseline)."""
    def clear(self) -> None:
        """Empty the database for a full rebuild."""
    def compact(self) -> None:
        """Rewrite the database without free space (``VACUUM``), after a full rebuild."""
    def close(self) -> None:
        """Close the database now (folding the write-ahead log into the file); unusable after."""
    def meta(self, key: str) -> str | None:
        """A stored fact about the baseline (``created``, ``commit``, ``tool_version``)."""
    def test_count(self) -> int:
        """How many tests the database knows."""
    def meta_items(self) -> list[tuple[str, str]]:
        """Every stored fact, sorted by key."""
    def set_meta(self, items: list[tuple[str, str]]) -> None:
        """Store facts (key, value) in one transaction."""
    def tests(self) -> list[tuple[str, str, str, float]]:
        """``(nodeid, file, outcome, duration)`` of every stored test."""
    def files(self) -> list[str]:
        """Every stored file, sorted."""
    def counts(self) -> Counts:
        """Counts of tests, files, block versions, shared sets and outcomes."""
    def test_dependencies(self, nodeid: str) -> list[StoredBlock] | None:
        """The block versions a test depends on, by file and name; None for an unknown test."""
    def file_dependents(self, paths: list[str]) -> list[list[StoredBlock] | None]:
        """For each of `paths`, the file's stored block versions, by line, with the tests
        depending on each; None for a file the database does not know. One call for many
        files costs one pass over the tests."""
    def merge_from(self, inputs: Sequence[str | PathLike[str]]) -> int:
        """Merge the databases at `inputs` into this one (see `merge_databases`), keeping this
        machine's file fingerprints; returns the number of tests afterwards."""
    def snapshot(self, dest: str | PathLike[str]) -> None:
        """Write a consistent single-file copy (no ``-wal``) to `dest`, which must not exist."""

def parse_blocks(
    source: bytes,
) -> tuple[list[tuple[str, str, int, int, int]], str | None]:
    """The blocks of a source: ``(name, kind, first line, last line, checksum)`` and the parse
    error, if any. `kind` is ``module``, ``binding`` or ``function``."""

def merge_databases(output: str | PathLike[str], inputs: Sequence[str | PathLike[str]]) -> int:
    """Merge the databases at `inputs` into the database at `output`; returns its number of
    tests. An existing `output` (which may be one of `inputs`) is rewritten in place in one
    transaction holding SQLite's write lock, so a run writing to it meanwhile waits and loses
    nothing; a new one is written to a temporary file and put in place once complete.

    Union of the tests; a test in several inputs keeps its most recent record; the result does
    not depend on the order of `inputs`. Raises `DifftestError` naming an input that is not a
    pytest-difftest database of this schema version or holds what this version never writes,
    or an `output` that is not a pytest-difftest database; `FileNotFoundError` for a missing
    input.
    """
