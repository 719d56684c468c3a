//! Statements that call what may have effects while their module is imported: decorators not
//! known to be harmless, bases that may run `__init_subclass__` or a metaclass, calls in
//! defaults, assignments of what a call returns (see `FileModel::calling`).
//!
//! Where all they call is the project's code, what that code changes is known: the state its
//! functions write. Such a statement then counts for the tests that use what it binds (ran the
//! function, named it, used the class) and for the tests that read what its callees write at
//! import time (a registry a decorator fills). Where some of it is not (`app.route`,
//! `pytest.fixture`, a library base with a metaclass), nothing says what it changed: every
//! importer depends on it, as on the module's code.

use std::sync::Arc;

use crate::block::Name;
use crate::block_name::BlockName;
use crate::closure::{Function, StateKey};
use crate::engine::{Beneath, Engine};
use crate::resolve::{Code, class_of};

/// How many statements deep the question "does it call code that is not ours" is followed
/// (a decorator defined with a decorator, a base of a base).
const MAX_DEPTH: u32 = 8;

/// Standard modules whose classes register nothing elsewhere when subclassed (`ABCMeta` keeps
/// what it learns on the class) and whose decorators only check or mark what they decorate.
const HARMLESS_MODULES: &[&str] = &["abc", "collections.abc", "enum", "numbers", "typing"];

/// Standard callables that only keep what they are given in the object they return, running
/// none of it: `frozen = partial(define, frozen=True)` is a value built from `define`.
const HARMLESS_CALLS: &[&str] = &[
    "functools.partial",
    "functools.partialmethod",
    "operator.attrgetter",
    "operator.itemgetter",
    "operator.methodcaller",
];

/// Standard callables whose only effect is importing a module: what that import runs of the
/// project's is recorded as that module's import.
const IMPORTING_CALLS: &[&str] = &["importlib.import_module"];

/// Standard modules whose functions and classes compute values and keep no state that code
/// elsewhere reads (`inspect.signature`, `itertools.chain`, `re.compile`'s cache aside): a
/// project function that calls them at import changes nothing outside the project.
const COMPUTING_MODULES: &[&str] = &[
    "abc",
    "bisect",
    "collections",
    "collections.abc",
    "copy",
    "dataclasses",
    "enum",
    "functools",
    "heapq",
    "inspect",
    "itertools",
    "json",
    "keyword",
    "math",
    "numbers",
    "operator",
    "re",
    "string",
    "textwrap",
    "types",
    "typing",
];

/// Builtins that compute a value and change no state of their own: what they run of the
/// project's (a `__len__`, a `__getattr__`) the recorders see, beneath the statement.
const HARMLESS_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bool",
    "bytes",
    "callable",
    "chr",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "hasattr",
    "hash",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "ord",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Builtin types whose methods a class calls on its own instances, or on its own descriptors
/// (`super().__init__()`, `object.__setattr__(self, ...)`, `property.__get__`): what they run
/// of the project's, the recorders see.
const INSTANCE_BUILTINS: &[&str] = &["classmethod", "object", "property", "staticmethod", "super"];

/// The methods that calling a class, or subclassing it, runs.
const CLASS_HOOKS: &[&str] = &[
    "__init__",
    "__new__",
    "__call__",
    "__init_subclass__",
    "__set_name__",
    "__class_getitem__",
];

impl Engine {
    /// What block `index` of `file` calls while its module is imported, if it is one of the
    /// file's calling statements.
    fn callees(&mut self, file: Name, index: u32) -> Option<Box<[Name]>> {
        let current = self.current(file.as_str())?;
        let calling = &current.model.calling;
        let found = calling
            .binary_search_by_key(&index, |(block, _)| *block)
            .ok()?;
        Some(calling[found].1.clone())
    }

    /// Whether the calling statement of block `index` of `file` may run code that is not the
    /// project's: a callee that resolves to no project function or class, or one whose own
    /// statement (a decorated function, a class and its bases) may. False for other blocks.
    pub(crate) fn calls_outside(&mut self, file: Name, index: u32) -> bool {
        self.calls_outside_at(file, index, 0)
    }

