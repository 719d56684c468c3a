"""Dynamic Python that a test's outcome depends on without the test running the changed code:
caches, state another test left behind, names reached through strings. Each change must
select the tests it affects (they fail), also under pytest-xdist."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, reported

pytest.importorskip("xdist")

WORKERS = pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])


def failed(result: pytest.RunResult) -> set[str]:
    """The tests that failed, by function name, from -v lines or xdist's -rA summary."""
    return {name for name, outcome in reported(result).items() if outcome == "FAILED"}


@WORKERS
def test_class_level_cache_written_through_self(project: Project, workers: list[str]) -> None:
    # Only the first test to parse an expression runs the lexer; the others get the cached
    # result. A change in the lexer (another file) must select every test that read the cache.
    project.write(
        "src/pkg/lexer.py",
        """
        def tokens(text):
            return text.split("+")
        """,
    )
    project.write(
        "src/pkg/parser.py",
        """
        from pkg.lexer import tokens


        class Parser:
            _CACHE = {}

            def parse(self, expr):
                if expr not in self._CACHE:
                    self._CACHE[expr] = [int(t) for t in tokens(expr)]
                return self._CACHE[expr]
        """,
    )
    for name in ("a", "b", "c"):
        project.write(
            f"tests/test_parse_{name}.py",
            f"""
            from pkg.parser import Parser


            def test_parse_{name}():
                assert sum(Parser().parse("1+2")) == 3
            """,
        )
    project.settled(*workers)
    project.replace("src/pkg/lexer.py", 'split("+")', 'split("+")[:1]')
    result = project.diff("-rA", *workers)
    assert failed(result) == {"test_parse_a", "test_parse_b", "test_parse_c"}


@WORKERS
def test_module_level_singleton_filled_lazily(project: Project, workers: list[str]) -> None:
    project.write(
        "src/pkg/units.py",
        """
        class Units:
            def __init__(self):
                self.table = {}

            def factor(self, name):
                if not self.table:
                    self._fill()
                return self.table[name]

            def _fill(self):
                self.table.update(km=1000, m=1)


        UNITS = Units()
        """,
    )
    for name in ("km", "m"):
        value = 1000 if name == "km" else 1
        project.write(
            f"tests/test_unit_{name}.py",
            f"""
            from pkg.units import UNITS


            def test_unit_{name}():
                assert UNITS.factor("{name}") == {value}
            """,
        )
    project.settled(*workers)
    project.replace("src/pkg/units.py", "km=1000", "km=1001")
    project.replace("src/pkg/units.py", "m=1)", "m=2)")
    result = project.diff("-rA", *workers)
    assert failed(result) == {"test_unit_km", "test_unit_m"}


def test_clean_up_that_stops_undoing_global_state(project: Project) -> None:
    # test_a registers a listener and cleans up; test_b, in another file and run later, sees no
    # listener. When the clean-up stops clearing, test_b fails.
    project.write(
        "src/pkg/events.py",
        """
        _listeners = []


        def subscribe(listener):
            _listeners.append(listener)


        def reset():
            _listeners.clear()


        def notify(event):
            return [listener(event) for listener in _listeners]
        """,
    )
    project.write(
        "tests/test_a_subscribe.py",
        """
        from pkg import events


        def test_a():
            events.subscribe(str.upper)
            assert events.notify("x") == ["X"]
            events.reset()
        """,
    )
    project.write(
        "tests/test_b_notify.py",
        """
        from pkg.events import notify


        def test_b():
            assert notify("y") == []
        """,
    )
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/events.py", "    _listeners.clear()", "    pass")
    assert failed(project.diff("-p", "no:randomly")) == {"test_b"}


