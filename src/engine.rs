//! The engine: one open database plus what a session learns about the project's files.
//! Selection lives in `select.rs`, recording in `record.rs`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::block::{Block, DATA_BLOCK, FileModel, MISSING_HASH, Name, is_pseudo, is_python};
use crate::block_name::BlockName;
use crate::closure::{
    BlockVersion, ClosureInfo, ClosurePart, Function, MemoClosure, ResolveKey, Resolved, StateKey,
    StoredRuns,
};
use crate::error::Result;
use crate::facts::ALWAYS;
use crate::fasthash::{FastMap, FastSet};
use crate::graph::ModuleMap;
use crate::parse::parse_bytes;
use crate::store::{BlockIds, Store};
use crate::stored_paths::StoredPaths;

/// Stack for parser threads: the parser and our walks recurse, and deeply nested source must not
/// overflow the (often 8 MiB, sometimes 1 MiB) stack of the calling thread.
pub(crate) const PARSER_STACK: usize = 256 * 1024 * 1024;

/// Separates a run variant from the node id in stored node ids (no node id holds it).
pub const VARIANT_SEPARATOR: char = '\u{1f}';

/// A file's stat fingerprint and content hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub mtime_ns: i64,
    pub size: i64,
    pub hash: i64,
}

/// A file as it is on disk now.
#[derive(Clone, Debug)]
pub struct Current {
    pub model: Arc<FileModel>,
    pub fingerprint: Fingerprint,
}

impl Current {
    /// A fact about the environment (a pseudo-file): one `<data>` block holding the hash of
    /// its value, and no stat fingerprint.
    pub(crate) fn fact(hash: i64) -> Self {
        Self {
            model: Arc::new(FileModel::data(hash)),
            fingerprint: Fingerprint {
                mtime_ns: 0,
                size: 0,
                hash,
            },
        }
    }
}

/// Open database + per-session caches. Not thread-safe; Python holds it behind a lock.
pub struct Engine {
    pub(crate) root: PathBuf,
    pub(crate) store: Store,
    cache_size: usize,
    files: FastMap<String, Option<Current>>,
    /// The files being read in the background (see `prefetch`).
    prefetching: Option<Prefetch>,
    pub(crate) modules: ModuleMap,
    pub(crate) edges: FastMap<Name, Arc<[Name]>>,
    /// (file, function name) executed during start-up and collection outside any module's
    /// import: shared by the importers of its own file.
    pub(crate) import_time: FastSet<(Name, Name)>,
    /// Module file -> what its import ran and read: shared by the importers of that module.
    pub(crate) module_imports: FastMap<Name, ModuleImport>,
    /// Import closures by their sorted roots; emptied when the module map changes.
    pub(crate) closures: FastMap<Vec<String>, Arc<ClosureInfo>>,
    /// What each module brings to the closures that reach it; emptied with `closures`.
    pub(crate) closure_parts: FastMap<Name, Arc<ClosurePart>>,
    /// What references reach (see `resolve`), what each block's references reach, the memo
    /// closure of each stateful function (see `record`); emptied when the module map changes.
    pub(crate) resolved: FastMap<ResolveKey, Arc<Resolved>>,
    pub(crate) resolved_blocks: FastMap<(Name, Name), Arc<Resolved>>,
    pub(crate) memo_closures: FastMap<Function, MemoClosure>,
    /// The stateful functions of the loaded modules that write another module's state, by
    /// that state (see `Engine::foreign_writers`); built once the module map is known.
    pub(crate) foreign_writers: Option<Arc<FastMap<StateKey, Vec<Function>>>>,
    /// For each stateful function that ran in this session, the functions of its memo closure
    /// that ran in the same test (or module import, or start-up): only those can have run
    /// beneath it, and only what ran beneath it can have left state for a later reader.
    pub(crate) ran_with: FastMap<Function, FastSet<Function>>,
    /// What the stored tests ran together with each stateful function (see `stored_runs`).
    pub(crate) stored_runs: StoredRuns,
    /// Whether each calling statement, (file, block index), may run code that is not the
    /// project's (see `calling`).
    pub(crate) calls_outside: FastMap<(Name, u32), bool>,
    /// What each calling statement that calls only project code writes (see `calling`).
    pub(crate) import_writes: FastMap<(Name, u32), Arc<[StateKey]>>,
    /// Whether `stored_runs` has been read yet (at the session's first record).
    pub(crate) stored_runs_read: bool,
    /// Data files read while a stateful function ran (it was on the stack when they were
    /// opened), by that function: part of its memo closure.
    pub(crate) read_beneath: FastMap<(Name, Name), FastSet<Name>>,
    /// References being resolved now, to stop at cycles.
    pub(crate) resolving: FastSet<ResolveKey>,
    /// Answers cut short by a cycle (or by depth, at the depth they were asked at), kept while
    /// one outermost resolution runs: a reference met again in it gets the same answer instead
    /// of exploring the cycle anew, which took exponential time on modules that refer to each
    /// other (click's). Everything they miss is in the outermost answer already.
    pub(crate) partial: FastMap<ResolveKey, (Arc<Resolved>, u32)>,
    /// Whether the outermost resolution running now stopped somewhere at `MAX_DEPTH`: only
    /// then is its answer incomplete (a cycle only cuts what the answer has already).
    pub(crate) depth_cut: bool,
    /// Files whose stored state must be settled at the end of a baseline.
    pub(crate) touched: HashSet<String>,
    /// Python files the last selection found that the database did not know.
    pub(crate) new_files: Vec<String>,
    pub(crate) file_ids: FastMap<Name, i64>,
    pub(crate) block_ids: BlockIds,
    /// Facts about the environment by pseudo-file path (`<dist>/requests`), hashed.
    pub(crate) facts: HashMap<String, i64>,
    /// Data files hashed while recording: `(mtime, size, hash)` by path.
    data_hashes: HashMap<String, (i64, i64, i64)>,
    /// The run variant (ini `diff_env`); "" for the default. Tests of another variant are
    /// stored as `variant + VARIANT_SEPARATOR + nodeid` and invisible to this one.
    pub(crate) variant: String,
    /// Which file paths the database may hold: those of this project.
    pub(crate) paths: StoredPaths,
    /// State the test runner sets afresh before every test (`sys.stdout` under pytest's
    /// output capture), in write form: writing it leaves nothing for a later test.
    pub(crate) reset_state: FastSet<Name>,
}

