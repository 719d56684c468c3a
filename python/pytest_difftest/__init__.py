"""pytest-difftest: run only the tests a change affects."""

from __future__ import annotations

from pytest_difftest._core import SCHEMA_VERSION, __version__
from pytest_difftest.errors import DifftestError, SchemaVersionError

__all__ = ["SCHEMA_VERSION", "DifftestError", "SchemaVersionError", "__version__"]
