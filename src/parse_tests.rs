//! Tests for `parse`: block layout, names, checksum stability and the facts selection relies on
//! (`uses`, `binds`, `imports`, `import_uses`, `stateful`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::*;
use crate::block::BlockKind;

/// A realistic module using syntax from Python 3.8 to 3.14; the expectations below refer to its
/// line numbers.
const MODERN: &str = include_str!("testdata/parse_modern.py");

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Parses `source`, which must be valid Python.
fn parse(source: &str) -> FileModel {
    let model = parse_bytes(source.as_bytes());
    assert_eq!(
        model.parse_error, None,
        "unexpected parse error for:\n{source}"
    );
    assert_eq!(model.blocks[0].name, MODULE_BLOCK);
    assert_eq!(model.blocks[0].kind, BlockKind::Module);
    model
}

/// The names import-time code of `model` mentions, as text.
fn import_uses(model: &FileModel) -> HashSet<&'static str> {
    model.import_uses.iter().map(|name| name.as_str()).collect()
}

fn names(model: &FileModel) -> Vec<&str> {
    model
        .blocks
        .iter()
        .map(|block| block.name.as_str())
        .collect()
}

fn block<'m>(model: &'m FileModel, name: &str) -> &'m Block {
    model
        .blocks
        .iter()
        .find(|block| block.name == name)
        .unwrap_or_else(|| panic!("no block {name:?} in {:?}", names(model)))
}