impl Engine {
    /// Opens the database at `db_path` for the project rooted at `root` whose tracked
    /// directories are `tracked` (empty: the root). Leftovers of killed merges into it go.
    ///
    /// # Errors
    /// See `Store::open`; `Error::Untrusted` when a stored path is not one of this project's
    /// (the engine would read that file).
    pub fn open(
        db_path: &Path,
        root: &Path,
        cache_size: usize,
        tracked: &[PathBuf],
    ) -> Result<Self> {
        crate::store::remove_stale_temporaries(db_path);
        let store = Store::open(db_path)?;
        let paths = StoredPaths::of_project(root, tracked);
        store.check_paths(&paths)?;
        Ok(Self {
            root: root.to_owned(),
            store,
            cache_size: cache_size.max(1),
            files: FastMap::default(),
            prefetching: None,
            modules: ModuleMap::default(),
            edges: FastMap::default(),
            import_time: FastSet::default(),
            module_imports: FastMap::default(),
            closures: FastMap::default(),
            closure_parts: FastMap::default(),
            resolved: FastMap::default(),
            resolved_blocks: FastMap::default(),
            memo_closures: FastMap::default(),
            foreign_writers: None,
            ran_with: FastMap::default(),
            stored_runs: StoredRuns::default(),
            stored_runs_read: false,
            calls_outside: FastMap::default(),
            import_writes: FastMap::default(),
            read_beneath: FastMap::default(),
            reset_state: FastSet::default(),
            resolving: FastSet::default(),
            partial: FastMap::default(),
            depth_cut: false,
            touched: HashSet::new(),
            new_files: Vec::new(),
            file_ids: FastMap::default(),
            block_ids: BlockIds::default(),
            facts: HashMap::new(),
            data_hashes: HashMap::new(),
            variant: String::new(),
            paths,
        })
    }

    /// The store, for reads that need no session state.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current model of a project file (relative path), or `None` if it does not exist.
    pub(crate) fn current(&mut self, path: &str) -> Option<Current> {
        if let Some(found) = self.files.get(path) {
            return found.clone();
        }
        if self.take_prefetched_if_done()
            && let Some(found) = self.files.get(path)
        {
            return found.clone();
        }
        if self.files.len() >= self.cache_size {
            self.files.clear();
        }
        let root = &self.root;
        let found = on_big_stack(|| read_current(root, path)).flatten();
        self.files.insert(path.to_owned(), found.clone());
        found
    }

