//! Throughput of the Rust core: `parse_bytes` (parse, cut into blocks, checksum every block)
//! and, for scale, `hash_bytes` and the Python parser alone, over a corpus of real Python files.
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
use pytest_difftest_core::parse::parse_bytes;
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
