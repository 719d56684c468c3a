//! What a piece of code refers to, and which shared state it writes, as short texts that
//! `resolve` turns into the bindings they reach. A function's block holds them (see
//! `Block::refs`), as does a binding statement (its value's references) and the module's
//! import-time code.
//!
//! The forms, each an interned `Name`:
//! * `x`: a global name the code loads (not one of its locals);
//! * `x.a`, `x.a.b`: an attribute chain on a global name (a module, a class, ...), at most
//!   `MAX_CHAIN` attributes deep; `getattr(x, "a")` with a literal name counts as `x.a`;
//! * `self.a`: an attribute of a method's first parameter (the instance or the class);
//! * `.a`: an attribute of any other object (a local, a call's result): nothing to resolve,
//!   but the name of the method a call may reach;
//! * `^module:a.b`: a name imported inside a function (`from module import a` there, used as
//!   `a.b`), `module` with one leading dot per level of a relative import; `^module:` for the
//!   module itself;
//! * `@x.add`: a blind mutator (`add`, `append`, `clear`, ...) called on a global name or chain:
//!   a write of its state, and a reference only where `x` is a module or a class, whose
//!   function of that name it calls;
//! * `&x`, `&x.a`: a global name or chain stored as it is into another object (`d[k] = x`,
//!   `cls.a = x`): what it binds, but no call of what it names (see `Collector::held`);
//! * `~r`: the reference `r` of a nested function the function only returns
//!   (`def make(): def get(): ...; return get`): it runs where the returned function is
//!   called, not when the function runs (see `returned_functions`);
//! * `x.*`: every binding of what `x` names, read reflectively (`dir(x)`, `vars(x)`,
//!   `x.__dict__`, `getattr(x, name)` with a computed name); `*` alone for `globals()`.
//!
//! Writes of shared state (module-level names, class attributes, attributes of long-lived
//! instances) are kept apart, in the same forms: `x`, `self.a`.

use std::collections::{HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};

use crate::block::Name;
use crate::cells;
use crate::flow;

/// How deep an attribute chain on a global name is followed (`pkg.sub.module.function`).
const MAX_CHAIN: usize = 3;

/// Method names that mutate the container they are called on.
const MUTATORS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "remove",
    "discard",
    "clear",
    "register",
    "__setitem__",
];

/// Mutating methods whose effect and result do not depend on what the container holds: a
/// function that only calls them on a shared container writes it without reading it.
const BLIND_MUTATORS: &[&str] = &[
    "append", "extend", "insert", "add", "discard", "update", "clear",
];

/// Methods where assigning to `self.x` builds a new object rather than changing a shared one.
const CONSTRUCTORS: &[&str] = &[
    "__init__",
    "__new__",
    "__post_init__",
    "setUp",
    "setup_method",
];

/// The references and state writes of some code.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    pub(crate) refs: HashSet<String>,
    pub(crate) writes: HashSet<String>,
    /// Of a function that writes state, the references of the code that can reach that
    /// state (see `flow`); `None`: all of them.
    pub(crate) stored: Option<HashSet<String>>,
}

impl Refs {
    /// The references and the writes, each sorted and interned.
    pub(crate) fn into_names(self) -> (Vec<Name>, Vec<Name>) {
        let (refs, writes, _) = self.into_ordered_names();
        (refs, writes)
    }

    /// The references (those of `stored` first, each part sorted), the writes (sorted), and
    /// how many references `stored` has.
    pub(crate) fn into_ordered_names(self) -> (Vec<Name>, Vec<Name>, usize) {
        let sorted = |set: HashSet<String>| {
            let mut texts: Vec<String> = set.into_iter().collect();
            texts.sort_unstable();
            texts
                .iter()
                .map(|text| Name::intern(text))
                .collect::<Vec<Name>>()
        };
        let writes = sorted(self.writes);
        match self.stored {
            None => {
                let refs = sorted(self.refs);
                let count = refs.len();
                (refs, writes, count)
            }
            Some(stored) => {
                let stored: HashSet<String> = stored.intersection(&self.refs).cloned().collect();
                let rest: HashSet<String> = self.refs.difference(&stored).cloned().collect();
                let mut refs = sorted(stored);
                let count = refs.len();
                refs.extend(sorted(rest));
                (refs, writes, count)
            }
        }
    }
}