    /// Starts reading and parsing the Python files the database knows, on one thread in the
    /// background: a baseline's first record needs most of them (which functions keep state,
    /// import closures), and meanwhile pytest collects, running Python on one core. What it
    /// read joins the cache when it is done or when a record needs many files (`preload`),
    /// which stops it and reads the rest on all cores.
    ///
    /// # Errors
    /// Database errors.
    pub fn prefetch(&mut self) -> Result<()> {
        if self.prefetching.is_some() {
            return Ok(());
        }
        let paths: Vec<String> = self
            .store
            .files()?
            .into_iter()
            .map(|row| row.path)
            .filter(|path| is_python(path) && !is_pseudo(path) && !self.files.contains_key(path))
            .take(self.cache_size.saturating_sub(self.files.len()))
            .collect();
        if paths.is_empty() {
            return Ok(());
        }
        let root = self.root.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let worker = std::thread::Builder::new()
            .stack_size(PARSER_STACK)
            .spawn(move || {
                let mut found = Vec::with_capacity(paths.len());
                for path in paths {
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let current = read_current(&root, &path);
                    found.push((path, current));
                }
                found
            });
        // A thread that cannot start: the files are read when needed, as without it.
        self.prefetching = worker.ok().map(|worker| Prefetch {
            worker,
            stop,
            pid: std::process::id(),
        });
        Ok(())
    }

    /// `take_prefetched` once the background reading is done; whether it was.
    fn take_prefetched_if_done(&mut self) -> bool {
        let done = self
            .prefetching
            .as_ref()
            .is_some_and(|prefetch| prefetch.worker.is_finished());
        if done {
            self.take_prefetched();
        }
        done
    }

    /// Stops the background reading and puts what it read into the cache, beside what was
    /// read since (which stays: it is as recent).
    fn take_prefetched(&mut self) {
        let Some(prefetch) = self.prefetching.take() else {
            return;
        };
        if prefetch.pid != std::process::id() {
            // A forked child (a test's `multiprocessing` worker importing a project module):
            // the thread is the parent's, and joining it here would wait forever.
            std::mem::forget(prefetch);
            return;
        }
        prefetch
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // A panicked worker read nothing usable: the files are read when needed.
        for (path, current) in prefetch.worker.join().unwrap_or_default() {
            if self.files.len() >= self.cache_size {
                break;
            }
            self.files.entry(path).or_insert(current);
        }
    }

