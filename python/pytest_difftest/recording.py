"""Recording during ``--diff-baseline``: what each test depends on, as a `Record` (see
`records`).

`Recording` holds the hooks of a process that runs tests: it starts and stops the recorder
around each test and its broader fixtures, notes the data files read while test modules are
imported, and at each teardown turns what the test executed, requested and read into a record.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from pytest_difftest import facts, integrations
from pytest_difftest._core import ALWAYS, GLOBAL_FACTS
from pytest_difftest.data import DataWatcher
from pytest_difftest.distributions import DistributionMap
from pytest_difftest.items import (
    executed_beneath,
    executed_code,
    names_used,
    requested_fixtures,
    static_code,
    test_file_of,
)
from pytest_difftest.outcomes import Outcomes
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder import Executed, Recorder, Statements
from pytest_difftest.records import CodeRef, Record, RecordSink
from pytest_difftest.settings import Settings
from pytest_difftest.subprocesses import SubprocessHook


class Recording:
    """The recording hooks of a process that runs tests during ``--diff-baseline``."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        files: ProjectFiles,
        recorder: Recorder,
        sink: RecordSink,
    ) -> None:
        self.config = config
        self.settings = settings
        self.files = files
        self.recorder: Recorder | None = recorder
        self.sink = sink
        self.machinery = facts.test_machinery(config, settings.cache_file("machinery.json"), None)
        self.data: DataWatcher | None = DataWatcher(files)
        self.integrations = integrations.active(config)
        # Project modules an integration said were read whole (see `RecordSink.read_whole`).
        self.read_whole: set[str] = set()
        self.dists: DistributionMap | None = None
        self.subprocesses: SubprocessHook | None = None
        if settings.subprocess:
            self.subprocesses = SubprocessHook()
            self.subprocesses.follow_forks(self._forked_start, self._forked_finish)
        # Data files read while each test module was imported (relative test file → files).
        self.module_data: dict[str, list[str]] = {}
        self.fixture_data: dict[Any, list[str]] = {}
        # What the setup of each broader-than-function fixture executed: every test that
        # requests the fixture depends on it, not only the first, which paid for the setup.
        self.fixture_code: dict[Any, list[CodeRef]] = {}
        # Each fixture definition's own function (see `static_code`).
        self.fixture_functions: dict[Any, CodeRef | None] = {}
        # Project code that ran while the session started, and its files (`pytest_collection`).
        self.startup_code: list[CodeRef] = []
        self.startup_roots: list[str] = []
        self.outcomes = Outcomes()
        # Data files every test depends on (see `pytest_runtest_logstart`).
        self.session_data: list[str] = []
        self.modules_seen = -1
        self.tests_began = False
        # The file of the test running now (between its logstart and its teardown report).
        self.running: str | None = None
        recorder.on_module_executed = self._module_executed

    def close(self) -> None:
        if self.subprocesses is not None:
            self.subprocesses.close()
            self.subprocesses = None
        if self.data is not None:
            self.data.close()
            self.data = None
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.outcomes.note_source_skips(items)  # before the hooks of conftests and plugins

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self) -> None:
        """Start-up is over. Project code that ran in it (called by a plugin configuring the
        session, or imported before recording began) may have left state any test sees,
        whether or not it imports that code: its files become roots of every test, like the
        conftest.py files above it."""
        if self.recorder is None:
            return
        self.startup_code = executed_code(self.recorder.start_test(), self.files)
        # And the modules imported before we observed anything, as unseen start-up code.
        self.sink.read_whole(self.recorder.preloaded)
        files = {path for path, _ in self.startup_code} | set(self.recorder.preloaded)
        self.startup_roots = sorted(p for p in files if p.rpartition("/")[2] != "conftest.py")
        self.recorder.pause()  # from now on, only windows are observed

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        """Data files a test module reads while it is imported (a module-level ``json.load``):
        every test of the module depends on them."""
        data = self.data if isinstance(collector, pytest.Module) else None
        if data is None:
            return (yield)
        data.take()
        try:
            return (yield)
        finally:
            relative = self.files.relative(str(collector.path))
            if relative is not None:
                self.module_data[relative] = data.take()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.recorder is None:
            return
        first = not self.tests_began
        if first:
            self.tests_began = True
            self.recorder.tests_begin()
        before = self.recorder.start_test()
        for integration in self.integrations:
            integration.test_begins()
        if self.data is not None:
            if first:
                # Files project code read during collection, outside any module's import (a
                # conftest hook reading which tests to skip): they may decide about any test.
                self.session_data = self.data.take_project_reads()
            self.data.take()  # between tests: pytest's own reading
            self.data.take_openers()
        if self.subprocesses is not None:
            self.subprocesses.take()
        if first:
            # What ran before the first test outside any module's import: project hooks run
            # during collection, code run while the session started.
            self._refresh_modules()
            self.sink.import_time(executed_code(before, self.files) + self.startup_code)
        self.running = nodeid

    def _module_executed(self, code: CodeType, executed: Executed, statements: Statements) -> None:
        """A project module's execution (its import, during collection or lazily in a test)
        returned: what ran meanwhile is import-time code of that module, which the tests that
        import it rely on without running it (see `Engine.mark_module_import`)."""
        module = self.files.relative(code.co_filename)
        if module is not None:
            data = self.data.take_module_reads(module) if self.data is not None else []
            ran = executed_beneath(executed, statements, self.files)
            if ran or data:  # a module that only defines things leaves nothing to note
                self._refresh_modules()
                self.sink.module_import(module, ran, data)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> Generator[None, Any, Any]:
        recorder = self.recorder
        if recorder is None or fixturedef.scope == "function":
            return (yield)
        outer = recorder.begin_nested()
        outer_data = self.data.begin_nested() if self.data is not None else []
        try:
            return (yield)
        finally:
            executed = recorder.end_nested(outer)
            self.fixture_code[fixturedef] = executed_code(executed, self.files)
            if self.data is not None:
                self.fixture_data[fixturedef] = self.data.end_nested(outer_data)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "teardown" and self.recorder is not None:
            # Teardown has run: the test is complete. Recording here (not at logfinish) lets an
            # xdist worker send the record along with this report.
            self._finish_test(item, report)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.outcomes.add(report)

    def _finish_test(self, item: pytest.Item, teardown: pytest.TestReport) -> None:
        assert self.recorder is not None
        executed = self.recorder.stop_test()
        self.running = None
        outcome, duration = self.outcomes.with_teardown(teardown, item)
        test_file = test_file_of(item, self.files)
        self._refresh_modules()
        code = executed_code(executed, self.files) + static_code(
            item, self.files, self.fixture_functions
        )
        for definition in requested_fixtures(item):
            code.extend(self.fixture_code.get(definition, ()))
        roots = [test_file, *self.files.conftests_above(test_file), *self.startup_roots]
        reads: set[str] = set()
        if self.data is not None:
            reads.update(self.data.take(), self.data.library_reads(executed))
        roots += self._integrations_after_test(reads)
        data = self._data_of(item, test_file, executed, reads)
        if self.subprocesses is not None:
            child_code, child_opened = self.subprocesses.take()
            for filename, line in child_code:
                relative = self.files.relative(filename)
                if relative is not None:
                    code.append((relative, line))
            if self.data is not None:
                found = (self.data.data_file(path) for path in child_opened)
                data = sorted({*data, *(path for path in found if path is not None)})
        openers = self.data.take_openers() if self.data is not None else []
        record = Record(
            item.nodeid, test_file, outcome, duration, code, roots, names_used(item), data, openers
        )
        self.sink.record(record, teardown)

    def _integrations_after_test(self, reads: set[str]) -> list[str]:
        """What the plugins we integrate with say the test relied on: data files, into
        `reads`; the project modules read whole, returned as roots of the test."""
        data_file = self.data.data_file if self.data is not None else lambda path: None
        whole = {
            relative
            for integration in self.integrations
            for path in integration.after_test(reads, data_file)
            if (relative := self.files.relative(path)) is not None
        }
        if whole - self.read_whole:
            self.read_whole |= whole
            self.sink.read_whole(sorted(whole))
        return sorted(whole)

    def _forked_start(self) -> None:
        """In a forked child: what the parent test recorded so far is not the child's."""
        if self.recorder is not None:
            self.recorder.start_test()
        if self.data is not None:
            self.data.take()

    def _forked_finish(self) -> tuple[list[tuple[str, int]], list[str]]:
        """In a forked child at its end: the code it ran and the files it opened."""
        code = []
        if self.recorder is not None:
            for executed in self.recorder.stop_test().values():
                line = 0 if executed.co_name == "<module>" else executed.co_firstlineno
                code.append((executed.co_filename, line))
        opened = self.data.take_absolute() if self.data is not None else []
        return code, opened

    def _data_of(
        self, item: pytest.Item, test_file: str, executed: Executed, reads: set[str]
    ) -> list[str]:
        """The test's non-code dependencies: data files it (its module's import, its fixtures)
        read, declared globs, the distributions it used, the facts every test depends on."""
        data: set[str] = {*GLOBAL_FACTS, *self.session_data}
        data.update(reads)
        data.update(self.module_data.get(test_file, ()))
        for definition in requested_fixtures(item):
            data.update(self.fixture_data.get(definition, ()))
        data.update(_declared(item, self.settings, self.config.rootpath))
        if self.dists is None:
            cache = self.settings.cache_file("import-owners.json")
            self.dists = DistributionMap(self.files, self.machinery, cache)
        module = getattr(item, "module", None)
        dists = self.dists.of_code(executed.values()) | set(self.dists.of_module(module))
        dists |= self.dists.of_project_code(executed.values())
        data.update(facts.DIST_PREFIX + name for name in dists)
        return sorted(data)

    def _refresh_modules(self) -> None:
        if len(sys.modules) != self.modules_seen:
            self.modules_seen = len(sys.modules)
            self.sink.modules(self.files.module_map())


def _declared(item: pytest.Item, settings: Settings, root: Path) -> set[str]:
    """What the test is declared to depend on: `diff_depends` globs (the marker's and ini's)
    with the files they match, and ALWAYS for `diff_always`."""
    declared: set[str] = set()
    globs = [str(arg) for mark in item.iter_markers("diff_depends") for arg in mark.args]
    globs += [g for rule, files in settings.depends if fnmatch(item.nodeid, rule) for g in files]
    for pattern in globs:
        declared.add(facts.GLOB_PREFIX + pattern)
        declared.update(facts.glob_matches(root, pattern))
    if item.get_closest_marker("diff_always") is not None or any(
        fnmatch(item.nodeid, pattern) for pattern in settings.always
    ):
        declared.add(ALWAYS)
    return declared
