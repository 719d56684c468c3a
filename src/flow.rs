//! What a function that keeps state may have stored: the parts of its code whose values or
//! effects can reach the state it writes. A later caller that reads the state (a cache hit)
//! sees what those parts computed in an earlier call, so it depends on them; code that runs
//! only after the last write, and stores nothing, left nothing behind for it (click's
//! `CliRunner.invoke` counts its runs, then runs a whole command: the command's code is no
//! state a later test reads).
//!
//! The parts, found in the function's syntax:
//! * everything that runs before a write on some path: earlier statements, the tests and
//!   headers of the statements around it, whole loops (a later iteration runs it all before
//!   the next write) and the whole `try` body of a write in a handler (what raised chose it).
//!   Any call before the write may raise, and then nothing is stored;
//! * the statements that mention a nested function holding a write (calling it writes) and,
//!   within that function, the same prefix;
//! * what flows into those parts, through local names: every assignment of a local they read
//!   (anywhere in the function: loops carry values backwards);
//! * what may be in the stored objects: the locals a write statement mentions, what is
//!   assigned to them, and every call that receives one of them (as an argument or receiver),
//!   or the written state itself as an argument or as the object of a mutating method
//!   (`fill(table)` writes into the stored object after the store), with what it is handed.
//!   A local only read to decide (`if key in CACHE`) is no stored object: a call it is
//!   handed after the last write changes nothing stored.
//!
//! What a store goes into (`Field` of `Field.count += 1`) is the state, not code that
//! computed what is stored: the reference collector leaves it out of these parts.
//!
//! The analysis is blind to types and to order within a statement: it keeps more than it needs,
//! never less than the syntax can tell.

use std::collections::HashSet;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};

/// A part of a function's code.
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
    /// A name (or attribute chain) stored into an object as it is (`cd["__ne__"] = __ne__`):
    /// the object now holds what it names, which no call computed. A function stored so runs
    /// where it is called, as it reads then; its locals still flow.
    Named(&'a Expr),
}

/// What the analysis needs to know about names, from the reference collector.
pub(crate) trait Names {
    /// Whether `stmt` (anything in it, nested functions included) writes shared state.
    fn writes_in(&self, stmt: &Stmt) -> bool;
    /// Whether `name` is local to the function (its own object's name is not: every method
    /// passes it around, and its attributes are state of their own).
    fn is_local(&self, name: &str) -> bool;
    /// Whether `expr` names state the function writes (`_TABLE`, `self._cache`).
    fn is_state(&self, expr: &Expr) -> bool;
    /// Whether calling the method `name` on state counts as writing it (`append`, `update`).
    fn mutates(&self, name: &str) -> bool;
}

/// The name an import binds for `alias`: `import a.b` binds `a`, `import a.b as c` binds `c`,
/// `from m import x` binds `x`, `from m import x as y` binds `y` (`from`: a `from` import).
pub(crate) fn imported_name(alias: &ast::Alias, from: bool) -> &str {
    match &alias.asname {
        Some(asname) => asname.as_str(),
        None if from => alias.name.as_str(),
        None => alias.name.split('.').next().unwrap_or_default(),
    }
}

/// The module of a `from` import, with a leading dot per level (`..pkg`).
pub(crate) fn relative_module(import: &ast::StmtImportFrom) -> String {
    let dots = ".".repeat(import.level as usize);
    format!(
        "{dots}{}",
        import.module.as_ref().map_or("", |module| module.as_str())
    )
}

/// The module an `import` (not `from`) statement binds for `alias`: `import a.b as c` binds
/// module `a.b` to `c`, `import a.b` binds `a`, the top package, to `a`.
pub(crate) fn imported_module(alias: &ast::Alias) -> &str {
    if alias.asname.is_some() {
        alias.name.as_str()
    } else {
        imported_name(alias, false)
    }
}

