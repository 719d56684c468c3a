"""The trace-hook recorder (Python 3.9-3.11), installed only in windows where project code can
run, and the hook monitoring that opens windows around the project's own hook implementations."""

from __future__ import annotations

import sys
import threading
from types import CodeType, FrameType
from typing import Any, Callable

from pytest_difftest._core import CallHook
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder.collector import Collector, Executed, ModuleRun, Recorder


class TraceRecorder(Collector):
    """Function-start recorder for Python < 3.12, observing only while project code may run.

    Normally the native frame-evaluation hook (`CallHook`, PEP 523): the interpreter calls it
    for each frame it runs, in every thread, and it costs a look at one word of the code object
    per frame; only the first run of each code object per collection adds it to `seen`.

    Where another tool (a debugger) holds the frame-evaluation hook, the native profile hook
    does the same through `sys.setprofile`, leaving `sys.settrace` to coverage.py. Where another
    profiler (cProfile) holds that too, a global `sys.settrace` function that returns no local
    tracer does it in Python (only "call" events), a Python call per function start. While
    either of those is installed, CPython < 3.12 runs every frame in its slow tracing mode.

    What runs is observed only in *windows* where project code may run (most of a session is
    pytest's own work: collecting, reporting): a test's phases, a project module's execution
    (an ``exec`` audit event starts it, the module frame's return ends it), and calls of hooks
    that the project implements (see `observe_project_hooks`). Windows nest; the profile and
    trace hooks are removed when the last one closes, from collection on. The frame-evaluation
    hook, which costs next to nothing, observes everything until the tests begin (as 3.12+
    does), then stops collecting the thread's frames outside windows. Threads started while
    recording are observed whole.
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
                if open_modules[-1].frame is None:
                    _find_module_frames(open_modules)
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

        def module_event(code: CodeType, starts: bool) -> None:
            # The native hooks call this only while project modules execute.
            if starts:
                if id(code) not in executing and open_modules:
                    runs_in_module(code)
            elif id(code) in executing:
                finished(code)

        self._trace: Callable[[FrameType, Any, object], Any] = trace
        self._hook = _call_hook(seen, executing, open_modules, module_event, project_files)
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
        """Observes the calling thread: through the frame-evaluation hook unless another tool
        took it, then the profile hook unless another profiler holds `sys.setprofile`, then the
        trace hook."""
        hook = self._hook
        if hook is not None and self._mode in ("", "evaluation") and hook.take_evaluation():
            self._switch_to("evaluation")
            CallHook.collect(True)
            return
        profiler: object = sys.getprofile()
        if hook is not None and (
            profiler is None or profiler is hook or _traced_by_other(self._trace)
        ):
            self._switch_to("profile")
            hook.install()
        else:
            self._switch_to("trace")
            sys.settrace(self._trace)

    def _switch_to(self, mode: str) -> None:
        if self._mode != mode:
            self._uninstall()
            self._observe_threads(False)
            self._mode = mode
            self._observe_threads(True)

    def _observe_threads(self, observe: bool) -> None:
        """Has threads started from now on observed whole (their first profile event hands
        them to the native hooks)."""
        if self._mode in ("evaluation", "profile"):
            threading.setprofile(self._thread_starts if observe else None)
        elif self._mode == "trace":
            threading.settrace(self._trace if observe else None)
        if self._mode == "evaluation" and not observe and self._hook is not None:
            self._hook.release_evaluation()

    def _thread_starts(self, frame: FrameType, event: str, arg: object) -> None:
        """A new thread's first profile event: the native hook takes over from here."""
        if self._mode == "evaluation":
            sys.setprofile(None)
            CallHook.collect(True)
        elif self._mode == "profile" and self._hook is not None:
            self._hook.install()

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

    def tests_begin(self) -> None:
        super().tests_begin()
        if self._windows == 0:
            self._uninstall()

    def _uninstall(self) -> None:
        if self._mode == "evaluation":
            # Until the tests begin, everything is observed, as on 3.12+: what pytest itself
            # runs while collecting (a parametrize generator, an `ids` function) is the
            # project's too, and observing costs the frame-evaluation hook next to nothing.
            if not self._collecting:
                CallHook.collect(False)
        elif self._mode == "profile":
            profiler: object = sys.getprofile()
            if profiler is self._hook and self._hook is not None:
                self._hook.uninstall()
        elif self._mode == "trace" and sys.gettrace() is self._trace:
            sys.settrace(None)

    def _clear(self) -> None:
        super()._clear()
        CallHook.forget()  # the native hooks add each code object again

    def close(self) -> None:
        self._executing_modules.clear()
        self._uninstall()
        self._observe_threads(False)
        self._mode = "closed"


def _traced_by_other(ours: object) -> bool:
    current = sys.gettrace()
    return current is not None and current is not ours


def _call_hook(
    seen: Executed,
    executing: dict[int, tuple[CodeType, int]],
    modules: list[ModuleRun],
    on_module_event: Callable[[CodeType, bool], None],
    project_files: dict[str, bool],
) -> CallHook | None:
    """The native hooks, or None where the interpreter does not hand out the entry points they
    need (they are outside the stable ABI: ctypes finds them). Made for 3.9-3.11's frame
    layouts only: 3.12+ reach this recorder only when other tools hold both `sys.monitoring`
    ids, and then record through the Python trace hook."""
    if sys.version_info >= (3, 12):
        return None
    try:
        import ctypes

        def address(name: str) -> int:
            return ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value or 0

        names = (
            "PyEval_SetProfile",
            "PyFrame_GetCode",
            "_PyEval_RequestCodeExtraIndex",
            "_PyCode_GetExtra",
            "_PyCode_SetExtra",
            "_PyInterpreterState_GetEvalFrameFunc",
            "_PyInterpreterState_SetEvalFrameFunc",
            "_PyEval_EvalFrameDefault",
        )
        addresses = tuple(map(address, names))
        internal_frames = sys.version_info >= (3, 11)  # 3.11's _PyInterpreterFrame
        return CallHook(
            seen,
            executing,
            modules,
            on_module_event,
            project_files,
            addresses,  # type: ignore[arg-type]
            internal_frames,
        )
    except (ImportError, AttributeError, RuntimeError):
        return None


def _find_module_frames(runs: list[ModuleRun]) -> None:
    """Finds the frames of the executing modules not known yet, up the calling thread's stack:
    the native hooks hear a module start before its frame exists. Each run is looked for once;
    one not found (code another thread runs) places what runs beneath it at line 0."""
    wanted = {id(run.code): run for run in runs if run.frame is None and not run.sought}
    for run in wanted.values():
        run.sought = True
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and wanted:
        found = wanted.pop(id(frame.f_code), None)
        if found is not None:
            found.frame = frame
        frame = frame.f_back


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