    /// Whether a function that ran while `file` was imported, at `places` in it, counts for
    /// others than its importers only: it ran beneath calling statements that call only the
    /// project's code, which changed what they bound and the state their functions write
    /// (whose users and readers depend on it, see `Engine::ran_beneath`), and nothing else; or
    /// inside the import of another project module, whose own record has it.
    pub(crate) fn only_beneath_followed_calls(&mut self, file: Name, places: &[Beneath]) -> bool {
        for place in places {
            let followed = match *place {
                Beneath::Module => false,
                Beneath::Import => true,
                Beneath::Statement(statement) => {
                    let index = self.current(file.as_str()).and_then(|current| {
                        let index = current
                            .model
                            .blocks
                            .iter()
                            .position(|b| b.name == statement);
                        u32::try_from(index?).ok()
                    });
                    index.is_some_and(|index| !self.calls_outside(file, index))
                }
            };
            if !followed {
                return false;
            }
        }
        !places.is_empty()
    }

    fn calls_outside_at(&mut self, file: Name, index: u32, depth: u32) -> bool {
        if let Some(known) = self.calls_outside.get(&(file, index)) {
            return *known;
        }
        let Some(callees) = self.callees(file, index) else {
            return false;
        };
        if depth > MAX_DEPTH {
            return true;
        }
        // Met again while it is being answered (a cycle): the safe answer.
        self.calls_outside.insert((file, index), true);
        let mut outside = false;
        for callee in &callees {
            outside = self.callee_outside(file, *callee, depth);
            if outside {
                break;
            }
        }
        if !outside && let Some(statement) = self.bare_call(file, index) {
            outside = self.ran_with_unknown_effects(file, statement);
        }
        self.calls_outside.insert((file, index), outside);
        outside
    }

    fn callee_outside(&mut self, file: Name, callee: Name, depth: u32) -> bool {
        let statement = match self.code_named(file, callee, 0) {
            None => {
                return !self.is_harmless_import(file, callee) && !self.is_builtin(file, callee);
            }
            Some(Code::Class(path, class)) => self.class_statement(path, class),
            Some(Code::Function(path, function)) => match class_of(function) {
                Some(class) => self.class_statement(path, class),
                None => self.current(path.as_str()).and_then(|current| {
                    let index = current.model.binders(function).next()?;
                    Some((path, u32::try_from(index).ok()?))
                }),
            },
        };
        // Its own statement (the callee's decorators, a class's bases and metaclass) may call
        // what is not ours; a class folded into its module's code runs statements in its body.
        match statement {
            Some((_, 0)) | None => true,
            Some((path, index)) => self.calls_outside_at(path, index, depth + 1),
        }
    }

    /// The name of block `index` of `file`, if it is a bare call (`call:...`).
    fn bare_call(&mut self, file: Name, index: u32) -> Option<Name> {
        let current = self.current(file.as_str())?;
        let name = current.model.blocks.get(index as usize)?.name;
        matches!(BlockName::parse(name.as_str()), BlockName::Call(_)).then_some(name)
    }

