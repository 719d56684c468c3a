//! Merging databases: several baselines (parallel CI jobs, a shared baseline and a developer's
//! own) into one.
//!
//! The rules, which README states for users:
//! * the result holds the union of the inputs' tests;
//! * a test recorded in several inputs keeps its most recent record (`test.recorded`); a test
//!   that has not run yet loses to any that has; equal times are decided by the records'
//!   contents, so the result does not depend on the order of the inputs;
//! * a passed or skipped record made without knowing a `conftest.py` above the test that another
//!   input knows becomes `owed`: alone, its database would have selected the test for that new
//!   file; merged, the file is known and would not (a new module selects only the tests that
//!   looked for it, which their records say wherever the module became known);
//! * a record is kept whole: the block versions it depends on come with it, so blocks and files
//!   stay consistent with the tests that refer to them;
//! * a file's stat fingerprint is a fact about one machine: only the local database's survives
//!   (an imported file is hashed again, not parsed again, on its next run); a file counts as clean
//!   only if every input that knows it agrees on its clean content hash;
//! * facts about the baseline (`created`, `commit`, ...) come from the most recently created
//!   input.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::outcome::OWED;
use crate::store::{
    Portable, PortableFile, PortableTest, Store, remove_stale_temporaries, temporary_sibling,
};
use crate::stored_paths::StoredPaths;

/// Meta keys that describe one local database's link to a remote, never carried over.
const LOCAL_META_PREFIX: &str = "remote";

/// One input: its contents, and whether it is this machine's own database (whose stat
/// fingerprints are valid here).
pub struct Input {
    pub data: Portable,
    pub local: bool,
}

