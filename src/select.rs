//! Selection: which stored block versions are outdated, and so which tests must run.
//!
//! A test is selected when any block version it depends on is no longer current (its file
//! changed that block, or the file is gone), when it did not pass last time (failed, or never
//! finished), or when a new file may change what it sees (a new `conftest.py` above it, a new
//! module in a package it imports). Everything else is provably unaffected.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use crate::block::{DATA_BLOCK, MISSING_HASH, MODULE_BLOCK, is_pseudo};
use crate::engine::{Current, Engine, Fingerprint, fact_in, parallel_map, read_current, stat};
use crate::error::Result;
use crate::facts::ALWAYS;
use crate::store::{FileRow, TestRow};

/// A stored file whose blocks are outdated.
#[derive(Clone, Debug)]
pub struct ChangedFile {
    /// Relative path.
    pub path: String,
    /// Names of the outdated blocks (`<module>`, `Order.total`, `=TIMEOUT`).
    pub blocks: Vec<String>,
    /// Why the file could not be parsed, if it could not.
    pub parse_error: Option<String>,
    /// The file no longer exists.
    pub deleted: bool,
}

/// The outcome of a selection.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Node ids of the stored tests that must run.
    pub selected: Vec<String>,
    /// Why each of `selected` must run, in the same order: the first reason found.
    pub reasons: Vec<String>,
    /// Node ids of every stored test.
    pub known_tests: Vec<String>,
    /// Files stored tests come from.
    pub known_files: Vec<String>,
    /// Files that hold at least one selected test.
    pub collect_files: Vec<String>,
    /// Files with outdated blocks.
    pub changed: Vec<ChangedFile>,
    /// Python files not in the database yet.
    pub new_files: Vec<String>,
    /// Recorded seconds of the stored tests that were not selected.
    pub deselected_duration: f64,
    /// Recorded seconds of the selected tests: what a run should take.
    pub selected_duration: f64,
}

enum Scan {
    Unchanged(Option<Fingerprint>),
    Changed(Current),
    Missing,
}

