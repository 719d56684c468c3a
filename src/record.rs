//! Recording: turning what a test executed into the block versions it depends on.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::block::{Block, BlockKind};
use crate::engine::{Current, Engine};
use crate::error::Result;
use crate::graph::closure;
use crate::store::write;

/// `(file, block name, checksum)`: one stored version of a block.
pub(crate) type BlockVersion = (String, String, i64);

/// What a set of root files brings through imports; see `Engine::closure_info`.
#[derive(Default)]
pub(crate) struct ClosureInfo {
    /// Versions every test with these roots depends on: `<module>` blocks, and functions that
    /// ran at import time or keep state, with what they call.
    always: Vec<BlockVersion>,
    /// Names mentioned by import-time code and by the `always` functions.
    used: HashSet<String>,
    /// Binding blocks and the names they bind.
    bindings: Vec<(BlockVersion, Vec<String>)>,
}

/// What Python observed for one finished test.
#[derive(Clone, Debug)]
pub struct TestRecord {
    pub nodeid: String,
    /// The file the test was collected from (relative).
    pub file: String,
    /// `passed`, `failed`, `skipped`.
    pub outcome: String,
    pub duration: f64,
    /// `(file, first line)` of every code object the test executed, and of the test function and
    /// the fixtures it requested (which it depends on even when they did not run for it).
    pub code: Vec<(String, u32)>,
    /// Files whose import the test relies on without executing anything in them: its own file
    /// and the `conftest.py` files above it.
    pub roots: Vec<String>,
    /// Extra names the test uses (its class), as if mentioned by its code.
    pub names: Vec<String>,
}

impl Engine {
    /// Stores a batch of finished tests in one transaction.
    ///
    /// # Errors
    /// Database errors; nothing of the batch is stored then.
    pub fn record(&mut self, tests: &[TestRecord]) -> Result<()> {
        let mut resolved = Vec::with_capacity(tests.len());
        for test in tests {
            resolved.push(self.dependencies(test));
        }
        let Self {
            store,
            file_ids,
            block_ids,
            touched,
            ..
        } = self;
        let mut new_ids = Vec::new();
        let result = store.transaction(|conn| {
            for (test, deps) in tests.iter().zip(&resolved) {
                let mut ids = Vec::with_capacity(deps.len());
                for (path, name, checksum) in deps {
                    let file_id = match file_ids.get(path) {
                        Some(id) => *id,
                        None => {
                            let id = write::file_id(conn, path)?;
                            new_ids.push((path.clone(), None, id));
                            id
                        }
                    };
                    let key = (file_id, name.clone(), *checksum);
                    let block_id = match block_ids.get(&key) {
                        Some(id) => *id,
                        None => {
                            let id = write::block_id(conn, file_id, name, *checksum)?;
                            new_ids.push((path.clone(), Some(key), id));
                            id
                        }
                    };
                    ids.push(block_id);
                }
                ids.sort_unstable();
                ids.dedup();
                write::test(
                    conn,
                    &test.nodeid,
                    &test.file,
                    &test.outcome,
                    test.duration,
                    &ids,
                )?;
            }
            Ok(())
        });
        // Cache ids only once they are committed: a rolled-back id may be reused.
        if result.is_ok() {
            for (path, key, id) in new_ids {
                match key {
                    None => {
                        touched.insert(path.clone());
                        file_ids.insert(path, id);
                    }
                    Some(key) => {
                        block_ids.insert(key, id);
                    }
                }
            }
        }
        result
    }

    /// The `(file, block name, checksum)` versions `test` depends on.
    fn dependencies(&mut self, test: &TestRecord) -> Vec<BlockVersion> {
        let mut deps: BTreeSet<BlockVersion> = BTreeSet::new();
        let mut used: HashSet<String> = test.names.iter().cloned().collect();
        let mut files: BTreeSet<String> = test.roots.iter().cloned().collect();
        for (path, line) in &test.code {
            let Some(current) = self.current(path) else {
                continue;
            };
            let block = &current.model.blocks[current.model.block_at_line(*line)];
            if block.kind == BlockKind::Function {
                used.extend(block.uses.iter().cloned());
            }
            deps.insert((path.clone(), block.name.clone(), block.checksum));
            files.insert(path.clone());
        }
        let info = self.closure_info(files.into_iter().collect());
        deps.extend(info.always.iter().cloned());
        for (version, binds) in &info.bindings {
            if binds
                .iter()
                .any(|name| info.used.contains(name) || used.contains(name))
            {
                deps.insert(version.clone());
            }
        }
        deps.into_iter().collect()
    }

