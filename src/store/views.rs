//! The reads behind `inspect`'s views: one test's dependencies, blocks by id, counts.

use std::collections::BTreeMap;

use super::{BlockRow, IdLimits, Store, decode_ids, outcome_name};
use crate::error::Result;

/// Counts over the whole database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub tests: i64,
    pub files: i64,
    pub blocks: i64,
    pub depsets: i64,
    /// Test outcome → how many tests last had it.
    pub outcomes: BTreeMap<String, i64>,
}

/// A test's own encoded id list, and its shared set's id and encoded list.
type EncodedDeps = (Vec<u8>, Option<(i64, Vec<u8>)>);

impl Store {
    /// A test's own block version ids and those of its shared set; `None` for an unknown test.
    ///
    /// # Errors
    /// Database errors.
    pub fn test_deps(&self, nodeid: &str) -> Result<Option<(Vec<i64>, Vec<i64>)>> {
        self.read(|conn| {
            use rusqlite::OptionalExtension;
            let found: Option<EncodedDeps> = conn
                .prepare_cached(
                    "SELECT test.deps, depset.id, depset.blocks FROM test \
                     LEFT JOIN depset ON depset.id = test.depset_id WHERE test.nodeid = ?1",
                )?
                .query_row([nodeid], |row| {
                    let shared: Option<i64> = row.get(1)?;
                    Ok((row.get(0)?, shared.zip(row.get(2)?)))
                })
                .optional()?;
            let Some((own, shared)) = found else {
                return Ok(None);
            };
            let limits = IdLimits::of_blocks(conn)?;
            let own = decode_ids(&own, limits).map_err(|bad| bad.in_test(nodeid))?;
            let shared = match shared {
                Some((id, blob)) => decode_ids(&blob, limits).map_err(|bad| bad.in_depset(id))?,
                None => Vec::new(),
            };
            Ok(Some((own, shared)))
        })
    }

    /// The id of the stored file `path`, if stored.
    ///
    /// # Errors
    /// Database errors.
    pub fn file_id(&self, path: &str) -> Result<Option<i64>> {
        self.read(|conn| {
            use rusqlite::OptionalExtension;
            conn.prepare_cached("SELECT id FROM file WHERE path = ?1")?
                .query_row([path], |row| row.get(0))
                .optional()
        })
    }

    /// `(file path, block)` of each of `ids` that exists, in the order of `ids`.
    ///
    /// # Errors
    /// Database errors.
    pub fn blocks_by_id(&self, ids: &[i64]) -> Result<Vec<(String, BlockRow)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT file.path, block.name, block.checksum FROM block \
                 JOIN file ON file.id = block.file_id WHERE block.id = ?1",
            )?;
            let mut found = Vec::with_capacity(ids.len());
            for &id in ids {
                let mut rows = stmt.query([id])?;
                if let Some(row) = rows.next()? {
                    found.push((
                        row.get(0)?,
                        BlockRow {
                            id,
                            name: row.get(1)?,
                            checksum: row.get(2)?,
                        },
                    ));
                }
            }
            Ok(found)
        })
    }

    /// See `Counts`.
    ///
    /// # Errors
    /// Database errors.
    pub fn counts(&self) -> Result<Counts> {
        self.read(|conn| {
            let count = |table: &str| -> rusqlite::Result<i64> {
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
            };
            let mut outcomes = BTreeMap::new();
            let mut stmt = conn.prepare("SELECT outcome, count(*) FROM test GROUP BY outcome")?;
            for row in stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))? {
                let (code, n): (i64, i64) = row?;
                *outcomes.entry(outcome_name(code).to_owned()).or_insert(0) += n;
            }
            Ok(Counts {
                tests: count("test")?,
                files: count("file")?,
                blocks: count("block")?,
                depsets: count("depset")?,
                outcomes,
            })
        })
    }
}
