"""Fixtures of the end-to-end suite; the helpers live in difftest_support.py."""

from __future__ import annotations

import pytest

from difftest_support import BASE_FILES, Project


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """The default project (config, calc and text modules, one test file each), not yet run."""
    proj = Project(pytester, pytester.path)
    proj.write_files(BASE_FILES)
    return proj
