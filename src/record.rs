//! Recording: turning what a test executed into the block versions it depends on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError};

use rusqlite::Connection;

use crate::block::{BlockKind, DATA_BLOCK, MISSING_HASH, Name, is_pseudo};
use crate::block_name;
use crate::closure::Resolved;
use crate::closure::{BlockVersion, ClosureInfo, ClosurePart, Function, MemoClosure, StateKey};
use crate::engine::{Beneath, Current, Engine};
use crate::error::{Error, Result};
use crate::facts::GLOBAL_FACTS;
use crate::fasthash::{FastMap, FastSet};
use crate::graph::closure;
use crate::resolve::{class_of, module_getattr};
use crate::store::write::SettledFile;
use crate::store::{BlockIds, BlockKey, Refreshed, milliseconds, write};

/// Database ids of files and block versions, cached across batches; `new_files` and
/// `new_blocks` hold the ids created in the current transaction, cached only once it commits.
struct IdCache<'a> {
    file_ids: &'a mut FastMap<Name, i64>,
    block_ids: &'a mut BlockIds,
    new_files: FastMap<Name, i64>,
    new_blocks: FastMap<BlockKey, i64>,
}

impl IdCache<'_> {
    /// The sorted, unique ids of `versions`, creating rows as needed.
    fn resolve_all(
        &mut self,
        conn: &Connection,
        versions: &[BlockVersion],
    ) -> rusqlite::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(versions.len());
        for &(path, name, checksum) in versions {
            let known = self
                .file_ids
                .get(&path)
                .or_else(|| self.new_files.get(&path));
            let file_id = match known {
                Some(id) => *id,
                None => {
                    let id = write::file_id(conn, path.as_str())?;
                    self.new_files.insert(path, id);
                    id
                }
            };
            let key = (file_id, name, checksum);
            let known = self
                .block_ids
                .get(&key)
                .or_else(|| self.new_blocks.get(&key).copied());
            let block_id = match known {
                Some(id) => id,
                None => {
                    // Not stored: `block_ids` was refreshed in this transaction.
                    let id = write::insert_block(conn, file_id, name.as_str(), checksum)?;
                    self.new_blocks.insert(key, id);
                    id
                }
            };
            ids.push(block_id);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
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
    /// Data files the test read (relative paths) and pseudo-files of the environment facts it
    /// depends on (`<dist>/requests`): each is a `<data>` block whose checksum is the content
    /// hash now. When it holds all of `GLOBAL_FACTS`, those go to the test's shared set.
    pub data: Vec<String>,
    /// Data files the test opened, each with the project functions (file, first line) that
    /// were running then: a stateful one among them (a cache) may hand what it read to later
    /// tests, which then depend on the file through its memo closure.
    pub openers: Vec<(String, Vec<(String, u32)>)>,
}

impl ClosureInfo {
    /// The committed id of the shared set with the global facts of checksums `global`.
    fn committed_depset(&self, global: &[i64]) -> Option<i64> {
        let depsets = self.depsets.lock().unwrap_or_else(PoisonError::into_inner);
        depsets.get(global).copied()
    }

    /// Forgets the committed ids of its shared sets: another writer may have dropped them.
    fn forget_depsets(&self) {
        let mut depsets = self.depsets.lock().unwrap_or_else(PoisonError::into_inner);
        depsets.clear();
    }
}

