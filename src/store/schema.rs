//! Schema version and creation.
//!
//! Version history (bump `SCHEMA_VERSION` on any change to `schema.sql` or to the checksum
//! contract in `checksum.rs`, and say what changed here):
//! * 1: first version.
//! * 2: no `dep` and `depset_block` tables (selection decodes `test.deps` and `depset.blocks`),
//!   no UNIQUE index on block names, no indexes on `test.file` and `test.depset_id`; `test` is
//!   keyed by node id (WITHOUT ROWID) and its `file` is NULL when the node id starts with it;
//!   `test.recorded`, when each test's record was written (for merging databases); outcome
//!   'owed'.
//! * 3: smaller: no `block_file` index (writers hold block ids in memory, readers scan), block
//!   ids AUTOINCREMENT (never reused); `test.duration_ms` (INTEGER milliseconds) replaces
//!   `test.duration` (REAL seconds), `test.recorded` is INTEGER; `test.outcome` is a number;
//!   the facts every test depends on (`<config>/ini`, `<config>/plugins`, `<python>`) are in
//!   the test's shared set rather than its own list.
//! * 4: `test.deps` and `depset.blocks` encode runs of consecutive ids (see `encode_ids`).

use rusqlite::Connection;

/// Stored in SQLite's `user_version`; 0 means a fresh, empty file.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = include_str!("schema.sql");

/// Creates the tables in an empty database and stamps the version.
pub(crate) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
}

/// The version stamped in the database (0 for a new file).
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}