/// The references of a function (decorators, signature and body, nested functions included).
/// `method`: whether it is defined directly in a class body, so that its first parameter is
/// the instance (or the class). `caches`: whether a decorator keeps its results, which makes
/// the function itself state that it writes.
pub(crate) fn function_refs(
    function: &ast::StmtFunctionDef,
    qualname: &str,
    method: bool,
    caches: bool,
) -> Refs {
    let mut locals = Locals::default();
    for parameter in function.parameters.iter() {
        locals.names.insert(parameter.name().to_string());
    }
    locals.visit_body(&function.body);
    for name in &locals.declared_global {
        locals.names.remove(name);
    }
    // A container in a variable that a nested function kept after the call changes (see
    // `cells`) is state, as a global is: the memo a decorator keeps for the function it wraps.
    // Only a function with something nested in it has such variables (most have not: no walk).
    let kept = if locals.nests {
        cells::kept_variables(function, MUTATORS)
    } else {
        HashSet::new()
    };
    let self_name = method
        .then(|| {
            function
                .parameters
                .posonlyargs
                .iter()
                .chain(&function.parameters.args)
                .next()
        })
        .flatten()
        .filter(|_| !function.decorator_list.iter().any(is_staticmethod))
        .map(|parameter| parameter.parameter.name.to_string());
    // Defaults are evaluated where the `def` stands: module level for a function (a method's
    // are evaluated in its class body, whose names are not globals).
    let aliases: HashMap<String, (String, Vec<String>)> = if method {
        HashMap::new()
    } else {
        function
            .parameters
            .iter_non_variadic_params()
            .filter_map(|parameter| {
                let default = parameter.default.as_deref()?;
                let chain = global_chain(default)?;
                Some((parameter.parameter.name.to_string(), chain))
            })
            .collect()
    };
    let may_hold = !calls_an_item(&function.body);
    let held_functions = if may_hold {
        held_functions(&function.body, self_name.as_deref())
    } else {
        HashSet::new()
    };
    let returned_functions = returned_functions(&function.body);
    let mut collector = Collector {
        locals: &locals.names,
        aliases: &aliases,
        imported: &locals.imported,
        globals: &locals.declared_global,
        cells: &kept,
        self_name: self_name.as_deref(),
        constructing: CONSTRUCTORS.contains(&function.name.as_str()),
        function: true,
        loads_targets: true,
        may_hold,
        held_functions: &held_functions,
        returned_functions: &returned_functions,
        found: Refs::default(),
    };
    for decorator in &function.decorator_list {
        collector.visit_decorator(decorator);
    }
    collector.visit_parameters(&function.parameters);
    if let Some(returns) = &function.returns {
        collector.visit_annotation(returns);
    }
    collector.visit_body(&function.body);
    if !caches && !collector.found.writes.is_empty() {
        // What the writes may have stored; a cache's whole result is what it stores.
        let mut stored = collector.fresh();
        stored.loads_targets = false;
        for piece in flow::stored_pieces(&function.body, &collector) {
            match piece {
                flow::Piece::Stmt(stmt) => stored.visit_stmt(stmt),
                flow::Piece::Expr(expr) => stored.visit_expr(expr),
                flow::Piece::Named(_) => {}
            }
        }
        collector.found.stored = Some(stored.found.refs);
    }
    let mut found = collector.found;
    if caches {
        found.writes.insert(match qualname.rsplit_once('.') {
            Some((_, name)) if method => format!("self.{name}"),
            _ => qualname.to_owned(),
        });
    }
    found
}

/// The references of module-level code (a statement, or an expression in one): every name is
/// global there.
pub(crate) fn module_refs<'a>(visit: impl FnOnce(&mut dyn Visitor<'a>)) -> Refs {
    let none = HashSet::new();
    let no_imports = HashMap::new();
    let no_aliases = HashMap::new();
    let mut collector = Collector {
        locals: &none,
        aliases: &no_aliases,
        imported: &no_imports,
        globals: &none,
        cells: &none,
        self_name: None,
        constructing: false,
        function: false,
        loads_targets: true,
        may_hold: false,
        held_functions: &none,
        returned_functions: &none,
        found: Refs::default(),
    };
    visit(&mut collector);
    collector.found
}

/// Whether `body` calls what an item of something holds (`handlers[kind](text)`).
fn calls_an_item(body: &[Stmt]) -> bool {
    struct Finder(bool);
    impl<'a> Visitor<'a> for Finder {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Call(call) = expr
                && matches!(call.func.as_ref(), Expr::Subscript(_))
            {
                self.0 = true;
            }
            if !self.0 {
                visitor::walk_expr(self, expr);
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_body(body);
    finder.0
}

/// The value the assignment `stmt` stores as it is into another object: `v` of `d[k] = v`
/// and `obj.a = v`, not of `self.a = v`: an object keeps a strategy it is handed to call it
/// (`self.parse = parse_v2`).
fn stored_into_another<'a>(stmt: &'a Stmt, self_name: Option<&str>) -> Option<&'a Expr> {
    let Stmt::Assign(assign) = stmt else {
        return None;
    };
    let into_another = |target: &Expr| match target {
        Expr::Subscript(_) => true,
        Expr::Attribute(attribute) => !matches!(
            attribute.value.as_ref(),
            Expr::Name(name) if Some(name.id.as_str()) == self_name
        ),
        _ => false,
    };
    assign
        .targets
        .iter()
        .all(into_another)
        .then_some(assign.value.as_ref())
}

/// `v` of `d.setdefault(k, v)`, which stores it as it is.
fn set_default_value(expr: &Expr) -> Option<&Expr> {
    let Expr::Call(call) = expr else {
        return None;
    };
    match (call.func.as_ref(), &call.arguments.args[..]) {
        (Expr::Attribute(attribute), [_, value])
            if attribute.attr.as_str() == "setdefault" && call.arguments.keywords.is_empty() =>
        {
            Some(value)
        }
        _ => None,
    }
}

/// The functions nested in `body` (a function's), undecorated, that it only returns
/// (`return get`): a factory's product, whose body runs where it is called, not beneath the
/// factory. One the factory calls, passes or stores runs, or may run, beneath it.
fn returned_functions(body: &[Stmt]) -> HashSet<String> {
    #[derive(Default)]
    struct Uses {
        defined: HashSet<String>,
        /// Of each name: every load, and the loads that are a returned value.
        loads: HashMap<String, (usize, usize)>,
    }
    impl<'a> Visitor<'a> for Uses {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            if let Stmt::FunctionDef(function) = stmt
                && function.decorator_list.is_empty()
            {
                self.defined.insert(function.name.to_string());
            }
            if let Stmt::Return(ast::StmtReturn {
                value: Some(value), ..
            }) = stmt
                && let Expr::Name(name) = value.as_ref()
            {
                self.loads.entry(name.id.to_string()).or_default().1 += 1;
            }
            visitor::walk_stmt(self, stmt);
        }

        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr
                && name.ctx == ast::ExprContext::Load
            {
                self.loads.entry(name.id.to_string()).or_default().0 += 1;
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut uses = Uses::default();
    uses.visit_body(body);
    let Uses { defined, loads } = uses;
    defined
        .into_iter()
        .filter(|name| {
            loads
                .get(name)
                .is_some_and(|(all, returned)| all == returned)
        })
        .collect()
}

/// The functions nested in `body` (a function's), undecorated, that it only stores as they
/// are into another object (`d[k] = f`, `d.setdefault(k, f)`), never calls, passes, returns
/// or uses otherwise: the function object is made beneath it, its body runs where it is
/// called.
fn held_functions(body: &[Stmt], self_name: Option<&str>) -> HashSet<String> {
    #[derive(Default)]
    struct Uses<'s> {
        self_name: Option<&'s str>,
        defined: HashSet<String>,
        /// Of each name: every load, and the loads that are a stored value.
        loads: HashMap<String, (usize, usize)>,
    }
    impl Uses<'_> {
        fn stored(&mut self, value: &Expr) {
            if let Expr::Name(name) = value {
                self.loads.entry(name.id.to_string()).or_default().1 += 1;
            }
        }
    }
    impl<'a> Visitor<'a> for Uses<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            // A decorator is handed the function, and may call it.
            if let Stmt::FunctionDef(function) = stmt
                && function.decorator_list.is_empty()
            {
                self.defined.insert(function.name.to_string());
            }
            if let Some(value) = stored_into_another(stmt, self.self_name) {
                self.stored(value);
            }
            visitor::walk_stmt(self, stmt);
        }

        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr
                && name.ctx == ast::ExprContext::Load
            {
                self.loads.entry(name.id.to_string()).or_default().0 += 1;
            }
            if let Some(value) = set_default_value(expr) {
                self.stored(value);
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut uses = Uses {
        self_name,
        ..Uses::default()
    };
    uses.visit_body(body);
    let Uses { defined, loads, .. } = uses;
    defined
        .into_iter()
        .filter(|name| loads.get(name).is_none_or(|(all, stored)| all == stored))
        .collect()
}