impl Engine {
    /// Stores a batch of finished tests in one transaction.
    ///
    /// # Errors
    /// Database errors, or a data path that a database may not hold (`Error::Declared`);
    /// nothing of the batch is stored then.
    pub fn record(&mut self, tests: &[TestRecord]) -> Result<()> {
        // Data paths come from declarations (`diff_depends` globs, which may say anything) as
        // well as from reads: what the next run would refuse must not be stored.
        for test in tests {
            for path in &test.data {
                self.paths.check(path).map_err(|reason| {
                    Error::Declared(format!(
                        "test {:?} depends on what cannot be stored: {reason} (declare \
                         dependencies inside the tracked directories; \
                         --diff-project-directory tracks another)",
                        test.nodeid
                    ))
                })?;
            }
        }
        self.read_stored_runs()?;
        self.preload(tests.iter().flat_map(|test| {
            let code = test.code.iter().map(|(path, _)| path.as_str());
            code.chain(test.roots.iter().map(String::as_str))
        }));
        let mut sums: HashMap<&str, i64> = HashMap::new();
        for path in tests.iter().flat_map(|test| &test.data) {
            if !sums.contains_key(path.as_str()) {
                sums.insert(path, self.data_checksum(path));
            }
        }
        let data_block = Name::intern(DATA_BLOCK);
        let mut resolved = Vec::with_capacity(tests.len());
        for test in tests {
            self.note_openers(test);
            let (mut own, info) = self.dependencies(test);
            // The checksums of the global facts when the test carries all of them, else none.
            let carried: Option<Vec<i64>> = GLOBAL_FACTS
                .iter()
                .map(|fact| {
                    test.data
                        .iter()
                        .any(|path| path == fact)
                        .then(|| sums[fact])
                })
                .collect();
            let global = carried.unwrap_or_default();
            own.extend(
                test.data
                    .iter()
                    .filter(|path| global.is_empty() || !GLOBAL_FACTS.contains(&path.as_str()))
                    .map(|path| (Name::intern(path), data_block, sums[path.as_str()])),
            );
            own.sort();
            own.dedup();
            resolved.push((own, info, global));
        }
        let stored_ids: Vec<String> = tests
            .iter()
            .map(|test| self.stored_nodeid(&test.nodeid))
            .collect();
        let Self {
            store,
            file_ids,
            block_ids,
            touched,
            closures,
            ..
        } = self;
        let mut ids = IdCache {
            file_ids,
            block_ids,
            new_files: FastMap::default(),
            new_blocks: FastMap::default(),
        };
        let mut new_sets: Vec<(Arc<ClosureInfo>, &[i64], i64)> = Vec::new();
        let now = crate::store::unix_now();
        let result = store.transaction(|conn| {
            // Other writers (xdist workers, another session, a merge) may have stored versions
            // since.
            let refreshed = ids.block_ids.refresh(conn)?;
            if refreshed != Refreshed::Unchanged {
                // They may also have dropped shared sets this writer holds ids of: a session's
                // settling drops the sets no test uses any more, and an id may then be reused.
                let held = resolved.iter().map(|(_, info, _)| info);
                for info in held.chain(closures.values()) {
                    info.forget_depsets();
                }
            }
            if refreshed == Refreshed::Deleted {
                // A merge into this database gives every file a new id; settling drops files.
                ids.file_ids.clear();
            }
            for (index, (test, (own, info, global))) in tests.iter().zip(&resolved).enumerate() {
                let committed = info.committed_depset(global);
                let pending = || {
                    new_sets
                        .iter()
                        .find(|(known, facts, _)| Arc::ptr_eq(known, info) && facts == global)
                        .map(|(_, _, id)| *id)
                };
                let depset = match committed.or_else(pending) {
                    Some(id) => id,
                    None => {
                        let mut versions = info.shared.clone();
                        versions.extend(
                            GLOBAL_FACTS
                                .iter()
                                .zip(global)
                                .map(|(fact, sum)| (Name::intern(fact), data_block, *sum)),
                        );
                        let blocks = ids.resolve_all(conn, &versions)?;
                        let id = write::depset_id(conn, &blocks)?;
                        new_sets.push((Arc::clone(info), global, id));
                        id
                    }
                };
                let blocks = ids.resolve_all(conn, own)?;
                let (nodeid, file) = (&stored_ids[index], &test.file);
                write::test(
                    conn,
                    nodeid,
                    file,
                    &test.outcome,
                    milliseconds(test.duration),
                    Some(now),
                    &blocks,
                    Some(depset),
                )?;
            }
            Ok(())
        });
        // Cache ids only once they are committed: a rolled-back id may be reused.
        if result.is_ok() {
            for (info, global, id) in new_sets {
                info.depsets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(global.to_vec(), id);
            }
            for (path, id) in ids.new_files {
                touched.insert(path.as_str().to_owned());
                ids.file_ids.insert(path, id);
            }
            for (key, id) in ids.new_blocks {
                ids.block_ids.insert(key, id);
            }
        }
        result
    }

