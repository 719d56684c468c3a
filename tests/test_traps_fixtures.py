"""Fixture and conftest traps: autouse fixtures, fixture bodies and teardown, session
fixtures, skip conditions. Each change must select the affected tests (and they fail)."""

from __future__ import annotations

import re

import pytest

from difftest_support import ALL_TESTS, Project, outcomes, reported


def test_new_autouse_fixture_in_existing_conftest(project: Project) -> None:
    project.write("tests/conftest.py", "import pytest\n")
    project.settled()
    project.write(
        "tests/conftest.py",
        """
        import pytest


        @pytest.fixture(autouse=True)
        def guard():
            raise RuntimeError("autouse fixture")
        """,
    )
    result = project.diff()
    assert outcomes(result) == dict.fromkeys(ALL_TESTS, "ERROR")


def test_new_conftest_with_autouse_fixture(project: Project) -> None:
    project.settled()
    project.write(
        "tests/conftest.py",
        """
        import pytest


        @pytest.fixture(autouse=True)
        def guard():
            raise RuntimeError("autouse fixture")
        """,
    )
    assert outcomes(project.diff()) == dict.fromkeys(ALL_TESTS, "ERROR")


def test_changed_fixture_body_in_conftest(project: Project) -> None:
    project.write(
        "tests/conftest.py",
        """
        import pytest


        @pytest.fixture
        def limit():
            return 10
        """,
    )
    project.write("tests/test_limit.py", "def test_limit(limit):\n    assert limit == 10\n")
    project.settled()
    project.replace("tests/conftest.py", "return 10", "return 11")
    assert outcomes(project.diff())["test_limit"] == "FAILED"


def test_changed_skip_condition_in_decorator(project: Project) -> None:
    project.write(
        "tests/test_legacy.py",
        """
        import sys

        import pytest


        @pytest.mark.skipif(sys.version_info > (2,), reason="python 2 only")
        def test_legacy():
            assert False, "ran"
        """,
    )
    assert outcomes(project.settled())["test_legacy"] == "SKIPPED"
    project.replace("tests/test_legacy.py", "sys.version_info > (2,)", "sys.version_info < (2,)")
    assert outcomes(project.diff()) == {"test_legacy": "FAILED"}


def test_changed_skip_condition_constant_in_module(project: Project) -> None:
    project.write("src/pkg/flags.py", "LEGACY = False\nMODERN = True\n")
    project.write(
        "tests/test_legacy.py",
        """
        import pytest
        from pkg.flags import LEGACY


        @pytest.mark.skipif(not LEGACY, reason="legacy mode only")
        def test_legacy():
            assert not LEGACY, "ran"
        """,
    )
    assert outcomes(project.settled())["test_legacy"] == "SKIPPED"
    project.replace("src/pkg/flags.py", "LEGACY = False", "LEGACY = True")
    assert outcomes(project.diff()) == {"test_legacy": "FAILED"}


SESSION_FIXTURE_FILES = {
    "src/pkg/db.py": "def connect():\n    return {'users': 3}\n",
    "tests/conftest.py": """
        import pytest
        from pkg.db import connect


        @pytest.fixture(scope="session")
        def db():
            return connect()
    """,
    "tests/test_users.py": """
        def test_users_a(db):
            assert db["users"] == 3


        def test_users_b(db):
            assert db["users"] == 3


        def test_users_c(db):
            assert db["users"] == 3
    """,
}
USERS = {"test_users_a": "FAILED", "test_users_b": "FAILED", "test_users_c": "FAILED"}


def test_session_fixture_body_change_runs_all_its_users(project: Project) -> None:
    project.write_files(SESSION_FIXTURE_FILES)
    project.settled()
    project.replace("tests/conftest.py", "return connect()", "return {'users': 4}")
    result = project.diff()
    assert {name: result_ for name, result_ in outcomes(result).items() if "users" in name} == USERS


