//! Tests for the read-only views: a real baseline on real files, then edits.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{BlockState, BlockView};
use crate::engine::Engine;
use crate::record::TestRecord;

const CALC: &str = "\
LIMIT = 10


def double(x):
    return x * 2


def triple(x):
    return x * 3
";

const TEST_CALC: &str = "\
from calc import double, triple


def test_double():
    assert double(2) == 4


def test_triple():
    assert triple(2) == 6
";

const DOUBLE: &str = "tests/test_calc.py::test_double";
const TRIPLE: &str = "tests/test_calc.py::test_triple";

struct Project {
    root: PathBuf,
    db: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Project {
    /// calc.py and its test file, with a finished baseline of both tests.
    fn recorded() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "difftest-inspect-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("tests")).unwrap();
        fs::write(root.join("calc.py"), CALC).unwrap();
        fs::write(root.join("tests/test_calc.py"), TEST_CALC).unwrap();
        let project = Self {
            db: root.join(".difftest/db.sqlite"),
            root,
        };
        let mut engine = project.engine();
        let test = |nodeid: &str, test_line: u32, calc_line: u32| TestRecord {
            nodeid: nodeid.to_owned(),
            file: "tests/test_calc.py".to_owned(),
            outcome: "passed".to_owned(),
            duration: 0.5,
            code: vec![
                ("tests/test_calc.py".to_owned(), 0),
                ("tests/test_calc.py".to_owned(), test_line),
                ("calc.py".to_owned(), calc_line),
            ],
            roots: vec!["tests/test_calc.py".to_owned()],
            names: Vec::new(),
            data: Vec::new(),
            openers: Vec::new(),
        };
        engine
            .record(&[test(DOUBLE, 4, 4), test(TRIPLE, 8, 8)])
            .unwrap();
        engine.finish(&[]).unwrap();
        project
    }

    fn engine(&self) -> Engine {
        let mut engine = Engine::open(&self.db, &self.root, 1000, &[]).unwrap();
        engine.set_modules(vec![
            ("calc".to_owned(), "calc.py".to_owned()),
            (
                "tests.test_calc".to_owned(),
                "tests/test_calc.py".to_owned(),
            ),
        ]);
        engine
    }

    /// Rewrites calc.py with a later mtime, so the change cannot hide behind the fingerprint.
    fn edit_calc(&self, from: &str, to: &str) {
        let path = self.root.join("calc.py");
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        let text = fs::read_to_string(&path).unwrap().replacen(from, to, 1);
        fs::write(&path, text).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(before + Duration::from_secs(2))
            .unwrap();
    }
}

fn find<'v>(views: &'v [BlockView], path: &str, name: &str) -> &'v BlockView {
    views
        .iter()
        .find(|v| v.path == path && v.name == name)
        .unwrap_or_else(|| panic!("{path}::{name} not in {views:?}"))
}

#[test]
fn test_dependencies_name_blocks_with_current_lines() {
    let project = Project::recorded();
    let deps = project.engine().test_dependencies(DOUBLE).unwrap().unwrap();
    let double = find(&deps, "calc.py", "double");
    assert_eq!(double.lines, Some((4, 5)));
    assert_eq!(double.state, BlockState::Current);
    assert!(!double.shared);
    let own = find(&deps, "tests/test_calc.py", "test_double");
    assert_eq!(own.lines, Some((4, 5)));
    // Module-level code comes through the shared set, and has no line range of its own.
    let module = find(&deps, "calc.py", "<module>");
    assert!(module.shared);
    assert_eq!(module.lines, None);
    assert!(deps.iter().all(|v| v.name != "triple"));
}

#[test]
fn unknown_test_and_file_are_none() {
    let project = Project::recorded();
    let mut engine = project.engine();
    assert!(
        engine
            .test_dependencies("tests/x.py::nope")
            .unwrap()
            .is_none()
    );
    let found = engine
        .file_dependents(&["nope.py".to_owned(), "calc.py".to_owned()])
        .unwrap();
    assert!(found[0].is_none());
    assert!(found[1].is_some());
}

#[test]
fn edited_block_is_marked_changed_and_lines_follow_the_file() {
    let project = Project::recorded();
    project.edit_calc("return x * 2", "# doubled\n    return x + x");
    let deps = project.engine().test_dependencies(DOUBLE).unwrap().unwrap();
    assert_eq!(find(&deps, "calc.py", "double").state, BlockState::Changed);
    let triple = project.engine().test_dependencies(TRIPLE).unwrap().unwrap();
    let block = find(&triple, "calc.py", "triple");
    assert_eq!(block.state, BlockState::Current);
    assert_eq!(block.lines, Some((9, 10)));
}

#[test]
fn deleted_and_unparsable_files_are_marked() {
    let project = Project::recorded();
    project.edit_calc("def triple(x):", "def triple(x:");
    let deps = project.engine().test_dependencies(DOUBLE).unwrap().unwrap();
    assert_eq!(
        find(&deps, "calc.py", "double").state,
        BlockState::Unparsable
    );
    fs::remove_file(project.root.join("calc.py")).unwrap();
    let deps = project.engine().test_dependencies(DOUBLE).unwrap().unwrap();
    assert_eq!(find(&deps, "calc.py", "double").state, BlockState::Deleted);
}

#[test]
fn file_dependents_group_tests_by_block() {
    let project = Project::recorded();
    let blocks = project
        .engine()
        .file_dependents(&["calc.py".to_owned()])
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(blocks[0].name, "<module>");
    assert_eq!(blocks[0].tests, vec![DOUBLE, TRIPLE]);
    assert_eq!(find(&blocks, "calc.py", "double").tests, vec![DOUBLE]);
    assert_eq!(find(&blocks, "calc.py", "triple").tests, vec![TRIPLE]);
    let names: Vec<&str> = blocks.iter().map(|v| v.name.as_str()).collect();
    let double = names.iter().position(|n| *n == "double").unwrap();
    let triple = names.iter().position(|n| *n == "triple").unwrap();
    assert!(double < triple, "sorted by line: {names:?}");
}

#[test]
fn counts_and_meta() {
    let project = Project::recorded();
    let engine = project.engine();
    let counts = engine.counts().unwrap();
    assert_eq!(counts.tests, 2);
    assert_eq!(counts.files, 2);
    assert_eq!(counts.outcomes.get("passed"), Some(&2));
    assert!(counts.blocks >= 5, "{counts:?}");
    engine
        .store()
        .set_meta(&[("last_run".to_owned(), "{}".to_owned())])
        .unwrap();
    let items = project.engine().store().meta_items().unwrap();
    assert!(items.contains(&("last_run".to_owned(), "{}".to_owned())));
}
