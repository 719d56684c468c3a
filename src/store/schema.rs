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

use std::sync::OnceLock;

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use rusqlite::limits::Limit;

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

/// What SQLite may do on a connection to a database someone else may have written. The schema
/// check (`check`) refuses views and triggers before any query reads a table; switching them
/// off as well means a hole in that check still runs none of the file's code. Functions with
/// side effects may not appear in the schema (`trusted_schema`), `writable_schema` and the like
/// stay off (defensive), and no single value may exceed `MAX_VALUE` bytes: a value the file
/// claims to be larger is an error, not an allocation.
pub(crate) fn guard(conn: &Connection) -> rusqlite::Result<()> {
    /// Far above any value this version writes (the largest is a shared dependency set: a few
    /// bytes per block of an import closure).
    const MAX_VALUE: i32 = 64 << 20;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE)?;
    Ok(())
}

/// One entry of `sqlite_schema`: type, name, table, and its SQL in `canonical_sql` form.
type SchemaObject = (String, String, String, Option<String>);

/// Why the database's schema is not exactly what `create` makes, if it is not: the same tables
/// with the same columns and constraints, the same indexes, and nothing else (no view, trigger,
/// table or index of anyone else's). Comments and spacing inside the statements do not count,
/// so editing a comment in schema.sql does not make every existing database foreign.
pub(crate) fn check(conn: &Connection) -> rusqlite::Result<Result<(), String>> {
    let found = objects(conn)?;
    let expected = expected();
    for (kind, name, table, sql) in &found {
        match expected.iter().find(|object| object.1 == *name) {
            None => {
                return Ok(Err(format!(
                    "the schema holds {kind} {name:?}, which pytest-difftest does not create"
                )));
            }
            Some(ours) if (&ours.0, &ours.2, &ours.3) != (kind, table, sql) => {
                return Ok(Err(format!(
                    "the schema's {kind} {name:?} is not the {} pytest-difftest creates",
                    ours.0
                )));
            }
            Some(_) => {}
        }
    }
    if let Some((kind, name, ..)) = expected
        .iter()
        .find(|object| !found.iter().any(|other| other.1 == object.1))
    {
        return Ok(Err(format!("the schema lacks the {kind} {name:?}")));
    }
    Ok(Ok(()))
}

/// The schema objects `create` makes, read once from an in-memory database.
fn expected() -> &'static [SchemaObject] {
    static EXPECTED: OnceLock<Vec<SchemaObject>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let made = Connection::open_in_memory().and_then(|conn| {
            create(&conn)?;
            objects(&conn)
        });
        made.expect("the schema creates itself in memory")
    })
}

fn objects(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema")?
        .query_map([], |row| {
            let sql: Option<String> = row.get(3)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                sql.as_deref().map(canonical_sql),
            ))
        })?
        .collect()
}

/// `sql` without comments, with each run of white space outside quotes made one space.
fn canonical_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut space = false;
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                chars.by_ref().find(|&c| c == '\n');
                space = true;
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                chars.by_ref().find(|&c| {
                    let end = previous == '*' && c == '/';
                    previous = c;
                    end
                });
                space = true;
            }
            c if c.is_whitespace() => space = true,
            _ => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
                let close = match c {
                    '\'' | '"' | '`' => c,
                    '[' => ']',
                    _ => continue,
                };
                // Quoted text is kept as it is, up to its closing quote (a doubled quote
                // closes and reopens, which copies it the same).
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == close {
                        break;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_spacing_do_not_count() {
        assert_eq!(
            canonical_sql("CREATE TABLE t (\n    -- why\n    a  INTEGER, /* x */ b TEXT\n)"),
            "CREATE TABLE t ( a INTEGER, b TEXT )"
        );
        assert_eq!(
            canonical_sql("DEFAULT 'a  -- b' , \"c  /* d\" [e  f]"),
            "DEFAULT 'a  -- b' , \"c  /* d\" [e  f]"
        );
    }

    #[test]
    fn a_fresh_schema_passes_and_any_addition_or_change_does_not() {
        for (change, reason) in [
            ("", None),
            ("CREATE VIEW v AS SELECT 1", Some("view \"v\"")),
            (
                "CREATE TRIGGER t AFTER INSERT ON test BEGIN SELECT 1; END",
                Some("trigger \"t\""),
            ),
            ("CREATE INDEX i ON test (outcome)", Some("index \"i\"")),
            ("CREATE TABLE extra (x)", Some("table \"extra\"")),
            ("ALTER TABLE file ADD COLUMN note", Some("table \"file\"")),
            (
                "DROP INDEX depset_hash",
                Some("lacks the index \"depset_hash\""),
            ),
            (
                "DROP TABLE meta; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                Some("table \"meta\""),
            ),
        ] {
            let conn = Connection::open_in_memory().unwrap();
            create(&conn).unwrap();
            conn.execute_batch(change).unwrap();
            match (check(&conn).unwrap(), reason) {
                (Ok(()), None) => {}
                (Err(found), Some(reason)) => assert!(found.contains(reason), "{found}"),
                (result, _) => panic!("{change}: {result:?}"),
            }
        }
    }
}