@WORKERS
@pytest.mark.parametrize(
    ("imports", "clears"),
    [
        ("from pkg.events import _listeners", "_listeners.clear()"),
        ("from pkg import events", "events._listeners.clear()"),
    ],
    ids=["imported-name", "module-attribute"],
)
def test_clean_up_in_another_module_that_stops_undoing_global_state(
    project: Project, workers: list[str], imports: str, clears: str
) -> None:
    # As above, but the clean-up lives in another module than the state it undoes, which
    # test_b never imports: the clean-up writes events' state all the same.
    project.write(
        "src/pkg/events.py",
        """
        _listeners = []


        def subscribe(listener):
            _listeners.append(listener)


        def notify(event):
            return [listener(event) for listener in _listeners]
        """,
    )
    project.write(
        "src/pkg/testing.py",
        f"""
        {imports}


        def reset():
            {clears}
        """,
    )
    project.write(
        "tests/test_a_subscribe.py",
        """
        from pkg import events
        from pkg.testing import reset


        def test_a():
            events.subscribe(str.upper)
            assert events.notify("x") == ["X"]
            reset()
        """,
    )
    project.write(
        "tests/test_b_notify.py",
        """
        from pkg.events import notify


        def test_b():
            assert notify("y") == []
        """,
    )
    project.settled("-p", "no:randomly", *workers)
    project.replace("src/pkg/testing.py", clears, "pass")
    result = project.diff("-rA", "-p", "no:randomly", *workers)
    # Under xdist test_b may run in another worker than test_a, and pass there.
    assert "test_b" in reported(result)
    if not workers:
        assert failed(result) == {"test_b"}


@WORKERS
def test_constant_read_with_getattr_and_a_literal_name(
    project: Project, workers: list[str]
) -> None:
    project.write("src/pkg/limits.py", "MAX = 3\nMIN = 0\n")
    project.write(
        "tests/test_limits.py",
        """
        import pkg.limits as limits


        def test_max():
            assert getattr(limits, "MAX") == 3
        """,
    )
    project.settled()
    project.replace("src/pkg/limits.py", "MIN = 0", "MIN = 1")
    assert outcomes(project.diff()) == {}
    project.replace("src/pkg/limits.py", "MAX = 3", "MAX = 4")
    assert outcomes(project.diff()) == {"test_max": "FAILED"}


@WORKERS
def test_settings_copied_from_a_module_with_dir(project: Project, workers: list[str]) -> None:
    project.write("src/pkg/settings.py", "PAGE_SIZE = 20\nDEBUG = False\n")
    project.write(
        "src/pkg/appconfig.py",
        """
        from pkg import settings

        config = {}


        def load():
            for key in dir(settings):
                if key.isupper():
                    config[key] = getattr(settings, key)
        """,
    )
    project.write(
        "tests/test_config.py",
        """
        from pkg.appconfig import config, load


        def test_page_size():
            load()
            assert config["PAGE_SIZE"] == 20
        """,
    )
    project.settled()
    project.replace("src/pkg/settings.py", "PAGE_SIZE = 20", "PAGE_SIZE = 25")
    assert outcomes(project.diff()) == {"test_page_size": "FAILED"}


@WORKERS
def test_module_getattr_serving_deprecated_aliases(project: Project, workers: list[str]) -> None:
    project.write(
        "src/pkg/api.py",
        """
        def new_name():
            return 1


        _ALIASES = {"old_name": "new_name"}


        def __getattr__(name):
            if name in _ALIASES:
                return globals()[_ALIASES[name]]
            raise AttributeError(name)
        """,
    )
    project.write(
        "tests/test_alias.py",
        """
        from pkg import api


        def test_alias():
            assert api.old_name() == 1
        """,
    )
    project.settled()
    project.replace("src/pkg/api.py", '"old_name": "new_name"', '"old_name": "missing"')
    assert outcomes(project.diff()) == {"test_alias": "FAILED"}


@WORKERS
def test_name_removed_from_all_of_a_star_reexported_module(
    project: Project, workers: list[str]
) -> None:
    project.write(
        "src/pkg/core.py",
        """
        __all__ = ["parse", "dump"]


        def parse():
            return 1


        def dump():
            return 2
        """,
    )
    project.write("src/pkg/facade.py", "from pkg.core import *\n")
    project.write(
        "tests/test_facade.py",
        """
        from pkg import facade


        def test_parse():
            assert facade.parse() == 1
        """,
    )
    project.settled()
    project.replace("src/pkg/core.py", '["parse", "dump"]', '["dump"]')
    assert outcomes(project.diff()) == {"test_parse": "FAILED"}