    /// The block versions `test` depends on: its own (what it executed, and what that code's
    /// references reach: the bindings it reads, the headers of the functions it names, the
    /// statements of the classes it uses, the memo closures of the state it reads) and those
    /// it shares with every test with the same import closure.
    fn dependencies(&mut self, test: &TestRecord) -> (Vec<BlockVersion>, Arc<ClosureInfo>) {
        let mut own: BTreeSet<BlockVersion> = BTreeSet::new();
        let mut files: BTreeSet<Name> = BTreeSet::new();
        let mut reached: Vec<Arc<Resolved>> = Vec::new();
        let mut stateful: Vec<(Name, Name)> = Vec::new();
        let mut executed: Vec<Function> = Vec::new();
        for (path, line) in &test.code {
            let Some(current) = self.current(path) else {
                continue;
            };
            let model = &current.model;
            let block = &model.blocks[model.block_at_line(*line)];
            let path = Name::intern(path);
            own.insert((path, block.name, block.checksum));
            files.insert(path);
            if block.kind == BlockKind::Module {
                continue;
            }
            if block.kind == BlockKind::Function {
                executed.push((path, block.name));
            }
            if self.keeps_state(block) {
                stateful.push((path, block.name));
            }
            // A method's class statement holds its class attributes and its own header.
            let class_statement = class_of(block.name)
                .and_then(|q| model.class(q))
                .map(|class| class.block as usize);
            if block.kind == BlockKind::Function
                && let Some(index) = class_statement.filter(|index| *index != 0)
            {
                let statement = &model.blocks[index];
                own.insert((path, statement.name, statement.checksum));
            }
            // What ran beneath the `def` or `class` statement that made it, at import.
            let statement = class_statement.or_else(|| model.binders(block.name).next());
            if block.kind == BlockKind::Function
                && let Some(index) = statement.filter(|index| *index != 0)
            {
                let mut beneath = Resolved::default();
                self.ran_beneath(path, model.blocks[index].name, 0, &mut beneath, &mut true);
                if !beneath.deps.is_empty() {
                    reached.push(Arc::new(beneath.settle()));
                }
            }
            reached.push(self.resolve_block(path, block.name));
        }
        self.ran_together(&executed);
        let test_file = Name::intern(&test.file);
        for name in &test.names {
            let (found, _) = self.resolve_ref(test_file, None, Name::intern(name), 0);
            reached.push(found);
        }
        // The closure of the test's own roots is shared by every test of its file. A file the
        // test ran code in that this closure does not reach (imported dynamically) brings its
        // own closure; what that adds is stored with the test itself.
        let info = self.closure_info(test.roots.clone());
        let mut infos = vec![Arc::clone(&info)];
        for file in files.iter().filter(|file| !info.files.contains(*file)) {
            let extra = self.closure_info(vec![file.as_str().to_owned()]);
            own.extend(extra.shared.iter().copied());
            infos.push(extra);
        }
        // The state the test's code reads: whatever writes it may have left it as an earlier
        // test's call made it, so the writers and what they run are dependencies too.
        let mut writers: FastSet<(Name, Name)> = stateful.into_iter().collect();
        let mut statements: FastSet<BlockVersion> = FastSet::default();
        for found in &reached {
            own.extend(found.deps.iter().copied());
            for key in &found.keys {
                for info in &infos {
                    if let Some(found) = info.writers.get(key) {
                        writers.extend(found.iter().copied());
                    }
                    if let Some(found) = info.import_writers.get(key) {
                        statements.extend(found.iter().copied());
                    }
                }
            }
        }
        // The statements that wrote it while their modules were imported (a decorator's
        // registry), as they read now.
        for (file, name, checksum) in statements {
            own.insert((file, name, checksum));
            own.extend(self.resolve_block(file, name).deps.iter().copied());
            // A bare call binds nothing: its readers are the only ones what ran beneath it
            // counts for (a statement that binds counts it for its users, see `ran_beneath`).
            if matches!(
                block_name::BlockName::parse(name.as_str()),
                block_name::BlockName::Call(_)
            ) {
                let mut beneath = Resolved::default();
                self.ran_beneath(file, name, 0, &mut beneath, &mut true);
                own.extend(beneath.deps);
            }
        }
        for writer in writers {
            let closure = self.memo_closure(writer.0, writer.1);
            own.extend(
                closure
                    .iter()
                    .filter(|(by, _)| self.may_have_run_beneath(writer, *by))
                    .map(|(_, version)| *version),
            );
        }
        // A `def f` header is part of the block of `f`: a test that ran `f` has it already.
        let ran: FastSet<(Name, Name)> = own.iter().map(|&(path, name, _)| (path, name)).collect();
        own.retain(|&(path, name, _)| {
            !block_name::header_function(name.as_str())
                .and_then(Name::find)
                .is_some_and(|function| ran.contains(&(path, function)))
        });
        (own.into_iter().collect(), info)
    }