/// Merges `inputs` by the rules in the module documentation.
#[must_use]
pub fn merge(inputs: &[Input]) -> Portable {
    let all_files: BTreeSet<&str> = inputs
        .iter()
        .flat_map(|input| input.data.files.iter().map(|file| file.path.as_str()))
        .collect();
    let mut tests: HashMap<String, PortableTest> = HashMap::new();
    for input in inputs {
        let known: HashSet<&str> = input.data.files.iter().map(|f| f.path.as_str()).collect();
        let unknown: Vec<&str> = all_files
            .iter()
            .copied()
            .filter(|path| !known.contains(path))
            .collect();
        for test in &input.data.tests {
            let mut test = test.clone();
            if matches!(test.outcome.as_str(), "passed" | "skipped")
                && affected_by_new_files(&test, &unknown)
            {
                test.outcome = OWED.to_owned();
            }
            match tests.get(&test.nodeid) {
                Some(kept) if newer(&test, kept) != Ordering::Greater => {}
                _ => {
                    tests.insert(test.nodeid.clone(), test);
                }
            }
        }
    }
    let mut tests: Vec<PortableTest> = tests.into_values().collect();
    tests.sort_by(|a, b| a.nodeid.cmp(&b.nodeid));

    // Path -> (agreed clean hash so far, this machine's fingerprint).
    let mut files: BTreeMap<&str, (Option<i64>, Option<&PortableFile>)> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for input in inputs {
        for file in &input.data.files {
            let entry = files
                .entry(file.path.as_str())
                .or_insert((file.clean_hash, None));
            if seen.contains(file.path.as_str()) && entry.0 != file.clean_hash {
                entry.0 = None;
            }
            if input.local {
                entry.1 = Some(file);
            }
        }
        seen.extend(input.data.files.iter().map(|file| file.path.as_str()));
    }
    let files = files
        .into_iter()
        .map(|(path, (clean_hash, local))| PortableFile {
            path: path.to_owned(),
            mtime_ns: local.and_then(|file| file.mtime_ns),
            size: local.and_then(|file| file.size),
            content_hash: local.and_then(|file| file.content_hash),
            clean_hash,
        })
        .collect();

    let newest_meta = inputs.iter().map(|input| &input.data.meta).max_by(|a, b| {
        created(a)
            .partial_cmp(&created(b))
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.cmp(b))
    });
    let meta = newest_meta
        .map(|meta| {
            meta.iter()
                .filter(|(key, _)| !key.starts_with(LOCAL_META_PREFIX))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Portable { files, tests, meta }
}

/// Would the files its input did not know (which other inputs know, so the merged baseline will
/// not call them new) have selected this test? Selection reruns the tests below a new
/// `conftest.py`; a test recorded before such a file existed is owed that rerun.
fn affected_by_new_files(test: &PortableTest, unknown: &[&str]) -> bool {
    unknown.iter().any(|path| {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        name == "conftest.py" && (dir.is_empty() || test.file.starts_with(&format!("{dir}/")))
    })
}

/// When the input's baseline was created; `None` (oldest) if it never finished one.
fn created(meta: &[(String, String)]) -> Option<f64> {
    meta.iter()
        .find(|(key, _)| key == "created")
        .and_then(|(_, value)| value.parse::<f64>().ok())
        .filter(|time| time.is_finite())
}

/// Orders two records of one test: the more recent is greater. A test that has not run
/// (`recorded` is `None`) is older than any that has. Equal times fall back on the contents,
/// failing first (a tie must not hide a failure), so the choice never depends on input order.
fn newer(a: &PortableTest, b: &PortableTest) -> Ordering {
    fn rank(outcome: &str) -> u8 {
        match outcome {
            "failed" => 3,
            "pending" | OWED => 2,
            "skipped" => 1,
            _ => 0,
        }
    }
    // `None` (never ran) sorts before any time.
    a.recorded
        .cmp(&b.recorded)
        .then_with(|| rank(&a.outcome).cmp(&rank(&b.outcome)))
        .then_with(|| a.outcome.cmp(&b.outcome))
        .then_with(|| a.file.cmp(&b.file))
        .then_with(|| a.duration_ms.cmp(&b.duration_ms))
        .then_with(|| a.own.cmp(&b.own))
        .then_with(|| a.shared.cmp(&b.shared))
}

/// Reads merge inputs, each in one read transaction, holding only paths that pass `rules`.
fn read_inputs(paths: &[PathBuf], rules: &StoredPaths) -> Result<Vec<Input>> {
    paths
        .iter()
        .map(|path| {
            Ok(Input {
                data: Store::open_input(path)?.portable(rules)?,
                local: false,
            })
        })
        .collect()
}

/// Merges the databases at `inputs` into the database at `output`. Returns the number of tests
/// in the result.
///
/// An existing `output` is merged into in place, in one transaction that holds SQLite's write
/// lock from the first read of an input to the last write, as a run's writes do: a
/// `--diff-baseline` writing to it meanwhile waits, and carries on writing to the same file
/// afterwards (a new file renamed over it would have taken the run's later records with the
/// replaced one). `output` may be one of the inputs. A new `output` is written to a temporary
/// file and put in place once complete.
///
/// # Errors
/// An input that cannot be read or merged, an `output` that is not a pytest-difftest database
/// (nothing is written then), or a write error.
pub fn merge_files(output: &Path, inputs: &[PathBuf]) -> Result<usize> {
    remove_stale_temporaries(output);
    // A merge knows no project: only what no project can hold is refused here; the run that
    // uses the result checks its paths against its own tracked directories.
    let rules = StoredPaths::of_any_project();
    if output.exists() {
        match Store::open_as_is(output) {
            Ok(store) => {
                return store.locked(|| {
                    let merged = merge(&read_inputs(inputs, &rules)?);
                    store.replace_with(&merged)?;
                    Ok(merged.tests.len())
                });
            }
            // Ours, from another version, so not in use by this one: replaced as a whole.
            Err(Error::SchemaMismatch { found, .. }) if found > 0 => {}
            Err(error) => {
                return Err(Error::Input {
                    path: output.to_owned(),
                    reason: format!(
                        "the output is not a pytest-difftest database to merge into ({}): \
                         remove it or choose another output",
                        reason_of(&error)
                    ),
                });
            }
        }
    }
    let merged = merge(&read_inputs(inputs, &rules)?);
    let temporary = temporary_sibling(output);
    remove_database(&temporary)?;
    let written = (|| {
        let store = Store::open(&temporary)?;
        store.replace_with(&merged)?;
        store.into_single_file()
    })();
    let placed = written.and_then(|()| place(&temporary, output));
    let _ = remove_database(&temporary);
    match placed? {
        true => Ok(merged.tests.len()),
        // A run created `output` meanwhile: merge into it instead.
        false => merge_files(output, inputs),
    }
}

/// Puts the finished `temporary` at `output`; `false` when `output` did not exist at first but
/// does now. A hard link puts it there only if nothing is there yet, where a rename would
/// replace a database a run had just created.
fn place(temporary: &Path, output: &Path) -> Result<bool> {
    let io = |source| Error::Io {
        path: output.to_owned(),
        source,
    };
    if !output.exists() {
        match std::fs::hard_link(temporary, output) {
            Ok(()) => return Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            // A file system without hard links: rename, as below.
            Err(_) => {}
        }
    }
    // Leftover journal files of an older database at `output` must not be applied to the new one.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(output, suffix));
    }
    std::fs::rename(temporary, output).map_err(io)?;
    Ok(true)
}

/// What went wrong, without the path `Error` names.
fn reason_of(error: &Error) -> String {
    match error {
        Error::Io { source, .. } => source.to_string(),
        Error::Db { source, .. } => source.to_string(),
        Error::Untrusted { reason, .. } | Error::Input { reason, .. } => reason.clone(),
        Error::SchemaMismatch { .. } => "not a pytest-difftest database".to_owned(),
        Error::Declared(what) => what.clone(),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_database(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = with_suffix(path, suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path: file, source }),
        }
    }
    Ok(())
}

impl Engine {
    /// Merges the databases at `inputs` into this one, which counts as one more input whose stat
    /// fingerprints are kept. Returns the number of tests afterwards. The whole read-merge-write
    /// holds the write lock, so a run writing to this database meanwhile loses nothing.
    ///
    /// # Errors
    /// An input that cannot be read (nothing changes then), or a write error.
    pub fn merge_from(&mut self, inputs: &[PathBuf]) -> Result<usize> {
        let (store, rules) = (&self.store, &self.paths);
        let merged = store.locked(|| {
            let mut all = vec![Input {
                data: store.portable(rules)?,
                local: true,
            }];
            all.extend(read_inputs(inputs, rules)?);
            let merged = merge(&all);
            store.replace_with(&merged)?;
            Ok(merged.tests.len())
        });
        // Row ids changed: the id caches are stale.
        self.file_ids.clear();
        self.block_ids.clear();
        merged
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
