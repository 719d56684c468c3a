//! A database's contents in terms that do not depend on row ids: files by path, tests with the
//! block versions `(file, block name, checksum)` they depend on. Merging reads and writes these,
//! so it stays correct whatever the tables look like inside.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use super::{IdLimits, Malformed, SCHEMA_VERSION, Store, decode_ids, file_rows, schema, write};
use crate::error::{Error, Result};
use crate::stored_paths::StoredPaths;

/// `(file, block name, checksum)`: one version of a block.
pub type BlockVersion = (String, String, i64);

/// A stored file and what is known of its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortableFile {
    pub path: String,
    /// Stat fingerprint and content hash: facts about one machine's copy of the file.
    pub mtime_ns: Option<i64>,
    pub size: Option<i64>,
    pub content_hash: Option<i64>,
    /// The content hash at which every stored block of the file is current (see schema.sql).
    pub clean_hash: Option<i64>,
}

/// A stored test and everything it depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct PortableTest {
    pub nodeid: String,
    pub file: String,
    pub outcome: String,
    /// Milliseconds, as stored.
    pub duration_ms: i64,
    /// When the record was made (whole unix seconds); `None` for a test that has not run.
    pub recorded: Option<i64>,
    /// The block versions the test alone depends on, sorted.
    pub own: Vec<BlockVersion>,
    /// Those it shares with tests with the same import closure, sorted; `None` if it has not run.
    pub shared: Option<Vec<BlockVersion>>,
}

/// A whole database.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Portable {
    /// Sorted by path.
    pub files: Vec<PortableFile>,
    /// Sorted by node id.
    pub tests: Vec<PortableTest>,
    /// Sorted by key.
    pub meta: Vec<(String, String)>,
}

impl Store {
    /// Opens someone else's database to read it (a merge input): never creates or changes it.
    ///
    /// # Errors
    /// `Error::Input` when the file is not a pytest-difftest database of this schema version
    /// or its schema holds anything this version does not create, `Error::Io` when it does not
    /// exist.
    pub fn open_input(path: &Path) -> Result<Self> {
        let refuse = |reason: String| Error::Input {
            path: path.to_owned(),
            reason,
        };
        if !path.is_file() {
            return Err(Error::Io {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| refuse(format!("not a pytest-difftest database ({e})")))?;
        let not_ours = |e: rusqlite::Error| refuse(format!("not a pytest-difftest database ({e})"));
        // A writer may be in the middle of a commit (a live baseline in rollback-journal mode).
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(not_ours)?;
        schema::guard(&conn).map_err(not_ours)?;
        let found = schema::version(&conn).map_err(not_ours)?;
        if found == 0 {
            return Err(refuse("not a pytest-difftest database".to_owned()));
        }
        if found != SCHEMA_VERSION {
            return Err(refuse(format!(
                "written with schema version {found}, this version of pytest-difftest reads \
                 version {SCHEMA_VERSION}: merge only databases written by the same version"
            )));
        }
        schema::check(&conn).map_err(not_ours)?.map_err(refuse)?;
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// Everything stored, by path and name rather than by row id, read in one transaction (a
    /// consistent state, even while a baseline writes to it). Every stored path must pass
    /// `paths`.
    ///
    /// # Errors
    /// `Error::Input` when the contents are not what this version writes.
    pub fn portable(&self, paths: &StoredPaths) -> Result<Portable> {
        self.in_read_transaction(|conn| read_portable(conn, paths))
            .map_err(|error| Error::Input {
                path: self.path.clone(),
                reason: match error {
                    ReadError::Malformed(what) => what,
                    other => format!("not a pytest-difftest database ({other})"),
                },
            })
    }

    /// Replaces the whole contents with `data`, in one transaction.
    ///
    /// # Errors
    /// SQLite errors, after rolling back.
    pub fn replace_with(&self, data: &Portable) -> Result<()> {
        self.transaction(|conn| write_portable(conn, data))
    }

    /// Closes a database written from scratch, leaving one self-contained file (no `-wal`).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn into_single_file(self) -> Result<()> {
        self.conn
            .pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| self.err(e))?;
        let path = self.path;
        self.conn
            .close()
            .map_err(|(_, source)| Error::Db { path, source })
    }

    /// Writes a consistent single-file copy to `dest` (which must not exist), in rollback-journal
    /// mode so that it needs no `-wal` file next to it.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn snapshot(&self, dest: &Path) -> Result<()> {
        let target = dest.to_string_lossy();
        self.conn
            .execute("VACUUM INTO ?1", [target.as_ref()])
            .map_err(|e| self.err(e))?;
        let db = |source| Error::Db {
            path: dest.to_owned(),
            source,
        };
        let copy = Connection::open(dest).map_err(db)?;
        copy.pragma_update(None, "journal_mode", "DELETE")
            .map_err(db)?;
        Ok(())
    }
}

