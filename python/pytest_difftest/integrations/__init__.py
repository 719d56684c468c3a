"""What other plugins tell us, where our own observation cannot see: each module here speaks to
one plugin, through what it exposes, and is inert when that plugin is not active."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pytest


class Integration(Protocol):
    def test_begins(self) -> None:
        """A test is about to run."""

    def after_test(self, reads: set[str], data_file: Callable[[str], str | None]) -> list[str]:
        """The test has run: corrects its `reads` (project data files, relative; `data_file`
        turns an absolute path into one) with what the plugin says the test relied on, and
        returns the modules (absolute paths) the plugin read whole for it."""


def active(config: pytest.Config) -> list[Integration]:
    """The integrations of the plugins active in this session."""
    from pytest_difftest.integrations import django, syrupy

    found: list[Integration] = []
    if syrupy.active(config):
        found.append(syrupy.SnapshotReads(config))
    if django.active(config):
        found.append(django.DjangoReads())
    return found