    /// Notes that `functions` ran in one test, module import or start-up: for each stateful
    /// one, the functions of its memo closure among them may have run beneath it.
    pub(crate) fn ran_together(&mut self, functions: &[Function]) {
        let executed: FastSet<Function> = functions.iter().copied().collect();
        for &writer in functions {
            let stateful = self.current(writer.0.as_str()).and_then(|current| {
                current
                    .model
                    .function(writer.1)
                    .map(|b| self.keeps_state(b))
            });
            if stateful != Some(true) {
                continue;
            }
            let closure = self.memo_closure(writer.0, writer.1);
            let with = self.ran_with.entry(writer).or_default();
            with.extend(
                closure
                    .iter()
                    .map(|(by, _)| *by)
                    .filter(|by| executed.contains(by)),
            );
        }
    }

    /// Whether `function`, of the memo closure of `writer`, may have run beneath it in an
    /// earlier test: the two ran in one test of this session; or a stored test depended on
    /// both (an unselected test may run `writer` before a selected one in a full run, see
    /// `stored_runs`); or it is in a module that was imported before recording began, unseen.
    fn may_have_run_beneath(&self, writer: Function, function: Function) -> bool {
        self.ran_with
            .get(&writer)
            .is_some_and(|with| with.contains(&function))
            || self.stored_runs.ran_with(writer, function)
            || self
                .module_imports
                .get(&function.0)
                .is_some_and(|import| import.read_whole)
    }

    /// Remembers the data files `test` opened while stateful functions ran: a cache they keep
    /// may hand what they read to later tests, which never open the file themselves.
    fn note_openers(&mut self, test: &TestRecord) {
        let mut added = false;
        for (data, openers) in &test.openers {
            for (path, line) in openers {
                let Some(current) = self.current(path) else {
                    continue;
                };
                let block = &current.model.blocks[current.model.block_at_line(*line)];
                if block.kind == BlockKind::Function && self.keeps_state(block) {
                    let read = self
                        .read_beneath
                        .entry((Name::intern(path), block.name))
                        .or_default();
                    added |= read.insert(Name::intern(data));
                }
            }
        }
        if added {
            self.memo_closures.clear();
        }
    }

    /// What a stateful function may have left behind for a later caller: the function, the
    /// functions it may call (those its references name, through the same resolution, and the
    /// methods of the classes it reaches that an attribute call may land in), and what all of
    /// them read, each version with the function whose running makes it one. A test that reads
    /// its state, a cache hit included, depends on the part whose functions may have run
    /// beneath it (see `may_have_run_beneath`): an earlier call can only have left what ran
    /// then. Naming a function is not calling it
    /// (a builder storing `__ne__` in a class it makes), and taking every function named
    /// made each test that built a class depend on every method it could install.
    pub(crate) fn memo_closure(&mut self, file: Name, function: Name) -> MemoClosure {
        if let Some(found) = self.memo_closures.get(&(file, function)) {
            return Arc::clone(found);
        }
        let mut seen: FastSet<(Name, Name)> = FastSet::default();
        let mut queue = vec![(file, function)];
        let mut classes: FastSet<(Name, Name)> = FastSet::default();
        let mut deps: BTreeSet<(Function, BlockVersion)> = BTreeSet::new();
        // Making an object of a class it reaches runs the class's constructor, unnamed.
        let mut attributes: FastSet<Name> = ["__init__", "__new__", "__post_init__"]
            .into_iter()
            .map(Name::intern)
            .collect();
        seen.insert((file, function));
        while let Some((path, name)) = queue.pop() {
            let Some(current) = self.current(path.as_str()) else {
                continue;
            };
            let Some(block) = current.model.function(name) else {
                continue;
            };
            let by = (path, name);
            deps.insert((by, (path, block.name, block.checksum)));
            if let Some(class) = class_of(name) {
                classes.insert((path, class));
            }
            // Of the writer itself, only the code that can reach what it stores; what that
            // code calls may store anything it computes.
            let root = by == (file, function);
            let refs = if root {
                block.stored_refs()
            } else {
                block.refs()
            };
            attributes.extend(
                refs.iter()
                    .filter_map(|r| r.as_str().trim_start_matches('~').strip_prefix('.'))
                    .map(Name::intern),
            );
            let found = if root {
                self.resolve_stored(path, name)
            } else {
                self.resolve_block(path, name)
            };
            deps.extend(found.deps.iter().map(|version| (by, *version)));
            // The decorators that made a class it uses: the class may hold their code (a
            // method one installed), which counts where they may have run beneath the writer.
            for &(path, function) in &found.defining {
                let Some(current) = self.current(path.as_str()) else {
                    continue;
                };
                if let Some(block) = current.model.function(function) {
                    deps.insert(((path, function), (path, block.name, block.checksum)));
                }
            }
            classes.extend(found.classes.iter().copied());
            for &callee in &found.functions {
                if seen.insert(callee) {
                    queue.push(callee);
                }
            }
            // `obj.method()` on an object of a class it reached.
            for &(class_file, class) in &classes.clone() {
                for attribute in &attributes {
                    let method = Name::intern(&format!("{class}.{attribute}"));
                    if seen.insert((class_file, method)) {
                        queue.push((class_file, method));
                    }
                }
            }
        }
        // Data files read beneath any of them, by an earlier test of this session.
        let read: Vec<(Function, Name)> = seen
            .iter()
            .filter_map(|&by| Some((by, self.read_beneath.get(&by)?)))
            .flat_map(|(by, read)| read.iter().map(move |data| (by, *data)))
            .collect();
        deps.extend(
            read.into_iter()
                .map(|(by, data)| (by, self.data_version(data))),
        );
        let closure: MemoClosure = deps.into_iter().collect();
        self.memo_closures
            .insert((file, function), Arc::clone(&closure));
        closure
    }