    /// What every test whose roots are `roots` depends on through imports, computed once per
    /// distinct set of roots (tests of one file mostly share it).
    fn closure_info(&mut self, roots: Vec<String>) -> Arc<ClosureInfo> {
        if let Some(info) = self.closures.get(&roots) {
            return Arc::clone(info);
        }
        let reachable = closure(&roots, |file| self.edges_of(file));
        let models: Vec<(String, Current)> = reachable
            .into_iter()
            .filter_map(|file| self.current(&file).map(|current| (file, current)))
            .collect();
        let mut info = ClosureInfo::default();
        // Functions whose effects outlive their call: they ran at import time, or they keep
        // state that a later test may read without running them. Whatever they call shares that
        // fate, so follow the names they mention to other functions in the closure.
        let mut by_name: HashMap<&str, Vec<(&str, &Block)>> = HashMap::new();
        let mut queue: Vec<(&str, &Block)> = Vec::new();
        for (path, current) in &models {
            info.used.extend(current.model.import_uses.iter().cloned());
            for block in &current.model.blocks {
                let version = (path.clone(), block.name.clone(), block.checksum);
                match block.kind {
                    BlockKind::Module => info.always.push(version),
                    BlockKind::Binding => info.bindings.push((version, block.binds.clone())),
                    BlockKind::Function => {
                        let short = block.name.rsplit('.').next().unwrap_or(&block.name);
                        let short = short.split('#').next().unwrap_or(short);
                        by_name.entry(short).or_default().push((path, block));
                        if block.stateful
                            || self
                                .import_time
                                .contains(&(path.clone(), block.name.clone()))
                        {
                            queue.push((path, block));
                        }
                    }
                }
            }
        }
        let mut seen: HashSet<(&str, &str)> = queue
            .iter()
            .map(|(path, block)| (*path, block.name.as_str()))
            .collect();
        while let Some((path, block)) = queue.pop() {
            info.always
                .push((path.to_owned(), block.name.clone(), block.checksum));
            info.used.extend(block.uses.iter().cloned());
            for name in &block.uses {
                for &(callee_path, callee) in by_name.get(name.as_str()).into_iter().flatten() {
                    if seen.insert((callee_path, callee.name.as_str())) {
                        queue.push((callee_path, callee));
                    }
                }
            }
        }
        if self.closures.len() > 10_000 {
            self.closures.clear();
        }
        let info = Arc::new(info);
        self.closures.insert(roots, Arc::clone(&info));
        info
    }

    fn edges_of(&mut self, file: &str) -> Vec<String> {
        if let Some(edges) = self.edges.get(file) {
            return edges.clone();
        }
        let edges = match self.current(file) {
            Some(current) => self.modules.edges(file, &current.model.imports),
            None => Vec::new(),
        };
        self.edges.insert(file.to_owned(), edges.clone());
        edges
    }

    /// Stores collected tests that have not run yet (deselected by `-k`, or cut short by `-x`),
    /// so that their files stay collected until they have run.
    ///
    /// # Errors
    /// Database errors.
    pub fn add_pending(&mut self, tests: &[(String, String)]) -> Result<()> {
        self.store.transaction(|conn| {
            for (nodeid, file) in tests {
                write::pending(conn, nodeid, file)?;
            }
            Ok(())
        })
    }

    /// Forgets tests that no longer exist.
    ///
    /// # Errors
    /// Database errors.
    pub fn remove_tests(&mut self, nodeids: &[String]) -> Result<()> {
        self.store.transaction(|conn| {
            for nodeid in nodeids {
                write::remove_test(conn, nodeid)?;
            }
            Ok(())
        })
    }

    /// Ends a baseline: records each touched file's fingerprint, marks it clean when nothing
    /// depends on an outdated version of its blocks, and drops versions nobody depends on.
    ///
    /// # Errors
    /// Database errors.
    pub fn finish(&mut self, meta: &[(String, String)]) -> Result<()> {
        let mut paths: Vec<String> = self.touched.iter().cloned().collect();
        paths.append(&mut self.new_files);
        paths.sort();
        paths.dedup();
        let mut settled = Vec::with_capacity(paths.len());
        for path in paths {
            let current = self.current(&path);
            settled.push((path, current));
        }
        self.store.transaction(|conn| {
            for (path, current) in &settled {
                // New files get a row too, even with no blocks: a module no test imports is
                // then known, and not "new" (selecting its package's importers) on every run.
                let file_id = write::file_id(conn, path)?;
                let fingerprint = current.as_ref().map(|c| {
                    (
                        c.fingerprint.mtime_ns,
                        c.fingerprint.size,
                        c.fingerprint.hash,
                    )
                });
                let is_current = |name: &str, checksum: i64| {
                    current.as_ref().is_some_and(|c| {
                        c.model
                            .blocks
                            .iter()
                            .any(|b| b.name == name && b.checksum == checksum)
                    })
                };
                write::settle_file(conn, file_id, fingerprint, &is_current)?;
            }
            for (key, value) in meta {
                write::meta(conn, key, value)?;
            }
            Ok(())
        })?;
        self.touched.clear();
        Ok(())
    }

    /// Empties the database for a full rebuild.
    ///
    /// # Errors
    /// Database errors.
    pub fn clear(&mut self) -> Result<()> {
        self.file_ids.clear();
        self.block_ids.clear();
        self.store.clear()
    }
}