@WORKERS
def test_data_file_read_through_a_cached_loader(project: Project, workers: list[str]) -> None:
    # Only the first test to call `rates()` reads the file; the others get its cached contents.
    project.write("data/rates.json", '{"eur": 2}\n')
    project.write(
        "src/pkg/rates.py",
        """
        import functools
        import json


        @functools.lru_cache
        def rates():
            with open("data/rates.json") as stream:
                return json.load(stream)


        def convert(amount):
            return amount * rates()["eur"]
        """,
    )
    for name in ("a", "b", "c"):
        project.write(
            f"tests/test_rate_{name}.py",
            f"""
            from pkg.rates import convert


            def test_rate_{name}():
                assert convert(3) == 6
            """,
        )
    project.settled(*workers)
    project.write("data/rates.json", '{"eur": 3}\n')
    result = project.diff("-rA", *workers)
    assert failed(result) == {"test_rate_a", "test_rate_b", "test_rate_c"}


def test_state_an_unselected_test_leaves_for_a_rerun_one(project: Project) -> None:
    # In a full run test_a fills the registry before test_b looks at it. After an incremental
    # baseline reran test_b alone (its own edit), test_b still depends on what test_a's call
    # ran: a change there fails test_b in a full run.
    project.write(
        "src/pkg/registry.py",
        """
        SEEN = []


        def note(word):
            SEEN.append(shout(word))


        def shout(word):
            return word.upper()
        """,
    )
    project.write(
        "tests/test_a.py",
        """
        from pkg.registry import note


        def test_a():
            note("a")
        """,
    )
    project.write(
        "tests/test_b.py",
        """
        from pkg import registry


        def test_b():
            assert registry.SEEN in ([], ["A"])
        """,
    )
    project.settled()
    project.replace("tests/test_b.py", '["A"])', '["A"]), "polluted"')
    assert outcomes(project.baseline()) == {"test_b": "PASSED"}
    project.replace("src/pkg/registry.py", "upper()", "lower()")
    assert outcomes(project.diff()) == {"test_a": "PASSED", "test_b": "FAILED"}


def test_a_subclass_registered_by_init_subclass(project: Project) -> None:
    # Creating the subclass runs the base's `__init_subclass__`, which files it under the name
    # the class statement passes: a test that looks a name up depends on that statement.
    project.write(
        "src/pkg/plugins.py",
        """
        class Plugin:
            registry = {}

            def __init_subclass__(cls, name, **kwargs):
                super().__init_subclass__(**kwargs)
                Plugin.registry[name] = cls


        class Csv(Plugin, name="csv"):
            pass


        def lookup(name):
            return Plugin.registry.get(name)
        """,
    )
    project.write(
        "tests/test_plugins.py",
        """
        from pkg.plugins import lookup


        def test_no_json():
            assert lookup("json") is None
        """,
    )
    project.settled()
    project.replace("src/pkg/plugins.py", 'name="csv"', 'name="json"')
    assert outcomes(project.diff()) == {"test_no_json": "FAILED"}


def test_a_library_decorator_that_registers(project: Project) -> None:
    # `area.register(int)` files the function in the dispatcher, a library's state that no
    # project code writes: every importer of the module depends on the statement.
    project.write(
        "src/pkg/area.py",
        """
        from functools import singledispatch


        @singledispatch
        def area(shape):
            return None


        @area.register(int)
        def _(side):
            return side * side
        """,
    )
    project.write(
        "tests/test_area.py",
        """
        from pkg.area import area


        def test_text_has_no_area():
            assert area("abc") is None
        """,
    )
    project.settled()
    project.replace("src/pkg/area.py", "register(int)", "register(str)")
    assert outcomes(project.diff()) == {"test_text_has_no_area": "FAILED"}


