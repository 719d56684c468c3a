"""Per-test capture of the code objects a test executes.

Blocks are whole functions, so a recorder only needs to know which functions (code objects)
ran, not which lines: function-entry events, each seen once per test, are enough.

Code objects are collected by identity (`Executed`), never in a set: CPython's code objects
compare and hash equal when their bytecode, constants, names and first line match, whatever
file they come from, so a set keeps one of two copy-pasted functions and credits a test with
the other file's.

* Python >= 3.12: `sys.monitoring` (see `MonitoringRecorder`): a discovery tool hears each code
  object once per session; project code reports its first call in each test on a second tool.
* Python 3.9-3.11: a global `sys.settrace` function that sees only "call" events (it returns no
  local tracer, so no line events are generated); `sys.setprofile` when another tracer
  (coverage.py) owns `sys.settrace`. Installed only in windows where project code can run (see
  `TraceRecorder` and `_windows`), because any hook puts the interpreter in its slow mode.
"""

from __future__ import annotations

import sys
import threading
from types import CodeType, FrameType
from typing import Any, Callable, Protocol

from pytest_difftest._paths import ProjectFiles

_TOOL_NAME = "pytest-difftest"

# The code objects something ran, by `id`: the dict holds each one, so no id is reused while
# it is in there (see the module's docstring for why not a set).
Executed = dict[int, CodeType]


class Recorder(Protocol):
    """Collects code objects; the phase before the first test is import time."""

    # Whether observing costs all code, observed or not, so that the plugin should open windows
    # (`resume`, `pause`) only where project code can run.
    windowed: bool

    def start_test(self) -> Executed:
        """Begin a test; returns what ran since the previous `stop_test` (or since start)."""

    def stop_test(self) -> Executed:
        """End a test; returns what it executed."""

    def begin_nested(self) -> Executed:
        """Start collecting a part of the test (a fixture's setup) on its own; returns the
        outer collection, to hand back to `end_nested`."""

    def end_nested(self, outer: Executed) -> Executed:
        """End the part; returns what it executed, which still counts for the test too."""

    def resume(self) -> None:
        """Observe again: a phase of the test where its own code may run begins."""

    def pause(self) -> None:
        """Stop observing until `resume` (pytest's own work between a test's phases)."""

    def close(self) -> None:
        """Stop observing."""


class _Collector:
    """The dict a hook adds code objects to. It keeps one identity for the whole session, so the
    hook can hold it in a closure (``seen[id(code)] = code`` costs what ``set.add`` does); what a
    test or a part of it ran is copied out and the dict cleared."""

    windowed = False

    def __init__(self) -> None:
        self._seen: Executed = {}

    def _take(self) -> Executed:
        taken = self._seen.copy()
        self._seen.clear()
        return taken

    def start_test(self) -> Executed:
        return self._take()

    def stop_test(self) -> Executed:
        return self._take()

    def begin_nested(self) -> Executed:
        return self._take()

    def end_nested(self, outer: Executed) -> Executed:
        inner = self._take()
        self._seen.update(outer)
        self._seen.update(inner)
        return inner

    def resume(self) -> None:
        pass

    def pause(self) -> None:
        pass


