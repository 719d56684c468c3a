"""`pytest-difftest watch`: reruns `pytest --diff` after a file write, stops cleanly on Ctrl-C."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from difftest_support import Project

pytest.importorskip("watchfiles", reason="watch mode needs the [watch] extra")

# Guards against a hung watcher, not performance checks: each wait ends as soon as its line
# appears.
GUARD_SECONDS = 120


class Watcher:
    """`pytest-difftest watch` in a subprocess, its output read line by line."""

    def __init__(self, project: Project, *args: str, deaf: bool = False) -> None:
        # faulthandler: a watcher that does not stop is made to say where it hangs (`stop`).
        env = {
            **project.subprocess_environment(),
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
        }
        # `deaf`: started as by a parent that ignores and blocks SIGINT, which a child inherits.
        deafened = _deafen() if deaf else None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest_difftest", "watch", *args],
                cwd=project.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
        finally:
            if deafened is not None:
                _hear(*deafened)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, fragment: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=GUARD_SECONDS)
            except queue.Empty:
                pytest.fail(f"no line with {fragment!r}; output so far:\n" + "\n".join(self.seen))
            if line is None:
                pytest.fail(f"watch ended before {fragment!r}:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if fragment in line:
                return line

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=GUARD_SECONDS)
        except subprocess.TimeoutExpired:
            status = Path(f"/proc/{self.process.pid}/status")  # Linux: its signal masks
            masks = [
                line
                for line in (status.read_text().splitlines() if status.exists() else [])
                if line.startswith(("Sig", "ShdPnd"))
            ]
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            self.process.wait(timeout=GUARD_SECONDS)
            rest = []
            while (line := self.lines.get(timeout=GUARD_SECONDS)) is not None:
                rest.append(line)
            pytest.fail("watch did not stop on SIGINT:\n" + "\n".join([*masks, *self.seen, *rest]))
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


def _deafen() -> tuple[Any, set[signal.Signals]]:
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    return handler, signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _hear(handler: Any, mask: set[signal.Signals]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    signal.signal(signal.SIGINT, handler)


@pytest.fixture
def watcher(project: Project) -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    yield started
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        if running.process.stdout is not None:
            running.process.stdout.close()


def test_reruns_after_a_write_and_stops_on_ctrl_c(project: Project, watcher: list[Watcher]) -> None:
    project.settled()
    watch = Watcher(project, "--debounce", "50", "-p", "no:cacheprovider", "-q")
    watcher.append(watch)
    # Watch's own options come first; the rest goes to pytest, in order.
    header = watch.wait_for("pytest-difftest: watching")
    assert header.endswith(
        "running `pytest --diff -p no:cacheprovider -q` on every change; Ctrl-C stops"
    )
    watch.wait_for("difftest: 0 of 5 tests selected")
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    watch.wait_for("pytest-difftest: src/pkg/calc.py changed: running `pytest --diff")
    watch.wait_for("difftest: 1 of 5 tests selected")
    watch.wait_for("1 passed")
    assert watch.stop() == 0
    rest = list(iter(watch.lines.get, None))
    assert "pytest-difftest: stopped watching" in rest
    assert not any("Traceback" in line for line in watch.seen + rest)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_stops_on_ctrl_c_when_started_with_sigint_ignored_and_blocked(
    project: Project, watcher: list[Watcher]
) -> None:
    # Ctrl-C is the documented way to stop it: whatever the parent left SIGINT as.
    project.settled()
    watch = Watcher(project, "-p", "no:cacheprovider", "-q", deaf=True)
    watcher.append(watch)
    watch.wait_for("difftest: 0 of 5 tests selected")
    assert watch.stop() == 0


def test_one_line_error_without_watchfiles(project: Project) -> None:
    # A real interpreter where watchfiles cannot be imported: a stub package that raises.
    project.write("blocker/watchfiles/__init__.py", "raise ImportError('blocked for this test')\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(project.root / "blocker"))
        result = project.cli("watch")
    assert result.ret == 2
    assert result.stderr.lines == [
        "pytest-difftest: watch needs the watchfiles package: pip install 'pytest-difftest[watch]'"
    ]
