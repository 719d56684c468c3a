"""Per-test capture of the code objects a test executes.

Blocks are whole functions, so a recorder only needs to know which functions (code objects)
ran, not which lines: function-entry events, each seen once per test, are enough.

* Python >= 3.12: `sys.monitoring` with our own tool id. Each code object reports its first
  start or resume, then returns DISABLE, so it costs nothing more until `restart_events()`
  re-arms everything at the next test.
* Python 3.9-3.11: a global `sys.settrace` function that sees only "call" events (it returns no
  local tracer, so no line events are generated). If another tracer (coverage.py) is installed,
  it is chained, so its line tracing continues.
"""

from __future__ import annotations

import sys
import threading
from types import CodeType, FrameType
from typing import Any, Callable, Protocol

_TOOL_NAME = "pytest-difftest"


class Recorder(Protocol):
    """Collects code objects; the phase before the first test is import time."""

    def start_test(self) -> set[CodeType]:
        """Begin a test; returns what ran since the previous `stop_test` (or since start)."""

    def stop_test(self) -> set[CodeType]:
        """End a test; returns what it executed."""

    def begin_nested(self) -> set[CodeType]:
        """Start collecting a part of the test (a fixture's setup) on its own; returns the
        outer collection, to hand back to `end_nested`."""

    def end_nested(self, outer: set[CodeType]) -> set[CodeType]:
        """End the part; returns what it executed, which still counts for the test too."""

    def close(self) -> None:
        """Stop observing."""


class MonitoringRecorder:
    """`sys.monitoring` recorder (Python >= 3.12)."""

    def __init__(self) -> None:
        self.seen: set[CodeType] = set()
        monitoring: Any = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        self._monitoring = monitoring
        # 0, 1, 2 and 5 are reserved for debuggers, coverage, profilers and optimizers.
        for tool in (3, 4):
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, _TOOL_NAME)
                self._tool = tool
                break
        else:
            raise RuntimeError("no free sys.monitoring tool id (3 and 4 are in use)")
        events = monitoring.events
        self._disable = monitoring.DISABLE
        monitoring.register_callback(self._tool, events.PY_START, self._hit)
        monitoring.register_callback(self._tool, events.PY_RESUME, self._hit)
        monitoring.set_events(self._tool, events.PY_START | events.PY_RESUME)

    def _hit(self, code: CodeType, offset: int) -> object:
        self.seen.add(code)
        return self._disable

    def start_test(self) -> set[CodeType]:
        before, self.seen = self.seen, set()
        self._monitoring.restart_events()
        return before

    def stop_test(self) -> set[CodeType]:
        executed, self.seen = self.seen, set()
        return executed

    def begin_nested(self) -> set[CodeType]:
        outer, self.seen = self.seen, set()
        # Code the test already ran is disabled: re-arm it so the part sees it too.
        self._monitoring.restart_events()
        return outer

    def end_nested(self, outer: set[CodeType]) -> set[CodeType]:
        inner, self.seen = self.seen, outer
        outer.update(inner)
        return inner

    def close(self) -> None:
        monitoring = self._monitoring
        monitoring.set_events(self._tool, 0)
        monitoring.register_callback(self._tool, monitoring.events.PY_START, None)
        monitoring.register_callback(self._tool, monitoring.events.PY_RESUME, None)
        monitoring.free_tool_id(self._tool)


class TraceRecorder:
    """Call-events-only `sys.settrace` recorder (Python < 3.12)."""

    def __init__(self) -> None:
        self.seen: set[CodeType] = set()
        previous = sys.gettrace()
        self._previous = previous

        def trace(frame: FrameType, event: Any, arg: object) -> Any:
            self.seen.add(frame.f_code)
            # Returning no local tracer keeps line events off; a chained tracer keeps its own.
            return None if previous is None else previous(frame, event, arg)

        self._trace: Callable[[FrameType, str, object], Any] = trace
        sys.settrace(trace)
        threading.settrace(trace)

    def start_test(self) -> set[CodeType]:
        before, self.seen = self.seen, set()
        return before

    def stop_test(self) -> set[CodeType]:
        executed, self.seen = self.seen, set()
        return executed

    def begin_nested(self) -> set[CodeType]:
        outer, self.seen = self.seen, set()
        return outer

    def end_nested(self, outer: set[CodeType]) -> set[CodeType]:
        inner, self.seen = self.seen, outer
        outer.update(inner)
        return inner

    def close(self) -> None:
        if sys.gettrace() is self._trace:
            sys.settrace(self._previous)
        threading.settrace(self._previous)


def start_recorder() -> Recorder:
    """The cheapest correct recorder for this interpreter, already observing."""
    if sys.version_info >= (3, 12):
        return MonitoringRecorder()
    return TraceRecorder()