    /// Whether project code that ran beneath the bare call `statement` of `file` while `file`
    /// was imported may have changed state other than the project's: it refers to library
    /// code other than builtins that only compute and standard callables that only keep what
    /// they are given or import a module, to a builtin that may act (`setattr`, `open`), or to
    /// an object that library code built. A statement that binds nothing is there for its
    /// effects: where some are unknown, no reader is known, and every importer depends on it.
    fn ran_with_unknown_effects(&mut self, file: Name, statement: Name) -> bool {
        // What it hands its callees (`configure(logging.root)`) is theirs to change.
        let own = self.current(file.as_str()).and_then(|current| {
            let block = current.model.blocks.iter().find(|b| b.name == statement)?;
            Some(block.refs().to_vec())
        });
        for reference in own.unwrap_or_default() {
            if self.may_act_outside(file, reference) {
                return true;
            }
        }
        let functions: Vec<Function> = self
            .module_imports
            .get(&file)
            .and_then(|import| import.beneath.get(&statement))
            .map(|functions| functions.iter().copied().collect())
            .unwrap_or_default();
        for (path, function) in functions {
            let Some(current) = self.current(path.as_str()) else {
                return true;
            };
            let model = Arc::clone(&current.model);
            let Some(block) = model.function(function) else {
                return true;
            };
            for reference in block.refs() {
                if self.may_act_outside(path, *reference) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether the reference `reference` in `file` may reach code or objects whose effects are
    /// not the project's (see `ran_with_unknown_effects`).
    fn may_act_outside(&mut self, file: Name, reference: Name) -> bool {
        // A returned nested function's (`~`) too: a decorator factory's runs at once.
        let text = reference.as_str().trim_start_matches(['~', '&', '@']);
        // An attribute of a local, a reflective read of everything, the instance's own.
        if text.starts_with('.') || text == "*" || text.starts_with("self.") {
            return false;
        }
        if let Some(imported) = text.strip_prefix('^') {
            let (module, attrs) = imported.split_once(':').unwrap_or((imported, ""));
            let Some(module) = self.modules.absolute(file.as_str(), module) else {
                return true;
            };
            return self.library_member(&module, attrs);
        }
        let text = text.strip_suffix(".*").unwrap_or(text);
        let (head, rest) = text.split_once('.').unwrap_or((text, ""));
        let Some(current) = self.current(file.as_str()) else {
            return true;
        };
        let model = Arc::clone(&current.model);
        let head = Name::intern(head);
        for import in model.import_bindings.iter().filter(|i| i.bound == head) {
            let Some(module) = self.modules.absolute(file.as_str(), import.module.as_str()) else {
                return true;
            };
            let imported = match import.attr {
                Some(attr) if rest.is_empty() => attr.as_str().to_owned(),
                Some(attr) => format!("{attr}.{rest}"),
                None => rest.to_owned(),
            };
            if self.library_member(&module, &imported) {
                return true;
            }
        }
        let bound = model.binders(head).next().is_some()
            || model.import_bindings.iter().any(|i| i.bound == head);
        if !bound && !self.names_module(file, head) {
            // A builtin (the capitalized ones are exceptions, warnings and constants).
            let capitalized = head.as_str().starts_with(|c: char| c.is_ascii_uppercase());
            if capitalized
                || HARMLESS_BUILTINS.contains(&head.as_str())
                || INSTANCE_BUILTINS.contains(&head.as_str())
            {
                return false;
            }
        }
        // Where the name leads, through imports and star imports: nowhere (another builtin,
        // a library's star import), to a library's name that a project module imports, or
        // to an object module-level code built that is used through its attributes, built by
        // code not known to be the project's.
        let (found, _) = self.resolve_ref(file, None, Name::intern(text), 0);
        if !bound && found.keys.is_empty() && !self.names_module(file, head) {
            return true;
        }
        // The bindings the name itself goes through, not what their values read in turn.
        let parts: Vec<&str> = text.split('.').collect();
        for &(path, name) in &found.keys {
            if !parts.contains(&name.as_str()) {
                continue;
            }
            let Some(current) = self.current(path.as_str()) else {
                continue;
            };
            let model = Arc::clone(&current.model);
            if model.function(name).is_some() || model.class(name).is_some() {
                continue;
            }
            // This file's own import of the head was read above, with the attributes used.
            let own = (path, name) == (file, head);
            for import in model
                .import_bindings
                .iter()
                .filter(|i| i.bound == name && !own)
            {
                let Some(module) = self.modules.absolute(path.as_str(), import.module.as_str())
                else {
                    return true;
                };
                let attr = import.attr.map_or(String::new(), |attr| attr.to_string());
                if self.library_member(&module, &attr) {
                    return true;
                }
            }
            if rest.is_empty() {
                continue;
            }
            for index in model.binders(name).collect::<Vec<_>>() {
                let built_outside = index == 0
                    || (model.is_calling(index)
                        && u32::try_from(index).is_ok_and(|index| self.calls_outside(path, index)));
                if built_outside {
                    return true;
                }
            }
        }
        false
    }

    /// Whether `attrs` (`a.b`, or empty for the module itself) of the module `module` is a
    /// library's member that may act: not a project module's, nor a standard callable that
    /// only keeps what it is given or imports a module, nor a member of a standard module
    /// that only computes (see `COMPUTING_MODULES`).
    fn library_member(&self, module: &str, attrs: &str) -> bool {
        let first = attrs.split('.').next().unwrap_or_default();
        let member = format!("{module}.{first}");
        if self.modules.path_of(module).is_some() || self.modules.path_of(&member).is_some() {
            return false;
        }
        !is_harmless_standard(&member) && !COMPUTING_MODULES.contains(&module)
    }

    /// Whether `callee` is imported from a standard module whose classes and decorators have
    /// no effects elsewhere when subclassed or applied (`collections.abc.MutableMapping`, an
    /// `abc` or `typing` base, `enum.unique`), or is one of `HARMLESS_CALLS`. Named through
    /// its import, so a project class of the same name is not mistaken for one.
    fn is_harmless_import(&mut self, file: Name, callee: Name) -> bool {
        let Some(current) = self.current(file.as_str()) else {
            return false;
        };
        let text = callee.as_str();
        let (head, rest) = text.split_once('.').unwrap_or((text, ""));
        current.model.import_bindings.iter().any(|import| {
            if import.bound.as_str() != head || import.module.as_str().starts_with('.') {
                return false;
            }
            let mut full = import.module.as_str().to_owned();
            for part in [import.attr.map_or("", |attr| attr.as_str()), rest] {
                if !part.is_empty() {
                    full = format!("{full}.{part}");
                }
            }
            HARMLESS_CALLS.contains(&full.as_str())
                || full
                    .rsplit_once('.')
                    .is_some_and(|(module, _)| HARMLESS_MODULES.contains(&module))
        })
    }

    /// Whether `callee` is one of `HARMLESS_BUILTINS`: a bare name that `file` binds nowhere.
    fn is_builtin(&mut self, file: Name, callee: Name) -> bool {
        HARMLESS_BUILTINS.contains(&callee.as_str())
            && self.current(file.as_str()).is_some_and(|current| {
                let model = &current.model;
                model.binders(callee).next().is_none()
                    && model.star_imports.is_empty()
                    && !model.import_bindings.iter().any(|i| i.bound == callee)
            })
    }

    /// The block of the top-level statement that defines the class `class` of `file` (0 when it
    /// is part of the module's code).
    fn class_statement(&mut self, file: Name, class: Name) -> Option<(Name, u32)> {
        let current = self.current(file.as_str())?;
        Some((file, current.model.class(class)?.block))
    }

    /// The shared state the calling statement of block `index` of `file` may write through the
    /// project code it calls: the module-level names and class attributes that its callees, and
    /// what they may call, write. Attributes of instances are left out: an instance made during
    /// the call (attrs' class builder) is gone when the statement is done, and one that outlives
    /// it is held by a module-level name or a class attribute, which the write goes through.
    pub(crate) fn import_writes(&mut self, file: Name, index: u32) -> Arc<[StateKey]> {
        if let Some(known) = self.import_writes.get(&(file, index)) {
            return Arc::clone(known);
        }
        let Some(callees) = self.callees(file, index) else {
            return Arc::default();
        };
        let mut roots: Vec<Function> = Vec::new();
        for callee in &callees {
            match self.code_named(file, *callee, 0) {
                Some(Code::Function(path, function)) => roots.push((path, function)),
                Some(Code::Class(path, class)) => self.class_hooks(path, class, 0, &mut roots),
                None => {}
            }
        }
        let mut functions: Vec<Function> = Vec::new();
        for (path, function) in roots {
            let closure = self.memo_closure(path, function);
            functions.extend(closure.iter().map(|(by, _)| *by));
        }
        functions.sort_unstable();
        functions.dedup();
        let mut keys = Vec::new();
        // What a bare call hands its callees (`configure(SETTINGS)`) they may change: it is
        // there for its effects.
        if self.bare_call(file, index).is_some() {
            let references = self
                .current(file.as_str())
                .and_then(|current| Some(current.model.blocks.get(index as usize)?.refs().to_vec()))
                .unwrap_or_default();
            for reference in references.iter().filter(|r| !callees.contains(r)) {
                let (found, _) = self.resolve_ref(file, None, *reference, 0);
                for &key in &found.keys {
                    if self.is_shared_state(key) {
                        keys.push(key);
                    }
                }
            }
        }
        for (path, function) in functions {
            let mut written = self.written_keys(path, function);
            written.extend(self.objects_used(path, function));
            for key in written {
                if self.is_shared_state(key) {
                    keys.push(key);
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let keys: Arc<[StateKey]> = keys.into();
        self.import_writes.insert((file, index), Arc::clone(&keys));
        keys
    }

    /// The module-level objects whose attributes `function` uses (`app.add_url_rule(...)`,
    /// `parser.add_argument(...)`): objects module-level code built by a call, not functions,
    /// classes, modules or constants. Whether a method call changes its object is not known, so at import time each
    /// counts as a write of it: a project decorator that registers through a library object
    /// the project holds writes that object.
    fn objects_used(&mut self, file: Name, function: Name) -> Vec<StateKey> {
        let Some(current) = self.current(file.as_str()) else {
            return Vec::new();
        };
        let Some(block) = current.model.function(function) else {
            return Vec::new();
        };
        let heads: Vec<Name> = block
            .refs()
            .iter()
            // A returned nested function's (`~`) too: a decorator factory's runs at once.
            .filter_map(|reference| reference.as_str().trim_start_matches('~').split_once('.'))
            .map(|(head, _)| head)
            .filter(|head| {
                !head.is_empty() && *head != "self" && !head.starts_with(['^', '&', '@'])
            })
            .map(Name::intern)
            .collect();
        let mut keys = Vec::new();
        for head in heads {
            if self.names_module(file, head) || self.code_named(file, head, 0).is_some() {
                continue;
            }
            let (found, _) = self.resolve_ref(file, None, head, 0);
            for &(path, name) in &found.keys {
                // An object that module-level code built by a call; a value a binding statement
                // holds (a string, a tuple, a list literal) changes only through the writes a
                // function makes itself (`items.append(x)`), which are its writes already.
                let built = self.current(path.as_str()).is_some_and(|current| {
                    let model = &current.model;
                    model
                        .binders(name)
                        .any(|block| block == 0 || model.is_calling(block))
                });
                if built {
                    keys.push((path, name));
                }
            }
        }
        keys
    }

    /// The methods of `class` and of its project bases that calling or subclassing it runs.
    fn class_hooks(&mut self, file: Name, class: Name, depth: u32, out: &mut Vec<Function>) {
        let Some(current) = self.current(file.as_str()) else {
            return;
        };
        let model = Arc::clone(&current.model);
        for hook in CLASS_HOOKS {
            let method = Name::intern(&format!("{class}.{hook}"));
            if model.function(method).is_some() {
                out.push((file, method));
            }
        }
        let Some(info) = model.class(class) else {
            return;
        };
        if depth < MAX_DEPTH {
            for base in &info.bases {
                if let Some(Code::Class(path, base)) = self.code_named(file, *base, 0) {
                    self.class_hooks(path, base, depth + 1, out);
                }
            }
        }
    }

    /// Whether `key` names project state that outlives the call writing it: a name a
    /// module-level statement binds, or an attribute its class binds (a class attribute, a
    /// method), not one each instance gets. A library module written through
    /// (`linecache.cache[name] = ...`) holds the library's state, which only code of the same
    /// file would read through the same key: attrs caches the source of every class it builds
    /// there.
    fn is_shared_state(&mut self, (file, name): StateKey) -> bool {
        let Some(current) = self.current(file.as_str()) else {
            return true;
        };
        let library = current.model.import_bindings.iter().any(|import| {
            import.bound == name
                && self
                    .modules
                    .absolute(file.as_str(), import.module.as_str())
                    .is_none_or(|module| self.modules.path_of(&module).is_none())
        });
        if library {
            return false;
        }
        let Some(class) = class_of(name) else {
            // A name no module-level statement binds is no state any reader finds (a
            // `nonlocal` counter in a closure).
            return current.model.binders(name).next().is_some();
        };
        let Some(info) = current.model.class(class) else {
            return true;
        };
        let attribute = name.as_str().rsplit('.').next().unwrap_or_default();
        current.model.function(name).is_some()
            || info
                .attributes
                .iter()
                .any(|bound| bound.as_str() == attribute)
    }
}

/// Whether the dotted name `full` (`importlib.import_module`) is a standard callable that only
/// keeps what it is given or only imports a module.
fn is_harmless_standard(full: &str) -> bool {
    HARMLESS_CALLS.contains(&full) || IMPORTING_CALLS.contains(&full)
}
