//! The Python face of the core: thin wrappers, GIL released around file and database work, and
//! the one place where `Error` becomes a Python exception.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError, PyPermissionError};
use pyo3::prelude::*;

use crate::block::BlockKind;
use crate::engine::Engine;
use crate::error::Error;
use crate::inspect::{BlockView, Counts};
use crate::record::TestRecord;
use crate::select::{ChangedFile, Selection};

create_exception!(
    pytest_difftest,
    DifftestError,
    PyException,
    "A problem with pytest-difftest's database or inputs; the message says what to do."
);

create_exception!(
    pytest_difftest,
    SchemaVersionError,
    DifftestError,
    "The database was written by another schema version: the versions are `found` and `expected`."
);

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match &error {
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                _ => PyOSError::new_err(message),
            },
            Error::Db { .. }
            | Error::Input { .. }
            | Error::Untrusted { .. }
            | Error::Declared(_) => DifftestError::new_err(message),
            Error::SchemaMismatch {
                found, expected, ..
            } => schema_version_error(message, *found, *expected),
        }
    }
}

/// A `SchemaVersionError` whose only argument is the message (it is printed as is) and whose
/// versions are attributes.
fn schema_version_error(message: String, found: i64, expected: i64) -> PyErr {
    Python::attach(|py| {
        let error = SchemaVersionError::new_err(message);
        let value = error.value(py);
        match value
            .setattr("found", found)
            .and_then(|()| value.setattr("expected", expected))
        {
            Ok(()) => error,
            Err(failed) => failed,
        }
    })
}

/// A stored file with outdated blocks.
#[pyclass(
    name = "ChangedFile",
    module = "pytest_difftest._core",
    frozen,
    get_all
)]
pub struct ChangedFilePy {
    path: String,
    blocks: Vec<String>,
    parse_error: Option<String>,
    deleted: bool,
}

impl From<ChangedFile> for ChangedFilePy {
    fn from(file: ChangedFile) -> Self {
        Self {
            path: file.path,
            blocks: file.blocks,
            parse_error: file.parse_error,
            deleted: file.deleted,
        }
    }
}

/// What `Engine.select` found.
#[pyclass(name = "Selection", module = "pytest_difftest._core", frozen, get_all)]
pub struct SelectionPy {
    selected: Vec<String>,
    reasons: Vec<String>,
    known_tests: Vec<String>,
    known_files: Vec<String>,
    collect_files: Vec<String>,
    changed: Vec<Py<ChangedFilePy>>,
    new_files: Vec<String>,
    deselected_duration: f64,
    selected_duration: f64,
}

impl SelectionPy {
    fn new(py: Python<'_>, selection: Selection) -> PyResult<Self> {
        Ok(Self {
            selected: selection.selected,
            reasons: selection.reasons,
            known_tests: selection.known_tests,
            known_files: selection.known_files,
            collect_files: selection.collect_files,
            changed: selection
                .changed
                .into_iter()
                .map(|file| Py::new(py, ChangedFilePy::from(file)))
                .collect::<PyResult<_>>()?,
            new_files: selection.new_files,
            deselected_duration: selection.deselected_duration,
            selected_duration: selection.selected_duration,
        })
    }
}

/// A stored block version as `inspect` shows it.
#[pyclass(
    name = "StoredBlock",
    module = "pytest_difftest._core",
    frozen,
    get_all
)]
pub struct StoredBlockPy {
    path: String,
    name: String,
    /// What the name says the block is (see `block_name`): `module`, `data`, `function`,
    /// `binding` or `other`.
    kind: &'static str,
    checksum: i64,
    lines: Option<(u32, u32)>,
    state: &'static str,
    shared: bool,
    tests: Vec<String>,
}

impl From<BlockView> for StoredBlockPy {
    fn from(view: BlockView) -> Self {
        Self {
            kind: crate::block_name::BlockName::parse(&view.name).kind(),
            path: view.path,
            name: view.name,
            checksum: view.checksum,
            lines: view.lines,
            state: view.state.as_str(),
            shared: view.shared,
            tests: view.tests,
        }
    }
}

fn stored_blocks(py: Python<'_>, views: Vec<BlockView>) -> PyResult<Vec<Py<StoredBlockPy>>> {
    views
        .into_iter()
        .map(|view| Py::new(py, StoredBlockPy::from(view)))
        .collect()
}

/// Counts over the whole database.
#[pyclass(name = "Counts", module = "pytest_difftest._core", frozen, get_all)]
pub struct CountsPy {
    tests: i64,
    files: i64,
    blocks: i64,
    depsets: i64,
    outcomes: std::collections::BTreeMap<String, i64>,
}

impl From<Counts> for CountsPy {
    fn from(counts: Counts) -> Self {
        Self {
            tests: counts.tests,
            files: counts.files,
            blocks: counts.blocks,
            depsets: counts.depsets,
            outcomes: counts.outcomes,
        }
    }
}

