//! What the import closure of a set of root files brings a test: the data `record` builds once
//! per closure and shares between the tests with the same roots (see `Engine::closure_info`).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::block::Name;
use crate::fasthash::FastSet;

/// `(file, block name, checksum)`: one stored version of a block. The path and the name are
/// interned, as names are in the models and the cache of block ids, so building, copying,
/// sorting and resolving one reads no text: a test's dependencies and every closure are built
/// from thousands of them.
pub(crate) type BlockVersion = (Name, Name, i64);

/// What a set of root files brings through imports; see `Engine::closure_info`.
#[derive(Default)]
pub(crate) struct ClosureInfo {
    /// While building: `<module>` blocks, and functions that ran at import time or keep state,
    /// with what they call.
    pub(crate) always: Vec<BlockVersion>,
    /// Names mentioned by import-time code and by the `always` functions.
    pub(crate) used: FastSet<Name>,
    /// Versions every test with these roots depends on, sorted: stored once as a `depset`.
    pub(crate) shared: Vec<BlockVersion>,
    /// Binding blocks no import-time code mentions, with the names they bind: a test depends
    /// on one when its own code mentions a name.
    pub(crate) bindings: Vec<Unshared>,
    /// The files of the closure.
    pub(crate) files: FastSet<Name>,
    /// The database ids of `shared` plus the global facts, by the facts' checksums (none: a
    /// set without them), once committed.
    pub(crate) depsets: Mutex<HashMap<Vec<i64>, i64>>,
}

/// A binding block of a closure that only a test's own code can make a dependency.
pub(crate) struct Unshared {
    pub(crate) version: BlockVersion,
    /// The names the block binds.
    pub(crate) binds: Box<[Name]>,
    /// For the `def f` header `def:f`, the function `f`, whose block covers the header.
    pub(crate) header_of: Option<Name>,
}
