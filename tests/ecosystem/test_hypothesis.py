"""hypothesis: its example database is a cache, not a test's input, and a recording run leaves
it the hook it explains failures with (a `sys.monitoring` tool id on 3.12+, `sys.settrace`
before)."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes

pytest.importorskip("hypothesis")

CLIP = """
    def clip(value, low, high):
        if value < low:
            return low
        if value > high:
            return low
        return value
"""


def test_the_example_database_is_not_data(project: Project) -> None:
    project.write(
        "tests/test_words.py",
        """
        from hypothesis import given, strategies as st

        from pkg.text import shout


        @given(st.text())
        def test_shout(word):
            assert shout(word).endswith("!")
        """,
    )
    project.settled()
    # A plain run rewrites hypothesis's files under .hypothesis/ (as does a fresh checkout,
    # which has none): nothing a test reads from there is a change.
    plain = project.run("-p", "no:difftest")
    assert plain.ret == 0, plain.stdout.str()
    assert list(project.root.joinpath(".hypothesis").rglob("*"))
    assert outcomes(project.diff()) == {}
    stored = project.stored("SELECT path FROM file WHERE path LIKE '.hypothesis%'")
    assert stored == []


def test_a_recording_run_keeps_hypothesis_explanations(project: Project) -> None:
    project.write("src/pkg/clip.py", CLIP)
    project.write(
        "tests/test_clip.py",
        """
        from hypothesis import given, strategies as st

        from pkg.clip import clip


        @given(st.integers(), st.integers())
        def test_clip(value, other):
            assert clip(value, 0, 10) != 0 or value <= 10
        """,
    )
    result = project.baseline()
    output = result.stdout.str()
    assert "tool id" not in output
    assert "These lines were always and only run by failing" in output
    assert "clip.py:5" in output
    # And we recorded all the same: the fix selects the test.
    project.replace(
        "src/pkg/clip.py", "        return low\n    return", "        return high\n    return"
    )
    assert outcomes(project.diff("--diff-explain")) == {"test_clip": "PASSED"}
