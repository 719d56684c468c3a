"""The `sys.monitoring` recorder (Python >= 3.12)."""

from __future__ import annotations

import sys
from types import CodeType
from typing import Any, Callable

from pytest_difftest.recorder.collector import Collector, Executed

_TOOL_NAME = "pytest-difftest"


def _free_tools(monitoring: Any) -> list[int]:
    """The tool ids to take. 0, 1 and 2 belong to debuggers, coverage and profilers, and
    hypothesis takes 3 to explain a failure: we take 4 and 5 (set aside for optimizers, which
    no test run has), and 3 only when neither is free."""
    free = [tool for tool in (4, 5) if monitoring.get_tool(tool) is None]
    if not free and monitoring.get_tool(3) is None:
        free = [3]
    return free


class MonitoringRecorder(Collector):
    """`sys.monitoring` recorder (Python >= 3.12), with two tool ids.

    Re-arming with `restart_events()` would make every function the interpreter runs report
    once more after each test, pytest's own included, and re-instrument it: that was most of
    the recording cost. Instead a *discovery* tool listens globally and hears each code object
    once in the whole session (it returns DISABLE and is never restarted). Project code it
    hears gets local events on a second, *per-test* tool, which reports the first call in a
    test, switches that code object's events off, and switches them back on when the next
    test (or fixture part) starts: the work per test is proportional to the project code the
    test ran, nothing else. If only one tool id is free, it falls back to `restart_events()`.

    A project module's code object also gets a local PY_RETURN event, so that what runs while
    the module executes (its import) is collected on its own (see `Collector`).
    """

    def __init__(self, is_project: Callable[[str], bool]) -> None:
        super().__init__()
        monitoring: Any = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        self._monitoring = monitoring
        self._tools = _free_tools(monitoring)
        if not self._tools:
            raise RuntimeError("no free sys.monitoring tool id (3, 4 and 5 are in use)")
        for tool in self._tools:
            monitoring.use_tool_id(tool, _TOOL_NAME)
        self._events = monitoring.events.PY_START | monitoring.events.PY_RESUME
        # Code objects whose per-test events the current test switched off.
        self._quiet: list[CodeType] = []
        # Every project code object discovered: their local events are ours to clear.
        self._project_code: list[CodeType] = []
        self._two_tools = len(self._tools) == 2
        if self._two_tools:
            self._start_two_tools(is_project)
        else:
            self._start_one_tool(is_project)

    def _module_returns(self, code: CodeType, offset: int, value: object) -> object:
        self._module_ends(code)
        return None

    def _start_two_tools(self, is_project: Callable[[str], bool]) -> None:
        monitoring = self._monitoring
        discovery, per_test = self._tools
        seen, disable, returns = self._seen, monitoring.DISABLE, monitoring.events.PY_RETURN
        set_local, quiet, module_begins = (
            monitoring.set_local_events,
            self._quiet,
            self._module_begins,
        )
        project_code = self._project_code.append
        open_modules, runs_in_module = self._open_modules, self._runs_in_module
        module_frame, frame_of = self._module_frame, sys._getframe
        wanted_files: dict[str, bool] = {}

        # ids of the project code objects discovered (each is held in `_project_code`).
        known: set[int] = set()

        def discover(code: CodeType, offset: int) -> object:
            filename = code.co_filename
            wanted = wanted_files.get(filename)
            if wanted is None:
                wanted = wanted_files[filename] = is_project(filename)
            if not wanted:
                return disable
            if open_modules:
                runs_in_module(code)
            seen[id(code)] = code
            if id(code) not in known:
                known.add(id(code))
                project_code(code)
                if code.co_name == "<module>":
                    set_local(per_test, code, returns)
                else:
                    quiet.append(code)
                    # Armed only from the next test (or fixture part) on: this call counted.
                    set_local(per_test, code, 0)
            if code.co_name == "<module>":
                module_begins(code)
                module_frame(frame_of(1))
            # While modules are collected, each must see every call it makes, even of code an
            # earlier module ran: keep hearing project code until the tests begin.
            return None if self._collecting else disable

        def hit(code: CodeType, offset: int) -> object:
            if open_modules:
                runs_in_module(code)
            seen[id(code)] = code
            quiet.append(code)
            set_local(per_test, code, 0)
            return None

        self._per_test = per_test
        self._register(discovery, discover)
        self._register(per_test, hit)
        monitoring.register_callback(per_test, returns, self._module_returns)
        monitoring.set_events(discovery, self._events)

    def _start_one_tool(self, is_project: Callable[[str], bool]) -> None:
        monitoring = self._monitoring
        (tool,) = self._tools
        seen, disable, returns = self._seen, monitoring.DISABLE, monitoring.events.PY_RETURN
        set_local, module_begins = monitoring.set_local_events, self._module_begins
        open_modules, runs_in_module = self._open_modules, self._runs_in_module
        module_frame, frame_of = self._module_frame, sys._getframe
        modules: dict[str, bool] = {}

        def hit_and_disable(code: CodeType, offset: int) -> object:
            filename = code.co_filename
            wanted = modules.get(filename)
            if wanted is None:
                wanted = modules[filename] = is_project(filename)
            if wanted and open_modules:
                runs_in_module(code)
            seen[id(code)] = code
            if wanted and code.co_name == "<module>":
                set_local(tool, code, returns)
                module_begins(code)
                module_frame(frame_of(1))
            # See `_start_two_tools`: project code stays heard while modules are collected.
            return None if wanted and self._collecting else disable

        self._register(tool, hit_and_disable)
        monitoring.register_callback(tool, returns, self._module_returns)
        monitoring.set_events(tool, self._events)

    def _register(self, tool: int, callback: Callable[[CodeType, int], object] | None) -> None:
        events = self._monitoring.events
        self._monitoring.register_callback(tool, events.PY_START, callback)
        self._monitoring.register_callback(tool, events.PY_RESUME, callback)

    def _rearm(self) -> None:
        """Switches the per-test events back on for the code the current test has run."""
        if self._collecting:
            return  # nothing is switched off yet
        if not self._two_tools:
            self._monitoring.restart_events()
            return
        set_local, tool, armed = self._monitoring.set_local_events, self._per_test, self._events
        for code in self._quiet:
            set_local(tool, code, armed)
        self._quiet.clear()

    def start_test(self) -> Executed:
        self._rearm()
        return super().start_test()

    def begin_nested(self) -> Executed:
        # Code the test already ran is quiet: re-arm it so the part sees it too.
        self._rearm()
        return super().begin_nested()

    def close(self) -> None:
        for tool in self._tools:
            self._monitoring.set_events(tool, 0)
            self._register(tool, None)
            self._monitoring.register_callback(tool, self._monitoring.events.PY_RETURN, None)
        if self._two_tools:
            for code in self._project_code:
                self._monitoring.set_local_events(self._per_test, code, 0)
        for tool in self._tools:
            self._monitoring.free_tool_id(tool)
