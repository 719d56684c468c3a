"""Where a windowed recorder (Python < 3.12's) observes during tests.

Most of a test's protocol is pytest's own work, which is not the test's (and which a trace or
profile hook, the fallbacks there, would slow into tracing mode). These hooks open a window
(`Recorder.resume`) only where the project's code can run and close it (`Recorder.pause`)
after: the call and teardown phases (inside the other plugins' wrappers), each fixture's
setup, and the whole setup phase only when something other than fixtures runs project code
there. Project hook implementations and project module execution open windows of their own
(see `_recorder`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_difftest.items import code_of
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder.collector import Recorder


class RecordingWindows:
    """Registered next to the session plugin when its recorder is windowed."""

    def __init__(self, recorder: Recorder, files: ProjectFiles) -> None:
        self.recorder = recorder
        self.files = files
        # Which item and collector classes the project defines (see `_project_class`).
        self.project_classes: dict[type, bool] = {}

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None]:
        # Most of this phase is pytest's own machinery. The project's code in it runs in
        # fixtures (each observed, see `pytest_fixture_setup`) and in hooks it implements
        # (observed by hook monitoring); otherwise only in a project item class, or in a
        # skipif/xfail condition written as a string, which is evaluated here.
        if self._project_class(type(item)) or _string_conditions(item):
            return (yield from self._observe_phase(item))
        return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None]:
        return (yield from self._observe_phase(item))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None]:
        return (yield from self._observe_phase(item))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> Generator[None, Any, Any]:
        self.recorder.resume()
        try:
            return (yield)
        finally:
            self.recorder.pause()

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        """A collector class of the project's own (from a conftest's ``pytest_collect_file``)
        runs project code while collecting."""
        if not self._project_class(type(collector)):
            return (yield)
        self.recorder.resume()
        try:
            return (yield)
        finally:
            self.recorder.pause()

    def _observe_phase(self, item: pytest.Item) -> Generator[None]:
        self.recorder.resume()
        try:
            return (yield)
        finally:
            # pytest calls a project item's methods while reporting (``repr_failure``): the
            # recorder observes it until the test ends.
            if not self._project_class(type(item)):
                self.recorder.pause()

    def _project_class(self, cls: type) -> bool:
        """Whether a project defines this item or collector class (or a base of it)."""
        known = self.project_classes.get(cls)
        if known is None:
            # By its methods' code: a conftest's module name can be shared by several files.
            known = any(
                code is not None and self.files.relative(code.co_filename) is not None
                for klass in cls.__mro__
                for code in map(code_of, list(vars(klass).values()))
            )
            self.project_classes[cls] = known
        return known


def _string_conditions(item: pytest.Item) -> bool:
    """Whether a skipif or xfail mark of the item has a condition string (``"sys.version_info
    > (3,)"``), which pytest evaluates, calling whatever it names, while setting the test up."""
    for mark in item.iter_markers():
        if mark.name in ("skipif", "xfail"):
            conditions = (*mark.args, mark.kwargs.get("condition"))
            if any(isinstance(condition, str) for condition in conditions):
                return True
    return False
