//! Throughput of the Rust core: `parse_bytes` (parse, cut into blocks, checksum every block)
//! and, for scale, `hash_bytes` and the Python parser alone, over a corpus of real Python files;
//! then the store: recording throughput (tests/s) into a fresh database, and selection latency
//! for one changed function in a 20,000-test database.
//!
//! Run: `cargo bench --bench core`. Environment:
//! * `DIFFTEST_BENCH_CORPUS`: a directory whose `*.py` files (recursively) form the corpus;
//!   default: the CPython 3.11 standard library under pyenv.
//! * `DIFFTEST_BENCH_ITERS`: passes over the corpus per measurement (default 5).
//!
//! A plain `fn main` (`harness = false`): no benchmarking crate, `std::time::Instant` only.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pytest_difftest_core::checksum::hash_bytes;
use pytest_difftest_core::engine::Engine;
use pytest_difftest_core::parse::parse_bytes;
use pytest_difftest_core::record::TestRecord;
use ruff_python_ast::PySourceType;
use ruff_python_parser::parse_unchecked_source;

const DEFAULT_CORPUS: &str = "/root/.pyenv/versions/3.11.7/lib/python3.11";
/// The parser recurses on nesting; the plugin gives it the same generous stack.
const STACK: usize = 256 * 1024 * 1024;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            // Installed packages are not the standard library (and would triple the corpus).
            if entry.file_name() != "site-packages" {
                collect(&path, out);
            }
        } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "py") {
            out.push(path);
        }
    }
}

/// Runs `pass` over the corpus `iters` times; returns the time of each pass.
fn measure(iters: usize, mut pass: impl FnMut() -> u64) -> Vec<Duration> {
    (0..iters)
        .map(|_| {
            let start = Instant::now();
            black_box(pass());
            start.elapsed()
        })
        .collect()
}

fn report(name: &str, bytes: usize, mut times: Vec<Duration>) {
    times.sort();
    let mb = bytes as f64 / 1e6;
    let median = times[times.len() / 2].as_secs_f64();
    let best = times[0].as_secs_f64();
    println!(
        "{name:<28} median {:>8.1} MB/s ({:>7.1} ms/pass), best {:>8.1} MB/s",
        mb / median,
        median * 1e3,
        mb / best,
    );
}

