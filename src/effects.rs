//! What top-level code may do besides binding names, and which functions cache their results.
//!
//! Heuristics, each biased towards the safe answer: "may have effects" folds a statement into its
//! file's `<module>` block (every importer depends on it). A wrong "pure" can hide an affected
//! test, so every allow-list here names only constructs known not to run project code. Which
//! state a function writes is `refs`'s business.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};

/// Decorators that neither register the function anywhere nor keep state.
const PURE_DECORATORS: &[&str] = &[
    "staticmethod",
    "classmethod",
    "property",
    "dataclass",
    "abstractmethod",
    "total_ordering",
    "final",
    "override",
    "overload",
    "runtime_checkable",
    "wraps",
    "setter",
    "getter",
    "deleter",
    "cached_property",
    // They wrap the function in a factory of context managers, or of a dispatcher that keeps
    // its registry on the function itself (its `register` calls are statements of their own).
    "contextmanager",
    "asynccontextmanager",
    "singledispatch",
    "singledispatchmethod",
    // The cache they keep is the function's own state (see `caches`): they register nothing.
    "cache",
    "lru_cache",
];

/// Base classes known not to run code when subclassed (or instantiated, as a decorator class).
const PURE_BASES: &[&str] = &[
    "object",
    "property",
    "dict",
    "list",
    "set",
    "frozenset",
    "tuple",
    "str",
    "int",
    "float",
    "bytes",
    "type",
    "Warning",
    "UserWarning",
    "DeprecationWarning",
    "OSError",
    "IndexError",
    "ImportError",
    "AssertionError",
    "ArithmeticError",
    "ZeroDivisionError",
    "Exception",
    "BaseException",
    "ValueError",
    "TypeError",
    "KeyError",
    "LookupError",
    "RuntimeError",
    "AttributeError",
    "NotImplementedError",
    "Enum",
    "IntEnum",
    "StrEnum",
    "Flag",
    "IntFlag",
    "NamedTuple",
    "TypedDict",
    "Protocol",
    "ABC",
    "Generic",
];

/// The last dotted component of a decorator or base, ignoring call arguments and subscripts.
fn terminal_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attribute) => Some(attribute.attr.as_str()),
        Expr::Call(call) => terminal_name(&call.func),
        Expr::Subscript(subscript) => terminal_name(&subscript.value),
        _ => None,
    }
}

pub(crate) fn is_pure_decorator(expr: &Expr) -> bool {
    let arguments_pure = match expr {
        Expr::Call(call) => {
            call.arguments.args.iter().all(|arg| !has_effects(arg))
                && call
                    .arguments
                    .keywords
                    .iter()
                    .all(|keyword| !has_effects(&keyword.value))
        }
        _ => true,
    };
    arguments_pure && terminal_name(expr).is_some_and(|name| PURE_DECORATORS.contains(&name))
}

/// Whether running a method's `def` can only make the method: decorators that register
/// nothing and leave the class alone (`property`, `staticmethod`, `contextmanager`, `cache`,
/// not `abstractmethod`, which makes the class abstract), defaults without calls. Its header
/// then counts for the tests that run or name the method, not for every user of its class.
pub(crate) fn acts_on_itself(function: &ast::StmtFunctionDef) -> bool {
    function.decorator_list.iter().all(|decorator| {
        is_pure_decorator(&decorator.expression)
            && !terminal_name(&decorator.expression)
                .is_some_and(|name| name.starts_with("abstract"))
    }) && !function
        .parameters
        .iter_non_variadic_params()
        .any(|parameter| parameter.default.as_deref().is_some_and(has_effects))
}

/// Whether creating the class can only bind its name: harmless decorators and bases, and a body
/// of definitions and assignments. A bare call in the body (`signals.connect(...)`), a decorator
/// on a method that may register it, a metaclass or a base with `__init_subclass__` may all
/// change state elsewhere. Calls on the right of class-level assignments (`x = field(...)`) are
/// accepted: they compute the class's own attributes.
pub(crate) fn is_pure_class(class: &ast::StmtClassDef) -> bool {
    let header_pure = class
        .decorator_list
        .iter()
        .all(|d| is_pure_decorator(&d.expression))
        && class.arguments.as_ref().is_none_or(|arguments| {
            arguments.keywords.is_empty() && arguments.args.iter().all(is_pure_base)
        });
    header_pure && class.body.iter().all(is_pure_class_statement)
}

