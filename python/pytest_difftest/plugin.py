"""The pytest hooks of pytest-difftest: options, and the choice of this process's role.

Active only with ``--diff`` or ``--diff-baseline``. `pytest_configure` picks one role, once:
`DatabaseSession` without pytest-xdist, `ControllerSession` or `WorkerSession` with it; the
role and the hook objects it is made of (selection, recording, recording windows) are
registered as plugins. Logic lives in the modules named for what it does.
"""

from __future__ import annotations

import pytest

from pytest_difftest import facts
from pytest_difftest.paths import ProjectFiles
from pytest_difftest.recorder import Recorder, start_recorder
from pytest_difftest.recorder.windows import RecordingWindows
from pytest_difftest.session import DatabaseSession
from pytest_difftest.settings import Settings, add_options, tracked_directories
from pytest_difftest.xdist import ControllerSession, WorkerSession, is_controller, is_worker

_EARLY_RECORDER = pytest.StashKey[Recorder]()
_ROLE = "difftest-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Start recording before conftest.py files are imported (pytest imports them in its own
    # trylast implementation, which pluggy calls after every other one): functions they call
    # while loading, and hooks they run during collection, are import-time dependencies of
    # every test, and a module they import unseen would count whole for every test. Not
    # tryfirst: tracers that other plugins start here (pytest-cov's, tryfirst) go first, so we
    # wrap them.
    namespace = early_config.known_args_namespace
    if getattr(namespace, "diff_baseline", False) and not getattr(namespace, "diff", False):
        given = getattr(namespace, "diff_project_directory", None)
        directories = [d for d in tracked_directories(given, early_config) if d.is_dir()]
        files = ProjectFiles(early_config.rootpath, directories or None)
        early_config.stash[_EARLY_RECORDER] = start_recorder(files, early_config.pluginmanager)


def pytest_configure(config: pytest.Config) -> None:
    for line in facts.markers_help():
        config.addinivalue_line("markers", line)
    recorder = config.stash.get(_EARLY_RECORDER, None)
    try:
        settings = Settings.from_config(config)
    except pytest.UsageError:
        if recorder is not None:
            recorder.close()
        raise
    if settings is None or is_controller(config):
        if recorder is not None:
            recorder.close()  # inactive, or the controller, whose workers record
        recorder = None
    if settings is None:
        return
    files = ProjectFiles(config.rootpath, list(settings.project_directories) or None)
    if settings.baseline and recorder is None and not is_controller(config):
        recorder = start_recorder(files, config.pluginmanager)
    # Our own start-up (environment facts, opening the database, selecting) runs no project
    # code: outside the start-up window (Python < 3.12's fallback hooks cost all code).
    paused = recorder if recorder is not None and recorder.windowed else None
    if paused is not None:
        paused.pause()
    try:
        role = _start_role(config, settings, files, recorder)
    except pytest.UsageError:
        if recorder is not None:
            recorder.close()
        raise
    finally:
        if paused is not None:
            paused.resume()
    config.pluginmanager.register(role, _ROLE)
    for plugin, name in role.plugins():
        config.pluginmanager.register(plugin, name)
    if recorder is not None and recorder.windowed and role.recording is not None:
        config.pluginmanager.register(RecordingWindows(recorder, files), "difftest-windows")


def _start_role(
    config: pytest.Config, settings: Settings, files: ProjectFiles, recorder: Recorder | None
) -> DatabaseSession | WorkerSession:
    if is_worker(config):
        return WorkerSession(config, settings, files, recorder)
    if is_controller(config):
        return ControllerSession(config, settings, files)
    return DatabaseSession(config, settings, files, recorder)


def pytest_unconfigure(config: pytest.Config) -> None:
    role = config.pluginmanager.get_plugin(_ROLE)
    if isinstance(role, (DatabaseSession, WorkerSession)):
        role.close()
    if isinstance(role, DatabaseSession):
        role.database.close()
