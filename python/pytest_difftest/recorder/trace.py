"""The trace-hook recorder (Python 3.9-3.11), installed only in windows where project code can
run, and the hook monitoring that opens windows around the project's own hook implementations."""

from __future__ import annotations

import sys
import threading
from types import CodeType, FrameType
from typing import Any, Callable

from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder.collector import Collector, Executed, Recorder


class TraceRecorder(Collector):
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
        self._executing_modules = executing
        close, module_ends = self.pause, self._module_ends
        open_modules, module_frame = self._open_modules, self._module_frame
        project_files: dict[str, bool] = {}

        def runs_in_module(code: CodeType) -> None:
            # Only project code is placed under statements: library code (a dataclass being
            # built) makes most of the calls while modules execute.
            filename = code.co_filename
            wanted = project_files.get(filename)
            if wanted is None:
                wanted = project_files[filename] = is_project(filename)
            if wanted:
                self._runs_in_module(code)

        def module_returns(frame: FrameType, event: str, arg: object) -> Any:
            if event == "return":
                finished(frame.f_code)
            return module_returns

        def finished(code: CodeType) -> None:
            left = executing.pop(id(code), (code, 0))[1] - 1
            if left > 0:
                executing[id(code)] = (code, left)
            module_ends(code)
            close()

        def trace(frame: FrameType, event: Any, arg: object) -> Any:
            code = frame.f_code
            key = id(code)
            seen[key] = code
            if key in executing:
                module_frame(frame)
                frame.f_trace_lines = False  # only the frame's return is wanted
                return module_returns
            if open_modules:
                runs_in_module(code)
            return None

        def profile(frame: FrameType, event: str, arg: object) -> None:
            if event == "call":
                code = frame.f_code
                seen[id(code)] = code
                if id(code) in executing:
                    module_frame(frame)
                elif open_modules:
                    runs_in_module(code)
            elif event == "return" and executing and id(frame.f_code) in executing:
                finished(frame.f_code)

        self._trace: Callable[[FrameType, Any, object], Any] = trace
        self._profile: Callable[[FrameType, str, object], None] = profile
        self._mode = ""
        from pytest_difftest._core import AuditFilter

        sys.addaudithook(AuditFilter("exec", self._module_executions(is_project)))
        # Until collection starts (`pause`), everything is observed: plugins configuring the
        # session may call project code (a framework's start-up hooks) from their own hooks.
        self.resume()

    def _module_executions(
        self, is_project: Callable[[str], bool]
    ) -> Callable[[tuple[Any, ...]], None]:
        """The audit hook of ``exec`` events: a project module's execution opens a window."""
        executing = self._executing_modules
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
                    self._module_begins(code)

        return executes

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
        self._executing_modules.clear()
        if self._mode == "profile":
            sys.setprofile(None)
            threading.setprofile(None)
        elif sys.gettrace() is self._trace:
            sys.settrace(None)
            threading.settrace(None)
        self._mode = "closed"


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