fn is_pure_class_statement(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::FunctionDef(function) => function
            .decorator_list
            .iter()
            .all(|d| is_pure_decorator(&d.expression)),
        Stmt::ClassDef(inner) => is_pure_class(inner),
        Stmt::Assign(_) | Stmt::AnnAssign(_) | Stmt::AugAssign(_) | Stmt::Pass(_) => true,
        Stmt::Expr(ast::StmtExpr { value, .. }) => {
            value.is_string_literal_expr() || value.is_ellipsis_literal_expr()
        }
        // `if sys.version_info >= (3, 14):` around definitions: which ones the class gets.
        Stmt::If(branch) => {
            !has_effects(&branch.test)
                && branch.body.iter().all(is_pure_class_statement)
                && branch.elif_else_clauses.iter().all(|clause| {
                    clause.test.as_ref().is_none_or(|test| !has_effects(test))
                        && clause.body.iter().all(is_pure_class_statement)
                })
        }
        _ => false,
    }
}

fn is_pure_base(expr: &Expr) -> bool {
    !matches!(expr, Expr::Call(_))
        && terminal_name(expr).is_some_and(|name| PURE_BASES.contains(&name))
}

/// Calls that only build a value from their arguments: type variables, `NewType`, named tuple
/// classes, a sentinel `object()`.
const PURE_CALLS: &[&str] = &[
    "TypeVar",
    "ParamSpec",
    "TypeVarTuple",
    "NewType",
    "namedtuple",
    "object",
];

/// Whether evaluating `expr` may run arbitrary code: any call (but a `PURE_CALLS` one of
/// arguments without effects), await, yield or walrus.
pub(crate) fn has_effects(expr: &Expr) -> bool {
    struct Finder(bool);
    impl<'a> Visitor<'a> for Finder {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && matches!(call.func.as_ref(), Expr::Name(_) | Expr::Attribute(_))
                && terminal_name(&call.func).is_some_and(|name| PURE_CALLS.contains(&name))
            {
                visitor::walk_arguments(self, &call.arguments);
            } else if matches!(
                expr,
                Expr::Call(_)
                    | Expr::Await(_)
                    | Expr::Yield(_)
                    | Expr::YieldFrom(_)
                    | Expr::Named(_)
            ) {
                self.0 = true;
            } else if !self.0 {
                visitor::walk_expr(self, expr);
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_expr(expr);
    finder.0
}

/// Whether a decorator of the function keeps its results (`functools.cache`, `lru_cache`,
/// `cached_property`, a `memoize` of the project's own): the function is then state, which
/// every call, hit or miss, reads. Read from the decorator's names (its callable, the names
/// and keywords of its arguments), not from the text of its string arguments: a parametrize
/// id `"no-cache"` keeps nothing.
pub(crate) fn caches(function: &ast::StmtFunctionDef) -> bool {
    struct Words(bool);
    impl Words {
        fn note(&mut self, word: &str) {
            let word = word.to_ascii_lowercase();
            self.0 |= ["cache", "memo", "lru", "once"]
                .iter()
                .any(|part| word.contains(part));
        }
    }
    impl<'a> Visitor<'a> for Words {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Name(name) => self.note(name.id.as_str()),
                Expr::Attribute(attribute) => self.note(attribute.attr.as_str()),
                _ => {}
            }
            visitor::walk_expr(self, expr);
        }

        fn visit_keyword(&mut self, keyword: &'a ast::Keyword) {
            if let Some(arg) = &keyword.arg {
                self.note(arg.as_str());
            }
            visitor::walk_keyword(self, keyword);
        }
    }
    let mut words = Words(false);
    for decorator in &function.decorator_list {
        words.visit_decorator(decorator);
    }
    words.0
}

/// What running a `def` statement calls that may have effects, as dotted names (`register`,
/// `app.route`): the decorators that are not known to be harmless, and the calls in defaults.
/// The engine decides whether each reaches project code, whose effects it follows, or not.
/// `None` when some of that code has no name to follow (a decorator `x[0]`, a call on a call's
/// result, a lambda): the statement then stays part of its module's code.
pub(crate) fn def_callees(function: &ast::StmtFunctionDef) -> Option<Vec<String>> {
    let mut callees = Vec::new();
    decorators_callees(&function.decorator_list, &mut callees)?;
    for parameter in function.parameters.iter_non_variadic_params() {
        if let Some(default) = parameter.default.as_deref() {
            calls_in(default, &mut callees)?;
        }
    }
    Some(callees)
}

/// What a module-level assignment calls (`add = Wrapped(_add)`, `log = logging.getLogger()`),
/// as dotted names (see `def_callees`); `None` when a call has no name to follow.
pub(crate) fn value_callees(value: &Expr) -> Option<Vec<String>> {
    let mut callees = Vec::new();
    calls_in(value, &mut callees)?;
    callees.sort_unstable();
    callees.dedup();
    Some(callees)
}