fn read_portable(
    conn: &Connection,
    paths: &StoredPaths,
) -> std::result::Result<Portable, ReadError> {
    let mut files: Vec<(i64, PortableFile)> = Vec::new();
    for row in file_rows(conn)? {
        paths.check(&row.path).map_err(ReadError::Malformed)?;
        let file = PortableFile {
            path: row.path,
            mtime_ns: row.mtime_ns,
            size: row.size,
            content_hash: row.content_hash,
            clean_hash: row.clean_hash,
        };
        files.push((row.id, file));
    }
    files.sort_by(|(_, a), (_, b)| a.path.cmp(&b.path));
    let paths: HashMap<i64, &str> = files.iter().map(|(id, f)| (*id, f.path.as_str())).collect();
    let mut blocks: HashMap<i64, BlockVersion> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, file_id, name, checksum FROM block")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (id, file_id, name, checksum) = row?;
            let path = paths
                .get(&file_id)
                .ok_or_else(|| inconsistent(format!("block {id} has no file")))?;
            blocks.insert(id, ((*path).to_owned(), name, checksum));
        }
    }
    let limits = IdLimits {
        max_id: blocks.keys().copied().max().unwrap_or(0),
        count: blocks.len() as u64,
    };
    let versions = |ids: Vec<i64>| -> std::result::Result<Vec<BlockVersion>, ReadError> {
        let mut found = ids
            .into_iter()
            .map(|id| {
                blocks
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| inconsistent(format!("missing block {id}")))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        found.sort();
        found.dedup();
        Ok(found)
    };
    let mut depsets: HashMap<i64, Vec<BlockVersion>> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, blocks FROM depset")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (id, encoded) = row?;
            let ids = decode_ids(&encoded, limits).map_err(|bad| bad.in_depset(id))?;
            depsets.insert(id, versions(ids)?);
        }
    }
    let mut tests = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT nodeid, file, outcome, duration_ms, recorded, deps, depset_id FROM test \
             ORDER BY nodeid",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, Vec<u8>>(5)?,
                row.get::<_, Option<i64>>(6)?,
            ))
        })?;
        for row in rows {
            let (nodeid, file, outcome, duration_ms, recorded, deps, depset_id) = row?;
            let own = decode_ids(&deps, limits).map_err(|bad| bad.in_test(&nodeid))?;
            let file = file.unwrap_or_else(|| super::file_of_nodeid(&nodeid).to_owned());
            let shared = match depset_id {
                None => None,
                Some(id) => Some(
                    depsets
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| inconsistent(format!("missing depset {id}")))?,
                ),
            };
            tests.push(PortableTest {
                nodeid,
                file,
                outcome: super::outcome_name(outcome).to_owned(),
                duration_ms,
                recorded,
                own: versions(own)?,
                shared,
            });
        }
    }
    let meta = conn
        .prepare("SELECT key, value FROM meta ORDER BY key")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Portable {
        files: files.into_iter().map(|(_, file)| file).collect(),
        tests,
        meta,
    })
}

/// Why a database could not be read as a whole.
#[derive(Debug)]
enum ReadError {
    Sql(rusqlite::Error),
    /// A row refers to another that does not exist.
    Inconsistent(String),
    /// Something this version never writes: a path outside the project, a malformed id list.
    Malformed(String),
}

impl From<rusqlite::Error> for ReadError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sql(error)
    }
}

impl From<Malformed> for ReadError {
    fn from(malformed: Malformed) -> Self {
        Self::Malformed(malformed.0)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sql(error) => write!(f, "{error}"),
            Self::Inconsistent(what) => write!(f, "inconsistent contents: {what}"),
            Self::Malformed(what) => write!(f, "{what}"),
        }
    }
}

