//! Read-only views of the database for people: what a test depends on, which tests depend on a
//! file, and counts. Stored block versions are compared with the file as it is now, so a view
//! shows line ranges of today's source and says which stored versions are outdated.

use std::collections::{HashMap, HashSet};

use crate::block::{DATA_BLOCK, MISSING_HASH, MODULE_BLOCK, Name};
use crate::engine::{Current, Engine};
use crate::error::Result;
use crate::store::BlockRow;
pub use crate::store::Counts;

/// How a stored block version compares with the file on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// The block exists now with the stored checksum.
    Current,
    /// The block changed, or no longer exists in the file.
    Changed,
    /// The file does not parse: every stored block of it counts as changed.
    Unparsable,
    /// The file is gone.
    Deleted,
}

impl BlockState {
    /// The word used in views and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Changed => "changed",
            Self::Unparsable => "unparsable",
            Self::Deleted => "deleted",
        }
    }
}

/// A stored block version as a person sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockView {
    /// File, relative to the project root.
    pub path: String,
    /// `<module>`, `Order.total`, `=TIMEOUT`.
    pub name: String,
    /// The stored checksum.
    pub checksum: i64,
    /// Lines of the block in the current file (first, last); `None` for `<module>` (the whole
    /// file) and for blocks that no longer exist.
    pub lines: Option<(u32, u32)>,
    pub state: BlockState,
    /// For a test's dependencies: held through the set shared by tests with the same imports
    /// (import-time code) rather than by this test alone.
    pub shared: bool,
    /// For a file's blocks: the node ids of the tests that depend on this version, sorted.
    pub tests: Vec<String>,
}

impl Engine {
    /// The block versions the test `nodeid` depends on, sorted by file then name; `None` if the
    /// database does not know the test.
    ///
    /// # Errors
    /// Database errors.
    pub fn test_dependencies(&mut self, nodeid: &str) -> Result<Option<Vec<BlockView>>> {
        let Some((own, shared)) = self.store.test_deps(nodeid)? else {
            return Ok(None);
        };
        let mut views = Vec::with_capacity(own.len() + shared.len());
        for (ids, is_shared) in [(own, false), (shared, true)] {
            for (path, block) in self.store.blocks_by_id(&ids)? {
                let now = self.now(&path, &block);
                views.push(view(path, &block, now, is_shared, Vec::new()));
            }
        }
        views.sort_by(|a, b| (&a.path, &a.name, a.shared).cmp(&(&b.path, &b.name, b.shared)));
        Ok(Some(views))
    }

    /// For each of `paths`: the file's stored block versions with the tests that depend on
    /// each, sorted by first line (`<module>` first); `None` for a file the database does not
    /// know. One pass over the tests serves every path (there is no block → test index).
    ///
    /// # Errors
    /// Database errors.
    pub fn file_dependents(&mut self, paths: &[String]) -> Result<Vec<Option<Vec<BlockView>>>> {
        let file_ids = paths
            .iter()
            .map(|path| self.store.file_id(path))
            .collect::<Result<Vec<_>>>()?;
        // One scan of the block table serves every path (it has no index by file).
        let wanted: HashSet<i64> = file_ids.iter().flatten().copied().collect();
        let by_file = self.store.blocks_of_files(&wanted)?;
        let mut stored = Vec::with_capacity(paths.len());
        let mut ids = Vec::new();
        for file_id in file_ids {
            let blocks = file_id.map(|id| by_file.get(&id).cloned().unwrap_or_default());
            ids.extend(blocks.iter().flatten().map(|block| block.id));
            stored.push(blocks);
        }
        let mut by_block: HashMap<i64, Vec<String>> = HashMap::new();
        for (block, nodeid) in self.store.dependents(&ids)? {
            by_block.entry(block).or_default().push(nodeid);
        }
        let mut found = Vec::with_capacity(paths.len());
        for (path, blocks) in paths.iter().zip(stored) {
            let Some(blocks) = blocks else {
                found.push(None);
                continue;
            };
            let mut views = Vec::with_capacity(blocks.len());
            for block in &blocks {
                let mut tests = by_block.remove(&block.id).unwrap_or_default();
                tests.sort();
                tests.dedup();
                let now = self.now(path, block);
                views.push(view(path.clone(), block, now, false, tests));
            }
            views.sort_by_key(|v| {
                (
                    v.name != MODULE_BLOCK,
                    v.lines.map_or(u32::MAX, |(first, _)| first),
                    v.name.clone(),
                )
            });
            found.push(Some(views));
        }
        Ok(found)
    }

    /// Counts of tests, files, block versions, shared sets and test outcomes.
    ///
    /// # Errors
    /// Database errors.
    pub fn counts(&self) -> Result<Counts> {
        self.store.counts()
    }
}

/// What is on disk now for a stored block.
enum Now {
    Source(Option<Current>),
    /// The checksum of a data file or environment fact, `MISSING_HASH` when it is gone.
    Data(i64),
}

impl Engine {
    fn now(&mut self, path: &str, block: &BlockRow) -> Now {
        if block.name == DATA_BLOCK {
            Now::Data(self.data_checksum(path))
        } else {
            Now::Source(self.current(path))
        }
    }
}

fn view(path: String, block: &BlockRow, now: Now, shared: bool, tests: Vec<String>) -> BlockView {
    let current = match now {
        Now::Data(checksum) => {
            let state = if checksum == block.checksum {
                BlockState::Current
            } else if checksum == MISSING_HASH {
                BlockState::Deleted
            } else {
                BlockState::Changed
            };
            return BlockView {
                path,
                name: block.name.clone(),
                checksum: block.checksum,
                lines: None,
                state,
                shared,
                tests,
            };
        }
        Now::Source(current) => current,
    };
    let (lines, state) = match current.as_ref() {
        None => (None, BlockState::Deleted),
        Some(current) if current.model.parse_error.is_some() => (None, BlockState::Unparsable),
        Some(current) => match Name::find(&block.name)
            .and_then(|name| current.model.blocks.iter().find(|b| b.name == name))
        {
            Some(now) => {
                let lines = (now.name != MODULE_BLOCK).then_some((now.start_line, now.end_line));
                let state = if now.checksum == block.checksum {
                    BlockState::Current
                } else {
                    BlockState::Changed
                };
                (lines, state)
            }
            None => (None, BlockState::Changed),
        },
    };
    BlockView {
        path,
        name: block.name.clone(),
        checksum: block.checksum,
        lines,
        state,
        shared,
        tests,
    }
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
