"""A test's outcome and duration, put together from the reports of its phases."""

from __future__ import annotations

import pytest


class Outcomes:
    """Each test's outcome and duration so far, from its phases' reports: any failure fails
    it, a skip (xfail included) skips it, unless a marker a collection hook added skipped it
    (see `with_teardown`)."""

    def __init__(self) -> None:
        # Tests whose teardown has not been reported yet.
        self._so_far: dict[str, tuple[str, float]] = {}
        # The skip markers each test had before the collection hooks ran (by `id`).
        self._source_skips: dict[str, set[int]] = {}

    def note_source_skips(self, items: list[pytest.Item]) -> None:
        """Called before any collection hook of a conftest or plugin adds markers."""
        self._source_skips = {item.nodeid: found for item in items if (found := _skips(item))}

    def add(self, report: pytest.TestReport) -> tuple[str, float] | None:
        """Takes one phase's report; returns the test's final outcome after its teardown."""
        outcome = _merged(self._so_far.pop(report.nodeid, None), report)
        if report.when != "teardown":
            self._so_far[report.nodeid] = outcome
            return None
        return outcome

    def with_teardown(self, teardown: pytest.TestReport, item: pytest.Item) -> tuple[str, float]:
        """The final outcome, given the teardown report before it is logged. A test skipped by
        a marker a hook added (the `--runslow` conftest, pytest-benchmark's
        `--benchmark-skip`) has not run against its code, the run's options decided: it is
        "pending", owed to a run that lets it run."""
        outcome, duration = _merged(self._so_far.get(teardown.nodeid), teardown)
        if outcome == "skipped" and _skips(item) - self._source_skips.get(item.nodeid, set()):
            outcome = "pending"
        return outcome, duration


def _merged(previous: tuple[str, float] | None, report: pytest.TestReport) -> tuple[str, float]:
    outcome, duration = previous or ("passed", 0.0)
    if report.failed:
        outcome = "failed"
    elif report.skipped and outcome == "passed":
        outcome = "skipped"
    return outcome, duration + report.duration


def _skips(item: pytest.Item) -> set[int]:
    """The skip and skipif markers of `item` and the nodes above it, by identity."""
    return {id(mark) for name in ("skip", "skipif") for mark in item.iter_markers(name)}