/// The parts of `body` (a function's) that can reach the state it writes (see the module
/// documentation).
pub(crate) fn stored_pieces<'a>(body: &'a [Stmt], names: &dyn Names) -> Vec<Piece<'a>> {
    let mut sources = Sources {
        names,
        writer_functions: HashSet::new(),
        assigns: Vec::new(),
        calls: Vec::new(),
        stored: HashSet::new(),
    };
    sources.find_writer_functions(body);
    sources.visit_body(body);
    let mut pieces = Vec::new();
    sources.prefix(body, &mut pieces);
    sources.close(pieces)
}

/// A local name's sources: `names` get their values from `piece`.
struct Assign<'a> {
    names: Vec<String>,
    piece: Piece<'a>,
}

struct Sources<'a, 'n> {
    names: &'n dyn Names,
    /// Nested functions that write state: calling one writes.
    writer_functions: HashSet<String>,
    assigns: Vec<Assign<'a>>,
    calls: Vec<&'a Expr>,
    /// Locals that simple statements writing state mention: they may hold stored objects.
    stored: HashSet<String>,
}

impl<'a> Sources<'a, '_> {
    fn find_writer_functions(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            if let Stmt::FunctionDef(function) = stmt
                && self.names.writes_in(stmt)
            {
                self.writer_functions.insert(function.name.to_string());
            }
        }
    }

    /// Whether running `stmt` may write: it writes, or mentions a nested function that does.
    fn writes(&self, stmt: &Stmt) -> bool {
        if self.names.writes_in(stmt) {
            return true;
        }
        if self.writer_functions.is_empty() {
            return false;
        }
        let mut found = NamesIn::default();
        found.visit_stmt(stmt);
        found
            .names
            .iter()
            .any(|name| self.writer_functions.contains(name))
    }

    /// The parts of `body` that run before its last write, on some path to it.
    fn prefix(&self, body: &'a [Stmt], out: &mut Vec<Piece<'a>>) {
        let Some(last) = body.iter().rposition(|stmt| self.writes(stmt)) else {
            return;
        };
        out.extend(body[..last].iter().map(Piece::Stmt));
        let stmt = &body[last];
        match stmt {
            Stmt::If(branch) => {
                out.push(Piece::Expr(&branch.test));
                self.prefix(&branch.body, out);
                for clause in &branch.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        out.push(Piece::Expr(test));
                    }
                    self.prefix(&clause.body, out);
                }
            }
            Stmt::With(with) => {
                for item in &with.items {
                    out.push(Piece::Expr(&item.context_expr));
                }
                self.prefix(&with.body, out);
            }
            Stmt::Try(attempt)
                if !attempt
                    .handlers
                    .iter()
                    .any(|handler| self.handler_writes(handler))
                    && !attempt.orelse.iter().any(|s| self.writes(s))
                    && !attempt.finalbody.iter().any(|s| self.writes(s)) =>
            {
                self.prefix(&attempt.body, out);
            }
            Stmt::FunctionDef(function) => {
                out.extend(header(function).map(Piece::Expr));
                self.prefix(&function.body, out);
            }
            // Loops, a `try` that writes in a handler, `match`, a simple statement: whole.
            _ => out.push(Piece::Stmt(stmt)),
        }
    }

    fn handler_writes(&self, handler: &ast::ExceptHandler) -> bool {
        let ast::ExceptHandler::ExceptHandler(handler) = handler;
        handler.body.iter().any(|stmt| self.writes(stmt))
    }

    /// `pieces` and what flows into them through local names, to a fixed point.
    fn close(&self, mut pieces: Vec<Piece<'a>>) -> Vec<Piece<'a>> {
        // Locals read by the pieces, and locals that may hold (part of) a stored object.
        let mut read: HashSet<String> = HashSet::new();
        let mut stored = self.stored.clone();
        let mut assigned = vec![false; self.assigns.len()];
        let mut called = vec![false; self.calls.len()];
        let mut seen = 0;
        loop {
            for piece in &pieces[seen..] {
                read.extend(self.locals_in(*piece));
            }
            seen = pieces.len();
            for (index, assign) in self.assigns.iter().enumerate() {
                let holds = assign.names.iter().any(|name| stored.contains(name));
                if holds {
                    stored.extend(self.locals_in(assign.piece));
                }
                if !assigned[index] && (holds || assign.names.iter().any(|n| read.contains(n))) {
                    assigned[index] = true;
                    pieces.push(assign.piece);
                }
            }
            for (index, call) in self.calls.iter().enumerate() {
                if !called[index] && self.receives(call, &stored) {
                    called[index] = true;
                    stored.extend(self.locals_in(Piece::Expr(call)));
                    pieces.push(Piece::Expr(call));
                }
            }
            if pieces.len() == seen {
                return pieces;
            }
        }
    }

    fn locals_in(&self, piece: Piece<'_>) -> impl Iterator<Item = String> + use<'_> {
        let mut found = NamesIn::default();
        match piece {
            Piece::Stmt(stmt) => found.visit_stmt(stmt),
            Piece::Expr(expr) | Piece::Named(expr) => found.visit_expr(expr),
        }
        found
            .names
            .into_iter()
            .filter(|name| self.names.is_local(name))
    }

    /// Whether the call `call` is handed a local that may hold a stored object, or the written
    /// state itself (as an argument or as the object of a method call), and may store into it.
    fn receives(&self, call: &Expr, stored: &HashSet<String>) -> bool {
        let Expr::Call(call) = call else {
            return false;
        };
        let receiver = match call.func.as_ref() {
            Expr::Attribute(attribute) => Some(attribute),
            _ => None,
        };
        // A method of the written state stores what it is handed only where it is one of
        // those that count as writes (`TABLE.update(rows())`, not `sys.stdout.write(text)`),
        // as for the writes themselves.
        if receiver.is_some_and(|method| {
            self.names.mutates(method.attr.as_str())
                && self.names.is_state(strip_subscripts(&method.value))
        }) {
            return true;
        }
        let holds_stored = |argument: &Expr| {
            let mut found = NamesIn::default();
            found.visit_expr(argument);
            found.names.iter().any(|name| stored.contains(name))
        };
        receiver.is_some_and(|method| holds_stored(&method.value))
            || call
                .arguments
                .args
                .iter()
                .chain(call.arguments.keywords.iter().map(|keyword| &keyword.value))
                .any(|argument| {
                    self.names.is_state(strip_subscripts(argument)) || holds_stored(argument)
                })
    }

    fn assign(&mut self, target: &'a Expr, piece: Piece<'a>) {
        let mut names = Vec::new();
        target_names(target, &mut names);
        if !names.is_empty() {
            self.assigns.push(Assign { names, piece });
        }
    }
}

impl<'a> Visitor<'a> for Sources<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if is_simple(stmt) && self.names.writes_in(stmt) {
            let locals: Vec<String> = self.locals_in(Piece::Stmt(stmt)).collect();
            self.stored.extend(locals);
        }
        match stmt {
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    let stores_into = matches!(target, Expr::Attribute(_) | Expr::Subscript(_));
                    let piece = if stores_into && is_reference(&assign.value) {
                        Piece::Named(&assign.value)
                    } else {
                        Piece::Expr(&assign.value)
                    };
                    self.assign(target, piece);
                }
            }
            Stmt::AugAssign(assign) => self.assign(&assign.target, Piece::Expr(&assign.value)),
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.assign(&assign.target, Piece::Expr(value));
                }
            }
            Stmt::For(each) => self.assign(&each.target, Piece::Expr(&each.iter)),
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(vars) = &item.optional_vars {
                        self.assign(vars, Piece::Expr(&item.context_expr));
                    }
                }
            }
            Stmt::Try(attempt) => {
                // `except E as e`: whatever the body raised.
                for handler in &attempt.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    if let Some(name) = &handler.name {
                        for stmt in &attempt.body {
                            self.assigns.push(Assign {
                                names: vec![name.to_string()],
                                piece: Piece::Stmt(stmt),
                            });
                        }
                    }
                }
            }
            Stmt::FunctionDef(function) => {
                let name = function.name.to_string();
                if self.writer_functions.contains(&name) {
                    // Its body's writes are followed by `prefix`; a mention is no store.
                    for expr in header(function) {
                        self.assigns.push(Assign {
                            names: vec![name.clone()],
                            piece: Piece::Expr(expr),
                        });
                    }
                } else {
                    self.assigns.push(Assign {
                        names: vec![name],
                        piece: Piece::Stmt(stmt),
                    });
                }
                self.find_writer_functions(&function.body);
            }
            Stmt::ClassDef(class) => self.assigns.push(Assign {
                names: vec![class.name.to_string()],
                piece: Piece::Stmt(stmt),
            }),
            Stmt::Import(import) => {
                let names = import
                    .names
                    .iter()
                    .map(|alias| imported_name(alias, false).to_owned())
                    .collect();
                self.assigns.push(Assign {
                    names,
                    piece: Piece::Stmt(stmt),
                });
            }
            Stmt::ImportFrom(import) => {
                let names = import
                    .names
                    .iter()
                    .map(|alias| imported_name(alias, true).to_owned())
                    .collect();
                self.assigns.push(Assign {
                    names,
                    piece: Piece::Stmt(stmt),
                });
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Named(named) => self.assign(&named.target, Piece::Expr(&named.value)),
            Expr::Call(_) => self.calls.push(expr),
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.assign(&comprehension.target, Piece::Expr(&comprehension.iter));
        visitor::walk_comprehension(self, comprehension);
    }
}

