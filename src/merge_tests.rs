//! Merge: on real databases recorded by the engine from files in temporary projects.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::{Input, merge, merge_files};
use crate::engine::Engine;
use crate::error::Error;
use crate::record::TestRecord;
use crate::store::{Portable, PortableFile, PortableTest, Store};
use crate::stored_paths::StoredPaths;

const CALC: &str = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n";
const TESTS: &str = "from calc import add, mul\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n\
                     def test_mul():\n    assert mul(2, 3) == 6\n";

/// A directory removed when dropped.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> Dir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "difftest-merge-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Dir(dir)
}

/// Writes the project's two files under `root`, a minute old so that their stat fingerprints
/// are trusted (see `trusted_mtime`).
fn project(root: &Path, calc: &str) {
    fs::write(root.join("calc.py"), calc).unwrap();
    fs::write(root.join("test_calc.py"), TESTS).unwrap();
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for file in ["calc.py", "test_calc.py"] {
        fs::File::options()
            .write(true)
            .open(root.join(file))
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
}

fn engine(root: &Path, db: &Path) -> Engine {
    let mut engine = Engine::open(db, root, 1000, &[]).unwrap();
    engine.set_modules(vec![
        ("calc".to_owned(), "calc.py".to_owned()),
        ("test_calc".to_owned(), "test_calc.py".to_owned()),
    ]);
    engine
}

/// A test of test_calc.py that ran `function` of calc.py.
fn record(root: &Path, test: &str, function: &str, outcome: &str) -> TestRecord {
    let line_of = |file: &str, needle: &str| {
        let text = fs::read_to_string(root.join(file)).unwrap();
        u32::try_from(text.lines().position(|l| l.contains(needle)).unwrap() + 1).unwrap()
    };
    TestRecord {
        nodeid: format!("test_calc.py::{test}"),
        file: "test_calc.py".to_owned(),
        outcome: outcome.to_owned(),
        duration: 0.5,
        code: vec![
            ("test_calc.py".to_owned(), 0),
            (
                "test_calc.py".to_owned(),
                line_of("test_calc.py", &format!("def {test}(")),
            ),
            (
                "calc.py".to_owned(),
                line_of("calc.py", &format!("def {function}(")),
            ),
        ],
        roots: vec!["test_calc.py".to_owned()],
        names: Vec::new(),
        data: Vec::new(),
        openers: Vec::new(),
    }
}

/// One baseline session recording `tests` into `db`, with `created` as its meta.
fn baseline(root: &Path, db: &Path, tests: &[(&str, &str, &str)], created: &str) {
    let mut engine = engine(root, db);
    let records: Vec<TestRecord> = tests
        .iter()
        .map(|(test, function, outcome)| record(root, test, function, outcome))
        .collect();
    engine.record(&records).unwrap();
    engine
        .finish(&[("created".to_owned(), created.to_owned())])
        .unwrap();
}

fn read(db: &Path) -> Portable {
    Store::open_input(db)
        .unwrap()
        .portable(&StoredPaths::of_any_project())
        .unwrap()
}

fn set_recorded(db: &Path, nodeid: &str, when: i64) {
    let conn = Connection::open(db).unwrap();
    conn.execute(
        "UPDATE test SET recorded = ?2 WHERE nodeid = ?1",
        rusqlite::params![nodeid, when],
    )
    .unwrap();
}

fn selected(root: &Path, db: &Path) -> Vec<String> {
    let mut selected = engine(root, db).select(&[]).unwrap().selected;
    selected.sort();
    selected
}

#[test]
fn union_of_tests_and_most_recent_record_wins_whatever_the_order() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b) = (root.join("a.db"), root.join("b.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "100");
    baseline(
        root,
        &b,
        &[("test_add", "add", "failed"), ("test_mul", "mul", "passed")],
        "200",
    );
    set_recorded(&a, "test_calc.py::test_add", 50);
    set_recorded(&b, "test_calc.py::test_add", 40);

    let (ab, ba) = (root.join("ab.db"), root.join("ba.db"));
    assert_eq!(merge_files(&ab, &[a.clone(), b.clone()]).unwrap(), 2);
    assert_eq!(merge_files(&ba, &[b, a]).unwrap(), 2);
    let merged = read(&ab);
    assert_eq!(merged, read(&ba));
    let outcomes: Vec<(&str, &str)> = merged
        .tests
        .iter()
        .map(|t| (t.nodeid.as_str(), t.outcome.as_str()))
        .collect();
    // a.db's test_add is the more recent record.
    assert_eq!(
        outcomes,
        [
            ("test_calc.py::test_add", "passed"),
            ("test_calc.py::test_mul", "passed")
        ]
    );
    // Meta comes from the most recently created input.
    assert!(
        merged
            .meta
            .contains(&("created".to_owned(), "200".to_owned()))
    );
    assert!(!ab.with_file_name("ab.db-wal").exists());
}

#[test]
fn equal_times_are_decided_by_contents_and_a_failure_wins() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b) = (root.join("a.db"), root.join("b.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    baseline(root, &b, &[("test_add", "add", "failed")], "1");
    set_recorded(&a, "test_calc.py::test_add", 10);
    set_recorded(&b, "test_calc.py::test_add", 10);
    for order in [[&a, &b], [&b, &a]] {
        let inputs: Vec<Input> = order
            .iter()
            .map(|db| Input {
                data: read(db),
                local: false,
            })
            .collect();
        assert_eq!(merge(&inputs).tests[0].outcome, "failed");
    }
}

#[test]
fn a_test_that_has_not_run_loses_to_one_that_has() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b) = (root.join("a.db"), root.join("b.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    let mut other = engine(root, &b);
    other
        .add_pending(&[(
            "test_calc.py::test_add".to_owned(),
            "test_calc.py".to_owned(),
        )])
        .unwrap();
    drop(other);
    let out = root.join("out.db");
    merge_files(&out, &[b, a]).unwrap();
    let merged = read(&out);
    assert_eq!(merged.tests[0].outcome, "passed");
    assert!(merged.tests[0].shared.is_some());
}

#[test]
fn merged_database_selects_like_its_inputs_and_forgets_stat_fingerprints() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b) = (root.join("a.db"), root.join("b.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    baseline(root, &b, &[("test_mul", "mul", "passed")], "2");
    assert!(read(&a).files.iter().any(|f| f.mtime_ns.is_some()));
    let out = root.join("out.db");
    merge_files(&out, &[a, b]).unwrap();
    let merged = read(&out);
    assert!(
        merged
            .files
            .iter()
            .all(|f| f.mtime_ns.is_none() && f.size.is_none())
    );
    assert!(merged.files.iter().all(|f| f.clean_hash.is_some()));
    assert!(selected(root, &out).is_empty());
    fs::write(root.join("calc.py"), CALC.replace("a * b", "b * a")).unwrap();
    assert_eq!(selected(root, &out), ["test_calc.py::test_mul"]);
}

#[test]
fn files_whose_inputs_disagree_are_not_clean() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b) = (root.join("a.db"), root.join("b.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    // b.db was recorded on other contents of calc.py, where add was different.
    fs::write(root.join("calc.py"), CALC.replace("a + b", "b + a")).unwrap();
    baseline(root, &b, &[("test_mul", "mul", "passed")], "2");
    fs::write(root.join("calc.py"), CALC).unwrap();
    let out = root.join("out.db");
    merge_files(&out, &[a, b]).unwrap();
    let calc = read(&out)
        .files
        .into_iter()
        .find(|f| f.path == "calc.py")
        .unwrap();
    assert_eq!(calc.clean_hash, None);
    // Neither test is affected by the current contents: add is a.db's, mul is unchanged.
    assert!(selected(root, &out).is_empty());
}

#[test]
fn merge_into_a_local_database_keeps_its_fingerprints_and_newer_records() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (local, remote) = (root.join("local.db"), root.join("remote.db"));
    baseline(
        root,
        &remote,
        &[("test_add", "add", "passed"), ("test_mul", "mul", "passed")],
        "1",
    );
    baseline(root, &local, &[("test_add", "add", "failed")], "2");
    set_recorded(&remote, "test_calc.py::test_add", 1);
    let before = read(&local);
    let mut engine = engine(root, &local);
    assert_eq!(engine.merge_from(&[remote]).unwrap(), 2);
    drop(engine);
    let after = read(&local);
    let calc = |data: &Portable| data.files.iter().find(|f| f.path == "calc.py").cloned();
    assert_eq!(
        calc(&after).unwrap().mtime_ns,
        calc(&before).unwrap().mtime_ns
    );
    assert_eq!(after.tests[0].outcome, "failed");
    assert_eq!(selected(root, &local), ["test_calc.py::test_add"]);
}

