"""What the data watcher does not take for a test's reads: the plugin's own look at the file
system, and bytecode the import system loads. Neither can be a data file, and each note costs
a walk up the stack: on a project of 500 modules they were most of what watching cost."""

from __future__ import annotations

import importlib
import py_compile
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_difftest.data import DataWatcher
from pytest_difftest.paths import ProjectFiles


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[ProjectFiles, DataWatcher]]:
    files = ProjectFiles(tmp_path)
    watcher = DataWatcher(files)
    try:
        watcher.take_absolute()
        yield files, watcher
    finally:
        watcher.close()


def test_resolving_a_project_path_is_no_read(
    tmp_path: Path, watched: tuple[ProjectFiles, DataWatcher]
) -> None:
    files, watcher = watched
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")

    assert files.relative(str(tmp_path / "pkg" / "mod.py")) == "pkg/mod.py"
    assert files.project_path(str(tmp_path / "pkg" / "data.json")) == "pkg/data.json"
    assert files.conftests_above("pkg/mod.py") == []

    assert watcher.take_absolute() == []


def test_bytecode_an_import_loads_is_no_read(
    tmp_path: Path, watched: tuple[ProjectFiles, DataWatcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, watcher = watched
    source = tmp_path / "watched_module_with_bytecode.py"
    source.write_text("VALUE = 1\n")
    bytecode = py_compile.compile(str(source), doraise=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, source.stem, raising=False)
    importlib.invalidate_caches()
    watcher.take_absolute()  # what compiling it looked at

    assert importlib.import_module(source.stem).VALUE == 1

    opened = watcher.take_absolute()
    assert not [path for path in opened if path.endswith(".pyc")], opened
    assert bytecode.endswith(".pyc")