def test_a_project_decorator_that_registers_through_a_library_object(project: Project) -> None:
    # The decorator is project code, but it registers through a library object the module
    # holds: what `add_argument` changes is not known, so the statements that call it at import
    # count for the tests that use the parser.
    project.write(
        "src/pkg/cli.py",
        """
        import argparse

        parser = argparse.ArgumentParser()


        def option(name):
            def decorate(function):
                parser.add_argument(name, action="store_true")
                return function
            return decorate


        @option("--fast")
        def fast():
            return "fast"
        """,
    )
    project.write(
        "tests/test_cli.py",
        """
        from pkg.cli import parser


        def test_slow_is_unknown():
            assert parser.parse_known_args(["--slow"])[1] == ["--slow"]
        """,
    )
    project.settled()
    project.replace("src/pkg/cli.py", '@option("--fast")', '@option("--slow")')
    assert outcomes(project.diff()) == {"test_slow_is_unknown": "FAILED"}


# What a cache holds was computed before it was stored, or handed to code that filled it after:
# the tests that read it depend on that code, though only the first of them ran it.
CACHE_FILLERS = {
    # A check that runs before the store: when it starts raising, nothing is ever cached.
    "check-before-the-store": (
        """
        _SEEN = {}


        def check():
            return True


        def load(key):
            if key in _SEEN:
                return _SEEN[key]
            check()
            _SEEN[key] = key.upper()
            return _SEEN[key]
        """,
        "return True",
        "raise ValueError",
    ),
    # The stored container, filled by a call after the store.
    "filled-after-the-store": (
        """
        _TABLE = {}


        def fill(table):
            table["a"] = "A"


        def load(key):
            if not _TABLE:
                _TABLE["ready"] = True
                fill(_TABLE)
            return _TABLE[key]
        """,
        'table["a"] = "A"',
        'table["a"] = "B"',
    ),
    # A local object stored, then filled through the local.
    "filled-through-a-local": (
        """
        _REGISTRY = None


        def populate(registry):
            registry["a"] = "A"


        def load(key):
            global _REGISTRY
            if _REGISTRY is None:
                registry = {}
                _REGISTRY = registry
                populate(registry)
            return _REGISTRY[key]
        """,
        'registry["a"] = "A"',
        'registry["a"] = "B"',
    ),
    # The class whose count the function updates also builds what it stores: its constructor
    # computed the cached instance.
    "built-by-the-counted-class": (
        """
        class Item:
            made = 0

            def __init__(self, key):
                self.value = key.upper()


        _ITEMS = {}


        def load(key):
            if key not in _ITEMS:
                Item.made += 1
                _ITEMS[key] = Item(key)
            return _ITEMS[key].value
        """,
        "key.upper()",
        "key.lower()",
    ),
    # The value a handler stores depends on what raised in the `try` body, after a store.
    "chosen-by-an-exception": (
        """
        _VALUE = None


        def validate():
            return True


        def load(key):
            global _VALUE
            if _VALUE is None:
                try:
                    _VALUE = "A"
                    validate()
                except ValueError:
                    _VALUE = "B"
            return _VALUE
        """,
        "return True",
        "raise ValueError",
    ),
}


@WORKERS
@pytest.mark.parametrize("case", sorted(CACHE_FILLERS))
def test_what_a_cache_holds_depends_on_code_around_the_store(
    project: Project, workers: list[str], case: str
) -> None:
    source, old, new = CACHE_FILLERS[case]
    project.write("src/pkg/store.py", source)
    for name in ("a", "b"):
        project.write(
            f"tests/test_{name}_load.py",
            f"""
            from pkg.store import load


            def test_{name}():
                assert load("a") == "A"
            """,
        )
    project.settled("-p", "no:randomly", *workers)
    project.replace("src/pkg/store.py", old, new)
    assert failed(project.diff("-p", "no:randomly", "-rA", *workers)) == {"test_a", "test_b"}
