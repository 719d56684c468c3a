"""``pytest-difftest watch [PYTEST ARGS]``: rerun ``pytest --diff`` whenever a project file
changes.

Changes are debounced (an editor's save, a formatter run right after, a branch switch: one
rerun), and changes made while pytest runs are kept for the next rerun. Needs the optional
``watchfiles`` package (``pip install 'pytest-difftest[watch]'``).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_difftest import display
from pytest_difftest.cli.project import find_project
from pytest_difftest.errors import CliError

# Rust-side wait per round: short, so that the watcher is known to be running before the first
# run, and Ctrl-C is noticed promptly.
_ROUND_MS = 200


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="rerun `pytest --diff` whenever a file under the project changes",
        description="Run `pytest --diff PYTEST_ARGS` now and again after every change under "
        "the project (debounced). Ctrl-C stops. Needs the watchfiles package: "
        "pip install 'pytest-difftest[watch]'.",
    )
    parser.add_argument(
        "--debounce",
        type=int,
        default=500,
        metavar="MS",
        help="wait until no file changed for this long before rerunning (default 500)",
    )
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="the directory to watch (default: the project root, found like pytest's rootdir)",
    )
    parser.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        metavar="PYTEST_ARGS",
        help="passed to pytest after --diff (put them after `--` if they start with -)",
    )
    parser.set_defaults(run=run)


_OWN_OPTIONS = {"--debounce": True, "--root": True, "-h": False, "--help": False}


def prepare_argv(argv: list[str]) -> list[str]:
    """Marks where pytest's arguments start (``--``), so that ``watch -x -k slow`` passes
    ``-x -k slow`` to pytest in order rather than argparse rejecting them: watch's own options
    come first, anything after them is pytest's."""
    if not argv or argv[0] != "watch":
        return argv
    index = 1
    while index < len(argv):
        arg = argv[index]
        name = arg.split("=", 1)[0]
        if arg == "--" or name not in _OWN_OPTIONS:
            break
        index += 2 if _OWN_OPTIONS[name] and "=" not in arg else 1
    if index < len(argv) and argv[index] != "--":
        return [*argv[:index], "--", *argv[index:]]
    return argv


def run(args: argparse.Namespace) -> int:

    try:
        import watchfiles
    except ImportError:
        raise CliError(
            "watch needs the watchfiles package: pip install 'pytest-difftest[watch]'"
        ) from None
    if args.debounce < 0:
        raise CliError(f"--debounce {args.debounce}: expected milliseconds, 0 or more")
    root = Path(args.root) if args.root else None
    if root is not None and not root.is_dir():
        raise CliError(f"--root {args.root}: no such directory")
    project = find_project(Path.cwd(), root)
    # Ctrl-C is how watching stops, whatever the parent left SIGINT as: a parent that ignores
    # or blocks it (some process managers and tools do) hands that on to its children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    command = [sys.executable, "-m", "pytest", "--diff", *pytest_args]
    # The database changes on every run: watching it would rerun forever.
    ignore = watchfiles.DefaultFilter(ignore_paths=[str(project.default_db())])
    changes = watchfiles.watch(
        project.root,
        watch_filter=ignore,
        debounce=args.debounce,
        rust_timeout=_ROUND_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
    )
    shown = " ".join(["pytest", *command[3:]])
    try:
        next(changes)  # the watcher runs from here on: nothing changed during a run is lost
        _say(f"watching {project.root}; running `{shown}` on every change; Ctrl-C stops")
        subprocess.run(command, check=False)
        for batch in changes:
            if not batch:
                continue
            paths = sorted({_relative(path, project.root) for _, path in batch})
            more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
            _say(f"{paths[0]}{more} changed: running `{shown}`")
            subprocess.run(command, check=False)
    except KeyboardInterrupt:
        pass  # Ctrl-C during a run: pytest got it too and stopped; so do we
    _say("stopped watching")
    return 0


def _say(message: str) -> None:
    print(f"pytest-difftest: {display.printable(message)}", flush=True)


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path
