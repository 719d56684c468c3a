//! Tests for the engine as a whole: recording a baseline, finishing it and selecting after edits,
//! on real files in a temporary project. Every step opens a fresh `Engine`, as a new pytest
//! session does, so nothing leaks between steps through the per-session caches.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use super::{ALWAYS, Engine};
use crate::error::Error;
use crate::record::TestRecord;
use crate::select::{ChangedFile, Selection};
use crate::store::SCHEMA_VERSION;

const CACHE_SIZE: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A project in a fresh temporary directory, removed when dropped.
struct Project {
    root: PathBuf,
    db: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "difftest-engine-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let project = Self {
            db: root.join(".difftest/db.sqlite"),
            root,
        };
        for (path, text) in files {
            project.write(path, text);
        }
        project
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes a file. A rewrite always moves the mtime forward, so that a same-size edit made
    /// within one timestamp tick of the baseline cannot hide behind the stat fingerprint (that
    /// race has its own test, `same_size_edit_with_same_mtime_selects_only_its_test`).
    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        let before = fs::metadata(&path)
            .ok()
            .and_then(|meta| meta.modified().ok());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        if let Some(before) = before
            && self.mtime(rel) <= before
        {
            self.set_mtime(rel, before + Duration::from_millis(10));
        }
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    fn remove(&self, rel: &str) {
        fs::remove_file(self.path(rel)).unwrap();
    }

    /// Replaces the single occurrence of `from` in the file by `to`.
    #[track_caller]
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "{from:?} must occur exactly once in {rel}"
        );
        self.write(rel, &text.replacen(from, to, 1));
    }

    fn mtime(&self, rel: &str) -> SystemTime {
        fs::metadata(self.path(rel)).unwrap().modified().unwrap()
    }

    fn set_mtime(&self, rel: &str, time: SystemTime) {
        fs::OpenOptions::new()
            .write(true)
            .open(self.path(rel))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    fn size(&self, rel: &str) -> u64 {
        fs::metadata(self.path(rel)).unwrap().len()
    }

    /// The 1-based line of the first line of `rel` containing `needle`; `""` means line 0, the
    /// module's own code.
    #[track_caller]
    fn line(&self, rel: &str, needle: &str) -> u32 {
        if needle.is_empty() {
            return 0;
        }
        let index = self
            .read(rel)
            .lines()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in {rel}"));
        u32::try_from(index + 1).unwrap()
    }

    /// `(module name, path)` of every Python file, as `sys.modules` would report them.
    fn modules(&self) -> Vec<(String, String)> {
        fn walk(root: &Path, dir: &str, out: &mut Vec<String>) {
            for entry in fs::read_dir(root.join(dir)).unwrap().flatten() {
                let name = entry.file_name().into_string().unwrap();
                let rel = if dir.is_empty() {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                if entry.file_type().unwrap().is_dir() {
                    if !name.starts_with('.') {
                        walk(root, &rel, out);
                    }
                } else if name.ends_with(".py") {
                    out.push(rel);
                }
            }
        }
        let mut paths = Vec::new();
        walk(&self.root, "", &mut paths);
        paths
            .into_iter()
            .map(|path| {
                let stem = path.trim_end_matches(".py");
                let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
                (stem.replace('/', "."), path)
            })
            .collect()
    }

    /// A new session: an engine with the module map set.
    fn engine(&self) -> Engine {
        let mut engine = Engine::open(&self.db, &self.root, CACHE_SIZE, &[]).unwrap();
        engine.set_modules(self.modules());
        engine
    }

    /// A passing test `file::[Class::]name` that executed its own function, its file's module
    /// code and the code objects at `(file, needle)` in `code`. Its roots are its file and the
    /// `conftest.py` files above it.
    #[track_caller]
    fn test(&self, nodeid: &str, code: &[(&str, &str)]) -> TestRecord {
        let file = nodeid.split("::").next().unwrap();
        let function = nodeid.rsplit("::").next().unwrap();
        let mut executed = vec![
            (file.to_owned(), 0),
            (
                file.to_owned(),
                self.line(file, &format!("def {function}(")),
            ),
        ];
        for (path, needle) in code {
            executed.push(((*path).to_owned(), self.line(path, needle)));
        }
        let mut roots = vec![file.to_owned()];
        let mut dir = Path::new(file).parent();
        while let Some(current) = dir {
            let conftest = current.join("conftest.py");
            if self.path(conftest.to_str().unwrap()).is_file() {
                roots.push(conftest.to_str().unwrap().to_owned());
            }
            dir = current.parent();
        }
        TestRecord {
            nodeid: nodeid.to_owned(),
            file: file.to_owned(),
            outcome: "passed".to_owned(),
            duration: 1.0,
            code: executed,
            roots,
            names: Vec::new(),
            data: Vec::new(),
            openers: Vec::new(),
        }
    }

    /// One baseline session: record `tests`, then finish.
    fn baseline(&self, tests: &[TestRecord]) {
        let mut engine = self.engine();
        engine.record(tests).unwrap();
        engine.finish(&[]).unwrap();
    }

    /// One selection session.
    fn select(&self) -> Selection {
        self.engine().select(&[]).unwrap()
    }

    /// The node ids one selection session selects, sorted.
    fn selected(&self) -> Vec<String> {
        sorted(self.select().selected)
    }

    /// The stored file row of `rel`.
    fn row(&self, rel: &str) -> crate::store::FileRow {
        let engine = self.engine();
        let rows = engine.store().files().unwrap();
        rows.into_iter()
            .find(|row| row.path == rel)
            .unwrap_or_else(|| panic!("{rel} not stored"))
    }

    /// Names of the stored block versions of `rel`, sorted (a name twice: two versions).
    fn stored_blocks(&self, rel: &str) -> Vec<String> {
        let id = self.row(rel).id;
        let engine = self.engine();
        let mut by_file = engine
            .store()
            .blocks_of_files(&HashSet::from([id]))
            .unwrap();
        sorted(
            by_file
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(|block| block.name)
                .collect(),
        )
    }
}

fn changed_file<'s>(selection: &'s Selection, path: &str) -> &'s ChangedFile {
    selection
        .changed
        .iter()
        .find(|changed| changed.path == path)
        .unwrap_or_else(|| panic!("{path} not changed: {:?}", selection.changed))
}

// ---------------------------------------------------------------------------------------------
// A module with two functions and two constants, tested by two tests; a third test elsewhere
// ---------------------------------------------------------------------------------------------

const CALC: &str = "\
import functools

FACTOR = 3
UNUSED = 7


def double(x):
    return x * 2


def triple(x):
    return x * FACTOR
";

const TEST_CALC: &str = "\
from calc import double, triple


def test_double():
    assert double(2) == 4


def test_triple():
    assert triple(2) == 6
";

const TEST_OTHER: &str = "\
def test_other():
    assert True
";

const DOUBLE: &str = "tests/test_calc.py::test_double";
const TRIPLE: &str = "tests/test_calc.py::test_triple";
const OTHER: &str = "tests/test_other.py::test_other";

fn calc_project() -> Project {
    let project = Project::new(&[
        ("calc.py", CALC),
        ("tests/test_calc.py", TEST_CALC),
        ("tests/test_other.py", TEST_OTHER),
    ]);
    let tests = [
        project.test(DOUBLE, &[("calc.py", "def double(")]),
        project.test(TRIPLE, &[("calc.py", "def triple(")]),
        project.test(OTHER, &[]),
    ];
    project.baseline(&tests);
    project
}

// ---------------------------------------------------------------------------------------------
// 1. Empty database
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_database_knows_no_tests() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    let selection = project.select();
    assert!(selection.selected.is_empty());
    assert!(selection.known_tests.is_empty());
    assert!(selection.known_files.is_empty());
    assert!(selection.collect_files.is_empty());
    assert!(selection.changed.is_empty());
    assert!(project.db.is_file(), "opening creates the database");
}