impl Engine {
    /// Compares the project on disk with the database.
    ///
    /// `skip_dirs` are pytest's `norecursedirs`.
    ///
    /// # Errors
    /// Database errors.
    pub fn select(&mut self, skip_dirs: &[String]) -> Result<Selection> {
        let rows = self.store.files()?;
        let root = &self.root;
        let facts = &self.facts;
        let scans = parallel_map(&rows, |row| {
            if is_pseudo(&row.path) {
                // A fact: current when its value hashes as stored; never read from disk.
                let hash = fact_in(facts, &row.path);
                if row.path != ALWAYS && row.clean_hash == Some(hash) {
                    Scan::Unchanged(None)
                } else if hash == MISSING_HASH {
                    Scan::Missing
                } else {
                    Scan::Changed(Current::fact(hash))
                }
            } else {
                scan(root, row)
            }
        });
        let mut stale_ids = Vec::new();
        let mut stale_reasons: HashMap<i64, String> = HashMap::new();
        let mut fingerprints = Vec::new();
        let mut selection = Selection::default();
        // Changed and missing files; their stored blocks are read below, in one scan.
        let mut outdated: Vec<(&FileRow, Option<Current>)> = Vec::new();
        for (row, scan) in rows.iter().zip(scans) {
            let current = match scan {
                Scan::Unchanged(update) => {
                    if let Some(fp) = update {
                        fingerprints.push((row.id, fp.mtime_ns, fp.size, fp.hash));
                    }
                    continue;
                }
                Scan::Changed(current) => {
                    let fp = current.fingerprint;
                    fingerprints.push((row.id, fp.mtime_ns, fp.size, fp.hash));
                    Some(current)
                }
                Scan::Missing => None,
            };
            outdated.push((row, current));
        }
        let ids: HashSet<i64> = outdated.iter().map(|(row, _)| row.id).collect();
        let mut stored_blocks = self.store.blocks_of_files(&ids)?;
        for (row, current) in outdated {
            let mut names = BTreeSet::new();
            for block in stored_blocks.remove(&row.id).unwrap_or_default() {
                let is_data = block.name == DATA_BLOCK;
                let now = match &current {
                    Some(current) => current.model.checksum_of(&block.name),
                    // A data file that was missing when the test ran, and still is.
                    None if is_data => Some(MISSING_HASH),
                    None => None,
                };
                if now != Some(block.checksum) || row.path == ALWAYS {
                    stale_ids.push(block.id);
                    let why = match &current {
                        _ if is_data => data_reason(&row.path, block.checksum, now),
                        None => format!("{} was deleted", row.path),
                        Some(c) if c.model.parse_error.is_some() => {
                            format!("{} does not parse", row.path)
                        }
                        Some(_) if block.name == MODULE_BLOCK => {
                            format!("module-level code of {} changed", row.path)
                        }
                        Some(_) => format!("{}::{} changed", row.path, block.name),
                    };
                    stale_reasons.insert(block.id, why);
                    names.insert(block.name);
                }
            }
            self.touched.insert(row.path.clone());
            if names.is_empty() && current.is_none() {
                continue; // a data file still missing, as when its readers ran
            }
            selection.changed.push(ChangedFile {
                path: row.path.clone(),
                blocks: names.into_iter().collect(),
                parse_error: current.as_ref().and_then(|c| c.model.parse_error.clone()),
                deleted: current.is_none(),
            });
            self.remember(&row.path, current);
        }
        // The fingerprints only spare the next run some reading: a read-only or busy database
        // must not stop selection.
        let _ = self.store.set_fingerprints(&fingerprints);

        // Only this run variant's tests, under their own node ids.
        let tests: Vec<TestRow> = self
            .store
            .tests()?
            .into_iter()
            .filter_map(|mut test| {
                test.nodeid = self.variant_nodeid(&test.nodeid)?.to_owned();
                Some(test)
            })
            .collect();
        // Node id → why it is selected; the first reason found is kept.
        let mut selected: HashMap<String, String> = HashMap::new();
        for (block, stored) in self.store.dependents(&stale_ids)? {
            if let Some(nodeid) = self.variant_nodeid(&stored) {
                selected
                    .entry(nodeid.to_owned())
                    .or_insert_with(|| stale_reasons[&block].clone());
            }
        }
        for test in &tests {
            let why = match test.outcome.as_str() {
                "failed" => "failed last time",
                "pending" => "has not finished a run yet",
                crate::outcome::OWED => {
                    "recorded before a conftest.py or package module that a merged baseline knows"
                }
                _ => continue,
            };
            selected
                .entry(test.nodeid.clone())
                .or_insert_with(|| why.to_owned());
        }

        let new_files = self.new_files(&rows, &tests, skip_dirs, &mut selected);
        selection.new_files.clone_from(&new_files);
        self.new_files = new_files;

        let mut known_files = BTreeSet::new();
        let mut collect_files = BTreeSet::new();
        for test in &tests {
            known_files.insert(test.file.clone());
            selection.known_tests.push(test.nodeid.clone());
            if let Some(why) = selected.remove(&test.nodeid) {
                selection.selected.push(test.nodeid.clone());
                selection.reasons.push(why);
                collect_files.insert(test.file.clone());
                selection.selected_duration += test.duration;
            } else {
                selection.deselected_duration += test.duration;
            }
        }
        selection.known_files = known_files.into_iter().collect();
        selection.collect_files = collect_files.into_iter().collect();
        Ok(selection)
    }
    /// Python files under the root that the database does not know, and the tests they may
    /// affect: a new `conftest.py` reruns the tests below it. A new module affects only the
    /// tests that looked for it (a failed import, stored as its missing source) or listed its
    /// directory (`pkgutil.iter_modules`), which their recorded dependencies select.
    fn new_files(
        &self,
        rows: &[FileRow],
        tests: &[TestRow],
        skip_dirs: &[String],
        selected: &mut HashMap<String, String>,
    ) -> Vec<String> {
        let known: HashSet<&str> = rows.iter().map(|row| row.path.as_str()).collect();
        let mut new_files = Vec::new();
        walk_python_files(&self.root, "", skip_dirs, &mut new_files);
        new_files.retain(|path| !known.contains(path.as_str()));
        new_files.sort();
        for path in &new_files {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name != "conftest.py" {
                continue;
            }
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            for test in tests.iter().filter(|t| t.file.starts_with(&prefix)) {
                selected
                    .entry(test.nodeid.clone())
                    .or_insert_with(|| format!("new {path}"));
            }
        }
        new_files
    }
}

