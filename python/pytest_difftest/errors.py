"""The errors of pytest-difftest, all under one root, `DifftestError`.

`DifftestError` and `SchemaVersionError` come from the Rust core (a database that cannot be
used); the others are raised on the Python side. Every message is one line that says what to
do: the plugin prints it in the summary, the command prints it on stderr, never a traceback.
"""

from __future__ import annotations

from pytest_difftest._core import DifftestError, SchemaVersionError


class RemoteError(DifftestError):
    """A shared baseline that cannot be used; the message names the URL and the cause."""


class RemoteMissing(RemoteError):
    """The remote database does not exist (yet): its bucket or directory does."""


class CliError(DifftestError):
    """A user error of the ``pytest-difftest`` command: printed with exit code 2."""


__all__ = ["CliError", "DifftestError", "RemoteError", "RemoteMissing", "SchemaVersionError"]
