//! Resolving references (see `refs`) to what they reach, following Python's rules for names:
//! a global name is looked up among its module's top-level bindings, then through its star
//! imports; a name bound by an import leads to the imported module or to the binding of the
//! imported name there (a re-export forwards, it is not a use); an attribute chain on a module
//! leads into it (or into its submodule); an attribute of a class, or of a method's own
//! object, to the class's statement and method of that name, then to its bases'.
//!
//! What a reference reaches is what the code that holds it depends on: the binding statements
//! (and, transitively, what their values refer to), the headers of the functions it names, the
//! statements of the classes it uses. The functions it names are followed by the callers that
//! want them (memo closures, see `record`); the state it reads is given as keys, which the
//! functions that write that state are found by.

use std::sync::Arc;

use crate::block::{Block, BlockKind, FileModel, Name};
use crate::block_name::{self, BlockName};
use crate::closure::{Function, Resolved, StateKey};
use crate::engine::Engine;
use crate::fasthash::FastSet;

/// How deep resolution follows bindings, imports and bases before it stops.
const MAX_DEPTH: u32 = 16;

/// The name of a module's `__getattr__`, which Python calls for the names the module lacks.
pub(crate) fn module_getattr() -> Name {
    Name::intern("__getattr__")
}

/// What a name denotes in a module, beyond the bindings it depends on.
enum Denotes {
    Module(String),
    Class(Name, Name),
    Function(Name, Name),
    Other,
}

/// Project code a dotted name denotes: a class or a function, `(file, qualified name)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    Class(Name, Name),
    Function(Name, Name),
}

impl Engine {
    /// What the references of the function or binding block `name` of `file` reach (with its
    /// class as the context of `self.` references); cached for the session.
    pub(crate) fn resolve_block(&mut self, file: Name, name: Name) -> Arc<Resolved> {
        let key = (file, name);
        if let Some(found) = self.resolved_blocks.get(&key) {
            return Arc::clone(found);
        }
        let (resolved, complete) = self.resolve_picked_refs(file, name, Block::refs);
        if complete {
            self.resolved_blocks.insert(key, Arc::clone(&resolved));
        }
        resolved
    }

    /// What the references of the code of the function `name` of `file` that can reach the
    /// state it writes reach (see `Block::stored_refs`); not cached (memo closures are).
    pub(crate) fn resolve_stored(&mut self, file: Name, name: Name) -> Arc<Resolved> {
        self.resolve_picked_refs(file, name, Block::stored_refs).0
    }

    /// What the references `refs` picks of the block `name` of `file` reach, and the bindings
    /// it writes into; whether the answer is complete.
    fn resolve_picked_refs(
        &mut self,
        file: Name,
        name: Name,
        refs: fn(&Block) -> &[Name],
    ) -> (Arc<Resolved>, bool) {
        let Some(current) = self.current(file.as_str()) else {
            return (Arc::default(), true);
        };
        let Some(block) = current.model.blocks.iter().find(|b| b.name == name) else {
            return (Arc::default(), true);
        };
        let class = match block.kind {
            BlockKind::Function => class_of(name),
            _ => None,
        };
        let mut resolved = Resolved::default();
        let mut complete = true;
        for reference in refs(block) {
            let (found, whole) = self.resolve_ref(file, class, *reference, 0);
            complete &= whole;
            resolved.extend(&found);
        }
        // The bindings a function writes into are what it depends on too (a list it appends
        // to must still be one), though writing is no read of their state.
        for write in block.writes() {
            if write.as_str().starts_with("self.") {
                continue;
            }
            let (found, whole) = self.resolve_ref(file, class, *write, 0);
            complete &= whole;
            resolved.deps.extend_from_slice(&found.deps);
        }
        (Arc::new(resolved.settle()), complete)
    }

