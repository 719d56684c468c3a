//! The SQLite store: typed reads and writes, no selection logic.

mod block_ids;
mod ids;
mod portable;
mod schema;
mod views;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::outcome::outcome_code;
pub(crate) use crate::outcome::outcome_name;
use crate::stored_paths::StoredPaths;
pub use block_ids::{BlockIds, BlockKey, Refreshed};
use ids::matching_ids;
pub use ids::{BadIds, IdLimits, decode_ids, encode_ids};
pub use portable::{BlockVersion, Portable, PortableFile, PortableTest};
pub(crate) use portable::{remove_stale_temporaries, temporary_sibling};
pub use schema::SCHEMA_VERSION;
pub use views::Counts;

/// A stored file and its fingerprint.
#[derive(Clone, Debug)]
pub struct FileRow {
    pub id: i64,
    pub path: String,
    pub mtime_ns: Option<i64>,
    pub size: Option<i64>,
    pub content_hash: Option<i64>,
    pub clean_hash: Option<i64>,
}

/// A stored block version.
#[derive(Clone, Debug)]
pub struct BlockRow {
    pub id: i64,
    pub name: String,
    pub checksum: i64,
}

/// A stored test.
#[derive(Clone, Debug)]
pub struct TestRow {
    pub nodeid: String,
    pub file: String,
    pub outcome: String,
    pub duration: f64,
}

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, for a run: in WAL mode, so that
    /// concurrent runs keep working.
    ///
    /// # Errors
    /// An unreadable, corrupt or foreign file, one from another schema version, or one whose
    /// schema holds anything this version does not create (`Error::Untrusted`).
    pub fn open(path: &Path) -> Result<Self> {
        let store = Self::open_as_is(path)?;
        // A merged or downloaded copy comes in rollback-journal mode: switch it to WAL so
        // concurrent runs keep working. Best effort: a busy or read-only file stays as is.
        let _ = store.conn.pragma_update(None, "journal_mode", "WAL");
        store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Opens (creating if needed) the database at `path` without changing its journal mode: a
    /// merge output that is a single file stays one.
    ///
    /// # Errors
    /// As `open`.
    pub fn open_as_is(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        let db = |source| Error::Db {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        // Another pytest process may be writing: wait for it rather than fail.
        conn.busy_timeout(Duration::from_secs(60)).map_err(db)?;
        schema::guard(&conn).map_err(db)?;
        let store = Self {
            conn,
            path: path.to_owned(),
        };
        let found = schema::version(&store.conn).map_err(db)?;
        // Version 0 is a new file, unless it holds tables: then it is someone else's database.
        let fresh = found == 0
            && !store
                .conn
                .query_row("SELECT count(*) > 0 FROM sqlite_master", [], |row| {
                    row.get(0)
                })
                .map_err(db)?;
        if fresh {
            store
                .conn
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(db)?;
            store.transaction(schema::create)?;
        } else if found != SCHEMA_VERSION {
            return Err(Error::SchemaMismatch {
                path: path.to_owned(),
                found,
                expected: SCHEMA_VERSION,
            });
        } else if let Err(reason) = schema::check(&store.conn).map_err(db)? {
            return Err(Error::Untrusted {
                path: path.to_owned(),
                reason,
            });
        }
        Ok(store)
    }

    /// Checks every stored file path against `rules`: the engine reads the files they name.
    ///
    /// # Errors
    /// `Error::Untrusted` naming the first path that breaks them; SQLite errors.
    pub fn check_paths(&self, rules: &StoredPaths) -> Result<()> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT path FROM file")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                rules.check(row.get_ref(0)?.as_str()?).map_err(Malformed)?;
            }
            Ok(())
        })
    }

    /// The connection, for tests that hook into it.
    #[cfg(test)]
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Where the database lives.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        match source {
            rusqlite::Error::ToSqlConversionFailure(found) if found.is::<Malformed>() => {
                Error::Untrusted {
                    path: self.path.clone(),
                    reason: found.to_string(),
                }
            }
            source => Error::Db {
                path: self.path.clone(),
                source,
            },
        }
    }

    /// Runs `work` in one write transaction, so a crash leaves either all of it or none. Inside
    /// `locked`, it is part of that transaction.
    ///
    /// # Errors
    /// Any SQLite error, after rolling back.
    pub fn transaction<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.locked(|| work(&self.conn).map_err(|e| self.err(e)))
    }

    /// Runs `work`, which reads and writes through this store, holding SQLite's write lock
    /// from its first read to its last write (`BEGIN IMMEDIATE`): no other writer commits in
    /// between, so nothing it read is stale when it writes.
    ///
    /// # Errors
    /// Whatever `work` returns, after rolling back; SQLite errors.
    pub fn locked<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return work();
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match work() {
            Ok(value) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(value)
            }
            Err(error) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(error)
            }
        }
    }

    /// Runs `work` in one read transaction: every statement sees the same committed state,
    /// never half of another writer's progress. Inside a transaction, it is part of it.
    pub(crate) fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.in_read_transaction(work).map_err(|e| self.err(e))
    }

    fn in_read_transaction<T, E: From<rusqlite::Error>>(
        &self,
        work: impl FnOnce(&Connection) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if !self.conn.is_autocommit() {
            return work(&self.conn);
        }
        self.conn.execute_batch("BEGIN")?;
        let result = work(&self.conn);
        // Nothing was written: ending the transaction either way only releases the snapshot.
        let _ = self.conn.execute_batch("COMMIT");
        result
    }

    /// Every stored file.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn files(&self) -> Result<Vec<FileRow>> {
        self.read(file_rows)
    }

    /// The stored block versions of each of `file_ids` (those with none are left out), read
    /// in one scan of the block table: it has no index by file (see schema.sql).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn blocks_of_files(&self, file_ids: &HashSet<i64>) -> Result<HashMap<i64, Vec<BlockRow>>> {
        if file_ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.read(|conn| blocks_by_file(conn, file_ids))
    }

    /// `(block id, node id)` for every test that depends on one of `block_ids`, directly or
    /// through its shared set.
    ///
    /// Decodes every test's and set's id list: there is no reverse index (see schema.sql).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn dependents(&self, block_ids: &[i64]) -> Result<Vec<(i64, String)>> {
        let mut wanted = block_ids.to_vec();
        wanted.sort_unstable();
        let mut tests = Vec::new();
        self.for_each_test_matching(&wanted, |test, hits| {
            tests.extend(hits.iter().map(|&block| (block, test.to_owned())));
        })?;
        Ok(tests)
    }

    /// Hands `visit`, for each stored test that depends on some of `wanted` (sorted), directly
    /// or through its shared set, its node id and those ids: its own first, then its set's.
    /// Decodes every test's and set's id list: there is no reverse index (see schema.sql).
    ///
    /// # Errors
    /// SQLite errors, malformed id lists.
    pub fn for_each_test_matching(
        &self,
        wanted: &[i64],
        mut visit: impl FnMut(&str, &[i64]),
    ) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        self.read(|conn| {
            let limits = IdLimits::of_ranges(conn)?;
            let mut sets: HashMap<i64, Vec<i64>> = HashMap::new();
            let mut stmt = conn.prepare_cached("SELECT id, blocks FROM depset")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let hits = matching_ids(row.get_ref(1)?.as_blob()?, wanted, limits)
                    .map_err(|bad| bad.in_depset(id))?;
                if !hits.is_empty() {
                    sets.insert(id, hits);
                }
            }
            let mut stmt = conn.prepare_cached("SELECT nodeid, deps, depset_id FROM test")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let mut hits = match matching_ids(row.get_ref(1)?.as_blob()?, wanted, limits) {
                    Ok(hits) => hits,
                    Err(bad) => return Err(bad.in_test(row.get_ref(0)?.as_str()?).into()),
                };
                if let Some(shared) = row.get::<_, Option<i64>>(2)?.and_then(|set| sets.get(&set)) {
                    hits.extend(shared);
                }
                if !hits.is_empty() {
                    visit(row.get_ref(0)?.as_str()?, &hits);
                }
            }
            Ok(())
        })
    }

    /// Every stored test.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn tests(&self) -> Result<Vec<TestRow>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT nodeid, file, outcome, duration_ms FROM test")?;
            stmt.query_map([], |row| {
                let nodeid: String = row.get(0)?;
                let file = match row.get::<_, Option<String>>(1)? {
                    Some(file) => file,
                    None => file_of_nodeid(&nodeid).to_owned(),
                };
                Ok(TestRow {
                    nodeid,
                    file,
                    outcome: outcome_name(row.get(2)?).to_owned(),
                    duration: seconds(row.get(3)?),
                })
            })?
            .collect()
        })
    }

    /// Rewrites the database without free pages and with full pages (`VACUUM`): after a full
    /// rebuild, the dropped tables' pages and the B-trees' half-full pages would otherwise stay
    /// in the file (about 5% of its size).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn compact(&self) -> Result<()> {
        self.conn.execute_batch("VACUUM").map_err(|e| self.err(e))
    }

    /// Closes the connection now rather than whenever the owner is freed (which an exiting
    /// interpreter may never do): the last connection to close folds the write-ahead log into
    /// the database file, so a copy of the file alone is the whole baseline. Later calls fail.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn close(&mut self) -> Result<()> {
        let closed = Connection::open_in_memory().map_err(|e| self.err(e))?;
        let conn = std::mem::replace(&mut self.conn, closed);
        conn.close().map_err(|(_, e)| self.err(e))
    }

    /// How many tests the database knows.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn test_count(&self) -> Result<i64> {
        self.read(|conn| conn.query_row("SELECT count(*) FROM test", [], |row| row.get(0)))
    }

    /// Updates a file's stat fingerprint, and its clean hash when given.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_fingerprints(&self, updates: &[(i64, i64, i64, i64)]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        self.transaction(|conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE file SET mtime_ns = ?2, size = ?3, content_hash = ?4 WHERE id = ?1",
            )?;
            for (id, mtime, size, hash) in updates {
                stmt.execute(params![id, trusted_mtime(*mtime), size, hash])?;
            }
            Ok(())
        })
    }

    /// A meta value.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|conn| {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
        })
    }

    /// Every meta key and value, sorted by key.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn meta_items(&self) -> Result<Vec<(String, String)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT key, value FROM meta ORDER BY key")?;
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    /// Stores meta values in one transaction.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_meta(&self, items: &[(String, String)]) -> Result<()> {
        self.transaction(|conn| {
            for (key, value) in items {
                write::meta(conn, key, value)?;
            }
            Ok(())
        })
    }

    /// Removes every test, block and file: the start of a full rebuild. The tables are
    /// dropped and created again, so a rebuild also repairs a database whose tables do not
    /// match the schema its version number claims (one written by a development build).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn clear(&self) -> Result<()> {
        self.transaction(|conn| {
            // Indexes go with their tables; referring tables go before those they refer to (others,
            // like `meta`, refer to nothing and sort first).
            let mut tables: Vec<String> = conn
                .prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%'",
                )?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let order = ["test", "dep", "depset_block", "depset", "block", "file"];
            tables.sort_by_key(|name| order.iter().position(|t| t == name));
            for name in tables {
                conn.execute_batch(&format!("DROP TABLE \"{name}\""))?;
            }
            schema::create(conn)
        })
    }
}

