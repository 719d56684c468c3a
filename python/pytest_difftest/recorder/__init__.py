"""Per-test capture of the code objects a test executes.

Blocks are whole functions, so a recorder only needs to know which functions (code objects)
ran, not which lines: function-entry events, each seen once per test, are enough.

Every recorder collects code objects by identity (see `collector`).

* Python >= 3.12: `sys.monitoring` (see `MonitoringRecorder`): a discovery tool hears each code
  object once per session; project code reports its first call in each test on a second tool.
* Python 3.9-3.11: a frame-evaluation hook (PEP 523) in the Rust core, which hears every frame
  without putting the interpreter in its slow tracing mode; a C profile hook where another tool
  holds that one, a Python `sys.settrace` function where a profiler holds `sys.setprofile` too.
  From the first test on, it collects only in windows where project code can run (see
  `TraceRecorder` and `windows`).
"""

from __future__ import annotations

import sys
from typing import Any

from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder.collector import Executed, Recorder, Statements


def start_recorder(files: ProjectFiles, plugins: Any) -> Recorder:
    """The cheapest correct recorder for this interpreter, already observing. Code outside the
    project's tracked `files` is not worth hearing again after its first call (Python 3.12+).
    `plugins` is pytest's plugin manager, whose hook calls the trace recorder observes."""

    def is_project(filename: str) -> bool:
        return files.relative(filename) is not None

    preloaded = sorted({path for _, path in files.module_map()})
    recorder: Recorder | None = None
    if sys.version_info >= (3, 12):
        try:
            from pytest_difftest.recorder.monitoring import MonitoringRecorder

            recorder = MonitoringRecorder(is_project)
        except RuntimeError:
            pass  # other tools hold both ids: the trace hook is slower, but just as correct
    if recorder is None:
        from pytest_difftest.recorder.trace import TraceRecorder, observe_project_hooks

        recorder = TraceRecorder(is_project)
        observe_project_hooks(plugins, recorder, files)
    recorder.preloaded = preloaded
    return recorder


__all__ = ["Executed", "Recorder", "Statements", "start_recorder"]
