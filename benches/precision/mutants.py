"""Seeded mutants of a project's source: an `ast`-based picker and minimal one-line text edits.

Every mutation site is a single-line edit (`old` replaced by `new` at a line and column), so the
mutated file keeps its line numbers and the rest of its text. A site belongs to one kind, by
where the edited code runs:

    body       inside a function or method body (lambdas included)
    module     a module-level statement (not a def, class or import)
    class      a statement of a class body outside its methods
    default    a parameter's default value
    decorator  a decorator: one of its arguments, or the whole decorator removed

The edits change behaviour: a constant (an int off by one, a flipped bool, a changed string), a
flipped comparison, an arithmetic or boolean operator swapped, a `not` dropped, a default
changed, a decorator removed. Docstrings, annotations, `if TYPE_CHECKING:` blocks and module
metadata (`__all__`, `__version__`, ...) are left alone: editing them changes nothing a test
can see, or nothing at all.
"""

from __future__ import annotations

import ast
import random
from dataclasses import asdict, dataclass
from pathlib import Path

KINDS = ("body", "module", "class", "default", "decorator")

COMPARISON_FLIPS = {
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "is": "is not",
    "is not": "is",
    "in": "not in",
    "not in": "in",
}
OPERATOR_SWAPS = {
    "+": "-",
    "-": "+",
    "*": "//",
    "/": "*",
    "//": "*",
    "%": "//",
    "<<": ">>",
    ">>": "<<",
    "|": "&",
    "&": "|",
    "^": "|",
}
BOOLEAN_SWAPS = {"and": "or", "or": "and"}
# Decorators whose removal changes nothing at run time (typing only), so no mutant removes them.
INERT_DECORATORS = {
    "overload",
    "final",
    "override",
    "no_type_check",
    "type_check_only",
    "runtime_checkable",
}
METADATA = {"__all__", "__version__", "__author__", "__license__", "__copyright__", "__email__"}


@dataclass(frozen=True)
class Mutant:
    kind: str
    path: str  # relative to the project root, with forward slashes
    line: int  # 1-based
    column: int  # 0-based, in characters
    old: str
    new: str
    scope: str  # the enclosing function or class (`Cache.__init__`), or `<module>`

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def describe(self) -> str:
        new = self.new or "(removed)"
        return f"`{shorten(self.old)}` -> `{shorten(new)}`"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def apply(self, root: Path) -> str:
        """Writes the edit into the file; returns the original text (for `restore`)."""
        path = root / self.path
        original = path.read_text(encoding="utf-8")
        lines = original.splitlines(keepends=True)
        line = lines[self.line - 1]
        if line[self.column : self.column + len(self.old)] != self.old:
            raise RuntimeError(f"{self.key}: expected {self.old!r}, the file has changed")
        lines[self.line - 1] = line[: self.column] + self.new + line[self.column + len(self.old) :]
        path.write_text("".join(lines), encoding="utf-8")
        return original


def shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


