"""A test's outcome and duration, put together from the reports of its phases."""

from __future__ import annotations

import pytest


class Outcomes:
    """Each test's outcome and duration so far, from its phases' reports: any failure fails
    it, a skip (xfail included) skips it."""

    def __init__(self) -> None:
        # Tests whose teardown has not been reported yet.
        self._so_far: dict[str, tuple[str, float]] = {}

    def add(self, report: pytest.TestReport) -> tuple[str, float] | None:
        """Takes one phase's report; returns the test's final outcome after its teardown."""
        outcome = _merged(self._so_far.pop(report.nodeid, None), report)
        if report.when != "teardown":
            self._so_far[report.nodeid] = outcome
            return None
        return outcome

    def with_teardown(self, teardown: pytest.TestReport) -> tuple[str, float]:
        """The final outcome, given the teardown report before it is logged."""
        return _merged(self._so_far.get(teardown.nodeid), teardown)


def _merged(previous: tuple[str, float] | None, report: pytest.TestReport) -> tuple[str, float]:
    outcome, duration = previous or ("passed", 0.0)
    if report.failed:
        outcome = "failed"
    elif report.skipped and outcome == "passed":
        outcome = "skipped"
    return outcome, duration + report.duration