/// `x`, `x.a.b`: a name and its attributes, as a global chain; `None` for anything else.
fn global_chain(expr: &Expr) -> Option<(String, Vec<String>)> {
    match expr {
        Expr::Name(name) => Some((name.id.to_string(), Vec::new())),
        Expr::Attribute(attribute) => {
            let (head, mut attrs) = global_chain(&attribute.value)?;
            attrs.push(attribute.attr.to_string());
            Some((head, attrs))
        }
        _ => None,
    }
}

fn is_staticmethod(decorator: &ast::Decorator) -> bool {
    matches!(&decorator.expression, Expr::Name(name) if name.id.as_str() == "staticmethod")
}

/// The names a function binds locally: parameters, assignment targets, loop and `with`
/// targets, `except ... as`, imports, nested `def`/`class`, lambda parameters, anywhere in its
/// body (nested scopes included: a name local to any of them is not read as a global), less
/// those declared `global` or `nonlocal`.
#[derive(Default)]
struct Locals {
    names: HashSet<String>,
    declared_global: HashSet<String>,
    /// Whether a function or lambda is nested in it.
    nests: bool,
    /// Names bound by imports inside the function, and what they stand for (`^module:attr`).
    imported: HashMap<String, String>,
}

impl<'a> Visitor<'a> for Locals {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                self.declared_global
                    .extend(names.iter().map(ToString::to_string));
            }
            Stmt::FunctionDef(function) => {
                self.nests = true;
                self.names.insert(function.name.to_string());
                for parameter in function.parameters.iter() {
                    self.names.insert(parameter.name().to_string());
                }
            }
            Stmt::ClassDef(class) => {
                self.names.insert(class.name.to_string());
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let bound = flow::imported_name(alias, false);
                    let module = flow::imported_module(alias);
                    self.imported
                        .insert(bound.to_owned(), format!("^{module}:"));
                    self.names.insert(bound.to_owned());
                }
            }
            Stmt::ImportFrom(import) => {
                let module = flow::relative_module(import);
                for alias in &import.names {
                    let bound = flow::imported_name(alias, true).to_owned();
                    self.imported
                        .insert(bound.clone(), format!("^{module}:{}", alias.name));
                    self.names.insert(bound);
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_except_handler(&mut self, handler: &'a ast::ExceptHandler) {
        let ast::ExceptHandler::ExceptHandler(handler_node) = handler;
        if let Some(name) = &handler_node.name {
            self.names.insert(name.to_string());
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) if name.ctx != ast::ExprContext::Load => {
                self.names.insert(name.id.to_string());
            }
            Expr::Lambda(lambda) => {
                self.nests = true;
                if let Some(parameters) = &lambda.parameters {
                    for parameter in parameters.iter() {
                        self.names.insert(parameter.name().to_string());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

struct Collector<'l> {
    locals: &'l HashSet<String>,
    /// Parameters whose default is a global name or chain (`signatures=signatures`): called
    /// without them, the function works on that global, which it may write.
    aliases: &'l HashMap<String, (String, Vec<String>)>,
    /// Names imported inside the function (see `Locals::imported`).
    imported: &'l HashMap<String, String>,
    /// Names declared `global`: storing into them writes module state.
    globals: &'l HashSet<String>,
    /// Variables of the function that functions nested in it keep after the call (see
    /// `cells`): changing what one holds writes state.
    cells: &'l HashSet<String>,
    /// The method's first parameter (`self`, `cls`), if it is a method.
    self_name: Option<&'l str>,
    /// Whether the function builds a new object (`__init__`): its `self.x = ...` is no write.
    constructing: bool,
    /// Whether this is a function's code, whose writes are resolved for the bindings they
    /// reach (see `Engine::resolve_block`): there a blind mutation of a global is no read.
    function: bool,
    /// Whether what a store goes into (`Field` of `Field.count += 1`, `_CACHE` of
    /// `_CACHE[k] = v`) is a reference. Not for what a writer stores (see `flow`): the
    /// object stored into is the state, not code that computed what is stored (attrs'
    /// `_CountingAttr.cls_counter += 1` is no call of what rebuilt the class at import).
    loads_targets: bool,
    /// Whether a name stored as it is may be held (see `held`): not in a function that calls
    /// through an item (`handlers[kind](text)`), which may be what it stored.
    may_hold: bool,
    /// Functions nested in this one that it only stores as they are (see `held_functions`):
    /// their bodies run where they are called, not beneath this function.
    held_functions: &'l HashSet<String>,
    /// Functions nested in this one that it only returns (see `returned_functions`): their
    /// bodies run where the returned function is called.
    returned_functions: &'l HashSet<String>,
    found: Refs,
}

/// What an expression denotes, as far as references go.
enum Root {
    /// A global name and the attributes after it (`pkg.sub.f` is `pkg` and `[sub, f]`).
    Global(String, Vec<String>),
    /// The method's first parameter and the attributes after it.
    OwnObject(Vec<String>),
    /// A name imported inside the function (its `^module:attr` form) and the attributes after.
    Imported(String, Vec<String>),
    /// Anything else: its attributes are `.a` references.
    Other,
}

impl<'l> Collector<'l> {
    fn is_local(&self, name: &str) -> bool {
        self.locals.contains(name)
    }

    /// A collector with the same context and nothing found yet.
    fn fresh(&self) -> Collector<'l> {
        Collector {
            locals: self.locals,
            aliases: self.aliases,
            imported: self.imported,
            globals: self.globals,
            cells: self.cells,
            self_name: self.self_name,
            constructing: self.constructing,
            function: self.function,
            loads_targets: self.loads_targets,
            may_hold: self.may_hold,
            held_functions: self.held_functions,
            returned_functions: self.returned_functions,
            found: Refs::default(),
        }
    }

    /// The root of an attribute chain, without recording anything.
    fn root_of(&self, expr: &Expr) -> Root {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if Some(id) == self.self_name {
                    Root::OwnObject(Vec::new())
                } else if let Some((head, attrs)) = self.aliases.get(id) {
                    Root::Global(head.clone(), attrs.clone())
                } else if let Some(imported) = self.imported.get(id) {
                    Root::Imported(imported.clone(), Vec::new())
                } else if self.is_local(id) {
                    Root::Other
                } else {
                    Root::Global(id.to_owned(), Vec::new())
                }
            }
            Expr::Attribute(attribute) => match self.root_of(&attribute.value) {
                Root::Global(name, mut attrs) => {
                    attrs.push(attribute.attr.to_string());
                    Root::Global(name, attrs)
                }
                Root::OwnObject(mut attrs) => {
                    attrs.push(attribute.attr.to_string());
                    Root::OwnObject(attrs)
                }
                Root::Imported(base, mut attrs) => {
                    attrs.push(attribute.attr.to_string());
                    Root::Imported(base, attrs)
                }
                Root::Other => Root::Other,
            },
            _ => Root::Other,
        }
    }

    /// The reference for an expression's root and its first attributes (`x.a.b`, `self.a`):
    /// `None` for other objects.
    fn reference(root: &Root) -> Option<String> {
        match root {
            Root::Global(name, attrs) => {
                let mut text = name.clone();
                for attr in attrs.iter().take(MAX_CHAIN) {
                    text.push('.');
                    text.push_str(attr);
                }
                Some(text)
            }
            Root::OwnObject(attrs) => attrs.first().map(|attr| format!("self.{attr}")),
            Root::Imported(base, attrs) => {
                // `^module:` or `^module:attr`, then the attributes after it.
                let mut text = base.clone();
                for attr in attrs.iter().take(MAX_CHAIN) {
                    if !text.ends_with(':') {
                        text.push('.');
                    }
                    text.push_str(attr);
                }
                Some(text)
            }
            Root::Other => None,
        }
    }

    /// Records the references of an attribute chain or name that is loaded.
    fn load(&mut self, expr: &Expr) {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if let Some(imported) = self.imported.get(id) {
                    self.found.refs.insert(imported.clone());
                } else if Some(id) != self.self_name && !self.is_local(id) {
                    self.found.refs.insert(id.to_owned());
                }
            }
            Expr::Attribute(attribute) => {
                let root = self.root_of(expr);
                match &root {
                    Root::Global(_, attrs) | Root::OwnObject(attrs) | Root::Imported(_, attrs) => {
                        if let Some(reference) = Self::reference(&root) {
                            self.found.refs.insert(reference);
                        }
                        let skip = if matches!(root, Root::OwnObject(..)) {
                            1
                        } else {
                            MAX_CHAIN
                        };
                        for attr in attrs.iter().skip(skip) {
                            self.found.refs.insert(format!(".{attr}"));
                        }
                        if attrs.last().is_some_and(|attr| attr == "__dict__") {
                            self.reflective(&root);
                        }
                    }
                    Root::Other => {
                        self.found.refs.insert(format!(".{}", attribute.attr));
                        self.visit_expr(&attribute.value);
                    }
                }
            }
            _ => self.visit_expr(expr),
        }
    }

    /// `dir(x)`, `vars(x)`, `x.__dict__`, `getattr(x, computed)`: every binding of `x`.
    fn reflective(&mut self, root: &Root) {
        let attrs = match root {
            Root::Global(_, attrs) | Root::Imported(_, attrs) => attrs,
            Root::OwnObject(_) | Root::Other => return,
        };
        let kept: Vec<String> = attrs
            .iter()
            .take_while(|attr| *attr != "__dict__")
            .cloned()
            .collect();
        let root = match root {
            Root::Global(name, _) => Root::Global(name.clone(), kept),
            Root::Imported(base, _) => Root::Imported(base.clone(), kept),
            _ => return,
        };
        if let Some(text) = Self::reference(&root) {
            let separator = if text.ends_with(':') { "" } else { "." };
            self.found.refs.insert(format!("{text}{separator}*"));
        }
    }

    /// Records a store into `target` (or a mutating call on it) as a write of shared state
    /// when `target` is shared: a global (or an attribute chain on one, which may lead into
    /// another module), or an attribute of the method's own object.
    fn write(&mut self, target: &Expr, plain_attribute_store: bool) {
        let mut expr = target;
        loop {
            expr = match expr {
                Expr::Subscript(subscript) => &subscript.value,
                Expr::Call(call) => &call.func,
                _ => break,
            };
        }
        // `cache[key] = value` in a nested function that outlives the call: its closure's state.
        let mut base = expr;
        while let Expr::Attribute(attribute) = base {
            base = &attribute.value;
        }
        if let Expr::Name(name) = base
            && self.cells.contains(name.id.as_str())
            && self.is_local(name.id.as_str())
        {
            self.found.writes.insert(name.id.to_string());
            return;
        }
        match self.root_of(expr) {
            // `events._listeners.clear()`: the binding the chain reaches, which may be another
            // module's (the head names that module); its head's state all the same.
            root @ Root::Global(..) => {
                if let Some(reference) = Self::reference(&root) {
                    self.found.writes.insert(reference);
                }
            }
            root @ Root::Imported(..) => {
                if let Some(reference) = Self::reference(&root) {
                    self.found.writes.insert(reference);
                }
            }
            Root::OwnObject(attrs) => {
                // `self.x = v` in `__init__` builds the object; elsewhere it changes it.
                if let Some(first) = attrs.first()
                    && !(plain_attribute_store && self.constructing && attrs.len() == 1)
                {
                    self.found.writes.insert(format!("self.{first}"));
                }
            }
            Root::Other => {}
        }
    }

    /// Whether `expr` is a global name or an attribute chain on one (`SEEN`, `events._listeners`,
    /// a name imported inside the function), without subscripts or calls.
    fn names_global(&self, expr: &Expr) -> bool {
        let mut part = expr;
        while let Expr::Attribute(attribute) = part {
            part = &attribute.value;
        }
        matches!(part, Expr::Name(_))
            && matches!(self.root_of(expr), Root::Global(..) | Root::Imported(..))
    }

    /// The `&x` reference of a function's `d[k] = x`, `obj.a = x` or `d.setdefault(k, x)`
    /// (`value`, see `stored_into_another`) where `x` is a global name or an attribute chain on
    /// one: the object is stored as it is, which runs nothing; what it names runs where it is
    /// called (see `resolve`).
    fn held(&self, value: &Expr) -> Option<String> {
        if !self.may_hold {
            return None;
        }
        let root = self.root_of(value);
        if !matches!(root, Root::Global(..) | Root::Imported(..)) {
            return None;
        }
        let mut part = value;
        while let Expr::Attribute(attribute) = part {
            part = &attribute.value;
        }
        if !matches!(part, Expr::Name(_)) {
            return None;
        }
        Self::reference(&root).map(|reference| format!("&{reference}"))
    }

    /// A nested function that is only stored (see `held_functions`): its body's references
    /// are what a held name's are (`&x`): what they bind and the state they read, no call of
    /// what they name, no method a call may reach.
    fn held_function(&mut self, function: &ast::StmtFunctionDef) {
        for reference in self.body_run_elsewhere(function) {
            if reference.starts_with('&') {
                self.found.refs.insert(reference);
            } else if !reference.starts_with('.') {
                self.found.refs.insert(format!("&{reference}"));
            }
        }
    }

    /// A nested function that is only returned (see `returned_functions`): its body's
    /// references are `~` ones, which run where it is called.
    fn returned_function(&mut self, function: &ast::StmtFunctionDef) {
        for reference in self.body_run_elsewhere(function) {
            if reference.starts_with('~') {
                self.found.refs.insert(reference);
            } else {
                self.found.refs.insert(format!("~{reference}"));
            }
        }
    }

    /// A nested function whose body runs elsewhere than here: its decorators, defaults and
    /// annotations run here; its body's writes are this function's; returns its body's
    /// references, for the caller to mark.
    fn body_run_elsewhere(&mut self, function: &ast::StmtFunctionDef) -> HashSet<String> {
        for decorator in &function.decorator_list {
            self.visit_decorator(decorator);
        }
        self.visit_parameters(&function.parameters);
        if let Some(returns) = &function.returns {
            self.visit_annotation(returns);
        }
        let mut body = self.fresh();
        body.visit_body(&function.body);
        let Refs { refs, writes, .. } = body.found;
        self.found.writes.extend(writes);
        refs
    }

    fn literal_name(expr: &Expr) -> Option<&str> {
        match expr {
            Expr::StringLiteral(literal) => Some(literal.value.to_str()),
            _ => None,
        }
    }
}

