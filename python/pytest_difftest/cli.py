"""The ``pytest-difftest`` command."""

from __future__ import annotations

import argparse
import sys

from pytest_difftest import __version__


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="pytest-difftest",
        description="Tools for pytest-difftest's dependency database. "
        "Record with `pytest --diff-baseline`, select with `pytest --diff`.",
    )
    parser.add_argument("--version", action="version", version=f"pytest-difftest {__version__}")
    parser.parse_args(argv)
    parser.print_help(sys.stdout)
    return 0
