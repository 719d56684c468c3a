"""The pytest hooks of pytest-difftest: options, configuration, and the session plugin.

Module-level hooks decide whether the plugin is active; `DifftestPlugin`, registered only then,
holds the session's state and does the selecting and recording.
"""

from __future__ import annotations

import contextlib
import json
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Generator
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path
from typing import Any

import pytest

from pytest_difftest import _environment as env
from pytest_difftest import _format
from pytest_difftest._data import DataWatcher
from pytest_difftest._items import executed_code, names_used, requested_fixtures, static_code
from pytest_difftest._paths import ProjectFiles
from pytest_difftest._recorder import Executed, Recorder, start_recorder
from pytest_difftest._settings import Settings, add_options, tracked_directories
from pytest_difftest._subprocess import SubprocessHook
from pytest_difftest._windows import RecordingWindows
from pytest_difftest._xdist import XdistController, xdist_role

_EARLY_RECORDER = pytest.StashKey[Recorder]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Start recording before conftest.py files are imported (pytest imports them in its own
    # trylast implementation, which runs after ours): functions they call while loading, and
    # hooks they run during collection, are import-time dependencies of every test. Running late
    # lets tracers started here by other plugins (pytest-cov) go first, so we wrap them.
    namespace = early_config.known_args_namespace
    if getattr(namespace, "diff_baseline", False) and not getattr(namespace, "diff", False):
        given = getattr(namespace, "diff_project_directory", None)
        directories = [d for d in tracked_directories(given, early_config) if d.is_dir()]
        files = ProjectFiles(early_config.rootpath, directories or None)
        early_config.stash[_EARLY_RECORDER] = start_recorder(files, early_config.pluginmanager)


def pytest_configure(config: pytest.Config) -> None:
    for line in env.markers_help():
        config.addinivalue_line("markers", line)
    recorder = config.stash.get(_EARLY_RECORDER, None)
    settings = Settings.from_config(config)
    if settings is None:
        if recorder is not None:
            recorder.close()
        return
    role = xdist_role(config)
    if role == "controller" and recorder is not None:
        recorder.close()  # the workers run the tests, and record them
        recorder = None
    elif settings.mode == "baseline" and recorder is None and role != "controller":
        recorder = start_recorder(
            ProjectFiles(config.rootpath, list(settings.project_directories) or None),
            config.pluginmanager,
        )
    # Our own start-up (environment facts, opening the database, selecting) runs no project
    # code: outside the start-up window, it does not pay for the trace hook on Python < 3.12.
    paused = recorder if recorder is not None and recorder.windowed else None
    if paused is not None:
        paused.pause()
    try:
        plugin = DifftestPlugin(config, settings, recorder, role)
    finally:
        if paused is not None:
            paused.resume()
    config.pluginmanager.register(plugin, "difftest-session")
    if recorder is not None and recorder.windowed:
        config.pluginmanager.register(RecordingWindows(recorder, plugin.files), "difftest-windows")
    if role == "controller":
        config.pluginmanager.register(XdistController(plugin), "difftest-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("difftest-session")
    if isinstance(plugin, DifftestPlugin):
        plugin.close()


class DifftestPlugin:
    """One session of ``--diff`` or ``--diff-baseline``.

    Lifecycle: configure opens the database and computes the selection; collection skips files
    with nothing selected and deselects unaffected tests; in baseline mode each test's executed
    code is recorded and written in batches; session finish settles the database.
    If the database cannot be used, every test runs and nothing is written.
    """

    def __init__(
        self, config: pytest.Config, settings: Settings, recorder: Recorder | None, role: str
    ):
        from pytest_difftest import DifftestError
        from pytest_difftest._core import Engine

        self.config = config
        self.settings = settings
        self.recorder = recorder
        # "single", "controller" or "worker": with pytest-xdist the controller alone selects and
        # writes; workers get the selection with their input and send what they record back
        # with their test reports.
        self.role = role
        self.modules: dict[str, str] = {}
        self.files = ProjectFiles(config.rootpath, list(settings.project_directories) or None)
        # Baseline only, in the processes that run tests: data files read, distributions used.
        self.data: DataWatcher | None = None
        self.dists: env.DistributionMap | None = None
        # Data files read while each test module was imported (relative test file → files).
        self.module_data: dict[str, list[str]] = {}
        self.fixture_data: dict[Any, list[str]] = {}
        self.machinery = env.test_machinery(config)
        self.subprocesses: SubprocessHook | None = None
        if settings.mode == "baseline" and role != "controller":
            self._start_watchers()
        # Problems worth one line each in the summary (unparsable files, an unusable database).
        self.notes: list[str] = []
        self.engine: Any = None
        # The environment facts of this run, by pseudo-file path (see _environment).
        self.facts: dict[str, str] = {}
        self.selection: Any = None
        self.selected: set[str] = set()
        # Why each selected test runs (from the same pass that selected it), by node id.
        self.reasons: dict[str, str] = {}
        # The tests that ran, for --diff-explain.
        self.ran_ids: list[str] = []
        self.known_tests: set[str] = set()
        self.known_files: set[str] = set()
        self.collect_files: set[str] = set()
        self.items: dict[str, pytest.Item] = {}
        # The outcome and duration so far of each test whose teardown has not been reported.
        self.outcomes: dict[str, tuple[str, float]] = {}
        # How many tests of this session ended in each outcome, for `pytest-difftest inspect`.
        self.outcome_counts: dict[str, int] = {}
        self.batch: list[Any] = []
        # Worker only: facts to attach to the next teardown report.
        self.outbox: dict[str, Any] = {}
        # What the setup of each broader-than-function fixture executed: every test that
        # requests the fixture depends on it, not only the first, which paid for the setup.
        self.fixture_code: dict[Any, list[tuple[str, int]]] = {}
        self.modules_seen = -1
        self.rebuilding = False
        # Project code that ran while the session started, and its files (`pytest_collection`).
        self.startup_code: list[tuple[str, int]] = []
        self.startup_roots: list[str] = []
        self.ran = 0
        self.total = 0
        self._error_types = (DifftestError, OSError)
        self._previous_sigterm: Any = None
        # What became of the shared baseline (--diff-remote), for the header.
        self.remote_status: str | None = None
        if settings.mode == "baseline" and role != "worker":
            self._interrupt_on_sigterm()
        if role == "worker":
            self._receive_selection(getattr(config, "workerinput", {}).get("difftest"))
        else:
            self._start(Engine)

    def _start(self, engine_class: Any) -> None:
        """Opens the database, brings in the shared baseline, and selects."""
        settings = self.settings
        try:
            self.engine = self._open(engine_class)
            self.engine.set_variant(settings.variant)
            self.facts = self._facts()
            self.engine.set_facts(sorted(self.facts.items()))
            if settings.remote_url is not None:
                from pytest_difftest._sharing import fetch_and_merge

                self.remote_status = fetch_and_merge(self.engine, settings)
            self._select()
        except self._error_types as error:
            self._give_up(f"cannot use the database, running every test: {error}")
        except pytest.UsageError:
            self.close()
            raise
        if self.engine is not None and settings.mode == "diff":
            self._check_ancestry()

    def _check_ancestry(self) -> None:
        """Warns when the baseline was recorded on a commit that HEAD does not contain: the
        baseline then describes code this checkout never had."""
        commit = self.engine.meta("commit")
        if not commit:
            return
        try:
            result = subprocess.run(
                ["git", "merge-base", "--is-ancestor", commit, "HEAD"],
                cwd=self.config.rootpath,
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return  # no git
        # 0: an ancestor; 1: not one; anything else: not a repository, or an unknown commit.
        if result.returncode == 1:
            self.notes.append(
                f"warning: the baseline's commit {commit[:10]} is not an ancestor of HEAD: "
                "it was recorded on code this branch does not contain"
            )

    def _start_watchers(self) -> None:
        """What records non-code dependencies in a process that runs tests."""
        self.data = DataWatcher(self.files)
        if self.settings.subprocess:
            self.subprocesses = SubprocessHook()
            self.subprocesses.follow_forks(self._forked_start, self._forked_finish)

    def _open(self, engine_class: Any) -> Any:
        from pytest_difftest._core import SchemaVersionError

        settings = self.settings
        try:
            engine = engine_class(settings.db_path, self.config.rootpath, settings.cache_size)
        except self._error_types as error:
            older = isinstance(error, SchemaVersionError) and error.args[1] < error.args[2]
            rebuilt = settings.mode == "baseline" or settings.remote_url is not None
            if not (settings.force or (older and rebuilt)):
                raise
            # A rebuild was asked for, or the baseline is from an older version of the tool
            # (whose data this version cannot use) and this run rebuilds it, or starts from the
            # remote baseline: keep the old file next to the new one.
            kept = _set_aside(settings.db_path)
            why = "is from an older version" if older else "could not be opened"
            how = "a full run" if settings.mode == "baseline" else "the remote baseline"
            self.notes.append(f"the old database {why}; rebuilt from {how}, kept at {kept}")
            engine = engine_class(settings.db_path, self.config.rootpath, settings.cache_size)
        if settings.force:
            engine.clear()
        # A baseline into an empty database records everything: compacted when it is done.
        self.rebuilding = settings.mode == "baseline" and engine.test_count() == 0
        return engine

    def _facts(self) -> dict[str, str]:
        """The environment facts pseudo-files stand for, computed once per run."""
        facts = env.config_facts(self.config.inipath, self.machinery)
        facts.update(env.distribution_facts())
        facts.update(env.glob_facts(self.config.rootpath, self.engine.pseudo_files()))
        return facts

    def _give_up(self, note: str) -> None:
        """Stop using the database for the rest of the session; every test still runs."""
        self.notes.append(note)
        self.engine = None
        self.selection = None
        self.close()

    def selection_for_workers(self) -> dict[str, list[str]] | None:
        """What a worker needs to deselect exactly as this process would."""
        if self.selection is None:
            return None
        return {
            "selected": sorted(self.selected),
            "known_tests": sorted(self.known_tests),
            "known_files": sorted(self.known_files),
            "collect_files": sorted(self.collect_files),
        }

    def _receive_selection(self, payload: dict[str, list[str]] | None) -> None:
        if payload is None:
            return  # the controller could not use the database: run everything
        self.selection = payload
        self.selected = set(payload["selected"])
        self.known_tests = set(payload["known_tests"])
        self.known_files = set(payload["known_files"])
        self.collect_files = set(payload["collect_files"])

    def _select(self) -> None:
        skip_dirs = [str(pattern) for pattern in self.config.getini("norecursedirs")]
        patterns = [str(pattern) for pattern in self.config.getini("python_files")]
        selection = self.engine.select(patterns, skip_dirs)
        if self.settings.mode == "baseline":
            self.engine.adopt_new_files()
        self.selection = selection
        self.known_tests = set(selection.known_tests)
        if not self.known_tests:
            return  # first run: everything runs
        self.selected = set(selection.selected)
        self.reasons = dict(zip(selection.selected, selection.reasons))
        self.known_files = set(selection.known_files)
        self.collect_files = set(selection.collect_files)
        why_all = {
            env.CONFIG_INI: "the pytest configuration changed",
            env.CONFIG_PLUGINS: "the installed pytest plugins changed",
            env.PYTHON: "the Python version changed",
        }
        for changed in selection.changed:
            if changed.path in why_all and changed.blocks:
                self.notes.append(f"{why_all[changed.path]}: every test is selected")
            if changed.parse_error:
                self.notes.append(
                    f"{changed.path} does not parse ({changed.parse_error}): "
                    "every test that imports it is selected"
                )

    def _interrupt_on_sigterm(self) -> None:
        """Turns SIGTERM (a CI timeout, a killed job) into KeyboardInterrupt, so pytest ends the
        session normally and the tests that finished are written, as with Ctrl-C. Only when
        nobody else handles SIGTERM."""
        if not hasattr(signal, "SIGTERM") or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
            return

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt("SIGTERM")

        with contextlib.suppress(ValueError):  # not the main thread
            self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

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
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # -- reporting ---------------------------------------------------------------------------

    def pytest_report_header(self) -> list[str]:
        mode = "--diff-baseline" if self.settings.mode == "baseline" else "--diff"
        line = f"difftest: {mode}, database {self.settings.db_path}"
        if self.settings.variant:
            line += f", variant {self.settings.variant!r}"
        if self.engine is not None:
            created = self.engine.meta("created")
            if created and self.settings.variant and not self.known_tests:
                line += ", no baseline for this variant yet: running every test"
            elif created:
                line += f", baseline from {_format.age(float(created))} ago"
                commit = self.engine.meta("commit")
                if commit:
                    line += f" at {commit[:10]}"
            elif self.known_tests:
                line += ", the last baseline did not finish"
            elif self.settings.mode == "diff":
                line += ", no baseline yet: running every test"
        lines = [line]
        if self.remote_status is not None:
            lines.append(f"difftest: {self.remote_status}")
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        for note in self.notes:
            write(f"difftest: {note}")
        if self.selection is None or not self.known_tests:
            return
        changed = [c for c in self.selection.changed if c.blocks]
        blocks = sum(len(c.blocks) for c in changed)
        deselected = self.total - self.ran
        line = (
            f"difftest: {self.ran:,} of {self.total:,} tests selected "
            f"({blocks} changed block{'s' * (blocks != 1)} in {len(changed)} "
            f"file{'s' * (len(changed) != 1)}); {deselected:,} deselected"
        )
        # Both figures come from the durations recorded in the baseline: rough, but free.
        saved = self.selection.deselected_duration
        if deselected and saved >= 0.05:
            line += f", saved about {_format.duration(saved)}"
        if self.config.option.collectonly:
            estimate = _format.duration(self.selection.selected_duration)
            line += f"; running them would take about {estimate}"
        write(line)
        if self.settings.explain:
            for nodeid in self.ran_ids:
                write(f"difftest: why {nodeid}: {self.reasons.get(nodeid, 'new test')}")
        if self.settings.verbose:
            for file in changed:
                state = " (deleted)" if file.deleted else ""
                write(f"difftest:   {file.path}{state}: {', '.join(file.blocks)}")
            for path in self.selection.new_files:
                write(f"difftest:   {path} (new)")

    # -- collection ----------------------------------------------------------------------------

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        name = collection_path.name
        if (
            not self.known_files
            or not name.endswith(".py")
            or name in ("conftest.py", "__init__.py")
        ):
            return None
        relative = self.files.relative_fast(str(collection_path))
        if relative in self.known_files and relative not in self.collect_files:
            return True
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.items = {item.nodeid: item for item in items}
        if self.selection is None:
            return
        if self.settings.mode == "baseline" and self.engine is not None:
            try:
                self._track_collected(items)
            except self._error_types as error:
                self._give_up(f"recording stopped, the baseline is unchanged: {error}")
                return
        if not self.known_tests:
            return
        keep = [i for i in items if i.nodeid in self.selected or i.nodeid not in self.known_tests]
        self.ran_ids = [item.nodeid for item in keep]
        if len(keep) != len(items):
            kept = {item.nodeid for item in keep}
            self.config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in kept])
            items[:] = keep

    def _track_collected(self, items: list[pytest.Item]) -> None:
        """Stores new tests as pending (so that deselection by -k or an interrupted run cannot
        hide them), and forgets stored tests that are gone from the files just collected."""
        pending = []
        for item in items:
            if item.nodeid not in self.known_tests:
                pending.append((item.nodeid, self._file_of(item)))
        if pending:
            self.engine.add_pending(pending)
        if any("::" in arg for arg in self.config.args):
            return  # collected by node id: other tests of those files were not looked at
        # A file collected now lost the stored tests it no longer has; a file that is gone lost
        # all of them. Each other file is looked for once: an incremental run collects few.
        collected_files = {self._file_of(item) for item in items}
        root = self.config.rootpath
        exists: dict[str, bool] = {}
        gone = []
        for nodeid in self.known_tests:
            if nodeid in self.items:
                continue
            file = nodeid.partition("::")[0]
            if file not in collected_files:
                if file not in exists:
                    exists[file] = (root / file).exists()
                if exists[file]:
                    continue
            gone.append(nodeid)
        if gone:
            self.engine.remove_tests(gone)

    def workers_collected(self, nodeids: list[str]) -> None:
        """Controller side: what the workers collected (and did not deselect)."""
        self.ran = len(nodeids)
        self.ran_ids = nodeids
        self.total = len(self.known_tests | set(nodeids))
        if self.settings.mode != "baseline" or self.engine is None:
            return
        unknown = [(n, n.partition("::")[0]) for n in nodeids if n not in self.known_tests]
        try:
            if unknown:
                self.engine.add_pending(unknown)
        except self._error_types as error:
            self._give_up(f"recording stopped, the baseline is unchanged: {error}")

    def _file_of(self, item: pytest.Item) -> str:
        relative = self.files.relative(str(item.path))
        return relative if relative is not None else item.nodeid.partition("::")[0]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.ran = len(session.items)
        self.total = len(self.known_tests | set(self.items))

    # -- running and recording ------------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.recorder is None:
            return
        before = self.recorder.start_test()
        if self.data is not None:
            self.data.take()  # between tests: pytest's own reading
        if self.subprocesses is not None:
            self.subprocesses.take()
        if self.modules_seen < 0:
            # What ran before the first test ran while modules were being imported, or while
            # the session started.
            self._refresh_modules()
            self._send("import_time", executed_code(before, self.files) + self.startup_code)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self) -> None:
        """Start-up is over. Project code that ran in it (called by a plugin configuring the
        session) may have left state that any test sees, whether or not it imports that code:
        its files become roots of every test, like the conftest.py files above it."""
        if self.recorder is None:
            return
        self.startup_code = executed_code(self.recorder.start_test(), self.files)
        files = {path for path, _ in self.startup_code}
        self.startup_roots = sorted(p for p in files if p.rpartition("/")[2] != "conftest.py")
        self.recorder.pause()  # from now on, only windows are observed

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
        payload = getattr(report, "difftest", None)
        if payload is not None and self.role == "controller":
            self._receive(payload)
        outcome = _merge_outcome(self.outcomes.pop(report.nodeid, None), report)
        if report.when != "teardown":
            self.outcomes[report.nodeid] = outcome
        elif self.role != "worker":
            self.outcome_counts[outcome[0]] = self.outcome_counts.get(outcome[0], 0) + 1

    def _finish_test(self, item: pytest.Item, teardown: pytest.TestReport) -> None:
        assert self.recorder is not None
        executed = self.recorder.stop_test()
        outcome, duration = _merge_outcome(self.outcomes.get(item.nodeid), teardown)
        test_file = self._file_of(item)
        ran = executed_code(executed, self.files)
        if any(line == 0 for _, line in ran):
            # The test imported a project module for the first time: what ran during that import
            # is import-time code that later tests rely on without running it. It cannot be told
            # apart from what the test ran itself, so all of it counts (outside the test's file).
            self._refresh_modules()
            self._send("import_time", [(path, line) for path, line in ran if path != test_file])
        code = ran + static_code(item, self.files)
        for definition in requested_fixtures(item):
            code.extend(self.fixture_code.get(definition, ()))
        roots = [test_file, *self.files.conftests_above(test_file), *self.startup_roots]
        data = self._data_of(item, test_file, executed)
        if self.subprocesses is not None:
            child_code, child_opened = self.subprocesses.take()
            for filename, line in child_code:
                relative = self.files.relative(filename)
                if relative is not None:
                    code.append((relative, line))
            if self.data is not None:
                found = (self.data.data_file(path) for path in child_opened)
                data = sorted({*data, *(path for path in found if path is not None)})
        record = (item.nodeid, test_file, outcome, duration, code, roots, names_used(item), data)
        if self.role == "worker":
            self._refresh_modules()
            self._send("record", record)
            teardown.difftest = self.outbox  # type: ignore[attr-defined]
            self.outbox = {}
        else:
            self.batch.append(record)
            if len(self.batch) >= self.settings.batch_size:
                self._flush()

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

    def _data_of(self, item: pytest.Item, test_file: str, executed: Executed) -> list[str]:
        """The test's non-code dependencies: data files it (its module's import, its fixtures)
        read, declared globs, the distributions it used, the facts every test depends on."""
        data: set[str] = set(env.GLOBAL_FACTS)
        if self.data is not None:
            data.update(self.data.take())
        data.update(self.module_data.get(test_file, ()))
        for definition in requested_fixtures(item):
            data.update(self.fixture_data.get(definition, ()))
        root = self.config.rootpath
        globs = [str(arg) for mark in item.iter_markers("diff_depends") for arg in mark.args]
        globs += [
            g for rule, files in self.settings.depends if fnmatch(item.nodeid, rule) for g in files
        ]
        for pattern in globs:
            data.add(env.GLOB_PREFIX + pattern)
            data.update(env.glob_matches(root, pattern))
        if item.get_closest_marker("diff_always") is not None or any(
            fnmatch(item.nodeid, pattern) for pattern in self.settings.always
        ):
            data.add(env.ALWAYS)
        if self.dists is None:
            cache = self.settings.db_path.with_name("import-owners.json")
            self.dists = env.DistributionMap(self.files, self.machinery, cache)
        module = getattr(item, "module", None)
        dists = self.dists.of_code(executed.values()) | set(self.dists.of_module(module))
        dists |= self.dists.of_project_code(executed.values())
        data.update(env.DIST_PREFIX + name for name in dists)
        return sorted(data)

    def _send(self, kind: str, value: Any) -> None:
        """Hands recorded facts to whoever writes: the engine here, or, in an xdist worker, the
        next report, which carries them to the controller."""
        if self.role == "worker":
            self.outbox[kind] = value
        elif self.engine is not None:
            try:
                if kind == "modules":
                    self.engine.set_modules(value)
                elif kind == "import_time":
                    self.engine.mark_import_time(value)
            except self._error_types as error:
                self._give_up(f"recording stopped, the baseline is incomplete: {error}")

    def _receive(self, payload: dict[str, Any]) -> None:
        """Controller side: what a worker recorded for one test."""
        if self.engine is None:
            return
        if "modules" in payload:
            # Workers import the same project; the union serves them all.
            self.modules.update((name, path) for name, path in payload["modules"])
            self._send("modules", sorted(self.modules.items()))
        if "import_time" in payload:
            self._send("import_time", [tuple(ref) for ref in payload["import_time"]])
        if "record" in payload:
            nodeid, file, outcome, duration, code, roots, names, data = payload["record"]
            code = [tuple(ref) for ref in code]
            self.batch.append((nodeid, file, outcome, duration, code, roots, names, data))
            if len(self.batch) >= self.settings.batch_size:
                self._flush()

    def _add_glob_facts(self, batch: list[Any]) -> None:
        """Declared globs the selection did not know: their facts are needed to record them."""
        new = {
            path
            for record in batch
            for path in record[7]
            if path.startswith(env.GLOB_PREFIX) and path not in self.facts
        }
        if new:
            self.facts.update(env.glob_facts(self.config.rootpath, sorted(new)))
            self.engine.set_facts(sorted(self.facts.items()))

    def _refresh_modules(self) -> None:
        if len(sys.modules) != self.modules_seen:
            self.modules_seen = len(sys.modules)
            self._send("modules", self.files.module_map())

    def _flush(self) -> None:
        if self.batch and self.engine is not None:
            batch, self.batch = self.batch, []
            try:
                if self.role == "single":
                    self._refresh_modules()
                self._add_glob_facts(batch)
                self.engine.record(batch)
            except self._error_types as error:
                self._give_up(f"recording stopped, the baseline is incomplete: {error}")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None]:
        if self.engine is not None and self.settings.mode == "baseline":
            self.close()
            self._flush()
            if self.engine is not None:
                try:
                    self.engine.finish(_baseline_facts(self.config.rootpath))
                    if self.rebuilding and self.role != "worker":
                        self.engine.compact()
                except self._error_types as error:
                    self._give_up(f"could not complete the baseline: {error}")
        if self.engine is not None and self.role != "worker" and not self.config.option.collectonly:
            self._remember_run()  # a listing is not a run: keep the last real one
        uploads = self.settings.upload and self.role != "worker"
        if uploads and session.exitstatus == pytest.ExitCode.INTERRUPTED:
            # Whoever interrupted the run wants it over, not a transfer; the next run uploads.
            self.notes.append(f"not uploaded to {self.settings.remote_url}: interrupted")
        elif uploads and not self._upload() and session.exitstatus == pytest.ExitCode.OK:
            # The tests passed, but the baseline the job was meant to publish is not there.
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self.known_tests:
            # Nothing was affected: that is success, not a mistake in the command line.
            session.exitstatus = pytest.ExitCode.OK
        return (yield)

    def _remember_run(self) -> None:
        """Stores what this session ran, and why, for `pytest-difftest inspect` and `report`.
        Only informative: a database that cannot take it does not fail the session."""
        facts = {
            "mode": f"--{'diff-baseline' if self.settings.mode == 'baseline' else 'diff'}",
            "time": time.time(),
            "outcomes": dict(sorted(self.outcome_counts.items())),
        }
        meta = [("last_run", json.dumps(facts))]
        if self.selection is not None and self.known_tests:
            changed = [c for c in self.selection.changed if c.blocks]
            selection = {
                **facts,
                "total": self.total,
                "saved_seconds": self.selection.deselected_duration,
                "changed": [
                    {"path": c.path, "blocks": list(c.blocks), "deleted": c.deleted}
                    for c in changed
                ],
                "new_files": list(self.selection.new_files),
                "selected": [
                    {"nodeid": nodeid, "reason": self.reasons.get(nodeid, "new test")}
                    for nodeid in self.ran_ids
                ],
            }
            meta.append(("last_selection", json.dumps(selection)))
        with contextlib.suppress(*self._error_types):
            self.engine.set_meta(meta)

    def _upload(self) -> bool:
        """Uploads the finished baseline; False (with a note) if it could not."""
        from pytest_difftest._remote import RemoteError

        url = self.settings.remote_url
        if self.engine is None:
            self.notes.append(f"not uploaded to {url}: the baseline is incomplete")
            return False
        try:
            from pytest_difftest._sharing import upload

            upload(self.engine, self.settings)
        except (RemoteError, *self._error_types) as error:
            self.notes.append(f"upload failed: {error}")
            return False
        self.notes.append(f"baseline uploaded to {url}")
        return True


def _merge_outcome(
    previous: tuple[str, float] | None, report: pytest.TestReport
) -> tuple[str, float]:
    """A test's outcome so far, given one more phase's report: any failure fails it, a skip
    (xfail included) skips it."""
    outcome, duration = previous or ("passed", 0.0)
    if report.failed:
        outcome = "failed"
    elif report.skipped and outcome == "passed":
        outcome = "skipped"
    return outcome, duration + report.duration


def _baseline_facts(root: Path) -> list[tuple[str, str]]:
    from pytest_difftest import __version__

    facts = [
        ("created", str(time.time())),
        ("tool_version", __version__),
        ("python", platform.python_version()),
        ("platform", sys.platform),
    ]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        facts.append(("commit", commit))
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout, or no git: the baseline simply has no commit
    return facts


def _set_aside(db_path: Path) -> Path:
    """Moves a database (and its WAL files) out of the way; returns where it went."""
    kept = db_path.with_name(f"{db_path.name}.broken-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        source = db_path.with_name(db_path.name + suffix)
        if source.exists():
            source.replace(kept.with_name(kept.name + suffix))
    return kept


__all__ = ["DifftestPlugin"]
