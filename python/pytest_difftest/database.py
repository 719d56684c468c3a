"""The database's part of a session: open it (setting a damaged one aside when asked), bring in
the shared baseline, select, store what collection found, settle a baseline, remember the run
for ``inspect`` and ``report``, and upload. If the database cannot be used, every test runs and
nothing is written (`Database.give_up`).
"""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_difftest import facts, own_checks
from pytest_difftest._core import CONFIG_INI, CONFIG_PLUGINS, PYTHON, Engine
from pytest_difftest.dbfile import ForeignFileError, set_aside
from pytest_difftest.errors import DifftestError, RemoteError, SchemaVersionError
from pytest_difftest.selecting import Plan, Selecting
from pytest_difftest.settings import Settings

# The streams pytest's output capture sets afresh before every test (and restores after).
_CAPTURED_STREAMS = ["sys.stdin", "sys.stdout", "sys.stderr"]

# What a database operation may raise that means "stop using the database".
_DATABASE_ERRORS = (DifftestError, OSError)


class Database:
    """The session's database. `engine` is None once it could not be used (`give_up`)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.engine: Engine | None = None
        # Problems worth one line each in the summary (unparsable files, an unusable database).
        self.notes: list[str] = []
        # What to stop when the database is given up (recording, selection).
        self.on_give_up: list[Callable[[], None]] = []
        # A baseline into an empty database records everything: compacted when it is done.
        self.rebuilding = False
        # What became of the shared baseline (--diff-remote), for the header.
        self.remote_status: str | None = None
        # The environment facts of this run, by pseudo-file path (see facts).
        self.facts: dict[str, str] = {}

    def open_and_select(self) -> Plan | None:
        """Opens the database, brings in the shared baseline, and selects; None when the
        database cannot be used (every test runs)."""
        settings = self.settings
        try:
            engine = self.engine = self._open()
            engine.set_variant(settings.variant)
            engine.set_reset_state(_reset_before_each_test(self.config))
            self.facts = self._facts(engine)
            engine.set_facts(sorted(self.facts.items()))
            if settings.remote_url is not None:
                from pytest_difftest.remote.sharing import fetch_and_merge

                self.remote_status = fetch_and_merge(engine, settings)
            plan = self._select(engine)
        except _DATABASE_ERRORS as error:
            self.give_up(f"cannot use the database, running every test: {error}")
            return None
        commit = None if settings.baseline else engine.meta("commit")
        if commit and _not_an_ancestor(commit, self.config.rootpath):
            self.notes.append(
                f"warning: the baseline's commit {commit[:10]} is not an ancestor of HEAD: "
                "it was recorded on code this branch does not contain"
            )
        return plan

    def give_up(self, note: str) -> None:
        """Stop using the database for the rest of the session; every test still runs."""
        self.notes.append(note)
        self.engine = None
        for stop in self.on_give_up:
            stop()

    def _open(self) -> Engine:
        settings = self.settings
        path = settings.db_path
        # The tracked directories bound the file paths the database may hold: the engine reads
        # those files.
        tracked = settings.project_directories
        args = (path, self.config.rootpath, settings.cache_size, tracked)
        try:
            engine = Engine(*args)
        except _DATABASE_ERRORS as error:
            older = isinstance(error, SchemaVersionError) and error.found < error.expected
            rebuilt = settings.baseline or settings.remote_url is not None
            if not (settings.force or (older and rebuilt)):
                raise
            # A rebuild was asked for, or the baseline is from an older version of the tool
            # (whose data this version cannot use) and this run rebuilds it, or starts from the
            # remote baseline: keep the old file next to the new one.
            try:
                kept = set_aside(path, self.config.rootpath)
            except ForeignFileError as foreign:
                if not settings.force:
                    raise error from None  # left alone, like any database we cannot use
                raise pytest.UsageError(f"--diff-force: {foreign}") from None
            try:
                engine = Engine(*args)
            except _DATABASE_ERRORS:
                self.notes.append(f"the old database is kept at {kept}")
                raise
            why = "is from an older version" if older else "could not be opened"
            how = "a full run" if settings.baseline else "the remote baseline"
            self.notes.append(f"the old database {why}; rebuilt from {how}, kept at {kept}")
        if settings.force:
            engine.clear()
        self.rebuilding = settings.baseline and engine.test_count() == 0
        return engine

    def _facts(self, engine: Engine) -> dict[str, str]:
        """The environment facts pseudo-files stand for, computed once per run."""
        installed = facts.distribution_facts()
        machinery = facts.test_machinery(
            self.config, self.settings.cache_file("machinery.json"), installed
        )
        found = facts.config_facts(self.config.inipath, machinery)
        found.update(installed)
        found.update(facts.project_facts(self.config.rootpath, engine.pseudo_files()))
        return found

    def _select(self, engine: Engine) -> Plan:
        skip_dirs = [str(pattern) for pattern in self.config.getini("norecursedirs")]
        selection = engine.select(skip_dirs)
        if self.settings.baseline:
            engine.adopt_new_files()
            engine.prefetch()  # while pytest collects
        plan = Plan.from_selection(selection)
        if not plan.known_tests:
            return plan
        why_all = {
            CONFIG_INI: "the pytest configuration changed",
            CONFIG_PLUGINS: "the installed pytest plugins changed",
            PYTHON: "the Python version changed",
        }
        for changed in selection.changed:
            if changed.path in why_all and changed.blocks:
                self.notes.append(f"{why_all[changed.path]}: every test is selected")
            if changed.parse_error:
                self.notes.append(
                    f"{changed.path} does not parse ({changed.parse_error}): "
                    "every test that imports it is selected"
                )
        return plan

    def store_collected(self, collected: dict[str, str], known_tests: set[str]) -> None:
        """Stores new tests (`collected`: node id → test file) as pending, so that deselection
        by -k or an interrupted run cannot hide them, and forgets stored tests that are gone
        from the files just collected."""
        engine = self.engine
        if engine is None:
            return
        try:
            pending = [(n, file) for n, file in collected.items() if n not in known_tests]
            if pending:
                engine.add_pending(pending)
            if any("::" in arg for arg in self.config.args):
                return  # collected by node id: other tests of those files were not looked at
            engine.remove_tests(self._gone(known_tests, collected))
        except _DATABASE_ERRORS as error:
            self.give_up(f"recording stopped, the baseline is unchanged: {error}")

    def _gone(self, known_tests: set[str], collected: dict[str, str]) -> list[str]:
        """Stored tests that a file collected now no longer has, and those of files that are
        gone. Each other file is looked for once: an incremental run collects few."""
        collected_files = set(collected.values())
        root = self.config.rootpath
        exists: dict[str, bool] = {}
        gone = []
        with own_checks.checking():
            for nodeid in known_tests:
                if nodeid in collected:
                    continue
                file = nodeid.partition("::")[0]
                if file not in collected_files:
                    if file not in exists:
                        exists[file] = (root / file).exists()
                    if exists[file]:
                        continue
                gone.append(nodeid)
        return gone

    def add_pending(self, nodeids: list[str], known_tests: set[str]) -> None:
        """In an xdist controller: the tests the workers collected that are not stored yet."""
        unknown = [(n, n.partition("::")[0]) for n in nodeids if n not in known_tests]
        if self.engine is None or not unknown:
            return
        try:
            self.engine.add_pending(unknown)
        except _DATABASE_ERRORS as error:
            self.give_up(f"recording stopped, the baseline is unchanged: {error}")

    def finish_baseline(self) -> None:
        """Settles the database after a baseline: fingerprints, clean files, unused blocks."""
        if self.engine is None:
            return
        try:
            self.engine.finish(_baseline_facts(self.config.rootpath))
            if self.rebuilding:
                self.engine.compact()
        except _DATABASE_ERRORS as error:
            self.give_up(f"could not complete the baseline: {error}")

    def remember_run(
        self, outcome_counts: dict[str, int], selecting: Selecting, plan: Plan | None
    ) -> None:
        """Stores what this session ran, and why, for `pytest-difftest inspect` and `report`.
        Only informative: a database that cannot take it does not fail the session."""
        if self.engine is None:
            return
        facts_of_run = {
            "mode": self.settings.option,
            # The value of ini diff_env, which the command does not evaluate (it runs code).
            "variant": self.settings.variant,
            "time": time.time(),
            "outcomes": dict(sorted(outcome_counts.items())),
        }
        meta = [("last_run", json.dumps(facts_of_run))]
        if plan is not None and plan.known_tests and plan.details is not None:
            selection = plan.details
            changed = [c for c in selection.changed if c.blocks]
            last_selection = {
                **facts_of_run,
                "total": selecting.total,
                "saved_seconds": selection.deselected_duration,
                "changed": [
                    {"path": c.path, "blocks": list(c.blocks), "deleted": c.deleted}
                    for c in changed
                ],
                "new_files": list(selection.new_files),
                "selected": [
                    {"nodeid": nodeid, "reason": selecting.reason(nodeid)}
                    for nodeid in selecting.ran_ids
                ],
            }
            meta.append(("last_selection", json.dumps(last_selection)))
        with contextlib.suppress(*_DATABASE_ERRORS):
            self.engine.set_meta(meta)

    def close(self) -> None:
        """Closes the database now, not whenever the interpreter frees the engine (an exiting
        one may never): closing folds the write-ahead log into the file, the whole baseline."""
        engine, self.engine = self.engine, None
        if engine is not None:
            with contextlib.suppress(*_DATABASE_ERRORS):
                engine.close()

    def upload(self) -> bool:
        """Uploads the finished baseline; False (with a note) if it could not."""
        url = self.settings.remote_url
        if self.engine is None:
            self.notes.append(f"not uploaded to {url}: the baseline is incomplete")
            return False
        try:
            from pytest_difftest.remote.sharing import upload

            upload(self.engine, self.settings)
        except (RemoteError, *_DATABASE_ERRORS) as error:
            self.notes.append(f"upload failed: {error}")
            return False
        self.notes.append(f"baseline uploaded to {url}")
        return True


def _baseline_facts(root: Path) -> list[tuple[str, str]]:
    from pytest_difftest import __version__

    found = [
        ("created", str(time.time())),
        ("tool_version", __version__),
        ("python", platform.python_version()),
        ("platform", sys.platform),
    ]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        found.append(("commit", commit))
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout, or no git: the baseline simply has no commit
    return found


def _not_an_ancestor(commit: str, root: Path) -> bool:
    """Whether git says HEAD does not contain `commit` (the baseline then describes code this
    checkout never had); False when git cannot tell (no git, not a repository, an unknown
    commit)."""
    try:
        result = subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, "HEAD"],
            cwd=root,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    # 0: an ancestor; 1: not one; anything else: git cannot tell.
    return result.returncode == 1


def _reset_before_each_test(config: pytest.Config) -> list[str]:
    """The state pytest sets afresh before every test: the standard streams while it captures
    output (not under ``-s``), so a test that replaces one leaves nothing for the next."""
    capturing = config.getoption("capture", "no") != "no"
    return list(_CAPTURED_STREAMS) if capturing else []