fn inconsistent(what: String) -> ReadError {
    ReadError::Inconsistent(what)
}

fn write_portable(conn: &Connection, data: &Portable) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM test; DELETE FROM depset; DELETE FROM block; DELETE FROM file; \
         DELETE FROM meta;",
    )?;
    let mut insert_file = conn.prepare(
        "INSERT INTO file (path, mtime_ns, size, content_hash, clean_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut file_ids: HashMap<&str, i64> = HashMap::new();
    for file in &data.files {
        insert_file.execute(params![
            file.path,
            file.mtime_ns,
            file.size,
            file.content_hash,
            file.clean_hash
        ])?;
        file_ids.insert(&file.path, conn.last_insert_rowid());
    }
    let mut block_ids: HashMap<BlockVersion, i64> = HashMap::new();
    let mut resolve = |versions: &[BlockVersion]| -> rusqlite::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(versions.len());
        for version in versions {
            let id = match block_ids.get(version) {
                Some(id) => *id,
                None => {
                    let (path, name, checksum) = version;
                    let file_id = match file_ids.get(path.as_str()) {
                        Some(id) => *id,
                        None => write::file_id(conn, path)?,
                    };
                    // New: `block_ids` holds every version inserted so far.
                    let id = write::insert_block(conn, file_id, name, *checksum)?;
                    block_ids.insert(version.clone(), id);
                    id
                }
            };
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    };
    for test in &data.tests {
        let own = resolve(&test.own)?;
        let depset = match &test.shared {
            Some(shared) => {
                let ids = resolve(shared)?;
                Some(write::depset_id(conn, &ids)?)
            }
            None => None,
        };
        write::test(
            conn,
            &test.nodeid,
            &test.file,
            &test.outcome,
            test.duration_ms,
            test.recorded,
            &own,
            depset,
        )?;
    }
    for (key, value) in &data.meta {
        write::meta(conn, key, value)?;
    }
    Ok(())
}

/// Where a merge writes before moving the result into place.
pub(crate) fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "merged.db".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.merging-{}", std::process::id()))
}

/// Removes what killed merges into `database` left behind: `.NAME.merging-PID` files (see
/// `temporary_sibling`) and their journals, whose process is gone. Best effort.
pub(crate) fn remove_stale_temporaries(database: &Path) {
    let (Some(dir), Some(name)) = (database.parent(), database.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.merging-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|file| file.strip_prefix(&prefix)) else {
            continue;
        };
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (pid, suffix) = rest.split_at(digits);
        if !["", "-wal", "-shm", "-journal"].contains(&suffix) {
            continue;
        }
        if pid.parse().is_ok_and(|pid| !process_exists(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process `pid` runs on this machine; when that cannot be told, it is assumed to.
#[cfg(unix)]
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // Signal 0 asks whether the process exists without signalling it. SAFETY: `kill` reads
    // nothing of ours; an error only sets errno.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_exists(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_read_as_one_state_while_a_writer_commits() {
        let dir = std::env::temp_dir().join(format!("difftest-portable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("live.db");
        // A new file, a block in it and a test depending on it, in one transaction.
        let add = |store: &Store, name: &str| {
            store
                .transaction(|conn| {
                    let file = write::file_id(conn, &format!("{name}.py"))?;
                    let block = write::insert_block(conn, file, "f", 1)?;
                    write::test(conn, name, name, "passed", 1, Some(1), &[block], None)
                })
                .unwrap();
        };
        add(&Store::open(&path).unwrap(), "first");
        // Another connection commits at each point of the read in turn (every SQLite
        // instruction): the read sees all of that commit or none of it.
        for at in 1..300 {
            let mut input = Store::open_input(&path).unwrap();
            let writer = Store::open(&path).unwrap();
            let name = format!("t{at}");
            let mut steps = 0;
            let mut pending = Some((writer, name.clone()));
            let handler = move || {
                steps += 1;
                if steps == at
                    && let Some((writer, name)) = pending.take()
                {
                    add(&writer, &name);
                }
                false
            };
            input
                .connection_mut()
                .progress_handler(1, Some(handler))
                .unwrap();
            let data = input.portable(&StoredPaths::of_any_project()).unwrap();
            for test in &data.tests {
                for (file, _, _) in &test.own {
                    assert!(data.files.iter().any(|known| known.path == *file), "{file}");
                }
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