class MonitoringRecorder(_Collector):
    """`sys.monitoring` recorder (Python >= 3.12), with two tool ids.

    Re-arming with `restart_events()` would make every function the interpreter runs report
    once more after each test, pytest's own included, and re-instrument it: that was most of
    the recording cost. Instead a *discovery* tool listens globally and hears each code object
    once in the whole session (it returns DISABLE and is never restarted). Project code it
    hears gets local events on a second, *per-test* tool, which reports the first call in a
    test, switches that code object's events off, and switches them back on when the next
    test (or fixture part) starts: the work per test is proportional to the project code the
    test ran, nothing else. If only one tool id is free, it falls back to `restart_events()`.
    """

    def __init__(self, is_project: Callable[[str], bool]) -> None:
        super().__init__()
        monitoring: Any = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        self._monitoring = monitoring
        # 0, 1, 2 and 5 are reserved for debuggers, coverage, profilers and optimizers.
        self._tools: list[int] = []
        for tool in (3, 4):
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, _TOOL_NAME)
                self._tools.append(tool)
        if not self._tools:
            raise RuntimeError("no free sys.monitoring tool id (3 and 4 are in use)")
        events = monitoring.events
        self._events = events.PY_START | events.PY_RESUME
        seen, disable = self._seen, monitoring.DISABLE
        # Code objects whose per-test events the current test switched off.
        self._quiet: list[CodeType] = []
        self._two_tools = len(self._tools) == 2
        if self._two_tools:
            discovery, per_test = self._tools
            set_local, quiet = monitoring.set_local_events, self._quiet
            # Every project code object discovered: their local events are ours to clear.
            self._project_code: list[CodeType] = []
            project_code = self._project_code.append
            known: dict[str, bool] = {}

            def discover(code: CodeType, offset: int) -> object:
                filename = code.co_filename
                wanted = known.get(filename)
                if wanted is None:
                    wanted = known[filename] = is_project(filename)
                if wanted:
                    seen[id(code)] = code
                    project_code(code)
                    quiet.append(code)
                    # Armed only from the next test (or fixture part) on: this call counted.
                    set_local(per_test, code, 0)
                return disable

            def hit(code: CodeType, offset: int) -> object:
                seen[id(code)] = code
                quiet.append(code)
                set_local(per_test, code, 0)
                return None

            self._per_test = per_test
            self._register(discovery, discover)
            self._register(per_test, hit)
            monitoring.set_events(discovery, self._events)
        else:

            def hit_and_disable(code: CodeType, offset: int) -> object:
                seen[id(code)] = code
                return disable

            self._register(self._tools[0], hit_and_disable)
            monitoring.set_events(self._tools[0], self._events)

    def _register(self, tool: int, callback: Callable[[CodeType, int], object] | None) -> None:
        events = self._monitoring.events
        self._monitoring.register_callback(tool, events.PY_START, callback)
        self._monitoring.register_callback(tool, events.PY_RESUME, callback)

    def _rearm(self) -> None:
        """Switches the per-test events back on for the code the current test has run."""
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
        if self._two_tools:
            for code in self._project_code:
                self._monitoring.set_local_events(self._per_test, code, 0)
        for tool in self._tools:
            self._monitoring.free_tool_id(tool)


class TraceRecorder(_Collector):
    """Call-events-only recorder for Python < 3.12, installed only while project code may run.

    Normally a global `sys.settrace` function that returns no local tracer, so only "call"
    events are generated. When another tracer owns `sys.settrace` (coverage.py started by
    pytest-cov, before or after us), chaining is not possible: coverage's C tracer reinstalls
    itself as soon as it is called from Python. We then record through `sys.setprofile` instead,
    which sees the same calls (plus returns and C calls, which we ignore) without touching the
    tracer, so coverage's measurement stays exactly as it would be without us.

    While any hook is installed, CPython < 3.12 runs every frame in its slow tracing mode, about
    twice as slow, and most of a session is pytest's own work (collecting, reporting). So from
    collection on, the hook is installed only in *windows* where project code may run: a
    test's phases, a project module's execution (an ``exec`` audit event starts it, the module
    frame's return ends it), and calls of hooks that the project implements (see
    `observe_project_hooks`). Windows nest; the hook is removed when the last one closes.
    """

    windowed = True

    def __init__(self, is_project: Callable[[str], bool]) -> None:
        super().__init__()
        seen = self._seen
        self._windows = 0
        # Module code objects of the project being executed, by id (see `Executed`), and how
        # many times each is being executed: their return closes a window.
        executing: dict[int, tuple[CodeType, int]] = {}
        self._executing = executing
        close = self.pause

        def module_returns(frame: FrameType, event: str, arg: object) -> Any:
            if event == "return":
                finished(frame.f_code)
            return module_returns

        def finished(code: CodeType) -> None:
            left = executing.pop(id(code), (code, 0))[1] - 1
            if left > 0:
                executing[id(code)] = (code, left)
            close()

        def trace(frame: FrameType, event: Any, arg: object) -> Any:
            code = frame.f_code
            key = id(code)
            seen[key] = code
            if key in executing:
                frame.f_trace_lines = False  # only the frame's return is wanted
                return module_returns
            return None

        def profile(frame: FrameType, event: str, arg: object) -> None:
            if event == "call":
                code = frame.f_code
                seen[id(code)] = code
            elif event == "return" and executing and id(frame.f_code) in executing:
                finished(frame.f_code)

        known: dict[str, bool] = {}

        def executes(args: tuple[Any, ...]) -> None:
            if self._mode == "closed":
                return  # an audit hook cannot be removed
            code = args[0] if args else None
            if isinstance(code, CodeType) and code.co_name == "<module>":
                filename = code.co_filename
                wanted = known.get(filename)
                if wanted is None:
                    wanted = known[filename] = is_project(filename)
                if wanted:
                    executing[id(code)] = (code, executing.get(id(code), (code, 0))[1] + 1)
                    self.resume()

        self._trace: Callable[[FrameType, Any, object], Any] = trace
        self._profile: Callable[[FrameType, str, object], None] = profile
        self._mode = ""
        from pytest_difftest._core import AuditFilter

        sys.addaudithook(AuditFilter("exec", executes))
        # Until collection starts (`pause`), everything is observed: plugins configuring the
        # session may call project code (a framework's start-up hooks) from their own hooks.
        self.resume()

    def ensure_installed(self) -> None:
        """Installs the hook, or moves to the profile hook if a tracer has taken ours over."""
        if self._mode == "profile":
            sys.setprofile(self._profile)
            return
        current = sys.gettrace()
        if current is None:
            sys.settrace(self._trace)
            if self._mode != "trace":
                threading.settrace(self._trace)  # threads a test starts are observed whole
                self._mode = "trace"
        elif current is not self._trace:
            sys.setprofile(self._profile)
            threading.setprofile(self._profile)
            self._mode = "profile"

    def resume(self) -> None:
        if self._mode == "closed":
            return
        self._windows += 1
        if self._windows == 1:
            self.ensure_installed()

    def pause(self) -> None:
        if self._windows > 0:
            self._windows -= 1
            if self._windows == 0:
                self._uninstall()

    def stop_test(self) -> Executed:
        self._windows = 0
        self._uninstall()
        return super().stop_test()

    def _uninstall(self) -> None:
        if self._mode == "profile":
            sys.setprofile(None)
        elif self._mode == "trace" and sys.gettrace() is self._trace:
            sys.settrace(None)

    def close(self) -> None:
        self._executing.clear()
        if self._mode == "profile":
            sys.setprofile(None)
            threading.setprofile(None)
        elif sys.gettrace() is self._trace:
            sys.settrace(None)
            threading.settrace(None)
        self._mode = "closed"


