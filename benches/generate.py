"""Deterministic generator of synthetic Python projects for benchmarking pytest-difftest.

    python benches/generate.py OUT_DIR --size small|medium|large [--shape layered|dense|calls]
    python benches/generate.py OUT_DIR --modules N --tests M [--seed S]

Layout of a generated project::

    pyproject.toml            pythonpath = ["src"], testpaths = ["tests"]
    src/proj/core.py          the hub: most modules import it, so most tests reach it
    src/proj/pkg_NN/mod_NNNN.py
    tests/conftest.py         a fixture built on the hub
    tests/t_NN/test_NNNNN.py  about 10 test items each (parametrized cases count one by one)
    bench_manifest.json       facts the benchmark needs (leaf modules, who imports what)

Three shapes. "layered" (the default): modules sit in layers 1-4 and import only from lower
layers (core is layer 0), so the import graph is acyclic and call chains stay short. Layer-4
modules are imported by tests only: they are the leaves that `mutate(project, "body")` edits.

"dense": every module imports core and three other modules picked at random, cycles included
(module-level code only defines things and calls happen inside functions, so the cycles import
cleanly). Every module defines the same names (`leaf_0`, `leaf_1`, `mid_0`, `mid_1`, `Record`,
`Counter`): leaves call core, mids call a leaf of their own and one of an imported module. Each
test calls three to five functions of the one to three modules its file imports. The import
closure of almost any module is almost the whole project, and every name is defined in every
file of it.

"calls": the suite of a library of small iterator tools, like more-itertools', where a test's
time goes to many Python-level calls of project code, not to pytest. The modules are planned as
in the layered shape, and every one defines the same names: small functions (`scale`, `mix`,
`is_kept`, `fold`), generator functions chained through one another, through `yield from`
(`chained` starts from generators of the modules it imports) and through generator expressions,
`Window` (an iterator class with `__iter__`/`__next__`), `Accumulator` (a method called in
loops) and two recursive helpers. Each test runs a pipeline, loop or recursion that makes
40,000 to 120,000 calls into them; some are parametrized, and more than half of the files hold a
`unittest.TestCase` whose two tests run 20 to 50 `self.subTest(...)` each, in a loop.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

SIZES: dict[str, tuple[int, int]] = {
    "small": (100, 1_000),
    "medium": (500, 5_000),
    "large": (2_000, 20_000),
}
SHAPES = ("layered", "dense", "calls")
LAYERS = 4
DENSE_IMPORTS = 3
MODULES_PER_PACKAGE = 25
TEST_FILES_PER_DIR = 50
TESTS_PER_FILE = 10
FUNCTIONS_PER_MODULE = 4
MANIFEST = "bench_manifest.json"
TWEAK = re.compile(r"(    tweak = )(\d+)(  # bench: tweak)")


@dataclass
class Module:
    index: int
    layer: int
    imports: list[int] = field(default_factory=list)
    uses_core: bool = True

    @property
    def package(self) -> str:
        return f"pkg_{self.index // MODULES_PER_PACKAGE:02d}"

    @property
    def name(self) -> str:
        return f"mod_{self.index:04d}"

    @property
    def dotted(self) -> str:
        return f"proj.{self.package}.{self.name}"

    @property
    def path(self) -> str:
        return f"src/proj/{self.package}/{self.name}.py"


CORE = '''"""The hub: shared helpers that nearly every module calls."""

from __future__ import annotations

from dataclasses import dataclass

MODULUS = 1_000_003
SEPARATOR = "-"


def normalize(value: int) -> int:
    value = abs(value) * 31 + 7
    return value % MODULUS


def combine(left: int, right: int) -> int:
    mixed = (left * 131) ^ right
    return normalize(mixed)


def label(prefix: str, value: int) -> str:
    text = f"{prefix}{SEPARATOR}{value}"
    return text.upper()


@dataclass(frozen=True)
class Point:
    x: int
    y: int

    def norm(self) -> int:
        return normalize(self.x * self.x + self.y * self.y)

    def shifted(self, dx: int) -> Point:
        return Point(self.x + dx, self.y)
'''

CONFTEST = """from __future__ import annotations

import pytest

from proj import core


@pytest.fixture
def base_value() -> int:
    return core.normalize(42)
