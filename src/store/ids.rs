//! Lists of block ids as stored in `test.deps` and `depset.blocks`: encoded as runs of
//! consecutive ids, and decoded with every claim the bytes make checked, since a database may
//! be someone else's.

use rusqlite::Connection;

use super::Malformed;

/// Encodes ascending ids as runs of consecutive ids. A file's blocks get consecutive ids when
/// they are first stored, and a test that runs a module usually depends on many of them, so
/// runs are common: each run is one varint, `gap << 1 | more`, where `gap` is the distance from
/// the end of the previous run (from 0 for the first), followed, when `more` is set, by one
/// varint giving how many consecutive ids follow the first. An isolated id costs what a plain
/// delta would (one bit less room in its first byte); a run of up to 128 ids costs two bytes.
#[must_use]
pub fn encode_ids(ids: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() + 2);
    let mut previous = 0i64;
    let mut rest = ids;
    while let Some((&first, tail)) = rest.split_first() {
        let more = tail
            .iter()
            .zip(1..)
            .take_while(|&(&id, offset)| id == first + offset)
            .count();
        let gap = (first - previous).cast_unsigned();
        push_varint(&mut out, gap << 1 | u64::from(more > 0));
        if more > 0 {
            push_varint(&mut out, more as u64);
        }
        previous = first + more as i64;
        rest = &tail[more..];
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// What a list of block ids may hold: ids from 1 to `max_id`, the block table's largest, and at
/// most `count` of them, its rows (a list of unique ids cannot hold more).
#[derive(Clone, Copy, Debug)]
pub struct IdLimits {
    pub max_id: i64,
    pub count: u64,
}

impl IdLimits {
    /// Both limits, for lists that are decoded whole (counting walks the whole table).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn of_blocks(conn: &Connection) -> rusqlite::Result<Self> {
        conn.query_row(
            "SELECT coalesce(max(id), 0), count(*) FROM block",
            [],
            |row| {
                Ok(Self {
                    max_id: row.get(0)?,
                    count: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                })
            },
        )
    }

    /// The largest id alone (one step down the table's key), for lists matched as ranges, whose
    /// runs are never walked.
    pub(crate) fn of_ranges(conn: &Connection) -> rusqlite::Result<Self> {
        let max_id = conn.query_row("SELECT coalesce(max(id), 0) FROM block", [], |row| {
            row.get(0)
        })?;
        Ok(Self {
            max_id,
            count: u64::MAX,
        })
    }
}
/// Why an id list is not one `encode_ids` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadIds(&'static str);

impl BadIds {
    pub(crate) fn in_test(self, nodeid: &str) -> Malformed {
        Malformed(format!(
            "the dependency list of test {nodeid:?} is malformed: {}",
            self.0
        ))
    }

    pub(crate) fn in_depset(self, id: i64) -> Malformed {
        Malformed(format!(
            "the shared dependency set {id} is malformed: {}",
            self.0
        ))
    }
}

/// The ids in an `encode_ids` list that are in `wanted` (sorted). A run is matched as a range,
/// never walked, so the work is bounded by the list's bytes however long its runs claim to be.
pub(crate) fn matching_ids(
    bytes: &[u8],
    wanted: &[i64],
    limits: IdLimits,
) -> std::result::Result<Vec<i64>, BadIds> {
    let mut found = Vec::new();
    for run in Runs::new(bytes, limits) {
        let (first, last) = run?;
        let start = wanted.partition_point(|&id| id < first);
        found.extend(wanted[start..].iter().take_while(|&&id| id <= last));
    }
    Ok(found)
}

/// Decodes what `encode_ids` wrote, within `limits` (see `Runs`).
///
/// # Errors
/// A list `encode_ids` cannot have written, or one beyond `limits`.
pub fn decode_ids(bytes: &[u8], limits: IdLimits) -> std::result::Result<Vec<i64>, BadIds> {
    let mut ids = Vec::new();
    for run in Runs::new(bytes, limits) {
        let (first, last) = run?;
        ids.extend(first..=last);
    }
    Ok(ids)
}

/// The runs `(first id, last id)` of an `encode_ids` list, checked as they are read: every
/// number fits in 64 bits, the list does not stop inside a run, its ids ascend from 1 and stay
/// within `limits`. Ten bytes claiming a run of 2^62 ids are then an error, not an endless loop
/// or a 4 GiB allocation.
struct Runs<'a> {
    bytes: std::slice::Iter<'a, u8>,
    /// The last id of the previous run.
    previous: i64,
    max_id: i64,
    /// How many more ids the list may hold.
    left: u64,
}

impl<'a> Runs<'a> {
    fn new(bytes: &'a [u8], limits: IdLimits) -> Self {
        Self {
            bytes: bytes.iter(),
            previous: 0,
            max_id: limits.max_id,
            left: limits.count,
        }
    }