def start_recorder(files: ProjectFiles, plugins: Any) -> Recorder:
    """The cheapest correct recorder for this interpreter, already observing. Code outside the
    project's tracked `files` is not worth hearing again after its first call (Python 3.12+).
    `plugins` is pytest's plugin manager, whose hook calls the trace recorder observes."""

    def is_project(filename: str) -> bool:
        return files.relative(filename) is not None

    if sys.version_info >= (3, 12):
        try:
            return MonitoringRecorder(is_project)
        except RuntimeError:
            pass  # other tools hold both ids: the trace hook is slower, but just as correct
    recorder = TraceRecorder(is_project)
    observe_project_hooks(plugins, recorder, files)
    return recorder


def observe_project_hooks(plugins: Any, recorder: Recorder, files: ProjectFiles) -> None:
    """Has `recorder` observe every hook call that a project implementation (a conftest.py, a
    project plugin, a test module's ``pytest_generate_tests``) takes part in, whenever pytest
    makes it: during collection, such code is what tests rely on from import time; around a
    test (a ``makereport`` that turns failures into passes), it is part of the test."""
    project: dict[Any, bool] = {}

    def is_project(implementation: Any) -> bool:
        function = implementation.function
        known = project.get(function)
        if known is None:
            code = getattr(function, "__code__", None)
            filename = code.co_filename if code is not None else _defined_in(function)
            known = project[function] = filename is None or files.relative(filename) is not None
        return known

    opened: list[bool] = []
    # Hook name → its last implementations and the answer: pluggy hands out a fresh copy of the
    # same list on every call, and comparing lists of the same objects is one C loop.
    answers: dict[str, tuple[list[Any], bool]] = {}

    def before(hook_name: str, implementations: list[Any], kwargs: Any) -> None:
        known = answers.get(hook_name)
        if known is not None and known[0] == implementations:
            wanted = known[1]
        else:
            wanted = any(map(is_project, implementations))
            answers[hook_name] = (implementations, wanted)
        opened.append(wanted)
        if wanted:
            recorder.resume()

    def after(outcome: Any, hook_name: str, implementations: list[Any], kwargs: Any) -> None:
        if opened.pop():
            recorder.pause()

    plugins.add_hookcall_monitoring(before, after)


def _defined_in(function: Any) -> str | None:
    """The file of a hook implementation that is not a plain function (a callable object)."""
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    filename = getattr(module, "__file__", None)
    return filename if isinstance(filename, str) else None