class _Finder:
    """Collects the mutation sites of one file, each tagged with its kind."""

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = source.splitlines(keepends=True)
        self.sites: list[Mutant] = []

    # -- positions ---------------------------------------------------------------------------

    def _column(self, lineno: int, byte_offset: int) -> int:
        """ast columns are UTF-8 byte offsets; edits work in characters."""
        return len(self.lines[lineno - 1].encode("utf-8")[:byte_offset].decode("utf-8"))

    def _text(self, node: ast.AST) -> str | None:
        """The node's source text when it sits on one line, else None."""
        lineno, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if lineno is None or lineno != end:
            return None
        raw = self.lines[lineno - 1].encode("utf-8")
        return raw[node.col_offset : node.end_col_offset].decode("utf-8")  # type: ignore[attr-defined]

    def _between(self, left: ast.AST, right: ast.AST) -> tuple[int, int, str] | None:
        """(line, column, text) of the source between two nodes on the same line."""
        lineno = getattr(left, "end_lineno", None)
        if lineno is None or lineno != getattr(right, "lineno", None):
            return None
        raw = self.lines[lineno - 1].encode("utf-8")
        start, stop = left.end_col_offset, right.col_offset  # type: ignore[attr-defined]
        return lineno, self._column(lineno, start), raw[start:stop].decode("utf-8")

    def _add(self, kind: str, scope: str, at: tuple[int, int], old: str, new: str) -> None:
        self.sites.append(Mutant(kind, self.path, at[0], at[1], old, new, scope))

    def _replace(self, kind: str, scope: str, node: ast.AST, new: str) -> None:
        old = self._text(node)
        if old is not None and old != new:
            column = self._column(node.lineno, node.col_offset)  # type: ignore[attr-defined]
            self._add(kind, scope, (node.lineno, column), old, new)  # type: ignore[attr-defined]

    def _operator(
        self, kind: str, scope: str, operands: tuple[ast.AST, ast.AST], swaps: dict[str, str]
    ) -> None:
        """The operator written between two operands, swapped when `swaps` knows it."""
        between = self._between(*operands)
        if between is None:
            return
        lineno, column, text = between
        operator = " ".join(text.split())
        if operator in swaps:
            offset = text.index(operator.split()[0])
            old = text[offset:].rstrip()
            if " ".join(old.split()) == operator:
                self._add(kind, scope, (lineno, column + offset), old, swaps[operator])

    # -- expressions -------------------------------------------------------------------------

    def expression(self, node: ast.AST, kind: str, scope: str) -> None:
        """Sites inside an expression; lambdas and comprehensions are walked too."""
        if isinstance(node, ast.Lambda):
            self.arguments(node.args, scope)
            self.expression(node.body, "body", scope)
            return
        if isinstance(node, ast.JoinedStr):
            # f-string parts have unreliable positions before 3.12; leave them alone.
            return
        if isinstance(node, ast.Constant):
            self.constant(node, kind, scope)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            self._operator(kind, scope, (node.left, node.comparators[0]), COMPARISON_FLIPS)
        elif isinstance(node, ast.BinOp):
            self._operator(kind, scope, (node.left, node.right), OPERATOR_SWAPS)
        elif isinstance(node, ast.BoolOp):
            self._operator(kind, scope, (node.values[0], node.values[1]), BOOLEAN_SWAPS)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            operand = self._text(node.operand)
            if operand is not None and self._text(node) is not None:
                self._replace(kind, scope, node, operand)
        for child in ast.iter_child_nodes(node):
            self.expression(child, kind, scope)

    def constant(self, node: ast.Constant, kind: str, scope: str) -> None:
        value = node.value
        if isinstance(value, bool):
            self._replace(kind, scope, node, str(not value))
        elif isinstance(value, int):
            self._replace(kind, scope, node, str(value + 1))
        elif isinstance(value, float):
            self._replace(kind, scope, node, repr(value + 1.0))
        elif isinstance(value, (str, bytes)):
            text = self._text(node)
            if text is not None and _plain_literal(text):
                self._replace(kind, scope, node, text[:-1] + "_" + text[-1])
        elif value is None and kind == "default":
            self._replace(kind, scope, node, "False")

    # -- statements --------------------------------------------------------------------------

    def arguments(self, args: ast.arguments, scope: str) -> None:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.expression(default, "default", scope)

    def decorators(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, scope: str
    ) -> None:
        for decorator in node.decorator_list:
            self.expression(decorator, "decorator", scope)
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            text = self._text(decorator)
            if text is None or name in INERT_DECORATORS:
                continue
            line = self.lines[decorator.lineno - 1]
            if line.strip() == "@" + text:
                indent = len(line) - len(line.lstrip())
                self._add("decorator", scope, (decorator.lineno, indent), line.strip(), "")

    def statements(self, body: list[ast.stmt], kind: str, scope: str) -> None:
        for index, statement in enumerate(body):
            if index == 0 and _is_docstring(statement):
                continue
            self.statement(statement, kind, scope)

    def statement(self, node: ast.stmt, kind: str, scope: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = node.name if scope == "<module>" else f"{scope}.{node.name}"
            self.decorators(node, inner)
            self.arguments(node.args, inner)
            self.statements(node.body, "body", inner)
        elif isinstance(node, ast.ClassDef):
            inner = node.name if scope == "<module>" else f"{scope}.{node.name}"
            self.decorators(node, inner)
            self.statements(node.body, "body" if kind == "body" else "class", inner)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            self.statements(node.orelse, kind, scope)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and _assigns_metadata(
            node
        ):
            return
        else:
            for field, value in ast.iter_fields(node):
                if field == "annotation":
                    continue
                if isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.stmt):
                            self.statement(item, kind, scope)
                        elif isinstance(item, ast.AST):
                            self._child(item, kind, scope)
                elif isinstance(value, ast.AST):
                    self._child(value, kind, scope)

    def _child(self, node: ast.AST, kind: str, scope: str) -> None:
        if isinstance(node, ast.expr):
            self.expression(node, kind, scope)
        else:
            # except handlers, match cases, with items, comprehension clauses
            for field, value in ast.iter_fields(node):
                if field == "annotation":
                    continue
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if isinstance(item, ast.stmt):
                        self.statement(item, kind, scope)
                    elif isinstance(item, ast.AST):
                        self._child(item, kind, scope)


def _plain_literal(text: str) -> bool:
    """A one-quoted string or bytes literal without escapes of its quote: appending a character
    before the closing quote gives a new value of the same type. Prefixed (r, f, u) and
    implicitly concatenated literals are left alone."""
    body = text[1:] if text[:1] == "b" else text
    quote = body[:1]
    return quote in ("'", '"') and body[-1:] == quote and body.count(quote) == 2


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
    return name == "TYPE_CHECKING"


def _assigns_metadata(node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(t, ast.Name) and t.id in METADATA for t in targets)


def sites(root: Path, files: list[str]) -> list[Mutant]:
    """Every mutation site of the given files (paths relative to root), in a stable order."""
    found: list[Mutant] = []
    for relative in sorted(files):
        source = (root / relative).read_text(encoding="utf-8")
        finder = _Finder(relative, source)
        finder.statements(ast.parse(source).body, "module", "<module>")
        found += finder.sites
    # One site per position: the first edit found there (an outer node before its parts).
    unique: dict[str, Mutant] = {}
    for site in found:
        unique.setdefault(f"{site.kind}:{site.key}:{site.old}", site)
    return sorted(unique.values(), key=lambda m: (m.path, m.line, m.column, m.old, m.new))


def shuffled(candidates: list[Mutant], seed: int, project: str, kind: str) -> list[Mutant]:
    """The sites of one kind in the order the benchmark tries them: fixed by seed and project."""
    chosen = [m for m in candidates if m.kind == kind]
    random.Random(f"{seed}/{project}/{kind}").shuffle(chosen)
    return chosen
