"""What a recording process learns, as `Record`s and module facts, and where it goes: a
`RecordSink` (the database through `DatabaseWriter`, or the next report in an xdist worker)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol

import pytest

from pytest_difftest import facts
from pytest_difftest._core import Engine
from pytest_difftest.errors import DifftestError
from pytest_difftest.settings import Settings

# `(file, first line)` of a block of code; line 0 stands for a module's import-time code.
CodeRef = tuple[str, int]
# A `CodeRef` and the line of the module's statement it ran beneath (see `Statements`).
CodeBeneath = tuple[str, int, int]


class Record(NamedTuple):
    """What one test depends on, as the core's `Engine.record` reads it (by attribute)."""

    nodeid: str
    # The file pytest collected the test from, relative to the root.
    file: str
    outcome: str
    duration: float
    # The code it executed or requested (its function, its fixtures).
    code: list[CodeRef]
    # The files whose import closure it depends on: its own, the conftest.py files above it,
    # and the files project code ran in while the session started.
    roots: list[str]
    # Names it relies on that no executed code mentions (its class).
    names: list[str]
    # Data files and pseudo-files (facts about the environment).
    data: list[str]
    # Data files it opened, each with the project functions (file, first line) running then:
    # a cache one of them keeps hands what it read to later tests.
    openers: list[tuple[str, list[CodeRef]]]


class RecordSink(Protocol):
    """Where what a recording process learns goes."""

    def modules(self, module_map: list[tuple[str, str]]) -> None:
        """The project modules loaded now, ``(module name, relative path)``."""

    def import_time(self, code: list[CodeRef]) -> None:
        """Code that ran during start-up and collection, outside any module's import: what
        the importers of its own files rely on."""

    def module_import(self, module: str, code: list[CodeBeneath], data: list[str]) -> None:
        """Code that ran, and data files read, while `module` executed (was imported): what
        its importers rely on."""

    def read_whole(self, modules: list[str]) -> None:
        """Project modules (relative paths) that code outside the project reads whole (or
        imported before recording began): their importers depend on all their bindings."""

    def record(self, record: Record, teardown: pytest.TestReport) -> None:
        """One finished test, with its teardown report."""


class DatabaseWriter:
    """A `RecordSink` that writes to the database, records in batches of
    ``settings.batch_size`` (one transaction each). Any database error ends recording through
    `give_up`: the baseline stays what it was, and every test still runs."""

    def __init__(
        self, engine: Engine, settings: Settings, root: Path, give_up: Callable[[str], None]
    ) -> None:
        self.engine: Engine | None = engine
        self.settings = settings
        self.root = root
        self.give_up = give_up
        self.batch: list[Record] = []
        # The environment facts this run knows, by pseudo-file path (see facts).
        self.facts: dict[str, str] = {}

    def modules(self, module_map: list[tuple[str, str]]) -> None:
        self._write(lambda engine: engine.set_modules(module_map))

    def import_time(self, code: list[CodeRef]) -> None:
        self._write(lambda engine: engine.mark_import_time(code))

    def module_import(self, module: str, code: list[CodeBeneath], data: list[str]) -> None:
        self._write(lambda engine: engine.mark_module_import(module, code, data))

    def read_whole(self, modules: list[str]) -> None:
        def mark(engine: Engine) -> None:
            for module in modules:
                engine.mark_read_whole(module)

        self._write(mark)

    def record(self, record: Record, teardown: pytest.TestReport | None = None) -> None:
        self.batch.append(record)
        if len(self.batch) >= self.settings.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self._write(lambda engine: self._record(engine, batch))

    def _record(self, engine: Engine, batch: list[Record]) -> None:
        # Declared globs and snapshot entries the selection did not know: their facts are
        # needed to record them.
        new = {
            path
            for record in batch
            for path in record.data
            if path.startswith(facts.PROJECT_PREFIXES) and path not in self.facts
        }
        if new:
            self.facts.update(facts.project_facts(self.root, sorted(new)))
            engine.set_facts(sorted(self.facts.items()))
        engine.record(batch)

    def _write(self, write: Callable[[Engine], None]) -> None:
        if self.engine is None:
            return
        try:
            write(self.engine)
        except (DifftestError, OSError) as error:
            self.engine = None
            self.give_up(f"recording stopped, the baseline is incomplete: {error}")
