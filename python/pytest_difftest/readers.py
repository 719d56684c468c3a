"""Who reads a file, seen from inside an audit event or the `os.stat` wrapper: the stack walk
that tells the project's reads from the import system's and a library's."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import NamedTuple

import _pytest
import pluggy

# How far up the stack an open looks for the project functions running it.
_MAX_FRAMES = 64
# Frames of the standard library: an open made through them is made by whoever called them;
# but one the import system makes (loading a module's source) is an import, not a read.
IMPORT_SYSTEM = ("<frozen importlib", os.path.join(os.path.dirname(os.__file__), "importlib"))
_STDLIB = ("<frozen", os.path.dirname(os.__file__))
# pytest and pluggy: the frames that run tests, fixtures, hooks and collectors.
_RUNNER = tuple(os.path.dirname(module.__file__ or "") + os.sep for module in (_pytest, pluggy))
# Listings the import system makes: the directories it searches for modules, and
# `importlib.metadata`'s search for installed distributions (which facts cover). A listing
# through `importlib.resources` is a read of package data.
IMPORT_LISTINGS = (
    "<frozen importlib",
    os.path.join(os.path.dirname(os.__file__), "importlib", "metadata"),
)


class Reader(NamedTuple):
    # The project functions on the stack (file, first line): one of them may keep what it read
    # in a cache that later tests read.
    openers: set[tuple[str, int]]
    # ``project`` or ``other`` code (the first frame outside the standard library), or the
    # ``import`` system.
    kind: str | None
    # The innermost project module executing (being imported), relative.
    module: str | None
    # The innermost project function.
    caller: CodeType | None


def who_reads(relative: Callable[[str], str | None], import_system: tuple[str, ...]) -> Reader:
    """Who is reading, seen from an audit event (see `Reader`): the import system when a frame
    under `import_system` comes first, `relative` telling the project's files from others."""
    openers: set[tuple[str, int]] = set()
    opener: str | None = None
    module: str | None = None
    caller: CodeType | None = None
    # Frames 0 to 3 are this function, the watcher's `_note` and handler, and the hook's
    # dispatch (or the `os.stat` wrapper).
    frame: FrameType | None = sys._getframe(4)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            break
        code = frame.f_code
        filename = code.co_filename
        if filename.startswith(_RUNNER):
            # pytest running a test, a fixture, a hook or a collector: what is above it
            # is the session, not who reads.
            return Reader(openers, opener or "other", module, caller)
        where = relative(filename)
        if where is not None:
            if code.co_name != "<module>":
                openers.add((where, code.co_firstlineno))
                caller = caller or code
            elif module is None:
                module = where
        if opener is None:
            if filename.startswith(import_system):
                opener = "import"
            elif not filename.startswith(_STDLIB):
                opener = "project" if where is not None else "other"
        frame = frame.f_back
    return Reader(openers, opener, module, caller)
