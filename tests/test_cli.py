"""The `pytest-difftest` command's conventions: help, version, `python -m`, one-line errors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from difftest_support import DB, Project

COMMANDS = ("inspect", "status", "report", "watch")


def test_help_lists_every_subcommand(project: Project) -> None:
    result = project.cli("--help")
    assert result.ret == 0
    listed = {line.split()[0] for line in result.outlines if line.startswith("    ")}
    assert set(COMMANDS) <= listed
    for command in COMMANDS:
        sub = project.cli(command, "--help")
        assert sub.ret == 0
        sub.stdout.fnmatch_lines([f"usage: pytest-difftest {command} *"])


def test_no_command_prints_help(project: Project) -> None:
    result = project.cli()
    assert result.ret == 0
    result.stdout.fnmatch_lines(["usage: pytest-difftest *"])


def test_version_from_module_and_script(project: Project) -> None:
    from pytest_difftest import __version__

    result = project.cli("--version")
    assert (result.ret, result.outlines) == (0, [f"pytest-difftest {__version__}"])
    script = shutil.which("pytest-difftest", path=str(Path(sys.executable).parent))
    assert script is not None, "the pytest-difftest script is not installed next to python"
    installed = project.pytester.run(script, "--version")
    assert installed.outlines == [f"pytest-difftest {__version__}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bogus",), "pytest-difftest: argument COMMAND: invalid choice: 'bogus'*--help)"),
        (("inspect", "--bogus"), "pytest-difftest: unrecognized arguments: --bogus*"),
        (("inspect", "--test", "a", "--file", "b"), "*not allowed with argument*"),
        (("watch", "--debounce", "soon"), "pytest-difftest watch: argument --debounce*"),
        (("status", "--root", "nowhere"), "pytest-difftest: --root nowhere: no such directory"),
    ],
)
def test_usage_errors_are_one_line(project: Project, args: tuple[str, ...], message: str) -> None:
    result = project.cli(*args)
    assert result.ret == 2
    assert len(result.errlines) == 1, result.errlines
    result.stderr.fnmatch_lines([message])


def test_unusable_database_is_one_line_not_a_traceback(project: Project) -> None:
    db = project.root / DB
    db.parent.mkdir(parents=True)
    db.write_text("not a database\n")
    for command in ("inspect", "status", "report"):
        result = project.cli(command)
        assert result.ret == 2
        assert len(result.errlines) == 1, result.errlines
        result.stderr.fnmatch_lines(["pytest-difftest: *file is not a database*"])
    assert db.read_text() == "not a database\n"  # never loses data
