"""What every recorder is: a `Recorder` collects the code objects a test executes.

Code objects are collected by identity (`Executed`), never in a set: CPython's code objects
compare and hash equal when their bytecode, constants, names and first line match, whatever
file they come from, so a set keeps one of two copy-pasted functions and credits a test with
the other file's.
"""

from __future__ import annotations

from inspect import CO_NEWLOCALS
from types import CodeType, FrameType
from typing import Callable, Protocol

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

    def tests_begin(self) -> None:
        """Collection is over: from now on, what a module's execution runs also counts for
        the test (or fixture) that imported it."""

    # Called with a project module's code object, what ran while that module executed (its
    # import) and the statements it ran beneath, when it returns; None to ignore module
    # executions.
    on_module_executed: ModuleCallback | None

    # The project modules (relative paths) already imported when observing began, whose
    # import nobody saw: a plugin's early hook (pytest-django importing the settings).
    preloaded: list[str]


# While a module executes, the lines of it that were running when each code object (by id)
# ran: the top-level statements it ran beneath. Negated when it ran inside the execution of
# another project module that statement imported, whose own record has it; 0 when the module's
# frame was not known.
Statements = dict[int, set[int]]

# See `Recorder.on_module_executed`. What ran is the recorder's own collection, valid only
# during the call.
ModuleCallback = Callable[[CodeType, Executed, Statements], None]


class ModuleRun:
    """A project module executing now (see `Collector._open_modules`)."""

    __slots__ = ("code", "frame", "outer", "sought", "statements")

    def __init__(self, code: CodeType, outer: Executed) -> None:
        self.code = code
        # The collection that was current when it began: what runs until it returns is
        # collected on its own.
        self.outer = outer
        self.statements: Statements = {}
        # Its own frame, once the hook has seen it start (see `Collector._module_frame`), or
        # once it was sought up the stack (`sought`: the trace recorder's native hooks).
        self.frame: FrameType | None = None
        self.sought = False


class Collector:
    """The dict a hook adds code objects to. It keeps one identity for the whole session, so the
    hook can hold it in a closure (``seen[id(code)] = code`` costs what ``set.add`` does); what a
    test or a part of it ran is copied out and the dict cleared."""

    windowed = False

    def __init__(self) -> None:
        self._seen: Executed = {}
        self.on_module_executed: ModuleCallback | None = None
        self.preloaded: list[str] = []
        # The project modules executing now, innermost last.
        self._open_modules: list[ModuleRun] = []
        # Until the tests begin, what a module's import runs belongs to that module alone (and
        # to the module importing it), not to the session's start-up or collection.
        self._collecting = True

    def tests_begin(self) -> None:
        self._collecting = False

    def _module_begins(self, code: CodeType) -> None:
        self._open_modules.append(ModuleRun(code, self.begin_nested()))

    def _module_frame(self, frame: FrameType) -> None:
        """`frame` is the frame of the innermost open module, which starts executing."""
        if self._open_modules and self._open_modules[-1].code is frame.f_code:
            self._open_modules[-1].frame = frame

    def _runs_in_module(self, code: CodeType) -> None:
        """`code` runs while modules execute (the hooks call this only then), beneath the
        innermost one: the line each open module's frame is running is the statement it runs
        beneath (see `Statements`), once per code object and line (a helper of a decorator
        used twice runs beneath two). Code a thread runs meanwhile is taken as the innermost
        module's: the frames are not walked, which cost a walk up pytest's deep stack. Only
        functions are placed: a class body (or a module) that runs is no function, whose
        import-time running its importers rely on, and an import chain made each enclosing
        module repeat every class body beneath it."""
        if not code.co_flags & CO_NEWLOCALS:
            return
        key = id(code)
        runs = self._open_modules
        innermost = runs[-1]
        line = innermost.frame.f_lineno or 0 if innermost.frame is not None else 0
        lines = innermost.statements.get(key)
        if lines is None:
            innermost.statements[key] = {line}
        elif line in lines:
            return
        else:
            lines.add(line)
        for run in runs[:-1]:
            outer = run.frame.f_lineno or 0 if run.frame is not None else 0
            run.statements.setdefault(key, set()).add(-outer)

    def _module_ends(self, code: CodeType) -> None:
        if self._open_modules and self._open_modules[-1].code is code:
            ended = self._open_modules.pop()
            # What ran since the module began is the collection now: handed over as it is,
            # not copied out (in a chain of imports 300 deep, copying it at each level cost
            # more than the rest of recording the imports).
            if self.on_module_executed is not None:
                self.on_module_executed(code, self._seen, ended.statements)
            if self._collecting and not self._open_modules:
                self._clear()  # what a module's import ran is the module's alone
            self._seen.update(ended.outer)

    def _end_modules(self) -> None:
        """Ends the module executions still open: one that raised never returned."""
        while self._open_modules:
            self._module_ends(self._open_modules[-1].code)

    def _take(self) -> Executed:
        taken = self._seen.copy()
        self._clear()
        return taken

    def _clear(self) -> None:
        self._seen.clear()

    def start_test(self) -> Executed:
        self._end_modules()
        return self._take()

    def stop_test(self) -> Executed:
        self._end_modules()
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