/// A test record as Python hands it over (`pytest_difftest.recording.TestRecord`), read by
/// attribute name; see `TestRecord` for what each field means.
#[derive(FromPyObject)]
struct RecordPy {
    #[pyo3(attribute)]
    nodeid: String,
    #[pyo3(attribute)]
    file: String,
    #[pyo3(attribute)]
    outcome: String,
    #[pyo3(attribute)]
    duration: f64,
    #[pyo3(attribute)]
    code: Vec<(String, u32)>,
    #[pyo3(attribute)]
    roots: Vec<String>,
    #[pyo3(attribute)]
    names: Vec<String>,
    #[pyo3(attribute)]
    data: Vec<String>,
    #[pyo3(attribute)]
    openers: Vec<(String, Vec<(String, u32)>)>,
}

impl From<RecordPy> for TestRecord {
    fn from(record: RecordPy) -> Self {
        Self {
            nodeid: record.nodeid,
            file: record.file,
            outcome: record.outcome,
            duration: record.duration,
            code: record.code,
            roots: record.roots,
            names: record.names,
            data: record.data,
            openers: record.openers,
        }
    }
}

/// The database of one project, plus what this session learned about its files.
#[pyclass(name = "Engine", module = "pytest_difftest._core", frozen)]
pub struct EnginePy {
    inner: Mutex<Engine>,
}

impl EnginePy {
    fn lock(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock cannot leave the engine half-updated in a way that
        // matters: every database write is its own transaction.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl EnginePy {
    #[new]
    #[pyo3(signature = (db_path, root, cache_size = 100_000, project_directories = Vec::new()))]
    fn new(
        py: Python<'_>,
        db_path: PathBuf,
        root: PathBuf,
        cache_size: usize,
        project_directories: Vec<PathBuf>,
    ) -> PyResult<Self> {
        let engine =
            py.detach(|| Engine::open(&db_path, &root, cache_size, &project_directories))?;
        Ok(Self {
            inner: Mutex::new(engine),
        })
    }

    fn select(&self, py: Python<'_>, skip_dirs: Vec<String>) -> PyResult<SelectionPy> {
        let selection = py.detach(|| self.lock().select(&skip_dirs))?;
        SelectionPy::new(py, selection)
    }

    fn prefetch(&self, py: Python<'_>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().prefetch())?)
    }

    fn set_modules(&self, modules: Vec<(String, String)>) {
        self.lock().set_modules(modules);
    }

    fn set_variant(&self, variant: String) {
        self.lock().set_variant(variant);
    }

    fn set_facts(&self, facts: Vec<(String, String)>) {
        self.lock().set_facts(facts);
    }

    fn set_reset_state(&self, names: Vec<String>) {
        self.lock().set_reset_state(names);
    }

    /// The stored pseudo-files (`<dist>/requests`, `<glob>/data/*.json`), so that Python can
    /// compute the facts they stand for.
    fn pseudo_files(&self) -> PyResult<Vec<String>> {
        let rows = self.lock().store().files()?;
        Ok(rows
            .into_iter()
            .map(|row| row.path)
            .filter(|path| crate::block::is_pseudo(path))
            .collect())
    }

    fn mark_import_time(&self, py: Python<'_>, code: Vec<(String, u32)>) {
        py.detach(|| self.lock().mark_import_time(&code));
    }

    fn mark_module_import(
        &self,
        py: Python<'_>,
        module: String,
        code: Vec<(String, u32, i64)>,
        data: Vec<String>,
    ) {
        py.detach(|| self.lock().mark_module_import(&module, &code, &data));
    }

    fn mark_read_whole(&self, py: Python<'_>, module: String) {
        py.detach(|| self.lock().mark_read_whole(&module));
    }

    fn record(&self, py: Python<'_>, tests: Vec<RecordPy>) -> PyResult<()> {
        let tests: Vec<TestRecord> = tests.into_iter().map(TestRecord::from).collect();
        Ok(py.detach(|| self.lock().record(&tests))?)
    }

    fn add_pending(&self, py: Python<'_>, tests: Vec<(String, String)>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().add_pending(&tests))?)
    }

    fn remove_tests(&self, py: Python<'_>, nodeids: Vec<String>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().remove_tests(&nodeids))?)
    }

    fn finish(&self, py: Python<'_>, meta: Vec<(String, String)>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().finish(&meta))?)
    }

    fn adopt_new_files(&self, py: Python<'_>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().adopt_new_files())?)
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().clear())?)
    }

    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().store().compact())?)
    }

    /// Closes the database connection (see `Store::close`); the engine is unusable after.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().store.close())?)
    }

    fn meta(&self, key: &str) -> PyResult<Option<String>> {
        Ok(self.lock().store().meta(key)?)
    }

    fn test_count(&self) -> PyResult<i64> {
        Ok(self.lock().store().test_count()?)
    }

    fn meta_items(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        Ok(py.detach(|| self.lock().store().meta_items())?)
    }

    fn set_meta(&self, py: Python<'_>, items: Vec<(String, String)>) -> PyResult<()> {
        Ok(py.detach(|| self.lock().store().set_meta(&items))?)
    }

    fn tests(&self, py: Python<'_>) -> PyResult<Vec<(String, String, String, f64)>> {
        let tests = py.detach(|| self.lock().store().tests())?;
        Ok(tests
            .into_iter()
            .map(|t| (t.nodeid, t.file, t.outcome, t.duration))
            .collect())
    }

    fn files(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let rows = py.detach(|| self.lock().store().files())?;
        let mut paths: Vec<String> = rows.into_iter().map(|row| row.path).collect();
        paths.sort();
        Ok(paths)
    }

    fn counts(&self, py: Python<'_>) -> PyResult<CountsPy> {
        Ok(py.detach(|| self.lock().counts())?.into())
    }

    fn test_dependencies(
        &self,
        py: Python<'_>,
        nodeid: &str,
    ) -> PyResult<Option<Vec<Py<StoredBlockPy>>>> {
        match py.detach(|| self.lock().test_dependencies(nodeid))? {
            Some(views) => Ok(Some(stored_blocks(py, views)?)),
            None => Ok(None),
        }
    }

    fn file_dependents(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
    ) -> PyResult<Vec<Option<Vec<Py<StoredBlockPy>>>>> {
        py.detach(|| self.lock().file_dependents(&paths))?
            .into_iter()
            .map(|views| views.map(|views| stored_blocks(py, views)).transpose())
            .collect()
    }

    fn merge_from(&self, py: Python<'_>, inputs: Vec<PathBuf>) -> PyResult<usize> {
        Ok(py.detach(|| self.lock().merge_from(&inputs))?)
    }

    fn snapshot(&self, py: Python<'_>, dest: PathBuf) -> PyResult<()> {
        Ok(py.detach(|| self.lock().store().snapshot(&dest))?)
    }
}

