"""The ``pytest-difftest`` command: one subcommand per module, each adding its own parser.

A subcommand module provides ``add_parser(subparsers)``, which registers its arguments and sets
``run`` (a function taking the parsed namespace and returning the exit code) as the default.
User errors are raised as `CliError` (a `DifftestError`, like every error of ours) and printed
as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from pytest_difftest import __version__, display
from pytest_difftest.errors import DifftestError

Runner = Callable[[argparse.Namespace], int]


def _subcommand_modules() -> list[Any]:
    # Each subcommand in its own module, imported here so `--help` lists them all.
    from pytest_difftest.cli import inspect, merge, report, status, watch

    return [inspect, status, report, watch, merge]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error of this command."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pytest-difftest",
        description="Tools for pytest-difftest's dependency database. "
        "Record with `pytest --diff-baseline`, select with `pytest --diff`.",
    )
    parser.add_argument("--version", action="version", version=f"pytest-difftest {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _subcommand_modules():
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for module in _subcommand_modules():
        # A subcommand that passes arguments through to another tool marks where they start.
        prepare = getattr(module, "prepare_argv", None)
        if prepare is not None:
            argv = prepare(argv)
    args = parser.parse_args(argv)
    run: Runner | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stdout)
        return 0
    try:
        return run(args)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Point stdout at /dev/null so the
        # interpreter's final flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (DifftestError, OSError) as error:
        print(f"pytest-difftest: {display.printable(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
