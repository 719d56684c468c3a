"""What every recorder is: a `Recorder` collects the code objects a test executes.

Code objects are collected by identity (`Executed`), never in a set: CPython's code objects
compare and hash equal when their bytecode, constants, names and first line match, whatever
file they come from, so a set keeps one of two copy-pasted functions and credits a test with
the other file's.
"""

from __future__ import annotations

from types import CodeType
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

    # Called with a project module's code object and what ran while that module executed
    # (its import), when it returns; None to ignore module executions.
    on_module_executed: ModuleCallback | None

    # The project modules (relative paths) already imported when observing began, whose
    # import nobody saw: a plugin's early hook (pytest-django importing the settings).
    preloaded: list[str]


# See `Recorder.on_module_executed`.
ModuleCallback = Callable[[CodeType, Executed], None]


class Collector:
    """The dict a hook adds code objects to. It keeps one identity for the whole session, so the
    hook can hold it in a closure (``seen[id(code)] = code`` costs what ``set.add`` does); what a
    test or a part of it ran is copied out and the dict cleared."""

    windowed = False

    def __init__(self) -> None:
        self._seen: Executed = {}
        self.on_module_executed: ModuleCallback | None = None
        self.preloaded: list[str] = []
        # The project modules executing now, innermost last, each with the collection that
        # was current when it began: what runs until it returns is collected on its own.
        self._open_modules: list[tuple[CodeType, Executed]] = []
        # Until the tests begin, what a module's import runs belongs to that module alone (and
        # to the module importing it), not to the session's start-up or collection.
        self._collecting = True

    def tests_begin(self) -> None:
        self._collecting = False

    def _module_begins(self, code: CodeType) -> None:
        self._open_modules.append((code, self.begin_nested()))

    def _module_ends(self, code: CodeType) -> None:
        if self._open_modules and self._open_modules[-1][0] is code:
            _, outer = self._open_modules.pop()
            if self._collecting and not self._open_modules:
                executed = self._take()
                self._seen.update(outer)
            else:
                executed = self.end_nested(outer)
            if self.on_module_executed is not None:
                self.on_module_executed(code, executed)

    def _end_modules(self) -> None:
        """Ends the module executions still open: one that raised never returned."""
        while self._open_modules:
            self._module_ends(self._open_modules[-1][0])

    def _take(self) -> Executed:
        taken = self._seen.copy()
        self._seen.clear()
        return taken

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