"""


# Importing one module of the dense shape imports its whole closure depth first, through chains
# of hundreds of modules: deeper than Python's default recursion limit allows from 500 modules
# up (plain pytest stops with RecursionError). The limit is raised before any test module is
# imported, for every run alike. Python 3.12 also counts the C calls of each import level
# against a limit no setting raises: there the shape does not import from 500 modules up (3.13
# runs it, with the same `sys.monitoring` recorder).
DENSE_CONFTEST = CONFTEST.replace(
    "import pytest\n", "import sys\n\nimport pytest\n\nsys.setrecursionlimit(20_000)\n", 1
)


def plan(modules: int, seed: int) -> list[Module]:
    """Assigns layers and imports. Module 0 is reserved for core; the rest are spread evenly."""
    rng = random.Random(seed)
    result: list[Module] = []
    by_layer: dict[int, list[int]] = {layer: [] for layer in range(1, LAYERS + 1)}
    for index in range(max(modules - 1, 1)):
        layer = 1 + index * LAYERS // max(modules - 1, 1)
        module = Module(index=index, layer=layer, uses_core=rng.random() < 0.85)
        lower = [i for lay in range(1, min(layer, LAYERS)) for i in by_layer[lay]]
        if lower:
            module.imports = sorted(rng.sample(lower, k=min(len(lower), rng.randint(1, 2))))
        by_layer[layer].append(index)
        result.append(module)
    return result


def module_source(module: Module, modules: list[Module], rng: random.Random) -> str:
    deps = [modules[i] for i in module.imports]
    lines = ['"""Generated module."""', "", "from __future__ import annotations", ""]
    lines.append("from dataclasses import dataclass")
    lines.append("")
    if module.uses_core:
        lines.append("from proj import core")
    lines += [f"from proj.{dep.package} import {dep.name}" for dep in deps]
    lines += [
        "",
        f"SCALE = {rng.randint(2, 97)}",
        f'PREFIX = "m{module.index}"',
        f"TABLE = ({rng.randint(1, 9)}, {rng.randint(10, 99)}, {rng.randint(100, 999)})",
        "",
    ]
    for f in range(FUNCTIONS_PER_MODULE):
        lines += ["", f"def func_{f}(x: int, s: str = PREFIX) -> int:"]
        lines.append(f"    tweak = {rng.randint(1, 9)}  # bench: tweak")
        lines.append(f"    total = x * SCALE + TABLE[{f % 3}] + tweak")
        lines.append(f"    text = s.strip() + str(total % {rng.randint(7, 31)})")
        lines.append("    total += len(text.replace('m', 'mm'))")
        if module.uses_core:
            lines.append("    total = core.combine(total, len(s))")
        if deps:
            dep = deps[f % len(deps)]
            lines.append(f"    total += {dep.name}.func_{f % FUNCTIONS_PER_MODULE}(x + 1, text)")
        lines += ["    return total", ""]
    lines += ["", "@dataclass", "class Record:", "    key: str", "    amount: int = 0", ""]
    lines += ["    def weight(self) -> int:", "        return func_0(self.amount, self.key)", ""]
    lines += ["    def describe(self) -> str:"]
    if module.uses_core:
        lines.append("        return core.label(self.key, self.weight())")
    else:
        lines.append('        return f"{self.key}:{self.weight()}"')
    lines += ["", "", "class Counter:", "    def __init__(self, start: int = 0) -> None:"]
    lines += ["        self.value = start", "", "    def bump(self, step: int = 1) -> int:"]
    lines += [
        f"        self.value = func_1(self.value + step) % {rng.randint(50, 5000)}",
        "        return self.value",
        "",
    ]
    return "\n".join(lines)


def test_source(number: int, targets: list[Module], rng: random.Random) -> tuple[str, int]:
    """A test file with about TESTS_PER_FILE items; returns (source, item count)."""
    lines = ["from __future__ import annotations", "", "import pytest", ""]
    lines += [f"from proj.{m.package} import {m.name}" for m in targets]
    lines.append("")
    items = 0
    t = 0
    while items < TESTS_PER_FILE:
        m = targets[t % len(targets)].name
        f = rng.randrange(FUNCTIONS_PER_MODULE)
        shape = rng.random()
        lines.append("")
        if shape < 0.15 and items + 3 <= TESTS_PER_FILE:
            lines += [f'@pytest.mark.parametrize("x", [1, {rng.randint(2, 50)}, 77])']
            lines += [f"def test_{number}_{t}_param(x: int) -> None:"]
            lines += [f"    assert isinstance({m}.func_{f}(x), int)", ""]
            items += 3
        elif shape < 0.35:
            lines += [f"def test_{number}_{t}_record() -> None:"]
            lines += [f'    record = {m}.Record("k{t}", {rng.randint(0, 99)})']
            lines += ["    assert record.weight() >= 0", "    assert record.describe()", ""]
            items += 1
        elif shape < 0.5:
            lines += [f"def test_{number}_{t}_fixture(base_value: int) -> None:"]
            lines += [f"    assert {m}.func_{f}(base_value) == {m}.func_{f}(base_value)", ""]
            items += 1
        elif shape < 0.6:
            lines += [f"def test_{number}_{t}_counter() -> None:"]
            lines += [f"    counter = {m}.Counter({rng.randint(0, 9)})"]
            lines += ["    assert counter.bump() == counter.value", ""]
            items += 1
        else:
            lines += [f"def test_{number}_{t}_call() -> None:"]
            lines += [f'    result = {m}.func_{f}({rng.randint(0, 999)}, "s{t}")']
            lines += [f"    assert result > {-rng.randint(1, 5)}", ""]
            items += 1
        t += 1
    return "\n".join(lines), items


DENSE_LEAVES = ("leaf_0", "leaf_1")
DENSE_FUNCTIONS = ("leaf_0", "leaf_1", "mid_0", "mid_1")


def plan_dense(modules: int, seed: int) -> list[Module]:
    """Every module imports DENSE_IMPORTS others picked at random: no layers, cycles allowed."""
    rng = random.Random(seed)
    count = max(modules - 1, DENSE_IMPORTS + 1)
    result = []
    for index in range(count):
        others = [i for i in range(count) if i != index]
        result.append(Module(index, layer=1, imports=sorted(rng.sample(others, DENSE_IMPORTS))))
    return result


def dense_module_source(module: Module, modules: list[Module], rng: random.Random) -> str:
    """The same names in every module. Module-level code only defines things; every call to an
    imported module happens inside a function, so import cycles resolve."""
    deps = [modules[i] for i in module.imports]
    lines = ['"""Generated module (dense shape)."""', "", "from __future__ import annotations"]
    lines += ["", "from dataclasses import dataclass", "", "from proj import core"]
    lines += [f"from proj.{dep.package} import {dep.name}" for dep in deps]
    lines += [
        "",
        f"SCALE = {rng.randint(2, 97)}",
        f'PREFIX = "m{module.index}"',
        f"TABLE = ({rng.randint(1, 9)}, {rng.randint(10, 99)}, {rng.randint(100, 999)})",
        "",
    ]
    for k, name in enumerate(DENSE_LEAVES):
        lines += ["", f"def {name}(x: int, s: str = PREFIX) -> int:"]
        lines.append(f"    tweak = {rng.randint(1, 9)}  # bench: tweak")
        lines.append(f"    total = x * SCALE + TABLE[{k}] + tweak")
        lines.append(f"    text = s.strip() + str(total % {rng.randint(7, 31)})")
        lines.append("    total += len(text.replace('m', 'mm'))")
        lines += ["    return core.combine(total, len(s))", ""]
    first, second, third = (dep.name for dep in deps)
    lines += ["", "def mid_0(x: int, s: str = PREFIX) -> int:"]
    lines.append(f"    total = leaf_0(x, s) + {first}.leaf_1(x + 1, s)")
    lines.append(f"    total += {third}.leaf_0(x + {rng.randint(2, 9)}, s)")
    lines += ["    return core.normalize(total)", ""]
    lines += ["", "def mid_1(x: int, s: str = PREFIX) -> int:"]
    lines.append(f"    total = leaf_1(x, s) * {rng.randint(2, 9)} + {second}.leaf_0(x, s)")
    lines += ["    return core.normalize(total)", ""]
    lines += ["", "@dataclass", "class Record:", "    key: str", "    amount: int = 0", ""]
    lines += ["    def weight(self) -> int:", "        return leaf_0(self.amount, self.key)", ""]
    lines += [
        "    def describe(self) -> str:",
        "        return core.label(self.key, self.weight())",
    ]
    lines += ["", "", "class Counter:", "    def __init__(self, start: int = 0) -> None:"]
    lines += ["        self.value = start", "", "    def bump(self, step: int = 1) -> int:"]
    lines += [
        f"        self.value = mid_1(self.value + step) % {rng.randint(50, 5000)}",
        "        return self.value",
        "",
    ]
    return "\n".join(lines)


def _dense_calls(targets: list[Module], rng: random.Random, count: int, arg: str) -> str:
    """`count` calls of the shared function names, each on a module picked from `targets`."""
    return " + ".join(
        f"{rng.choice(targets).name}.{rng.choice(DENSE_FUNCTIONS)}({arg})" for _ in range(count)
    )


def dense_test_source(number: int, targets: list[Module], rng: random.Random) -> tuple[str, int]:
    """Like `test_source`, but every test calls three to five functions across its modules."""
    lines = ["from __future__ import annotations", "", "import pytest", ""]
    lines += [f"from proj.{m.package} import {m.name}" for m in targets]
    lines.append("")
    items = 0
    t = 0
    while items < TESTS_PER_FILE:
        m = targets[t % len(targets)].name
        calls = rng.randint(3, 5)
        shape = rng.random()
        lines.append("")
        if shape < 0.15 and items + 3 <= TESTS_PER_FILE:
            lines += [f'@pytest.mark.parametrize("x", [1, {rng.randint(2, 50)}, 77])']
            lines += [f"def test_{number}_{t}_param(x: int) -> None:"]
            lines += [f"    assert isinstance({_dense_calls(targets, rng, calls, 'x')}, int)", ""]
            items += 3
        elif shape < 0.35:
            lines += [f"def test_{number}_{t}_record() -> None:"]
            lines += [f'    record = {m}.Record("k{t}", {rng.randint(0, 99)})']
            others = _dense_calls(targets, rng, calls - 1, str(rng.randint(0, 99)))
            lines += [f"    assert record.weight() + {others} >= 0", ""]
            items += 1
        elif shape < 0.5:
            lines += [f"def test_{number}_{t}_fixture(base_value: int) -> None:"]
            total = _dense_calls(targets, rng, calls, "base_value")
            lines += [f"    assert {total} == {total}", ""]
            items += 1
        elif shape < 0.6:
            lines += [f"def test_{number}_{t}_counter() -> None:"]
            lines += [f"    counter = {m}.Counter({rng.randint(0, 9)})"]
            others = _dense_calls(targets, rng, calls - 1, str(rng.randint(0, 99)))
            lines += [f"    assert counter.bump() + {others} >= counter.value", ""]
            items += 1
        else:
            lines += [f"def test_{number}_{t}_call() -> None:"]
            lines += [f"    result = {_dense_calls(targets, rng, calls, str(rng.randint(0, 999)))}"]
            lines += [f"    assert result > {-rng.randint(1, 5)}", ""]
            items += 1
        t += 1
    return "\n".join(lines), items


CALLS_MODULE = '''"""Generated module (calls shape)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from proj import core
{imports}
STEP = {step}
OFFSET = {offset}
LIMIT = {limit}


