"""Which installed distributions a test used, so that upgrading one selects its tests."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from pytest_difftest.facts import OWN_DISTRIBUTION, cached, normalize
from pytest_difftest.paths import ProjectFiles


class DistributionMap:
    """Which installed distributions a test used: the distributions owning the modules whose
    code it executed outside the project, and those its module imported."""

    def __init__(
        self, files: ProjectFiles, machinery: dict[str, str], cache: Path | None = None
    ) -> None:
        self.files = files
        skipped = {OWN_DISTRIBUTION, *machinery}
        # Import name → distributions, computed once (and kept in `cache` between sessions).
        self._owners = {
            top: sorted({normalize(name) for name in names} - skipped)
            for top, names in _cached_import_owners(files, cache).items()
        }
        entries = {os.path.realpath(entry) for entry in sys.path if entry}
        # Longest first: a site directory inside another path entry wins.
        self._entries = sorted(
            (entry.rstrip(os.sep) + os.sep for entry in entries), key=len, reverse=True
        )
        self._by_file: dict[str, list[str]] = {}
        self._by_module: dict[str, list[str]] = {}
        # By the code object's id, not the code object: equal code objects of two files resolve
        # their names in different modules. The code object is held so its id is not reused.
        self._by_project_code: dict[int, tuple[CodeType, frozenset[str]]] = {}
        # Each distinct answer of `_by_project_code`, kept once: the code objects of one module
        # mostly share theirs, and a baseline asks for tens of thousands of them.
        self._answers: dict[frozenset[str], frozenset[str]] = {}
        # Project file name → its module, rebuilt when sys.modules grows.
        self._module_by_file: dict[str, ModuleType] = {}
        self._modules_seen = -1

    def of_code(self, codes: Iterable[CodeType]) -> set[str]:
        """The distributions of the code objects outside the project."""
        found: set[str] = set()
        cache = self._by_file
        for code in codes:
            filename = code.co_filename
            dists = cache.get(filename)
            if dists is None:
                dists = cache[filename] = self._file_owners(filename)
            if dists:
                found.update(dists)
        return found

    def of_project_code(self, codes: Iterable[CodeType]) -> set[str]:
        """The distributions that the project code in `codes` refers to: modules imported
        inside a function (their names are in the code's ``co_names``) and whatever the
        code's module imports. On Python 3.12+ the recorder reports library code only to the
        first test that runs it, so this is what keeps every later test that reaches the
        library through project code depending on it."""
        found: set[str] = set()
        cache = self._by_project_code
        for code in codes:
            entry = cache.get(id(code))
            if entry is None:
                dists = self._project_code_owners(code)
                entry = cache[id(code)] = (code, self._answers.setdefault(dists, dists))
            dists = entry[1]
            if dists:
                found.update(dists)
        return found

    def _project_code_owners(self, code: CodeType) -> frozenset[str]:
        if self.files.relative(code.co_filename) is None:
            return frozenset()
        dists: set[str] = set()
        for name in code.co_names:
            owners = self._owners.get(name)  # most names are no distribution's: one lookup
            if not owners:
                continue
            filename = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(filename, str) and self.files.project_path(filename) is None:
                dists.update(owners)
        if len(sys.modules) != self._modules_seen:
            self._modules_seen = len(sys.modules)
            self._module_by_file = {}
            for module in sys.modules.copy().values():  # see ProjectFiles.module_map
                filename = getattr(module, "__file__", None)
                if isinstance(filename, str):
                    self._module_by_file[filename] = module
        dists.update(self.of_module(self._module_by_file.get(code.co_filename)))
        return frozenset(dists)

    def of_module(self, module: ModuleType | None) -> list[str]:
        """The distributions a test module imports from (its global names' top-level
        modules): a test that only calls C code of a package still depends on it."""
        if module is None:
            return []
        name = module.__name__
        found = self._by_module.get(name)
        if found is None:
            tops: set[str] = set()
            for value in list(vars(module).values()):
                owner: Any = value.__name__ if isinstance(value, ModuleType) else _module_of(value)
                if isinstance(owner, str) and owner:
                    tops.add(owner.partition(".")[0])
            dists: set[str] = set()
            for top in tops:
                loaded = sys.modules.get(top)
                filename = getattr(loaded, "__file__", None)
                if isinstance(filename, str) and self.files.project_path(filename) is None:
                    dists.update(self._owners.get(top, ()))
            found = self._by_module[name] = sorted(dists)
        return found

    def _file_owners(self, filename: str) -> list[str]:
        if self.files.relative(filename) is not None or not os.path.isabs(filename):
            return []  # project code, or frozen/generated code
        full = os.path.realpath(filename)
        for entry in self._entries:
            if full.startswith(entry):
                top = full[len(entry) :].split(os.sep, 1)[0]
                top = top.split(".", 1)[0]  # "six.py", "_cffi.cpython-311.so"
                return self._owners.get(top, [])
        return []


def _cached_import_owners(files: ProjectFiles, cache: Path | None) -> Mapping[str, list[str]]:
    """`_import_owners`, read from `cache` while the import path's directories outside the
    project are unchanged: installing, upgrading or removing a distribution adds or removes its
    ``.dist-info`` directory, which changes the modification time of the directory holding it.
    Computing it reads every installed distribution's file list (a tenth of a second or more).
    """
    key = [sys.version]
    for entry in sys.path:
        if files.project_path(os.path.join(entry or ".", "x")) is not None:
            continue  # the project's own directories: a new test file is no new distribution
        with contextlib.suppress(OSError):
            key.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
    return cached(
        cache,
        key,
        lambda: dict(_import_owners()),
        lambda stored: {str(top): [str(n) for n in names] for top, names in stored.items()},
    )


def _import_owners() -> Mapping[str, list[str]]:
    """Top-level import name → the distributions providing it
    (`importlib.metadata.packages_distributions`, which Python 3.9 lacks)."""
    stdlib = getattr(metadata, "packages_distributions", None)
    if stdlib is not None:
        owners: Mapping[str, list[str]] = stdlib()
        return owners
    found: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        tops = set((dist.read_text("top_level.txt") or "").split())
        for file in () if tops else dist.files or ():
            parts = file.parts
            top = parts[0] if len(parts) > 1 else parts[0].partition(".")[0]
            if top and not top.endswith((".dist-info", ".egg-info")) and top != "..":
                tops.add(top)
        for top in tops:
            found.setdefault(top, []).append(name)
    return found


def _module_of(value: object) -> object:
    try:
        return getattr(value, "__module__", None)
    except Exception:  # a proxy object whose attribute access fails
        return None
