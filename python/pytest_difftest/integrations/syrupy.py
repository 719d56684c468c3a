"""syrupy, snapshot testing. Syrupy reads a snapshot file once per session (and every file of a
snapshot directory the first time a test asks for it), so the files a test compared against
are not what the test itself opened: syrupy's session says which they were."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_difftest.integrations import amber


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
    """The snapshots of each test, from the assertions syrupy's session registered (every
    ``snapshot`` fixture and every ``snapshot.use_extension(...)`` registers one): in an
    amber file, the test's entries (see `amber`); in any other file (a single-file
    extension's, a custom one's), or an amber file that does not read as entries or lacks
    the test's, the whole file."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seen = 0
        self.directories: set[str] = set()
        # Amber files as last parsed, by path, with the (mtime, size) they had: a file is
        # parsed once for all the tests that share it.
        self.parsed: dict[str, tuple[tuple[int, int], amber.Amber | str | None]] = {}

    def test_begins(self) -> None:
        pass

    def after_test(self, reads: set[str], data_file: Callable[[str], str | None]) -> list[str]:
        """Replaces, in a test's `reads` (project data files), syrupy's own reads with the
        snapshots the test's assertions compared against."""
        taken = self._take()
        if taken is None:
            return []
        compared, directories = taken
        owned = tuple(p for p in map(data_file, directories) if p is not None)
        if owned:
            reads.difference_update([path for path in reads if path.startswith(owned)])
        for location, names in compared.items():
            file = data_file(location)
            if file is not None:
                reads.update(self._dependencies(location, file, names))
        return []

    def _dependencies(self, location: str, file: str, names: set[str]) -> list[str]:
        """The pseudo-files of the entries `names` of the snapshot file at `location`
        (`file`, relative), or the file itself when entries cannot stand for it."""
        if not location.endswith(amber.SUFFIX) or amber.SEPARATOR in file:
            return [file]
        parsed = self._parsed(location)
        if not isinstance(parsed, amber.Amber):
            return [file]
        # A name no entry has (a snapshot this run creates): nothing to tell it from a format
        # we misread, so the whole file, until a baseline sees the entry.
        if not names or any(parsed.value(name) is None for name in names):
            return [file]
        return [amber.entry_path(file, name) for name in sorted(names)]

    def _parsed(self, location: str) -> amber.Amber | str | None:
        try:
            stat = os.stat(location)
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        known = self.parsed.get(location)
        if known is None or known[0] != key:
            known = self.parsed[location] = (key, amber.read(location))
        return known[1]

    def _take(self) -> tuple[dict[str, set[str]], list[str]] | None:
        """The snapshot files the assertions registered since the last call compared against,
        with the names of the test's snapshots in each (see `_names`), and the directories
        syrupy keeps snapshots in and reads on its own (discovery): reads there are syrupy's,
        not the test's. None when syrupy's session cannot be read, and nothing is to be
        filtered."""
        session = getattr(self.config, "_syrupy", None)
        assertions = getattr(session, "_assertions", None)
        if not isinstance(assertions, list):
            return None
        new, self.seen = assertions[self.seen :], len(assertions)
        compared: dict[str, set[str]] = {}
        for assertion in new:
            for result in getattr(assertion, "executions", {}).values():
                names = compared.setdefault(str(result.snapshot_location), set())
                names.update(_names(result))
        self.directories.update(os.path.join(os.path.dirname(f), "") for f in compared)
        # syrupy 7 keys the directories it discovered by path (earlier versions, by test).
        for discovered in getattr(session, "_locations_discovered", {}):
            if isinstance(discovered, (str, os.PathLike)):
                self.directories.add(os.path.join(os.fspath(discovered), ""))
        return compared, sorted(self.directories)


def _names(result: Any) -> set[str]:
    """The names an assertion's result stands for: the test's own (syrupy's name for its first
    snapshot; `amber` takes its further ones, and those it diffs against, with it) and the
    snapshot's, when an extension named it otherwise."""
    name = getattr(result, "snapshot_name", None)
    test = getattr(getattr(result, "test_location", None), "snapshot_name", None)
    if isinstance(test, str) and test and isinstance(name, str) and test in amber.names_of(name):
        return {test}
    return {n for n in (name, test) if isinstance(n, str) and n}