/// `--diff --diff-remote` merging while a baseline writes the same database: a test the
/// baseline commits at any point of the merge is kept, or the baseline waits for the merge.
#[test]
fn a_merge_into_a_live_database_loses_nothing_another_writer_commits() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let remote = root.join("remote.db");
    baseline(root, &remote, &[("test_mul", "mul", "passed")], "1");
    for at in (1..2_000).step_by(23) {
        let local = root.join(format!("local-{at}.db"));
        baseline(root, &local, &[("test_add", "add", "passed")], "2");
        let writer = Connection::open(&local).unwrap();
        // A writer that cannot get the lock gives up at once rather than waiting for us.
        writer.busy_timeout(std::time::Duration::ZERO).unwrap();
        let committed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let outcome = std::sync::Arc::clone(&committed);
        let mut steps = 0;
        let mut pending = Some(writer);
        let handler = move || {
            steps += 1;
            if steps == at
                && let Some(writer) = pending.take()
            {
                let insert = "INSERT INTO test (nodeid, outcome) VALUES ('other.py::t', 3)";
                *outcome.lock().unwrap() = Some(writer.execute(insert, []).is_ok());
            }
            false
        };
        let mut engine = engine(root, &local);
        let connection = engine.store.connection_mut();
        connection.progress_handler(1, Some(handler)).unwrap();
        engine.merge_from(std::slice::from_ref(&remote)).unwrap();
        drop(engine);
        let kept = read(&local)
            .tests
            .iter()
            .any(|test| test.nodeid == "other.py::t");
        if *committed.lock().unwrap() == Some(true) {
            assert!(kept, "the commit at step {at} was lost");
        }
    }
}

