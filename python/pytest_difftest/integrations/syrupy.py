"""syrupy, snapshot testing. Syrupy reads a snapshot file once per session (and every file of a
snapshot directory the first time a test asks for it), so the files a test compared against
are not what the test itself opened: syrupy's session says which they were."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _plugin(config: pytest.Config) -> Any:
    return config.pluginmanager.get_plugin("syrupy")


def active(config: pytest.Config) -> bool:
    return _plugin(config) is not None


def needs_snapshot_modules_collected(config: pytest.Config) -> bool:
    """Whether skipping the collection of a test module with snapshots would cost them. syrupy
    before 7.0.1 cannot tell a module kept out of collection from one whose tests were
    removed: when every collected test ran, it reports the other modules' snapshots unused (a
    failed run), and ``--snapshot-update`` deletes them. Later versions see the modules
    pytest collected."""
    plugin = _plugin(config)
    return plugin is not None and not hasattr(plugin, "pytest_collectstart")


def may_have_snapshots(module: Path) -> bool:
    """Whether the test module `module` may have snapshots: syrupy keeps them in a
    ``__snapshots__`` directory beside it (a custom location is not looked for)."""
    return (module.parent / "__snapshots__").is_dir()


class SnapshotReads:
    """The snapshot files of each test, from the assertions syrupy's session registered (every
    ``snapshot`` fixture and every ``snapshot.use_extension(...)`` registers one)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seen = 0
        self.directories: set[str] = set()

    def test_begins(self) -> None:
        pass

    def after_test(self, reads: set[str], data_file: Callable[[str], str | None]) -> list[str]:
        """Replaces, in a test's `reads` (project data files), syrupy's own reads with the
        snapshot files the test's assertions compared against."""
        taken = self._take()
        if taken is None:
            return []
        files, directories = taken
        owned = tuple(p for p in map(data_file, directories) if p is not None)
        if owned:
            reads.difference_update([path for path in reads if path.startswith(owned)])
        reads.update(path for path in map(data_file, files) if path is not None)
        return []

    def _take(self) -> tuple[list[str], list[str]] | None:
        """The files the assertions registered since the last call compared against, and the
        directories syrupy keeps snapshots in and reads on its own (discovery): reads there
        are syrupy's, not the test's. None when syrupy's session cannot be read, and nothing
        is to be filtered."""
        session = getattr(self.config, "_syrupy", None)
        assertions = getattr(session, "_assertions", None)
        if not isinstance(assertions, list):
            return None
        new, self.seen = assertions[self.seen :], len(assertions)
        files = {
            str(result.snapshot_location)
            for assertion in new
            for result in getattr(assertion, "executions", {}).values()
        }
        self.directories.update(os.path.join(os.path.dirname(f), "") for f in files)
        # syrupy 7 keys the directories it discovered by path (earlier versions, by test).
        for discovered in getattr(session, "_locations_discovered", {}):
            if isinstance(discovered, (str, os.PathLike)):
                self.directories.add(os.path.join(os.fspath(discovered), ""))
        return sorted(files), sorted(self.directories)
