//! The core of pytest-difftest: Python files → blocks → checksums → a SQLite database of which
//! tests depend on which block versions → the tests a change affects.
//!
//! Only `python.rs` and `call_hook.rs` know PyO3; everything else is plain Rust, tested with
//! `cargo test`.

pub mod block;
pub mod block_name;
mod call_hook;
mod calling;
mod cells;
pub mod checksum;
mod closure;
mod effects;
pub mod engine;
pub mod error;
pub mod facts;
mod fasthash;
mod flow;
pub mod graph;
pub mod inspect;
pub mod merge;
pub mod outcome;
pub mod parse;
pub mod python;
pub mod record;
mod refs;
mod resolve;
pub mod select;
pub mod store;
pub mod stored_paths;
mod stored_runs;