    /// What every test whose roots are `roots` depends on through imports, computed once per
    /// distinct set of roots (tests of one file mostly share it).
    fn closure_info(&mut self, roots: Vec<String>) -> Arc<ClosureInfo> {
        if let Some(info) = self.closures.get(&roots) {
            return Arc::clone(info);
        }
        let starts: Vec<Name> = roots.iter().map(|root| Name::intern(root)).collect();
        let reachable = closure(&starts, |file| self.edges_of(file));
        let models: Vec<(Name, Current)> = reachable
            .into_iter()
            .filter_map(|file| Some((file, self.current(file.as_str())?)))
            .collect();
        let mut info = ClosureInfo {
            files: models.iter().map(|(file, _)| *file).collect(),
            ..ClosureInfo::default()
        };
        let mut shared: Vec<BlockVersion> = Vec::new();
        for (path, current) in &models {
            let part = self.closure_part(*path, current);
            shared.extend(part.shared.iter().copied());
            for &(key, function) in &part.writers {
                info.writers.entry(key).or_default().push(function);
            }
            for &(key, statement) in &part.import_writers {
                info.import_writers.entry(key).or_default().push(statement);
            }
        }
        shared.sort_unstable();
        shared.dedup();
        // State of the closure that functions of modules outside it write (a clean-up in a
        // test-support module): a test that reads it depends on them as on the closure's own.
        let foreign = self.foreign_writers();
        for (key, functions) in foreign.iter() {
            if !info.files.contains(&key.0) {
                continue;
            }
            let outside = functions
                .iter()
                .filter(|(file, _)| !info.files.contains(file));
            info.writers.entry(*key).or_default().extend(outside);
        }
        info.shared = shared;
        // Each closure lists every block of every module it reaches, so keeping one per test
        // file for the whole session cost tens of MB on large suites. Tests of a file run
        // together (pytest-xdist hands out runs of them), so a few recent ones suffice.
        if self.closures.len() > 64 {
            self.closures.clear();
        }
        let info = Arc::new(info);
        self.closures.insert(roots, Arc::clone(&info));
        info
    }