pub mod write;

/// Now, in whole unix seconds: when a test record is made.
#[must_use]
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |age| i64::try_from(age.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds as stored in `test.duration_ms`: whole milliseconds, rounded; a negative or NaN
/// duration (a clock step) is 0.
#[must_use]
#[allow(clippy::cast_possible_truncation)] // `as` saturates, and durations are far below i64
pub fn milliseconds(seconds: f64) -> i64 {
    if seconds.is_nan() || seconds <= 0.0 {
        0
    } else {
        (seconds * 1000.0).round() as i64
    }
}

/// What `milliseconds` stored, in seconds again.
#[must_use]
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ms (285,000 years)
pub fn seconds(milliseconds: i64) -> f64 {
    milliseconds as f64 / 1000.0
}

/// The stored block versions of `file_ids`, by file id, read in one scan of the block table.
fn blocks_by_file(
    conn: &Connection,
    file_ids: &HashSet<i64>,
) -> rusqlite::Result<HashMap<i64, Vec<BlockRow>>> {
    // SQLite tests each row against the list itself, far cheaper than handing every row to
    // Rust. The ids are integers, so writing them into the statement is safe; a list too long
    // for one statement falls back on filtering here.
    const MAX_LISTED: usize = 10_000;
    let sql = if file_ids.len() <= MAX_LISTED {
        let listed: Vec<String> = file_ids.iter().map(i64::to_string).collect();
        format!(
            "SELECT id, file_id, name, checksum FROM block WHERE file_id IN ({})",
            listed.join(",")
        )
    } else {
        "SELECT id, file_id, name, checksum FROM block".to_owned()
    };
    let mut found: HashMap<i64, Vec<BlockRow>> = HashMap::new();
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let file_id: i64 = row.get(1)?;
        if !file_ids.contains(&file_id) {
            continue;
        }
        found.entry(file_id).or_default().push(BlockRow {
            id: row.get(0)?,
            name: row.get(2)?,
            checksum: row.get(3)?,
        });
    }
    Ok(found)
}

