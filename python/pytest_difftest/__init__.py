"""pytest-difftest: run only the tests a change affects."""

from __future__ import annotations

import pytest

from pytest_difftest._core import SCHEMA_VERSION, DifftestError, SchemaVersionError, __version__


class DifftestWarning(pytest.PytestWarning):
    """Base of every warning pytest-difftest issues, so they can be filtered as a group."""


__all__ = [
    "SCHEMA_VERSION",
    "DifftestError",
    "DifftestWarning",
    "SchemaVersionError",
    "__version__",
]
