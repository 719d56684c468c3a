"""pytest-xdist: the controller's and the workers' roles, and what travels between them.

With xdist the controller runs no test: it selects once, hands the selection to every worker
with its start-up input, and is the only process that writes the database. Workers deselect
with that selection and send what each test executed along with its teardown report (the
report's ``difftest`` attribute, which xdist serializes with it).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder import Recorder
from pytest_difftest.recording import Recording
from pytest_difftest.records import CodeBeneath, CodeRef, Record
from pytest_difftest.selecting import Plan, Selecting, nothing_affected
from pytest_difftest.session import DatabaseSession
from pytest_difftest.settings import Settings

# The key of the controller's selection in a worker's start-up input.
_INPUT_KEY = "difftest"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    return not is_worker(config) and getattr(config.option, "dist", "no") != "no"


class ControllerSession(DatabaseSession):
    """The controller: selects for the workers and writes what they record."""

    def __init__(self, config: pytest.Config, settings: Settings, files: ProjectFiles) -> None:
        super().__init__(config, settings, files, recorder=None)  # the workers record
        self.modules: dict[str, str] = {}
        self.counted = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        plan = self.selecting.plan
        node.workerinput[_INPUT_KEY] = plan.payload() if plan is not None else None

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.counted:
            return  # every worker collects the same tests
        self.counted = True
        self.selecting.workers_collected(ids)
        if self.settings.baseline and self.plan is not None:
            self.database.add_pending(ids, self.plan.known_tests)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, _INPUT_KEY, None)
        if payload is not None and self.writer is not None:
            self._receive(payload)
        super().pytest_runtest_logreport(report)

    def _receive(self, payload: dict[str, Any]) -> None:
        """What a worker recorded for one test."""
        assert self.writer is not None
        if "modules" in payload:
            # Workers import the same project; the union serves them all.
            self.modules.update((name, path) for name, path in payload["modules"])
            self.writer.modules(sorted(self.modules.items()))
        if "import_time" in payload:
            self.writer.import_time([(path, line) for path, line in payload["import_time"]])
        if "read_whole" in payload:
            self.writer.read_whole(list(payload["read_whole"]))
        for module, code, data in payload.get("module_imports", ()):
            ran = [(path, line, beneath) for path, line, beneath in code]
            self.writer.module_import(module, ran, list(data))
        if "record" in payload:
            record = Record(*payload["record"])
            # xdist's serializer may hand tuples back as lists: the core reads tuples.
            self.writer.record(
                record._replace(
                    code=[(path, line) for path, line in record.code],
                    openers=[
                        (path, [(file, line) for file, line in openers])
                        for path, openers in record.openers
                    ],
                )
            )


class WorkerOutbox:
    """A worker's `RecordSink`: what it learns rides on the next teardown report."""

    def __init__(self) -> None:
        self.outbox: dict[str, Any] = {}

    def modules(self, module_map: list[tuple[str, str]]) -> None:
        self.outbox["modules"] = module_map

    def import_time(self, code: list[CodeRef]) -> None:
        self.outbox.setdefault("import_time", []).extend(code)

    def module_import(self, module: str, code: list[CodeBeneath], data: list[str]) -> None:
        self.outbox.setdefault("module_imports", []).append((module, code, data))

    def read_whole(self, modules: list[str]) -> None:
        self.outbox.setdefault("read_whole", []).extend(modules)

    def record(self, record: Record, teardown: pytest.TestReport) -> None:
        self.outbox["record"] = tuple(record)  # xdist serializes plain tuples
        teardown.difftest = self.outbox  # type: ignore[attr-defined]
        self.outbox = {}


class WorkerSession:
    """A worker: deselects with the controller's selection and records for it."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        files: ProjectFiles,
        recorder: Recorder | None,
    ) -> None:
        payload = getattr(config, "workerinput", {}).get(_INPUT_KEY)
        # No payload: the controller could not use the database, and every test runs.
        self.plan = Plan.from_payload(payload) if payload is not None else None
        self.selecting = Selecting(config, files, self.plan)
        self.recording: Recording | None = None
        if recorder is not None:
            self.recording = Recording(config, settings, files, recorder, WorkerOutbox())

    def plugins(self) -> list[tuple[object, str]]:
        found = self.selecting.hooks()
        if self.recording is not None:
            found.append((self.recording, "difftest-recording"))
        return found

    def close(self) -> None:
        if self.recording is not None:
            self.recording.close()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None]:
        result = yield
        nothing_affected(session, self.plan)
        return result