/// The modification time to store in a stat fingerprint, or `None` when it is too recent to
/// trust. A file can change again within the same timestamp tick (coarse clocks, 2-second
/// filesystems, a formatter running right after a save) without changing its size; a
/// fingerprint taken then would hide that edit for good. As git does with "racily clean"
/// entries, such a file is hashed again next time instead.
fn trusted_mtime(mtime_ns: i64) -> Option<i64> {
    const MARGIN_NS: i64 = 3_000_000_000;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |age| i64::try_from(age.as_nanos()).unwrap_or(i64::MAX));
    (now_ns.saturating_sub(mtime_ns) >= MARGIN_NS).then_some(mtime_ns)
}

/// Every row of the file table.
fn file_rows(conn: &Connection) -> rusqlite::Result<Vec<FileRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, path, mtime_ns, size, content_hash, clean_hash FROM file")?;
    stmt.query_map([], |row| {
        Ok(FileRow {
            id: row.get(0)?,
            path: row.get(1)?,
            mtime_ns: row.get(2)?,
            size: row.get(3)?,
            content_hash: row.get(4)?,
            clean_hash: row.get(5)?,
        })
    })?
    .collect()
}

/// The file part of a node id: what precedes the first `::`.
fn file_of_nodeid(nodeid: &str) -> &str {
    nodeid.split_once("::").map_or(nodeid, |(file, _)| file)
}

