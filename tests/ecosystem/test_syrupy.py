"""Snapshot testing with syrupy: a test depends on the snapshots its assertions compared against
(syrupy reads a file once per session): in an amber file (``.ambr``) on its own entries and the
file's header, in any other file on the whole file. syrupy is told what we deselected the way
``-k`` tells it, so that ``--snapshot-update`` never deletes the snapshots of tests we left
out."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, reported

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


XDIST = pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])


@XDIST
def test_an_edited_snapshot_entry_selects_the_test_that_reads_it(
    snapshots: Project, workers: tuple[str, ...]
) -> None:
    # Syrupy reads the shared file once, while the first test runs; the second test reads it
    # from syrupy's cache, and must depend on it all the same. test_square, which shares the
    # file, compared against an entry that did not change.
    snapshots.replace(SHARED, "'sides': 3", "'sides': 5")
    result = snapshots.diff(*workers, "-rA")
    assert reported(result) == {"test_triangle": "FAILED"}


def test_an_edited_first_entry_selects_its_test_only(snapshots: Project) -> None:
    snapshots.replace(SHARED, "'sides': 4", "'sides': 5")
    assert outcomes(snapshots.diff()) == {"test_square": "FAILED"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("# name: test_triangle\n", "# name: test_triangle_v2\n"),
        ("# name: test_triangle\n  dict({\n    'sides': 3,\n  })\n# ---\n", ""),
    ],
    ids=["renamed", "removed"],
)
def test_a_renamed_or_removed_entry_selects_its_test(
    snapshots: Project, old: str, new: str
) -> None:
    snapshots.replace(SHARED, old, new)
    result = snapshots.diff()
    # Its snapshot is gone: the test fails, which is why it had to run.
    assert outcomes(result) == {"test_triangle": "FAILED"}


def test_an_entry_added_for_a_test_selects_it(snapshots: Project) -> None:
    # A second snapshot of test_square's (its next assertion's): syrupy calls it unused when
    # test_square runs, as a full run would.
    snapshots.replace(
        SHARED,
        "# name: test_triangle\n",
        "# name: test_square.1\n  1\n# ---\n# name: test_triangle\n",
    )
    result = snapshots.diff()
    assert outcomes(result) == {"test_square": "PASSED"}
    assert "1 snapshot unused" in result.stdout.str()


def test_a_changed_header_selects_every_test_of_the_file(snapshots: Project) -> None:
    snapshots.replace(SHARED, "# serializer version: 1", "# serializer version: 2")
    assert set(outcomes(snapshots.diff())) == {"test_square", "test_triangle"}


def test_a_deleted_snapshot_file_selects_its_tests(snapshots: Project) -> None:
    snapshots.delete(SHARED)
    assert outcomes(snapshots.diff()) == {"test_square": "FAILED", "test_triangle": "FAILED"}


def test_a_file_that_no_longer_reads_as_entries_selects_every_test_of_it(
    snapshots: Project,
) -> None:
    # test_square's entry loses its end: syrupy now reads test_triangle's name inside it.
    snapshots.replace(SHARED, "  })\n# ---\n# name: test_triangle", "  })\n# name: test_triangle")
    assert set(outcomes(snapshots.diff())) == {"test_square", "test_triangle"}


def test_status_agrees_with_diff_on_an_edited_entry(snapshots: Project) -> None:
    snapshots.replace(SHARED, "'sides': 3", "'sides': 5")
    status = snapshots.cli_json("status")
    assert [test["nodeid"] for test in status["selected"]] == [
        "tests/test_shared.py::test_triangle"
    ]
    result = snapshots.diff("--diff-explain")
    assert outcomes(result) == {"test_triangle": "FAILED"}
    result.stdout.fnmatch_lines(
        [f"difftest: why tests/test_shared.py::test_triangle: {status['selected'][0]['reason']}"]
    )


def test_inspect_names_the_entries_a_test_depends_on(snapshots: Project) -> None:
    text = snapshots.cli("inspect", "--test", "tests/test_shared.py::test_triangle").stdout
    text.fnmatch_lines(
        [
            f"  <snapshot>/{SHARED}::test_triangle",
            "    <data>*snapshot entries and the file's header",
        ]
    )
    assert f"  {SHARED}\n" not in text.str()


def test_entries_of_parametrized_tests_and_of_further_assertions(project: Project) -> None:
    project.write(
        "tests/test_many.py",
        """
        import pytest


        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_param(snapshot, n):
            assert n * 10 == snapshot


        def test_twice(snapshot):
            assert "first" == snapshot
            assert "second" == snapshot
        """,
    )
    written = project.run("-p", "no:difftest", "--snapshot-update")
    assert written.ret == 0, written.stdout.str()
    project.settled()
    many = "tests/__snapshots__/test_many.ambr"
    project.replace(many, "  20\n", "  21\n")
    assert outcomes(project.diff()) == {"test_param[2]": "FAILED"}
    project.replace(many, "  21\n", "  20\n")
    project.replace(many, "'second'", "'2nd'")
    assert outcomes(project.diff()) == {"test_twice": "FAILED"}


def test_a_snapshot_file_of_another_format_is_data_as_a_whole(project: Project) -> None:
    project.write(
        "tests/test_formats.py",
        """
        import pytest
        from syrupy.extensions.json import JSONSnapshotExtension


        @pytest.fixture
        def snapshot_json(snapshot):
            return snapshot.use_extension(JSONSnapshotExtension)


        def test_json(snapshot_json):
            assert {"a": 1} == snapshot_json


        def test_amber(snapshot):
            assert {"b": 2} == snapshot
        """,
    )
    written = project.run("-p", "no:difftest", "--snapshot-update")
    assert written.ret == 0, written.stdout.str()
    project.settled()
    project.replace("tests/__snapshots__/test_formats/test_json.json", '"a": 1', '"a": 2')
    assert outcomes(project.diff()) == {"test_json": "FAILED"}


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


@XDIST
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
    # readers of the new entry (an entry changed under a test is never taken on trust) until a
    # baseline records them against it. test_square's entry is as it was.
    assert outcomes(snapshots.diff()) == {"test_triangle": "PASSED"}
    snapshots.settled()
    assert outcomes(snapshots.diff()) == {}