def test_code_called_by_session_fixture_runs_all_its_users(project: Project) -> None:
    # Only the first user executes connect(); the others get the cached fixture value.
    project.write_files(SESSION_FIXTURE_FILES)
    project.settled()
    project.replace("src/pkg/db.py", "'users': 3", "'users': 4")
    assert outcomes(project.diff()) == USERS


TEARDOWN_FILES = {
    "src/pkg/resources.py": "def release(handle):\n    return None\n",
    "tests/test_teardown.py": """
        import pytest
        from pkg.resources import release


        @pytest.fixture
        def handle():
            yield 1
            release(1)


        def test_with_handle(handle):
            assert handle == 1
    """,
}


def test_fixture_teardown_code_after_yield(project: Project) -> None:
    project.write_files(TEARDOWN_FILES)
    project.settled()
    project.replace("tests/test_teardown.py", "release(1)", "release(1)\n    raise RuntimeError")
    assert outcomes(project.diff()) == {"test_with_handle": "ERROR"}


def test_function_called_only_in_fixture_teardown(project: Project) -> None:
    project.write_files(TEARDOWN_FILES)
    project.settled()
    project.replace("src/pkg/resources.py", "return None", 'raise RuntimeError("leak")')
    assert outcomes(project.diff()) == {"test_with_handle": "ERROR"}


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_session_fixture_requested_by_name_with_getfixturevalue(
    project: Project, workers: tuple[str, ...]
) -> None:
    # test_b gets the session fixture test_a set up: it runs none of its code.
    project.write(
        "tests/conftest.py",
        """
        import pytest


        @pytest.fixture(scope="session")
        def rate():
            return 2
        """,
    )
    project.write(
        "tests/test_rate.py",
        """
        def test_a(request):
            assert request.getfixturevalue("rate") == 2


        def test_b(request):
            assert request.getfixturevalue("rate") * 3 == 6
        """,
    )
    project.settled("-p", "no:randomly", *workers)
    project.replace("tests/conftest.py", "return 2", "return 3")
    assert reported(project.diff("-rA", "-p", "no:randomly", *workers)) == {
        "test_a": "FAILED",
        "test_b": "FAILED",
    }


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_a_test_skipped_by_a_marker_a_hook_added_is_owed(
    project: Project, workers: tuple[str, ...]
) -> None:
    # pytest's documented `--runslow` conftest: slow tests are skipped unless the option is
    # given. A baseline without it never ran them; that is no result about their code.
    project.write(
        "tests/conftest.py",
        """
        import pytest


        def pytest_addoption(parser):
            parser.addoption("--runslow", action="store_true", default=False)


        def pytest_collection_modifyitems(config, items):
            if config.getoption("--runslow"):
                return
            skip_slow = pytest.mark.skip(reason="need --runslow option to run")
            for item in items:
                if "slow" in item.keywords:
                    item.add_marker(skip_slow)
        """,
    )
    project.write(
        "tests/test_slow.py",
        """
        import pytest

        from pkg.calc import mul


        @pytest.mark.slow
        def test_slow_mul():
            assert mul(3, 3) == 9


        @pytest.mark.skip(reason="written in the source")
        def test_never():
            assert mul(3, 3) == 9
        """,
    )
    project.settled(*workers)
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert verbose_outcomes(project.diff(*workers)) == {
        "test_mul": "FAILED",
        "test_slow_mul": "SKIPPED",
    }
    # The run with the option runs what the others skipped. A skip the source asks for is a
    # result of the code: not owed.
    assert verbose_outcomes(project.diff("--runslow", *workers)) == {
        "test_mul": "FAILED",
        "test_slow_mul": "FAILED",
    }


def verbose_outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Test name → outcome from the -v lines, with or without xdist (whose -rA summary does
    not name skipped tests)."""
    line = re.compile(r"(?:^|\] )(?:(\S+::\S+) )?(PASSED|FAILED|SKIPPED|ERROR)(?: (\S+::\S+))?")
    found = {}
    for text in result.outlines:
        match = line.search(text)
        if match and (match.group(1) or match.group(3)):
            found[(match.group(1) or match.group(3)).rpartition("::")[2]] = match.group(2)
    return found
