"""The role of a process that owns the database: without pytest-xdist, the only process; with
it, the controller (see `xdist.ControllerSession`, which adds the exchange with the workers).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Generator
from typing import Any

import pytest

from pytest_difftest import display
from pytest_difftest.database import Database
from pytest_difftest.items import test_file_of
from pytest_difftest.outcomes import Outcomes
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder import Recorder
from pytest_difftest.recording import Recording
from pytest_difftest.records import DatabaseWriter
from pytest_difftest.selecting import Selecting, nothing_affected
from pytest_difftest.settings import Settings


class DatabaseSession:
    """The role of a process that owns the database: without pytest-xdist, the only process;
    with it, the controller (see `xdist.ControllerSession`). It selects once at start; in a
    baseline it writes the records (its own, or the workers'), settles the database at the end
    and uploads it."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        files: ProjectFiles,
        recorder: Recorder | None,
    ) -> None:
        database = Database(config, settings)
        self.config = config
        self.settings = settings
        self.files = files
        self.database = database
        self.plan = database.open_and_select()
        self.selecting = Selecting(config, files, self.plan, self._collected)
        self.writer: DatabaseWriter | None = None
        self.recording: Recording | None = None
        if database.engine is not None and settings.baseline:
            self.writer = DatabaseWriter(
                database.engine, settings, config.rootpath, database.give_up
            )
            self.writer.facts = dict(database.facts)
            if recorder is not None:
                self.recording = Recording(config, settings, files, recorder, self.writer)
                recorder = None
        if recorder is not None:
            recorder.close()  # nothing to record into
        # How many tests of this session ended in each outcome, for `pytest-difftest inspect`.
        self.outcome_counts: dict[str, int] = {}
        self.outcomes = Outcomes()
        self._previous_sigterm: Any = None
        if settings.baseline and database.engine is not None:
            self._interrupt_on_sigterm()
        database.on_give_up.append(self._stop)

    def plugins(self) -> list[tuple[object, str]]:
        """The hook objects this role registers besides itself, with their names."""
        found = self.selecting.hooks()
        if self.recording is not None:
            found.append((self.recording, "difftest-recording"))
        return found

    def _collected(self, items: list[pytest.Item]) -> None:
        if self.settings.baseline and self.plan is not None:
            collected = {item.nodeid: test_file_of(item, self.files) for item in items}
            self.database.store_collected(collected, self.plan.known_tests)

    def _stop(self) -> None:
        """The database is given up: select nothing away, record nothing more."""
        self.selecting.drop()
        if self.writer is not None:
            self.writer.engine = None
        self.close()

    def close(self) -> None:
        if self.recording is not None:
            self.recording.close()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

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

    def pytest_report_header(self) -> list[str]:
        known_tests = self.plan.known_tests if self.plan is not None else set()
        database = self.database
        settings = self.settings
        line = f"difftest: {settings.option}, database {settings.db_path}"
        if settings.variant:
            line += f", variant {settings.variant!r}"
        if database.engine is not None:
            created = display.stored_time(database.engine.meta("created"))
            if created is not None and settings.variant and not known_tests:
                line += ", no baseline for this variant yet: running every test"
            elif created is not None:
                line += f", baseline from {display.age(created)} ago"
                commit = database.engine.meta("commit")
                if commit:
                    line += f" at {commit[:10]}"
            elif known_tests:
                line += ", the last baseline did not finish"
            elif not settings.baseline:
                line += ", no baseline yet: running every test"
        lines = [line]
        if database.remote_status is not None:
            lines.append(f"difftest: {database.remote_status}")
        return [display.printable(line) for line in lines]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = [f"difftest: {note}" for note in self.database.notes]
        lines.extend(self.selecting.summary(self.settings))
        for line in lines:
            # Notes and the summary name tests, files and blocks: text from the checkout and
            # from the database, which someone else may have written.
            terminalreporter.write_line(display.printable(line))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        finished = self.outcomes.add(report)
        if finished is not None:
            self.outcome_counts[finished[0]] = self.outcome_counts.get(finished[0], 0) + 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None]:
        database, settings = self.database, self.settings
        if database.engine is not None and settings.baseline:
            self.close()  # recording ends before the last records are written
            if self.writer is not None:
                self.writer.flush()
            database.finish_baseline()
        if not self.config.option.collectonly:
            # A listing is not a run: keep the last real one.
            database.remember_run(self.outcome_counts, self.selecting, self.selecting.plan)
        if settings.upload and session.exitstatus == pytest.ExitCode.INTERRUPTED:
            # Whoever interrupted the run wants it over, not a transfer; the next run uploads.
            database.notes.append(f"not uploaded to {settings.remote_url}: interrupted")
        elif settings.upload and not database.upload() and session.exitstatus == pytest.ExitCode.OK:
            # The tests passed, but the baseline the job was meant to publish is not there.
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        result = yield
        nothing_affected(session, self.plan)
        return result
