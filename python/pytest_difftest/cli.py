"""The ``pytest-difftest`` command: one subcommand per module, each adding its own parser.

A subcommand module provides ``add_parser(subparsers)``, which registers its arguments and sets
``run`` (a function taking the parsed namespace and returning the exit code) as the default.
User errors are raised as `CliError` and printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from pytest_difftest import DifftestError, __version__


class CliError(Exception):
    """A user error: printed as ``pytest-difftest: <message>`` with exit code 2."""


Runner = Callable[[argparse.Namespace], int]


def _subcommand_modules() -> list[Any]:
    # Each subcommand in its own module, imported here so `--help` lists them all.
    from pytest_difftest import _cli_merge

    return [_cli_merge]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
    run: Runner | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stdout)
        return 0
    try:
        return run(args)
    except (CliError, DifftestError, OSError) as error:
        print(f"pytest-difftest: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