/// What the calling statement of block `name` calls (see `FileModel::calling`).
fn callees(model: &FileModel, name: &str) -> Vec<String> {
    model
        .calling
        .iter()
        .find(|(index, _)| model.blocks[*index as usize].name == name)
        .map(|(_, callees)| callees.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn has_block(model: &FileModel, name: &str) -> bool {
    model.blocks.iter().any(|block| block.name == name)
}

/// `(name, kind, start_line, end_line)` of every block, sorted by start line, then name.
fn layout(model: &FileModel) -> Vec<(String, BlockKind, u32, u32)> {
    let mut layout: Vec<_> = model
        .blocks
        .iter()
        .map(|block| {
            (
                block.name.to_string(),
                block.kind,
                block.start_line,
                block.end_line,
            )
        })
        .collect();
    layout.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    layout
}

fn checksums(model: &FileModel) -> BTreeMap<String, i64> {
    model
        .blocks
        .iter()
        .map(|block| (block.name.to_string(), block.checksum))
        .collect()
}

/// Names of the blocks whose checksum differs between the two models, or that exist in only one.
fn changed(before: &FileModel, after: &FileModel) -> Vec<String> {
    let (before, after) = (checksums(before), checksums(after));
    let all: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    all.into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}

#[track_caller]
fn assert_changed(before: &FileModel, after: &FileModel, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|name| (*name).to_owned()).collect();
    expected.sort();
    assert_eq!(changed(before, after), expected);
}

/// Replaces the single occurrence of `old` in `source` by `new`.
#[track_caller]
fn edit(source: &str, old: &str, new: &str) -> String {
    assert_eq!(
        source.matches(old).count(),
        1,
        "{old:?} must occur exactly once"
    );
    source.replacen(old, new, 1)
}

/// Applies `change` to every line from `first_line` (1-based) on; earlier lines are kept as is
/// (used to leave a multi-line module docstring alone).
fn map_lines(source: &str, first_line: usize, change: impl Fn(&str) -> String) -> String {
    source
        .lines()
        .enumerate()
        .map(|(index, line)| {
            if index + 1 >= first_line {
                change(line)
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect()
}

/// Replaces each leading group of four spaces by `unit`.
fn reindent(line: &str, unit: &str) -> String {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    assert_eq!(spaces % 4, 0, "odd indentation in {line:?}");
    format!("{}{}", unit.repeat(spaces / 4), &line[spaces..])
}

fn model_index(model: &FileModel, name: &str) -> usize {
    model
        .blocks
        .iter()
        .position(|block| block.name == name)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Block layout of the modern fixture
// ---------------------------------------------------------------------------------------------

#[test]
fn modern_fixture_parses() {
    let model = parse(MODERN);
    assert_eq!(model.content_hash, hash_bytes(MODERN.as_bytes()));
    assert_eq!(model.blocks[0].start_line, 1);
    assert_eq!(model.blocks[0].end_line, u32::MAX);
    assert!(
        model.blocks[1..]
            .iter()
            .all(|block| block.kind != BlockKind::Module)
    );
}

#[test]
fn modern_fixture_block_layout() {
    use BlockKind::{Binding, Function, Module};
    let expected = [
        ("<module>", Module, 1, u32::MAX),
        ("=__doc__", Binding, 1, 4),
        ("from:annotations", Binding, 6, 6),
        ("import:functools", Binding, 8, 8),
        ("import:os", Binding, 9, 9),
        ("from:dataclass,field", Binding, 10, 10),
        ("from:TYPE_CHECKING,Protocol", Binding, 11, 11),
        ("from:RATE,rounding", Binding, 13, 13),
        ("from:registry", Binding, 14, 14),
        // The import under `if TYPE_CHECKING:` (16-17) is a statement of its own.
        ("from:Iterator", Binding, 17, 17),
        // Both `type` aliases (26-27): folded into `<module>`.
        ("=TIMEOUT", Binding, 19, 19),
        ("=RETRIES", Binding, 20, 20),
        ("=SCALE,OFFSETS", Binding, 21, 21),
        ("=PATTERNS", Binding, 22, 25),
        ("=_state", Binding, 28, 28),
        // `CONFIG = os.environ.get(…)`: what a call returns, a calling statement.
        ("=CONFIG", Binding, 29, 29),
        ("class:Order", Binding, 32, 54),
        ("Order.total", Function, 39, 42),
        ("Order.total#2", Function, 44, 46),
        ("Order.Line.describe", Function, 49, 50),
        ("Order.Line.Meta.label", Function, 53, 54),
        ("class:Pluggable", Binding, 57, 62),
        ("Pluggable.register", Function, 60, 62),
        ("class:Box", Binding, 65, 67),
        ("Box.get", Function, 66, 67),
        ("parse_sku", Function, 70, 73),
        ("def:parse_sku", Binding, 70, 73),
        ("bump", Function, 76, 78),
        ("def:bump", Binding, 76, 78),
        ("fetch", Function, 81, 86),
        ("def:fetch", Binding, 81, 86),
        ("dispatch", Function, 89, 96),
        ("def:dispatch", Binding, 89, 96),
        ("risky", Function, 99, 108),
        ("def:risky", Binding, 99, 108),
        ("first", Function, 111, 115),
        ("def:first", Binding, 111, 115),
    ];
    let mut expected: Vec<_> = expected
        .iter()
        .map(|&(name, kind, start, end)| (name.to_owned(), kind, start, end))
        .collect();
    expected.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    assert_eq!(layout(&parse(MODERN)), expected);
}

#[test]
fn decorated_blocks_start_at_their_first_decorator() {
    let model = parse(MODERN);
    assert_eq!(block(&model, "class:Order").start_line, 32); // @dataclass
    assert_eq!(block(&model, "Order.total").start_line, 39); // @property
    assert_eq!(block(&model, "Order.total#2").start_line, 44); // @total.setter
    assert_eq!(block(&model, "Pluggable.register").start_line, 60); // @classmethod
    assert_eq!(block(&model, "parse_sku").start_line, 70); // @functools.lru_cache(…)
    assert_eq!(block(&model, "fetch").start_line, 81); // @app.route(…)

    let stacked = parse("@a\n@b.c(1)\n\n@d\ndef f():\n    pass\n");
    assert_eq!(block(&stacked, "f").start_line, 1);
    assert_eq!(block(&stacked, "f").end_line, 6);
}

#[test]
fn property_setter_and_deleter_get_numbered_names() {
    let model = parse(
        r#"class C:
    @property
    def x(self):
        return self._x

    @x.setter
    def x(self, value):
        self._x = value

    @x.deleter
    def x(self):
        del self._x
"#,
    );
    assert_eq!(
        names(&model),
        ["<module>", "C.x", "C.x#2", "C.x#3", "class:C"]
    );
    assert_eq!(block(&model, "C.x").start_line, 2);
    assert_eq!(block(&model, "C.x#2").start_line, 6);
    assert_eq!(block(&model, "C.x#3").start_line, 10);
    // The setter writes its object's attribute (a parameter is no reference).
    assert_eq!(block(&model, "C.x#2").writes(), ["self._x"]);
    assert_eq!(block(&model, "C.x#2").refs(), ["x.setter"]);
}

#[test]
fn duplicate_top_level_functions_get_numbered_names() {
    let source = r#"from typing import overload

@overload
def f(x: int) -> int: ...
@overload
def f(x: str) -> str: ...
def f(x):
    return x
"#;
    let model = parse(source);
    for name in ["f", "f#2", "f#3", "def:f", "def:f#2", "def:f#3"] {
        assert!(
            has_block(&model, name),
            "{name} missing from {:?}",
            names(&model)
        );
    }
    assert_eq!(block(&model, "f").start_line, 3);
    assert_eq!(block(&model, "f#3").start_line, 7);
    // Editing the implementation only touches the third one.
    let after = parse(&edit(source, "return x", "return x * 2"));
    assert_changed(&model, &after, &["f#3"]);
}

#[test]
fn nested_classes_use_qualified_names() {
    let model = parse(
        r#"class A:
    class B:
        class C:
            def m(self):
                pass
        def n(self):
            pass
    def o(self):
        pass
"#,
    );
    assert_eq!(
        names(&model),
        ["<module>", "A.B.C.m", "A.B.n", "A.o", "class:A"]
    );
    assert_eq!(block(&model, "A.B.C.m").start_line, 4);
    assert_eq!(block(&model, "A.B.C.m").end_line, 5);
}

#[test]
fn functions_nested_in_functions_belong_to_the_outer_function() {
    let source = r#"def outer(x):
    def inner(y):
        return y + 1
    helper = lambda z: z * 2
    return inner(helper(x))
"#;
    let model = parse(source);
    assert_eq!(names(&model), ["<module>", "outer", "def:outer"]);
    let after = parse(&edit(source, "y + 1", "y + 2"));
    assert_changed(&model, &after, &["outer"]);
}

#[test]
fn a_decorated_def_statement_hands_its_decorator_the_docstring_not_the_body() {
    let source = "@command\ndef run(x):\n    'Runs it.'\n    return x + 1\n";
    let model = parse(source);
    assert_eq!(names(&model), ["<module>", "run", "def:run"]);
    let after = parse(&edit(source, "Runs it.", "Runs it all."));
    assert_changed(&model, &after, &["def:run", "run"]);
    let after = parse(&edit(source, "x + 1", "x + 2"));
    assert_changed(&model, &after, &["run"]);
}

#[test]
fn lambdas_and_comprehensions() {
    let model = parse(
        r#"key = lambda item: item[1]
PAIRS = [(a, b) for a in 'xy' for b in 'z']
SQUARES = [i * i for i in range(10)]
LOOKUP = {k: v for k, v in PAIRS}
"#,
    );
    // A lambda or a call-free comprehension only binds; calling `range` may run anything:
    // a calling statement, whose callee the engine follows.
    assert_eq!(
        names(&model),
        ["<module>", "=key", "=PAIRS", "=SQUARES", "=LOOKUP"]
    );
    assert_eq!(block(&model, "=key").binds(), ["key"]);
    assert!(!import_uses(&model).contains("range"));
    assert_eq!(callees(&model, "=SQUARES"), ["range"]);
    assert!(
        block(&model, "=LOOKUP")
            .refs()
            .iter()
            .any(|r| *r == "PAIRS"),
        "read by LOOKUP's comprehension"
    );
}

#[test]
fn statements_in_module_level_branches_are_blocks_of_their_own() {
    let source = r#"import sys

if sys.version_info >= (3, 11):
    def f():
        return 1
    LIMIT = 1
elif FAST:
    pass
else:
    def f():
        return 2
    register(f)

try:
    from json import dumps
except ImportError as error:
    def dumps(value):
        return repr(value)
"#;
    let model = parse(source);
    assert_eq!(
        names(&model),
        [
            "<module>",
            "import:sys",
            "f",
            "def:f",
            "=LIMIT",
            "f#2",
            "def:f#2",
            "call:register",
            "from:dumps",
            "dumps",
            "def:dumps"
        ]
    );
    assert_eq!(model.block_at_line(5), model_index(&model, "f"));
    assert_eq!(model.block_at_line(11), model_index(&model, "f#2"));
    // Each holds what decides whether it runs: every condition of its statement.
    let refs = |name: &str| -> Vec<&str> {
        block(&model, name)
            .refs()
            .iter()
            .map(|name| name.as_str())
            .collect()
    };
    assert_eq!(refs("=LIMIT"), ["FAST", "sys.version_info"]);
    assert_eq!(refs("def:dumps"), ["ImportError"]);
    // The call in a branch is a statement of its own (a bare call), and what decides whether
    // it runs is part of it.
    let mut call = refs("call:register");
    call.sort_unstable();
    assert_eq!(call, ["FAST", "f", "register", "sys.version_info"]);
    assert_eq!(callees(&model, "call:register"), ["register"]);
    let uses = import_uses(&model);
    assert!(!uses.contains("ImportError"), "{uses:?}");
    let mut binders: Vec<&str> = model
        .binders(Name::intern("error"))
        .map(|index| model.blocks[index].name.as_str())
        .collect();
    binders.sort_unstable();
    assert_eq!(binders, ["<module>"], "bound by the handler");
    let cases: &[(&str, &str, &[&str])] = &[
        ("return 2", "return 3", &["f#2"]),
        ("LIMIT = 1", "LIMIT = 2", &["=LIMIT"]),
        ("return repr(value)", "return str(value)", &["dumps"]),
        // The conditions, the handlers, what a call calls and where a statement stands:
        // module code
        // (the statement that moved keeps its text, and so its checksum).
        ("(3, 11)", "(3, 12)", &["<module>"]),
        ("except ImportError as", "except KeyError as", &["<module>"]),
        ("register(f)", "register(f, 1)", &["call:register"]),
        (
            "register(f)",
            "enroll(f)",
            &["<module>", "call:enroll", "call:register"],
        ),
        (
            "        return 1\n    LIMIT = 1\n",
            "        return 1\nLIMIT = 1\nif FAST:\n    pass\n",
            &["<module>"],
        ),
        (
            "    LIMIT = 1\nelif FAST:\n    pass\n",
            "elif FAST:\n    LIMIT = 1\n",
            &["<module>"],
        ),
    ];
    for (old, new, expected) in cases {
        assert_changed(&model, &parse(&edit(source, old, new)), expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax from Python 3.8 to 3.14
// ---------------------------------------------------------------------------------------------

#[test]
fn syntax_from_each_python_version_parses() {
    let cases: &[(&str, &str)] = &[
        // 3.8: walrus, positional-only parameters, f-string `=`.
        ("if (n := len(a)) > 10:\n    pass\n", "<module>"),
        ("def f(a, b, /, c, *, d):\n    return f'{a=}'\n", "f"),
        // 3.9: relaxed decorator grammar (PEP 614), dict union.
        (
            "@buttons[0].clicked.connect\ndef on_click(event):\n    return a | b\n",
            "on_click",
        ),
        // 3.10: match, parenthesized context managers.
        (
            r#"def f(p):
    match p:
        case Point(x=0, y=0) | [0, 0]:
            return 'origin'
        case {'k': str(v), **rest} if v:
            return v
        case _:
            return None
"#,
            "f",
        ),
        (
            r#"def f(a, b):
    with (
        open(a) as x,
        open(b) as y,
    ):
        return x, y
"#,
            "f",
        ),
        // 3.11: except*, star unpacking in subscripts and annotations.
        (
            r#"def f():
    try:
        g()
    except* (ValueError, TypeError) as eg:
        raise
"#,
            "f",
        ),
        ("def f(*args: *Ts) -> tuple[*Ts]:\n    return args\n", "f"),
        // 3.12: PEP 695 generics and type aliases, PEP 701 f-strings.
        ("def f[T](x: T) -> T:\n    return x\n", "f"),
        (
            "class Stack[T: (int, str), *Ts, **P]:\n    def push(self, item: T) -> None: ...\n",
            "Stack.push",
        ),
        (
            "type X = list[int]\ntype Pair[K, V] = dict[K, V]\n",
            "<module>",
        ),
        (
            "def f(d):\n    return f\"{d[\"k\"]} {f\"{d['x']:{'>'}{10}}\"}\"\n",
            "f",
        ),
        ("def f(xs):\n    return f\"{'\\n'.join(xs)}\"\n", "f"),
        (
            "def f(x):\n    return f\"{\n        x  # a comment inside a replacement field\n    }\"\n",
            "f",
        ),
        // 3.13: type parameter defaults.
        (
            "class A[T = int]:\n    def m[U = str](self) -> T | U: ...\n",
            "A.m",
        ),
        // 3.14: template strings, unparenthesized except.
        ("def f(name):\n    return t\"Hello {name!r:>10}\"\n", "f"),
        (
            "def f():\n    try:\n        g()\n    except KeyError, IndexError:\n        pass\n",
            "f",
        ),
        // async everything.
        (
            r#"async def f(urls):
    async with session() as s:
        async for chunk in s:
            await chunk
    return [x async for x in aiter(urls) if await x]
"#,
            "f",
        ),
    ];
    for (source, expected_block) in cases {
        let model = parse_bytes(source.as_bytes());
        assert_eq!(model.parse_error, None, "failed to parse:\n{source}");
        assert!(
            has_block(&model, expected_block),
            "{expected_block} missing for:\n{source}"
        );
    }
}

#[test]
fn pep_701_and_t_strings_count_in_checksums() {
    let source =
        "def f(d):\n    return f\"{d[\"k\"]}\"\n\ndef g(name):\n    return t\"hi {name}\"\n";
    let model = parse(source);
    let nested_key = parse(&edit(source, "d[\"k\"]", "d[\"j\"]"));
    assert_changed(&model, &nested_key, &["f"]);
    let t_to_f = parse(&edit(source, "t\"hi", "f\"hi"));
    assert_changed(&model, &t_to_f, &["g"]);
}

#[test]
fn python_3_14_except_without_parentheses_is_a_plain_function() {
    let source =
        "def f():\n    try:\n        g()\n    except KeyError, IndexError:\n        pass\n";
    let model = parse(source);
    assert_eq!(names(&model), ["<module>", "f", "def:f"]);
    let after = parse(&edit(
        source,
        "KeyError, IndexError",
        "(KeyError, IndexError)",
    ));
    assert_changed(&model, &after, &["f"]);
}

#[test]
fn generic_function_and_class_headers() {
    let source = r#"def first[T](xs: list[T]) -> T:
    return xs[0]

class Box[T = int]:
    def get(self) -> T: ...
"#;
    let model = parse(source);
    assert_eq!(
        names(&model),
        ["<module>", "first", "def:first", "Box.get", "class:Box"]
    );
    // Type parameters are part of the header, so of the `def:` / `class:` bindings.
    let after = parse(&edit(source, "def first[T]", "def first[T: int]"));
    assert_changed(&model, &after, &["def:first", "first"]);
    let after = parse(&edit(source, "Box[T = int]", "Box[T = str]"));
    assert_changed(&model, &after, &["class:Box"]);
}

// ---------------------------------------------------------------------------------------------
// Module-level statements
// ---------------------------------------------------------------------------------------------

#[test]
fn module_docstring_is_a_binding() {
    let model = parse(MODERN);
    let doc = block(&model, "=__doc__");
    assert_eq!(doc.kind, BlockKind::Binding);
    assert_eq!(doc.binds(), ["__doc__"]);
    assert_eq!((doc.start_line, doc.end_line), (1, 4));
    let after = parse(&edit(
        MODERN,
        "Orders and their totals.",
        "Orders and their sums.",
    ));
    assert_changed(&model, &after, &["=__doc__"]);

    // Only the first statement is the docstring.
    let late = parse("x = 1\n'not a docstring'\n");
    assert_eq!(names(&late), ["<module>", "=x"]);
    // A leading comment does not stop it from being the first statement.
    let commented = parse("# comment\n\n'''Doc.'''\n");
    assert_eq!(names(&commented), ["<module>", "=__doc__"]);
    assert_eq!(block(&commented, "=__doc__").start_line, 3);
}

#[test]
fn binding_blocks_bind_their_names() {
    let model = parse(MODERN);
    let binds = |name: &str| block(&model, name).binds().to_vec();
    assert_eq!(binds("import:os"), ["os"]);
    assert_eq!(binds("from:dataclass,field"), ["dataclass", "field"]);
    assert_eq!(binds("from:RATE,rounding"), ["RATE", "rounding"]);
    assert_eq!(binds("=TIMEOUT"), ["TIMEOUT"]);
    assert_eq!(binds("=RETRIES"), ["RETRIES"]);
    assert_eq!(binds("=SCALE,OFFSETS"), ["SCALE", "OFFSETS"]);
    assert_eq!(binds("class:Order"), ["Order"]);
    assert_eq!(binds("def:bump"), ["bump"]);
    for block in &model.blocks {
        match block.kind {
            BlockKind::Binding => {
                assert!(block.writes().is_empty(), "{}", block.name);
                assert!(!block.stateful(), "{}", block.name);
            }
            BlockKind::Function => assert!(block.binds().is_empty(), "{}", block.name),
            BlockKind::Module => {}
        }
    }

    let more = parse("import a.b.c, d as e\nx = y = 1\n(p, [q, *r]) = 1, (2, 3)\nz: int\nn += 1\n");
    assert_eq!(block(&more, "import:a,e").binds(), ["a", "e"]);
    assert_eq!(block(&more, "=x,y").binds(), ["x", "y"]);
    assert_eq!(block(&more, "=p,q,r").binds(), ["p", "q", "r"]);
    assert!(block(&more, "<annotation>").binds().is_empty());
    assert_eq!(block(&more, "=n").binds(), ["n"]);
}

#[test]
fn impure_statements_are_folded_into_module() {
    let source = "import os
from x import *
CONFIG = load()
d['k'] = 1
obj.attr = 2
print('hi')(0)
for i in range(3):
    pass
WAIT = (n := 3)

@app.route('/')
def view():
    pass

def f(x=make()):
    pass

class C(Base):
    pass

class D(metaclass=M):
    pass

@register
class E:
    pass

class F(Exception, Generic[T], typing.Protocol):
    pass
";
    let model = parse(source);
    // The `def` and `class` statements that call something keep blocks of their own: the
    // engine decides whether what they call may have effects it cannot follow.
    assert_eq!(
        names(&model),
        [
            "<module>",
            "import:os",
            "=CONFIG",
            "view",
            "def:view",
            "f",
            "def:f",
            "class:C",
            "class:D",
            "class:E",
            "class:F"
        ]
    );
    for line in [2, 4, 5, 6, 7, 8, 9, 10] {
        assert_eq!(model.block_at_line(line), 0, "line {line}");
    }
    let calling: Vec<(String, Vec<String>)> = model
        .calling
        .iter()
        .map(|(index, callees)| {
            let callees = callees.iter().map(ToString::to_string).collect();
            (model.blocks[*index as usize].name.to_string(), callees)
        })
        .collect();
    let expected = [
        ("=CONFIG", vec!["load"]),
        ("def:view", vec!["app.route"]),
        ("def:f", vec!["make"]),
        ("class:C", vec!["Base"]),
        ("class:D", vec!["M"]),
        ("class:E", vec!["register"]),
    ];
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(name, callees)| {
            (
                (*name).to_owned(),
                callees.iter().map(|c| (*c).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(calling, expected);
    assert_eq!(model.blocks[model.block_at_line(11)].name, "view");
    assert_eq!(model.blocks[model.block_at_line(29)].name, "class:F");
    let edits = [
        ("load()", "load(1)"),
        ("d['k']", "d['j']"),
        ("n := 3", "n := 4"),
        ("@app.route('/')", "@app.route('/x')"),
        ("make()", "make(1)"),
        ("C(Base)", "C(Base2)"),
        ("@register", "@register(1)"),
        ("from x import *", "from y import *"),
    ];
    for (old, new) in edits {
        let after = parse(&edit(source, old, new));
        let expected: &[&str] = match old {
            "@app.route('/')" => &["def:view", "view"],
            "make()" => &["def:f", "f"],
            "load()" => &["=CONFIG"],
            // Calling something else: the module's shape too (see `note_callees`).
            "C(Base)" => &["class:C", "<module>"],
            "@register" => &["class:E"],
            _ => &["<module>"],
        };
        assert_changed(&model, &after, expected);
    }
}

#[test]
fn an_import_under_type_checking_is_a_binding_of_its_own() {
    let model = parse(MODERN);
    assert_eq!(model.block_at_line(16), 0);
    assert_eq!(
        model.block_at_line(17),
        model_index(&model, "from:Iterator")
    );
    assert_eq!(block(&model, "from:Iterator").refs(), ["TYPE_CHECKING"]);
    assert!(
        model
            .imports
            .contains(&Import::new(0, "collections.abc", ["Iterator"]))
    );
    let after = parse(&edit(
        MODERN,
        "from collections.abc import Iterator\n",
        "from typing import Iterator\n",
    ));
    assert_changed(&model, &after, &["from:Iterator"]);
}

#[test]
fn type_aliases_are_folded_into_module() {
    let model = parse(MODERN);
    assert_eq!(model.block_at_line(26), 0);
    assert_eq!(model.block_at_line(27), 0);
    let after = parse(&edit(
        MODERN,
        "type Money = decimal.Decimal",
        "type Money = float",
    ));
    assert_changed(&model, &after, &["<module>"]);
}

#[test]
fn utf8_bom_is_accepted_and_ignored() {
    let plain = parse("import os\nX = 1\n\ndef f():\n    return X\n");
    let with_bom = parse("\u{feff}import os\nX = 1\n\ndef f():\n    return X\n");
    assert_eq!(changed(&plain, &with_bom), Vec::<String>::new());
    assert_eq!(layout(&plain), layout(&with_bom));
}

// ---------------------------------------------------------------------------------------------
// Checksums: what must not change them
// ---------------------------------------------------------------------------------------------

#[test]
fn comment_only_edits_keep_every_checksum() {
    let model = parse(MODERN);
    // A trailing comment on every line after the docstring, plus stand-alone comments at odd
    // indentation before every `def`, `class` and decorator.
    let commented = map_lines(MODERN, 5, |line| {
        let trimmed = line.trim_start();
        let prefix = if ["def ", "class ", "@", "async def "]
            .iter()
            .any(|p| trimmed.starts_with(p))
        {
            "  # a comment at odd indentation\n# and one at column 0\n"
        } else {
            ""
        };
        if trimmed.is_empty() {
            line.to_owned()
        } else {
            format!("{prefix}{line}  # trailing # comment")
        }
    });
    let commented = format!("# leading comment\n{commented}# trailing comment\n");
    let after = parse(&commented);
    assert_ne!(model.content_hash, after.content_hash);
    assert_eq!(checksums(&model), checksums(&after));
    assert_eq!(names(&model), names(&after));
}

#[test]
fn blank_lines_keep_every_checksum() {
    let model = parse(MODERN);
    // Double every line break after the module docstring.
    let spaced = map_lines(MODERN, 5, |line| format!("{line}\n"));
    let after = parse(&spaced);
    assert_eq!(checksums(&model), checksums(&after));
    assert_eq!(names(&model), names(&after));
}

#[test]
fn consistent_reindentation_keeps_every_checksum() {
    let model = parse(MODERN);
    for unit in ["  ", "        ", "\t"] {
        let after = parse(&map_lines(MODERN, 5, |line| reindent(line, unit)));
        assert_eq!(checksums(&model), checksums(&after), "indent unit {unit:?}");
        assert_eq!(layout(&model), layout(&after), "indent unit {unit:?}");
    }
}

#[test]
fn joining_and_splitting_lines_keeps_every_checksum() {
    let model = parse(MODERN);
    let mut source = edit(
        MODERN,
        "PATTERNS = {\n    \"sku\": r\"[A-Z]{3}-\\d+\",\n    \"ean\": r\"\\d{13}\",\n}",
        "PATTERNS = {\"sku\": r\"[A-Z]{3}-\\d+\", \"ean\": r\"\\d{13}\",}",
    );
    source = edit(
        &source,
        "def describe(self, /, verbose=False, *, sep=\" \") -> str:",
        "def describe(\n            self,\n            /,\n            verbose=False,\n            *,\n            sep=\" \"\n        ) -> str:",
    );
    source = edit(
        &source,
        "return sum(line.price * line.qty for line in self.lines) * SCALE",
        "return sum(\n            line.price\n            * line.qty\n            for line in self.lines\n        ) * SCALE",
    );
    source = edit(&source, "TIMEOUT = 30", "TIMEOUT = \\\n    30");
    source = edit(&source, "    RETRIES += 1\n", "    RETRIES  +=1\n");
    source = edit(
        &source,
        "SCALE, *OFFSETS = (1.5, 2, 3)",
        "SCALE, *OFFSETS = (\n    1.5,\n    2, 3)",
    );
    let after = parse(&source);
    assert_eq!(checksums(&model), checksums(&after));
    assert_eq!(names(&model), names(&after));
    let patterns = block(&after, "=PATTERNS");
    assert_eq!(patterns.start_line, patterns.end_line);
}

#[test]
fn inserting_comments_and_blank_lines_above_shifts_lines_only() {
    let model = parse(MODERN);
    let after = parse(&edit(
        MODERN,
        "\"\"\"\n\nfrom __future__",
        "\"\"\"\n\n# one\n\n# two\n\n\nfrom __future__",
    ));
    assert_eq!(checksums(&model), checksums(&after));
    for (old, new) in model.blocks.iter().zip(&after.blocks).skip(2) {
        assert_eq!(old.name, new.name);
        assert_eq!(new.start_line, old.start_line + 5, "{}", old.name);
        assert_eq!(new.end_line, old.end_line + 5, "{}", old.name);
    }
}

#[test]
fn inserting_code_above_keeps_names_and_checksums_of_existing_blocks() {
    let model = parse(MODERN);
    let after = parse(&edit(
        MODERN,
        "from ..shared import registry\n",
        "from ..shared import registry\nimport sys\nEXTRA = {'a': 1}\nsys.path.insert(0, '')\n",
    ));
    assert_changed(
        &model,
        &after,
        &["<module>", "import:sys", "=EXTRA", "call:sys.path.insert"],
    );
    assert_eq!(
        block(&after, "Order.total").start_line,
        block(&model, "Order.total").start_line + 3
    );
}

#[test]
fn moving_a_function_keeps_its_checksum() {
    // Every function here ends one level deep and follows one that does (see the ignored
    // `function_checksum_does_not_depend_on_what_precedes_it` for why that matters).
    let source = "def z():\n    pass\n\n\ndef a():\n    return 1\n\n\ndef b(x):\n    return x\n";
    let swapped = "def z():\n    pass\n\n\ndef b(x):\n    return x\n\n\ndef a():\n    return 1\n";
    let (model, after) = (parse(source), parse(swapped));
    // Only the statement order, which is the module's shape, changed.
    assert_changed(&model, &after, &["<module>"]);
    assert_eq!(block(&after, "a").start_line, 9);
}

#[test]
fn line_endings_do_not_matter_for_code() {
    let source =
        "import os\n\nX = (1,\n     2)\n\nclass C:\n    def m(self):\n        return X  # c\n";
    let model = parse(source);
    let crlf = parse(&source.replace('\n', "\r\n"));
    assert_eq!(checksums(&model), checksums(&crlf));
    assert_eq!(layout(&model), layout(&crlf));
}

#[test]
fn empty_and_comment_only_files_are_a_bare_module() {
    for source in [
        "",
        "\n\n",
        "# only a comment\n",
        "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n",
    ] {
        let model = parse(source);
        assert_eq!(names(&model), ["<module>"]);
        assert!(model.imports.is_empty());
        assert!(model.import_uses.is_empty());
    }
    // Comments do not even change the (empty) module shape.
    assert_eq!(
        parse("").blocks[0].checksum,
        parse("# x\n").blocks[0].checksum
    );
}

// ---------------------------------------------------------------------------------------------
// Checksums: what must change them, and nothing else
// ---------------------------------------------------------------------------------------------

#[test]
fn editing_a_function_body_changes_only_that_function() {
    let model = parse(MODERN);
    let cases = [
        (
            "return prefix, int(number)",
            "return prefix, int(number, 10)",
            "parse_sku",
        ),
        (") * SCALE", ") * SCALE * 2", "Order.total"),
        (
            "self._override = value",
            "self._override = float(value)",
            "Order.total#2",
        ),
        (
            "return t\"line {self!r}\"",
            "return t\"line {self!s}\"",
            "Order.Line.Meta.label",
        ),
        (
            "cls._registry[name] = plugin",
            "cls._registry[name.lower()] = plugin",
            "Pluggable.register",
        ),
        ("return None", "return False", "dispatch"),
        (
            "await handle(chunk)",
            "await handle(chunk, order_id)",
            "fetch",
        ),
        ("log(group)", "log(group, level=2)", "risky"),
        ("return head(items)", "return head(list(items))", "first"),
        ("RETRIES += 1", "RETRIES += 2", "bump"),
    ];
    for (old, new, function) in cases {
        let after = parse(&edit(MODERN, old, new));
        assert_changed(&model, &after, &[function]);
    }
}

#[test]
fn editing_a_docstring_changes_its_block() {
    let model = parse(MODERN);
    let after = parse(&edit(
        MODERN,
        "Sum of the line totals.",
        "Sum of all line totals.",
    ));
    assert_changed(&model, &after, &["Order.total"]);
    let after = parse(&edit(MODERN, "A customer order.", "An order."));
    assert_changed(&model, &after, &["class:Order"]);
    // The quotes are part of the literal.
    let after = parse(&edit(
        MODERN,
        "\"\"\"A customer order.\"\"\"",
        "'''A customer order.'''",
    ));
    assert_changed(&model, &after, &["class:Order"]);
}

#[test]
fn editing_a_constant_changes_only_its_binding() {
    let model = parse(MODERN);
    let cases = [
        ("TIMEOUT = 30", "TIMEOUT = 60", "=TIMEOUT"),
        ("RETRIES: int = 3", "RETRIES: int = 4", "=RETRIES"),
        ("RETRIES: int = 3", "RETRIES: float = 3", "=RETRIES"),
        ("r\"\\d{13}\"", "r\"\\d{8}\"", "=PATTERNS"),
        ("(1.5, 2, 3)", "(1.5, 2, 4)", "=SCALE,OFFSETS"),
        ("currency = \"EUR\"", "currency = \"USD\"", "class:Order"),
        (
            "DEFAULT_RATE as RATE",
            "BASE_RATE as RATE",
            "from:RATE,rounding",
        ),
    ];
    for (old, new, binding) in cases {
        let after = parse(&edit(MODERN, old, new));
        assert_changed(&model, &after, &[binding]);
    }
}

#[test]
fn editing_a_statement_with_effects_changes_only_its_block() {
    let model = parse(MODERN);
    // `CONFIG = os.environ.get(…)`: a calling statement (the engine decides who depends on it).
    let after = parse(&edit(MODERN, "\"orders.toml\"", "\"orders.yaml\""));
    assert_changed(&model, &after, &["=CONFIG"]);
    let after = parse(&edit(
        MODERN,
        "_registry: dict[str, type] = {}",
        "_registry: dict[str, type] = {'x': int}",
    ));
    assert_changed(&model, &after, &["class:Pluggable"]);
}

#[test]
fn editing_a_decorator_changes_the_function() {
    let model = parse(MODERN);
    // Impure decorators also run at import time: the module changes too.
    let after = parse(&edit(
        MODERN,
        "@app.route(\"/orders/",
        "@app.route(\"/v2/orders/",
    ));
    assert_changed(&model, &after, &["def:fetch", "fetch"]);
    let after = parse(&edit(
        MODERN,
        "lru_cache(maxsize=None)",
        "lru_cache(maxsize=128)",
    ));
    assert_changed(&model, &after, &["def:parse_sku", "parse_sku"]);
    // A method's decorator that makes only the method is the method's alone (see
    // `acts_on_itself`); one that makes the class abstract is part of its class statement.
    let after = parse(&edit(
        MODERN,
        "    @property\n",
        "    @functools.cached_property\n",
    ));
    assert_changed(&model, &after, &["Order.total"]);
    let after = parse(&edit(
        MODERN,
        "    @property\n",
        "    @abc.abstractmethod\n",
    ));
    assert_changed(&model, &after, &["Order.total", "class:Order"]);
    // Where the method was stands in its class statement: as its name.
    let after = parse(&edit(
        MODERN,
        "    @property\n    def total",
        "    @property\n    def sum",
    ));
    assert_changed(
        &model,
        &after,
        &["Order.total", "Order.total#2", "Order.sum", "class:Order"],
    );

    // Pure decorators: the function and its `def:` binding change, the module does not.
    let source = "from typing import final, overload\n\n@final\ndef f():\n    return 1\n";
    let before = parse(source);
    let after = parse(&edit(source, "@final", "@overload"));
    assert_changed(&before, &after, &["def:f", "f"]);
}

#[test]
fn editing_a_signature_changes_the_def_binding() {
    let model = parse(MODERN);
    let after = parse(&edit(
        MODERN,
        "def dispatch(command):",
        "def dispatch(command, strict=False):",
    ));
    assert_changed(&model, &after, &["def:dispatch", "dispatch"]);
    // A method's signature is the method's, when its decorators make only the method; a
    // default that calls something is part of its class statement.
    let after = parse(&edit(
        MODERN,
        "def label(self) -> str:",
        "def label(self) -> object:",
    ));
    assert_changed(&model, &after, &["Order.Line.Meta.label"]);
    let after = parse(&edit(
        MODERN,
        "def label(self) -> str:",
        "def label(self, when=now()) -> str:",
    ));
    assert_changed(&model, &after, &["Order.Line.Meta.label", "class:Order"]);
}

#[test]
fn adding_a_function_changes_module() {
    let model = parse(MODERN);
    let after = parse(&edit(
        MODERN,
        "    RETRIES += 1\n",
        "    RETRIES += 1\n\n\ndef extra(x):\n    return x\n",
    ));
    assert_changed(&model, &after, &["<module>", "def:extra", "extra"]);
    assert_eq!(block(&after, "extra").kind, BlockKind::Function);

    let after = parse(&format!("{MODERN}\n\ndef last():\n    pass\n"));
    assert_changed(&model, &after, &["<module>", "def:last", "last"]);

    // A new method changes its class statement, not the module.
    let after = parse(&edit(
        MODERN,
        "    class Line:\n",
        "    def extra(self):\n        return 1\n\n    class Line:\n",
    ));
    assert_changed(&model, &after, &["Order.extra", "class:Order"]);
}

#[test]
fn checksums_distinguish_blocks_with_different_text() {
    let model = parse(MODERN);
    let distinct: BTreeSet<i64> = model.blocks.iter().map(|block| block.checksum).collect();
    assert_eq!(distinct.len(), model.blocks.len());
}

// ---------------------------------------------------------------------------------------------
// block_at_line
// ---------------------------------------------------------------------------------------------

#[test]
fn block_at_line_maps_lines_to_their_owner() {
    let model = parse(MODERN);
    let owner = |line: u32| model.blocks[model.block_at_line(line)].name.as_str();
    assert_eq!(owner(42), "Order.total");
    assert_eq!(owner(39), "Order.total", "decorator line");
    assert_eq!(owner(41), "Order.total", "docstring line");
    assert_eq!(owner(46), "Order.total#2");
    assert_eq!(owner(50), "Order.Line.describe");
    assert_eq!(owner(54), "Order.Line.Meta.label");
    assert_eq!(owner(62), "Pluggable.register");
    assert_eq!(owner(67), "Box.get");
    assert_eq!(owner(85), "fetch");
    assert_eq!(owner(94), "dispatch");
    assert_eq!(owner(113), "first");
    // Pure assignments and class bodies.
    assert_eq!(owner(19), "=TIMEOUT");
    assert_eq!(owner(23), "=PATTERNS");
    assert_eq!(owner(25), "=PATTERNS");
    assert_eq!(owner(36), "class:Order");
    assert_eq!(owner(47), "class:Order", "blank line between methods");
    assert_eq!(owner(2), "=__doc__");
    assert_eq!(owner(58), "class:Pluggable");
    // An assignment of what a call returns: a statement of its own (see `calling`).
    assert_eq!(owner(29), "=CONFIG");
    // Everything else at module level.
    for line in [0, 5, 15, 16, 26, 30, 1000, u32::MAX] {
        assert_eq!(model.block_at_line(line), 0, "line {line}");
    }
    assert_eq!(model.block_at_line(42), model_index(&model, "Order.total"));
}

#[test]
fn block_at_line_of_an_unparsable_file_is_module() {
    let model = parse_bytes(b"def f(:\n    pass\n");
    for line in [0, 1, 2, 3, u32::MAX] {
        assert_eq!(model.block_at_line(line), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// uses, imports, import_uses
// ---------------------------------------------------------------------------------------------

#[test]
fn function_refs_are_its_globals_chains_and_attributes() {
    let model = parse(MODERN);
    let refs = |name: &str| -> Vec<String> {
        let block = block(&model, name);
        block.refs().iter().map(ToString::to_string).collect()
    };
    for expected in [
        "SCALE",
        "sum",
        ".price",
        ".qty",
        "self.lines",
        "property",
        "float",
    ] {
        assert!(
            refs("Order.total").contains(&expected.to_owned()),
            "{expected} in {:?}",
            refs("Order.total")
        );
    }
    for expected in ["PATTERNS", "cancel", "sorted"] {
        assert!(
            refs("dispatch").contains(&expected.to_owned()),
            "{expected}"
        );
    }
    // The decorator's chain on a global; the methods of parameters and locals.
    for expected in ["app.route", "handle", ".get", ".content", ".json"] {
        assert!(refs("fetch").contains(&expected.to_owned()), "{expected}");
    }
    for expected in ["WIDTH", "self.sku", "self.meta"] {
        assert!(
            refs("Order.Line.describe").contains(&expected.to_owned()),
            "{expected}"
        );
    }
    // A name imported inside the function refers to that module's binding.
    assert!(refs("first").contains(&"^.util:head".to_owned()));
    assert!(!refs("first").contains(&"PATTERNS".to_owned()));
    // Parameters and locals are no references; strings are not names.
    for not_there in [
        "order_id", "session", "item", "items", "response", "cancel\"",
    ] {
        assert!(
            !refs("fetch").contains(&not_there.to_owned()),
            "{not_there}"
        );
        assert!(
            !refs("first").contains(&not_there.to_owned()),
            "{not_there}"
        );
    }
    assert!(!refs("dispatch").contains(&"action".to_owned()));
    // Sorted and without repeats: those of the code that can reach what a writer stores
    // first, then the others.
    for block in &model.blocks {
        let stored = block.stored_refs().len();
        for part in [&block.refs()[..stored], &block.refs()[stored..]] {
            let texts: Vec<&str> = part.iter().map(|name| name.as_str()).collect();
            let mut sorted = texts.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, texts, "{}", block.name);
        }
    }
}

#[test]
fn imports_are_collected_at_any_depth() {
    let model = parse(MODERN);
    let import = |level: u32, module: &str, names: &[&str]| {
        Import::new(level, module, names.iter().copied())
    };
    assert_eq!(
        model.imports,
        [
            import(0, "__future__", &["annotations"]),
            import(0, "functools", &[]),
            import(0, "os.path", &[]),
            import(0, "dataclasses", &["dataclass", "field"]),
            import(0, "typing", &["TYPE_CHECKING", "Protocol"]),
            import(1, "pricing", &["DEFAULT_RATE", "rounding"]),
            import(2, "shared", &["registry"]),
            import(0, "collections.abc", &["Iterator"]),
            import(1, "util", &["head"]),
            import(0, "json", &[]),
        ]
    );

    let nested = parse(
        r#"def f():
    import a.b, c as d
    class K:
        def m(self):
            from . import x
            from ... import y as z
    try:
        from .e.f import (g,
            h)
    except ImportError:
        from star import *
    with ctx():
        for _ in []:
            while True:
                if x:
                    match y:
                        case 1:
                            import deep
"#,
    );
    assert_eq!(
        nested.imports,
        [
            import(0, "a.b", &[]),
            import(0, "c", &[]),
            import(1, "", &["x"]),
            import(3, "", &["y"]),
            import(1, "e.f", &["g", "h"]),
            import(0, "star", &["*"]),
            import(0, "deep", &[]),
        ]
    );
}

#[test]
fn import_uses_holds_what_module_code_with_effects_refers_to() {
    let model = parse(MODERN);
    // Sorted, each once: the slice stands in for a set.
    assert!(model.import_uses.windows(2).all(|pair| pair[0] < pair[1]));
    let uses = import_uses(&model);
    // An `if` block's test without effects decides what its statements bind: their blocks
    // hold it (see `branches`), module code does not.
    assert!(!uses.contains("TYPE_CHECKING"), "{uses:?}");
    // Decorators that may register, bases and metaclasses, calls whose result is assigned:
    // their statements have blocks, which hold them (see `calling`).
    for name in [
        "app.route",
        "Base",
        "Meta",
        "functools.lru_cache",
        "os.environ.get",
    ] {
        assert!(!uses.contains(name), "{name} in {uses:?}");
    }
    // An import forwards names: it is no use of them. Pure bindings keep their references in
    // their own blocks; function bodies in theirs.
    for name in [
        "DEFAULT_RATE",
        "rounding",
        "registry",
        "dataclass",
        "field",
        "TIMEOUT",
        "RETRIES",
        "SCALE",
        "OFFSETS",
        "PATTERNS",
        "RATE",
        "Order",
        "Box",
        "bump",
        "dispatch",
        "sum",
        "process",
        "cancel",
        "sorted",
        "handle",
        "WIDTH",
    ] {
        assert!(!uses.contains(name), "{name} should not be there");
    }

    let small = parse(
        "from m import NAME\nOTHER = 1\nX = OTHER + 1\nY = make(OTHER)\nfor n in NAME:\n    print(n)\nimport pkg.mod\n",
    );
    assert!(
        import_uses(&small).contains("print") && import_uses(&small).contains("NAME"),
        "an impure statement's call and what it reads"
    );
    assert!(
        !import_uses(&small).contains("make"),
        "a calling statement's"
    );
    assert_eq!(
        block(&small, "=Y").refs(),
        ["OTHER", "make"],
        "read by Y's calling statement"
    );
    assert_eq!(
        block(&small, "=X").refs(),
        ["OTHER"],
        "read by X's pure value"
    );
    assert_eq!(block(&small, "=X").binds(), ["X"]);
}

#[test]
fn the_namespace_records_every_top_level_binding() {
    let source = "import a.b.c, d as e
from .m import x, y as z
from ..star import *
TIMEOUT = 1
CONFIG = load()
def f():
    pass
@app.route('/')
def g():
    pass
try:
    import json
except ImportError:
    json = None
class K(Base):
    class Inner:
        pass
";
    let model = parse(source);
    let binders = |name: &str| -> Vec<String> {
        model
            .binders(Name::intern(name))
            .map(|index| model.blocks[index].name.to_string())
            .collect()
    };
    assert_eq!(binders("a"), ["import:a,e"]);
    assert_eq!(binders("z"), ["from:x,z"]);
    assert_eq!(binders("TIMEOUT"), ["=TIMEOUT"]);
    assert_eq!(
        binders("CONFIG"),
        ["=CONFIG"],
        "bound by a calling statement"
    );
    assert_eq!(binders("f"), ["def:f"]);
    assert_eq!(
        binders("g"),
        ["def:g"],
        "a decorator call: the engine decides"
    );
    assert_eq!(binders("json"), ["import:json", "=json"]);
    assert_eq!(binders("K"), ["class:K"]);
    assert!(binders("nope").is_empty());
    let imports: Vec<(String, String, Option<String>)> = model
        .import_bindings
        .iter()
        .map(|i| {
            (
                i.bound.to_string(),
                i.module.to_string(),
                i.attr.map(|a| a.to_string()),
            )
        })
        .collect();
    assert!(imports.contains(&("a".into(), "a".into(), None)));
    assert!(imports.contains(&("e".into(), "d".into(), None)));
    assert!(imports.contains(&("z".into(), ".m".into(), Some("y".into()))));
    assert!(imports.contains(&("json".into(), "json".into(), None)));
    assert_eq!(
        model
            .star_imports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["..star"]
    );
    assert_eq!(*model.star_import_lines, [3]);
    let classes: Vec<(String, u32, Vec<String>)> = model
        .classes
        .iter()
        .map(|c| {
            (
                c.qualname.to_string(),
                c.block,
                c.bases.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        classes,
        [
            ("K".into(), 11, vec!["Base".into()]),
            ("K.Inner".into(), 11, vec![])
        ]
    );
    let pure = parse("class P:\n    class Q:\n        pass\n");
    assert!(
        pure.classes
            .iter()
            .all(|c| pure.blocks[c.block as usize].name == "class:P")
    );
}

// ---------------------------------------------------------------------------------------------
// stateful
// ---------------------------------------------------------------------------------------------

#[test]
fn stateful_functions_in_the_fixture() {
    let model = parse(MODERN);
    // The property's setter writes its object's attribute outside a constructor.
    for name in ["parse_sku", "bump", "Pluggable.register", "Order.total#2"] {
        assert!(block(&model, name).stateful(), "{name} should be stateful");
    }
    for name in [
        "Order.total",
        "Order.Line.describe",
        "Box.get",
        "fetch",
        "dispatch",
        "risky",
        "first",
    ] {
        assert!(
            !block(&model, name).stateful(),
            "{name} should not be stateful"
        );
    }
}

#[test]
fn stateful_heuristics() {
    let model = parse(
        r#"import functools, os

_cache = {}
_seen = []

def writes_global_dict(key, value):
    _cache[key] = value

def appends_to_global(item):
    _seen.append(item)

def appends_to_local(items):
    out = []
    out.append(items)
    for x in items:
        out.extend(x)
    return out

def sets_own_attribute(self, value):
    self.value = value
    self.items.append(value)

def sets_environment():
    os.environ["MODE"] = "test"

def deletes_from_global(key):
    del _cache[key]

def declares_global():
    global _seen
    _seen = []

def uses_nonlocal():
    count = 0
    def inc():
        nonlocal count
        count += 1
    return inc

@functools.cache
def cached():
    return 1

@lru_cache(maxsize=32)
def lru():
    return 2

@memoize(ttl=3)
def memoized():
    return 3

@keeps(cache_size=3)
def keyword_caches():
    return 4

@pytest.mark.parametrize("mode", ["no-cache", "memo"])
def test_modes(mode):
    return mode

def reads_only(key):
    return _cache.get(key, _seen[0])

class Registry:
    instances = []

    @classmethod
    def add(cls, name, value):
        cls._registry[name] = value

    @classmethod
    def track(cls, obj):
        cls.instances.append(obj)

    def plain(self):
        return len(self.instances)
"#,
    );
    let stateful = [
        "writes_global_dict",
        "appends_to_global",
        "sets_environment",
        "deletes_from_global",
        "declares_global",
        "uses_nonlocal",
        "cached",
        "lru",
        "memoized",
        "keyword_caches",
        "Registry.add",
        "Registry.track",
    ];
    let stateless = [
        "appends_to_local",
        "sets_own_attribute",
        "reads_only",
        // Words in a decorator's strings are no cache.
        "test_modes",
        "Registry.plain",
    ];
    for name in stateful {
        assert!(block(&model, name).stateful(), "{name} should be stateful");
    }
    for name in stateless {
        assert!(
            !block(&model, name).stateful(),
            "{name} should not be stateful"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Unparsable input
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_opaque(bytes: &[u8]) -> FileModel {
    let model = parse_bytes(bytes);
    assert!(
        model.parse_error.is_some(),
        "expected a parse error for {:?}",
        String::from_utf8_lossy(bytes)
    );
    assert_eq!(model.blocks.len(), 1);
    assert_eq!(model.blocks[0].name, MODULE_BLOCK);
    assert_eq!(model.blocks[0].kind, BlockKind::Module);
    assert_eq!(model.blocks[0].checksum, hash_bytes(bytes));
    assert_eq!(model.content_hash, hash_bytes(bytes));
    assert!(model.imports.is_empty());
    assert!(model.import_uses.is_empty());
    model
}

#[test]
fn syntax_errors_yield_a_single_opaque_block() {
    let model = assert_opaque(b"import os\n\ndef f(:\n    pass\n");
    let error = model.parse_error.unwrap();
    assert!(error.starts_with("syntax error on line 3"), "{error}");

    assert_opaque(b"def f():\nreturn 1\n"); // missing indentation
    assert_opaque(b"x = (1,\n"); // unclosed bracket
    assert_opaque(b"s = 'unterminated\n");
    assert_opaque(b"class C:\n    def m(self):\n        return 1\n      x = 2\n"); // bad dedent
}

#[test]
fn python_2_source_is_unparsable() {
    let model = assert_opaque(b"import sys\n\nprint \"hello\"\n");
    assert!(model.parse_error.unwrap().contains("line 3"));
    assert_opaque(b"exec \"x = 1\"\n");
    assert_opaque(b"x = `1`\n");
    assert_opaque(b"n = 0777\n");
    assert_opaque(b"def f((a, b)):\n    pass\n");
}

#[test]
fn invalid_utf8_is_unparsable() {
    let model = assert_opaque(b"x = '\xff\xfe'\n");
    assert_eq!(model.parse_error.as_deref(), Some("not valid UTF-8"));
    assert_opaque(b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n");
}

#[test]
fn any_edit_of_an_unparsable_file_changes_its_checksum() {
    let before = assert_opaque(b"print 'x'\n");
    let after = assert_opaque(b"print 'x'  # comment\n");
    assert_ne!(before.blocks[0].checksum, after.blocks[0].checksum);
}

#[test]
fn truncated_and_garbled_sources_never_panic() {
    let bytes = MODERN.as_bytes();
    for end in (0..bytes.len()).step_by(7) {
        let model = parse_bytes(&bytes[..end]);
        assert_eq!(model.blocks[0].name, MODULE_BLOCK);
        assert_eq!(model.content_hash, hash_bytes(&bytes[..end]));
    }
    // Deterministic pseudo-random byte soup drawn from Python's punctuation.
    let alphabet = b"()[]{}:;,.=+-*/@'\"\\#\n\t  ifdefclassreturnlambdaasyncawait\r\x00\x0cfrt";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300 {
        let mut soup = Vec::new();
        for _ in 0..200 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let index = state % u64::try_from(alphabet.len()).unwrap();
            soup.push(alphabet[usize::try_from(index).unwrap()]);
        }
        let model = parse_bytes(&soup);
        assert_eq!(model.blocks[0].name, MODULE_BLOCK);
    }
}

// ---------------------------------------------------------------------------------------------
// Deep nesting, on the engine's big-stack parser thread
// ---------------------------------------------------------------------------------------------

fn parse_big(source: String) -> FileModel {
    crate::engine::parse_on_big_stack(source.into_bytes())
}

#[test]
fn deeply_nested_parentheses_do_not_overflow() {
    let depth = 10_000;
    let model = parse_big(format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth)));
    assert_eq!(model.parse_error, None);
    assert_eq!(names(&model), ["<module>", "=x"]);
}

#[test]
fn deeply_nested_expressions_do_not_overflow() {
    let depth = 10_000;
    let model = parse_big(format!(
        "X = {}{}\nY = {}0{}\nZ = {}1\n\ndef f(a={}{}):\n    cache.append({}a{})\n    return {}a\n",
        "[".repeat(depth),
        "]".repeat(depth),
        "f(".repeat(depth),
        ")".repeat(depth),
        "-".repeat(depth),
        "[".repeat(depth),
        "]".repeat(depth),
        "g(".repeat(depth),
        ")".repeat(depth),
        "not ".repeat(depth),
    ));
    // Whatever the outcome, it is a model; for this input the parser copes.
    assert_eq!(model.parse_error, None);
    assert_eq!(names(&model), ["<module>", "=X", "=Y", "=Z", "f", "def:f"]);
    assert!(block(&model, "f").stateful());
}

#[test]
fn deeply_nested_blocks_do_not_overflow() {
    let depth = 500;
    let mut source = String::from("def g(x):\n");
    for level in 1..=depth {
        source.push_str(&format!("{}if x{level}:\n", "    ".repeat(level)));
    }
    source.push_str(&format!("{}import deep\n", "    ".repeat(depth + 1)));
    source.push_str("\nclass C:\n");
    for level in 1..=depth {
        source.push_str(&format!("{}class C{level}:\n", "    ".repeat(level)));
    }
    source.push_str(&format!(
        "{}def m(self):\n{}pass\n",
        "    ".repeat(depth + 1),
        "    ".repeat(depth + 2)
    ));
    let model = parse_big(source);
    assert_eq!(model.parse_error, None);
    assert_eq!(
        block(&model, "g").end_line,
        u32::try_from(depth).unwrap() + 2
    );
    assert_eq!(model.imports.len(), 1);
    let method = (1..=depth)
        .map(|level| format!("C{level}."))
        .collect::<String>();
    assert!(has_block(&model, &format!("C.{method}m")));
}

#[test]
fn deeply_nested_unparsable_input_does_not_overflow() {
    let model = parse_big(format!("x = {}\n", "(".repeat(100_000)));
    assert!(model.parse_error.is_some());
    assert_eq!(model.blocks.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Behaviour that looks wrong (ignored until parse.rs is fixed)
// ---------------------------------------------------------------------------------------------

/// The lexer emits the `Dedent` tokens that close the previous block as empty tokens *at the
/// start* of the next statement, and `hash_tokens` includes tokens that start at the range start.
/// So a block's checksum counts how deeply the code before it was nested.
#[test]
fn editing_a_method_does_not_change_the_next_method() {
    let source =
        "class C:\n    def m(self):\n        return 1\n\n    def n(self):\n        return 2\n";
    let model = parse(source);
    let after = parse(&edit(
        source,
        "        return 1\n",
        "        if self:\n            return 1\n",
    ));
    // Actual: ["C.m", "C.n", "class:C"].
    assert_changed(&model, &after, &["C.m"]);
}

#[test]
fn editing_a_function_body_does_not_change_module_or_next_binding() {
    let source = "def f(x):\n    return x\n\nLIMIT = 3\n\ndef g():\n    pass\n\nprint('loaded')\n";
    let model = parse(source);
    let after = parse(&edit(
        source,
        "    return x\n",
        "    for y in x:\n        return y\n",
    ));
    // Actual: ["=LIMIT", "f"]; `LIMIT` keeps its depth-0 dedents.
    assert_changed(&model, &after, &["f"]);
    let after = parse(&edit(source, "    pass\n", "    if True:\n        pass\n"));
    // Actual: ["<module>", "g"]: every test importing the file would be reselected.
    assert_changed(&model, &after, &["g"]);
}

#[test]
fn function_checksum_does_not_depend_on_what_precedes_it() {
    let alone = parse("def f():\n    return 1\n");
    let after_import = parse("import os\n\ndef f():\n    return 1\n");
    let after_function = parse("def e():\n    return 0\n\ndef f():\n    return 1\n");
    assert_eq!(
        block(&alone, "f").checksum,
        block(&after_import, "f").checksum
    );
    // Fails: one Dedent before `def f` here.
    assert_eq!(
        block(&alone, "f").checksum,
        block(&after_function, "f").checksum
    );
    // Swapping two functions changes both.
    let ab = parse("def a():\n    return 1\n\ndef b():\n    return 2\n");
    let ba = parse("def b():\n    return 2\n\ndef a():\n    return 1\n");
    assert_changed(&ab, &ba, &["<module>"]);
    // Moving `fetch` below `dispatch` (which ends three levels deep) changes `fetch`, and `risky`
    // (now after `fetch` instead of `dispatch`) changes too.
    let model = parse(MODERN);
    let fetch = &MODERN[MODERN.find("@app.route").unwrap()..MODERN.find("def dispatch").unwrap()];
    let moved = edit(
        &MODERN.replacen(fetch, "", 1),
        "def risky",
        &format!("{fetch}def risky"),
    );
    let moved = parse(&moved);
    assert_eq!(
        block(&model, "fetch").checksum,
        block(&moved, "fetch").checksum
    );
    assert_eq!(
        block(&model, "risky").checksum,
        block(&moved, "risky").checksum
    );
}

/// Function block names and statement keys (`stmt`, `annotation`) share one counter.
#[test]
fn function_named_like_a_statement_key_keeps_its_name() {
    let model = parse("print('x')\n\ndef stmt():\n    return 1\n");
    // Actual: ["<module>", "stmt#2", "def:stmt"].
    assert!(has_block(&model, "stmt"), "{:?}", names(&model));
    let model = parse("x: int\n\ndef annotation():\n    return 1\n");
    assert!(has_block(&model, "annotation"), "{:?}", names(&model));
}

/// Python reads source in universal-newline mode, so a CRLF checkout has the same string values,
/// but checksums hash the raw token text of multi-line strings.
#[test]
fn line_endings_do_not_matter_for_docstrings() {
    let source = "def f():\n    \"\"\"Doc.\n\n    More.\n    \"\"\"\n    return 1\n";
    let model = parse(source);
    let crlf = parse(&source.replace('\n', "\r\n"));
    assert_eq!(checksums(&model), checksums(&crlf));
}

/// Only the decorators and bases of a class are checked for effects; its body runs at import
/// time too, so calls there can register handlers, mutate other modules, etc.
#[test]
fn class_body_side_effects_fold_into_module() {
    let source = r#"class Handlers:
    signals.connect('saved', on_saved)

    def on_saved(self):
        pass
"#;
    let model = parse(source);
    // Actual: a `class:Handlers` Binding, so only tests that mention `Handlers` depend on it.
    assert!(!has_block(&model, "class:Handlers"), "{:?}", names(&model));
    let after = parse(&edit(source, "'saved'", "'deleted'"));
    assert_changed(&model, &after, &["<module>"]);
}

#[test]
fn type_variables_and_sentinels_are_bindings_other_calls_calling_statements() {
    let source = r#"import typing as t
from collections import namedtuple

V = t.TypeVar("V", bound=int)
Pair = namedtuple("Pair", "left right")
MISSING = object()
CONFIG = load_config()
W = t.TypeVar("W", bound=make_bound())
"#;
    let model = parse(source);
    for name in ["=V", "=Pair", "=MISSING"] {
        assert!(has_block(&model, name), "{name}: {:?}", names(&model));
        assert!(callees(&model, name).is_empty(), "{name}");
    }
    // A call of anything else, or in the arguments, may have effects: a calling statement.
    assert_eq!(callees(&model, "=CONFIG"), ["load_config"]);
    assert_eq!(callees(&model, "=W"), ["make_bound", "t.TypeVar"]);
    let after = parse(&edit(source, "\"V\"", "\"V_\""));
    assert_changed(&model, &after, &["=V"]);
}

#[test]
fn statement_at_line_is_the_top_level_statement_a_line_runs_in() {
    let model = parse(
        "import os\n\n\n@register('x')\ndef f(a=make()):\n    return a\n\n\nclass C(Base):\n    @hook\n    def m(self):\n        pass\n\n\nX = build(\n    1,\n)\nprint(X)\nfor x in X:\n    pass\n",
    );
    let at = |line: u32| model.blocks[model.statement_at_line(line)].name.as_str();
    assert_eq!(at(1), "import:os");
    // The decorator's line and the `def` line: where the module's frame is while a decorator
    // or a default runs. A function's own block does not count: it is no statement.
    assert_eq!(at(4), "def:f");
    assert_eq!(at(5), "def:f");
    assert_eq!(at(9), "class:C");
    assert_eq!(at(10), "class:C");
    assert_eq!(at(15), "=X");
    assert_eq!(at(16), "=X");
    assert_eq!(at(18), "call:print");
    // Module code, and lines between statements.
    assert_eq!(at(20), "<module>");
    assert_eq!(at(2), "<module>");
}

#[test]
fn postponed_annotations_are_references_of_the_function_only() {
    let source = "from __future__ import annotations\n\n\nclass W:\n    size: Size = 1\n\n    def m(self, item: Item = DEFAULT) -> Result:\n        return item\n\n\ndef f(x: Arg) -> Out:\n    return x\n";
    let model = parse(source);
    let refs = |name: &str| -> Vec<String> {
        block(&model, name)
            .refs()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    // A class-level annotation stays (a dataclass or pydantic reads it); a default is run.
    assert_eq!(refs("class:W"), ["DEFAULT", "Size"]);
    assert!(refs("def:f").is_empty(), "{:?}", refs("def:f"));
    for name in ["Item", "Result"] {
        assert!(refs("W.m").contains(&name.to_owned()), "{name}");
    }
    assert!(refs("f").contains(&"Arg".to_owned()));
    // Without the future import, the `def` statement evaluates them.
    let eager = parse(&source.replace("from __future__ import annotations\n", ""));
    let eager_refs: Vec<String> = block(&eager, "class:W")
        .refs()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(eager_refs.contains(&"Item".to_owned()), "{eager_refs:?}");
}

#[test]
fn a_namespace_update_binds_any_name_through_what_it_calls() {
    let model = parse(
        "import operator\nfrom pkg.wrap import Wrapped\n\nSKIP = {1}\nglobals().update({n: Wrapped(f) for n, f in vars(operator).items() if callable(f) and n not in SKIP})\nlocals().update(make())\nglobals().update(f()())\n",
    );
    let namespace = Name::intern(block_name::NAMESPACE);
    let binders: Vec<&str> = model
        .binders(namespace)
        .map(|index| model.blocks[index].name.as_str())
        .collect();
    // The third calls a method of what a name holds: module code.
    assert_eq!(binders, ["=*", "=*#2"]);
    let first = model.binders(namespace).next().unwrap();
    assert!(model.is_calling(first));
    assert!(
        block(&model, "=*")
            .refs()
            .iter()
            .any(|r| r.as_str() == "SKIP")
    );
}

#[test]
fn methods_under_an_if_in_a_class_body_are_blocks_and_the_class_only_defines() {
    let model = parse(
        "import sys\n\nclass Box:\n    if sys.maxsize > 1:\n        def limit(self):\n            return LIMIT\n    else:\n        def limit(self):\n            return 0\n\nclass Odd:\n    if check():\n        x = 1\n",
    );
    let names = names(&model);
    assert!(
        names.contains(&"Box.limit") && names.contains(&"Box.limit#2"),
        "{names:?}"
    );
    assert!(
        block(&model, "Box.limit")
            .refs()
            .iter()
            .any(|r| r.as_str() == "LIMIT")
    );
    // The condition reads `sys`; it calls nothing, so the class statement only defines.
    assert!(names.contains(&"class:Box"));
    assert!(
        block(&model, "class:Box")
            .refs()
            .iter()
            .any(|r| r.as_str() == "sys.maxsize")
    );
    // A condition that calls something runs code: the engine follows the call.
    let odd = model
        .blocks
        .iter()
        .position(|block| block.name.as_str() == "class:Odd")
        .unwrap();
    assert!(model.is_calling(odd));
}

#[test]
fn a_class_keeps_apart_the_references_only_its_decorators_make() {
    let model = parse(
        "\
@registry.add(Base, kind=KIND)
@frozen
class C(Base):
    size = KIND


class D:
    pass
",
    );
    let decorators = |qualname: &str| -> Vec<&str> {
        let class = model.class(Name::intern(qualname)).unwrap();
        class.decorators.iter().map(|name| name.as_str()).collect()
    };
    // `Base` and `KIND` are also the base and a class attribute's value: not only decorators'.
    assert_eq!(decorators("C"), ["frozen", "registry.add"]);
    assert!(decorators("D").is_empty());
}

#[test]
fn a_bare_call_of_named_code_is_a_statement_that_binds_nothing() {
    let model = parse("TABLE = {}\nreg.fill(TABLE, key=KEY)\nmake()(1)\n");
    let call = block(&model, "call:reg.fill");
    assert!(call.binds().is_empty());
    assert_eq!(call.refs(), ["KEY", "TABLE", "reg.fill"]);
    assert_eq!(callees(&model, "call:reg.fill"), ["reg.fill"]);
    // A call of what a call returns has no name to follow: module code.
    assert_eq!(model.block_at_line(3), 0);
    assert!(import_uses(&model).contains("make"));
}

#[test]
fn a_store_into_a_container_the_module_built_binds_its_name() {
    let source = "TABLE = {}\nTABLE['a'] = dict(n=1)\nTABLE['a']['b'] = 2\nTABLE.update(x=make())\nTABLE['a'].append(3)\nif WIDE:\n    TABLE['w'] += 1\nOTHER = load()\nOTHER['a'] = 1\nMIXED = []\nMIXED.append(1)\nMIXED = load()\nos.environ['X'] = '1'\n";
    let model = parse(source);
    assert_eq!(
        names(&model),
        [
            "<module>",
            "=TABLE",
            "=TABLE#2",
            "=TABLE#3",
            "=TABLE#4",
            "=TABLE#5",
            "=TABLE#6",
            "=OTHER",
            "=MIXED",
            "call:MIXED.append",
            "=MIXED#2",
        ]
    );
    assert_eq!(callees(&model, "=TABLE#2"), ["dict"]);
    assert_eq!(callees(&model, "=TABLE#4"), ["make"]);
    let mut refs: Vec<&str> = block(&model, "=TABLE#4")
        .refs()
        .iter()
        .map(|name| name.as_str())
        .collect();
    refs.sort_unstable();
    assert_eq!(refs, ["TABLE", "make"]);
    // Stores into what a call built (`OTHER`) or into a library's object: module code. A name
    // something else binds too (`MIXED`, whichever binding came first) is no container: its
    // `append` is a call of what the engine cannot follow.
    for line in [9, 13] {
        assert_eq!(model.block_at_line(line), 0, "line {line}");
    }
    assert_eq!(callees(&model, "call:MIXED.append"), ["MIXED.append"]);
}