/// What running a `class` statement calls that may have effects (see `def_callees`): its
/// decorators, bases (subclassing runs their `__init_subclass__` and metaclass) and metaclass,
/// the calls in its keywords, and what its methods' and nested classes' statements call.
/// `None` also when its body runs statements other than definitions and assignments.
pub(crate) fn class_callees(class: &ast::StmtClassDef) -> Option<Vec<String>> {
    let mut callees = Vec::new();
    decorators_callees(&class.decorator_list, &mut callees)?;
    if let Some(arguments) = &class.arguments {
        for base in &arguments.args {
            if is_pure_base(base) {
                continue;
            }
            // `Base[T]` subclasses `Base`; a base computed by a call has no name to follow.
            let named = match base {
                Expr::Subscript(subscript) => &subscript.value,
                _ => base,
            };
            callees.push(dotted(named)?);
            calls_in(base, &mut callees)?;
        }
        for keyword in &arguments.keywords {
            if keyword
                .arg
                .as_ref()
                .is_some_and(|arg| arg.as_str() == "metaclass")
            {
                callees.push(dotted(&keyword.value)?);
            }
            calls_in(&keyword.value, &mut callees)?;
        }
    }
    class_body_callees(&class.body, &mut callees)?;
    callees.sort_unstable();
    callees.dedup();
    Some(callees)
}

/// What the statements of a class body call while it runs (see `class_callees`), through the
/// `if` statements around definitions.
fn class_body_callees(body: &[Stmt], callees: &mut Vec<String>) -> Option<()> {
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(function) => callees.extend(def_callees(function)?),
            Stmt::ClassDef(inner) => callees.extend(class_callees(inner)?),
            Stmt::Assign(_) | Stmt::AnnAssign(_) | Stmt::AugAssign(_) | Stmt::Pass(_) => {}
            Stmt::Expr(ast::StmtExpr { value, .. })
                if value.is_string_literal_expr() || value.is_ellipsis_literal_expr() => {}
            Stmt::If(branch) => {
                calls_in(&branch.test, callees)?;
                class_body_callees(&branch.body, callees)?;
                for clause in &branch.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        calls_in(test, callees)?;
                    }
                    class_body_callees(&clause.body, callees)?;
                }
            }
            _ => return None,
        }
    }
    Some(())
}

/// The callees of the decorators not known to be harmless. A decorator applies what it names
/// (`@cache`), or what a call returns (`@register("x")`, whose code is the called function's):
/// either way its callees are its calls' functions, or the name itself.
fn decorators_callees(decorators: &[ast::Decorator], callees: &mut Vec<String>) -> Option<()> {
    for decorator in decorators {
        let expr = &decorator.expression;
        if is_pure_decorator(expr) {
            continue;
        }
        if !matches!(expr, Expr::Call(_)) {
            callees.push(dotted(expr)?);
        }
        calls_in(expr, callees)?;
    }
    Some(())
}

/// The functions of the calls in `expr`, by dotted name; `None` if one has none, or if the
/// expression awaits, yields or assigns.
fn calls_in(expr: &Expr, callees: &mut Vec<String>) -> Option<()> {
    struct Calls<'c> {
        callees: &'c mut Vec<String>,
        nameless: bool,
    }
    impl<'a> Visitor<'a> for Calls<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Call(call) => match dotted(&call.func) {
                    Some(name) => self.callees.push(name),
                    // `vars(m).items()`: a view of what the builtin returned, which runs
                    // nothing; the builtin is the callee.
                    None if reads_namespace(call) => {}
                    None => self.nameless = true,
                },
                Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) | Expr::Named(_) => {
                    self.nameless = true;
                }
                // Its body runs when it is called, not where it stands.
                Expr::Lambda(_) => return,
                _ => {}
            }
            if !self.nameless {
                visitor::walk_expr(self, expr);
            }
        }
    }
    let mut calls = Calls {
        callees,
        nameless: false,
    };
    calls.visit_expr(expr);
    (!calls.nameless).then_some(())
}

/// `vars(x).items()`, `dict(...).keys()`: reading a dictionary a builtin made, which runs
/// no code.
fn reads_namespace(call: &ast::ExprCall) -> bool {
    let Expr::Attribute(method) = call.func.as_ref() else {
        return false;
    };
    let Expr::Call(made) = method.value.as_ref() else {
        return false;
    };
    matches!(method.attr.as_str(), "items" | "keys" | "values")
        && call.arguments.is_empty()
        && matches!(made.func.as_ref(), Expr::Name(name) if matches!(name.id.as_str(), "vars" | "dict" | "globals" | "locals"))
}

/// `a`, `a.b.c`: a name and its attributes; `None` for anything else.
fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(name.id.to_string()),
        Expr::Attribute(attribute) => {
            dotted(&attribute.value).map(|head| format!("{head}.{}", attribute.attr))
        }
        _ => None,
    }
}