/// The parts of a `def` that run where it stands: decorators and default values.
fn header(function: &ast::StmtFunctionDef) -> impl Iterator<Item = &Expr> {
    function
        .decorator_list
        .iter()
        .map(|decorator| &decorator.expression)
        .chain(
            function
                .parameters
                .iter_non_variadic_params()
                .filter_map(|parameter| parameter.default.as_deref()),
        )
}

/// The local names an assignment to `target` gives a value: the names it binds, and the root
/// name of an object it stores into (`obj.x = v`, `obj[k] = v` put `v` in `obj`).
fn target_names(target: &Expr, out: &mut Vec<String>) {
    match target {
        Expr::Name(name) => out.push(name.id.to_string()),
        Expr::Tuple(tuple) => tuple.elts.iter().for_each(|elt| target_names(elt, out)),
        Expr::List(list) => list.elts.iter().for_each(|elt| target_names(elt, out)),
        Expr::Starred(starred) => target_names(&starred.value, out),
        Expr::Attribute(attribute) => target_names(&attribute.value, out),
        Expr::Subscript(subscript) => target_names(&subscript.value, out),
        _ => {}
    }
}

/// Whether `expr` only names something: a name, or attributes of one.
fn is_reference(expr: &Expr) -> bool {
    match expr {
        Expr::Name(_) => true,
        Expr::Attribute(attribute) => is_reference(&attribute.value),
        _ => false,
    }
}

/// Whether `stmt` holds no other statements.
fn is_simple(stmt: &Stmt) -> bool {
    !matches!(
        stmt,
        Stmt::If(_)
            | Stmt::For(_)
            | Stmt::While(_)
            | Stmt::With(_)
            | Stmt::Try(_)
            | Stmt::Match(_)
            | Stmt::FunctionDef(_)
            | Stmt::ClassDef(_)
    )
}

fn strip_subscripts(mut expr: &Expr) -> &Expr {
    while let Expr::Subscript(subscript) = expr {
        expr = &subscript.value;
    }
    expr
}

/// Every name an expression or statement mentions, in any context.
#[derive(Default)]
struct NamesIn {
    names: HashSet<String>,
}

impl Visitor<'_> for NamesIn {
    fn visit_expr(&mut self, expr: &Expr) {
        if let Expr::Name(name) = expr {
            self.names.insert(name.id.to_string());
        }
        visitor::walk_expr(self, expr);
    }
}