    /// What the state writes of the function `name` of `file` reach: the keys it writes.
    pub(crate) fn written_keys(&mut self, file: Name, name: Name) -> Vec<StateKey> {
        let Some(current) = self.current(file.as_str()) else {
            return Vec::new();
        };
        let Some(block) = current.model.function(name) else {
            return Vec::new();
        };
        let class = class_of(name);
        let mut keys = Vec::new();
        let writes: Vec<Name> = self.kept_writes(block).collect();
        for write in &writes {
            let (found, _) = self.resolve_ref(file, class, *write, 0);
            if found.keys.is_empty() {
                // Written but bound nowhere statically (`global X` only ever assigned inside
                // functions): the state is the name in this module all the same.
                keys.push(own_key(file, class, write.as_str()));
            }
            keys.extend(found.keys.iter().copied());
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Resolves one reference in `file` (`class`: the class of the method holding it). The
    /// flag says whether the answer is complete (no cycle cut it short), so may be cached.
    pub(crate) fn resolve_ref(
        &mut self,
        file: Name,
        class: Option<Name>,
        reference: Name,
        depth: u32,
    ) -> (Arc<Resolved>, bool) {
        let text = reference.as_str();
        // `~r`: what a returned nested function refers to: the function's block holds that
        // code, and a test recorded running it may have run either.
        if let Some(deferred) = text.strip_prefix('~') {
            return self.resolve_ref(file, class, Name::intern(deferred), depth);
        }
        // `.attr` of an unknown object reaches nothing by itself.
        if text.starts_with('.') {
            return (Arc::default(), true);
        }
        // `&x`: `x` stored as it is. What it binds and the state it reads are the stored
        // object; the functions and classes it names run where they are called, as they read
        // then, so a memo closure does not follow them.
        if let Some(held) = text.strip_prefix('&') {
            let (found, complete) = self.resolve_ref(file, class, Name::intern(held), depth);
            let kept = Resolved {
                deps: found.deps.clone(),
                keys: found.keys.clone(),
                ..Resolved::default()
            };
            return (Arc::new(kept), complete);
        }
        let context = if text.starts_with("self.") {
            class
        } else {
            None
        };
        let key = (file, reference, context);
        if let Some(found) = self.resolved.get(&key) {
            return (Arc::clone(found), true);
        }
        let outermost = self.resolving.is_empty();
        if outermost {
            self.depth_cut = false;
        }
        // Asked before in this outermost resolution, no shallower than now: the same answer.
        if let Some((found, asked_at)) = self.partial.get(&key)
            && *asked_at <= depth
        {
            return (Arc::clone(found), false);
        }
        if depth > MAX_DEPTH {
            self.depth_cut = true;
            return (Arc::default(), false); // too deep: stop here
        }
        if !self.resolving.insert(key) {
            return (Arc::default(), false); // a cycle: stop here
        }
        let mut resolved = Resolved::default();
        let mut complete = self.resolve_text(file, context, text, depth, &mut resolved);
        self.resolving.remove(&key);
        // The outermost answer holds everything reachable unless depth cut it: what a cycle
        // cut inside it was reached (and added) where the cycle began.
        complete |= outermost && !self.depth_cut;
        let resolved = Arc::new(resolved.settle());
        if complete {
            self.resolved.insert(key, Arc::clone(&resolved));
        } else {
            self.partial.insert(key, (Arc::clone(&resolved), depth));
        }
        if self.resolving.is_empty() {
            self.partial.clear(); // the outermost resolution is over
        }
        (resolved, complete)
    }

    fn resolve_text(
        &mut self,
        file: Name,
        class: Option<Name>,
        text: &str,
        depth: u32,
        out: &mut Resolved,
    ) -> bool {
        if text == "*" {
            return self.every_binding(file, depth, out);
        }
        if let Some(call) = text.strip_prefix('@') {
            // `@x.add`: a call of `x`'s `add`, where `x` is a module or a class; otherwise a
            // blind write of the state `x` holds, which reads none of it.
            let Some((receiver, _)) = call.rsplit_once('.') else {
                return true;
            };
            if !self.holds_code(file, receiver) {
                return true;
            }
            return self.resolve_text(file, class, call, depth, out);
        }
        if let Some(imported) = text.strip_prefix('^') {
            // A name imported inside a function: `^module:attr.more`.
            let (module, attrs) = imported.split_once(':').unwrap_or((imported, ""));
            let Some(module) = self.modules.absolute(file.as_str(), module) else {
                return true;
            };
            let attrs: Vec<&str> = attrs.split('.').filter(|a| !a.is_empty()).collect();
            return self.walk(Denotes::Module(module), &attrs, depth, out);
        }
        let mut parts = text.split('.');
        let head = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        if head == "self" {
            let (Some(class), Some(attr)) = (class, rest.first()) else {
                return true;
            };
            if *attr == "*" {
                return true;
            }
            return self.class_attr(file, class, Name::intern(attr), depth, out);
        }
        let mut complete = true;
        let denotes = self.global(file, Name::intern(head), depth, out, &mut complete);
        complete & self.walk(denotes, &rest, depth, out)
    }

    /// Follows attributes from what a name denotes: into modules, submodules and classes.
    fn walk(
        &mut self,
        mut denotes: Denotes,
        attrs: &[&str],
        depth: u32,
        out: &mut Resolved,
    ) -> bool {
        let mut complete = true;
        for &attr in attrs {
            denotes = match denotes {
                Denotes::Module(module) => {
                    let Some(path) = self.modules.path_of(&module).map(str::to_owned) else {
                        break;
                    };
                    let path = Name::intern(&path);
                    if attr == "*" {
                        complete &= self.every_binding(path, depth, out);
                        break;
                    }
                    let submodule = format!("{module}.{attr}");
                    if self.modules.path_of(&submodule).is_some() {
                        Denotes::Module(submodule)
                    } else {
                        self.module_attr(path, Name::intern(attr), depth + 1, out, &mut complete)
                    }
                }
                Denotes::Class(path, qualname) => {
                    if attr != "*" {
                        complete &= self.class_attr(path, qualname, Name::intern(attr), depth, out);
                    }
                    break;
                }
                Denotes::Function(..) | Denotes::Other => break,
            };
        }
        complete
    }

    /// Every top-level binding of `file` (a reflective read of the module).
    pub(crate) fn every_binding(&mut self, file: Name, depth: u32, out: &mut Resolved) -> bool {
        self.bindings_where(file, depth, out, |_| true)
    }

    /// The top-level bindings of `file` whose statement's block `keep` accepts.
    fn bindings_where(
        &mut self,
        file: Name,
        depth: u32,
        out: &mut Resolved,
        keep: impl Fn(&Block) -> bool,
    ) -> bool {
        let Some(current) = self.current(file.as_str()) else {
            return true;
        };
        let model = &current.model;
        let names: FastSet<Name> = model
            .bindings
            .iter()
            .filter(|(_, block)| keep(&model.blocks[*block as usize]))
            .map(|(name, _)| *name)
            .collect();
        let mut complete = true;
        for name in names {
            self.global(file, name, depth + 1, out, &mut complete);
        }
        complete
    }

    /// What a reader we do not observe (Django's settings, copied with `dir()`; a URLconf read
    /// by name) takes from `file`: every top-level binding but those of `def` and `class`
    /// statements. A function counts for the tests that run it, which are recorded doing so,
    /// and a class for those that use it; counting them for every importer of a module
    /// imported unseen made every change to it select the whole suite.
    pub(crate) fn every_value(&mut self, file: Name, out: &mut Resolved) {
        self.bindings_where(file, 0, out, |block| {
            !matches!(
                BlockName::parse(block.name.as_str()),
                BlockName::DefHeader(_) | BlockName::Class(_)
            )
        });
    }

    /// Resolves the global `name` in `file`: adds what it depends on to `out` and says what the
    /// name denotes.
    fn global(
        &mut self,
        file: Name,
        name: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) -> Denotes {
        let denotes = self.bound_global(file, name, depth, out, complete);
        self.namespace_update(file, name, depth, out, complete);
        denotes
    }

    /// What `globals().update(...)` in `file` (its `=*` block) binds may be `name`, or rebind
    /// it: its statement, what its value refers to and what its calls ran. It denotes no
    /// function or class of a statement's.
    fn namespace_update(
        &mut self,
        file: Name,
        name: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) {
        let namespace = Name::intern(block_name::NAMESPACE);
        if name == namespace {
            return; // a reflective read: `bound_global` has it
        }
        let Some(current) = self.current(file.as_str()) else {
            return;
        };
        let model = Arc::clone(&current.model);
        for index in model.binders(namespace) {
            let block = &model.blocks[index];
            out.deps.push((file, block.name, block.checksum));
            out.keys.push((file, name));
            self.resolve_refs_of(file, block, depth, out, complete);
            self.ran_beneath(file, block.name, depth, out, complete);
        }
    }

    /// The part of `global` that statements decide: what binds `name` by name, an import, or
    /// a star import.
    fn bound_global(
        &mut self,
        file: Name,
        name: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) -> Denotes {
        if depth > MAX_DEPTH {
            self.depth_cut = true;
            *complete = false;
            return Denotes::Other;
        }
        let Some(current) = self.current(file.as_str()) else {
            return Denotes::Other;
        };
        let model = Arc::clone(&current.model);
        let mut denotes = Denotes::Other;
        let mut bound = false;
        for index in model.binders(name).collect::<Vec<_>>() {
            bound = true;
            let block = &model.blocks[index];
            out.deps.push((file, block.name, block.checksum));
            out.keys.push((file, name));
            // The function a `def` made: `f#2` of the second `def f` (in another branch).
            let function = block_name::header_function(block.name.as_str())
                .and_then(Name::find)
                .unwrap_or(name);
            if model.function(function).is_some() {
                out.functions.push((file, function));
                denotes = Denotes::Function(file, name);
            }
            let class = model.class(name);
            if let Some(class) = class {
                out.classes.push((file, class.qualname));
                denotes = Denotes::Class(file, class.qualname);
            }
            // What the binding's value refers to (a constant built from others, a class's
            // bases, decorators and attributes, a def's decorators and defaults), and what its
            // calls ran.
            match class.filter(|class| class.block as usize == index) {
                Some(class) if !class.decorators.is_empty() => {
                    let decorators = class.decorators.clone();
                    self.resolve_class_statement(file, block, &decorators, depth, out, complete);
                }
                _ => self.resolve_refs_of(file, block, depth, out, complete),
            }
            self.ran_beneath(file, block.name, depth, out, complete);
        }
        for import in model
            .import_bindings
            .iter()
            .filter(|import| import.bound == name)
        {
            bound = true;
            let Some(module) = self.modules.absolute(file.as_str(), import.module.as_str()) else {
                continue;
            };
            denotes = match import.attr {
                None => Denotes::Module(module),
                Some(attr) => {
                    let submodule = format!("{module}.{attr}");
                    if self.modules.path_of(&submodule).is_some() {
                        Denotes::Module(submodule)
                    } else if let Some(path) = self.modules.path_of(&module).map(str::to_owned) {
                        self.module_attr(Name::intern(&path), attr, depth + 1, out, complete)
                    } else {
                        Denotes::Other // a library: its code is not ours to track
                    }
                }
            };
        }
        if !bound {
            denotes = self.through_star_imports(file, &model, name, depth, out, complete);
        }
        if matches!(denotes, Denotes::Other) && !bound {
            // Importing `pkg.sub` binds `sub` in `pkg`'s namespace: a package's `__init__.py`
            // that imports `from .sub import *` names the submodule `sub` after it.
            if let Some(submodule) = self.own_submodule(file, name) {
                denotes = Denotes::Module(submodule);
            }
        }
        denotes
    }

    /// The project module `name` names inside the package whose `__init__.py` is `file`.
    fn own_submodule(&self, file: Name, name: Name) -> Option<String> {
        let package = file
            .as_str()
            .ends_with("__init__.py")
            .then(|| self.modules.name_of(file.as_str()))??;
        let submodule = format!("{package}.{name}");
        self.modules
            .path_of(&submodule)
            .is_some()
            .then_some(submodule)
    }

    /// The attribute `name` of the module `file`, looked up from outside it: its binding, or,
    /// when it binds none, what the module's `__getattr__` may hand out (PEP 562: the lookup of
    /// a name a module lacks calls it).
    fn module_attr(
        &mut self,
        file: Name,
        name: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) -> Denotes {
        let before = out.deps.len();
        let denotes = self.bound_global(file, name, depth, out, complete);
        let bound = out.deps.len() > before || !matches!(denotes, Denotes::Other);
        // A namespace update may bind it, or not: then the lookup calls `__getattr__`.
        self.namespace_update(file, name, depth, out, complete);
        if bound {
            return denotes;
        }
        let getattr = module_getattr();
        let Some(current) = self.current(file.as_str()) else {
            return denotes;
        };
        let model = Arc::clone(&current.model);
        let Some(function) = model.function(getattr) else {
            return denotes;
        };
        // Its statement, and what its body, which the lookup runs, refers to.
        self.global(file, getattr, depth, out, complete);
        out.deps.push((file, function.name, function.checksum));
        self.resolve_refs_of(file, function, depth, out, complete);
        denotes
    }

    /// Adds what the references of `block` of `file` reach, one level deeper than `depth`.
    fn resolve_refs_of(
        &mut self,
        file: Name,
        block: &Block,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) {
        for reference in block.refs() {
            let (found, whole) = self.resolve_ref(file, None, *reference, depth + 1);
            *complete &= whole;
            out.extend(&found);
        }
    }

    /// Adds what the references of the class statement `block` of `file` reach, those only
    /// its `decorators` make as code that ran when the statement ran (see `class_decorator`).
    fn resolve_class_statement(
        &mut self,
        file: Name,
        block: &Block,
        decorators: &[Name],
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) {
        for reference in block.refs() {
            if decorators.binary_search(reference).is_ok() {
                self.class_decorator(file, *reference, depth + 1, out, complete);
                continue;
            }
            let (found, whole) = self.resolve_ref(file, None, *reference, depth + 1);
            *complete &= whole;
            out.extend(&found);
        }
    }

    /// A class decorator `reference` of `file`: the class's users depend on it as on code that
    /// ran defining the class (see `ran_defining`). What ran then, and what that read, was
    /// recorded beneath the statement (see `ran_beneath`) if the import was observed; a memo
    /// closure takes the decorator's code too, where it may have run (see `defining`).
    fn class_decorator(
        &mut self,
        file: Name,
        reference: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) {
        let (found, whole) = self.resolve_ref(file, None, reference, depth);
        *complete &= whole;
        out.deps.extend_from_slice(&found.deps);
        out.classes.extend_from_slice(&found.classes);
        out.keys.extend_from_slice(&found.keys);
        for &(path, function) in &found.functions {
            out.defining.push((path, function));
            let Some(current) = self.current(path.as_str()) else {
                continue;
            };
            let model = Arc::clone(&current.model);
            if let Some(body) = model.function(function) {
                self.ran_defining((path, function), body, false, depth, out, complete);
            }
        }
    }

    /// What `function` (its block `body`), which ran defining a class (a decorator, a base's
    /// `__init_subclass__`), holds. What it called ran then: it is not code that using the
    /// class runs. What it stored as it is (`cls.area = area`, a nested function or another)
    /// is: the class holds it. So the class's users call only what it holds, and depend on
    /// what it `reads` where that stands for what ran.
    fn ran_defining(
        &mut self,
        (path, function): Function,
        body: &Block,
        reads: bool,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) {
        for reference in body.refs() {
            // What it stored as it is, or returned in place of the class (a nested function:
            // `~` references), is called where the class is used.
            let held = reference
                .as_str()
                .strip_prefix('&')
                .or_else(|| reference.as_str().strip_prefix('~'));
            if held.is_none() && !reads {
                continue;
            }
            let followed = held.map_or(*reference, Name::intern);
            let (found, whole) = self.resolve_ref(path, class_of(function), followed, depth + 1);
            *complete &= whole;
            if held.is_some() {
                out.extend(&found);
            } else {
                out.deps.extend_from_slice(&found.deps);
                out.keys.extend_from_slice(&found.keys);
            }
        }
    }

    /// The functions that ran beneath the top-level statement `statement` of `file` while
    /// `file` was imported, and what they refer to: what the statement bound is what they
    /// made (`add = Wrapped(_add)` ran `Wrapped.__init__`), so its users depend on them.
    /// Beneath a class statement they ran defining the class (see `ran_defining`).
    pub(crate) fn ran_beneath(
        &mut self,
        file: Name,
        statement: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) {
        let Some(functions) = self
            .module_imports
            .get(&file)
            .and_then(|import| import.beneath.get(&statement))
        else {
            return;
        };
        let mut functions: Vec<Function> = functions.iter().copied().collect();
        functions.sort_unstable();
        let defined = matches!(BlockName::parse(statement.as_str()), BlockName::Class(_));
        for (path, function) in functions {
            let Some(current) = self.current(path.as_str()) else {
                continue;
            };
            let model = Arc::clone(&current.model);
            let Some(block) = model.function(function) else {
                continue;
            };
            out.deps.push((path, block.name, block.checksum));
            if defined {
                self.ran_defining((path, function), block, true, depth, out, complete);
                continue;
            }
            for reference in block.refs() {
                let (found, whole) =
                    self.resolve_ref(path, class_of(function), *reference, depth + 1);
                *complete &= whole;
                out.extend(&found);
            }
        }
    }

    /// A name a module does not bind itself, looked up in the modules it star-imports (and
    /// their `__all__`, which decides what a star import takes).
    fn through_star_imports(
        &mut self,
        file: Name,
        model: &FileModel,
        name: Name,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) -> Denotes {
        let all = Name::intern("__all__");
        for module in &model.star_imports {
            let Some(module) = self.modules.absolute(file.as_str(), module.as_str()) else {
                continue;
            };
            let Some(path) = self.modules.path_of(&module).map(str::to_owned) else {
                continue;
            };
            let path = Name::intern(&path);
            let before = out.deps.len();
            let denotes = self.global(path, name, depth + 1, out, complete);
            if out.deps.len() > before || !matches!(denotes, Denotes::Other) {
                self.global(path, all, depth + 1, out, complete);
                return denotes;
            }
        }
        Denotes::Other
    }

    /// An attribute of the class `qualname` of `file`: its method of that name, its statement
    /// (class attributes live there), and the same in its bases.
    fn class_attr(
        &mut self,
        file: Name,
        qualname: Name,
        attr: Name,
        depth: u32,
        out: &mut Resolved,
    ) -> bool {
        if depth > MAX_DEPTH {
            self.depth_cut = true;
            return false;
        }
        let Some(current) = self.current(file.as_str()) else {
            return true;
        };
        let model = Arc::clone(&current.model);
        let Some(class) = model.class(qualname) else {
            return true;
        };
        let member = Name::intern(&format!("{qualname}.{attr}"));
        out.keys.push((file, member));
        if let Some(method) = model.function(member) {
            out.deps.push((file, method.name, method.checksum));
            out.functions.push((file, member));
        }
        if let Some(inner) = model.class(member) {
            out.classes.push((file, inner.qualname));
        }
        let statement = &model.blocks[class.block as usize];
        out.deps.push((file, statement.name, statement.checksum));
        let mut complete = true;
        for base in class.bases.clone() {
            let (found, whole) = self.resolve_ref(file, None, base, depth + 1);
            complete &= whole;
            out.deps.extend_from_slice(&found.deps);
            // Into the class the base names, not every class its statement reaches: following
            // those too multiplied at every level (minutes per test on click).
            if let Some((base_file, base_class)) = self.class_named(file, base, depth + 1) {
                complete &= self.class_attr(base_file, base_class, attr, depth + 1, out);
            }
        }
        complete
    }

    /// The class `reference` (a dotted name in `file`, such as a base) denotes, if any.
    fn class_named(&mut self, file: Name, reference: Name, depth: u32) -> Option<(Name, Name)> {
        match self.code_named(file, reference, depth)? {
            Code::Class(file, qualname) => Some((file, qualname)),
            Code::Function(..) => None,
        }
    }

    /// Whether `name` names a module in `file` (`import x`, `from pkg import submodule`).
    pub(crate) fn names_module(&mut self, file: Name, name: Name) -> bool {
        let mut scratch = Resolved::default();
        let mut complete = true;
        let denotes = self.global(file, name, 0, &mut scratch, &mut complete);
        matches!(denotes, Denotes::Module(_))
    }

    /// The attribute `attr` of the module `module` as its own code looks it up: a submodule,
    /// or what its global of that name denotes; `None` when the module is not the project's.
    fn module_member(
        &mut self,
        module: &str,
        attr: &str,
        depth: u32,
        out: &mut Resolved,
        complete: &mut bool,
    ) -> Option<Denotes> {
        let submodule = format!("{module}.{attr}");
        if self.modules.path_of(&submodule).is_some() {
            return Some(Denotes::Module(submodule));
        }
        let path = Name::intern(self.modules.path_of(module)?);
        Some(self.global(path, Name::intern(attr), depth, out, complete))
    }

    /// Whether the dotted name `receiver` in `file` (or `^module:attr`, imported inside a
    /// function) denotes a module or a project class, through modules.
    fn holds_code(&mut self, file: Name, receiver: &str) -> bool {
        let mut scratch = Resolved::default();
        let mut complete = true;
        let (mut denotes, attrs) = match receiver.strip_prefix('^') {
            Some(imported) => {
                let (module, attrs) = imported.split_once(':').unwrap_or((imported, ""));
                let Some(module) = self.modules.absolute(file.as_str(), module) else {
                    return false;
                };
                (Denotes::Module(module), attrs)
            }
            None => {
                let (head, attrs) = receiver.split_once('.').unwrap_or((receiver, ""));
                let head = Name::intern(head);
                let denotes = self.global(file, head, 0, &mut scratch, &mut complete);
                (denotes, attrs)
            }
        };
        for attr in attrs.split('.').filter(|attr| !attr.is_empty()) {
            denotes = match denotes {
                Denotes::Module(module) => {
                    match self.module_member(&module, attr, 1, &mut scratch, &mut complete) {
                        Some(member) => member,
                        None => return false,
                    }
                }
                Denotes::Class(..) | Denotes::Function(..) | Denotes::Other => return false,
            };
        }
        matches!(denotes, Denotes::Module(_) | Denotes::Class(..))
    }

    /// The project class or function `reference` (a dotted name in `file`: `register`,
    /// `registry.Registry.add`) denotes, if any: each step through a module or a class, to a
    /// `def` or `class` statement. An alias (`s = attrs`), an attribute of a function or of an
    /// instance, or anything from a library is none.
    pub(crate) fn code_named(&mut self, file: Name, reference: Name, depth: u32) -> Option<Code> {
        let mut parts = reference.as_str().split('.');
        let head = Name::intern(parts.next()?);
        // What the names reach is in the caller's answer already (`resolve_ref` of the base).
        let mut scratch = Resolved::default();
        let mut complete = true;
        let mut denotes = self.global(file, head, depth, &mut scratch, &mut complete);
        for attr in parts {
            denotes = match denotes {
                Denotes::Module(module) => {
                    self.module_member(&module, attr, depth + 1, &mut scratch, &mut complete)?
                }
                Denotes::Class(path, qualname) => {
                    let member = Name::intern(&format!("{qualname}.{attr}"));
                    let model = Arc::clone(&self.current(path.as_str())?.model);
                    if model.class(member).is_some() {
                        Denotes::Class(path, member)
                    } else if model.function(member).is_some() {
                        Denotes::Function(path, member)
                    } else {
                        return None;
                    }
                }
                Denotes::Function(..) | Denotes::Other => return None,
            };
        }
        match denotes {
            Denotes::Class(file, qualname) => Some(Code::Class(file, qualname)),
            Denotes::Function(file, name) => Some(Code::Function(file, name)),
            Denotes::Module(_) | Denotes::Other => None,
        }
    }
}

/// The class of a method, from its qualified block name (`Outer.Inner.run` -> `Outer.Inner`).
pub(crate) fn class_of(qualname: Name) -> Option<Name> {
    let text = qualname.as_str();
    let text = text.split_once('#').map_or(text, |(base, _)| base);
    text.rsplit_once('.').map(|(class, _)| Name::intern(class))
}

/// The key of state written through a reference that resolves to no binding: the name it
/// starts with (`X` of `X.items.append(x)`).
fn own_key(file: Name, class: Option<Name>, write: &str) -> StateKey {
    match (write.strip_prefix("self."), class) {
        (Some(attr), Some(class)) => (file, Name::intern(&format!("{class}.{attr}"))),
        _ if write.starts_with('^') => (file, Name::intern(write)),
        _ => (file, Name::intern(write.split('.').next().unwrap_or(write))),
    }
}