// ---------------------------------------------------------------------------------------------
// 2. Function, binding and module-shape changes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_baseline_that_prefetches_records_what_one_reading_on_demand_does() {
    for prefetch in [false, true] {
        let project = calc_project();
        project.edit("calc.py", "return x * 2", "return x + x");
        let mut engine = project.engine();
        assert_eq!(
            sorted(engine.select(&[]).unwrap().selected),
            strings(&[DOUBLE])
        );
        if prefetch {
            engine.prefetch().unwrap();
            // Done before the record asks, as when pytest collects meanwhile.
            while !engine.prefetching.as_ref().unwrap().worker.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let rerun = project.test(DOUBLE, &[("calc.py", "def double(")]);
        engine.record(&[rerun]).unwrap();
        engine.finish(&[]).unwrap();
        drop(engine);
        assert!(project.selected().is_empty(), "prefetch: {prefetch}");
        project.edit("calc.py", "return x * FACTOR", "return x * FACTOR * 1");
        assert_eq!(
            project.selected(),
            strings(&[TRIPLE]),
            "prefetch: {prefetch}"
        );
        project.edit("calc.py", "return x + x", "return 2 * x");
        assert_eq!(
            project.selected(),
            strings(&[DOUBLE, TRIPLE]),
            "prefetch: {prefetch}"
        );
        project.edit("calc.py", "return 2 * x", "return x + x");
        project.edit("calc.py", "return x * FACTOR * 1", "return x * FACTOR");
        // The test's own file was unchanged, so read by the prefetch, if any.
        project.edit("tests/test_calc.py", "double(2) == 4", "double(3) == 6");
        assert_eq!(
            project.selected(),
            strings(&[DOUBLE]),
            "prefetch: {prefetch}"
        );
    }
}

#[test]
fn unchanged_project_selects_nothing() {
    let project = calc_project();
    let selection = project.select();
    assert!(selection.selected.is_empty());
    assert_eq!(
        sorted(selection.known_tests),
        strings(&[DOUBLE, TRIPLE, OTHER])
    );
    assert_eq!(
        selection.known_files,
        strings(&["tests/test_calc.py", "tests/test_other.py"])
    );
    assert!(selection.collect_files.is_empty());
    assert!(selection.changed.is_empty());
    assert!(selection.new_files.is_empty());
    assert!((selection.deselected_duration - 3.0).abs() < 1e-9);
    // The baseline left every file clean.
    for path in ["calc.py", "tests/test_calc.py", "tests/test_other.py"] {
        let row = project.row(path);
        assert!(row.clean_hash.is_some(), "{path} is not clean");
        assert_eq!(row.clean_hash, row.content_hash);
        assert_eq!(row.size, Some(i64::try_from(project.size(path)).unwrap()));
    }
}

#[test]
fn function_edit_with_new_size_selects_only_its_test() {
    let project = calc_project();
    let size = project.size("calc.py");
    project.edit("calc.py", "return x * 2", "return x + x");
    project.edit("calc.py", "def double(x):", "def double(x):  # fast");
    assert_ne!(project.size("calc.py"), size);
    let selection = project.select();
    assert_eq!(selection.selected, strings(&[DOUBLE]));
    assert_eq!(selection.collect_files, strings(&["tests/test_calc.py"]));
    assert!((selection.deselected_duration - 2.0).abs() < 1e-9);
    assert!((selection.selected_duration - 1.0).abs() < 1e-9);
    assert_eq!(selection.changed.len(), 1);
    let changed = changed_file(&selection, "calc.py");
    assert_eq!(changed.blocks, strings(&["double"]));
    assert!(!changed.deleted);
    assert_eq!(changed.parse_error, None);
    // Until the test runs again, every session selects it.
    assert_eq!(project.selected(), strings(&[DOUBLE]));
}

#[test]
fn comment_only_edit_selects_nothing() {
    let project = calc_project();
    project.edit("calc.py", "def double(x):", "def double(x):  # fast");
    assert!(project.selected().is_empty());
}

#[test]
fn touched_but_unchanged_file_selects_nothing_and_refreshes_its_fingerprint() {
    let project = calc_project();
    let before = project.row("calc.py");
    // An mtime old enough to trust (a fresh one is stored as NULL: see `trusted_mtime`).
    let older = project.mtime("calc.py") - Duration::from_secs(10);
    project.set_mtime("calc.py", older);
    assert!(project.selected().is_empty());
    let after = project.row("calc.py");
    assert_ne!(after.mtime_ns, before.mtime_ns);
    assert!(after.mtime_ns.is_some());
    assert_eq!(after.clean_hash, before.clean_hash);
    assert_eq!(after.content_hash, before.content_hash);
    assert!(project.selected().is_empty());
}

#[test]
fn same_size_edit_with_new_mtime_selects_only_its_test() {
    let project = calc_project();
    let (size, mtime) = (project.size("calc.py"), project.mtime("calc.py"));
    project.edit("calc.py", "return x * 2", "return x * 5");
    project.set_mtime("calc.py", mtime + Duration::from_secs(2));
    assert_eq!(project.size("calc.py"), size);
    assert_eq!(project.selected(), strings(&[DOUBLE]));
}

/// An edit that keeps the size and lands within the file system's timestamp granularity (a coarse
/// clock tick, or whole seconds on some file systems) leaves `(mtime, size)` as the baseline
/// stored them.
#[test]
fn same_size_edit_with_same_mtime_selects_only_its_test() {
    let project = calc_project();
    let (size, mtime) = (project.size("calc.py"), project.mtime("calc.py"));
    project.edit("calc.py", "return x * 2", "return x * 5");
    project.set_mtime("calc.py", mtime);
    assert_eq!(project.size("calc.py"), size);
    assert_eq!(project.mtime("calc.py"), mtime);
    assert_eq!(project.selected(), strings(&[DOUBLE]));
}

#[test]
fn edit_of_a_test_function_selects_only_that_test() {
    let project = calc_project();
    project.edit("tests/test_calc.py", "double(2) == 4", "double(3) == 6");
    assert_eq!(project.selected(), strings(&[DOUBLE]));
}

#[test]
fn constant_named_by_an_executed_function_selects_only_its_test() {
    let project = calc_project();
    project.edit("calc.py", "FACTOR = 3", "FACTOR = 4");
    let selection = project.select();
    assert_eq!(selection.selected, strings(&[TRIPLE]));
    assert_eq!(
        changed_file(&selection, "calc.py").blocks,
        strings(&["=FACTOR"])
    );
}

#[test]
fn constant_nobody_mentions_selects_nothing() {
    let project = calc_project();
    project.edit("calc.py", "UNUSED = 7", "UNUSED = 8");
    let selection = project.select();
    assert!(selection.selected.is_empty());
    // The file was read, but none of its stored versions is outdated.
    assert!(
        selection
            .changed
            .iter()
            .all(|changed| changed.blocks.is_empty()),
        "{:?}",
        selection.changed
    );
    assert!(project.selected().is_empty());
}

#[test]
fn removed_function_selects_its_test() {
    let project = calc_project();
    project.edit("calc.py", "def triple(x):\n    return x * FACTOR\n", "");
    let selection = project.select();
    assert!(selection.selected.contains(&TRIPLE.to_owned()));
    assert!(!selection.selected.contains(&OTHER.to_owned()));
    assert!(
        changed_file(&selection, "calc.py")
            .blocks
            .contains(&"triple".to_owned())
    );
}

#[test]
fn module_level_call_selects_every_importer() {
    let project = calc_project();
    project.write("calc.py", &format!("{CALC}\nprint(double(1))\n"));
    let selection = project.select();
    assert_eq!(
        sorted(selection.selected.clone()),
        strings(&[DOUBLE, TRIPLE])
    );
    assert_eq!(
        changed_file(&selection, "calc.py").blocks,
        strings(&["<module>"])
    );
}

#[test]
fn class_attribute_selects_tests_that_name_the_class() {
    let source = "\
class TestShapes:
    sides = 4

    def test_square(self):
        assert self.sides == 4


def test_plain():
    assert True
";
    let project = Project::new(&[("tests/test_shapes.py", source)]);
    let mut square = project.test("tests/test_shapes.py::TestShapes::test_square", &[]);
    square.names = strings(&["TestShapes"]);
    let plain = project.test("tests/test_shapes.py::test_plain", &[]);
    project.baseline(&[square, plain]);
    project.edit("tests/test_shapes.py", "sides = 4", "sides = 5");
    assert_eq!(
        project.selected(),
        strings(&["tests/test_shapes.py::TestShapes::test_square"])
    );
}