/// Why a test that depends on the `<data>` block of `path` (stored with checksum `stored`) must
/// run, given the checksum now (`None`: the file is gone).
fn data_reason(path: &str, stored: i64, now: Option<i64>) -> String {
    if path == ALWAYS {
        return "always runs (diff_always)".to_owned();
    }
    let gone = now.is_none_or(|hash| hash == MISSING_HASH);
    if let Some((kind, name)) = path.strip_prefix('<').and_then(|rest| rest.split_once('>')) {
        let name = name.trim_start_matches('/');
        return match (kind, gone, stored == MISSING_HASH) {
            ("dist", true, _) => format!("installed package {name} was uninstalled"),
            ("dist", _, true) => format!("installed package {name} was installed"),
            ("dist", _, _) => format!("installed package {name} changed version or location"),
            ("config", _, _) if name == "plugins" => {
                "the installed pytest plugins changed".to_owned()
            }
            ("config", _, _) => "the pytest configuration changed".to_owned(),
            ("python", _, _) => "the Python version changed".to_owned(),
            ("glob", _, _) => format!("the files matching declared dependency {name} changed"),
            _ => format!("{path} changed"),
        };
    }
    if path.ends_with('/') {
        let what = if gone {
            "was deleted"
        } else if stored == MISSING_HASH {
            "was created"
        } else {
            "gained or lost files"
        };
        format!("listed directory {path} {what}")
    } else if path.ends_with(".py") && stored == MISSING_HASH && !gone {
        format!("new module {path}, which an import looked for")
    } else if gone {
        format!("data file {path} was deleted")
    } else if stored == MISSING_HASH {
        format!("data file {path} was created")
    } else {
        format!("changed data file {path}")
    }
}

fn scan(root: &Path, row: &FileRow) -> Scan {
    let full = root.join(&row.path);
    let Some((mtime_ns, size)) = stat(&full) else {
        return Scan::Missing;
    };
    if row.mtime_ns == Some(mtime_ns)
        && row.size == Some(size)
        && row.content_hash.is_some()
        && row.content_hash == row.clean_hash
    {
        return Scan::Unchanged(None);
    }
    if row.clean_hash.is_some() {
        // Hash before parsing: a touched but unchanged file costs one read, no parse.
        if let Ok(bytes) = std::fs::read(&full) {
            let hash = crate::checksum::hash_bytes(&bytes);
            if Some(hash) == row.clean_hash {
                return Scan::Unchanged(Some(Fingerprint {
                    mtime_ns,
                    size,
                    hash,
                }));
            }
        }
    }
    match read_current(root, &row.path) {
        Some(current) => Scan::Changed(current),
        None => Scan::Missing,
    }
}

/// Collects the `.py` files under `root/dir`, skipping hidden directories, caches, virtual
/// environments and `skip_dirs` globs.
fn walk_python_files(root: &Path, dir: &str, skip_dirs: &[String], out: &mut Vec<String>) {
    let full = if dir.is_empty() {
        root.to_owned()
    } else {
        root.join(dir)
    };
    let Ok(entries) = std::fs::read_dir(&full) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let relative = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if kind.is_dir() {
            let skipped = name.starts_with('.')
                || name == "__pycache__"
                || name == "node_modules"
                || name == "site-packages"
                || skip_dirs.iter().any(|pattern| glob_match(pattern, &name))
                || entry.path().join("pyvenv.cfg").exists();
            if !skipped {
                walk_python_files(root, &relative, skip_dirs, out);
            }
        } else if kind.is_file() && name.ends_with(".py") {
            out.push(relative);
        }
    }
}

/// `fnmatch` with `*` and `?`, as pytest's `python_files` and `norecursedirs` use.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn matches(pattern: &[u8], name: &[u8]) -> bool {
        match (pattern.first(), name.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&pattern[1..], name) || (!name.is_empty() && matches(pattern, &name[1..]))
            }
            (Some(b'?'), Some(_)) => matches(&pattern[1..], &name[1..]),
            (Some(p), Some(n)) if p == n => matches(&pattern[1..], &name[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("test_*.py", "test_a.py"));
        assert!(glob_match("*_test.py", "a_test.py"));
        assert!(!glob_match("test_*.py", "helpers.py"));
        assert!(glob_match("*.egg", "x.egg"));
        assert!(glob_match("{arch}", "{arch}"));
    }
}
