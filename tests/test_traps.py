"""Changes that are easy to miss: each must select the tests it affects (and they fail)."""

from __future__ import annotations

import textwrap

import pytest

from difftest_support import Project, outcomes, ran, reported


def test_from_imported_constant(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31")
    assert outcomes(project.diff()) == {"test_timeout": "FAILED"}
    assert outcomes(project.baseline()) == {"test_timeout": "FAILED"}


def test_dataclass_field_default(project: Project) -> None:
    project.write(
        "src/pkg/models.py",
        """
        from dataclasses import dataclass


        @dataclass
        class Order:
            qty: int = 1
            price: int = 5
        """,
    )
    project.write(
        "tests/test_models.py",
        "from pkg.models import Order\n\n\ndef test_order():\n    assert Order().qty == 1\n",
    )
    project.settled()
    project.replace("src/pkg/models.py", "qty: int = 1", "qty: int = 2")
    assert outcomes(project.diff()) == {"test_order": "FAILED"}


def test_function_run_only_at_import_time(project: Project) -> None:
    project.write(
        "src/pkg/table.py",
        """
        def build_table():
            return {n: n * n for n in range(5)}


        TABLE = build_table()
        """,
    )
    project.write(
        "tests/test_table.py",
        "from pkg.table import TABLE\n\n\ndef test_table():\n    assert TABLE[3] == 9\n",
    )
    project.settled()
    project.replace("src/pkg/table.py", "n * n", "n * n + 1")
    assert outcomes(project.diff()) == {"test_table": "FAILED"}
    assert outcomes(project.baseline()) == {"test_table": "FAILED"}


def test_helpers_module_under_tests(project: Project) -> None:
    project.write("tests/helpers.py", "def expected_sum():\n    return 5\n")
    project.write(
        "tests/test_helped.py",
        """
        from helpers import expected_sum
        from pkg.calc import add


        def test_helped():
            assert add(2, 3) == expected_sum()
        """,
    )
    project.settled()
    project.replace("tests/helpers.py", "return 5", "return 6")
    assert outcomes(project.diff()) == {"test_helped": "FAILED"}


def test_module_imported_inside_a_test_deleted(project: Project) -> None:
    project.write("src/pkg/legacy.py", "VALUE = 1\n")
    project.write(
        "tests/test_lazy.py",
        "def test_lazy():\n    import pkg.legacy\n\n    assert pkg.legacy.VALUE == 1\n",
    )
    project.settled()
    project.delete("src/pkg/legacy.py")
    assert outcomes(project.diff()) == {"test_lazy": "FAILED"}


def test_file_that_does_not_parse(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "def mul(a, b):", "def mul(a, b:")
    result = project.diff()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting tests/test_calc.py*"])
    assert ran(result) == set()  # test_shout & co. did not run
    assert result.stdout.str().count("src/pkg/calc.py does not parse") == 1
    assert result.ret == 2


def test_lru_cache_shared_between_tests(project: Project) -> None:
    project.write(
        "src/pkg/parsing.py",
        """
        from functools import lru_cache


        @lru_cache(maxsize=None)
        def parse(text):
            return tuple(text.split(","))


        def fields(text):
            return len(parse(text))
        """,
    )
    project.write(
        "tests/test_parsing.py",
        """
        from pkg.parsing import fields, parse


        def test_parse_fills_cache():
            assert parse("a,b") == ("a", "b")


        def test_fields_reads_cache():
            assert fields("a,b") == 2
        """,
    )
    project.settled()
    project.replace("src/pkg/parsing.py", '(text.split(","))', '(text.split(",")) + ("x",)')
    result = project.diff()
    assert outcomes(result) == {
        "test_parse_fills_cache": "FAILED",
        "test_fields_reads_cache": "FAILED",
    }


def test_helper_of_lru_cached_function_shared_between_tests(project: Project) -> None:
    # test_b gets parse's memoised result: neither parse nor _split runs during test_b, yet the
    # value it reads was computed by _split.
    project.write(
        "src/pkg/parsing.py",
        """
        from functools import lru_cache


        def _split(text):
            return tuple(text.split(","))


        @lru_cache(maxsize=None)
        def parse(text):
            return _split(text)
        """,
    )
    project.write(
        "tests/test_parsing.py",
        """
        from pkg.parsing import parse


        def test_a_fills_cache():
            assert parse("a,b") == ("a", "b")


        def test_b_reads_cache():
            assert len(parse("a,b")) == 2
        """,
    )
    project.settled()
    project.replace("src/pkg/parsing.py", '(text.split(","))', '(text.split(",")) + ("x",)')
    assert outcomes(project.diff()) == {
        "test_a_fills_cache": "FAILED",
        "test_b_reads_cache": "FAILED",
    }


def test_class_level_registry_filled_on_first_use(project: Project) -> None:
    project.write(
        "src/pkg/registry.py",
        """
        class Registry:
            items = {}

            @classmethod
            def get(cls, name):
                if name not in cls.items:
                    cls.items[name] = name.upper()
                return cls.items[name]
        """,
    )
    project.write(
        "tests/test_registry.py",
        """
        from pkg.registry import Registry


        def test_get_fills_registry():
            assert Registry.get("x") == "X"


        def test_reads_registry_directly():
            assert Registry.items["x"] == "X"
        """,
    )
    project.settled()
    project.replace("src/pkg/registry.py", "name.upper()", "name.lower()")
    result = project.diff()
    assert outcomes(result) == {
        "test_get_fills_registry": "FAILED",
        "test_reads_registry_directly": "FAILED",
    }


DECORATED = """
    def twice(fn):
        def wrapper():
            return fn() * 2

        return wrapper


    def thrice(fn):
        def wrapper():
            return fn() * 3

        return wrapper


    @twice
    def answer():
        return 21
"""


def test_decorator_applied_to_function_changes(project: Project) -> None:
    project.write("src/pkg/deco.py", DECORATED)
    project.write(
        "tests/test_deco.py",
        "from pkg.deco import answer\n\n\ndef test_answer():\n    assert answer() == 42\n",
    )
    project.settled()
    project.replace("src/pkg/deco.py", "@twice", "@thrice")
    assert outcomes(project.diff()) == {"test_answer": "FAILED"}


def test_decorator_body_changes(project: Project) -> None:
    project.write("src/pkg/deco.py", DECORATED)
    project.write(
        "tests/test_deco.py",
        "from pkg.deco import answer\n\n\ndef test_answer():\n    assert answer() == 42\n",
    )
    project.settled()
    project.replace("src/pkg/deco.py", "fn() * 2", "fn() * 2 + 1")
    assert outcomes(project.diff()) == {"test_answer": "FAILED"}


def test_class_body_attribute_change(project: Project) -> None:
    project.write(
        "src/pkg/shapes.py",
        """
        class Square:
            sides = 4

            def describe(self):
                return f"{self.sides} sides"
        """,
    )
    project.write(
        "tests/test_shapes.py",
        """
        from pkg.shapes import Square


        def test_describe():
            assert Square().describe() == "4 sides"


        def test_sides_attribute():
            assert Square.sides == 4
        """,
    )
    project.settled()
    project.replace("src/pkg/shapes.py", "sides = 4", "sides = 5")
    assert outcomes(project.diff()) == {"test_describe": "FAILED", "test_sides_attribute": "FAILED"}


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_module_first_imported_inside_a_test(project: Project, workers: tuple[str, ...]) -> None:
    # pkg.lazy is imported by the first test, inside its body: build_table runs during that
    # test, and the second test only reads the result.
    project.write("src/pkg/tables.py", "def build_table():\n    return [1, 2, 3]\n")
    project.write(
        "src/pkg/lazy.py",
        "from pkg.tables import build_table\n\nTABLE = build_table()\n",
    )
    project.write(
        "tests/test_lazy.py",
        """
        def test_first_import():
            from pkg.lazy import TABLE
            assert len(TABLE) == 3


        def test_reads_cached_module():
            from pkg import lazy
            assert lazy.TABLE[0] == 1
        """,
    )
    project.settled(*workers)
    project.replace("src/pkg/tables.py", "[1, 2, 3]", "[0, 1, 2, 3]")
    assert reported(project.diff("-rA", *workers)) == {
        "test_first_import": "FAILED",
        "test_reads_cached_module": "FAILED",
    }


# On Python < 3.12 the recorder observes only windows where project code can run (a test's
# phases, a project module's execution, project hook calls): each of these tests must still
# see the change.


def test_handler_registered_and_run_at_import_time(project: Project) -> None:
    # Nothing in `table.py` names `double`: only observing the import shows it ran then.
    project.write(
        "src/pkg/handlers.py",
        """
        HANDLERS = []


        def register(function):
            HANDLERS.append(function)
            return function


        @register
        def double(x):
            return x * 2
        """,
    )
    project.write(
        "src/pkg/table.py",
        """
        from pkg import handlers


        def _apply(x):
            return [handler(x) for handler in handlers.HANDLERS]


        VALUES = _apply(3)
        """,
    )
    project.write(
        "tests/test_table.py",
        "from pkg.table import VALUES\n\n\ndef test_values():\n    assert VALUES == [6]\n",
    )
    project.settled()
    project.replace("src/pkg/handlers.py", "x * 2", "x * 3")
    assert outcomes(project.diff()) == {"test_values": "FAILED"}


@pytest.mark.parametrize(
    "plugin",
    [
        # the decorator stores what it reads of the function itself
        """
        def plugin(function):
            NAMES[function.__name__] = function.__doc__
            PLUGINS.append(function)
            return function
        """,
        # a function it calls does, after its own last write
        """
        def note(function):
            NAMES[function.__name__] = function.__doc__


        def plugin(function):
            PLUGINS.append(function)
            note(function)
            return function
        """,
    ],
    ids=["itself", "through-a-callee"],
)
def test_what_a_decorator_stores_of_the_function_it_decorates(
    project: Project, plugin: str
) -> None:
    # `@plugin def alpha` stored alpha's docstring in NAMES at import: a test that reads NAMES
    # depends on what the statement handed the decorator, alpha's code, though alpha never ran.
    project.write(
        "src/pkg/plugins.py",
        "PLUGINS = []\nNAMES = {}\n\n\n"
        + textwrap.dedent(plugin).strip()
        + "\n\n\n@plugin\ndef alpha():\n    'first'\n",
    )
    project.write(
        "tests/test_names.py",
        "from pkg.plugins import NAMES\n\n\ndef test_names():\n"
        "    assert NAMES == {'alpha': 'first'}\n",
    )
    project.settled()
    project.replace("src/pkg/plugins.py", "'first'", "'second'")
    assert outcomes(project.diff()) == {"test_names": "FAILED"}


def test_conftest_report_hook_helper_changes(project: Project) -> None:
    # The helper runs only inside a conftest hook that pytest calls while making reports.
    project.write(
        "tests/reporting.py",
        """
        def adjust(report):
            return report
        """,
    )
    project.write(
        "tests/conftest.py",
        """
        import pytest

        from reporting import adjust


        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            return adjust((yield))
        """,
    )
    project.settled()
    project.replace(
        "tests/reporting.py",
        "    return report",
        "    if report.when == 'call' and 'add' in report.nodeid:\n"
        "        report.outcome = 'failed'\n"
        "    return report",
    )
    result = project.diff()
    assert outcomes(result)["test_add"] == "FAILED"


def test_project_collector_helper_changes(project: Project) -> None:
    # A conftest's own collector and items: their collect() and runtest() run project code
    # outside any test function.
    project.write(
        "tests/cases.py",
        """
        def expected(name):
            return len(name)
        """,
    )
    project.write(
        "tests/conftest.py",
        """
        import pytest

        from cases import expected


        class CaseItem(pytest.Item):
            def runtest(self):
                assert expected(self.name) == int(self.path.read_text().split()[0])


        class CaseFile(pytest.File):
            def collect(self):
                yield CaseItem.from_parent(self, name="five")


        def pytest_collect_file(file_path, parent):
            if file_path.suffix == ".case":
                return CaseFile.from_parent(parent, path=file_path)
        """,
    )
    project.write("tests/five.case", "4\n")
    project.settled()
    project.replace("tests/cases.py", "len(name)", "len(name) + 1")
    assert outcomes(project.diff()) == {"five": "FAILED"}


def test_project_code_a_plugin_runs_while_configuring(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A framework's plugin (installed, not the project's) calls project start-up code from its
    # own pytest_configure; tests see only what that code left behind.
    project.write(
        "site-packages/framework_plugin.py",
        """
        def pytest_configure(config):
            from pkg import boot

            boot.start(config)
        """,
    )
    project.write(
        "src/pkg/boot.py",
        """
        def start(config):
            config.mode = "fast"
        """,
    )
    project.write(
        "tests/conftest.py",
        """
        import pytest


        @pytest.fixture
        def mode(pytestconfig):
            return pytestconfig.mode
        """,
    )
    project.write("tests/test_mode.py", "def test_mode(mode):\n    assert mode == 'fast'\n")
    monkeypatch.setenv("PYTHONPATH", str(project.root / "site-packages"))
    project.settled("-p", "framework_plugin")
    project.replace("src/pkg/boot.py", '"fast"', '"slow"')
    # Any test may see that state: all of them run.
    result = project.diff("-p", "framework_plugin")
    assert outcomes(result)["test_mode"] == "FAILED"
    assert len(outcomes(result)) == 6


def test_xfail_condition_string_calls_project_code(project: Project) -> None:
    # pytest evaluates the string while setting the test up, outside any fixture.
    project.write("src/pkg/flags.py", "def broken():\n    return True\n")
    project.write(
        "tests/test_flagged.py",
        """
        import pytest

        import pkg.flags


        @pytest.mark.xfail("pkg.flags.broken()", strict=True)
        def test_flagged():
            assert False
        """,
    )
    project.settled()
    project.replace("src/pkg/flags.py", "return True", "return False")
    assert outcomes(project.diff()) == {"test_flagged": "FAILED"}


def test_conftest_setup_hook_helper_changes(project: Project) -> None:
    project.write("tests/checks.py", "def check(item):\n    return None\n")
    project.write(
        "tests/conftest.py",
        """
        from checks import check


        def pytest_runtest_setup(item):
            check(item)
        """,
    )
    project.settled()
    project.replace(
        "tests/checks.py",
        "    return None",
        "    if 'add' in item.name:\n        raise RuntimeError('not set up')",
    )
    assert outcomes(project.diff())["test_add"] == "ERROR"


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_constant_shown_in_a_doctest(project: Project, workers: tuple[str, ...]) -> None:
    project.write(
        "src/pkg/limits.py",
        '''
        LIMIT = 3


        def describe():
            """The limit.

            >>> LIMIT
            3
            """
            return "limit"
        ''',
    )
    args = ("--doctest-modules", "src", "tests", *workers)
    project.settled(*args)
    project.replace("src/pkg/limits.py", "LIMIT = 3", "LIMIT = 4")
    assert reported(project.diff("-rA", *args)) == {"pkg.limits.describe": "FAILED"}


CONDITIONAL = {
    "src/pkg/cond.py": """
        FAST = True
        LIMIT = 0
        REGISTRY = []

        if FAST:
            def speed():
                return "fast"

            LIMIT = 10
        else:
            def speed():
                return "slow"

            LIMIT = 1

        try:
            from pkg.optional import helper
        except ImportError:
            def helper():
                return "fallback"

        if FAST:
            REGISTRY.append("fast")
        """,
    "tests/test_cond.py": """
        from pkg.cond import LIMIT, REGISTRY, helper, speed


        def test_speed():
            assert speed() == "fast"


        def test_limit():
            assert LIMIT == 10


        def test_helper():
            assert helper() == "fallback"


        def test_registry():
            assert REGISTRY == ["fast"]
        """,
}


@pytest.mark.parametrize(
    ("old", "new", "failing"),
    [
        # What a branch binds depends on the condition's value...
        ("FAST = True", "FAST = False", {"test_speed", "test_limit", "test_registry"}),
        # ... on its text...
        ("if FAST:", "if not FAST:", {"test_speed", "test_limit"}),
        # ... and on which branch holds it.
        (
            '        return "slow"\n\n    LIMIT = 1',
            '        return "slow"\n\nLIMIT = 1',
            {"test_limit"},
        ),
        ("    LIMIT = 10\nelse:", "else:", {"test_limit"}),
        # A handler's binding depends on what the `try` body raises.
        ("from pkg.optional import helper", "from json import dumps as helper", {"test_helper"}),
    ],
    ids=["condition-value", "condition-text", "out-of-a-branch", "into-another-branch", "handler"],
)
def test_what_a_module_level_branch_binds(
    project: Project, old: str, new: str, failing: set[str]
) -> None:
    project.write_files(CONDITIONAL)
    project.settled()
    project.replace("src/pkg/cond.py", old, new)
    result = project.diff()
    assert {name for name, outcome in outcomes(result).items() if outcome != "PASSED"} == failing


def test_a_module_a_try_imports_from_appears(project: Project) -> None:
    project.write_files(CONDITIONAL)
    project.settled()
    project.write("src/pkg/optional.py", 'def helper():\n    return "real"\n')
    assert outcomes(project.diff())["test_helper"] == "FAILED"


def test_a_method_made_abstract_fails_every_user_of_its_class(project: Project) -> None:
    # `abstractmethod` acts on the class: a subclass that does not define the method can no
    # longer be instantiated, though no test runs the method.
    project.write(
        "src/pkg/shapes.py",
        """
        import abc


        class Shape(abc.ABC):
            def area(self):
                return 0

            def name(self):
                return type(self).__name__


        class Point(Shape):
            pass
        """,
    )
    project.write(
        "tests/test_shapes.py",
        """
        from pkg.shapes import Point


        def test_name():
            assert Point().name() == "Point"
        """,
    )
    project.settled()
    project.replace("src/pkg/shapes.py", "    def area", "    @abc.abstractmethod\n    def area")
    assert outcomes(project.diff()) == {"test_name": "FAILED"}


def test_project_code_library_code_calls_while_a_module_is_imported(project: Project) -> None:
    # `enum` calls the class's `_generate_next_value_` for each `auto()` while the class is
    # built, at import: the library's frames in between are not the project's, the call is.
    project.write(
        "src/pkg/colors.py",
        """
        import enum


        def label(name, start, count, last_values):
            return name.lower()


        class Color(enum.Enum):
            _generate_next_value_ = label
            RED = enum.auto()
        """,
    )
    project.write(
        "tests/test_colors.py",
        """
        from pkg.colors import Color


        def test_value():
            assert Color.RED.value == "red"
        """,
    )
    project.settled()
    project.replace("src/pkg/colors.py", "name.lower()", "name.upper()")
    assert outcomes(project.diff()) == {"test_value": "FAILED"}


def test_a_module_function_called_add_through_the_module(project: Project) -> None:
    # `ops.add(2, 3)` reads like adding to a set held in `ops`; where `ops` is a module it
    # calls the module's `add`, and the statement that made it counts.
    project.write(
        "src/pkg/ops.py",
        """
        class Wrapped:
            def __init__(self, function):
                self.function = function

            def __call__(self, *args):
                return self.function(*args)


        def _add(a, b):
            return a + b


        def _mul(a, b):
            return a * b


        add = Wrapped(_add)
        """,
    )
    project.write(
        "tests/test_ops.py",
        """
        from pkg import ops


        def test_add():
            assert ops.add(2, 3) == 5
        """,
    )
    project.settled()
    project.replace("src/pkg/ops.py", "add = Wrapped(_add)", "add = Wrapped(_mul)")
    assert outcomes(project.diff()) == {"test_add": "FAILED"}


def test_a_method_defined_under_an_if_in_its_class_body(project: Project) -> None:
    # A method under `if` in a class body reads a module constant: a test that runs it depends
    # on the constant, and on the condition that decides whether the class has it.
    project.write(
        "src/pkg/shapes.py",
        """
        import sys

        LIMIT = 3


        class Box:
            if sys.maxsize > 1:
                def limit(self):
                    return LIMIT
            else:
                def limit(self):
                    return 0
        """,
    )
    project.write(
        "tests/test_shapes.py",
        """
        from pkg.shapes import Box


        def test_limit():
            assert Box().limit() == 3
        """,
    )
    project.settled()
    project.replace("src/pkg/shapes.py", "LIMIT = 3", "LIMIT = 4")
    assert outcomes(project.diff()) == {"test_limit": "FAILED"}
    project.replace("src/pkg/shapes.py", "LIMIT = 4", "LIMIT = 3")
    project.settled()
    project.replace("src/pkg/shapes.py", "sys.maxsize > 1", "sys.maxsize < 1")
    assert outcomes(project.diff()) == {"test_limit": "FAILED"}


def test_a_cache_reached_through_a_parameter_default(project: Project) -> None:
    # `cache=_CACHE`: called without it, the function fills the module's dict. The second
    # test gets what the first computed, without running `compute`.
    project.write(
        "src/pkg/memo.py",
        """
        _CACHE = {}


        def compute(key):
            return key * 2


        def lookup(key, cache=_CACHE):
            if key not in cache:
                cache[key] = compute(key)
            return cache[key]
        """,
    )
    project.write(
        "tests/test_memo.py",
        """
        from pkg.memo import lookup


        def test_first():
            assert lookup(2) == 4


        def test_second():
            assert lookup(2) == 4
        """,
    )
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/memo.py", "key * 2", "key * 3")
    assert outcomes(project.diff("-p", "no:randomly")) == {
        "test_first": "FAILED",
        "test_second": "FAILED",
    }


def test_a_cached_result_computed_through_a_handler_the_writer_stored(project: Project) -> None:
    # `parse` stores `parse_csv` in a dict and calls it through the dict: what it caches is
    # what `parse_csv` computed, though no line names it in a call.
    project.write(
        "src/pkg/parsing.py",
        """
        _CACHE = {}


        def parse_csv(text):
            return text.split(",")


        def parse(text):
            if text not in _CACHE:
                handlers = {}
                handlers["csv"] = parse_csv
                _CACHE[text] = handlers["csv"](text)
            return _CACHE[text]
        """,
    )
    project.write(
        "tests/test_parsing.py",
        """
        from pkg.parsing import parse


        def test_first():
            assert parse("a,b") == ["a", "b"]


        def test_second():
            assert parse("a,b") == ["a", "b"]
        """,
    )
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/parsing.py", 'text.split(",")', 'text.split(";")')
    assert outcomes(project.diff("-p", "no:randomly")) == {
        "test_first": "FAILED",
        "test_second": "FAILED",
    }


@pytest.mark.parametrize(
    "getter",
    [
        # the cell rebound through `nonlocal`
        """
        def make_cached():
            value = None

            def get():
                nonlocal value
                if value is None:
                    value = compute()
                return value

            return get
        """,
        # a container the enclosing call made, filled by the nested function
        """
        def make_cached():
            found = {}

            def get():
                if "value" not in found:
                    found["value"] = compute()
                return found["value"]

            return get
        """,
    ],
    ids=["nonlocal", "container"],
)
def test_a_memo_kept_in_the_cells_of_a_closure_made_at_import(
    project: Project, getter: str
) -> None:
    # `cached` keeps its value in the cells of one call of `make_cached`, made at import:
    # the second test gets what the first computed without running `compute`. No module-level
    # name holds the state, so only running the writer says the test reads it.
    project.write(
        "src/pkg/cells.py",
        "def compute():\n    return 10\n\n\n"
        + textwrap.dedent(getter).strip()
        + "\n\n\ncached = make_cached()\n",
    )
    project.write(
        "tests/test_cells.py",
        """
        from pkg.cells import cached


        def test_first():
            assert cached() == 10


        def test_second():
            assert cached() == 10
        """,
    )
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/cells.py", "return 10", "return 11")
    assert outcomes(project.diff("-p", "no:randomly")) == {
        "test_first": "FAILED",
        "test_second": "FAILED",
    }


def test_a_nested_function_a_memo_hands_to_a_call_that_runs_it(project: Project) -> None:
    # `make_option` hands `show` to `Option`, which runs it: what `show` calls ran beneath the
    # memo `option`, and the shared command hands its result to the second test.
    project.write(
        "src/pkg/options.py",
        """
        from pkg.calc import mul


        class Option:
            def __init__(self, callback):
                self.default = callback(1)


        def make_option():
            def show(value):
                return mul(value, 2)

            return Option(callback=show)


        class Command:
            def __init__(self):
                self._option = None

            def option(self):
                if self._option is None:
                    self._option = make_option()
                return self._option


        COMMAND = Command()
        """,
    )
    project.write(
        "tests/test_options.py",
        """
        from pkg.options import COMMAND


        def test_first():
            assert COMMAND.option().default == 2


        def test_second():
            assert COMMAND.option().default == 2
        """,
    )
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    found = outcomes(project.diff("-p", "no:randomly"))
    assert {name: found[name] for name in found if name in ("test_first", "test_second")} == {
        "test_first": "FAILED",
        "test_second": "FAILED",
    }


def test_a_method_a_class_decorator_installs_runs_beneath_a_memo(project: Project) -> None:
    # `with_area` ran when `Square` was defined, but the `area` it stored in the class runs
    # wherever a square's area is asked for: here beneath the memo `cached_area`, which hands
    # its result to the second test.
    project.write(
        "src/pkg/shapes.py",
        """
        from pkg.calc import mul


        def with_area(cls):
            def area(self):
                return mul(self.side, self.side)

            cls.area = area
            return cls


        @with_area
        class Square:
            def __init__(self, side):
                self.side = side


        _areas = {}


        def cached_area(side):
            if side not in _areas:
                _areas[side] = Square(side).area()
            return _areas[side]
        """,
    )
    project.write(
        "tests/test_shapes.py",
        """
        from pkg.shapes import cached_area


        def test_first():
            assert cached_area(3) == 9


        def test_second():
            assert cached_area(3) == 9
        """,
    )
    for module, code, changed in [
        ("src/pkg/calc.py", "return a * b", "return a * b + 1"),
        ("src/pkg/shapes.py", "self.side, self.side)", "self.side, self.side) + 1"),
    ]:
        project.settled("-p", "no:randomly")
        project.replace(module, code, changed)
        found = outcomes(project.diff("-p", "no:randomly"))
        assert {name: found[name] for name in found if name in ("test_first", "test_second")} == {
            "test_first": "FAILED",
            "test_second": "FAILED",
        }
        project.replace(module, changed, code)


LOGGING_SETUP = {
    "src/pkg/__init__.py": """
        from pkg.boot import setup, SETTINGS, configure

        setup()
        configure(SETTINGS)
    """,
    "src/pkg/boot.py": """
        import logging

        LEVEL = 10

        SETTINGS = {}


        def setup():
            logging.getLogger("pkg").setLevel(LEVEL)


        def configure(settings):
            settings["debug"] = LEVEL < 20
    """,
    "src/pkg/level.py": """
        import logging


        def level():
            return logging.getLogger("pkg").level
    """,
    "tests/test_level.py": """
        from pkg import SETTINGS
        from pkg.level import level


        def test_level():
            assert level() == 10


        def test_debug():
            assert SETTINGS["debug"]
    """,
}


def test_a_bare_module_level_call_that_changes_library_state_counts_for_every_importer(
    project: Project,
) -> None:
    # `setup()` changes a library's state (a logger's level): nothing tells who reads it, so
    # every importer of the package depends on what the call ran. `configure(SETTINGS)` hands
    # a module's state to the code it calls, which writes it there: its readers depend on it.
    project.write_files(LOGGING_SETUP)
    project.settled()
    project.replace("src/pkg/boot.py", "LEVEL = 10", "LEVEL = 30")
    found = outcomes(project.diff())
    assert {name: found.get(name) for name in ("test_level", "test_debug")} == {
        "test_level": "FAILED",
        "test_debug": "FAILED",
    }
    project.replace("src/pkg/boot.py", "LEVEL = 30", "LEVEL = 10")
    project.settled()
    project.replace("src/pkg/boot.py", "LEVEL < 20", "LEVEL > 20")
    assert outcomes(project.diff()).get("test_debug") == "FAILED"


def test_a_library_function_a_project_module_re_exports_is_a_library_s_at_import(
    project: Project,
) -> None:
    # `from pkg.compat import getLogger`, where compat imports it from `logging`: the bare call
    # `setup()` still changes a library's state, for every importer.
    project.write_files(LOGGING_SETUP)
    project.write("src/pkg/compat.py", "from logging import getLogger\n")
    project.replace("src/pkg/boot.py", "import logging\n", "from pkg.compat import getLogger\n")
    project.replace("src/pkg/boot.py", "logging.getLogger", "getLogger")
    project.settled()
    project.replace("src/pkg/boot.py", "LEVEL = 10", "LEVEL = 30")
    assert outcomes(project.diff()).get("test_level") == "FAILED"


SINGLETON = """
    from pkg.calc import mul


    def singleton(cls):
        made = []

        def get():
            if not made:
                made.append(cls(mul(2, 3)))
            return made[0]

        return get


    @singleton
    class Area:
        def __init__(self, value):
            self.value = value


    _cache = {}


    def area():
        if "a" not in _cache:
            _cache["a"] = Area()
        return _cache["a"]
    """

SINGLETON_TESTS = """
    from pkg.single import area


    def test_area_first():
        assert area().value == 6


    def test_area_again():
        assert area().value == 6
    """


def test_what_a_function_a_class_decorator_returns_calls_runs_beneath_a_memo(
    project: Project,
) -> None:
    # `@singleton` returns the nested `get` in place of the class: making an `Area` beneath
    # the memo `area` runs `get`, which calls `mul`. The test that only gets the cached area
    # depends on `mul` too.
    project.write_files({"src/pkg/single.py": SINGLETON, "tests/test_single.py": SINGLETON_TESTS})
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    found = outcomes(project.diff("-p", "no:randomly"))
    assert {name: found.get(name) for name in ("test_area_first", "test_area_again")} == {
        "test_area_first": "FAILED",
        "test_area_again": "FAILED",
    }
