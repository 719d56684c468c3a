"""``--diff-subprocess``: what Python subprocesses of a test execute counts for the test.

While a baseline runs, a temporary directory holding a ``sitecustomize.py`` is put first on
``PYTHONPATH``. Every Python process started from then on (``subprocess.run([sys.executable,
...])``, ``multiprocessing`` with the spawn or forkserver start method) imports it at start-up:
it records the code objects the process runs and the files it opens for reading, and writes
them to the directory when the process exits. After each test the plugin collects and deletes
what its subprocesses wrote. At the end of the session the directory and the environment
variables are removed. The hook then imports the ``sitecustomize`` it hides, if there is one.

The hook is self-contained (it does not import pytest-difftest or pytest), so that it costs a
child process little.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

OUTPUT_VARIABLE = "PYTEST_DIFFTEST_SUBPROCESS_DIR"

_HOOK = '''\
"""pytest-difftest --diff-subprocess start-up hook (temporary; removed after the run)."""


def _difftest_record():
    import atexit
    import os
    import sys

    out = os.environ.get("PYTEST_DIFFTEST_SUBPROCESS_DIR")
    if not out or not os.path.isdir(out):
        return
    # By id, never in a set: equal code objects of different files would merge there.
    codes = {}
    opened = set()
    if sys.version_info >= (3, 12):
        monitoring = sys.monitoring
        tool = next((t for t in (4, 3) if monitoring.get_tool(t) is None), None)
        if tool is not None:
            monitoring.use_tool_id(tool, "pytest-difftest-subprocess")

            def hit(code, offset):
                codes[id(code)] = code
                return monitoring.DISABLE

            monitoring.register_callback(tool, monitoring.events.PY_START, hit)
            monitoring.register_callback(tool, monitoring.events.PY_RESUME, hit)
            monitoring.set_events(
                tool, monitoring.events.PY_START | monitoring.events.PY_RESUME
            )
    else:
        import threading

        def profile(frame, event, arg):
            if event == "call":
                code = frame.f_code
                codes[id(code)] = code

        sys.setprofile(profile)
        threading.setprofile(profile)

    def audit(event, args):
        if event == "open" and isinstance(args[0], str):
            mode = args[1]
            if isinstance(mode, str) and not set("wax").intersection(mode):
                opened.add(os.path.abspath(args[0]))

    sys.addaudithook(audit)

    def dump():
        # Stop recording first: this function's own calls would change the set.
        if sys.version_info >= (3, 12):
            if tool is not None:
                monitoring.set_events(tool, 0)
        else:
            sys.setprofile(None)
        seen = list(codes.values())
        import json

        code = sorted(
            {(c.co_filename, 0 if c.co_name == "<module>" else c.co_firstlineno) for c in seen}
        )
        path = os.path.join(out, "%d-%d.json" % (os.getpid(), id(codes)))
        with open(path + ".tmp", "x") as f:
            json.dump({"code": code, "opened": sorted(opened)}, f)
        os.replace(path + ".tmp", path)

    atexit.register(dump)


def _difftest_chain():
    # Import the sitecustomize this one hides, as Python would have.
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)


_difftest_record()
_difftest_chain()
'''


class SubprocessHook:
    """The installed hook; `take` returns what subprocesses wrote since the last call."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="pytest-difftest-subprocess-"))
        (self.directory / "sitecustomize.py").write_text(_HOOK, encoding="utf-8")
        self.output = self.directory / "out"
        self.output.mkdir()
        self._saved = {name: os.environ.get(name) for name in ("PYTHONPATH", OUTPUT_VARIABLE)}
        previous = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = (
            f"{self.directory}{os.pathsep}{previous}" if previous else str(self.directory)
        )
        os.environ[OUTPUT_VARIABLE] = str(self.output)

    def take(self) -> tuple[list[tuple[str, int]], list[str]]:
        """``(file name, first line or 0 for module code)`` the subprocesses executed, and the
        absolute paths they opened for reading."""
        code: set[tuple[str, int]] = set()
        opened: set[str] = set()
        for report in self.output.glob("*.json"):
            try:
                found: Any = json.loads(report.read_text(encoding="utf-8"))
                code.update((str(name), int(line)) for name, line in found["code"])
                opened.update(str(path) for path in found["opened"])
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a report cut short (a killed child): what it did is lost
            with contextlib.suppress(OSError):
                report.unlink()
        return sorted(code), sorted(opened)

    def follow_forks(
        self, start: Callable[[], None], finish: Callable[[], tuple[list[Any], list[str]]]
    ) -> None:
        """Also records multiprocessing children made by forking this process (the default
        start method on Linux before Python 3.14), which start no new interpreter: after the
        fork the child calls `start` (restart recording), and when it ends, `finish`, whose
        ``(code, opened)`` it writes like any other child."""
        import multiprocessing.util

        self._fork_start = start
        self._fork_finish = finish
        multiprocessing.util.register_after_fork(self, SubprocessHook._in_forked_child)

    def _in_forked_child(self) -> None:
        import multiprocessing.util

        self._fork_start()
        # Run by multiprocessing when the child's target returns, before it exits.
        multiprocessing.util.Finalize(None, self._dump_forked, exitpriority=100)

    def _dump_forked(self) -> None:
        code, opened = self._fork_finish()
        path = self.output / f"{os.getpid()}-fork.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"code": code, "opened": opened}), encoding="utf-8")
        temporary.replace(path)

    def close(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(self.directory, ignore_errors=True)