/// What to store in `test.file`: NULL when the node id already says it.
fn stored_file<'a>(nodeid: &str, file: &'a str) -> Option<&'a str> {
    (file_of_nodeid(nodeid) != file).then_some(file)
}

/// Stored data no version of pytest-difftest writes: the database was crafted or damaged.
/// Carried out of reads in SQLite's error type (as a conversion failure: the stored value is
/// not one this version can take); `Store::err` makes it `Error::Untrusted`.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

impl From<Malformed> for rusqlite::Error {
    fn from(malformed: Malformed) -> Self {
        Self::ToSqlConversionFailure(Box::new(malformed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_file_is_stored_only_when_the_node_id_does_not_start_with_it() {
        let dir = std::env::temp_dir().join(format!("difftest-store-{}", std::process::id()));
        let store = Store::open(&dir.join("t.db")).unwrap();
        store
            .transaction(|conn| {
                write::test(
                    conn,
                    "tests/test_a.py::test_x",
                    "tests/test_a.py",
                    "passed",
                    500,
                    Some(1),
                    &[],
                    None,
                )?;
                write::pending(conn, "docs/guide.txt", "docs/guide.txt")?;
                write::pending(conn, "test_b.py::test_y", "tests/test_b.py")
            })
            .unwrap();
        let stored: Vec<Option<String>> = store
            .read(|conn| {
                conn.prepare("SELECT file FROM test ORDER BY nodeid")?
                    .query_map([], |row| row.get(0))?
                    .collect()
            })
            .unwrap();
        assert_eq!(stored, [None, Some("tests/test_b.py".to_owned()), None]);
        let files: Vec<String> = store.tests().unwrap().into_iter().map(|t| t.file).collect();
        assert_eq!(
            files,
            ["docs/guide.txt", "tests/test_b.py", "tests/test_a.py"]
        );
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn clear_rebuilds_tables_that_do_not_match_the_schema() {
        let dir = std::env::temp_dir().join(format!("difftest-clear-{}", std::process::id()));
        let store = Store::open(&dir.join("t.db")).unwrap();
        store
            .transaction(|conn| conn.execute_batch("ALTER TABLE test DROP COLUMN recorded"))
            .unwrap();
        let record = |conn: &Connection| {
            write::test(conn, "t.py::t", "t.py", "passed", 100, Some(1), &[], None)
        };
        assert!(store.transaction(record).is_err());
        store.clear().unwrap();
        store.transaction(record).unwrap();
        assert_eq!(store.test_count().unwrap(), 1);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