#[test]
fn merging_into_an_existing_output_keeps_it_one_file() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b, out) = (root.join("a.db"), root.join("b.db"), root.join("out.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    baseline(root, &b, &[("test_mul", "mul", "passed")], "2");
    assert_eq!(merge_files(&out, std::slice::from_ref(&a)).unwrap(), 1);
    // Into itself and another: in place.
    assert_eq!(merge_files(&out, &[out.clone(), b]).unwrap(), 2);
    let mode: String = Connection::open(&out)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert!(!root.join("out.db-wal").exists());
    // An output that is not a database of ours is not replaced.
    let notes = root.join("notes.db");
    fs::write(&notes, "my notes ".repeat(100)).unwrap();
    let error = merge_files(&notes, &[a]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("remove it or choose another output"),
        "{error}"
    );
    assert_eq!(fs::read_to_string(&notes).unwrap(), "my notes ".repeat(100));
}

#[test]
fn temporary_files_of_killed_merges_are_removed() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, out) = (root.join("a.db"), root.join("out.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    finished.wait().unwrap();
    let mut running = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let (dead, alive) = (finished.id(), running.id());
    let names = |pid: u32| {
        [
            format!(".out.db.merging-{pid}"),
            format!(".out.db.merging-{pid}-journal"),
        ]
    };
    for name in names(dead).iter().chain(&names(alive)) {
        fs::write(root.join(name), "half a merge").unwrap();
    }
    fs::write(root.join(".out.db.merging-notapid"), "someone else's").unwrap();
    merge_files(&out, &[a]).unwrap();
    running.kill().unwrap();
    running.wait().unwrap();
    let mut left: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(".out.db."))
        .collect();
    left.sort();
    let mut expected = names(alive).to_vec();
    expected.push(".out.db.merging-notapid".to_owned());
    assert_eq!(left, expected);
}