    /// Reads and parses, on all cores, the files of `paths` not cached yet.
    pub(crate) fn preload<'p>(&mut self, paths: impl Iterator<Item = &'p str>) {
        self.take_prefetched_if_done();
        let mut missing: Vec<&str> = paths
            .filter(|path| !self.files.contains_key(*path))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.len() < 2 {
            return; // a module's import noted while pytest collects: the reading goes on
        }
        if self.prefetching.is_some() {
            // Many files at once (a record): what the background reading has not reached yet
            // is read here, on all cores.
            self.take_prefetched();
            missing.retain(|path| !self.files.contains_key(*path));
        }
        let root = &self.root;
        let found = parallel_map(&missing, |path| read_current(root, path));
        for (path, current) in missing.into_iter().zip(found) {
            self.remember(path, current);
        }
    }

    /// Seeds the cache with a model computed elsewhere (by the parallel selection scan).
    pub(crate) fn remember(&mut self, path: &str, current: Option<Current>) {
        if self.files.len() < self.cache_size {
            self.files.insert(path.to_owned(), current);
        }
    }

    /// Replaces the module map (from `sys.modules`); import edges are recomputed lazily. The
    /// same map again (a test loaded library modules only) keeps every resolution: forgetting
    /// them on each call cost seconds per test on a project of large, cross-referring modules.
    pub fn set_modules(&mut self, modules: Vec<(String, String)>) {
        let modules = ModuleMap::new(modules);
        if modules == self.modules {
            return;
        }
        self.modules = modules;
        self.edges.clear();
        self.forget_resolutions();
    }

    /// Forgets the import closures and their parts: what a module brings to them has changed
    /// (what its import ran or read, the functions run at import time).
    pub(crate) fn forget_closures(&mut self) {
        self.closures.clear();
        self.closure_parts.clear();
    }

    /// Forgets every cached closure and resolution: what names reach depends on the modules
    /// loaded and on the import-time marks.
    pub(crate) fn forget_resolutions(&mut self) {
        self.forget_closures();
        self.resolved.clear();
        self.resolved_blocks.clear();
        self.memo_closures.clear();
        self.foreign_writers = None;
        self.calls_outside.clear();
        self.import_writes.clear();
    }

    /// Sets the facts about the environment that pseudo-files stand for: `(path, value)`, where
    /// a pseudo-file's checksum is the hash of its value. A stored pseudo-file with no fact now
    /// is missing (an uninstalled distribution).
    pub fn set_facts(&mut self, facts: Vec<(String, String)>) {
        self.facts = facts
            .into_iter()
            .map(|(path, value)| {
                let hash = crate::checksum::hash_bytes(value.as_bytes());
                (path, hash)
            })
            .collect();
    }

    /// Sets the state the test runner sets afresh before every test (see `reset_state`).
    pub fn set_reset_state(&mut self, names: Vec<String>) {
        let names: FastSet<Name> = names.iter().map(|name| Name::intern(name)).collect();
        if names != self.reset_state {
            self.reset_state = names;
            self.forget_resolutions();
        }
    }

    /// The writes of `block` that a later test may read: those of state the runner does not
    /// set afresh before every test. `sys`, written by `sys.stdout = ...`, goes with them when
    /// every attribute of it the block writes is reset.
    pub(crate) fn kept_writes<'a>(&'a self, block: &'a Block) -> impl Iterator<Item = Name> + 'a {
        let writes = block.writes();
        writes
            .iter()
            .copied()
            .filter(move |&write| !self.is_reset(write, writes))
    }

    fn is_reset(&self, write: Name, writes: &[Name]) -> bool {
        if self.reset_state.is_empty() {
            return false;
        }
        if self.reset_state.contains(&write) {
            return true;
        }
        let prefix = format!("{write}.");
        let mut attributes = writes
            .iter()
            .filter(|other| other.as_str().starts_with(&prefix))
            .peekable();
        attributes.peek().is_some() && attributes.all(|other| self.reset_state.contains(other))
    }

    /// Whether `block` writes state a later test may read (see `kept_writes`).
    pub(crate) fn keeps_state(&self, block: &Block) -> bool {
        self.kept_writes(block).next().is_some()
    }

    /// Selects and records against the run variant `variant` from now on.
    pub fn set_variant(&mut self, variant: String) {
        self.variant = variant;
    }

    /// The stored node id of `nodeid` in the current variant.
    pub(crate) fn stored_nodeid(&self, nodeid: &str) -> String {
        if self.variant.is_empty() {
            nodeid.to_owned()
        } else {
            format!("{}{VARIANT_SEPARATOR}{nodeid}", self.variant)
        }
    }

    /// The node id of a stored test if it belongs to the current variant.
    pub(crate) fn variant_nodeid<'n>(&self, stored: &'n str) -> Option<&'n str> {
        match stored.split_once(VARIANT_SEPARATOR) {
            None => self.variant.is_empty().then_some(stored),
            Some((variant, nodeid)) => (variant == self.variant).then_some(nodeid),
        }
    }

    /// The `<data>` block of the data file `path` as it is now (see `data_checksum`).
    pub(crate) fn data_version(&mut self, path: Name) -> BlockVersion {
        let checksum = self.data_checksum(path.as_str());
        (path, Name::intern(DATA_BLOCK), checksum)
    }

    /// The current checksum of the `<data>` block of a data file or pseudo-file, read now (a
    /// test may have written the file): `MISSING_HASH` when there is no such file or fact.
    pub(crate) fn data_checksum(&mut self, path: &str) -> i64 {
        if is_pseudo(path) {
            return self.fact(path);
        }
        let full = self.root.join(path);
        let Some((mtime_ns, size)) = stat(&full) else {
            return MISSING_HASH;
        };
        // A big file read by many tests is hashed once per version, not once per batch. Should
        // an edit keep both mtime and size, the stale hash only makes its readers rerun.
        if let Some(&(known_mtime, known_size, hash)) = self.data_hashes.get(path)
            && (known_mtime, known_size) == (mtime_ns, size)
        {
            return hash;
        }
        let Some(bytes) = contents(&full) else {
            return MISSING_HASH;
        };
        let hash = crate::checksum::hash_bytes(&bytes);
        self.data_hashes
            .insert(path.to_owned(), (mtime_ns, size, hash));
        hash
    }

    /// The checksum of a pseudo-file now. `<always>` (tests that must always run) is never
    /// current.
    pub(crate) fn fact(&self, path: &str) -> i64 {
        fact_in(&self.facts, path)
    }

    /// Notes functions that ran, and data files that were read, while `module` was imported:
    /// every test that imports `module` depends on them, as on its module-level code, but for
    /// what ran beneath statements whose calls are followed (see `ModuleImport::beneath`).
    /// Each function is `(file, first line, line of module)`: the line of `module` running
    /// then; negated when it ran inside the execution of a project module that line imported;
    /// 0 when not known.
    pub fn mark_module_import(
        &mut self,
        module: &str,
        refs: &[(String, u32, i64)],
        data: &[String],
    ) {
        if refs.is_empty() && data.is_empty() {
            return; // a module that only defines things: nothing to note, no file to read
        }
        self.preload(refs.iter().map(|(path, _, _)| path.as_str()));
        let statements = self
            .current(module)
            .map(|current| Arc::clone(&current.model));
        let mut functions = Vec::new();
        for (path, line, at) in refs {
            if let Some(current) = self.current(path) {
                let block = &current.model.blocks[current.model.block_at_line(*line)];
                if block.kind == crate::block::BlockKind::Function {
                    let line = u32::try_from(at.abs()).unwrap_or(0);
                    let statement = statements.as_ref().and_then(|model| {
                        let index = model.statement_at_line(line);
                        (index > 0).then(|| (model.blocks[index].name, model.is_calling(index)))
                    });
                    // A star import is module code: only its line tells it apart.
                    let star = statements
                        .as_ref()
                        .is_some_and(|model| model.star_import_lines.contains(&line));
                    let imports = |statement: Name| {
                        matches!(
                            BlockName::parse(statement.as_str()),
                            BlockName::Import(_) | BlockName::From(_)
                        )
                    };
                    let beneath = match statement {
                        Some((statement, true)) if *at > 0 => Beneath::Statement(statement),
                        Some((statement, _)) if *at < 0 && imports(statement) => Beneath::Import,
                        None if *at < 0 && star => Beneath::Import,
                        _ => Beneath::Module,
                    };
                    functions.push(((Name::intern(path), block.name), beneath));
                }
            }
        }
        let ran: Vec<Function> = functions.iter().map(|(function, _)| *function).collect();
        self.ran_together(&ran);
        let import = self.module_imports.entry(Name::intern(module)).or_default();
        let (mut added, mut placed) = (false, false);
        for (function, beneath) in functions {
            added |= import
                .functions
                .entry(function)
                .or_default()
                .insert(beneath);
            if let Beneath::Statement(statement) = beneath {
                placed |= import
                    .beneath
                    .entry(statement)
                    .or_default()
                    .insert(function);
            }
        }
        for path in data {
            added |= import.data.insert(Name::intern(path));
        }
        if placed {
            // What the statements' names reach has grown (see `Engine::ran_beneath`).
            self.forget_resolutions();
        } else if added {
            self.forget_closures();
        }
    }

    /// `module` is read whole by code outside the project: a module imported before recording
    /// began (pytest-django imports the settings, which Django copies with `dir()`), or one a
    /// framework reads by name (a URLconf's `urlpatterns`). Every importer depends on every
    /// top-level value binding of it (see `Engine::every_value`).
    pub fn mark_read_whole(&mut self, module: &str) {
        let import = self.module_imports.entry(Name::intern(module)).or_default();
        if !import.read_whole {
            import.read_whole = true;
            self.forget_closures();
        }
    }

    /// Functions (file, first line) that ran during start-up and collection outside any
    /// module's import.
    pub fn mark_import_time(&mut self, refs: &[(String, u32)]) {
        self.preload(refs.iter().map(|(path, _)| path.as_str()));
        let mut functions = Vec::new();
        for (path, line) in refs {
            if let Some(current) = self.current(path) {
                let block = &current.model.blocks[current.model.block_at_line(*line)];
                if block.kind == crate::block::BlockKind::Function {
                    functions.push((Name::intern(path), block.name));
                }
                if self.import_time.insert((Name::intern(path), block.name)) {
                    self.forget_closures();
                }
            }
        }
        self.ran_together(&functions);
    }
}