    /// The stateful functions of every loaded project module that write state of another
    /// module, by that state: a store or a mutating call through a name that resolves to
    /// another module's binding (`from m import REGISTRY` then `REGISTRY.clear()`, or
    /// `m.REGISTRY.clear()`) writes that module's state, and a test that reads it may see what
    /// they left, though it never imports their module. Built once per module map.
    pub(crate) fn foreign_writers(&mut self) -> Arc<FastMap<StateKey, Vec<Function>>> {
        if let Some(found) = &self.foreign_writers {
            return Arc::clone(found);
        }
        let mut paths: Vec<String> = self.modules.paths().map(str::to_owned).collect();
        paths.sort_unstable();
        self.preload(paths.iter().map(String::as_str));
        let mut index: FastMap<StateKey, Vec<Function>> = FastMap::default();
        for path in paths {
            let Some(current) = self.current(&path) else {
                continue;
            };
            let path = Name::intern(&path);
            let stateful: Vec<Name> = current
                .model
                .blocks
                .iter()
                .filter(|block| block.kind == BlockKind::Function && self.keeps_state(block))
                .map(|block| block.name)
                .collect();
            for function in stateful {
                for key in self.written_keys(path, function) {
                    if key.0 != path {
                        index.entry(key).or_default().push((path, function));
                    }
                }
            }
        }
        let index = Arc::new(index);
        self.foreign_writers = Some(Arc::clone(&index));
        index
    }

    /// What the module `path` brings to every import closure that reaches it (see
    /// `ClosurePart`), computed once until what it depends on changes (`forget_closures`): on
    /// a dense import graph every test file's closure reaches most of the project's modules.
    fn closure_part(&mut self, path: Name, current: &Current) -> Arc<ClosurePart> {
        if let Some(part) = self.closure_parts.get(&path) {
            return Arc::clone(part);
        }
        let mut part = ClosurePart::default();
        let model = &current.model;
        let module = &model.blocks[0];
        part.shared.push((path, module.name, module.checksum));
        // What ran while this module was imported: every importer relies on it.
        type Placed = (Function, Vec<Beneath>);
        let (functions, read, whole): (Vec<Placed>, Vec<Name>, bool) = self
            .module_imports
            .get(&path)
            .map(|import| {
                let functions = import
                    .functions
                    .iter()
                    .map(|(function, at)| (*function, at.iter().copied().collect()))
                    .collect();
                (
                    functions,
                    import.data.iter().copied().collect(),
                    import.read_whole,
                )
            })
            .unwrap_or_default();
        if whole {
            let mut every = Resolved::default();
            self.every_value(path, &mut every);
            part.shared.extend(every.deps);
        }
        for ((file, function), statements) in functions {
            // Run beneath statements whose calls are followed only: it counts for the
            // users of what they bound (see `Engine::ran_beneath`).
            if self.only_beneath_followed_calls(path, &statements) {
                continue;
            }
            let Some(current) = self.current(file.as_str()) else {
                continue;
            };
            if let Some(block) = current.model.function(function) {
                part.shared.push((file, block.name, block.checksum));
                // A module's `__getattr__` runs at import for the import system's probe
                // of `__path__` (every `from m import x` makes it), which gets nothing:
                // what it hands out reaches only code that looks a name up in it, and
                // that reference resolves through it (`module_attr`).
                if function != module_getattr() {
                    let found = self.resolve_block(file, function);
                    part.shared.extend(found.deps.iter().copied());
                }
            }
        }
        // What was read while this module was imported, as the first closure to reach the
        // module found it: a later test that rewrites the file changes no import's reading.
        part.shared
            .extend(read.into_iter().map(|data| self.data_version(data)));
        // What the module's code that may have effects refers to.
        for reference in &model.import_uses {
            let (found, _) = self.resolve_ref(path, None, *reference, 0);
            part.shared.extend(found.deps.iter().copied());
        }
        // The `def` and `class` statements that call things: part of the module's code
        // when some of it is not the project's, else a writer of what their callees write.
        for &(index, _) in &model.calling {
            let block = &model.blocks[index as usize];
            if self.calls_outside(path, index) {
                part.shared.push((path, block.name, block.checksum));
                let found = self.resolve_block(path, block.name);
                part.shared.extend(found.deps.iter().copied());
            } else {
                for &key in self.import_writes(path, index).iter() {
                    part.import_writers
                        .push((key, (path, block.name, block.checksum)));
                }
            }
        }
        for block in &model.blocks {
            if block.kind != BlockKind::Function {
                continue;
            }
            // Functions that ran while modules were imported: their effects outlive the
            // import, and every importer relies on them without running them.
            if self.import_time.contains(&(path, block.name)) {
                part.shared.push((path, block.name, block.checksum));
                if block.name != module_getattr() {
                    let found = self.resolve_block(path, block.name);
                    part.shared.extend(found.deps.iter().copied());
                }
            }
            if self.keeps_state(block) {
                for key in self.written_keys(path, block.name) {
                    part.writers.push((key, (path, block.name)));
                }
            }
        }
        part.shared.sort_unstable();
        part.shared.dedup();
        let part = Arc::new(part);
        self.closure_parts.insert(path, Arc::clone(&part));
        part
    }

