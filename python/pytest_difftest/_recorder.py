"""Per-test capture of the code objects a test executes.

Blocks are whole functions, so a recorder only needs to know which functions (code objects)
ran, not which lines: function-entry events, each seen once per test, are enough.

* Python >= 3.12: `sys.monitoring` with our own tool id. Each code object reports its first
  start or resume, then returns DISABLE, so it costs nothing more until `restart_events()`
  re-arms everything at the next test.
* Python 3.9-3.11: a global `sys.settrace` function that sees only "call" events (it returns no
  local tracer, so no line events are generated); `sys.setprofile` when another tracer
  (coverage.py) owns `sys.settrace`.
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


class _Collector:
    """The set a hook adds code objects to. It keeps one identity for the whole session, so the
    hook can hold its bound ``add`` (the cheapest call there is on this hot path); what a test
    or a part of it ran is copied out and the set cleared."""

    def __init__(self) -> None:
        self._seen: set[CodeType] = set()
        self.add = self._seen.add

    def _take(self) -> set[CodeType]:
        taken = set(self._seen)
        self._seen.clear()
        return taken

    def start_test(self) -> set[CodeType]:
        return self._take()

    def stop_test(self) -> set[CodeType]:
        return self._take()

    def begin_nested(self) -> set[CodeType]:
        return self._take()

    def end_nested(self, outer: set[CodeType]) -> set[CodeType]:
        inner = self._take()
        self._seen.update(outer)
        self._seen.update(inner)
        return inner


class MonitoringRecorder(_Collector):
    """`sys.monitoring` recorder (Python >= 3.12)."""

    def __init__(self) -> None:
        super().__init__()
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
        add, disable = self.add, monitoring.DISABLE

        def hit(code: CodeType, offset: int) -> object:
            add(code)
            return disable

        monitoring.register_callback(self._tool, events.PY_START, hit)
        monitoring.register_callback(self._tool, events.PY_RESUME, hit)
        monitoring.set_events(self._tool, events.PY_START | events.PY_RESUME)

    def start_test(self) -> set[CodeType]:
        self._monitoring.restart_events()
        return super().start_test()

    def begin_nested(self) -> set[CodeType]:
        # Code the test already ran is disabled: re-arm it so the part sees it too.
        self._monitoring.restart_events()
        return super().begin_nested()

    def close(self) -> None:
        monitoring = self._monitoring
        monitoring.set_events(self._tool, 0)
        monitoring.register_callback(self._tool, monitoring.events.PY_START, None)
        monitoring.register_callback(self._tool, monitoring.events.PY_RESUME, None)
        monitoring.free_tool_id(self._tool)


class TraceRecorder(_Collector):
    """Call-events-only recorder for Python < 3.12.

    Normally a global `sys.settrace` function that returns no local tracer, so only "call"
    events are generated. When another tracer owns `sys.settrace` (coverage.py started by
    pytest-cov, before or after us), chaining is not possible: coverage's C tracer reinstalls
    itself as soon as it is called from Python. We then record through `sys.setprofile` instead,
    which sees the same calls (plus returns and C calls, which we ignore) without touching the
    tracer, so coverage's measurement stays exactly as it would be without us.
    """

    def __init__(self) -> None:
        super().__init__()
        add = self.add

        def trace(frame: FrameType, event: Any, arg: object) -> None:
            add(frame.f_code)

        def profile(frame: FrameType, event: str, arg: object) -> None:
            if event == "call":
                add(frame.f_code)

        self._trace: Callable[[FrameType, Any, object], None] = trace
        self._profile: Callable[[FrameType, str, object], None] = profile
        self._mode = ""
        self.ensure_installed()

    def ensure_installed(self) -> None:
        """Installs the hook, or moves to the profile hook if a tracer has taken ours over."""
        if self._mode == "profile":
            sys.setprofile(self._profile)
            return
        current = sys.gettrace()
        if current is None:
            sys.settrace(self._trace)
            threading.settrace(self._trace)
            self._mode = "trace"
        elif current is not self._trace:
            sys.setprofile(self._profile)
            threading.setprofile(self._profile)
            self._mode = "profile"

    def start_test(self) -> set[CodeType]:
        self.ensure_installed()
        return super().start_test()

    def stop_test(self) -> set[CodeType]:
        # While a hook is installed, CPython < 3.12 runs every frame in its slow tracing mode.
        # Nothing between two tests needs recording, so pytest's reporting runs without it.
        self._uninstall()
        return super().stop_test()

    def _uninstall(self) -> None:
        if self._mode == "profile":
            sys.setprofile(None)
        elif self._mode == "trace" and sys.gettrace() is self._trace:
            sys.settrace(None)

    def close(self) -> None:
        if self._mode == "profile":
            sys.setprofile(None)
            threading.setprofile(None)
        elif sys.gettrace() is self._trace:
            sys.settrace(None)
            threading.settrace(None)
        self._mode = "closed"


def start_recorder() -> Recorder:
    """The cheapest correct recorder for this interpreter, already observing."""
    if sys.version_info >= (3, 12):
        return MonitoringRecorder()
    return TraceRecorder()
