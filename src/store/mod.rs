//! The SQLite store: typed reads and writes, no selection logic.

mod portable;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
pub(crate) use portable::temporary_sibling;
pub use portable::{BlockVersion, Portable, PortableFile, PortableTest};
pub use schema::SCHEMA_VERSION;

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
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// An unreadable, corrupt or foreign file, or one from another schema version.
    pub fn open(path: &Path) -> Result<Self> {
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
        } else {
            // A merged or downloaded copy comes in rollback-journal mode: switch it to WAL so
            // concurrent runs keep working. Best effort: a busy or read-only file stays as is.
            let _ = store.conn.pragma_update(None, "journal_mode", "WAL");
        }
        store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        Ok(store)
    }

    /// Where the database lives.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `work` in one write transaction, so a crash leaves either all of it or none.
    ///
    /// # Errors
    /// Any SQLite error, after rolling back.
    pub fn transaction<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match work(&self.conn) {
            Ok(value) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(value)
            }
            Err(source) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(self.err(source))
            }
        }
    }

    fn read<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        work(&self.conn).map_err(|e| self.err(e))
    }

    /// Every stored file.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn files(&self) -> Result<Vec<FileRow>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, path, mtime_ns, size, content_hash, clean_hash FROM file",
            )?;
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
        })
    }

    /// The stored block versions of a file.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn blocks_of(&self, file_id: i64) -> Result<Vec<BlockRow>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, name, checksum FROM block WHERE file_id = ?1")?;
            stmt.query_map([file_id], |row| {
                Ok(BlockRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    checksum: row.get(2)?,
                })
            })?
            .collect()
        })
    }

    /// `(block id, test id)` for every test that depends on one of `block_ids`, directly or
    /// through its shared set.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn dependents(&self, block_ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        self.read(|conn| {
            let mut direct = conn.prepare_cached("SELECT test_id FROM dep WHERE block_id = ?1")?;
            let mut shared = conn.prepare_cached(
                "SELECT test.id FROM depset_block JOIN test ON test.depset_id = depset_block.depset_id \
                 WHERE depset_block.block_id = ?1",
            )?;
            let mut tests = Vec::new();
            for &block_id in block_ids {
                for test in direct.query_map([block_id], |row| row.get(0))? {
                    tests.push((block_id, test?));
                }
                for test in shared.query_map([block_id], |row| row.get(0))? {
                    tests.push((block_id, test?));
                }
            }
            Ok(tests)
        })
    }

    /// Every stored test, by id.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn tests(&self) -> Result<Vec<(i64, TestRow)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, nodeid, file, outcome, duration FROM test")?;
            stmt.query_map([], |row| {
                Ok((
                    row.get(0)?,
                    TestRow {
                        nodeid: row.get(1)?,
                        file: row.get(2)?,
                        outcome: row.get(3)?,
                        duration: row.get(4)?,
                    },
                ))
            })?
            .collect()
        })
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

    /// Removes every test, block and file: the start of a full rebuild.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn clear(&self) -> Result<()> {
        self.transaction(|conn| {
            conn.execute_batch(
                "DELETE FROM dep; DELETE FROM depset_block; DELETE FROM test; DELETE FROM depset; \
             DELETE FROM block; DELETE FROM file; DELETE FROM meta;",
            )
        })
    }
}

/// Writes used inside `Store::transaction`.
pub mod write {
    use rusqlite::{Connection, OptionalExtension, params};

    /// The id of the file row for `path`, created if needed.
    pub fn file_id(conn: &Connection, path: &str) -> rusqlite::Result<i64> {
        conn.prepare_cached("INSERT OR IGNORE INTO file (path) VALUES (?1)")?
            .execute([path])?;
        conn.prepare_cached("SELECT id FROM file WHERE path = ?1")?
            .query_row([path], |row| row.get(0))
    }