    /// The next varint; `None` where the bytes end before one starts.
    fn varint(&mut self) -> std::result::Result<Option<u64>, BadIds> {
        let (mut value, mut shift) = (0u64, 0u32);
        for &byte in self.bytes.by_ref() {
            let bits = u64::from(byte & 0x7f);
            if shift >= u64::BITS || (bits << shift) >> shift != bits {
                return Err(BadIds("a number in it does not fit in 64 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(Some(value));
            }
            shift += 7;
        }
        if shift == 0 {
            Ok(None)
        } else {
            Err(BadIds("it ends inside a number"))
        }
    }

    fn run(&mut self, head: u64) -> std::result::Result<(i64, i64), BadIds> {
        const TOO_HIGH: BadIds = BadIds("its ids exceed 2^63");
        let more = if head & 1 == 1 {
            self.varint()?.ok_or(BadIds("it ends inside a run"))?
        } else {
            0
        };
        let gap = head >> 1;
        if gap == 0 {
            return Err(BadIds("its ids do not ascend"));
        }
        let first = i64::try_from(gap)
            .ok()
            .and_then(|gap| self.previous.checked_add(gap))
            .ok_or(TOO_HIGH)?;
        let last = i64::try_from(more)
            .ok()
            .and_then(|more| first.checked_add(more))
            .ok_or(TOO_HIGH)?;
        if last > self.max_id {
            return Err(BadIds("it names ids the block table does not have"));
        }
        // `more` is below 2^63 here, so this does not overflow.
        self.left = self
            .left
            .checked_sub(more + 1)
            .ok_or(BadIds("it holds more ids than the block table has rows"))?;
        self.previous = last;
        Ok((first, last))
    }
}

impl Iterator for Runs<'_> {
    type Item = std::result::Result<(i64, i64), BadIds>;

    fn next(&mut self) -> Option<Self::Item> {
        let run = match self.varint() {
            Ok(None) => return None,
            Ok(Some(head)) => self.run(head),
            Err(bad) => Err(bad),
        };
        if run.is_err() {
            // Nothing after a malformed run means anything.
            self.bytes = [].iter();
        }
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_id: i64, count: u64) -> IdLimits {
        IdLimits { max_id, count }
    }

    #[test]
    fn ids_round_trip() {
        let run: Vec<i64> = (500..700).collect();
        let any = limits(i64::MAX, 1_000);
        for ids in [
            vec![1, 2, 130, 131, 1 << 40],
            vec![1],
            vec![5, 7, 9],
            [vec![3], run.clone(), vec![701, 702, 1 << 40, (1 << 40) + 1]].concat(),
            vec![i64::MAX - 1, i64::MAX],
        ] {
            assert_eq!(decode_ids(&encode_ids(&ids), any), Ok(ids.clone()));
            let wanted = [2, 3, 131, 600, 702, i64::MAX];
            let expected: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| wanted.contains(id))
                .collect();
            assert_eq!(matching_ids(&encode_ids(&ids), &wanted, any), Ok(expected));
        }
        assert_eq!(decode_ids(&encode_ids(&[]), limits(0, 0)), Ok(vec![]));
    }

    #[test]
    fn decoding_is_bounded_by_the_block_table() {
        // One run of 2^62 ids in ten bytes.
        let endless = [0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f];
        let refused = decode_ids(&endless, limits(i64::MAX, 65_000)).unwrap_err();
        assert!(refused.0.contains("more ids than the block table has rows"));
        let refused = matching_ids(&endless, &[7], limits(65_000, u64::MAX)).unwrap_err();
        assert!(refused.0.contains("ids the block table does not have"));
        // A run is matched as a range, not walked.
        let found = matching_ids(&endless, &[7, 1 << 61], limits(i64::MAX, u64::MAX));
        assert_eq!(found, Ok(vec![7, 1 << 61]));
        let run_of = |n: i64| encode_ids(&(1..=n).collect::<Vec<_>>());
        assert_eq!(
            decode_ids(&run_of(100), limits(100, 100)).map(|ids| ids.len()),
            Ok(100)
        );
        assert!(decode_ids(&run_of(101), limits(200, 100)).is_err());
        assert!(decode_ids(&run_of(101), limits(100, 200)).is_err());
        // The count is of every run of the list.
        assert!(decode_ids(&encode_ids(&[1, 3, 5]), limits(5, 2)).is_err());
    }

    #[test]
    fn malformed_lists_are_refused() {
        let any = limits(i64::MAX, u64::MAX);
        for (bytes, why) in [
            (&[0x80, 0x80][..], "ends inside a number"),
            (&[0x03][..], "ends inside a run"),
            (&[0x00][..], "do not ascend"),
            (&[0x02, 0x00][..], "do not ascend"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..],
                "64 bits",
            ),
            (&[0xff; 11][..], "64 bits"),
            // The id 2^63 - 1, then one more.
            (
                &[
                    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02,
                ][..],
                "exceed",
            ),
            // A run from 1 of 2^63 - 1 more ids, and one of 2^63 more.
            (
                &[0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..],
                "exceed",
            ),
            (
                &[
                    0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
                ][..],
                "exceed",
            ),
        ] {
            let refused = decode_ids(bytes, any).unwrap_err();
            assert!(refused.0.contains(why), "{bytes:?}: {refused:?}");
            assert_eq!(matching_ids(bytes, &[1], any), Err(refused));
        }
    }

    #[test]
    fn consecutive_ids_are_stored_as_one_run() {
        let run: Vec<i64> = (40..67).collect();
        assert_eq!(encode_ids(&run), [40 << 1 | 1, 26]);
        assert_eq!(encode_ids(&(1..=200).collect::<Vec<_>>()).len(), 3);
        // An isolated id costs what a plain delta would.
        assert_eq!(encode_ids(&[10, 30, 50]), [20, 40, 40]);
    }
}
