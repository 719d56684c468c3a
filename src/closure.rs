//! What the import closure of a set of root files brings a test: the data `record` builds once
//! per closure and shares between the tests with the same roots (see `Engine::closure_info`).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::block::Name;
use crate::fasthash::{FastMap, FastSet};
use crate::resolve::StateKey;

/// `(file, block name, checksum)`: one stored version of a block. The path and the name are
/// interned, as names are in the models and the cache of block ids, so building, copying,
/// sorting and resolving one reads no text: a test's dependencies and every closure are built
/// from thousands of them.
pub(crate) type BlockVersion = (Name, Name, i64);

/// What a set of root files brings through imports; see `Engine::closure_info`.
#[derive(Default)]
pub(crate) struct ClosureInfo {
    /// Versions every test with these roots depends on, sorted: stored once as a `depset`.
    /// The `<module>` blocks of the closure, the functions that ran while its modules were
    /// imported, and what their references and the module-level code's reach.
    pub(crate) shared: Vec<BlockVersion>,
    /// The files of the closure.
    pub(crate) files: FastSet<Name>,
    /// The stateful functions of the closure by the state they write: a test that reads that
    /// state (runs code whose references reach it) depends on them.
    pub(crate) writers: FastMap<StateKey, Vec<(Name, Name)>>,
    /// The database ids of `shared` plus the global facts, by the facts' checksums (none: a
    /// set without them), once committed.
    pub(crate) depsets: Mutex<HashMap<Vec<i64>, i64>>,
}
