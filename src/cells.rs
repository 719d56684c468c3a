//! The variables of a function that outlive its call: those a function nested in it changes
//! (`cache[key] = value`, `seen.append(x)`, `nonlocal count; count += 1`) where that nested
//! function may be kept after the call returns: returned, stored, handed to a call, decorated,
//! or reached from one that is. Such a variable is state, like a module's global: a later call
//! of the kept function sees what an earlier one left there (the memo a decorator keeps for
//! the function it wraps). A nested function only called where it is made ends with that call,
//! and so do the variables it changes (a visitor counting into its caller's `nonlocal`).
//!
//! Blind to what a call does with a function it is handed: any use of a nested function other
//! than calling it keeps it. (`refs` writes a `nonlocal` name like a global wherever it is
//! declared; what it asks of this module is which containers are kept.)

use std::collections::{HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};

use crate::flow::imported_name;

/// The names bound in `function`, or in a function nested in it, that a nested function may
/// change after the call that bound them has returned (see the module documentation).
pub(crate) fn kept_variables(
    function: &ast::StmtFunctionDef,
    mutators: &[&str],
) -> HashSet<String> {
    let mut kept = HashSet::new();
    let mut scope = Scope::new(mutators, &mut kept);
    scope.bind_parameters(&function.parameters);
    scope.visit_body(&function.body);
    scope.finish();
    kept
}

/// A function nested in the scope being walked.
struct Nested {
    /// `None` for a lambda, which is a value where it stands.
    name: Option<String>,
    /// Decorated: handed to the decorator.
    decorated: bool,
    /// Names it (or a function nested in it) changes without binding them.
    changes: HashSet<String>,
    /// Every name its body loads, to find the nested functions a kept one may call.
    mentions: HashSet<String>,
}

/// One function scope: walks its body without entering nested scopes, which it hands to
/// scopes of their own.
struct Scope<'k> {
    mutators: &'k [&'k str],
    kept: &'k mut HashSet<String>,
    bound: HashSet<String>,
    declared: HashSet<String>,
    /// Names changed by this scope's own code (stored into, mutated, rebound `nonlocal`).
    changed: HashSet<String>,
    /// Names loaded other than as the function of a call.
    used: HashSet<String>,
    /// Every name loaded.
    mentions: HashSet<String>,
    nested: Vec<Nested>,
    /// Inside a class body: its methods are kept in the class.
    in_class: bool,
}

