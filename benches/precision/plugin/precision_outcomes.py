"""pytest plugin of the precision benchmark: writes which tests ran and how they ended.

Loaded with `-p precision_outcomes` in every run (oracle and tools alike, from a directory on
PYTHONPATH outside the project), it writes a JSON file named by $PRECISION_OUTCOMES:

    {"ran": [nodeid, ...], "failed": [...], "errors": [...], "collect_errors": [...]}

"ran" is every test whose setup started, so a test a tool deselected is absent. A test fails
when its call (or one of its subtests, or a strict xfail that passed) failed; it errors when its
setup or teardown did.
"""

from __future__ import annotations

import json
import os
from typing import Any

_ran: dict[str, None] = {}
_failed: dict[str, None] = {}
_errors: dict[str, None] = {}
_collect_errors: list[str] = []


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "setup":
        _ran[report.nodeid] = None
    if not report.failed:
        return
    if report.when == "call":
        _failed[report.nodeid] = None
    else:
        _errors[report.nodeid] = None


def pytest_collectreport(report: Any) -> None:
    if report.failed:
        _collect_errors.append(report.nodeid or "<session>")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    target = os.environ.get("PRECISION_OUTCOMES")
    if not target:
        return
    outcomes = {
        "ran": list(_ran),
        "failed": list(_failed),
        "errors": list(_errors),
        "collect_errors": _collect_errors,
        "exitstatus": int(exitstatus),
    }
    with open(target, "w", encoding="utf-8") as out:
        json.dump(outcomes, out)
