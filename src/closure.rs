//! The data a test's dependencies are built from: what the import closure of a set of root
//! files brings (built once per closure by `record` and shared between the tests with the same
//! roots, see `Engine::closure_info`), and what references reach (see `resolve`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::block::Name;
use crate::fasthash::{FastMap, FastSet};

/// `(file, block name, checksum)`: one stored version of a block. The path and the name are
/// interned, as names are in the models and the cache of block ids, so building, copying,
/// sorting and resolving one reads no text: a test's dependencies and every closure are built
/// from thousands of them.
pub(crate) type BlockVersion = (Name, Name, i64);

/// `(file, qualified name)` of a function or method.
pub(crate) type Function = (Name, Name);

/// What a stateful function may have left for a later caller (see `Engine::memo_closure`):
/// block versions, each with the function whose running makes it a dependency.
pub(crate) type MemoClosure = Arc<[(Function, BlockVersion)]>;

/// What a set of root files brings through imports; see `Engine::closure_info`.
#[derive(Default)]
pub(crate) struct ClosureInfo {
    /// Versions every test with these roots depends on, sorted: stored once as a `depset`.
    /// The `<module>` blocks of the closure, the functions that ran while its modules were
    /// imported, and what their references and the module-level code's reach.
    pub(crate) shared: Vec<BlockVersion>,
    /// The files of the closure.
    pub(crate) files: FastSet<Name>,
    /// The stateful functions of the closure by the state they write, and those of other
    /// loaded modules that write the closure's state (see `Engine::foreign_writers`): a test
    /// that reads that state (runs code whose references reach it) depends on them.
    pub(crate) writers: FastMap<StateKey, Vec<Function>>,
    /// The closure's `def` and `class` statements that call project code, by the state that
    /// code writes (see `calling`).
    pub(crate) import_writers: FastMap<StateKey, Vec<BlockVersion>>,
    /// The database ids of `shared` plus the global facts, by the facts' checksums (none: a
    /// set without them), once committed.
    pub(crate) depsets: Mutex<HashMap<Vec<i64>, i64>>,
}

/// What one module brings to every import closure that reaches it: its `<module>` block,
/// what ran and was read while it was imported and what that reaches, its `def` and `class`
/// statements that call things, and its stateful functions by the state they write. A
/// `ClosureInfo` is the union of its files' parts.
#[derive(Debug, Default)]
pub(crate) struct ClosurePart {
    /// Sorted, without repeats.
    pub(crate) shared: Vec<BlockVersion>,
    pub(crate) writers: Vec<(StateKey, Function)>,
    pub(crate) import_writers: Vec<(StateKey, BlockVersion)>,
}

/// A piece of shared state: the file and the module-level name (`SEEN`) or class attribute
/// (`Parser._cache`) that holds it.
pub(crate) type StateKey = (Name, Name);

/// The cache key of a resolution: file, reference, class context of `self.` references.
pub(crate) type ResolveKey = (Name, Name, Option<Name>);

/// What some references reach.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// The block versions they depend on.
    pub(crate) deps: Vec<BlockVersion>,
    /// The functions and methods they name: `(file, qualified name)`.
    pub(crate) functions: Vec<(Name, Name)>,
    /// The functions that ran defining a class they name (its decorators): their code made
    /// the class, but using it does not run them.
    pub(crate) defining: Vec<(Name, Name)>,
    /// The classes they name: `(file, qualified name)`.
    pub(crate) classes: Vec<(Name, Name)>,
    /// The state they read.
    pub(crate) keys: Vec<StateKey>,
}

impl Resolved {
    pub(crate) fn extend(&mut self, other: &Self) {
        self.deps.extend_from_slice(&other.deps);
        self.functions.extend_from_slice(&other.functions);
        self.defining.extend_from_slice(&other.defining);
        self.classes.extend_from_slice(&other.classes);
        self.keys.extend_from_slice(&other.keys);
    }

    pub(crate) fn settle(mut self) -> Self {
        for list in [
            &mut self.functions,
            &mut self.defining,
            &mut self.classes,
            &mut self.keys,
        ] {
            list.sort_unstable();
            list.dedup();
        }
        self.deps.sort_unstable();
        self.deps.dedup();
        self
    }
}

/// For each stateful function of the database, the functions some stored test depended on
/// together with it, as a bit set over `index`.
#[derive(Default)]
pub(crate) struct StoredRuns {
    pub(crate) index: FastMap<Function, u32>,
    pub(crate) with: FastMap<Function, Box<[u64]>>,
}

impl StoredRuns {
    /// Whether a stored test depended on both `writer` and `function`.
    pub(crate) fn ran_with(&self, writer: Function, function: Function) -> bool {
        let (Some(bits), Some(&index)) = (self.with.get(&writer), self.index.get(&function)) else {
            return false;
        };
        let index = index as usize;
        bits.get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }
}