impl<'a> Visitor<'a> for Collector<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::AugAssign(ast::StmtAugAssign { target, .. }) = stmt
            && let Expr::Name(name) = target.as_ref()
            && self.globals.contains(name.id.as_str())
        {
            self.found.writes.insert(name.id.to_string());
        }
        if let Stmt::FunctionDef(function) = stmt
            && self.held_functions.contains(function.name.as_str())
        {
            self.held_function(function);
            return;
        }
        if let Stmt::FunctionDef(function) = stmt
            && self.returned_functions.contains(function.name.as_str())
        {
            self.returned_function(function);
            return;
        }
        if let Stmt::Assign(assign) = stmt
            && let Some(held) =
                stored_into_another(stmt, self.self_name).and_then(|value| self.held(value))
        {
            for target in &assign.targets {
                self.visit_expr(target);
            }
            self.found.refs.insert(held);
            return;
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => match name.ctx {
                ast::ExprContext::Load => self.load(expr),
                _ if self.globals.contains(name.id.as_str()) => {
                    self.found.writes.insert(name.id.to_string());
                }
                _ => {}
            },
            Expr::Attribute(attribute) => {
                if attribute.ctx == ast::ExprContext::Load {
                    self.load(expr);
                } else {
                    self.write(&attribute.value, false);
                    match self.root_of(&attribute.value) {
                        // `self.x = v`: the object's own attribute; `events.LIMIT = 3`: the
                        // binding of another module (or a class's attribute) it reaches.
                        Root::OwnObject(_) | Root::Global(..) | Root::Imported(..) => {
                            self.write(expr, true);
                        }
                        Root::Other => {}
                    }
                    if self.loads_targets {
                        self.load(&attribute.value);
                    }
                }
            }
            Expr::Subscript(subscript) if subscript.ctx != ast::ExprContext::Load => {
                self.write(&subscript.value, false);
                if self.loads_targets {
                    self.load(&subscript.value);
                }
                self.visit_expr(&subscript.slice);
            }
            Expr::Call(call) => {
                let arguments = &call.arguments.args;
                if let Some(held) = set_default_value(expr).and_then(|value| self.held(value))
                    && let Expr::Attribute(attribute) = call.func.as_ref()
                {
                    // A write of the container all the same (`_HANDLERS.setdefault(k, f)`).
                    self.write(&attribute.value, false);
                    self.visit_expr(&call.func);
                    self.visit_expr(&arguments[0]);
                    self.found.refs.insert(held);
                    return;
                }
                match call.func.as_ref() {
                    Expr::Attribute(attribute)
                        if self.function
                            && BLIND_MUTATORS.contains(&attribute.attr.as_str())
                            && self.names_global(&attribute.value) =>
                    {
                        // `_listeners.append(f)`, `events._listeners.clear()`: a write that
                        // reads nothing the container holds, so no reference to its state.
                        // Unless what it is called on is a module or a class (`ops.add(2, 3)`):
                        // then it calls the function of that name there (`@ops.add`).
                        self.write(&attribute.value, false);
                        if let Some(call) = Self::reference(&self.root_of(&call.func)) {
                            self.found.refs.insert(format!("@{call}"));
                        }
                        self.visit_arguments(&call.arguments);
                        return;
                    }
                    Expr::Attribute(attribute) if MUTATORS.contains(&attribute.attr.as_str()) => {
                        self.write(&attribute.value, false);
                    }
                    Expr::Name(name)
                        if !self.is_local(name.id.as_str())
                            && matches!(
                                name.id.as_str(),
                                "getattr" | "hasattr" | "setattr" | "delattr" | "dir" | "vars"
                            ) =>
                    {
                        if let Some(object) = arguments.first() {
                            let root = self.root_of(object);
                            match arguments.get(1).and_then(Self::literal_name) {
                                Some(attr) if name.id.as_str() != "dir" => {
                                    let root = match root {
                                        Root::Global(base, mut attrs) => {
                                            attrs.push(attr.to_owned());
                                            Root::Global(base, attrs)
                                        }
                                        Root::OwnObject(mut attrs) => {
                                            attrs.push(attr.to_owned());
                                            Root::OwnObject(attrs)
                                        }
                                        Root::Imported(base, mut attrs) => {
                                            attrs.push(attr.to_owned());
                                            Root::Imported(base, attrs)
                                        }
                                        Root::Other => Root::Other,
                                    };
                                    if let Some(reference) = Self::reference(&root) {
                                        self.found.refs.insert(reference);
                                    }
                                    if matches!(name.id.as_str(), "setattr" | "delattr") {
                                        self.write(object, false);
                                    }
                                }
                                _ => self.reflective(&root),
                            }
                        }
                    }
                    Expr::Name(name)
                        if name.id.as_str() == "globals" && !self.is_local("globals") =>
                    {
                        self.found.refs.insert("*".to_owned());
                    }
                    _ => {}
                }
                visitor::walk_expr(self, expr);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

impl flow::Names for Collector<'_> {
    fn writes_in(&self, stmt: &Stmt) -> bool {
        let mut probe = self.fresh();
        probe.visit_stmt(stmt);
        !probe.found.writes.is_empty()
    }

    fn is_local(&self, name: &str) -> bool {
        Some(name) != self.self_name && self.locals.contains(name)
    }

    fn is_state(&self, expr: &Expr) -> bool {
        Self::reference(&self.root_of(expr))
            .is_some_and(|reference| self.found.writes.contains(&reference))
    }

    fn mutates(&self, name: &str) -> bool {
        MUTATORS.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use ruff_python_ast::PySourceType;
    use ruff_python_parser::parse_unchecked_source;

    use super::*;

    fn refs_of(source: &str, method: bool) -> Vec<String> {
        let parsed = parse_unchecked_source(source, PySourceType::Python);
        let body = &parsed.syntax().body;
        let function = match &body[0] {
            Stmt::FunctionDef(function) => function,
            Stmt::ClassDef(class) => match &class.body[0] {
                Stmt::FunctionDef(function) => function,
                _ => panic!("no method"),
            },
            _ => panic!("no function"),
        };
        let caches = source.contains("cache");
        let found = function_refs(function, function.name.as_str(), method, caches);
        let (refs, writes) = found.into_names();
        let mut texts: Vec<String> = refs.iter().map(ToString::to_string).collect();
        texts.extend(writes.iter().map(|write| format!("!{write}")));
        texts
    }

    #[test]
    fn globals_chains_and_attributes() {
        let refs = refs_of(
            "def f(x):\n    y = helpers.util.compute(x, LIMIT)\n    return y.total + len(x)\n",
            false,
        );
        assert_eq!(refs, [".total", "LIMIT", "helpers.util.compute", "len"]);
    }

    #[test]
    fn locals_are_not_references() {
        let refs = refs_of(
            "def f(a, *rest, key=DEFAULT):\n    for i in a:\n        b = i\n    import os\n    return os.sep, b, key, [j for j in rest]\n",
            false,
        );
        // `os` is imported inside: its attribute is that module's.
        assert_eq!(refs, ["DEFAULT", "^os:sep"]);
    }

    #[test]
    fn methods_refer_to_their_own_object() {
        let source = "class C:\n    def run(self, item):\n        return self.helper(item).value\n";
        assert_eq!(refs_of(source, true), [".value", "self.helper"]);
    }

    #[test]
    fn writes_of_shared_state() {
        let refs = refs_of(
            "def f(x):\n    global COUNT\n    COUNT += 1\n    SEEN.append(x)\n    REGISTRY[x] = 1\n    local = []\n    local.append(x)\n",
            false,
        );
        assert!(refs.contains(&"!COUNT".to_owned()), "{refs:?}");
        assert!(refs.contains(&"!SEEN".to_owned()), "{refs:?}");
        assert!(refs.contains(&"!REGISTRY".to_owned()), "{refs:?}");
        assert!(!refs.iter().any(|r| r == "!local"), "{refs:?}");
    }

    #[test]
    fn a_container_a_kept_nested_function_changes_is_written() {
        let memo = "def memoize(f):\n    cache = {}\n    def wrapper(*a):\n        if a not in cache:\n            cache[a] = f(*a)\n        return cache[a]\n    return wrapper\n";
        let refs = refs_of(memo, false);
        assert!(refs.contains(&"!cache".to_owned()), "{refs:?}");
        // Only called where it is made: the list ends with the call.
        let visit = "def collect(items):\n    out = []\n    def visit(x):\n        out.append(x)\n    for item in items:\n        visit(item)\n    return out\n";
        let refs = refs_of(visit, false);
        assert!(!refs.iter().any(|r| r.starts_with('!')), "{refs:?}");
    }

    #[test]
    fn writes_through_an_attribute_chain_name_what_it_reaches() {
        let refs = refs_of(
            "def reset():\n    events._listeners.clear()\n    pkg.state.SEEN[1] = 2\n    local = make()\n    local.items.clear()\n",
            false,
        );
        assert!(refs.contains(&"!events._listeners".to_owned()), "{refs:?}");
        assert!(refs.contains(&"!pkg.state.SEEN".to_owned()), "{refs:?}");
        let rebinds = refs_of("def reset():\n    events.LIMIT = 3\n", false);
        assert!(rebinds.contains(&"!events.LIMIT".to_owned()), "{rebinds:?}");
        assert!(!refs.iter().any(|r| r.starts_with("!local")), "{refs:?}");
    }

    #[test]
    fn appending_to_or_clearing_a_global_is_no_read_of_it() {
        let refs = refs_of(
            "def note(frame):\n    CALLS.append(frame.name)\n    events._listeners.clear()\n",
            false,
        );
        assert_eq!(
            refs,
            [
                ".name",
                "@CALLS.append",
                "@events._listeners.clear",
                "!CALLS",
                "!events._listeners"
            ]
        );
        // What a removal returns, or whether it raises, depends on what the container holds.
        let refs = refs_of("def take():\n    return SEEN.pop()\n", false);
        assert_eq!(refs, ["SEEN.pop", "!SEEN"]);
    }

    #[test]
    fn writes_through_self_outside_constructors() {
        let init = "class C:\n    def __init__(self):\n        self.table = {}\n";
        assert!(!refs_of(init, true).iter().any(|r| r.starts_with('!')));
        let fill = "class C:\n    def get(self, key):\n        self._CACHE[key] = 1\n        self.ready = True\n";
        let refs = refs_of(fill, true);
        assert!(refs.contains(&"!self._CACHE".to_owned()), "{refs:?}");
        assert!(refs.contains(&"!self.ready".to_owned()), "{refs:?}");
    }

    #[test]
    fn a_cached_function_writes_itself() {
        let refs = refs_of(
            "@functools.lru_cache\ndef load():\n    return read()\n",
            false,
        );
        assert!(refs.contains(&"!load".to_owned()), "{refs:?}");
    }

    #[test]
    fn reflection() {
        let refs = refs_of(
            "def copy(config):\n    for key in dir(settings):\n        config[key] = getattr(settings, key)\n    return getattr(other, 'NAME'), globals()\n",
            false,
        );
        assert!(refs.contains(&"settings.*".to_owned()), "{refs:?}");
        assert!(refs.contains(&"other.NAME".to_owned()), "{refs:?}");
        assert!(refs.contains(&"*".to_owned()), "{refs:?}");
    }

    fn stored_of(source: &str) -> Vec<String> {
        let parsed = parse_unchecked_source(source, PySourceType::Python);
        let Stmt::FunctionDef(function) = &parsed.syntax().body[0] else {
            panic!("no function");
        };
        let found = function_refs(function, function.name.as_str(), false, false);
        let (refs, _, stored) = found.into_ordered_names();
        refs[..stored].iter().map(ToString::to_string).collect()
    }

    #[test]
    fn what_runs_after_the_last_write_and_stores_nothing_is_not_stored() {
        let stored = stored_of(
            "def run(cmd):\n    global RUNS\n    RUNS += count()\n    out = cmd()\n    return Result(shape(out))\n",
        );
        assert_eq!(stored, ["count"]);
    }

    #[test]
    fn what_a_stored_object_is_handed_to_is_stored() {
        let stored = stored_of(
            "def load():\n    global REG\n    reg = make()\n    REG = reg\n    fill(reg, extra())\n    report(len(REG))\n    TABLE.update(rows())\n",
        );
        assert_eq!(
            stored,
            [
                "@TABLE.update",
                "REG",
                "extra",
                "fill",
                "len",
                "make",
                "report",
                "rows"
            ]
        );
    }

    #[test]
    fn a_write_in_a_handler_keeps_the_whole_try() {
        let stored = stored_of(
            "def load():\n    global V\n    try:\n        V = 1\n        check()\n    except E:\n        V = 2\n    after()\n",
        );
        assert_eq!(stored, ["E", "check"]);
    }

    #[test]
    fn what_the_written_state_is_handed_by_a_method_that_is_no_write_is_not_stored() {
        let stored = stored_of(
            "def run(cmd):\n    sys.stdout.fd = 3\n    try:\n        cmd()\n    except E as e:\n        code = e.code\n        sys.stdout.write(str(code))\n",
        );
        assert_eq!(stored, Vec::<String>::new());
    }

    #[test]
    fn a_function_stored_as_it_is_is_no_code_that_computed_what_is_stored() {
        let stored = stored_of(
            "def add_eq():\n    cd = CLS_DICT\n    SNIPPETS.append(make())\n    cd['__ne__'] = __ne__\n    cd['key'] = keyfunc(cd)\n",
        );
        assert_eq!(stored, ["@SNIPPETS.append", "CLS_DICT", "keyfunc", "make"]);
    }

    #[test]
    fn a_parameter_defaulting_to_a_global_writes_the_global() {
        let refs = refs_of(
            "def fill(info=INFO, sigs=SIGS, n=1):\n    for k in info:\n        sigs[k] = make(k)\n",
            false,
        );
        assert!(refs.contains(&"!SIGS".to_owned()), "{refs:?}");
        // The default is evaluated where the `def` stands: the parameter of the same name is
        // no global there (toolz's `create_signature_registry(signatures=signatures)`).
        let refs = refs_of(
            "def fill(info=info, sigs=sigs):\n    for k in info:\n        sigs[k] = make(k)\n",
            false,
        );
        assert!(refs.contains(&"!sigs".to_owned()), "{refs:?}");
        // A method's defaults are evaluated in its class body: no global there.
        let refs = refs_of(
            "class C:\n    def fill(self, sigs=SIGS):\n        sigs[1] = 2\n",
            true,
        );
        assert!(!refs.iter().any(|r| r.starts_with('!')), "{refs:?}");
    }

    #[test]
    fn a_nested_function_only_returned_runs_where_it_is_called() {
        let refs = refs_of(
            "def make(name, x=DEFAULT):\n    def get(key):\n        return helper(key, name)\n    return get\n",
            false,
        );
        assert_eq!(refs, ["DEFAULT", "~helper"]);
        // Called, passed or decorated: it runs, or may run, beneath the factory.
        for source in [
            "def make():\n    def get():\n        return helper()\n    get()\n    return get\n",
            "def make():\n    def get():\n        return helper()\n    return run(get)\n",
            "def make():\n    @wrap\n    def get():\n        return helper()\n    return get\n",
        ] {
            assert!(
                refs_of(source, false).contains(&"helper".to_owned()),
                "{source}"
            );
        }
    }

    #[test]
    fn a_blind_mutator_on_a_global_is_a_call_only_of_a_module_s_or_class_s_function() {
        let refs = refs_of("def f(x):\n    SEEN.add(x)\n    ops.add(1, 2)\n", false);
        assert_eq!(refs, ["@SEEN.add", "@ops.add", "!SEEN", "!ops"]);
    }

    #[test]
    fn a_name_stored_as_it_is_into_another_object_is_held_not_called() {
        let refs = refs_of(
            "def add(cls, d):\n    d['__ne__'] = __ne__\n    cls.key = mod.keyfunc\n    d['x'] = make\n    make()\n",
            false,
        );
        assert_eq!(refs, ["&__ne__", "&make", "&mod.keyfunc", "make"]);
        // Calling through an item may call what was stored there: no holding.
        let refs = refs_of(
            "def parse(text):\n    d = {}\n    d['csv'] = parse_csv\n    return d['csv'](text)\n",
            false,
        );
        assert_eq!(refs, ["parse_csv"]);
        // A strategy an object keeps for itself is called through it: no holding.
        let refs = refs_of(
            "class P:\n    def use(self):\n        self.parse = parse_v2\n        d = {}\n        d[1] = parse_v1\n",
            true,
        );
        assert_eq!(refs, ["parse_v2", "&parse_v1", "!self.parse"]);
        // At module level, a store is import-time code: no holding.
        let parsed = parse_unchecked_source("REGISTRY['a'] = f\n", PySourceType::Python);
        let found = module_refs(|visitor| {
            for stmt in &parsed.syntax().body {
                visitor.visit_stmt(stmt);
            }
        });
        assert!(found.refs.contains("f"));
    }

    #[test]
    fn set_default_stores_a_name_as_it_is() {
        let refs = refs_of(
            "def add(d):\n    d.setdefault('cb', handler)\n    HANDLERS.setdefault('x', mod.run)\n",
            false,
        );
        assert_eq!(
            refs,
            [
                "&handler",
                "&mod.run",
                ".setdefault",
                "HANDLERS.setdefault",
                "!HANDLERS"
            ]
        );
    }

    #[test]
    fn a_nested_function_only_stored_is_held_with_what_its_body_names() {
        // `show` is only put into `kwargs`: its body runs where it is called. Its names are
        // held; the method it calls on an unknown object (`.get_help`) is no call from here.
        let source = "def help_option(**kwargs):\n    def show(ctx):\n        echo(ctx.get_help())\n        SEEN.append(1)\n    kwargs.setdefault('callback', show)\n    return option(**kwargs)\n";
        assert_eq!(
            refs_of(source, false),
            ["&@SEEN.append", "&echo", ".setdefault", "option", "!SEEN"]
        );
        // Called, returned or handed to a call: its body may run beneath the function.
        for use_of_it in ["show(None)", "return show", "option(callback=show)"] {
            let source = format!(
                "def f(kwargs):\n    def show(ctx):\n        echo(ctx.get_help())\n    kwargs['callback'] = show\n    {use_of_it}\n"
            );
            let refs = refs_of(&source, false);
            assert!(refs.contains(&"echo".to_owned()), "{use_of_it}: {refs:?}");
            assert!(
                refs.contains(&".get_help".to_owned()),
                "{use_of_it}: {refs:?}"
            );
        }
        // A decorator is handed it, and may call it.
        let source = "def f(kwargs):\n    @wrap\n    def show(ctx):\n        echo(ctx)\n    kwargs['cb'] = show\n";
        assert!(refs_of(source, false).contains(&"echo".to_owned()));
        // A function that calls through an item may call what it stored: no holding.
        let source = "def f(kwargs):\n    def show(ctx):\n        echo(ctx)\n    kwargs['cb'] = show\n    kwargs['cb'](1)\n";
        assert!(refs_of(source, false).contains(&"echo".to_owned()));
    }
}