    /// The id of a block version, created if needed.
    pub fn block_id(
        conn: &Connection,
        file_id: i64,
        name: &str,
        checksum: i64,
    ) -> rusqlite::Result<i64> {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO block (file_id, name, checksum) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![file_id, name, checksum])?;
        conn.prepare_cached(
            "SELECT id FROM block WHERE file_id = ?1 AND name = ?2 AND checksum = ?3",
        )?
        .query_row(params![file_id, name, checksum], |row| row.get(0))
    }

    /// Replaces a test's record and dependencies. `deps` must be sorted and free of duplicates;
    /// `recorded` is when the record was made (unix seconds).
    #[allow(clippy::too_many_arguments)] // one named column each
    pub fn test(
        conn: &Connection,
        nodeid: &str,
        file: &str,
        outcome: &str,
        duration: f64,
        recorded: Option<f64>,
        deps: &[i64],
        depset_id: Option<i64>,
    ) -> rusqlite::Result<()> {
        let old: Option<(i64, Vec<u8>)> = conn
            .prepare_cached("SELECT id, deps FROM test WHERE nodeid = ?1")?
            .query_row([nodeid], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some((test_id, old_deps)) = old {
            let mut delete =
                conn.prepare_cached("DELETE FROM dep WHERE block_id = ?1 AND test_id = ?2")?;
            for block_id in super::decode_ids(&old_deps) {
                delete.execute(params![block_id, test_id])?;
            }
        }
        let test_id: i64 = conn
            .prepare_cached(
                "INSERT INTO test (nodeid, file, outcome, duration, recorded, deps, depset_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (nodeid) DO UPDATE SET file = excluded.file, \
                 outcome = excluded.outcome, duration = excluded.duration, \
                 recorded = excluded.recorded, deps = excluded.deps, \
                 depset_id = excluded.depset_id \
                 RETURNING id",
            )?
            .query_row(
                params![
                    nodeid,
                    file,
                    outcome,
                    duration,
                    recorded,
                    super::encode_ids(deps),
                    depset_id
                ],
                |row| row.get(0),
            )?;
        let mut insert =
            conn.prepare_cached("INSERT OR IGNORE INTO dep (block_id, test_id) VALUES (?1, ?2)")?;
        for block_id in deps {
            insert.execute(params![block_id, test_id])?;
        }
        Ok(())
    }

    /// The id of the shared set holding exactly `blocks` (sorted, unique), created if needed.
    pub fn depset_id(conn: &Connection, blocks: &[i64]) -> rusqlite::Result<i64> {
        let encoded = super::encode_ids(blocks);
        let hash = crate::checksum::hash_bytes(&encoded);
        let mut find = conn.prepare_cached("SELECT id, blocks FROM depset WHERE hash = ?1")?;
        let candidates = find
            .query_map([hash], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if let Some((id, _)) = candidates
            .into_iter()
            .find(|(_, stored)| *stored == encoded)
        {
            return Ok(id);
        }
        conn.prepare_cached("INSERT INTO depset (hash, blocks) VALUES (?1, ?2)")?
            .execute(params![hash, encoded])?;
        let id = conn.last_insert_rowid();
        let mut insert =
            conn.prepare_cached("INSERT INTO depset_block (block_id, depset_id) VALUES (?1, ?2)")?;
        for block_id in blocks {
            insert.execute(params![block_id, id])?;
        }
        Ok(id)
    }

    /// Drops the shared sets no test uses any more.
    pub fn drop_unused_depsets(conn: &Connection) -> rusqlite::Result<()> {
        let unused: Vec<(i64, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT id, blocks FROM depset WHERE NOT EXISTS \
                 (SELECT 1 FROM test WHERE test.depset_id = depset.id)",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut delete_row =
            conn.prepare_cached("DELETE FROM depset_block WHERE block_id = ?1 AND depset_id = ?2")?;
        let mut delete_set = conn.prepare_cached("DELETE FROM depset WHERE id = ?1")?;
        for (id, blocks) in unused {
            for block_id in super::decode_ids(&blocks) {
                delete_row.execute(params![block_id, id])?;
            }
            delete_set.execute([id])?;
        }
        Ok(())
    }

    /// Records a collected test that has not run yet, unless the test is already known.
    pub fn pending(conn: &Connection, nodeid: &str, file: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO test (nodeid, file, outcome) VALUES (?1, ?2, 'pending')",
        )?
        .execute([nodeid, file])?;
        Ok(())
    }

    /// Forgets a test.
    pub fn remove_test(conn: &Connection, nodeid: &str) -> rusqlite::Result<()> {
        test(conn, nodeid, "", "pending", 0.0, None, &[], None)?;
        conn.prepare_cached("DELETE FROM test WHERE nodeid = ?1")?
            .execute([nodeid])?;
        Ok(())
    }

    /// After a baseline: stores a file's current fingerprint, marks it clean when no test
    /// depends on an outdated block, and drops block versions nobody depends on.
    pub fn settle_file(
        conn: &Connection,
        file_id: i64,
        current: Option<(i64, i64, i64)>,
        is_current: &dyn Fn(&str, i64) -> bool,
    ) -> rusqlite::Result<()> {
        let blocks: Vec<(i64, String, i64)> = conn
            .prepare_cached("SELECT id, name, checksum FROM block WHERE file_id = ?1")?
            .query_map([file_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut owed = false;
        let mut has_deps = conn.prepare_cached(
            "SELECT 1 FROM dep WHERE block_id = ?1 UNION ALL \
             SELECT 1 FROM depset_block WHERE block_id = ?1 LIMIT 1",
        )?;
        let mut delete = conn.prepare_cached("DELETE FROM block WHERE id = ?1")?;
        let mut remaining = 0;
        for (id, name, checksum) in blocks {
            let used = has_deps.exists([id])?;
            if !used {
                delete.execute([id])?;
                continue;
            }
            remaining += 1;
            if current.is_none() || !is_current(&name, checksum) {
                owed = true;
            }
        }
        match current {
            None if remaining == 0 => {
                conn.prepare_cached("DELETE FROM file WHERE id = ?1")?
                    .execute([file_id])?;
            }
            None => {
                conn.prepare_cached("UPDATE file SET clean_hash = NULL WHERE id = ?1")?
                    .execute([file_id])?;
            }
            Some((mtime, size, hash)) => {
                conn.prepare_cached(
                    "UPDATE file SET mtime_ns = ?2, size = ?3, content_hash = ?4, clean_hash = ?5 WHERE id = ?1",
                )?
                .execute(params![
                    file_id,
                    super::trusted_mtime(mtime),
                    size,
                    hash,
                    if owed { None } else { Some(hash) }
                ])?;
            }
        }
        Ok(())
    }

    /// Sets a meta value.
    pub fn meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
        conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
            .execute([key, value])?;
        Ok(())
    }
}

/// Now, in unix seconds: when a test record is made.
#[must_use]
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |age| age.as_secs_f64())
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

/// Encodes ascending ids as varint deltas.
#[must_use]
pub fn encode_ids(ids: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 2);
    let mut previous = 0i64;
    for &id in ids {
        let mut delta = (id - previous).cast_unsigned();
        previous = id;
        loop {
            let byte = (delta & 0x7f) as u8;
            delta >>= 7;
            if delta == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// Decodes what `encode_ids` wrote.
#[must_use]
pub fn decode_ids(bytes: &[u8]) -> Vec<i64> {
    let mut ids = Vec::new();
    let (mut value, mut shift, mut previous) = (0u64, 0u32, 0i64);
    for &byte in bytes {
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            previous += value.cast_signed();
            ids.push(previous);
            value = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let ids = vec![1, 2, 130, 131, 1 << 40];
        assert_eq!(decode_ids(&encode_ids(&ids)), ids);
        assert!(decode_ids(&encode_ids(&[])).is_empty());
    }
}
