"""Which files belong to the project: symbolic links resolve as `os.path.realpath` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_difftest.paths import ProjectFiles


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_symbolic_links_are_resolved_per_directory_and_per_file(tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    (root / "pkg").mkdir(parents=True)
    outside.mkdir()
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (outside / "lib.py").write_text("y = 2\n")
    (root / "pkg" / "linked.py").symlink_to(outside / "lib.py")  # a file leading out
    (root / "alias").symlink_to(root / "pkg", target_is_directory=True)
    (outside / "inside.py").symlink_to(root / "pkg" / "mod.py")  # a file leading in
    files = ProjectFiles(root)

    assert files.relative(str(root / "pkg" / "mod.py")) == "pkg/mod.py"
    assert files.relative(str(root / "alias" / "mod.py")) == "pkg/mod.py"
    assert files.relative(str(root / "pkg" / "linked.py")) is None
    assert files.relative(str(root / "alias" / "linked.py")) is None
    assert files.relative(str(outside / "inside.py")) == "pkg/mod.py"
    assert files.relative(str(outside / "lib.py")) is None
    assert files.relative("pkg/mod.py") is None  # not absolute: relative to the working directory