/// An audit hook (`sys.addaudithook`) that passes the arguments of one event (`open`, `exec`)
/// to `callback` and ignores every other event.
///
/// Written in Rust because Python 3.11 audits every `frame.f_code` read, which the trace
/// recorder does on each call: a hook written in Python then costs a Python call per traced
/// call (about two seconds per thousand tests), this one a string comparison.
#[pyclass(name = "AuditFilter", module = "pytest_difftest._core", frozen)]
pub struct AuditFilterPy {
    event: String,
    callback: Py<PyAny>,
}

#[pymethods]
impl AuditFilterPy {
    #[new]
    fn new(event: String, callback: Py<PyAny>) -> Self {
        Self { event, callback }
    }

    fn __call__(
        &self,
        event: &Bound<'_, pyo3::types::PyString>,
        args: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        // The length first: it rules out nearly every event without decoding the name.
        if event.len()? == self.event.len() && event.to_cow()? == self.event {
            self.callback.call1(event.py(), (args,))?;
        }
        Ok(())
    }
}

/// Merges the databases at `inputs` into the database at `output`; returns its test count.
#[pyfunction]
fn merge_databases(py: Python<'_>, output: PathBuf, inputs: Vec<PathBuf>) -> PyResult<usize> {
    Ok(py.detach(|| crate::merge::merge_files(&output, &inputs))?)
}

/// `(name, kind, first line, last line, checksum)` of a block.
type BlockTuple = (String, &'static str, u32, u32, i64);

/// The blocks of a Python source: `(name, kind, first line, last line, checksum)`, plus the
/// parse error if the source did not parse.
#[pyfunction]
fn parse_blocks(py: Python<'_>, source: Vec<u8>) -> (Vec<BlockTuple>, Option<String>) {
    let model = py.detach(|| crate::engine::parse_on_big_stack(source));
    let blocks = model
        .blocks
        .iter()
        .map(|block| {
            let kind = match block.kind {
                BlockKind::Module => "module",
                BlockKind::Binding => "binding",
                BlockKind::Function => "function",
            };
            (
                block.name.to_string(),
                kind,
                block.start_line,
                block.end_line,
                block.checksum,
            )
        })
        .collect();
    (blocks, model.parse_error)
}

/// The extension module. This list is everything Python sees.
#[pymodule]
pub mod _core {
    #[pymodule_export]
    use super::{
        AuditFilterPy, ChangedFilePy, CountsPy, DifftestError, EnginePy, SchemaVersionError,
        SelectionPy, StoredBlockPy, merge_databases, parse_blocks,
    };
    #[pymodule_export]
    use crate::call_hook::CallHookPy;

    #[pymodule_init]
    fn init(module: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use crate::facts;
        use pyo3::types::PyModuleMethods;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        module.add("SCHEMA_VERSION", crate::store::SCHEMA_VERSION)?;
        // Names both sides use, defined once, here in Rust.
        module.add("CONFIG_INI", facts::CONFIG_INI)?;
        module.add("CONFIG_PLUGINS", facts::CONFIG_PLUGINS)?;
        module.add("PYTHON", facts::PYTHON)?;
        module.add("GLOBAL_FACTS", facts::GLOBAL_FACTS)?;
        module.add("ALWAYS", facts::ALWAYS)?;
        module.add(
            "VARIANT_SEPARATOR",
            crate::engine::VARIANT_SEPARATOR.to_string(),
        )
    }
}
