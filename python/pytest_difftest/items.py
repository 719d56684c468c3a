"""What a pytest item depends on without executing it: its function, its fixtures, its class."""

from __future__ import annotations

import ast
import contextlib
import inspect
from collections.abc import Collection, Iterator, Mapping
from types import CodeType
from typing import Any

import pytest

from pytest_difftest.paths import ProjectFiles


def code_of(obj: Any) -> CodeType | None:
    """The code object behind a function, bound method or decorated function."""
    # A cycle, or an object that lies about __wrapped__, keeps the object as it is.
    with contextlib.suppress(ValueError, TypeError):
        obj = inspect.unwrap(obj)
    obj = getattr(obj, "__func__", obj)
    code = getattr(obj, "__code__", None)
    return code if isinstance(code, CodeType) else None


def static_code(
    item: pytest.Item, files: ProjectFiles, fixtures: dict[Any, tuple[str, int] | None]
) -> list[tuple[str, int]]:
    """``(file, first line)`` of the item's own function and of every fixture it requests,
    transitively and whatever their scope: it depends on them even when they ran for another
    test (a session fixture) or did not run at all (a skipped test). `fixtures` remembers the
    answer for each fixture definition: every test requests some thirty of them (pytest's and
    the plugins'), and unwrapping each function again cost a tenth of a second per thousand
    tests."""
    found: list[tuple[str, int]] = []

    def where(code: CodeType | None) -> tuple[str, int] | None:
        if code is None:
            return None
        relative = files.relative(code.co_filename)
        return None if relative is None else (relative, code.co_firstlineno)

    own = where(code_of(getattr(item, "obj", None)))
    if own is not None:
        found.append(own)
    for definition in requested_fixtures(item):
        try:
            fixture = fixtures[definition]
        except KeyError:
            fixture = fixtures[definition] = where(code_of(getattr(definition, "func", None)))
        if fixture is not None:
            found.append(fixture)
    doctest = getattr(item, "dtest", None)
    if doctest is not None and doctest.filename and doctest.lineno is not None:
        relative = files.relative(doctest.filename)
        if relative is not None:
            found.append((relative, doctest.lineno + 1))
    return found


def requested_fixtures(item: pytest.Item) -> Iterator[Any]:
    """Every fixture definition the item requests, directly or through other fixtures
    (including autouse ones and the overridden definitions that ``request`` can reach), and,
    once it has run, those it asked for by name (``request.getfixturevalue``), which pytest
    keeps in the item's request."""
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is not None:
        for definitions in fixture_info.name2fixturedefs.values():
            yield from definitions
    request = getattr(item, "_request", None)
    evaluated = getattr(request, "_fixture_defs", None)
    if isinstance(evaluated, dict):
        yield from list(evaluated.values())


def test_file_of(item: pytest.Item, files: ProjectFiles) -> str:
    """The file pytest collected `item` from, relative to the root."""
    relative = files.relative(str(item.path))
    return relative if relative is not None else item.nodeid.partition("::")[0]


def names_used(item: pytest.Item) -> list[str]:
    """Names the item relies on that no executed code mentions: its test class, and what the
    examples of a doctest refer to (they run as code of no file), as references in the form
    the core resolves in the item's file (``NAME``, ``mod.NAME``)."""
    cls = getattr(item, "cls", None)
    names = [cls.__name__] if cls is not None else []
    doctest = getattr(item, "dtest", None)
    for example in getattr(doctest, "examples", None) or ():
        names.extend(_references(example.source))
    return names


def _references(source: str) -> set[str]:
    """The global names and attribute chains on names (``a.b.c``) some code loads."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = [node.attr]
            value = node.value
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name):
                found.add(".".join([value.id, *reversed(parts[-3:])]))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.add(node.id)
    return found


def executed_code(codes: Mapping[int, CodeType], files: ProjectFiles) -> list[tuple[str, int]]:
    """``(file, first line)`` of the project code objects in `codes` (by id, as recorders
    collect them). A module's own code object is reported as line 0, which stands for the
    module's import-time code."""
    return [where for _, where in _project_code(codes, files)]


def executed_beneath(
    codes: Mapping[int, CodeType], statements: Mapping[int, Collection[int]], files: ProjectFiles
) -> list[tuple[str, int, int]]:
    """`executed_code` with the lines of the module's statements each ran beneath (see
    `Statements`; 0: not known), one entry per line, of functions only: what a module's
    importers rely on is the functions that ran while it executed (see
    `Engine.mark_module_import`); a module imported meanwhile counts for its own importers, and
    an import chain would repeat every module and class body beneath it at each level.

    Every recorder places each project function it sees start while modules execute under a
    statement, and only functions, so `statements` names exactly them: `codes` also holds all
    the library code and bodies that ran, and what the modules a chain of imports beneath
    executed, which made passing over it quadratic in the chain's depth (a tenth of a second on
    a dense project)."""
    functions = {key: codes[key] for key in statements.keys() & codes.keys()}
    return [
        (*where, line) for key, where in _project_code(functions, files) for line in statements[key]
    ]


def _project_code(
    codes: Mapping[int, CodeType], files: ProjectFiles
) -> Iterator[tuple[int, tuple[str, int]]]:
    # Runs after every test over a few hundred code objects, mostly pytest's own: those known
    # to be outside the project go in one set difference, the rest cost a dict lookup each.
    # Both are keyed by id, never by the code object: equal code objects of different files
    # would share one answer. `files.code_cache` holds every code object it has seen, so an id
    # in it or in `code_outside` is never reused for another.
    cache, outside = files.code_cache, files.code_outside
    for key in codes.keys() - outside:
        entry = cache.get(key)
        if entry is None:
            code = codes[key]
            relative = files.relative(code.co_filename)
            line = 0 if code.co_name == "<module>" else code.co_firstlineno
            entry = cache[key] = (code, None if relative is None else (relative, line))
            if relative is None:
                outside.add(key)
                continue
        where = entry[1]
        if where is not None:
            yield key, where