    fn edges_of(&mut self, file: Name) -> Arc<[Name]> {
        if let Some(edges) = self.edges.get(&file) {
            return Arc::clone(edges);
        }
        let edges: Arc<[Name]> = match self.current(file.as_str()) {
            Some(current) => self
                .modules
                .edges(file.as_str(), &current.model.imports)
                .iter()
                .map(|target| Name::intern(target))
                .collect(),
            None => Arc::from([]),
        };
        self.edges.insert(file, Arc::clone(&edges));
        edges
    }

    /// Stores collected tests that have not run yet (deselected by `-k`, or cut short by `-x`),
    /// so that their files stay collected until they have run.
    ///
    /// # Errors
    /// Database errors.
    pub fn add_pending(&mut self, tests: &[(String, String)]) -> Result<()> {
        let tests: Vec<(String, &String)> = tests
            .iter()
            .map(|(nodeid, file)| (self.stored_nodeid(nodeid), file))
            .collect();
        self.store.transaction(|conn| {
            for (nodeid, file) in &tests {
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
        let nodeids: Vec<String> = nodeids.iter().map(|n| self.stored_nodeid(n)).collect();
        self.store.transaction(|conn| {
            for nodeid in &nodeids {
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
        let mut paths: Vec<String> = self.touched.drain().collect();
        paths.append(&mut self.new_files);
        self.settle(paths, meta)
    }

    /// At the start of a baseline: the files the selection found that the database did not
    /// know become known now, so that a run cut short (a crash, a kill) does not leave them
    /// "new" next time, selecting the importers of their packages.
    ///
    /// # Errors
    /// Database errors.
    pub fn adopt_new_files(&mut self) -> Result<()> {
        let paths = std::mem::take(&mut self.new_files);
        if paths.is_empty() {
            // Settling nothing would still read every stored test and block. A write that
            // changes nothing finds out as early that the baseline cannot write (a read-only
            // database file: SQLite opens it, and takes the write lock, but refuses writes).
            return self
                .store
                .transaction(|conn| conn.execute("DELETE FROM meta WHERE 0", []).map(drop));
        }
        self.settle(paths, &[])
    }

    fn settle(&mut self, mut paths: Vec<String>, meta: &[(String, String)]) -> Result<()> {
        paths.sort();
        paths.dedup();
        self.preload(paths.iter().map(String::as_str));
        let mut settled = Vec::with_capacity(paths.len());
        for path in paths {
            let current = if is_pseudo(&path) {
                // A fact has no file: its "content hash" is the hash of its value.
                let hash = self.fact(&path);
                (hash != MISSING_HASH).then(|| Current::fact(hash))
            } else {
                self.current(&path)
            };
            settled.push((path, current));
        }
        let result = self.store.transaction(|conn| {
            write::drop_unused_depsets(conn)?;
            let used = write::used_blocks(conn)?;
            let mut ids = Vec::with_capacity(settled.len());
            for (path, _) in &settled {
                // New files get a row too, even with no blocks: a module no test imports is
                // then known, and not "new" (selecting its package's importers) on every run.
                ids.push(write::file_id(conn, path)?);
            }
            let checks: Vec<_> = settled
                .iter()
                .map(|(_, current)| {
                    move |name: &str, checksum: i64| {
                        current
                            .as_ref()
                            .is_some_and(|c| c.model.checksum_of(name) == Some(checksum))
                    }
                })
                .collect();
            let files: Vec<SettledFile<'_>> = settled
                .iter()
                .zip(ids)
                .zip(&checks)
                .map(|(((_, current), file_id), is_current)| SettledFile {
                    file_id,
                    current: current.as_ref().map(|c| {
                        let fp = c.fingerprint;
                        (fp.mtime_ns, fp.size, fp.hash)
                    }),
                    is_current,
                })
                .collect();
            write::settle_files(conn, &files, &used)?;
            for (key, value) in meta {
                write::meta(conn, key, value)?;
            }
            Ok(())
        });
        // Settling dropped rows the id caches may hold, and the caches do not see this
        // connection's own deletions.
        self.file_ids.clear();
        self.block_ids.clear();
        result
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
