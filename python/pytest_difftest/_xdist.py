"""pytest-xdist: which role this process plays, and the controller's xdist-only hooks.

With xdist the controller runs no test: it selects once, hands the selection to every worker
with its start-up input, and is the only process that writes the database. Workers deselect
with that selection and send what each test executed along with its teardown report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_difftest.plugin import DifftestPlugin


def xdist_role(config: pytest.Config) -> str:
    """ "single" (no pytest-xdist), "controller" (runs no test) or "worker" (runs tests)."""
    if hasattr(config, "workerinput"):
        return "worker"
    if getattr(config.option, "dist", "no") != "no":
        return "controller"
    return "single"


class XdistController:
    """pytest-xdist hooks of the controller, registered only when it runs workers."""

    def __init__(self, plugin: DifftestPlugin) -> None:
        self.plugin = plugin
        self.counted = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["difftest"] = self.plugin.selection_for_workers()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.counted:  # every worker collects the same tests
            self.counted = True
            self.plugin.workers_collected(ids)