/// What ran and what was read while a project module was imported (see
/// `Engine::mark_module_import`).
#[derive(Default)]
pub(crate) struct ModuleImport {
    /// (file, function name) of the functions that ran, each with where in the module.
    pub(crate) functions: FastMap<Function, FastSet<Beneath>>,
    /// The functions that ran beneath each top-level statement (by block name): where the
    /// statement's calls are followed, they count for the users of what it bound instead of for
    /// every importer (see `Engine::closure_info`).
    pub(crate) beneath: FastMap<Name, FastSet<Function>>,
    /// The data files read.
    pub(crate) data: FastSet<Name>,
    /// Read whole by code we do not see (see `Engine::mark_read_whole`).
    pub(crate) read_whole: bool,
}

/// Where in a module's import a function ran (see `ModuleImport::functions`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Beneath {
    /// Not known, or beneath the module's own code or a statement that calls nothing.
    Module,
    /// Beneath the calling statement of that block (see `FileModel::calling`).
    Statement(Name),
    /// Inside the execution of another project module, which an import statement of the
    /// module (a star import included) imported: that module's own record has it.
    Import,
}

/// The checksum of the pseudo-file `path` given `facts`: `MISSING_HASH` without a fact, and
/// always for `<always>`.
pub(crate) fn fact_in(facts: &HashMap<String, i64>, path: &str) -> i64 {
    if path == ALWAYS {
        return MISSING_HASH;
    }
    facts.get(path).copied().unwrap_or(MISSING_HASH)
}

