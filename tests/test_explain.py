"""--diff-explain: every selected test says why it runs, from the pass that selected it."""

from __future__ import annotations

import re

import pytest

from difftest_support import Project


def reasons(result: pytest.RunResult) -> dict[str, str]:
    found = {}
    for line in result.outlines:
        match = re.match(r"^difftest: why \S+::(\S+): (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_each_kind_of_reason(project: Project) -> None:
    project.write("src/pkg/gone.py", "def old():\n    return 1\n")
    project.write(
        "tests/test_gone.py",
        "def test_gone():\n    from pkg.gone import old\n\n    assert old() == 1\n",
    )
    project.write("tests/test_fails.py", "def test_fails():\n    assert False\n")
    project.write("src/pkg/later.py", "def value():\n    return 1\n")
    project.write(
        "tests/test_later.py",
        "def test_later():\n    from pkg.later import value\n\n    assert value() == 1\n",
    )
    project.baseline()
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    project.replace("src/pkg/config.py", "RETRIES = 3", "RETRIES = 3\nprint('loaded')")
    project.delete("src/pkg/gone.py")
    project.write("src/pkg/later.py", "def value(:\n")
    project.write("tests/test_new.py", "def test_new():\n    pass\n")
    why = reasons(project.diff("--diff-explain"))
    assert why == {
        "test_add": "src/pkg/calc.py::add changed",
        "test_retries": "module-level code of src/pkg/config.py changed",
        "test_timeout": "module-level code of src/pkg/config.py changed",
        "test_gone": "src/pkg/gone.py was deleted",
        "test_later": "src/pkg/later.py does not parse",
        "test_fails": "failed last time",
        "test_new": "new test",
    }


def test_new_conftest_is_the_reason(project: Project) -> None:
    project.settled()
    project.write("tests/conftest.py", "import pytest\n")
    why = reasons(project.diff("--diff-explain"))
    assert set(why.values()) == {"new tests/conftest.py"}
    assert len(why) == 5


def test_changed_fixture_is_the_reason(project: Project) -> None:
    project.write(
        "tests/conftest.py",
        "import pytest\n\n\n@pytest.fixture\ndef two():\n    return 2\n",
    )
    project.write("tests/test_fixture.py", "def test_two(two):\n    assert two == 2\n")
    project.settled()
    project.replace("tests/conftest.py", "return 2", "return 1 + 1")
    why = reasons(project.diff("--diff-explain"))
    assert why == {"test_two": "tests/conftest.py::two changed"}


def test_a_new_module_an_import_looked_for_is_the_reason(project: Project) -> None:
    project.write(
        "src/pkg/__init__.py",
        "try:\n    from pkg import extra\nexcept ImportError:\n    extra = None\n",
    )
    project.settled()
    project.write("src/pkg/other.py", "X = 1\n")
    assert reasons(project.diff("--diff-explain")) == {}
    project.write("src/pkg/extra.py", "X = 1\n")
    why = reasons(project.diff("--diff-explain"))
    assert set(why.values()) == {"new module src/pkg/extra.py, which an import looked for"}
    assert set(why) == {"test_timeout", "test_retries", "test_add", "test_mul", "test_shout"}


def test_unfinished_test_is_the_reason(project: Project) -> None:
    # A first baseline narrowed by -k collects every test but runs one: the rest are owed.
    project.baseline("-k", "test_add")
    why = reasons(project.diff("--diff-explain"))
    owed = ("test_timeout", "test_retries", "test_mul", "test_shout")
    assert why == dict.fromkeys(owed, "has not finished a run yet")