#[test]
fn an_attribute_of_self_is_looked_up_in_the_named_bases_only() {
    // `Base` refers to `Helper` in its statement; `self.size()` in `Square` is `Base`'s
    // attribute or nobody's, never `Helper.size` (following every class a base's statement
    // reaches multiplied at every level: minutes per test on click).
    let source = "\
class Helper:
    def size(self):
        return 1


class Base:
    helper = Helper


class Square(Base):
    def measure(self):
        return self.size()
";
    let test = "\
from shapes import Square


def test_measure():
    Square().measure()
";
    let project = Project::new(&[("shapes.py", source), ("tests/test_shapes.py", test)]);
    let measure = project.test(
        "tests/test_shapes.py::test_measure",
        &[("shapes.py", "def measure(")],
    );
    project.baseline(&[measure]);
    project.edit("shapes.py", "return 1", "return 2");
    assert!(project.selected().is_empty());
    project.edit("shapes.py", "helper = Helper", "helper = None");
    assert_eq!(
        project.selected(),
        strings(&["tests/test_shapes.py::test_measure"])
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Deleted files
// ---------------------------------------------------------------------------------------------

#[test]
fn deleted_module_selects_its_dependents() {
    let project = calc_project();
    project.remove("calc.py");
    let selection = project.select();
    assert_eq!(
        sorted(selection.selected.clone()),
        strings(&[DOUBLE, TRIPLE])
    );
    assert_eq!(selection.changed.len(), 1);
    let changed = changed_file(&selection, "calc.py");
    assert!(changed.deleted);
    assert_eq!(changed.parse_error, None);
    for name in ["<module>", "double", "triple", "=FACTOR"] {
        assert!(
            changed.blocks.iter().any(|block| block == name),
            "{name} missing from {:?}",
            changed.blocks
        );
    }
}

#[test]
fn deleted_module_is_forgotten_once_no_test_depends_on_it() {
    let project = calc_project();
    project.remove("calc.py");
    project.write(
        "tests/test_calc.py",
        TEST_OTHER.replace("other", "double").as_str(),
    );
    let mut engine = project.engine();
    let selection = engine.select(&[]).unwrap();
    assert_eq!(
        sorted(selection.selected.clone()),
        strings(&[DOUBLE, TRIPLE])
    );
    let double = project.test(DOUBLE, &[]);
    engine.record(&[double]).unwrap();
    engine.remove_tests(&strings(&[TRIPLE])).unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    let engine = project.engine();
    let paths: Vec<String> = engine
        .store()
        .files()
        .unwrap()
        .into_iter()
        .map(|row| row.path)
        .collect();
    assert!(!paths.contains(&"calc.py".to_owned()), "{paths:?}");
    assert!(project.selected().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 4. Failed and pending tests
// ---------------------------------------------------------------------------------------------

#[test]
fn failed_test_is_selected_until_it_passes() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    let mut double = project.test(DOUBLE, &[("calc.py", "def double(")]);
    double.outcome = "failed".to_owned();
    let triple = project.test(TRIPLE, &[("calc.py", "def triple(")]);
    project.baseline(&[double.clone(), triple]);
    assert_eq!(project.selected(), strings(&[DOUBLE]));
    assert_eq!(project.selected(), strings(&[DOUBLE]));
    double.outcome = "passed".to_owned();
    project.baseline(&[double]);
    assert!(project.selected().is_empty());
}

#[test]
fn skipped_test_is_not_selected_again() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    let mut double = project.test(DOUBLE, &[("calc.py", "def double(")]);
    double.outcome = "skipped".to_owned();
    project.baseline(&[double]);
    assert!(project.selected().is_empty());
}

#[test]
fn pending_test_is_selected_until_it_runs() {
    let project = calc_project();
    let mut engine = project.engine();
    engine
        .add_pending(&[
            (
                "tests/test_calc.py::test_new".to_owned(),
                "tests/test_calc.py".to_owned(),
            ),
            // Already known: stays as it is.
            (DOUBLE.to_owned(), "tests/test_calc.py".to_owned()),
        ])
        .unwrap();
    drop(engine);
    let selection = project.select();
    assert_eq!(
        selection.selected,
        strings(&["tests/test_calc.py::test_new"])
    );
    assert_eq!(selection.collect_files, strings(&["tests/test_calc.py"]));
    assert_eq!(selection.known_tests.len(), 4);

    project.write(
        "tests/test_calc.py",
        &format!("{TEST_CALC}\n\ndef test_new():\n    assert True\n"),
    );
    let new = project.test("tests/test_calc.py::test_new", &[]);
    // The test file changed its shape, so the calc tests are selected with it; rerun them all.
    let rerun = [
        project.test(DOUBLE, &[("calc.py", "def double(")]),
        project.test(TRIPLE, &[("calc.py", "def triple(")]),
        new,
    ];
    let mut engine = project.engine();
    engine.select(&[]).unwrap();
    engine.record(&rerun).unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    assert!(project.selected().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 5. Owed tests keep the old version of a block alive
// ---------------------------------------------------------------------------------------------

#[test]
fn test_owed_a_rerun_stays_selected_until_it_runs() {
    let helper = "\
def helper(x):
    return x + 1
";
    let tests = "\
from helper import helper


def test_a():
    assert helper(1) == 2


def test_b():
    assert helper(2) == 3
";
    let project = Project::new(&[("helper.py", helper), ("tests/test_h.py", tests)]);
    let a = "tests/test_h.py::test_a";
    let b = "tests/test_h.py::test_b";
    let record = |nodeid| project.test(nodeid, &[("helper.py", "def helper(")]);
    project.baseline(&[record(a), record(b)]);
    // The test file's `from helper import helper` forwards the name; the tests ran `helper`,
    // whose block covers its `def` header.
    assert_eq!(
        project.stored_blocks("helper.py"),
        strings(&["<module>", "helper"])
    );

    project.edit("helper.py", "x + 1", "1 + x");
    assert_eq!(project.selected(), strings(&[a, b]));

    // Only A runs (say, `-k test_a`).
    let mut engine = project.engine();
    let selection = engine.select(&[]).unwrap();
    assert_eq!(sorted(selection.selected), strings(&[a, b]));
    engine.record(&[record(a)]).unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);

    let row = project.row("helper.py");
    assert_eq!(
        row.clean_hash, None,
        "a file with an owed test is not clean"
    );
    let versions = project.stored_blocks("helper.py");
    assert_eq!(
        versions.iter().filter(|name| *name == "helper").count(),
        2,
        "B's version of helper must stay: {versions:?}"
    );
    assert_eq!(project.selected(), strings(&[b]));
    assert_eq!(project.selected(), strings(&[b]));

    let mut engine = project.engine();
    assert_eq!(engine.select(&[]).unwrap().selected, strings(&[b]));
    engine.record(&[record(b)]).unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);

    let row = project.row("helper.py");
    assert!(row.clean_hash.is_some());
    assert_eq!(row.clean_hash, row.content_hash);
    let versions = project.stored_blocks("helper.py");
    assert_eq!(
        versions.iter().filter(|name| *name == "helper").count(),
        1,
        "the old version of helper is dropped: {versions:?}"
    );
    assert!(project.selected().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 6. Transitive import closure
// ---------------------------------------------------------------------------------------------

const PKG_FILES: &[(&str, &str)] = &[
    ("pkg/__init__.py", ""),
    ("pkg/a.py", "from . import b\n\n\ndef fa():\n    return 1\n"),
    ("pkg/b.py", "from .c import VALUE\n\nprint('loading b')\n"),
    ("pkg/c.py", "VALUE = 1\nOTHER = 5\nREGISTRY = dict()\n"),
    ("pkg/sub/__init__.py", ""),
    (
        "pkg/sub/d.py",
        "from ..e import CACHE_DIR\n\n\ndef fd():\n    return 2\n",
    ),
    (
        "pkg/e.py",
        "import os\n\nCACHE_DIR = os.path.join('a', 'b')\n",
    ),
    (
        "tests/test_pkg.py",
        "import pkg.a\n\n\ndef test_fa():\n    assert pkg.a.fa() == 1\n",
    ),
    (
        "tests/test_sub.py",
        "from pkg.sub import d\n\n\ndef test_fd():\n    assert d.fd() == 2\n",
    ),
    (
        "tests/deep/test_deep.py",
        "def test_deep():\n    assert True\n",
    ),
    ("tests/test_other.py", TEST_OTHER),
];

const FA: &str = "tests/test_pkg.py::test_fa";
const FD: &str = "tests/test_sub.py::test_fd";
const DEEP: &str = "tests/deep/test_deep.py::test_deep";

fn pkg_project() -> Project {
    let project = Project::new(PKG_FILES);
    let tests = [
        project.test(FA, &[("pkg/a.py", "def fa(")]),
        project.test(FD, &[("pkg/sub/d.py", "def fd(")]),
        project.test(DEEP, &[]),
        project.test(OTHER, &[]),
    ];
    project.baseline(&tests);
    assert!(project.selected().is_empty());
    project
}

#[test]
fn impure_statement_two_imports_away_selects_the_test() {
    let project = pkg_project();
    project.edit("pkg/b.py", "'loading b'", "'loading B'");
    assert_eq!(project.selected(), strings(&[FA]));
}

#[test]
fn impure_statement_three_imports_away_selects_the_test() {
    let project = pkg_project();
    // A builtin that only computes a value: the users of `REGISTRY`, and no test reads it.
    project.edit("pkg/c.py", "dict()", "dict(a=1)");
    assert!(project.selected().is_empty());
    // A call of what is not known: every importer, three imports away too.
    project.edit("pkg/c.py", "dict(a=1)", "os.environ.copy()");
    assert_eq!(project.selected(), strings(&[FA]));
}

#[test]
fn constant_only_re_exported_by_a_module_in_the_closure_selects_nothing() {
    // b.py imports VALUE and nothing reads it: an import forwards a name, it is no use of it.
    let project = pkg_project();
    project.edit("pkg/c.py", "VALUE = 1", "VALUE = 2");
    assert!(project.selected().is_empty());
    // Removing it breaks b's import: c's shape changes, and every importer of c reruns.
    project.edit("pkg/c.py", "VALUE = 2\n", "");
    assert_eq!(project.selected(), strings(&[FA]));
}

#[test]
fn constant_nobody_imports_in_the_closure_selects_nothing() {
    let project = pkg_project();
    project.edit("pkg/c.py", "OTHER = 5", "OTHER = 6");
    assert!(project.selected().is_empty());
}

#[test]
fn parent_relative_import_is_followed() {
    let project = pkg_project();
    project.edit("pkg/e.py", "'b')", "'c')");
    assert_eq!(project.selected(), strings(&[FD]));
}

#[test]
fn package_init_is_in_the_closure() {
    let project = pkg_project();
    project.write("pkg/__init__.py", "print('hello')\n");
    assert_eq!(project.selected(), strings(&[FA, FD]));
    project.write("pkg/__init__.py", "");
    project.write("pkg/sub/__init__.py", "print('hello')\n");
    assert_eq!(project.selected(), strings(&[FD]));
}

// ---------------------------------------------------------------------------------------------
// 7. New files
// ---------------------------------------------------------------------------------------------

#[test]
fn new_conftest_selects_the_tests_below_it() {
    let project = pkg_project();
    project.write("tests/deep/conftest.py", "import pytest\n");
    let selection = project.select();
    assert_eq!(selection.selected, strings(&[DEEP]));
    assert_eq!(selection.new_files, strings(&["tests/deep/conftest.py"]));
    assert_eq!(
        selection.collect_files,
        strings(&["tests/deep/test_deep.py"])
    );
}

#[test]
fn new_root_conftest_selects_every_test() {
    let project = pkg_project();
    project.write("conftest.py", "import pytest\n");
    assert_eq!(project.selected(), strings(&[DEEP, OTHER, FA, FD]));
}

/// A new module can affect a test only if the test looked for it (a failed import, recorded as
/// its missing source) or listed its directory: both are recorded dependencies, so a new module
/// alone selects nothing, whichever package it is in.
#[test]
fn new_module_nobody_looked_for_selects_nothing() {
    let project = pkg_project();
    project.write("pkg/plugin.py", "def hook():\n    return 1\n");
    let selection = project.select();
    assert_eq!(selection.selected, Vec::<String>::new());
    assert_eq!(selection.new_files, strings(&["pkg/plugin.py"]));
}

/// A module that exists at baseline time but that no test imports is not in any test's closure.
/// A baseline session (select, record, finish) must still learn it, or it would count as a new
/// module of its package on every later run.
#[test]
fn module_no_test_imports_is_not_new_after_a_baseline() {
    let mut files = PKG_FILES.to_vec();
    files.push(("pkg/unused.py", "def hook():\n    return 1\n"));
    let project = Project::new(&files);
    let mut engine = project.engine();
    engine.select(&[]).unwrap();
    engine
        .record(&[
            project.test(FA, &[("pkg/a.py", "def fa(")]),
            project.test(OTHER, &[]),
        ])
        .unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    let selection = project.select();
    assert!(selection.selected.is_empty(), "{:?}", selection.selected);
    assert!(
        !selection.new_files.contains(&"pkg/unused.py".to_owned()),
        "{:?}",
        selection.new_files
    );
}

#[test]
fn new_test_file_is_reported_but_selects_nothing() {
    let project = pkg_project();
    project.write("tests/test_new.py", "def test_new():\n    assert True\n");
    project.write("pkg/new_test.py", "def test_x():\n    assert True\n");
    let selection = project.select();
    assert!(selection.selected.is_empty());
    assert_eq!(
        selection.new_files,
        strings(&["pkg/new_test.py", "tests/test_new.py"])
    );
}

#[test]
fn new_files_in_skipped_directories_are_ignored() {
    let project = pkg_project();
    project.write("build/conftest.py", "");
    project.write("venv/pyvenv.cfg", "home = /usr\n");
    project.write("venv/lib/conftest.py", "");
    project.write(".hidden/conftest.py", "");
    project.write("pkg/__pycache__/plugin.py", "");
    let selection = project.engine().select(&strings(&["build"])).unwrap();
    assert!(selection.selected.is_empty(), "{:?}", selection.selected);
    assert!(selection.new_files.is_empty(), "{:?}", selection.new_files);
}

// ---------------------------------------------------------------------------------------------
// 8. Stateful functions
// ---------------------------------------------------------------------------------------------

const STATEFUL: &str = "\
import functools


@functools.lru_cache(maxsize=None)
def settings():
    return parse('a=1')


def parse(text):
    return dict([text.split('=')])


def unrelated():
    return 0


def api():
    return 42


def configured():
    return settings()['a']
";

const TEST_API: &str = "\
import stateful


def test_api():
    assert stateful.api() == 42


def test_settings():
    assert stateful.settings() == {'a': '1'}


def test_configured():
    assert stateful.configured() == '1'
";

const API: &str = "tests/test_api.py::test_api";
const SETTINGS: &str = "tests/test_api.py::test_settings";
const CONFIGURED: &str = "tests/test_api.py::test_configured";

/// `test_configured` calls `configured`, which reads the cache of `settings`: a hit, since
/// `test_settings` filled it, so neither `settings` nor `parse` ran for it.
fn stateful_project() -> Project {
    let project = Project::new(&[
        ("stateful.py", STATEFUL),
        ("tests/test_api.py", TEST_API),
        ("tests/test_other.py", TEST_OTHER),
    ]);
    let tests = [
        project.test(API, &[("stateful.py", "def api(")]),
        project.test(
            SETTINGS,
            &[
                ("stateful.py", "def settings("),
                ("stateful.py", "def parse("),
            ],
        ),
        project.test(CONFIGURED, &[("stateful.py", "def configured(")]),
        project.test(OTHER, &[]),
    ];
    project.baseline(&tests);
    assert!(project.selected().is_empty());
    project
}

#[test]
fn cached_function_is_a_dependency_of_every_test_that_reads_its_cache() {
    let project = stateful_project();
    project.edit("stateful.py", "parse('a=1')", "parse('a=2')");
    assert_eq!(project.selected(), strings(&[CONFIGURED, SETTINGS]));
}

#[test]
fn function_called_by_a_cached_function_is_a_dependency_too() {
    let project = stateful_project();
    project.edit("stateful.py", "text.split('=')", "text.split('=', 1)");
    assert_eq!(project.selected(), strings(&[CONFIGURED, SETTINGS]));
}

#[test]
fn function_nobody_runs_or_caches_is_not_a_dependency() {
    let project = stateful_project();
    project.edit("stateful.py", "return 0", "return 1");
    assert!(project.selected().is_empty());
}

/// A module-level list that `remember` fills and `seen` reads.
const SEEN_STATE: &str = "\
SEEN = []


def remember(x):
    SEEN.append(x)


def seen():
    return list(SEEN)


def api():
    return 42
";

#[test]
fn function_writing_module_state_is_a_dependency_of_the_tests_that_read_it() {
    let tests_source = "\
import stateful


def test_api():
    assert stateful.api() == 42


def test_remember():
    stateful.remember(1)


def test_seen():
    assert stateful.seen() == [1]
";
    let project = Project::new(&[
        ("stateful.py", SEEN_STATE),
        ("tests/test_api.py", tests_source),
        ("tests/test_other.py", TEST_OTHER),
    ]);
    let seen = "tests/test_api.py::test_seen";
    let remember = "tests/test_api.py::test_remember";
    let tests = [
        project.test(API, &[("stateful.py", "def api(")]),
        project.test(remember, &[("stateful.py", "def remember(")]),
        project.test(seen, &[("stateful.py", "def seen(")]),
        project.test(OTHER, &[]),
    ];
    project.baseline(&tests);
    // `remember` ran in an earlier test: whoever reads SEEN may see what it left there.
    project.edit("stateful.py", "SEEN.append(x)", "SEEN.append(x * 2)");
    assert_eq!(project.selected(), strings(&[remember, seen]));
}

#[test]
fn function_writing_module_state_that_never_ran_is_no_dependency() {
    let tests_source = "\
import stateful


def test_seen():
    assert stateful.seen() == []
";
    let project = Project::new(&[
        ("stateful.py", SEEN_STATE),
        ("tests/test_api.py", tests_source),
    ]);
    let seen = "tests/test_api.py::test_seen";
    project.baseline(&[project.test(seen, &[("stateful.py", "def seen(")])]);
    // Nothing ran `remember` before `test_seen` read SEEN: it left nothing there.
    project.edit("stateful.py", "SEEN.append(x)", "SEEN.append(x * 2)");
    assert!(project.selected().is_empty());
    // A change in what SEEN starts as is one.
    project.edit("stateful.py", "SEEN = []", "SEEN = [0]");
    assert_eq!(project.selected(), strings(&[seen]));
}

const EVENTS: &str = "\
_listeners = []


def subscribe(listener):
    _listeners.append(listener)


def notify(event):
    return [listener(event) for listener in _listeners]
";

#[test]
fn function_writing_another_modules_state_is_a_dependency_of_the_tests_that_read_it() {
    // The clean-up lives in `testing`, the state in `events`; `test_notify` imports only
    // `events`. Storing into or mutating what a name of another module's binding reaches
    // writes that module's state, through an imported name or an attribute of the module.
    let test_subscribe = "\
import events
import testing


def test_subscribe():
    events.subscribe(str.upper)
    assert events.notify('x') == ['X']
    testing.reset()
";
    let test_notify = "\
from events import notify


def test_notify():
    assert notify('y') == []
";
    for (imports, clears) in [
        ("from events import _listeners", "_listeners.clear()"),
        ("import events", "events._listeners.clear()"),
        ("import events", "events._listeners = []"),
    ] {
        let testing =
            format!("{imports}\n\n\ndef reset():\n    {clears}\n\n\ndef other():\n    return 0\n");
        let project = Project::new(&[
            ("events.py", EVENTS),
            ("testing.py", &testing),
            ("tests/test_a.py", test_subscribe),
            ("tests/test_b.py", test_notify),
            ("tests/test_other.py", TEST_OTHER),
        ]);
        let subscribe = "tests/test_a.py::test_subscribe";
        let notify = "tests/test_b.py::test_notify";
        project.baseline(&[
            project.test(
                subscribe,
                &[
                    ("events.py", "def subscribe("),
                    ("events.py", "def notify("),
                    ("testing.py", "def reset("),
                ],
            ),
            project.test(notify, &[("events.py", "def notify(")]),
            project.test(OTHER, &[]),
        ]);
        // The rest of the writer's module is nobody's dependency.
        project.edit("testing.py", "return 0", "return 1");
        assert!(project.selected().is_empty(), "{clears}");
        project.edit("testing.py", clears, "pass");
        assert_eq!(
            project.selected(),
            strings(&[subscribe, notify]),
            "{clears}"
        );
    }
}

#[test]
fn class_level_cache_written_through_self_is_read_by_every_caller() {
    let source = "\
class Parser:
    _CACHE = {}

    def parse(self, text):
        if text not in self._CACHE:
            self._CACHE[text] = self._tokens(text)
        return self._CACHE[text]

    def _tokens(self, text):
        return text.split()
";
    let tests_source = "\
from parser import Parser


def test_first():
    assert Parser().parse('a b') == ['a', 'b']


def test_cached():
    assert Parser().parse('a b') == ['a', 'b']
";
    let project = Project::new(&[("parser.py", source), ("tests/test_p.py", tests_source)]);
    let first = "tests/test_p.py::test_first";
    let cached = "tests/test_p.py::test_cached";
    let tests = [
        project.test(
            first,
            &[("parser.py", "def parse("), ("parser.py", "def _tokens(")],
        ),
        // A cache hit: `_tokens` did not run for it.
        project.test(cached, &[("parser.py", "def parse(")]),
    ];
    project.baseline(&tests);
    project.edit("parser.py", "text.split()", "text.split(' ')");
    assert_eq!(project.selected(), strings(&[cached, first]));
}

// ---------------------------------------------------------------------------------------------
// 9. Functions run at import time
// ---------------------------------------------------------------------------------------------

const REGISTRY: &str = "\
def register():
    return helper()


def helper():
    return 1


def api():
    return 42
";

fn import_time_project(mark: bool) -> Project {
    let project = Project::new(&[
        ("registry.py", REGISTRY),
        (
            "tests/test_api.py",
            "import registry\n\n\ndef test_api():\n    assert registry.api() == 42\n",
        ),
        ("tests/test_other.py", TEST_OTHER),
    ]);
    let tests = [
        project.test(API, &[("registry.py", "def api(")]),
        project.test(OTHER, &[]),
    ];
    let mut engine = project.engine();
    if mark {
        // What Python reports: the first line of the code object that ran during collection.
        engine.mark_import_time(&[(
            "registry.py".to_owned(),
            project.line("registry.py", "def register("),
        )]);
    }
    engine.record(&tests).unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    assert!(project.selected().is_empty());
    project
}

#[test]
fn import_time_function_is_a_dependency_of_every_importer() {
    let project = import_time_project(true);
    project.edit("registry.py", "return helper()", "return helper() + 0");
    assert_eq!(project.selected(), strings(&[API]));
}

#[test]
fn function_that_did_not_run_at_import_time_is_not_shared() {
    // Only what ran while modules were imported is import-time code (Python reports every
    // function that ran then); `helper` was not reported.
    let project = import_time_project(true);
    project.edit("registry.py", "return 1", "return 2");
    assert!(project.selected().is_empty());
}

#[test]
fn unmarked_function_that_did_not_run_is_not_a_dependency() {
    let project = import_time_project(false);
    project.edit("registry.py", "return helper()", "return helper() + 0");
    assert!(project.selected().is_empty());
}

#[test]
fn import_time_mark_after_a_closure_reached_the_module_counts_for_later_closures() {
    // What a module brings to import closures is kept per module: a function marked as run at
    // import time after one closure reached the module must count in the next one.
    const LATE: &str = "tests/test_late.py::test_late";
    let project = Project::new(&[
        ("registry.py", REGISTRY),
        (
            "tests/test_api.py",
            "import registry\n\n\ndef test_api():\n    assert registry.api() == 42\n",
        ),
        (
            "tests/test_late.py",
            "import registry\n\n\ndef test_late():\n    assert registry.api() == 42\n",
        ),
    ]);
    let mut engine = project.engine();
    engine
        .record(&[project.test(API, &[("registry.py", "def api(")])])
        .unwrap();
    engine.mark_import_time(&[(
        "registry.py".to_owned(),
        project.line("registry.py", "def register("),
    )]);
    engine
        .record(&[project.test(LATE, &[("registry.py", "def api(")])])
        .unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    project.edit("registry.py", "return helper()", "return helper() + 0");
    assert_eq!(project.selected(), strings(&[LATE]));
}

#[test]
fn import_time_mark_of_a_missing_file_is_ignored() {
    let project = Project::new(&[("tests/test_other.py", TEST_OTHER)]);
    let mut engine = project.engine();
    engine.mark_import_time(&[("gone.py".to_owned(), 3)]);
    engine.record(&[project.test(OTHER, &[])]).unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    assert!(project.selected().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 10. Unparsable files
// ---------------------------------------------------------------------------------------------

#[test]
fn syntax_error_selects_the_importers() {
    let project = calc_project();
    project.edit("calc.py", "def double(x):", "def double(x:");
    let selection = project.select();
    assert_eq!(
        sorted(selection.selected.clone()),
        strings(&[DOUBLE, TRIPLE])
    );
    let changed = changed_file(&selection, "calc.py");
    assert!(!changed.deleted);
    let error = changed.parse_error.as_deref().expect("a parse error");
    assert!(error.contains("syntax error"), "{error}");
}

#[test]
fn unparsable_file_recorded_as_such_is_one_opaque_block() {
    let project = Project::new(&[
        ("broken.py", "def f(:\n    pass\n"),
        (
            "tests/test_broken.py",
            "import broken\n\n\ndef test_broken():\n    assert True\n",
        ),
    ]);
    let nodeid = "tests/test_broken.py::test_broken";
    project.baseline(&[project.test(nodeid, &[("broken.py", "")])]);
    assert!(project.selected().is_empty());
    project.write("broken.py", "def f(:\n    pass\n# still broken\n");
    assert_eq!(project.selected(), strings(&[nodeid]));
}

// ---------------------------------------------------------------------------------------------
// 11. Schema and foreign files
// ---------------------------------------------------------------------------------------------

#[test]
fn garbage_database_is_a_db_error() {
    let project = Project::new(&[]);
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
    fs::create_dir_all(project.db.parent().unwrap()).unwrap();
    fs::write(&project.db, garbage).unwrap();
    match Engine::open(&project.db, &project.root, CACHE_SIZE, &[]) {
        Err(Error::Db { path, .. }) => assert_eq!(path, project.db),
        Err(other) => panic!("expected Error::Db, got {other}"),
        Ok(_) => panic!("a garbage file opened as a database"),
    }
}

#[test]
fn other_schema_version_is_a_mismatch() {
    let project = Project::new(&[]);
    fs::create_dir_all(project.db.parent().unwrap()).unwrap();
    let conn = Connection::open(&project.db).unwrap();
    conn.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 99;")
        .unwrap();
    drop(conn);
    match Engine::open(&project.db, &project.root, CACHE_SIZE, &[]) {
        Err(error @ Error::SchemaMismatch { .. }) => {
            assert!(error.to_string().contains("schema version 99"), "{error}");
            let Error::SchemaMismatch {
                found, expected, ..
            } = error
            else {
                unreachable!()
            };
            assert_eq!((found, expected), (99, SCHEMA_VERSION));
        }
        Err(other) => panic!("expected Error::SchemaMismatch, got {other}"),
        Ok(_) => panic!("a database of schema 99 opened"),
    }
}

#[test]
fn foreign_sqlite_database_is_a_mismatch() {
    let project = Project::new(&[]);
    fs::create_dir_all(project.db.parent().unwrap()).unwrap();
    let conn = Connection::open(&project.db).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT);")
        .unwrap();
    drop(conn);
    match Engine::open(&project.db, &project.root, CACHE_SIZE, &[]) {
        Err(Error::SchemaMismatch { found: 0, .. }) => {}
        Err(other) => panic!("expected Error::SchemaMismatch, got {other}"),
        Ok(_) => panic!("a foreign database opened"),
    }
}

#[test]
fn a_stored_path_outside_the_project_is_refused_and_not_read() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    project.baseline(&[project.test(DOUBLE, &[("calc.py", "def double(")])]);
    let secret = project.root.with_extension("secret");
    fs::write(&secret, "not yours").unwrap();
    for path in [
        secret.to_str().unwrap().to_owned(),
        format!("../{}", secret.file_name().unwrap().to_str().unwrap()),
        "<glob>/../*".to_owned(),
    ] {
        let conn = Connection::open(&project.db).unwrap();
        conn.execute("INSERT INTO file (path) VALUES (?1)", [&path])
            .unwrap();
        drop(conn);
        match Engine::open(&project.db, &project.root, CACHE_SIZE, &[]) {
            Err(error @ Error::Untrusted { .. }) => {
                assert!(error.to_string().contains(&format!("{path:?}")), "{error}");
            }
            Err(other) => panic!("expected Error::Untrusted, got {other}"),
            Ok(_) => panic!("a database naming {path} opened"),
        }
        // Tracking the directory that holds it makes it a path of the project.
        let parent = project.root.parent().unwrap().to_owned();
        let tracked = [project.root.clone(), parent];
        let opened = Engine::open(&project.db, &project.root, CACHE_SIZE, &tracked);
        assert_eq!(opened.is_ok(), !path.starts_with('/'), "{path}");
        let conn = Connection::open(&project.db).unwrap();
        conn.execute("DELETE FROM file WHERE path = ?1", [&path])
            .unwrap();
    }
    fs::remove_file(secret).unwrap();
}

#[test]
fn a_declared_dependency_outside_the_project_is_not_recorded() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    let mut test = project.test(DOUBLE, &[("calc.py", "def double(")]);
    test.data = vec!["<glob>/../shared/*.json".to_owned()];
    let mut engine = project.engine();
    match engine.record(std::slice::from_ref(&test)) {
        Err(error @ Error::Declared(_)) => {
            let message = error.to_string();
            assert!(message.contains(DOUBLE), "{message}");
            assert!(message.contains("<glob>/../shared/*.json"), "{message}");
        }
        other => panic!("expected Error::Declared, got {other:?}"),
    }
    // Inside the project, however written, it is recorded.
    test.data = vec!["<glob>/./data/*.json".to_owned()];
    engine.record(&[test]).unwrap();
}

#[test]
fn a_malformed_id_list_stops_selection_with_the_test_named() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    project.baseline(&[project.test(DOUBLE, &[("calc.py", "def double(")])]);
    let conn = Connection::open(&project.db).unwrap();
    // One run of 2^62 ids.
    conn.execute(
        "UPDATE test SET deps = x'03ffffffffffffffff3f' WHERE nodeid = ?1",
        [DOUBLE],
    )
    .unwrap();
    drop(conn);
    project.edit("calc.py", "x * 2", "2 * x");
    match project.engine().select(&[]) {
        Err(error @ Error::Untrusted { .. }) => {
            assert!(error.to_string().contains(DOUBLE), "{error}");
        }
        Err(other) => panic!("expected Error::Untrusted, got {other}"),
        Ok(_) => panic!("a malformed id list was used"),
    }
}

#[test]
fn reopened_database_keeps_tests_and_meta() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    let mut engine = project.engine();
    engine
        .record(&[project.test(DOUBLE, &[("calc.py", "def double(")])])
        .unwrap();
    engine
        .finish(&[("commit".to_owned(), "abc123".to_owned())])
        .unwrap();
    drop(engine);
    let engine = project.engine();
    assert_eq!(
        engine.store().meta("commit").unwrap().as_deref(),
        Some("abc123")
    );
    assert_eq!(engine.store().meta("missing").unwrap(), None);
    assert_eq!(engine.store().path(), project.db);
    drop(engine);
    assert_eq!(project.select().known_tests, strings(&[DOUBLE]));
}

// ---------------------------------------------------------------------------------------------
// 12. Forgetting tests
// ---------------------------------------------------------------------------------------------

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

#[test]
fn removed_tests_are_forgotten() {
    let project = calc_project();
    let mut engine = project.engine();
    engine
        .remove_tests(&strings(&[DOUBLE, "tests/test_calc.py::never_existed"]))
        .unwrap();
    drop(engine);
    let selection = project.select();
    assert_eq!(sorted(selection.known_tests), strings(&[TRIPLE, OTHER]));
    project.edit("calc.py", "return x * 2", "return x + x");
    assert!(project.selected().is_empty());
}

#[test]
fn clear_empties_the_database_and_recording_starts_over() {
    let project = calc_project();
    let mut engine = project.engine();
    engine
        .finish(&[("commit".to_owned(), "abc".to_owned())])
        .unwrap();
    engine.clear().unwrap();
    let selection = engine.select(&[]).unwrap();
    assert!(selection.known_tests.is_empty());
    assert!(selection.selected.is_empty());
    assert!(engine.store().files().unwrap().is_empty());
    assert_eq!(engine.store().meta("commit").unwrap(), None);
    for table in ["test", "depset", "block", "file", "meta"] {
        assert_eq!(
            count(&project.db, &format!("SELECT count(*) FROM {table}")),
            0,
            "{table} not empty"
        );
    }

    // The same session rebuilds the baseline: no stale ids survive the clear.
    engine
        .record(&[project.test(DOUBLE, &[("calc.py", "def double(")])])
        .unwrap();
    engine.finish(&[]).unwrap();
    drop(engine);
    assert_eq!(
        count(
            &project.db,
            "SELECT count(*) FROM block WHERE file_id NOT IN (SELECT id FROM file)"
        ),
        0
    );
    assert!(project.selected().is_empty());
    project.edit("calc.py", "return x * 2", "return x + x");
    assert_eq!(project.selected(), strings(&[DOUBLE]));
}

// ---------------------------------------------------------------------------------------------
// 13. Database size
// ---------------------------------------------------------------------------------------------

/// Records 1,000 synthetic tests, each running its own function and 10 library functions spread
/// over 50 modules of 20 functions, and returns `(bytes per test, dependencies per test)` after a
/// checkpoint. With `shared_names`, every module names its functions `f0`..`f19`, so a name a test
/// uses matches a `def` binding in each module of its closure.
fn database_size(shared_names: bool) -> (u64, u64) {
    const MODULES: usize = 50;
    const FUNCTIONS: usize = 20;
    const TEST_FILES: usize = 10;
    const TESTS_PER_FILE: usize = 100;
    const CALLS: usize = 10;
    let mut files = Vec::new();
    for module in 0..MODULES {
        let prefix = if shared_names {
            String::new()
        } else {
            format!("m{module}_")
        };
        let text: String = (0..FUNCTIONS)
            .map(|k| format!("def {prefix}f{k}(x):\n    return x + {k}\n\n"))
            .collect();
        files.push((format!("lib/m{module}.py"), text));
    }
    for file in 0..TEST_FILES {
        let text: String = (0..TESTS_PER_FILE)
            .map(|n| format!("def test_{n}():\n    assert True\n\n"))
            .collect();
        files.push((format!("tests/test_{file}.py"), text));
    }
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let project = Project::new(&borrowed);
    let line = |index: usize| u32::try_from(1 + 3 * index).unwrap();
    let mut tests = Vec::new();
    for file in 0..TEST_FILES {
        let path = format!("tests/test_{file}.py");
        for n in 0..TESTS_PER_FILE {
            let i = file * TESTS_PER_FILE + n;
            let mut code = vec![(path.clone(), 0), (path.clone(), line(n))];
            for call in 0..CALLS {
                let module = (i + call * 5) % MODULES;
                let function = (i * 3 + call) % FUNCTIONS;
                code.push((format!("lib/m{module}.py"), line(function)));
            }
            tests.push(TestRecord {
                nodeid: format!("{path}::test_{n}"),
                file: path.clone(),
                outcome: "passed".to_owned(),
                duration: 0.01,
                code,
                roots: vec![path.clone()],
                names: Vec::new(),
                data: Vec::new(),
                openers: Vec::new(),
            });
        }
    }
    project.baseline(&tests);
    let total = TEST_FILES * TESTS_PER_FILE;
    let selection = project.select();
    assert_eq!(selection.known_tests.len(), total);
    assert!(selection.selected.is_empty());

    let conn = Connection::open(&project.db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let limits = crate::store::IdLimits::of_blocks(&conn).unwrap();
    let deps: i64 = conn
        .prepare("SELECT deps FROM test")
        .unwrap()
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|blob| {
            i64::try_from(
                crate::store::decode_ids(&blob.unwrap(), limits)
                    .unwrap()
                    .len(),
            )
            .unwrap()
        })
        .sum();
    let blocks: i64 = conn
        .query_row("SELECT count(*) FROM block", [], |row| row.get(0))
        .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .unwrap()
        .query_map([], |row| {
            Ok(format!(
                "{}={}",
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    drop(conn);
    let bytes = fs::metadata(&project.db).unwrap().len();
    let total = u64::try_from(total).unwrap();
    let per_test = bytes / total;
    let deps_per_test = u64::try_from(deps).unwrap() / total;
    eprintln!(
        "database (shared names: {shared_names}): {bytes} bytes for {total} tests, {deps} deps, \
         {blocks} blocks: {per_test} bytes and {deps_per_test} deps per test; by table: {}",
        tables.join(" ")
    );
    (per_test, deps_per_test)
}

#[test]
fn database_stays_small() {
    let (per_test, deps) = database_size(false);
    // Its own function and the 10 it ran (whose `def` headers they cover), plus the `<module>`
    // block of each of the 10 modules: no import reaches them from the test file here (as with
    // a dynamic import), so their module code is the test's own, not its file's shared set.
    assert!((20..=25).contains(&deps), "{deps} deps per test");
    // Measured: 151 bytes per test (22 dependencies; 184 with schema 2's index of blocks by
    // file and REAL times, 552 with a block → test index).
    assert!(per_test < 200, "{per_test} bytes per test");
}

#[test]
fn database_stays_small_with_shared_function_names() {
    let (per_test, deps) = database_size(true);
    // Names are resolved to the bindings they reach: the same names in other modules add
    // nothing (they once pulled in `def fK` of all 10 modules, 112 dependencies per test).
    assert!((20..=25).contains(&deps), "{deps} deps per test");
    // Measured: 282 bytes per test (112 dependencies; 323 with schema 2, 1,667 with a block →
    // test index).
    assert!(per_test < 350, "{per_test} bytes per test");
}

/// A data file read by one test: changing, deleting and recreating it selects that test only.
#[test]
fn data_file_selects_its_reader_when_changed_deleted_or_recreated() {
    let project = calc_project();
    project.write("data/x.json", "{\"a\": 1}");
    let mut reader = project.test(DOUBLE, &[("calc.py", "def double(")]);
    reader.data = strings(&["data/x.json", "data/absent.json"]);
    project.baseline(&[reader.clone()]);
    assert!(project.selected().is_empty());

    project.write("data/x.json", "{\"a\": 2}");
    let selection = project.select();
    assert_eq!(selection.selected, strings(&[DOUBLE]));
    assert_eq!(
        selection.reasons,
        strings(&["changed data file data/x.json"])
    );
    project.baseline(&[reader.clone()]);
    assert!(project.selected().is_empty());

    project.remove("data/x.json");
    let selection = project.select();
    assert_eq!(
        selection.reasons,
        strings(&["data file data/x.json was deleted"])
    );
    project.baseline(&[reader.clone()]);
    assert!(
        project.selected().is_empty(),
        "still missing: nothing to do"
    );

    project.write("data/absent.json", "[]");
    let selection = project.select();
    assert_eq!(
        selection.reasons,
        strings(&["data file data/absent.json was created"])
    );
}

/// Pseudo-files stand for facts: a changed or vanished fact selects its dependents; `<always>`
/// is never current.
#[test]
fn facts_select_their_dependents() {
    let project = calc_project();
    let mut uses_dist = project.test(DOUBLE, &[]);
    uses_dist.data = strings(&["<dist>/foo"]);
    let mut always = project.test(TRIPLE, &[]);
    always.data = strings(&[ALWAYS]);
    let facts = vec![("<dist>/foo".to_owned(), "1.0".to_owned())];
    let session = |facts: &[(String, String)]| {
        let mut engine = project.engine();
        engine.set_facts(facts.to_vec());
        engine
    };
    let mut engine = session(&facts);
    engine.record(&[uses_dist, always]).unwrap();
    engine.finish(&[]).unwrap();
    let selection = session(&facts).select(&[]).unwrap();
    assert_eq!(selection.selected, strings(&[TRIPLE]));
    assert_eq!(selection.reasons, strings(&["always runs (diff_always)"]));

    let bumped = vec![("<dist>/foo".to_owned(), "1.0.1".to_owned())];
    let selection = session(&bumped).select(&[]).unwrap();
    assert_eq!(sorted(selection.selected), strings(&[DOUBLE, TRIPLE]));
    let selection = session(&[]).select(&[]).unwrap();
    assert!(
        selection
            .reasons
            .contains(&"installed package foo was uninstalled".to_owned())
    );
}

/// Run variants share the database, not their tests: each selects against its own records.
#[test]
fn variants_keep_their_own_tests() {
    let project = calc_project();
    let session = |variant: &str| {
        let mut engine = project.engine();
        engine.set_variant(variant.to_owned());
        engine
    };
    assert!(session("").select(&[]).unwrap().selected.is_empty());
    assert!(
        session("django")
            .select(&[])
            .unwrap()
            .known_tests
            .is_empty()
    );
    let mut engine = session("django");
    let mut failing = project.test(DOUBLE, &[("calc.py", "def double(")]);
    failing.outcome = "failed".to_owned();
    engine.record(&[failing]).unwrap();
    engine.finish(&[]).unwrap();
    let selection = session("django").select(&[]).unwrap();
    assert_eq!(selection.known_tests, strings(&[DOUBLE]));
    assert_eq!(selection.selected, strings(&[DOUBLE]));
    assert!(session("").select(&[]).unwrap().selected.is_empty());
    project.edit("calc.py", "return x * FACTOR", "return x * FACTOR + 0");
    let selection = session("").select(&[]).unwrap();
    assert_eq!(selection.selected, strings(&[TRIPLE]));
}

/// The facts every test carries are stored in its shared set, once per set rather than once per
/// test, and still select every test that carries them; a test that carries only some of them
/// keeps those in its own list, so no shared set holds a fact its test does not depend on.
#[test]
fn global_facts_live_in_the_shared_set_of_the_tests_that_carry_them_all() {
    let project = calc_project();
    let global = crate::facts::GLOBAL_FACTS;
    let mut double = project.test(DOUBLE, &[("calc.py", "def double(")]);
    double.data = strings(&global);
    let mut triple = project.test(TRIPLE, &[("calc.py", "def triple(")]);
    triple.data = strings(&global);
    let mut other = project.test(OTHER, &[]);
    other.data = strings(&["<python>"]);
    let facts = |python: &str| {
        vec![
            ("<config>/ini".to_owned(), "[pytest]".to_owned()),
            ("<config>/plugins".to_owned(), "pluggy 1".to_owned()),
            ("<python>".to_owned(), python.to_owned()),
        ]
    };
    let session = |python: &str| {
        let mut engine = project.engine();
        engine.set_facts(facts(python));
        engine
    };
    let mut engine = session("3.12");
    engine.record(&[double, triple, other]).unwrap();
    engine.finish(&[]).unwrap();
    let facts_of = |nodeid: &str| -> Vec<(String, bool)> {
        let views = session("3.12").test_dependencies(nodeid).unwrap().unwrap();
        views
            .into_iter()
            .filter(|view| view.path.starts_with('<'))
            .map(|view| (view.path, view.shared))
            .collect()
    };
    let shared = |paths: &[&str]| -> Vec<(String, bool)> {
        paths
            .iter()
            .map(|path| ((*path).to_owned(), true))
            .collect()
    };
    assert_eq!(facts_of(DOUBLE), shared(&global));
    assert_eq!(facts_of(TRIPLE), shared(&global));
    assert_eq!(facts_of(OTHER), [("<python>".to_owned(), false)]);

    assert!(session("3.12").select(&[]).unwrap().selected.is_empty());
    let selection = session("3.13").select(&[]).unwrap();
    assert_eq!(
        sorted(selection.selected),
        strings(&[DOUBLE, TRIPLE, OTHER])
    );
    let mut engine = project.engine();
    engine.set_facts(vec![("<python>".to_owned(), "3.12".to_owned())]);
    let selection = engine.select(&[]).unwrap();
    assert_eq!(sorted(selection.selected), strings(&[DOUBLE, TRIPLE]));
}

#[test]
fn a_shared_set_another_session_dropped_is_stored_again() {
    let project = Project::new(&[("calc.py", CALC), ("tests/test_calc.py", TEST_CALC)]);
    let mut writer = project.engine();
    writer
        .record(&[project.test(DOUBLE, &[("calc.py", "def double(")])])
        .unwrap();
    // Another session records the file's tests with another shared set and settles, which
    // drops the set this writer holds the id of.
    Connection::open(&project.db)
        .unwrap()
        .execute_batch("UPDATE test SET depset_id = NULL; DELETE FROM depset;")
        .unwrap();
    writer
        .record(&[project.test(TRIPLE, &[("calc.py", "def triple(")])])
        .unwrap();
    let dangling = "SELECT count(*) FROM test \
                    WHERE depset_id IS NOT NULL AND depset_id NOT IN (SELECT id FROM depset)";
    assert_eq!(count(&project.db, dangling), 0);
    let shared = "SELECT count(*) FROM test JOIN depset ON depset.id = test.depset_id";
    assert_eq!(count(&project.db, shared), 1);
}

#[test]
fn a_class_statement_counts_for_every_importer_only_when_its_base_may_run_unknown_code() {
    let source = "\
import collections.abc
from collections.abc import Mapping
from json import JSONEncoder


class Store(collections.abc.MutableMapping):
    size = 1


class View(Mapping):
    size = 2


class Encoder(JSONEncoder):
    size = 3


def store_size():
    return Store.size
";
    let tests_source = "\
import shapes


def test_store():
    assert shapes.store_size() == 1


def test_nothing():
    pass
";
    let project = Project::new(&[
        ("shapes.py", source),
        ("tests/test_shapes.py", tests_source),
    ]);
    let store = "tests/test_shapes.py::test_store";
    let nothing = "tests/test_shapes.py::test_nothing";
    project.baseline(&[
        project.test(store, &[("shapes.py", "def store_size(")]),
        project.test(nothing, &[]),
    ]);
    // A standard abstract base registers nothing: the statements are bindings.
    project.edit("shapes.py", "size = 1", "size = 10");
    assert_eq!(project.selected(), strings(&[store]));
    project.edit("shapes.py", "size = 10", "size = 1");
    project.edit("shapes.py", "size = 2", "size = 20");
    assert!(project.selected().is_empty());
    project.edit("shapes.py", "size = 20", "size = 2");
    // A library's class may run anything when subclassed.
    project.edit("shapes.py", "size = 3", "size = 30");
    assert_eq!(project.selected(), strings(&[nothing, store]));
}

const REPORTING: &str = "\
import sys

from helper import compute


def main(command):
    try:
        return compute(command)
    except BrokenPipeError:
        sys.stdout = None
        return 1
";

const TEST_REPORTING: &str = "\
from reporting import main


def test_computes():
    assert main('ab') == 2


def test_runs():
    main('')
";

/// `main` writes `sys.stdout` only; `compute` ran beneath it in `test_computes`.
fn reporting_selected_after_a_change(reset: &[&str]) -> Vec<String> {
    let project = Project::new(&[
        ("reporting.py", REPORTING),
        (
            "helper.py",
            "def compute(command):\n    return len(command)\n",
        ),
        ("tests/test_reporting.py", TEST_REPORTING),
    ]);
    let tests = [
        project.test(
            "tests/test_reporting.py::test_computes",
            &[("reporting.py", "def main("), ("helper.py", "def compute(")],
        ),
        project.test(
            "tests/test_reporting.py::test_runs",
            &[("reporting.py", "def main(")],
        ),
    ];
    let mut engine = project.engine();
    engine.set_reset_state(reset.iter().map(|name| (*name).to_owned()).collect());
    engine.record(&tests).unwrap();
    engine.finish(&[]).unwrap();
    project.edit("helper.py", "len(command)", "len(command) + 1");
    project.selected()
}

#[test]
fn a_write_of_state_the_runner_sets_afresh_before_every_test_keeps_nothing() {
    let computes = "tests/test_reporting.py::test_computes";
    let runs = "tests/test_reporting.py::test_runs";
    // Kept: `test_runs` may get the stream an earlier `main` left, as `compute` made it.
    assert_eq!(
        reporting_selected_after_a_change(&[]),
        strings(&[computes, runs])
    );
    assert_eq!(
        reporting_selected_after_a_change(&["sys.stdin", "sys.stdout", "sys.stderr"]),
        strings(&[computes])
    );
}

const TAGGED: &str = "\
from calc import mul


def describe(cls):
    return mul(2, 2)


def tagged(cls):
    cls.tag = describe(cls) if cls.__doc__ else cls.__name__
    return cls


@tagged
class Square:
    pass


SQUARES = {}


def square(side):
    if side not in SQUARES:
        SQUARES[side] = Square()
    return SQUARES[side]
";

const AREAS: &str = "\
from calc import mul


def with_area(cls):
    def area(self):
        return mul(self.side, self.side)

    cls.area = area
    return cls


@with_area
class Square:
    def __init__(self, side):
        self.side = side


AREAS = {}


def cached_area(side):
    if side not in AREAS:
        AREAS[side] = Square(side).area()
    return AREAS[side]
";

/// `tests/test_shapes.py` reads the memo of `module`, in `test_first` running `code` too,
/// in `test_second` only reading it; then `edit` changes a file.
fn shapes_selected_after(
    module: &str,
    memo: &str,
    code: &[(&str, &str)],
    edit: (&str, &str, &str),
) -> Vec<String> {
    let project = Project::new(&[
        ("shapes.py", module),
        ("calc.py", "def mul(a, b):\n    return a * b\n"),
        (
            "tests/test_shapes.py",
            &format!(
                "from shapes import {memo}\n\n\ndef test_first():\n    {memo}(3)\n\n\n\
                 def test_second():\n    {memo}(3)\n"
            ),
        ),
    ]);
    let memo_def = format!("def {memo}(");
    let mut first = vec![("shapes.py", memo_def.as_str())];
    first.extend_from_slice(code);
    let tests = [
        project.test("tests/test_shapes.py::test_first", &first),
        project.test(
            "tests/test_shapes.py::test_second",
            &[("shapes.py", memo_def.as_str())],
        ),
    ];
    let mut engine = project.engine();
    engine.record(&tests).unwrap();
    engine.finish(&[]).unwrap();
    let (path, from, to) = edit;
    project.edit(path, from, to);
    project.selected()
}

#[test]
fn what_a_class_decorator_calls_ran_defining_the_class_not_using_it() {
    let first = "tests/test_shapes.py::test_first";
    // `mul` ran in the same test as the memo `square`, but `describe` only ran (if ever)
    // when `Square` was defined: making a square does not run it.
    assert_eq!(
        shapes_selected_after(
            TAGGED,
            "square",
            &[("calc.py", "def mul(")],
            ("calc.py", "a * b", "a * b + 1")
        ),
        strings(&[first])
    );
}

#[test]
fn what_a_class_decorator_stores_in_the_class_runs_where_the_class_is_used() {
    let both = strings(&[
        "tests/test_shapes.py::test_first",
        "tests/test_shapes.py::test_second",
    ]);
    // `area`, which `with_area` installed, ran beneath the memo `cached_area`: so did `mul`.
    let ran = [("shapes.py", "def area("), ("calc.py", "def mul(")];
    let edits = [
        ("calc.py", "a * b", "a * b + 1"),
        (
            "shapes.py",
            "self.side, self.side)",
            "self.side, self.side) + 1",
        ),
    ];
    for edit in edits {
        assert_eq!(
            shapes_selected_after(AREAS, "cached_area", &ran, edit),
            both,
            "{edit:?}"
        );
    }
}
