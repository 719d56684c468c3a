"""Precision: changes that cannot affect a test must not select it."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, ran

CALC_REFORMATTED = """
    # Arithmetic helpers.


    def add(a, b):  # the sum
        # add them up


        return a   +   b



    def mul(a,
            b):
        return a  *  b
"""


def test_body_change_runs_no_test_of_unrelated_modules(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/text.py", 'upper() + "!"', 'upper() + "?"')
    assert outcomes(project.diff()) == {"test_shout": "FAILED"}


def test_body_change_runs_no_test_of_other_functions_in_same_module(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/calc.py", "return a + b", "return a - b")
    assert outcomes(project.diff()) == {"test_add": "FAILED"}


def test_other_constant_in_same_module_does_not_select(project: Project) -> None:
    project.settled()
    project.replace("src/pkg/config.py", "RETRIES = 3", "RETRIES = 4")
    assert outcomes(project.diff()) == {"test_retries": "FAILED"}


def test_attribute_read_constants_are_told_apart(project: Project) -> None:
    project.write(
        "tests/test_settings.py",
        """
        import pkg.config as config


        def test_reads_timeout():
            assert config.TIMEOUT == 30


        def test_reads_retries():
            assert config.RETRIES == 3
        """,
    )
    project.settled()
    project.replace("src/pkg/config.py", "RETRIES = 3", "RETRIES = 4")
    assert outcomes(project.diff()) == {"test_retries": "FAILED", "test_reads_retries": "FAILED"}


@pytest.mark.parametrize("mode", ["diff", "baseline"])
def test_comment_only_edit_runs_nothing(project: Project, mode: str) -> None:
    project.settled()
    project.write(
        "src/pkg/calc.py",
        """
        # Arithmetic helpers, now with comments.
        def add(a, b):  # sum
            # no carry here
            return a + b


        def mul(a, b):
            return a * b  # product
        """,
    )
    result = getattr(project, mode)()
    assert ran(result) == set()
    assert result.ret == 0


@pytest.mark.parametrize("mode", ["diff", "baseline"])
def test_blank_line_and_whitespace_edit_runs_nothing(project: Project, mode: str) -> None:
    project.settled()
    project.write("src/pkg/calc.py", CALC_REFORMATTED)
    result = getattr(project, mode)()
    assert ran(result) == set()
    result.stdout.fnmatch_lines(["difftest: 0 of 5 tests selected (0 changed blocks in 0 files)*"])


def test_comment_lines_inserted_above_a_function_run_nothing(project: Project) -> None:
    project.settled()
    comments = "# one\n# two\n# three\n# four\n\n"
    project.write("src/pkg/calc.py", comments + project.read("src/pkg/calc.py"))
    project.replace("src/pkg/calc.py", "def mul", comments + "def mul")
    assert ran(project.diff()) == set()
    # The shifted functions are still told apart: breaking mul now selects only test_mul.
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert outcomes(project.diff()) == {"test_mul": "FAILED"}


def test_touched_but_unchanged_file_runs_nothing(project: Project) -> None:
    project.settled()
    project.write("src/pkg/calc.py", project.read("src/pkg/calc.py"))  # same bytes, newer mtime
    assert ran(project.diff()) == set()
    assert ran(project.baseline()) == set()


def test_editing_one_test_runs_only_that_test(project: Project) -> None:
    project.settled()
    project.replace("tests/test_calc.py", "mul(2, 3) == 6", "mul(2, 3) == 7")
    assert outcomes(project.diff()) == {"test_mul": "FAILED"}


def test_new_file_outside_any_package_runs_nothing(project: Project) -> None:
    project.settled()
    project.write("tools/generate.py", "print('generating')\n")
    assert ran(project.diff()) == set()


def test_module_no_test_imports_selects_nothing(project: Project) -> None:
    # It existed when the baseline was taken: it is neither new nor anyone's dependency.
    project.write("src/pkg/unused.py", "def helper():\n    return 1\n")
    project.settled()
    assert ran(project.diff()) == set()
    project.replace("src/pkg/unused.py", "return 1", "return 2")
    assert ran(project.diff()) == set()


def test_function_not_executed_by_a_test_does_not_select_it(project: Project) -> None:
    project.write(
        "src/pkg/text.py",
        """
        def shout(word):
            return word.upper() + "!"


        def whisper(word):
            return word.lower() + "..."
        """,
    )
    project.write(
        "tests/test_whisper.py",
        """
        from pkg.text import whisper


        def test_whisper():
            assert whisper("A") == "a..."
        """,
    )
    project.settled()
    project.replace("src/pkg/text.py", '"..."', '"."')
    # test_shout imports pkg.text too, but never executed whisper.
    assert outcomes(project.diff()) == {"test_whisper": "FAILED"}


def test_only_what_ran_during_a_lazy_import_counts_for_later_importers(project: Project) -> None:
    # test_lazy imports pkg.late inside its body (its first import in the process), then calls
    # another helper of the same module that the import ran a function from. Only `setup`,
    # which ran while pkg.late executed, is import-time code that test_later relies on.
    project.write(
        "src/pkg/helpers.py",
        """
        def setup():
            return 2


        def helper():
            return 1
        """,
    )
    project.write("src/pkg/late.py", "from pkg.helpers import setup\n\nVALUE = setup()\n")
    project.write(
        "tests/test_a_lazy.py",
        """
        from pkg.helpers import helper


        def test_lazy():
            import pkg.late

            assert pkg.late.VALUE == 2 and helper() == 1
        """,
    )
    project.write(
        "tests/test_b_later.py",
        """
        def test_later():
            from pkg import late

            assert late.VALUE == 2
        """,
    )
    project.settled()
    project.replace("src/pkg/helpers.py", "return 1", "return 0")
    assert outcomes(project.diff()) == {"test_lazy": "FAILED"}
    project.replace("src/pkg/helpers.py", "return 0", "return 1")
    project.replace("src/pkg/helpers.py", "return 2", "return 3")
    assert outcomes(project.diff()) == {"test_lazy": "FAILED", "test_later": "FAILED"}


def test_code_run_by_one_test_module_import_counts_for_that_module_only(project: Project) -> None:
    # Each test module builds its object at import time through the same factory; a change in
    # the branch only test_a's import took selects test_a's tests alone.
    project.write(
        "src/pkg/maker.py",
        """
        def make(kind):
            return build_a() if kind == "a" else build_b()


        def build_a():
            return "A"


        def build_b():
            return "B"
        """,
    )
    for kind in ("a", "b"):
        project.write(
            f"tests/test_make_{kind}.py",
            f"""
            from pkg.maker import make

            THING = make("{kind}")


            def test_{kind}():
                assert THING == "{kind.upper()}"
            """,
        )
    project.settled()
    project.replace("src/pkg/maker.py", 'return "A"', 'return "a"')
    assert outcomes(project.diff()) == {"test_a": "FAILED"}


def _write_builder_project(project: Project) -> None:
    """A builder that installs `negate` in what it builds without calling it; `negate` runs in
    the suite, but never in a test that runs the builder."""
    project.write(
        "src/pkg/builder.py",
        """
        def negate(self, other):
            return not self == other


        class Builder:
            def __init__(self):
                self.members = {}

            def add_negation(self, wanted):
                if wanted:
                    self.members["__ne__"] = negate
                self.members["kind"] = "built"

            def build(self):
                return dict(self.members)


        def make(wanted=False):
            builder = Builder()
            builder.add_negation(wanted)
            return builder.build()
        """,
    )
    project.write(
        "tests/test_builder.py",
        """
        from pkg.builder import make


        def test_make():
            assert make() == {"kind": "built"}
        """,
    )
    project.write(
        "tests/test_negate.py",
        """
        from pkg.builder import negate


        def test_negate():
            assert negate(1, 2)
        """,
    )


def test_a_function_a_builder_stores_but_never_calls_selects_no_test(project: Project) -> None:
    # The builder keeps state on itself and installs `negate` in what it builds without
    # calling it: a test that builds something never ran `negate`, so a change in it cannot
    # affect that test.
    _write_builder_project(project)
    project.settled()
    project.replace("src/pkg/builder.py", "not self == other", "not self != other")
    assert outcomes(project.diff()) == {"test_negate": "FAILED"}
    project.replace("src/pkg/builder.py", "not self != other", "not self == other")
    project.replace("src/pkg/builder.py", '"built"', '"made"')
    assert outcomes(project.diff()) == {"test_make": "FAILED"}


def test_a_rerun_builder_test_still_never_ran_what_it_stores(project: Project) -> None:
    # As above, across sessions: the incremental baseline that reruns `test_make` sees no test run
    # `negate`, and the stored tests say that none ran it beside the builder either. Taking
    # every function the database knows as "ran in an earlier session" made the rerun
    # `test_make` depend on `negate` from then on.
    _write_builder_project(project)
    project.settled()
    project.replace("src/pkg/builder.py", "dict(self.members)", "dict(self.members.items())")
    assert outcomes(project.baseline()) == {"test_make": "PASSED"}
    project.replace("src/pkg/builder.py", "not self == other", "not self != other")
    assert outcomes(project.diff()) == {"test_negate": "FAILED"}


def test_a_subclass_body_change_selects_only_the_tests_of_that_subclass(project: Project) -> None:
    # Subclassing a project class runs only project code (its `__init_subclass__`, if any):
    # the class statement is a binding like any other, not code every importer depends on.
    project.write(
        "src/pkg/shapes.py",
        """
        class Shape:
            sides = 0

            def describe(self):
                return f"{self.sides} sides"


        class Square(Shape):
            sides = 4


        class Triangle(Shape):
            sides = 3
        """,
    )
    for name, sides in (("Square", 4), ("Triangle", 3)):
        project.write(
            f"tests/test_{name.lower()}.py",
            f"""
            from pkg.shapes import {name}


            def test_{name.lower()}():
                assert {name}().describe() == "{sides} sides"
            """,
        )
    project.settled()
    project.replace("src/pkg/shapes.py", "sides = 3", "sides = 5")
    assert outcomes(project.diff()) == {"test_triangle": "FAILED"}


def test_a_context_manager_change_selects_its_users_not_every_importer(project: Project) -> None:
    # `contextmanager` (imported plainly or through its module) wraps the generator and
    # registers nothing: the statement is a binding, not code every importer depends on.
    project.write(
        "src/pkg/scopes.py",
        """
        import contextlib
        from contextlib import contextmanager


        class Indenter:
            def __init__(self):
                self.depth = 0

            @contextmanager
            def indented(self):
                self.depth += 1
                yield self.depth


        @contextlib.contextmanager
        def opened(name):
            yield name


        def plain():
            return "plain"
        """,
    )
    project.write(
        "tests/test_scopes.py",
        """
        from pkg.scopes import Indenter, opened, plain


        def test_indented():
            with Indenter().indented() as depth:
                assert depth == 1


        def test_opened():
            with opened("x") as name:
                assert name == "x"


        def test_plain():
            assert plain() == "plain"
        """,
    )
    project.settled()
    project.replace("src/pkg/scopes.py", "    @contextmanager\n", "")
    assert outcomes(project.diff()) == {"test_indented": "FAILED"}
    project.replace(
        "src/pkg/scopes.py", "    def indented", "    @contextmanager\n    def indented"
    )
    project.replace("src/pkg/scopes.py", "@contextlib.contextmanager\n", "")
    assert outcomes(project.diff()) == {"test_opened": "FAILED"}


def test_a_module_getattr_probed_at_import_is_no_use_of_what_it_hands_out(
    project: Project,
) -> None:
    # Every `from pkg.core import x` has the import system probe `pkg.core.__path__`, which
    # runs the module's `__getattr__` (PEP 562): it ran at import, but handed out nothing. The
    # test that looks `Old` up gets `_Old` through it, and depends on it through that name.
    project.write(
        "src/pkg/core.py",
        """
        class Base:
            kind = "base"


        class _Old(Base):
            kind = "old"


        def __getattr__(name):
            if name == "Old":
                return _Old
            raise AttributeError(name)


        def helper():
            return 1
        """,
    )
    project.write(
        "tests/test_core.py",
        """
        from pkg.core import helper


        def test_helper():
            assert helper() == 1
        """,
    )
    project.write(
        "tests/test_old.py",
        """
        from pkg.core import Old


        def test_old():
            assert Old.kind == "old"
        """,
    )
    project.settled()
    project.replace("src/pkg/core.py", '"old"', '"older"')
    assert outcomes(project.diff()) == {"test_old": "FAILED"}


def test_a_project_decorator_change_selects_its_users_not_every_importer(project: Project) -> None:
    project.write(
        "src/pkg/registry.py",
        """
        HANDLERS = {}


        def handles(name):
            def decorate(function):
                HANDLERS[name] = function
                return function
            return decorate


        def dispatch(name):
            if name not in HANDLERS:
                return "unknown"
            return HANDLERS[name]()
        """,
    )
    project.write(
        "src/pkg/handlers.py",
        """
        from pkg.registry import handles


        @handles("greet")
        def greet():
            return "hello"


        def helper():
            return 1
        """,
    )
    project.write(
        "tests/test_handlers.py",
        """
        import pkg.handlers
        from pkg.registry import dispatch


        def test_greet():
            assert dispatch("greet") == "hello"


        def test_unknown():
            assert dispatch("wave") == "unknown"
        """,
    )
    project.write(
        "tests/test_helper.py",
        """
        from pkg.handlers import helper


        def test_helper():
            assert helper() == 1
        """,
    )
    project.settled()
    # test_unknown never ran `greet`: it read the registry the decorator filled.
    project.replace("src/pkg/handlers.py", '@handles("greet")', '@handles("wave")')
    assert outcomes(project.diff()) == {"test_greet": "FAILED", "test_unknown": "FAILED"}


def test_a_package_the_top_conftest_imports_is_recorded_not_read_whole(project: Project) -> None:
    # pytest imports tests/conftest.py (under testpaths) while it starts. Recording must have
    # begun by then: a module imported unseen counts whole for every test, so a constant no
    # test reads would select them all.
    project.write("tests/conftest.py", "import pkg.config\n")
    project.replace("src/pkg/config.py", "RETRIES = 3", "RETRIES = 3\nUNUSED = 1")
    project.settled()
    project.replace("src/pkg/config.py", "UNUSED = 1", "UNUSED = 2")
    assert ran(project.diff()) == set()
    project.replace("src/pkg/config.py", "TIMEOUT = 30", "TIMEOUT = 31")
    assert outcomes(project.diff()) == {"test_timeout": "FAILED"}


WRAPPING = {
    "src/pkg/wrap.py": """
        REGISTRY = {}


        def describe(function):
            return function.__name__


        class Wrapped:
            def __init__(self, function):
                self.function = function
                self.name = describe(function)
                REGISTRY[self.name] = self

            def __call__(self, *args):
                return self.function(*args)
    """,
    "src/pkg/ops.py": """
        from pkg.wrap import Wrapped


        def _add(a, b):
            return a + b


        def _mul(a, b):
            return a * b


        add = Wrapped(_add)
        mul = Wrapped(_mul)
    """,
    "src/pkg/other.py": """
        import pkg.ops


        def other():
            return 1
    """,
    "tests/test_ops.py": """
        from pkg.ops import add, mul


        def test_add_wrapped():
            assert add(2, 3) == 5 and add.name == "_add"


        def test_mul_wrapped():
            assert mul(2, 3) == 6
    """,
    "tests/test_other.py": """
        from pkg.other import other


        def test_other():
            assert other() == 1
    """,
    "tests/test_registry.py": """
        import pkg.ops
        from pkg.wrap import REGISTRY


        def test_registry():
            assert sorted(REGISTRY) == ["_add", "_mul"]
    """,
}


def test_what_a_module_level_call_ran_at_import_counts_for_the_users_of_what_it_bound(
    project: Project,
) -> None:
    project.write_files(WRAPPING)
    project.settled()
    # `describe` ran only while pkg.ops was imported, beneath `add = ...` and `mul = ...`: the
    # tests that use those names (and read the registry they filled), not every importer.
    project.replace("src/pkg/wrap.py", "return function.__name__", "return function.__name__[1:]")
    assert outcomes(project.diff()) == {
        "test_add_wrapped": "FAILED",
        "test_mul_wrapped": "PASSED",
        "test_registry": "FAILED",
    }
    project.replace("src/pkg/wrap.py", "return function.__name__[1:]", "return function.__name__")
    project.settled()
    # The statement itself: the users of `add`, and the readers of the registry it wrote. The
    # users of `mul` count among those: the code that built `mul` stored into the registry,
    # and storing an item into a name reads the name.
    project.replace("src/pkg/ops.py", "add = Wrapped(_add)", "add = Wrapped(_mul)")
    assert outcomes(project.diff()) == {
        "test_add_wrapped": "FAILED",
        "test_mul_wrapped": "PASSED",
        "test_registry": "FAILED",
    }


def test_a_module_level_call_of_library_code_still_counts_for_every_importer(
    project: Project,
) -> None:
    project.write_files(WRAPPING)
    project.replace("src/pkg/ops.py", "mul = Wrapped(_mul)", "mul = copy.copy(_mul)")
    project.replace("src/pkg/ops.py", "from pkg.wrap", "import copy\nfrom pkg.wrap")
    project.replace("tests/test_registry.py", '["_add", "_mul"]', '["_add"]')
    project.settled()
    # What a library call does at import is unknown: every importer of pkg.ops depends on it.
    # (`functools.partial` is known: it only keeps what it is given.)
    project.replace("src/pkg/ops.py", "copy.copy(_mul)", "copy.deepcopy(_mul)")
    assert ran(project.diff()) == {
        "test_add_wrapped",
        "test_mul_wrapped",
        "test_other",
        "test_registry",
    }


DYNAMIC_NAMESPACE = {
    "src/pkg/__init__.py": "from pkg import ops\n",
    "src/pkg/wrap.py": """
        class Wrapped:
            def __init__(self, function):
                self.function = function
                self.name = function.__name__

            def __call__(self, *args):
                return self.function(*args)
    """,
    "src/pkg/ops.py": """
        import operator

        from pkg.wrap import Wrapped

        SKIP = {"not_"}
        globals().update(
            {name: Wrapped(f) for name, f in vars(operator).items()
             if callable(f) and name not in SKIP and name[:1] != "_"}
        )
        del SKIP
    """,
    "src/pkg/util.py": """
        def double(x):
            return 2 * x
    """,
    "tests/test_ops.py": """
        from pkg import ops
        from pkg.ops import mul


        def test_add():
            assert ops.add(1, 2) == 3


        def test_mul():
            assert mul(2, 3) == 6
    """,
    "tests/test_util.py": """
        from pkg.util import double


        def test_double():
            assert double(2) == 4
    """,
}


def test_names_a_module_binds_through_its_namespace_count_for_their_users(
    project: Project,
) -> None:
    # `globals().update(...)` binds names no statement spells out (toolz's curried operators):
    # the tests that look names up in the module depend on it and on what ran beneath it, not
    # every test that imports the package.
    project.write_files(DYNAMIC_NAMESPACE)
    project.settled()
    project.replace("src/pkg/ops.py", '{"not_"}', '{"not_", "add"}')
    assert outcomes(project.diff()) == {"test_add": "FAILED", "test_mul": "PASSED"}
    project.replace("src/pkg/ops.py", '{"not_", "add"}', '{"not_"}')
    project.settled()
    project.replace("src/pkg/wrap.py", "self.name = function.__name__", "self.name = None")
    assert outcomes(project.diff()) == {"test_add": "PASSED", "test_mul": "PASSED"}


def test_what_a_project_decorator_ran_at_import_counts_for_the_users_of_what_it_decorated(
    project: Project,
) -> None:
    project.write(
        "src/pkg/tags.py",
        """
        def label(function):
            return function.__name__.upper()


        def tagged(function):
            function.tag = label(function)
            return function
        """,
    )
    project.write(
        "src/pkg/jobs.py",
        """
        import atexit

        from pkg.tags import tagged


        @tagged
        def build():
            return 1


        def clean():
            return 2
        """,
    )
    project.write(
        "tests/test_jobs.py",
        """
        from pkg.jobs import build, clean


        def test_build():
            assert build.tag == "BUILD"


        def test_clean():
            assert clean() == 2
        """,
    )
    project.settled()
    # `label` ran only beneath `@tagged def build`, while pkg.jobs was imported.
    project.replace("src/pkg/tags.py", ".upper()", ".lower()")
    assert outcomes(project.diff()) == {"test_build": "FAILED"}
    project.replace("src/pkg/tags.py", ".lower()", ".upper()")
    project.settled()
    # A library's decorator in its place may change what any importer sees: all of them run.
    project.replace("src/pkg/jobs.py", "@tagged", "@atexit.register")
    assert outcomes(project.diff()) == {"test_build": "FAILED", "test_clean": "PASSED"}


def test_a_constant_computed_by_a_builtin_selects_its_readers_only(project: Project) -> None:
    project.write(
        "src/pkg/config.py",
        """
        import sys

        TIMEOUT = 30
        RETRIES = max(3, len(sys.argv) and 2)
        """,
    )
    project.settled()
    project.replace("src/pkg/config.py", "max(3,", "max(4,")
    assert outcomes(project.diff()) == {"test_retries": "FAILED"}


def test_postponed_annotations_of_methods_are_no_use_of_the_annotated_class(
    project: Project,
) -> None:
    project.write(
        "src/pkg/items.py",
        """
        from __future__ import annotations


        class Item:
            label = "item"


        class Widget:
            name = "widget"

            def complete(self, other: Item | None = None) -> Item:
                return other or Item()
        """,
    )
    project.write(
        "tests/test_widget.py",
        """
        from pkg.items import Widget


        def test_name():
            assert Widget().name == "widget"


        def test_complete():
            assert Widget().complete().label == "item"
        """,
    )
    project.settled()
    # Under PEP 563 `def complete` leaves its annotations as strings: only what runs
    # `complete` (whose own block still refers to them) uses `Item`.
    project.replace("src/pkg/items.py", 'label = "item"', 'label = "thing"')
    assert outcomes(project.diff()) == {"test_complete": "FAILED"}


def test_what_a_writer_runs_after_its_last_write_is_no_state_it_left(project: Project) -> None:
    # `invoke` keeps a count on its object (state), then runs a command and wraps the output.
    # Nothing that runs after the count is stored anywhere: a later test cannot see what it
    # computed, so a change in `Result.lower` selects the test that used it, not every test
    # that invoked something (click's `CliRunner.invoke` made any `Result` property change
    # select half of click's suite).
    project.write(
        "src/pkg/harness.py",
        """
        def normalize(text):
            return text.strip()


        class Result:
            def __init__(self, out):
                self.out = out

            @property
            def upper(self):
                return self.out.upper()

            @property
            def lower(self):
                return self.out.lower()


        class Harness:
            def __init__(self):
                self.runs = 0

            def invoke(self, command, arg):
                self.runs += 1
                out = command(arg)
                return Result(normalize(out).lower().upper())
        """,
    )
    for name, expected in (("upper", "A B"), ("lower", "a b")):
        project.write(
            f"tests/test_{name}.py",
            f"""
            from pkg.harness import Harness


            def test_{name}():
                assert Harness().invoke(str, " a B ").{name} == "{expected}"
            """,
        )
    project.settled()
    project.replace("src/pkg/harness.py", "self.out.lower()", "self.out.lower() + '!'")
    assert outcomes(project.diff()) == {"test_lower": "FAILED"}


def test_the_state_a_writer_updates_is_no_call_of_what_built_it(project: Project) -> None:
    # `Field.__init__` counts instances in a class attribute of a class that a builder in
    # another module rebuilt at import, installing `negate`. Reading the count is no call of
    # the builder, so a change in `negate` selects the test that compared fields, not every
    # test that made one (attrs' `_CountingAttr` made every test that defined an attrs class
    # depend on its `__ne__`).
    project.write(
        "src/pkg/build.py",
        """
        def negate(self, other):
            return not self == other


        def add_ne(cls, names=None):
            cls.__ne__ = negate
            return cls
        """,
    )
    project.write(
        "src/pkg/fields.py",
        """
        from pkg.build import add_ne


        class Field:
            counter = 0

            def __init__(self, name):
                Field.counter += 1
                self.order = Field.counter
                self.name = name

            def __eq__(self, other):
                return self.name == other.name


        Field = add_ne(Field, names=("name",))
        """,
    )
    project.write(
        "tests/test_order.py",
        """
        from pkg.fields import Field


        def test_order():
            assert Field("a").order >= 1
        """,
    )
    project.write(
        "tests/test_ne.py",
        """
        from pkg.fields import Field


        def test_ne():
            assert Field("a") != Field("b")
        """,
    )
    project.settled()
    project.replace("src/pkg/build.py", "not self == other", "self == other")
    assert outcomes(project.diff()) == {"test_ne": "FAILED"}


def test_a_function_a_writer_s_callee_stores_runs_only_where_it_is_called(
    project: Project,
) -> None:
    # `build` keeps state on its builder and calls `add_negation`, which stores `negate` in the
    # members as it is. One test compares what it built (runs `negate`), one only builds: the
    # two ran in one session, but `negate` never ran beneath `build`, so a change in it cannot
    # affect the test that only builds (attrs' `_ClassBuilder.add_eq` storing `__ne__` made
    # every test that built a class depend on it).
    project.write(
        "src/pkg/builder.py",
        """
        def negate(self, other):
            return self is not other


        class Builder:
            def __init__(self, name):
                self.name = name
                self.members = {}

            def add_negation(self):
                self.members["__ne__"] = negate

            def build(self):
                self.add_negation()
                self.members["kind"] = self.name
                return type(self.name, (), dict(self.members))


        def make(name):
            return Builder(name).build()
        """,
    )
    project.write(
        "tests/test_builder.py",
        """
        from pkg.builder import make


        def test_compare():
            point = make("Point")()
            assert not (point != point)


        def test_kind():
            assert make("Pair").kind == "Pair"
        """,
    )
    project.settled()
    project.replace("src/pkg/builder.py", "self is not other", "self is other")
    assert outcomes(project.diff()) == {"test_compare": "FAILED"}


def test_a_class_whose_body_has_an_if_counts_for_its_users_not_every_importer(
    project: Project,
) -> None:
    # A class body that picks its methods by `if sys.version_info ...` only defines things:
    # a change in it selects the tests that use the class (toolz's `Compose`).
    project.write(
        "src/pkg/shapes.py",
        """
        import sys


        class Box:
            def __init__(self, side):
                self.side = side

            if sys.version_info >= (3, 0):
                def area(self):
                    return self.side * self.side
            else:
                def area(self):
                    return 0

            kind = "box"
        """,
    )
    project.write(
        "tests/test_shapes.py",
        """
        from pkg.shapes import Box


        def test_area():
            assert Box(2).area() == 4


        def test_kind():
            assert Box.kind == "box"
        """,
    )
    project.write("src/pkg/__init__.py", "from pkg import shapes\n")
    project.settled()
    project.replace("src/pkg/shapes.py", "self.side * self.side", "self.side + self.side + 1")
    assert outcomes(project.diff()) == {"test_area": "FAILED"}
    project.replace("src/pkg/shapes.py", "self.side + self.side + 1", "self.side * self.side")
    project.settled()
    project.replace("src/pkg/shapes.py", "(3, 0)", "(4, 0)")
    assert outcomes(project.diff()) == {"test_area": "FAILED", "test_kind": "PASSED"}


def test_a_partial_of_a_project_function_counts_for_its_users_not_every_importer(
    project: Project,
) -> None:
    # `functools.partial` only keeps what it is given: `frozen = partial(define, ...)` is no
    # code every importer depends on (attrs' `define` and `frozen`).
    project.write(
        "src/pkg/make.py",
        """
        from functools import partial


        def define(cls=None, *, frozen=False, label=None):
            return (cls, frozen, label)


        frozen = partial(define, frozen=True)


        def other():
            return 1
        """,
    )
    project.write(
        "tests/test_make.py",
        """
        from pkg.make import frozen, other


        def test_frozen():
            assert frozen(int) == (int, True, None)


        def test_other():
            assert other() == 1
        """,
    )
    project.settled()
    project.replace("src/pkg/make.py", "label=None", "label=False")
    assert outcomes(project.diff()) == {"test_frozen": "FAILED"}


CONDITIONAL_DEFINITIONS = {
    "src/pkg/term.py": """
        import contextlib
        import sys

        WIDE = sys.maxsize > 2**32

        if WIDE:
            def width():
                return 64

            @contextlib.contextmanager
            def opened():
                yield "wide"
        else:
            def width():
                return 32

            @contextlib.contextmanager
            def opened():
                yield "narrow"

        try:
            from json import dumps
        except ImportError:
            def dumps(value):
                return repr(value)


        def plain():
            return "plain"
        """,
    "tests/test_term.py": """
        from pkg.term import dumps, opened, plain, width


        def test_width():
            assert width() == (64 if WIDE_EXPECTED else 32)


        def test_opened():
            with opened() as name:
                assert name in ("wide", "narrow")


        def test_dumps():
            assert dumps(1) == "1"


        def test_plain():
            assert plain() == "plain"


        import sys

        WIDE_EXPECTED = sys.maxsize > 2**32
        """,
}


def test_a_function_defined_under_a_module_level_if_selects_only_its_users(
    project: Project,
) -> None:
    # A `def` inside an `if` or `try` at module level is a block of its own, like one at top
    # level: a change in its body or decorators is no change of the module's code.
    project.write_files(CONDITIONAL_DEFINITIONS)
    project.settled()
    project.replace("src/pkg/term.py", "return 64", "return 65")
    project.replace("src/pkg/term.py", "return 32", "return 33")
    assert outcomes(project.diff()) == {"test_width": "FAILED"}
    project.replace("src/pkg/term.py", "return 65", "return 64")
    project.replace("src/pkg/term.py", "return 33", "return 32")
    project.settled()
    project.replace("src/pkg/term.py", "    @contextlib.contextmanager\n", "")
    assert outcomes(project.diff()) == {"test_opened": "FAILED"}


SHAPES_MODULE = """
    import abc
    from contextlib import contextmanager


    class Shape(abc.ABC):
        @abc.abstractmethod
        def area(self):
            ...

        def describe(self):
            return f"{type(self).__name__} of area {self.area()}"


    class Square(Shape):
        def __init__(self, side):
            self.side = side

        def area(self):
            return self.side * self.side

        @property
        def perimeter(self):
            return 4 * self.side

        @contextmanager
        def scaled(self, factor):
            yield Square(self.side * factor)
    """

SHAPES_TESTS = """
    from pkg.shapes import Square


    def test_describe():
        assert Square(2).describe() == "Square of area 4"


    def test_perimeter():
        assert Square(2).perimeter == 8


    def test_scaled():
        with Square(2).scaled(3) as bigger:
            assert bigger.side == 6
    """


def test_a_method_decorator_change_selects_the_users_of_that_method_not_of_its_class(
    project: Project,
) -> None:
    # `property` and `contextmanager` make the method, nothing else of the class: a change in
    # a method's decorators counts for the tests that run or name it.
    project.write_files({"src/pkg/shapes.py": SHAPES_MODULE, "tests/test_shapes.py": SHAPES_TESTS})
    project.settled()
    project.replace("src/pkg/shapes.py", "    @contextmanager\n", "")
    assert outcomes(project.diff()) == {"test_scaled": "FAILED"}
    project.replace("src/pkg/shapes.py", "    def scaled", "    @contextmanager\n    def scaled")
    project.settled()
    project.replace("src/pkg/shapes.py", "    @property\n", "")
    assert outcomes(project.diff()) == {"test_perimeter": "FAILED"}


def test_a_word_in_a_decorator_argument_does_not_make_the_function_a_cache(
    project: Project,
) -> None:
    # "cache" in a parametrize id is text, not a caching decorator: `test_mul` keeps no state
    # that `test_add`, which reads `pytest` after it, could get.
    project.write(
        "tests/test_calc.py",
        """
        import pytest

        from pkg.calc import add, mul


        @pytest.mark.parametrize("mode", ["no-cache", "cache"])
        def test_mul(mode):
            assert mul(2, 3) == 6


        def test_add():
            with pytest.raises(TypeError):
                add(2, None)
        """,
    )
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    assert outcomes(project.diff()) == {"test_mul[no-cache]": "FAILED", "test_mul[cache]": "FAILED"}


CLI_MODULE = """
    import os
    import sys

    from pkg.calc import add, mul


    def main(command):
        try:
            return add(2, 3) if command == "add" else mul(2, 3)
        except BrokenPipeError:
            sys.stdout = open(os.devnull, "w")
            return 1
    """

CLI_TESTS = """
    from pkg.cli import main


    def test_main_mul():
        assert main("mul") == 6


    def test_main_add():
        assert main("add") == 5
    """


@pytest.mark.parametrize(
    ("capture", "selected"),
    [
        ((), {"test_main_mul": "FAILED"}),
        (("-s",), {"test_main_mul": "FAILED", "test_main_add": "PASSED"}),
    ],
    ids=["captured", "not-captured"],
)
def test_setting_sys_stdout_keeps_nothing_for_later_tests_under_capture(
    project: Project, capture: tuple[str, ...], selected: dict[str, str]
) -> None:
    # pytest's capture sets `sys.stdout` afresh before every test: what `main` stored there
    # cannot reach `test_main_add`, so `mul`, which ran beneath `main` in an earlier test, is
    # nothing it depends on. Under `-s` the stream stays as the earlier test left it.
    project.write_files({"src/pkg/cli.py": CLI_MODULE, "tests/test_cli.py": CLI_TESTS})
    project.settled(*capture)
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    found = outcomes(project.diff(*capture))
    assert {name: found[name] for name in found if name.startswith("test_main")} == selected


OPTIONS_MODULE = """
    from pkg.calc import mul


    class Option:
        def __init__(self, callback):
            self.callback = callback

        def run(self, value):
            return self.callback(value)


    def make_option():
        def show(value):
            return mul(value, 2)

        settings = {}
        settings.setdefault("callback", show)
        return Option(**settings)


    class Command:
        def __init__(self):
            self._option = None

        def option(self):
            if self._option is None:
                self._option = make_option()
            return self._option
    """

OPTIONS_TESTS = """
    from pkg.options import Command


    def test_runs_the_callback():
        assert Command().option().run(3) == 6


    def test_only_gets_the_option():
        assert Command().option().callback is not None
    """


def test_a_nested_function_the_memo_only_stores_did_not_run_beneath_it(project: Project) -> None:
    # `Command.option` keeps what `make_option` made; `show` is only stored in it, and runs
    # where the option is run. `mul` ran beneath `show` in the first test, in the same test as
    # `Command.option`, but never beneath it: the second test, which only gets the option,
    # does not depend on it.
    project.write_files(
        {"src/pkg/options.py": OPTIONS_MODULE, "tests/test_options.py": OPTIONS_TESTS}
    )
    project.settled()
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    found = outcomes(project.diff())
    assert {name: found[name] for name in found if "option" in name or "callback" in name} == {
        "test_runs_the_callback": "FAILED"
    }


TAGGED_MODULE = """
    from pkg.calc import mul


    def describe(cls):
        return f"{cls.__name__} of {mul(2, 2)} sides"


    def tagged(cls=None, *, verbose=False):
        def wrap(cls):
            cls.tag = describe(cls) if verbose else cls.__name__
            return cls

        return wrap if cls is None else wrap(cls)


    @tagged(verbose=False)
    class Square:
        def __init__(self, side):
            self.side = side


    _squares = {}


    def square(side):
        if side not in _squares:
            _squares[side] = Square(side)
        return _squares[side]
    """

TAGGED_TESTS = """
    from pkg.calc import mul
    from pkg.tagged import square


    def test_square_and_mul():
        assert square(3).side == 3 and mul(2, 3) == 6


    def test_square():
        assert square(3).tag == "Square"
    """


def test_what_a_class_decorator_calls_ran_when_the_class_was_defined(project: Project) -> None:
    # `tagged` ran when `Square` was defined; what it calls (`describe`, which calls `mul`)
    # does not run when a square is made beneath the memo `square`. `mul` ran in the same test
    # as `square`, but never beneath it: the test that only reads the memo does not depend on
    # it.
    project.write_files({"src/pkg/tagged.py": TAGGED_MODULE, "tests/test_tagged.py": TAGGED_TESTS})
    project.settled("-p", "no:randomly")
    project.replace("src/pkg/calc.py", "return a * b", "return a * b + 1")
    found = outcomes(project.diff("-p", "no:randomly"))
    assert {name: found[name] for name in found if "square" in name} == {
        "test_square_and_mul": "FAILED"
    }


SIGNATURE_REGISTRY = {
    "src/pkg/__init__.py": """
        from pkg.core import *
        from pkg.other import other

        core._sigs.fill()
    """,
    "src/pkg/sigs.py": """
        TABLE = {"len": 1, "max": 2}

        REGISTRY = {}


        def fill(table=TABLE, registry=REGISTRY):
            for name, count in table.items():
                registry[name] = count
    """,
    "src/pkg/core.py": """
        def arity(name):
            return _sigs.REGISTRY[name]


        from pkg import sigs as _sigs
    """,
    "src/pkg/other.py": """
        def other():
            return 1
    """,
    "tests/test_core.py": """
        from pkg import arity, other


        def test_arity():
            assert arity("len") == 1


        def test_other():
            assert other() == 1
    """,
}


def test_what_a_bare_module_level_call_writes_counts_for_its_readers_not_every_importer(
    project: Project,
) -> None:
    # toolz's `__init__.py` ends with `functoolz._sigs.create_signature_registry()`: a call of
    # project code whose effects are the registry it fills. The tests that read the registry
    # depend on it and on what it ran; the other importers of the package do not.
    project.write_files(SIGNATURE_REGISTRY)
    project.settled()
    project.replace("src/pkg/sigs.py", '"len": 1', '"len": 3')
    assert outcomes(project.diff()) == {"test_arity": "FAILED"}
    project.replace("src/pkg/sigs.py", '"len": 3', '"len": 1')
    project.settled()
    project.replace("src/pkg/sigs.py", "registry[name] = count", "registry[name] = -count")
    assert outcomes(project.diff()) == {"test_arity": "FAILED"}


FILLED_CONTAINERS = {
    "src/pkg/names.py": """
        COLORS = {}
        COLORS["red"] = dict(code=1)
        COLORS["blue"] = dict(code=2)
        COLORS.update(green=dict(code=3))

        SIZES = [1, 2]
        SIZES.append(3)


        def code(name):
            return COLORS[name]["code"]


        def largest():
            return max(SIZES)
    """,
    "tests/test_names.py": """
        from pkg.names import code, largest


        def test_code():
            assert code("red") == 1


        def test_largest():
            assert largest() == 3
    """,
}


def test_what_module_code_stores_into_a_container_it_built_counts_for_its_readers(
    project: Project,
) -> None:
    # toolz fills `module_info = {}` with `module_info[builtins] = dict(...)` statements: each
    # changes what the name holds, for the code that reads it, not for every importer.
    project.write_files(FILLED_CONTAINERS)
    project.settled()
    project.replace("src/pkg/names.py", "dict(code=1)", "dict(code=5)")
    assert outcomes(project.diff()) == {"test_code": "FAILED"}
    project.replace("src/pkg/names.py", "dict(code=5)", "dict(code=1)")
    project.settled()
    project.replace("src/pkg/names.py", "SIZES.append(3)", "SIZES.append(4)")
    assert outcomes(project.diff()) == {"test_largest": "FAILED"}


def test_what_ran_importing_a_module_a_star_import_names_counts_for_that_module_only(
    project: Project,
) -> None:
    # `from .functoolz import *` in toolz's `__init__.py`: what ran while functoolz was
    # imported is functoolz's own record (`make_table` ran beneath `TABLE = ...`, for the users
    # of TABLE), not code every importer of the package relies on.
    project.write_files(
        {
            "src/pkg/__init__.py": "from pkg.core import *\n",
            "src/pkg/core.py": """
                def make_table():
                    return {"a": 1}


                TABLE = make_table()


                def other():
                    return 2
            """,
            "tests/test_core.py": """
                from pkg import TABLE, other


                def test_table():
                    assert TABLE["a"] == 1


                def test_other():
                    assert other() == 2
            """,
        }
    )
    project.settled()
    project.replace("src/pkg/core.py", '{"a": 1}', '{"a": 3}')
    assert outcomes(project.diff()) == {"test_table": "FAILED"}
