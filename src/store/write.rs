//! Writes used inside `Store::transaction`.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};

/// The id of the file row for `path`, created if needed.
pub fn file_id(conn: &Connection, path: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT OR IGNORE INTO file (path) VALUES (?1)")?
        .execute([path])?;
    conn.prepare_cached("SELECT id FROM file WHERE path = ?1")?
        .query_row([path], |row| row.get(0))
}

/// Adds a block version and returns its id. The caller knows it is not stored yet (see
/// `BlockIds`): nothing in the table stops a duplicate.
pub fn insert_block(
    conn: &Connection,
    file_id: i64,
    name: &str,
    checksum: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO block (file_id, name, checksum) VALUES (?1, ?2, ?3)")?
        .execute(params![file_id, name, checksum])?;
    Ok(conn.last_insert_rowid())
}

/// Replaces a test's record and dependencies. `deps` must be sorted and free of duplicates;
/// `recorded` is when the record was made (unix seconds).
#[allow(clippy::too_many_arguments)] // one named column each
pub fn test(
    conn: &Connection,
    nodeid: &str,
    file: &str,
    outcome: &str,
    duration_ms: i64,
    recorded: Option<i64>,
    deps: &[i64],
    depset_id: Option<i64>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO test (nodeid, file, outcome, duration_ms, recorded, deps, depset_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (nodeid) DO UPDATE SET file = excluded.file, \
         outcome = excluded.outcome, duration_ms = excluded.duration_ms, \
         recorded = excluded.recorded, deps = excluded.deps, \
         depset_id = excluded.depset_id",
    )?
    .execute(params![
        nodeid,
        super::stored_file(nodeid, file),
        super::outcome_code(outcome),
        duration_ms,
        recorded,
        super::encode_ids(deps),
        depset_id
    ])?;
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
    Ok(conn.last_insert_rowid())
}

/// Drops the shared sets no test uses any more.
pub fn drop_unused_depsets(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM depset WHERE id NOT IN \
         (SELECT depset_id FROM test WHERE depset_id IS NOT NULL)",
    )?
    .execute([])?;
    Ok(())
}

/// Every block version some test depends on, directly or through its shared set.
pub fn used_blocks(conn: &Connection) -> rusqlite::Result<HashSet<i64>> {
    let limits = super::IdLimits::of_blocks(conn)?;
    let mut used = HashSet::new();
    let mut stmt = conn.prepare_cached("SELECT nodeid, deps FROM test")?;
    let mut tests = stmt.query([])?;
    while let Some(row) = tests.next()? {
        let nodeid = row.get_ref(0)?.as_str()?;
        let ids = super::decode_ids(row.get_ref(1)?.as_blob()?, limits)
            .map_err(|bad| bad.in_test(nodeid))?;
        used.extend(ids);
    }
    let mut stmt = conn.prepare_cached("SELECT id, blocks FROM depset")?;
    let mut sets = stmt.query([])?;
    while let Some(row) = sets.next()? {
        let id: i64 = row.get(0)?;
        let ids = super::decode_ids(row.get_ref(1)?.as_blob()?, limits)
            .map_err(|bad| bad.in_depset(id))?;
        used.extend(ids);
    }
    Ok(used)
}

/// Records a collected test that has not run yet, unless the test is already known.
pub fn pending(conn: &Connection, nodeid: &str, file: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO test (nodeid, file, outcome) VALUES (?1, ?2, ?3)")?
        .execute(params![
            nodeid,
            super::stored_file(nodeid, file),
            super::outcome_code("pending")
        ])?;
    Ok(())
}

/// Forgets a test.
pub fn remove_test(conn: &Connection, nodeid: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM test WHERE nodeid = ?1")?
        .execute([nodeid])?;
    Ok(())
}

/// A file whose stored state `settle_files` brings up to date.
pub struct SettledFile<'a> {
    pub file_id: i64,
    /// `(mtime, size, content hash)` now; `None` when the file (or fact) is gone.
    pub current: Option<(i64, i64, i64)>,
    /// Whether the block version `(name, checksum)` is the file's current one.
    pub is_current: &'a dyn Fn(&str, i64) -> bool,
}

/// After a baseline: stores each file's current fingerprint, marks it clean when no test
/// depends on an outdated block, and drops block versions nobody depends on. One scan of
/// the block table serves every file, holding no names: this runs when the session's
/// memory peaks.
pub fn settle_files(
    conn: &Connection,
    files: &[SettledFile<'_>],
    used: &HashSet<i64>,
) -> rusqlite::Result<()> {
    let index: HashMap<i64, usize> = files
        .iter()
        .enumerate()
        .map(|(at, file)| (file.file_id, at))
        .collect();
    let mut remaining = vec![0usize; files.len()];
    let mut owed = vec![false; files.len()];
    let mut unused = Vec::new();
    {
        let mut stmt = conn.prepare_cached("SELECT id, file_id, name, checksum FROM block")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let Some(&at) = index.get(&row.get::<_, i64>(1)?) else {
                continue;
            };
            let id: i64 = row.get(0)?;
            if !used.contains(&id) {
                unused.push(id);
                continue;
            }
            remaining[at] += 1;
            let file = &files[at];
            let name = row.get_ref(2)?.as_str()?;
            if file.current.is_none() || !(file.is_current)(name, row.get(3)?) {
                owed[at] = true;
            }
        }
    }
    let mut delete = conn.prepare_cached("DELETE FROM block WHERE id = ?1")?;
    for id in unused {
        delete.execute([id])?;
    }
    for (at, file) in files.iter().enumerate() {
        match file.current {
            None if remaining[at] == 0 => {
                conn.prepare_cached("DELETE FROM file WHERE id = ?1")?
                    .execute([file.file_id])?;
            }
            None => {
                conn.prepare_cached("UPDATE file SET clean_hash = NULL WHERE id = ?1")?
                    .execute([file.file_id])?;
            }
            Some((mtime, size, hash)) => {
                conn.prepare_cached(
                    "UPDATE file SET mtime_ns = ?2, size = ?3, content_hash = ?4, \
                     clean_hash = ?5 WHERE id = ?1",
                )?
                .execute(params![
                    file.file_id,
                    super::trusted_mtime(mtime),
                    size,
                    hash,
                    if owed[at] { None } else { Some(hash) }
                ])?;
            }
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