/// The background reading of `Engine::prefetch`.
struct Prefetch {
    worker: std::thread::JoinHandle<Vec<(String, Option<Current>)>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// The process that started it: a forked child has no such thread.
    pid: u32,
}

/// Reads, hashes and parses one file on the calling thread, which must have a large stack
/// (see `PARSER_STACK`): a parser thread, or a `parallel_map` worker.
pub(crate) fn read_current(root: &Path, path: &str) -> Option<Current> {
    let full = root.join(path);
    let (mtime_ns, size) = stat(&full)?;
    let bytes = contents(&full)?;
    let model = if is_python(path) {
        parse_bytes(&bytes)
    } else {
        FileModel::data(crate::checksum::hash_bytes(&bytes))
    };
    let hash = model.content_hash;
    Some(Current {
        model: Arc::new(model),
        fingerprint: Fingerprint {
            mtime_ns,
            size,
            hash,
        },
    })
}

/// Applies `work` to every item on all cores, in threads with a parser-sized stack; results are
/// in the order of `items`.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(8);
    let chunk = items.len().div_ceil(workers).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                std::thread::Builder::new()
                    .stack_size(PARSER_STACK)
                    .spawn_scoped(scope, move || part.iter().map(work).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .zip(items.chunks(chunk))
            .flat_map(
                |(handle, part)| match handle.ok().and_then(|h| h.join().ok()) {
                    Some(results) => results,
                    // A worker that could not start or panicked: do its part here.
                    None => part.iter().map(work).collect(),
                },
            )
            .collect()
    })
}

/// Runs `work` on a thread with a parser-sized stack; `None` if the thread could not start or
/// panicked.
fn on_big_stack<R: Send>(work: impl FnOnce() -> R + Send) -> Option<R> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, work)
            .ok()
            .and_then(|handle| handle.join().ok())
    })
}

/// Whether a stored path names a directory's listing (`data/cases/`) rather than a file: a
/// test that lists a directory depends on which entries it holds.
pub(crate) fn is_listing(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().ends_with(b"/")
}

/// The bytes a file's checksum is taken over: a file's contents, or the sorted entry names of
/// a listed directory (see `is_listing`), behind a prefix no file starts with by chance.
pub(crate) fn contents(path: &Path) -> Option<Vec<u8>> {
    if !is_listing(path) {
        return std::fs::read(path).ok();
    }
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.file_name().into_encoded_bytes()))
        .collect();
    names.sort_unstable();
    let mut bytes = b"\0listing\0".to_vec();
    for name in names {
        bytes.extend_from_slice(&name);
        bytes.push(0);
    }
    Some(bytes)
}

/// `(mtime in ns, size)`, or `None` if the file is gone (or the listed directory, for a
/// listing: adding or removing an entry changes a directory's mtime).
pub(crate) fn stat(path: &Path) -> Option<(i64, i64)> {
    let meta = std::fs::metadata(path).ok()?;
    if !(meta.is_file() || meta.is_dir() && is_listing(path)) {
        return None;
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |age| i64::try_from(age.as_nanos()).unwrap_or(i64::MAX));
    Some((mtime, i64::try_from(meta.len()).unwrap_or(i64::MAX)))
}

/// Parses on a thread with a large stack, so that no nesting depth overflows the caller's.
pub(crate) fn parse_on_big_stack(bytes: Vec<u8>) -> FileModel {
    on_big_stack(|| parse_bytes(&bytes)).unwrap_or_else(|| {
        let hash = crate::checksum::hash_bytes(&bytes);
        FileModel::unparsable(hash, "the parser failed on this file".to_owned())
    })
}
#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