impl<'k> Scope<'k> {
    fn new(mutators: &'k [&'k str], kept: &'k mut HashSet<String>) -> Self {
        Self {
            mutators,
            kept,
            bound: HashSet::new(),
            declared: HashSet::new(),
            changed: HashSet::new(),
            used: HashSet::new(),
            mentions: HashSet::new(),
            nested: Vec::new(),
            in_class: false,
        }
    }

    fn bind_parameters(&mut self, parameters: &ast::Parameters) {
        for parameter in parameters.iter() {
            self.bound.insert(parameter.name().to_string());
        }
    }

    /// Default values are evaluated where the function is made, in this scope.
    fn visit_defaults(&mut self, parameters: &ast::Parameters) {
        for default in parameters
            .iter_non_variadic_params()
            .filter_map(|p| p.default.as_deref())
        {
            self.visit_expr(default);
        }
    }

    /// Walks a nested function in a scope of its own, and notes it.
    fn nest(
        &mut self,
        name: Option<String>,
        decorated: bool,
        parameters: Option<&ast::Parameters>,
        walk: impl FnOnce(&mut Scope<'_>),
    ) {
        let mut inner = Scope::new(self.mutators, self.kept);
        if let Some(parameters) = parameters {
            inner.bind_parameters(parameters);
        }
        walk(&mut inner);
        let mentions = std::mem::take(&mut inner.mentions);
        let changes = inner.finish();
        self.mentions.extend(mentions.iter().cloned());
        self.nested.push(Nested {
            name,
            decorated: decorated || self.in_class,
            changes,
            mentions,
        });
    }

    /// Settles which nested functions may be kept; records the variables of this scope they
    /// change in `kept`. Returns the names changed here or beneath that this scope does not
    /// bind: the enclosing scopes' (or globals, left to the caller).
    fn finish(self) -> HashSet<String> {
        let Scope {
            kept,
            mut bound,
            declared,
            changed,
            used,
            nested,
            ..
        } = self;
        for name in &declared {
            bound.remove(name);
        }
        let mut escapes: Vec<bool> = nested
            .iter()
            .map(|n| n.decorated || n.name.as_ref().is_none_or(|name| used.contains(name)))
            .collect();
        // A nested function a kept one mentions may run after the call too.
        let by_name: HashMap<&str, usize> = nested
            .iter()
            .enumerate()
            .filter_map(|(index, n)| Some((n.name.as_deref()?, index)))
            .collect();
        let mut queue: Vec<usize> = (0..nested.len()).filter(|&i| escapes[i]).collect();
        while let Some(index) = queue.pop() {
            for mention in &nested[index].mentions {
                if let Some(&other) = by_name.get(mention.as_str())
                    && !escapes[other]
                {
                    escapes[other] = true;
                    queue.push(other);
                }
            }
        }
        let mut free: HashSet<String> =
            changed.into_iter().filter(|n| !bound.contains(n)).collect();
        for (function, escapes) in nested.into_iter().zip(escapes) {
            for name in function.changes {
                if !bound.contains(&name) {
                    free.insert(name);
                } else if escapes {
                    kept.insert(name);
                }
            }
        }
        free
    }

    /// The name a store into `target` (or a mutating call on it) changes: the name at the
    /// root of `x[k]`, `x.a`, `x.a[k].b`.
    fn change(&mut self, target: &Expr) {
        let mut expr = target;
        loop {
            expr = match expr {
                Expr::Subscript(subscript) => &subscript.value,
                Expr::Attribute(attribute) => &attribute.value,
                Expr::Call(call) => &call.func,
                Expr::Name(name) => {
                    self.changed.insert(name.id.to_string());
                    return;
                }
                _ => return,
            };
        }
    }
}

