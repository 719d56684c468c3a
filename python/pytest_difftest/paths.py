"""Which files belong to the project, and their paths relative to its root."""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path
from types import CodeType

from pytest_difftest import own_checks


class ProjectFiles:
    """Maps absolute file names to root-relative, ``/``-separated paths, or None for files
    outside the project (the standard library, installed packages, a virtualenv inside the
    project). Results are cached: this runs for every code object a test executes."""

    def __init__(self, root: Path, directories: list[Path] | None = None) -> None:
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        # The tracked directories: the root, or those given with --diff-project-directory
        # (inside the root to track less, outside it to track a sibling package too). Paths
        # outside the root are stored relative to it ("../lib/x.py").
        tracked = [os.path.realpath(d) for d in directories] if directories else [self.root]
        self.tracked = tuple(d.rstrip(os.sep) + os.sep for d in tracked)
        self._only_root = self.tracked == (self._prefix,)
        outside = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
        for key in ("purelib", "platlib", "stdlib"):
            outside.add(sysconfig.get_path(key))
        user_site = site.getusersitepackages()
        if isinstance(user_site, str):
            outside.add(user_site)
        # Only directories inside the project need excluding; the rest fail the prefix test.
        self._excluded = tuple(
            os.path.realpath(path).rstrip(os.sep) + os.sep
            for path in outside
            if path and os.path.realpath(path).startswith(self.tracked)
        )
        self._cache: dict[str, str | None] = {}
        self._any_cache: dict[str, str | None] = {}
        # id of a code object → the code object (held, so that its id is not reused) and its
        # (relative path, first line), or None outside the project (see `executed_code`).
        self.code_cache: dict[int, tuple[CodeType, tuple[str, int] | None]] = {}
        # ids of the code objects in `code_cache` known to be outside the project.
        self.code_outside: set[int] = set()
        self._conftests: dict[str, list[str]] = {}
        # Directory → its real path (see `_realpath`).
        self._directories: dict[str, str] = {}

    def relative(self, filename: str) -> str | None:
        """`filename` relative to the root, or None if it is not a project source file."""
        try:
            return self._cache[filename]
        except KeyError:
            pass
        result: str | None = None
        if filename.endswith(".py"):
            result = self.project_path(filename)
        self._cache[filename] = result
        return result

    def project_path(self, filename: str) -> str | None:
        """Any file's path relative to the root, ``/``-separated, if it lies in a tracked
        directory and not in an environment or cache inside it; else None."""
        try:
            return self._any_cache[filename]
        except KeyError:
            result = self._any_cache[filename] = self._project_path(filename)
            return result

    def _project_path(self, filename: str) -> str | None:
        full = self._realpath(filename)
        if not full.startswith(self.tracked) or full.startswith(self._excluded):
            return None
        if full.startswith(self._prefix):
            relative = full[len(self._prefix) :]
        else:
            relative = os.path.relpath(full, self.root)
        parts = relative.split(os.sep)
        if "site-packages" in parts or "__pycache__" in parts:
            return None
        return "/".join(parts)

    def _realpath(self, filename: str) -> str:
        """`os.path.realpath`, resolving each directory once: a session asks for thousands of
        files in a few hundred directories, and resolving a path costs a system call per part."""
        with own_checks.checking():
            return self._resolve(filename)

    def _resolve(self, filename: str) -> str:
        directory, _, name = filename.rpartition(os.sep)
        if not directory or not os.path.isabs(filename) or name in ("", ".", ".."):
            return os.path.realpath(filename)
        resolved = self._directories.get(directory)
        if resolved is None:
            resolved = self._directories[directory] = os.path.realpath(directory)
        full = os.path.join(resolved, name)
        return os.path.realpath(full) if os.path.islink(full) else full

    def relative_fast(self, path: str) -> str | None:
        """Like `relative` for paths pytest hands out (absolute, already resolved under the
        root): a prefix test, no file-system calls. Falls back to `relative` otherwise."""
        if (
            self._only_root
            and path.startswith(self._prefix)
            and not path.startswith(self._excluded)
        ):
            return path[len(self._prefix) :].replace(os.sep, "/")
        return self.relative(path)

    def conftests_above(self, relative_file: str) -> list[str]:
        """The ``conftest.py`` files in the directories from the root down to `relative_file`."""
        with own_checks.checking():
            return self._conftests_in(relative_file.rpartition("/")[0])

    def _conftests_in(self, directory: str) -> list[str]:
        found = self._conftests.get(directory)
        if found is None:
            found = self._conftests_in(directory.rpartition("/")[0]) if directory else []
            candidate = f"{directory}/conftest.py" if directory else "conftest.py"
            if os.path.isfile(os.path.join(self.root, candidate)):
                found = [*found, candidate]
            self._conftests[directory] = found
        return found

    def module_map(self) -> list[tuple[str, str]]:
        """``(module name, relative path)`` of every loaded project module."""
        modules = []
        # A copy, made in one step: listing the live dict allocates, an allocation may run the
        # garbage collector, and a weakref callback it runs may drop a module (jinja2's
        # ModuleLoader does): "dictionary changed size during iteration".
        for name, module in sys.modules.copy().items():
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                relative = self.relative(filename)
                if relative is not None:
                    modules.append((name, relative))
        return modules
