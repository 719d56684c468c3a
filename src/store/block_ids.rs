//! The ids of stored block versions, held in memory by a writer. The block table has no index
//! (see schema.sql), so a writer reads it whole once and afterwards only the rows added since.

use rusqlite::Connection;

use crate::block::Name;
use crate::fasthash::FastMap;

/// `(file id, block name, checksum)`: how a block version is found. The name is a number in
/// the table of names, not a string of its own: a baseline holds every stored version here.
pub type BlockKey = (i64, Name, i64);

/// What other connections did to the block table, as `BlockIds::refresh` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing: no other connection committed anything.
    Unchanged,
    /// They may have added rows, and deleted none.
    Added,
    /// They deleted rows: a baseline's settling dropped versions nobody uses, or a merge
    /// rewrote the tables, giving every file and block a new id.
    Deleted,
}

/// Every stored block version by key, as of the last `refresh`, plus those this writer added.
#[derive(Default)]
pub struct BlockIds {
    ids: FastMap<BlockKey, i64>,
    /// The highest id known: ids are never reused (AUTOINCREMENT), so the rows added by other
    /// writers since are exactly those above it.
    last: i64,
    /// Rows known. When the table holds fewer, some were deleted (a baseline dropped versions
    /// nobody uses, or the tables were rebuilt): an id known for them must not be used again.
    rows: i64,
    /// SQLite's `data_version` at the last refresh: it changes only when another connection
    /// commits, so while it stays the same the cache is exact and a refresh reads nothing
    /// (counting the rows walks the whole table, once per batch of tests).
    data_version: Option<i64>,
}

impl BlockIds {
    /// The id of a stored block version.
    #[must_use]
    pub fn get(&self, key: &BlockKey) -> Option<i64> {
        self.ids.get(key).copied()
    }

    /// Notes a stored row: one this writer added (once its transaction committed), or one
    /// read from the table.
    pub fn insert(&mut self, key: BlockKey, id: i64) {
        self.ids.insert(key, id);
        self.rows += 1;
        self.last = self.last.max(id);
    }

    /// Forgets everything (the tables were rebuilt).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Catches up with what other writers stored, inside a write transaction (which keeps them
    /// out until it ends, so that a version this writer then misses is truly not stored).
    /// What this writer's own connection stores or deletes other than through `insert` is not
    /// seen: `clear` after that. Says what other connections did since the last refresh.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn refresh(&mut self, conn: &Connection) -> rusqlite::Result<Refreshed> {
        let version: i64 = conn.pragma_query_value(None, "data_version", |row| row.get(0))?;
        if self.data_version == Some(version) {
            return Ok(Refreshed::Unchanged);
        }
        self.data_version = Some(version);
        self.read_after(conn)?;
        let stored: i64 = conn.query_row("SELECT count(*) FROM block", [], |row| row.get(0))?;
        if stored == self.rows {
            return Ok(Refreshed::Added);
        }
        self.clear();
        self.data_version = Some(version);
        self.read_after(conn)?;
        Ok(Refreshed::Deleted)
    }

    /// Reads the rows with an id above `last` (a range of the table's own key: no index needed).
    fn read_after(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut stmt =
            conn.prepare_cached("SELECT id, file_id, name, checksum FROM block WHERE id > ?1")?;
        let mut rows = stmt.query([self.last])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let name = Name::intern(row.get_ref(2)?.as_str()?);
            self.insert((row.get(1)?, name, row.get(3)?), id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, write};

    fn key(file_id: i64, name: &str) -> BlockKey {
        (file_id, Name::intern(name), 7)
    }

    #[test]
    fn refresh_sees_rows_other_writers_added_and_forgets_deleted_ones() {
        let dir = std::env::temp_dir().join(format!("difftest-ids-{}", std::process::id()));
        let path = dir.join("t.db");
        let store = Store::open(&path).unwrap();
        let other = Store::open(&path).unwrap();
        let add = |store: &Store, name: &str| {
            store
                .transaction(|conn| {
                    let file = write::file_id(conn, "a.py")?;
                    write::insert_block(conn, file, name, 7)
                })
                .unwrap()
        };
        let first = add(&other, "f");
        let mut ids = BlockIds::default();
        let refresh = |ids: &mut BlockIds| store.transaction(|conn| ids.refresh(conn)).unwrap();
        assert_eq!(
            refresh(&mut ids),
            Refreshed::Added,
            "the first refresh reads everything"
        );
        assert_eq!(ids.get(&key(1, "f")), Some(first));
        // Another writer adds a version: the next refresh reads it (and only rows above `last`).
        let second = add(&other, "g");
        assert_eq!(ids.get(&key(1, "g")), None);
        assert_eq!(
            refresh(&mut ids),
            Refreshed::Added,
            "another connection wrote"
        );
        assert_eq!(ids.get(&key(1, "g")), Some(second));
        // Another writer drops the newest version (a baseline's settling) and adds one: the
        // new row does not take the dropped id, and the cache forgets the dropped version.
        other
            .transaction(|conn| conn.execute("DELETE FROM block WHERE id = ?1", [second]))
            .unwrap();
        let third = add(&other, "h");
        assert!(third > second, "ids are never reused");
        assert_eq!(refresh(&mut ids), Refreshed::Deleted);
        assert_eq!(ids.get(&key(1, "f")), Some(first));
        assert_eq!(ids.get(&key(1, "g")), None);
        assert_eq!(ids.get(&key(1, "h")), Some(third));
        // Rows this connection wrote itself are not read back: its writer cached them already.
        let own = add(&store, "i");
        assert_eq!(
            refresh(&mut ids),
            Refreshed::Unchanged,
            "no other connection wrote"
        );
        assert_eq!(ids.get(&key(1, "i")), None);
        // After `clear`, everything is read again.
        ids.clear();
        assert_eq!(refresh(&mut ids), Refreshed::Added);
        assert_eq!(ids.get(&key(1, "i")), Some(own));
        drop((store, other));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