def scale(x: int) -> int:
    tweak = {tweak}  # bench: tweak
    return x * STEP + tweak


def mix(left: int, right: int) -> int:
    return (left * OFFSET + right) % LIMIT


def is_kept(x: int) -> bool:
    return x % {keep_modulus} != {keep_rest}


def fold(values: Iterable[int]) -> int:
    total = 0
    for value in values:
        total = mix(total, value)
    return core.normalize(total)


def count_from(start: int) -> Iterator[int]:
    value = core.normalize(start)
    while True:
        yield value
        value += STEP


def take(n: int, values: Iterable[int]) -> Iterator[int]:
    for _, value in zip(range(n), values):
        yield value


def pairwise(values: Iterable[int]) -> Iterator[tuple[int, int]]:
    iterator = iter(values)
    for previous in iterator:
        for value in iterator:
            yield previous, value
            previous = value


def mixed_pairs(values: Iterable[int]) -> Iterator[int]:
    for left, right in pairwise(values):
        yield mix(left, right)


def scaled(values: Iterable[int]) -> Iterator[int]:
    yield from (scale(value) for value in values)


def kept(values: Iterable[int]) -> Iterator[int]:
    return (value for value in values if is_kept(value))


def chained(start: int, n: int) -> Iterator[int]:
    yield from take(n, {pairs}mixed_pairs(scaled({counter}count_from(start))))