fn run() {
    let corpus = std::env::var_os("DIFFTEST_BENCH_CORPUS")
        .map_or_else(|| PathBuf::from(DEFAULT_CORPUS), PathBuf::from);
    let iters: usize = std::env::var("DIFFTEST_BENCH_ITERS")
        .ok()
        .and_then(|text| text.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    let mut paths = Vec::new();
    collect(&corpus, &mut paths);
    let files: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    assert!(
        !files.is_empty(),
        "no .py files under {} (set DIFFTEST_BENCH_CORPUS)",
        corpus.display()
    );

    // One untimed pass: warms caches and gathers the corpus's shape.
    let (mut blocks, mut unparsable) = (0usize, 0usize);
    for file in &files {
        let model = parse_bytes(file);
        blocks += model.blocks.len();
        unparsable += usize::from(model.parse_error.is_some());
    }
    println!(
        "corpus {}: {} files, {:.1} MB, {} blocks, {} unparsable; {} passes each",
        corpus.display(),
        files.len(),
        bytes as f64 / 1e6,
        blocks,
        unparsable,
        iters,
    );

    let hashed = measure(iters, || {
        files
            .iter()
            .fold(0u64, |acc, file| acc ^ hash_bytes(file) as u64)
    });
    report("hash_bytes (whole file)", bytes, hashed);

    // The parser alone (a dependency of the core), to split parse_bytes's time into the
    // parser's share and the core's own (blocks, checksums, names).
    let texts: Vec<&str> = files
        .iter()
        .filter_map(|file| std::str::from_utf8(file).ok())
        .collect();
    let text_bytes: usize = texts.iter().map(|text| text.len()).sum();
    let parser_only = measure(iters, || {
        texts.iter().fold(0u64, |acc, text| {
            let parsed = parse_unchecked_source(black_box(text), PySourceType::Python);
            acc ^ parsed.errors().len() as u64 ^ parsed.tokens().len() as u64
        })
    });
    report("ruff parser alone", text_bytes, parser_only);

    let parsed = measure(iters, || {
        files.iter().fold(0u64, |acc, file| {
            let model = parse_bytes(black_box(file));
            model
                .blocks
                .iter()
                .fold(acc ^ model.content_hash as u64, |acc, block| {
                    acc.wrapping_add(block.checksum as u64)
                })
        })
    });
    report("parse_bytes (parse+checksum)", bytes, parsed);

    store_benchmarks(iters);
}

/// Library modules and tests of the synthetic store benchmark (the "large" end-to-end size).
const MODULES: usize = 2_000;
const FUNCTIONS: usize = 10;
const TESTS: usize = 20_000;
const TESTS_PER_FILE: usize = 10;
/// Library functions each test runs, spread over the modules.
const CALLS: usize = 8;
const BATCH: usize = 500;

/// First line of function `k` in a generated module or test file (3 lines per function).
fn line(k: usize) -> u32 {
    u32::try_from(1 + 3 * k).expect("small")
}

fn store_benchmarks(iters: usize) {
    let root = std::env::temp_dir().join(format!("difftest-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for module in 0..MODULES {
        let text: String = (0..FUNCTIONS)
            .map(|k| format!("def f{k}(x):\n    return x + {k}\n\n"))
            .collect();
        write(&root, &format!("lib/m{module}.py"), &text);
    }
    for file in 0..TESTS / TESTS_PER_FILE {
        let text: String = (0..TESTS_PER_FILE)
            .map(|n| format!("def test_{n}():\n    assert True\n\n"))
            .collect();
        write(&root, &format!("tests/test_{file}.py"), &text);
    }
    let records: Vec<TestRecord> = (0..TESTS)
        .map(|i| {
            let path = format!("tests/test_{}.py", i / TESTS_PER_FILE);
            let mut code = vec![(path.clone(), line(i % TESTS_PER_FILE))];
            for call in 0..CALLS {
                let module = (i * 7 + call * 131) % MODULES;
                code.push((format!("lib/m{module}.py"), line((i + call) % FUNCTIONS)));
            }
            TestRecord {
                nodeid: format!("{path}::test_{}", i % TESTS_PER_FILE),
                file: path.clone(),
                outcome: "passed".to_owned(),
                duration: 0.01,
                code,
                roots: vec![path],
                names: Vec::new(),
                data: Vec::new(),
                openers: Vec::new(),
            }
        })
        .collect();
    let db = root.join("bench.db");

    let start = Instant::now();
    let mut engine = Engine::open(&db, &root, 100_000, &[]).expect("open");
    engine.select(&[]).expect("select");
    engine.adopt_new_files().expect("adopt");
    for batch in records.chunks(BATCH) {
        engine.record(batch).expect("record");
    }
    engine.finish(&[]).expect("finish");
    drop(engine);
    let elapsed = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&db).map_or(0, |meta| meta.len());
    println!(
        "store: recorded {TESTS} tests ({} deps each) in {elapsed:.2} s: {:.0} tests/s, \
         database {:.1} MB ({} bytes per test)",
        CALLS + 1,
        TESTS as f64 / elapsed,
        size as f64 / 1e6,
        size / TESTS as u64,
    );

    let no_change = measure(iters, || {
        let mut engine = Engine::open(&db, &root, 100_000, &[]).expect("open");
        engine.select(&[]).expect("select").selected.len() as u64
    });
    report_latency("select, nothing changed", &no_change);

    // Each pass edits one function body in a module, selects, and restores the file: the
    // restored file is then clean again by content hash.
    let target = "lib/m17.py";
    let original = std::fs::read_to_string(root.join(target)).expect("read");
    let mut selected = 0;
    let one_change = measure(iters, || {
        write(
            &root,
            target,
            &original.replace("return x + 3", "return x + 33"),
        );
        let mut engine = Engine::open(&db, &root, 100_000, &[]).expect("open");
        let found = engine.select(&[]).expect("select").selected.len();
        write(&root, target, &original);
        selected = found;
        found as u64
    });
    report_latency(
        &format!("select, one function changed ({selected} tests selected)"),
        &one_change,
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(full, text).expect("write");
}

fn report_latency(name: &str, times: &[Duration]) {
    let mut times = times.to_vec();
    times.sort();
    println!(
        "{name:<52} median {:>7.1} ms, best {:>7.1} ms (open + select, {} passes)",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times.len(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(run)
        .expect("spawn the benchmark thread")
        .join()
        .expect("benchmark thread panicked");
}