#[test]
fn inputs_of_another_version_or_not_ours_are_refused_and_nothing_is_written() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let good = root.join("good.db");
    baseline(root, &good, &[("test_add", "add", "passed")], "1");
    let old = root.join("old.db");
    fs::copy(&good, &old).unwrap();
    Connection::open(&old)
        .unwrap()
        .pragma_update(None, "user_version", 1)
        .unwrap();
    let text = root.join("notes.db");
    fs::write(&text, "not a database at all, just some text ".repeat(50)).unwrap();
    let foreign = root.join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE t (x); PRAGMA user_version = {};",
            crate::store::SCHEMA_VERSION
        ))
        .unwrap();
    let out = root.join("out.db");
    for (bad, expected) in [
        (&old, "schema version 1"),
        (&text, "not a pytest-difftest database"),
        (
            &foreign,
            "table \"t\", which pytest-difftest does not create",
        ),
    ] {
        let error = merge_files(&out, &[good.clone(), bad.clone()]).unwrap_err();
        assert!(matches!(error, Error::Input { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains(expected), "{message}");
        assert!(message.contains(&bad.display().to_string()), "{message}");
        assert!(!out.exists());
    }
    let missing = merge_files(&out, &[root.join("missing.db")]).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
}

fn file(path: &str) -> PortableFile {
    PortableFile {
        path: path.to_owned(),
        mtime_ns: None,
        size: None,
        content_hash: None,
        clean_hash: Some(1),
    }
}

fn passed(nodeid: &str, imports: &[&str]) -> PortableTest {
    PortableTest {
        nodeid: nodeid.to_owned(),
        file: nodeid.split("::").next().unwrap().to_owned(),
        outcome: "passed".to_owned(),
        duration_ms: 100,
        recorded: Some(10),
        own: Vec::new(),
        shared: Some(
            imports
                .iter()
                .map(|path| ((*path).to_owned(), "<module>".to_owned(), 7))
                .collect(),
        ),
    }
}

fn input(files: &[&str], tests: Vec<PortableTest>) -> Input {
    Input {
        data: Portable {
            files: files.iter().map(|path| file(path)).collect(),
            tests,
            meta: Vec::new(),
        },
        local: false,
    }
}

fn outcome_of<'p>(merged: &'p Portable, nodeid: &str) -> &'p str {
    &merged
        .tests
        .iter()
        .find(|t| t.nodeid == nodeid)
        .unwrap()
        .outcome
}

#[test]
fn a_record_made_before_files_another_input_knows_is_owed_a_rerun() {
    // `old` was recorded before pkg/plugin.py and tests/conftest.py existed; `new` knows them.
    let old = || {
        input(
            &["pkg/__init__.py", "tests/test_a.py", "other/test_b.py"],
            vec![
                passed("tests/test_a.py::test_a", &["pkg/__init__.py"]),
                passed("other/test_b.py::test_b", &["pkg/__init__.py"]),
            ],
        )
    };
    let new = || {
        input(
            &[
                "pkg/__init__.py",
                "pkg/plugin.py",
                "tests/conftest.py",
                "tests/test_a.py",
                "other/test_b.py",
                "lib/test_c.py",
            ],
            vec![passed("lib/test_c.py::test_c", &["pkg/__init__.py"])],
        )
    };
    for merged in [merge(&[old(), new()]), merge(&[new(), old()])] {
        // A conftest.py above it.
        assert_eq!(outcome_of(&merged, "tests/test_a.py::test_a"), "owed");
        // Only a new module in a package it imports, which it did not look for: selection
        // would not rerun it either.
        assert_eq!(outcome_of(&merged, "other/test_b.py::test_b"), "passed");
        // Recorded knowing every file.
        assert_eq!(outcome_of(&merged, "lib/test_c.py::test_c"), "passed");
    }
}

#[test]
fn an_owed_test_is_selected_with_its_reason() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, out) = (root.join("a.db"), root.join("out.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    let mut data = read(&a);
    for test in &mut data.tests {
        test.outcome = super::OWED.to_owned();
    }
    Store::open(&out).unwrap().replace_with(&data).unwrap();
    let selection = engine(root, &out).select(&[]).unwrap();
    assert_eq!(selection.selected, ["test_calc.py::test_add"]);
    assert!(selection.reasons[0].contains("merged baseline"));
}

/// Record times are whole seconds, so ties are common: two passed records made in the same
/// second merge to the same one whichever input comes first.
#[test]
fn records_of_the_same_second_merge_the_same_in_any_order() {
    let dir = temp_dir();
    let root = &dir.0;
    project(root, CALC);
    let (a, b) = (root.join("a.db"), root.join("b.db"));
    baseline(root, &a, &[("test_add", "add", "passed")], "1");
    baseline(root, &b, &[("test_add", "add", "passed")], "1");
    for (db, duration_ms) in [(&a, 30), (&b, 20)] {
        set_recorded(db, "test_calc.py::test_add", 10);
        Connection::open(db)
            .unwrap()
            .execute("UPDATE test SET duration_ms = ?1", [duration_ms])
            .unwrap();
    }
    let merged: Vec<PortableTest> = [[&a, &b], [&b, &a]]
        .iter()
        .map(|order| {
            let inputs: Vec<Input> = order
                .iter()
                .map(|db| Input {
                    data: read(db),
                    local: false,
                })
                .collect();
            merge(&inputs).tests.remove(0)
        })
        .collect();
    assert_eq!(merged[0], merged[1]);
    assert_eq!(merged[0].duration_ms, 30);
}
