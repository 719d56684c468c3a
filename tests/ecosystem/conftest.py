"""The ecosystem tests run pytest as users do: with every installed plugin loaded."""

from __future__ import annotations

import pytest

from difftest_support import Project


@pytest.fixture
def project(project: Project) -> Project:
    project.load_installed_plugins()
    return project