impl<'a> Visitor<'a> for Scope<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => {
                for decorator in &function.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.visit_defaults(&function.parameters);
                self.bound.insert(function.name.to_string());
                self.nest(
                    Some(function.name.to_string()),
                    !function.decorator_list.is_empty(),
                    Some(&function.parameters),
                    |inner| inner.visit_body(&function.body),
                );
            }
            Stmt::ClassDef(class) => {
                self.bound.insert(class.name.to_string());
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                let in_class = std::mem::replace(&mut self.in_class, true);
                self.visit_body(&class.body);
                self.in_class = in_class;
            }
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                self.declared.extend(names.iter().map(ToString::to_string));
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.bound.insert(imported_name(alias, false).to_owned());
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    self.bound.insert(imported_name(alias, true).to_owned());
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    if !matches!(target, Expr::Name(_)) {
                        self.change(target);
                    }
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(handler_node) = handler;
        if let Some(name) = &handler_node.name {
            self.bound.insert(name.to_string());
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => {
                let id = name.id.to_string();
                if name.ctx == ast::ExprContext::Load {
                    self.used.insert(id.clone());
                    self.mentions.insert(id);
                } else if self.declared.contains(&id) {
                    // `nonlocal count; count = ...`: rebinds the enclosing scope's variable.
                    self.changed.insert(id);
                } else {
                    self.bound.insert(id);
                }
            }
            Expr::Attribute(attribute) if attribute.ctx != ast::ExprContext::Load => {
                self.change(&attribute.value);
                self.visit_expr(&attribute.value);
            }
            Expr::Subscript(subscript) if subscript.ctx != ast::ExprContext::Load => {
                self.change(&subscript.value);
                self.visit_expr(&subscript.value);
                self.visit_expr(&subscript.slice);
            }
            Expr::Call(call) => {
                match call.func.as_ref() {
                    // Calling a nested function by its name is no use that keeps it.
                    Expr::Name(name) => {
                        self.mentions.insert(name.id.to_string());
                    }
                    Expr::Attribute(method) => {
                        if self.mutators.contains(&method.attr.as_str()) {
                            self.change(&method.value);
                        }
                        self.visit_expr(&call.func);
                    }
                    func => self.visit_expr(func),
                }
                self.visit_arguments(&call.arguments);
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_defaults(parameters);
                }
                self.nest(None, false, lambda.parameters.as_deref(), |inner| {
                    inner.visit_expr(&lambda.body);
                });
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

#[cfg(test)]
mod tests {
    use ruff_python_ast::PySourceType;
    use ruff_python_parser::parse_unchecked_source;

    use super::*;

    fn kept(source: &str) -> Vec<String> {
        let parsed = parse_unchecked_source(source, PySourceType::Python);
        let Stmt::FunctionDef(function) = &parsed.syntax().body[0] else {
            panic!("not a function");
        };
        let mut found: Vec<String> = kept_variables(function, &["append", "update"])
            .into_iter()
            .collect();
        found.sort();
        found
    }

    #[test]
    fn what_a_returned_nested_function_changes_is_kept() {
        let source = "def memoize(f):\n    cache = {}\n    def wrapper(*a):\n        if a not in cache:\n            cache[a] = f(*a)\n        return cache[a]\n    return wrapper\n";
        assert_eq!(kept(source), ["cache"]);
        let source = "def counter():\n    count = 0\n    def inc():\n        nonlocal count\n        count += 1\n        return count\n    return inc\n";
        assert_eq!(kept(source), ["count"]);
    }

    #[test]
    fn what_a_nested_function_only_called_in_place_changes_is_not() {
        let source = "def collect(items):\n    out = []\n    count = 0\n    def visit(x):\n        nonlocal count\n        count += 1\n        out.append(x)\n    for item in items:\n        visit(item)\n    return out, count\n";
        assert_eq!(kept(source), Vec::<String>::new());
        // Its own variables are its own.
        let source = "def f():\n    def g():\n        seen = []\n        seen.append(1)\n        return seen\n    return g\n";
        assert_eq!(kept(source), Vec::<String>::new());
    }

    #[test]
    fn a_nested_function_is_kept_by_any_use_but_a_call() {
        for keep in [
            "register(visit)",
            "handlers = {'a': visit}",
            "return [visit]",
            "threading.Thread(target=visit).start()",
        ] {
            let source = format!(
                "def f():\n    out = []\n    def visit(x):\n        out.append(x)\n    {keep}\n"
            );
            assert_eq!(kept(&source), ["out"], "{keep}");
        }
        // Decorated, a lambda, a method of a class made inside.
        let source =
            "def f():\n    out = []\n    @hook\n    def visit(x):\n        out.append(x)\n";
        assert_eq!(kept(source), ["out"]);
        let source = "def f():\n    out = []\n    return lambda x: out.append(x)\n";
        assert_eq!(kept(source), ["out"]);
        let source = "def f():\n    out = []\n    class C:\n        def m(self, x):\n            out.append(x)\n    return C\n";
        assert_eq!(kept(source), ["out"]);
    }

    #[test]
    fn a_nested_function_a_kept_one_calls_is_kept_too() {
        let source = "def f():\n    out = []\n    def add(x):\n        out.append(x)\n    def api(x):\n        add(x)\n    return api\n";
        assert_eq!(kept(source), ["out"]);
    }

    #[test]
    fn variables_of_a_nested_scope_kept_by_a_function_nested_in_it() {
        let source = "def memoize(size):\n    def decorate(f):\n        cache = {}\n        def wrapper(*a):\n            cache[a] = f(*a)\n            return cache[a]\n        return wrapper\n    return decorate\n";
        assert_eq!(kept(source), ["cache"]);
    }
}
