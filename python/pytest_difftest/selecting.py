"""Collection-time selection: test files with nothing selected are not even collected, and the
unaffected tests of the others are deselected (as ``-k`` does, through ``pytest_deselected``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_difftest import display
from pytest_difftest._core import Selection
from pytest_difftest.integrations import syrupy
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.settings import Settings


@dataclass
class Plan:
    """What the selection decided. With no stored test (a first run) every set is empty and
    everything runs."""

    selected: set[str] = field(default_factory=set)
    known_tests: set[str] = field(default_factory=set)
    known_files: set[str] = field(default_factory=set)
    # Known test files that hold a selected test, so must be collected.
    collect_files: set[str] = field(default_factory=set)
    # Why each selected test runs, by node id (from the same pass that selected it).
    reasons: dict[str, str] = field(default_factory=dict)
    # The core's `Selection`, in the process that selected (not in an xdist worker).
    details: Selection | None = None

    @classmethod
    def from_selection(cls, selection: Selection) -> Plan:
        known_tests = set(selection.known_tests)
        if not known_tests:
            return cls(details=selection)  # first run: everything runs
        return cls(
            selected=set(selection.selected),
            known_tests=known_tests,
            known_files=set(selection.known_files),
            collect_files=set(selection.collect_files),
            reasons=dict(zip(selection.selected, selection.reasons)),
            details=selection,
        )

    def payload(self) -> dict[str, list[str]]:
        """What an xdist worker needs to deselect exactly as the controller would."""
        return {
            "selected": sorted(self.selected),
            "known_tests": sorted(self.known_tests),
            "known_files": sorted(self.known_files),
            "collect_files": sorted(self.collect_files),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, list[str]]) -> Plan:
        return cls(
            selected=set(payload["selected"]),
            known_tests=set(payload["known_tests"]),
            known_files=set(payload["known_files"]),
            collect_files=set(payload["collect_files"]),
        )


# Called with the collected items before deselection (a baseline stores new tests then).
CollectedCallback = Callable[[list[pytest.Item]], None]


class Selecting:
    """The collection hooks. Without a plan (the database could not be used) every test runs."""

    def __init__(
        self,
        config: pytest.Config,
        files: ProjectFiles,
        plan: Plan | None,
        on_collected: CollectedCallback | None = None,
    ) -> None:
        self.config = config
        self.files = files
        self.plan = plan
        self.on_collected = on_collected
        self.items: dict[str, pytest.Item] = {}
        # The tests that run, for --diff-explain and the record of the run.
        self.ran_ids: list[str] = []
        self.ran = 0
        self.total = 0
        # Collected tests outside the tracked directories, which always run.
        self.untracked: set[str] = set()
        # Not collecting a test module is invisible to other plugins; one that must see every
        # module with snapshots is told of our choice by deselection only.
        self.collect_snapshot_modules = syrupy.needs_snapshot_modules_collected(config)

    def drop(self) -> None:
        """Gives the plan up: from now on, nothing is deselected."""
        self.plan = None

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        plan = self.plan
        name = collection_path.name
        if (
            plan is None
            or not plan.known_files
            or not name.endswith(".py")
            or name in ("conftest.py", "__init__.py")
        ):
            return None
        relative = self.files.relative_fast(str(collection_path))
        if relative in plan.known_files and relative not in plan.collect_files:
            if self.collect_snapshot_modules and syrupy.may_have_snapshots(collection_path):
                return None
            return True
        return None

    def hooks(self) -> list[tuple[object, str]]:
        """The hook objects to register, with their names: this one, and the deselection."""
        return [(self, "difftest-selecting"), (_Deselecting(self), "difftest-deselecting")]

    # First: the whole collection, before -k, -m or another plugin narrows it, is what a
    # baseline stores (a test -k leaves out is not gone).
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.items = {item.nodeid: item for item in items}
        if self.plan is not None and self.on_collected is not None:
            self.on_collected(items)

    def deselect(self, items: list[pytest.Item]) -> None:
        plan = self.plan  # gone if storing the collected tests failed
        if plan is None or not plan.known_tests:
            return
        # A test outside the tracked directories (`-c sub/ci.ini` makes sub/ the rootdir) has
        # no recorded code to compare: it always runs, and the summary says why.
        untracked = {i.nodeid for i in items if self.files.relative(str(i.path)) is None}
        self.untracked = untracked
        keep = [
            i
            for i in items
            if i.nodeid in plan.selected
            or i.nodeid not in plan.known_tests
            or i.nodeid in untracked
        ]
        self.ran_ids = [item.nodeid for item in keep]
        if len(keep) != len(items):
            kept = {item.nodeid for item in keep}
            self.config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in kept])
            items[:] = keep

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        known = self.plan.known_tests if self.plan is not None else set()
        self.ran = len(session.items)
        self.total = len(known | set(self.items))

    def workers_collected(self, nodeids: list[str]) -> None:
        """In an xdist controller: what the workers collected (and did not deselect)."""
        known = self.plan.known_tests if self.plan is not None else set()
        self.ran = len(nodeids)
        self.ran_ids = nodeids
        self.total = len(known | set(nodeids))

    def reason(self, nodeid: str) -> str:
        reasons = self.plan.reasons if self.plan is not None else {}
        if nodeid in self.untracked:
            return "outside the tracked directories: always runs"
        return reasons.get(nodeid, "new test")

    def summary(self, settings: Settings) -> list[str]:
        """The summary's lines: how many tests ran of how many, and with --diff-explain and
        --diff-v why, and what changed."""
        plan = self.plan
        if plan is None or not plan.known_tests or plan.details is None:
            return []
        selection = plan.details
        changed = [c for c in selection.changed if c.blocks]
        blocks = sum(len(c.blocks) for c in changed)
        deselected = self.total - self.ran
        line = (
            f"difftest: {self.ran:,} of {self.total:,} tests selected "
            f"({blocks} changed block{'s' * (blocks != 1)} in {len(changed)} "
            f"file{'s' * (len(changed) != 1)}); {deselected:,} deselected"
        )
        # Both figures come from the durations recorded in the baseline: rough, but free.
        saved = selection.deselected_duration
        if deselected and saved >= 0.05:
            line += f", saved about {display.duration(saved)}"
        if self.config.option.collectonly:
            estimate = display.duration(selection.selected_duration)
            line += f"; running them would take about {estimate}"
        lines = [line]
        if self.untracked:
            count = len(self.untracked)
            lines.append(
                f"difftest: {count:,} test{'s' * (count != 1)} outside the "
                f"tracked directories (rootdir {self.config.rootpath}) always run: set --rootdir "
                "or --diff-project-directory to where they are"
            )
        if settings.explain:
            lines.extend(
                f"difftest: why {nodeid}: {self.reason(nodeid)}" for nodeid in self.ran_ids
            )
        if settings.verbose:
            for file in changed:
                state = " (deleted)" if file.deleted else ""
                lines.append(f"difftest:   {file.path}{state}: {', '.join(file.blocks)}")
            lines.extend(f"difftest:   {path} (new)" for path in selection.new_files)
        return lines


class _Deselecting:
    """Deselects last, as ``-k`` deselects after the plugins that look at the whole collection:
    syrupy takes a collected test that did not run to be deselected, and keeps its snapshots."""

    def __init__(self, selecting: Selecting) -> None:
        self.selecting = selecting

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.selecting.deselect(items)


def nothing_affected(session: pytest.Session, plan: Plan | None) -> None:
    """No test ran because none was affected: that is success, not the mistake in the command
    line pytest's exit code 5 means. Called after every other plugin's `pytest_sessionfinish`
    (syrupy's puts pytest's own code back into the exit status)."""
    known = plan.known_tests if plan is not None else set()
    if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and known:
        session.exitstatus = pytest.ExitCode.OK
