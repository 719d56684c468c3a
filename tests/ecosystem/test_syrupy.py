"""Snapshot testing with syrupy: a snapshot file is data of every test whose assertions read it
(syrupy reads it once per session), and syrupy is told what we deselected the way ``-k`` tells
it, so that ``--snapshot-update`` never deletes the snapshots of tests we left out."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes

pytest.importorskip("syrupy")

SHARED = "tests/__snapshots__/test_shared.ambr"


@pytest.fixture
def snapshots(project: Project) -> Project:
    """Two tests sharing one snapshot file, one more with a file of its own; snapshots written
    by a plain run, then a baseline."""
    project.write(
        "src/pkg/shapes.py",
        """
        def square():
            return {"sides": 4}


        def triangle():
            return {"sides": 3}


        def circle():
            return {"sides": 0}
        """,
    )
    project.write(
        "tests/test_shared.py",
        """
        from pkg.shapes import square, triangle


        def test_square(snapshot):
            assert square() == snapshot


        def test_triangle(snapshot):
            assert triangle() == snapshot
        """,
    )
    project.write(
        "tests/test_own.py",
        """
        from pkg.shapes import circle


        def test_own(snapshot):
            assert circle() == snapshot
        """,
    )
    written = project.run("-p", "no:difftest", "--snapshot-update")
    assert written.ret == 0, written.stdout.str()
    project.settled()
    return project


def test_nothing_affected_is_success(snapshots: Project) -> None:
    # syrupy puts pytest's exit code 5 (no test ran) back into the exit status: we take it out
    # after syrupy is done.
    result = snapshots.diff()
    assert outcomes(result) == {}
    assert result.ret == 0


def test_an_edited_snapshot_entry_selects_the_test_that_reads_it(snapshots: Project) -> None:
    # Syrupy reads the shared file once, while the first test runs; the second test reads it
    # from syrupy's cache, and must depend on it all the same.
    snapshots.replace(SHARED, "'sides': 3", "'sides': 5")
    result = snapshots.diff()
    assert outcomes(result)["test_triangle"] == "FAILED"
    assert "test_own" not in outcomes(result)


def test_a_deselected_test_keeps_its_snapshot_through_snapshot_update(snapshots: Project) -> None:
    snapshots.replace("src/pkg/shapes.py", '"sides": 3', '"sides": 6')
    # Only test_triangle is affected; syrupy must not call test_square's snapshot unused.
    result = snapshots.diff()
    assert outcomes(result) == {"test_triangle": "FAILED"}
    assert "unused" not in result.stdout.str()
    updated = snapshots.diff("--snapshot-update")
    assert outcomes(updated) == {"test_triangle": "PASSED"}
    shared = snapshots.read(SHARED)
    assert "# name: test_square" in shared, shared
    assert "'sides': 6" in shared
    assert "# name: test_own" in snapshots.read("tests/__snapshots__/test_own.ambr")
    # And a full run agrees that nothing was lost.
    full = snapshots.run("-p", "no:difftest")
    assert full.ret == 0, full.stdout.str()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_module_left_uncollected_keeps_its_snapshots(
    snapshots: Project, workers: tuple[str, ...]
) -> None:
    # Every collected test runs, and test_own.py is not collected at all: syrupy before 7.0.1
    # took test_own's snapshots for unused (exit 1) and deleted them with --snapshot-update.
    snapshots.replace("src/pkg/shapes.py", '"sides": 4', '"sides": 8')
    snapshots.replace("src/pkg/shapes.py", '"sides": 3', '"sides": 6')
    result = snapshots.diff(*workers, "-rA")
    assert "unused" not in result.stdout.str()
    assert result.ret == 1  # the two changed shapes, nothing else
    updated = snapshots.diff(*workers, "--snapshot-update")
    assert updated.ret == 0, updated.stdout.str()
    assert "# name: test_own" in snapshots.read("tests/__snapshots__/test_own.ambr")
    full = snapshots.run("-p", "no:difftest")
    assert full.ret == 0, full.stdout.str()


def test_snapshots_a_baseline_updated_are_checked_once_more(snapshots: Project) -> None:
    snapshots.replace("src/pkg/shapes.py", '"sides": 3', '"sides": 6')
    updated = snapshots.baseline("--snapshot-update")
    assert updated.ret == 0, updated.stdout.str()
    # syrupy wrote the file after the tests compared against it: the next runs check the
    # readers of the new file (a file changed under a test is never taken on trust) until a
    # baseline records them against it.
    assert outcomes(snapshots.diff()) == {"test_square": "PASSED", "test_triangle": "PASSED"}
    snapshots.settled()
    assert outcomes(snapshots.diff()) == {}