def flattened(rows: Iterable[Iterable[int]]) -> Iterator[int]:
    for row in rows:
        yield from row


class Window:
    """Iterates `size` values, each mixed from the one before."""

    def __init__(self, start: int, size: int) -> None:
        self.value = start
        self.left = size

    def __iter__(self) -> Window:
        return self

    def __next__(self) -> int:
        if self.left <= 0:
            raise StopIteration
        self.left -= 1
        self.value = mix(self.value, STEP)
        return self.value


class Accumulator:
    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, value: int) -> None:
        self.total = mix(self.total, value)
        self.count += 1

    def result(self) -> int:
        return core.normalize(self.total + self.count)


def depth_sum(n: int) -> int:
    if n <= 0:
        return 0
    return n % {depth_modulus} + depth_sum(n - 1)


def tree_size(depth: int) -> int:
    if depth <= 0:
        return 1
    return 1 + tree_size(depth - 1) + tree_size(depth - 1)
'''
# Python-level calls into project code a test makes, each drawn at random in this range: about
# 80 million in all at 1,000 tests, so that plain pytest spends most of its time in them.
CALLS_PER_TEST = (40_000, 120_000)
SUBTESTS = (20, 50)


def calls_module_source(module: Module, modules: list[Module], rng: random.Random) -> str:
    """The same names in every module (see CALLS_MODULE); `chained` starts from the generators
    of the modules it imports, when it imports any."""
    deps = [modules[i] for i in module.imports]
    keep_modulus = rng.choice((5, 7, 11, 13))
    # A step that is a multiple of keep_modulus would let `kept(count_from(...))` skip forever.
    step = rng.choice([s for s in range(2, 98) if s % keep_modulus])
    return CALLS_MODULE.format(
        imports="".join(f"from proj.{dep.package} import {dep.name}\n" for dep in deps),
        step=step,
        offset=rng.randint(3, 97),
        limit=rng.randint(1_000, 100_000),
        tweak=rng.randint(1, 9),
        keep_modulus=keep_modulus,
        keep_rest=rng.randrange(keep_modulus),
        pairs=f"{deps[0].name}." if deps else "",
        counter=f"{deps[-1].name}." if deps else "",
        depth_modulus=rng.randint(3, 11),
    )


# Each writes one test making about `calls` calls into module `m` (the divisor: how many calls
# one value of its pipeline or loop costs) and reaching `core.normalize` (through `count_from`,
# `fold` or `Accumulator.result`), so that an edit of the hub selects them all.


def _pipeline_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """count_from, pairwise, mixed_pairs and mix, take, fold's mix: 6 calls a value."""
    n = calls // 6
    return [
        f"def {name}_pipeline() -> None:",
        f"    pairs = {m}.mixed_pairs({m}.count_from({rng.randint(0, 999)}))",
        f"    assert {m}.fold({m}.take({n}, pairs)) >= 0",
    ]


def _chain_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """Generators of up to three modules chained through `yield from`: 9 calls a value."""
    n = calls // 9
    return [
        f"def {name}_chain() -> None:",
        f"    values = list({m}.chained({rng.randint(0, 999)}, {n}))",
        f"    assert len(values) == {n}",
    ]


def _genexpr_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """Generator expressions in the module and in the test: about 9 calls a value."""
    n = calls // 9
    return [
        f"def {name}_genexpr() -> None:",
        f"    values = {m}.scaled({m}.take({n}, {m}.count_from({rng.randint(0, 999)})))",
        f"    pairs = {m}.pairwise({m}.kept(values))",
        f"    assert sum({m}.mix(left, right) for left, right in pairs) >= 0",
    ]


def _loop_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """`Window.__next__` and mix, scale, `Accumulator.add` and mix: 5 calls a value."""
    n = calls // 5
    return [
        f"def {name}_loop() -> None:",
        f"    accumulator = {m}.Accumulator()",
        f"    for value in {m}.Window({rng.randint(0, 999)}, {n}):",
        f"        accumulator.add({m}.scale(value))",
        f"    assert accumulator.count == {n}",
        "    assert accumulator.result() >= 0",
    ]


def _rows_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """Iterators flattened with `yield from`, then folded: 4 calls a value."""
    width = rng.randint(50, 100)
    return [
        f"def {name}_rows() -> None:",
        f"    rows = ({m}.Window(start, {width}) for start in range({calls // 4 // width}))",
        f"    assert {m}.fold({m}.flattened(rows)) >= 0",
    ]


def _recursion_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """tree_size(d) makes 2 ** (d + 1) - 1 calls; depth_sum(n) recurses n deep."""
    depth = (calls // 2).bit_length() - 1
    return [
        f"def {name}_recursion() -> None:",
        f"    assert {m}.tree_size({depth}) == {2 ** (depth + 1) - 1}",
        f"    assert {m}.fold({m}.depth_sum(n) for n in range({rng.randint(100, 200)})) >= 0",
    ]


def _parametrized_test(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """Three cases; count_from, kept's generator expression and is_kept, take: 4 calls a value."""
    n = calls // 4
    return [
        f'@pytest.mark.parametrize("start", [1, {rng.randint(2, 50)}, 77])',
        f"def {name}_param(start: int) -> None:",
        f"    values = list({m}.take({n}, {m}.kept({m}.count_from(start))))",
        f"    assert len(values) == {n}",
    ]


def _subtests_case(name: str, m: str, calls: int, rng: random.Random) -> list[str]:
    """A `unittest.TestCase` of two tests, each running SUBTESTS subtests in a loop; `Window`
    and fold's mix cost 3 calls a value, `chained` 9."""
    subtests = rng.randint(*SUBTESTS)
    folded = calls // subtests // 3
    chained = rng.randint(*CALLS_PER_TEST) // subtests // 9
    return [
        f"class {name.replace('test', 'Test', 1)}_subtests(unittest.TestCase):",
        "    def test_folds(self) -> None:",
        f"        for start in range({subtests}):",
        "            with self.subTest(start=start):",
        f"                self.assertGreaterEqual({m}.fold({m}.Window(start, {folded})), 0)",
        "",
        "    def test_chains(self) -> None:",
        f"        for start in range({subtests}):",
        "            with self.subTest(start=start):",
        f"                values = list({m}.chained(start, {chained}))",
        f"                self.assertEqual(len(values), {chained})",
    ]


# The plain tests, one item each.
CALLS_TESTS = (
    _pipeline_test,
    _chain_test,
    _genexpr_test,
    _loop_test,
    _rows_test,
    _recursion_test,
)


def calls_test_source(number: int, targets: list[Module], rng: random.Random) -> tuple[str, int]:
    """About TESTS_PER_FILE items, each making CALLS_PER_TEST calls: plain tests of six kinds,
    parametrized ones, and at most one `unittest.TestCase` of two tests full of subtests."""
    body: list[str] = []
    items = 0
    t = 0
    with_unittest = with_parametrize = False
    while items < TESTS_PER_FILE:
        m = targets[t % len(targets)].name
        name = f"test_{number}_{t}"
        shape = rng.random()
        body += ["", ""]
        calls = rng.randint(*CALLS_PER_TEST)
        if shape < 0.1 and items + 3 <= TESTS_PER_FILE:
            body += _parametrized_test(name, m, calls, rng)
            with_parametrize = True
            items += 3
        elif shape < 0.2 and not with_unittest and items + 2 <= TESTS_PER_FILE:
            body += _subtests_case(name, m, calls, rng)
            with_unittest = True
            items += 2
        else:
            write_test = rng.choice(CALLS_TESTS)
            body += write_test(name, m, calls, rng)
            items += 1
        t += 1
    lines = ["from __future__ import annotations", ""]
    lines += ["import unittest", ""] if with_unittest else []
    lines += ["import pytest", ""] if with_parametrize else []
    lines += [f"from proj.{m.package} import {m.name}" for m in targets]
    return "\n".join(lines + body + [""]), items


WRITERS = {
    "layered": (module_source, test_source),
    "dense": (dense_module_source, dense_test_source),
    "calls": (calls_module_source, calls_test_source),
}


def generate(
    out: Path, modules: int, tests: int, seed: int, orphans: int = 0, *, shape: str = "layered"
) -> dict[str, object]:
    """Writes the project into `out` (which must be empty or absent); returns the manifest.

    `orphans`: how many modules no test imports (layered: files that exist but never run).
    """
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    dense = shape == "dense"
    planned = plan_dense(modules, seed) if dense else plan(modules, seed)
    write_module, write_tests = WRITERS[shape]
    reachable = planned[: max(1, len(planned) - orphans)]
    (out / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0"\n\n[tool.pytest.ini_options]\n'
        'pythonpath = ["src"]\ntestpaths = ["tests"]\n'
    )
    root = out / "src" / "proj"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "core.py").write_text(CORE)
    for module in planned:
        path = out / module.path
        if not path.parent.exists():
            path.parent.mkdir()
            (path.parent / "__init__.py").write_text("")
        path.write_text(write_module(module, planned, rng))
    (out / "tests").mkdir()
    (out / "tests" / "conftest.py").write_text(DENSE_CONFTEST if dense else CONFTEST)
    importers: dict[str, list[str]] = {}
    items = 0
    number = 0
    while items < tests:
        # Test file k imports module k first, so that every module is imported (as long as
        # there are as many test files as modules), then up to two others (dense: two others,
        # so that its tests call across modules).
        picked = {reachable[number % len(reachable)].index}
        others = 2 if dense else rng.randint(0, 2)
        picked.update(m.index for m in rng.sample(reachable, k=min(len(reachable), others)))
        targets = [planned[i] for i in sorted(picked)]
        source, count = write_tests(number, targets, rng)
        directory = out / "tests" / f"t_{number // TEST_FILES_PER_DIR:02d}"
        directory.mkdir(exist_ok=True)
        test_path = directory / f"test_{number:05d}.py"
        test_path.write_text(source)
        for target in targets:
            importers.setdefault(target.path, []).append(test_path.relative_to(out).as_posix())
        items += count
        number += 1
    # What `mutate(project, "body")` edits: a module only tests import (layered); in the dense
    # shape every module is imported by others, so the first one tests import.
    leaves = [m.path for m in planned if (dense or m.layer == LAYERS) and m.path in importers]
    manifest: dict[str, object] = {
        "shape": shape,
        "seed": seed,
        "modules": len(planned) + 1,
        "tests": items,
        "test_files": number,
        "leaves": leaves,
        "importers": importers,
        "mutations": 0,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def mutate(project: Path, kind: str = "body") -> str:
    """Edits one function of the project and returns the edited file's relative path.

    kind "body": the body of the first function of a leaf module (layered: `func_0` of a module
    only tests import; dense: `leaf_0` of the first module tests import; calls: `scale` of a
    module only tests import);
    kind "hub": the body of `core.normalize`, which nearly every test reaches.
    Each call makes a new, different edit, so repeated calls keep changing the code.
    """
    manifest = json.loads((project / MANIFEST).read_text())
    manifest["mutations"] += 1
    count = manifest["mutations"]
    if kind == "body":
        relative = manifest["leaves"][0]
        path = project / relative
        text = path.read_text()
        text, found = TWEAK.subn(lambda m: f"{m[1]}{int(m[2]) + 1}{m[3]}", text, count=1)
        if not found:
            raise RuntimeError(f"no tweak line in {relative}")
    elif kind == "hub":
        relative = "src/proj/core.py"
        path = project / relative
        text = re.sub(
            r"abs\(value\) \* 31 \+ \d+", f"abs(value) * 31 + {7 + count}", path.read_text()
        )
    else:
        raise ValueError(f"unknown mutation kind {kind!r}")
    path.write_text(text)
    (project / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return relative


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES))
    parser.add_argument("--modules", type=int)
    parser.add_argument("--tests", type=int)
    parser.add_argument("--shape", choices=SHAPES, default="layered")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--orphans", type=int, default=0, help="leaf modules no test imports")
    parser.add_argument(
        "--mutate",
        choices=["body", "hub"],
        help="edit an existing generated project instead of generating one",
    )
    args = parser.parse_args()
    if args.mutate:
        print(mutate(args.out, args.mutate))
        return
    modules, tests = SIZES[args.size] if args.size else (100, 1_000)
    modules = args.modules or modules
    tests = args.tests or tests
    manifest = generate(args.out, modules, tests, args.seed, args.orphans, shape=args.shape)
    print(
        f"{args.out}: {manifest['modules']} modules, {manifest['tests']} tests "
        f"in {manifest['test_files']} files"
    )


if __name__ == "__main__":
    main()
