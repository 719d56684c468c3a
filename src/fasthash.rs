//! A fast hasher for the engine's in-memory maps and sets.
//!
//! Recording looks up tens of block versions, names and paths per test; with the standard
//! library's SipHash, hashing was a fifth of the engine's time in a baseline. The keys come from
//! the user's own project and database, not from an adversary, so SipHash's resistance to
//! chosen collisions buys nothing here. Each word is folded in with a rotate, an xor and a
//! multiplication by an odd constant (the scheme of Firefox's and rustc's "Fx" hash), which
//! mixes the low bits of small integers into the high bits the hash table probes with.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with `FastHasher`.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with `FastHasher`.
pub(crate) type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher {
    hash: u64,
}

/// An odd constant with well-spread bits (2^64 divided by the golden ratio, rounded to odd).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash_of(value: impl std::hash::Hash) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        assert_eq!(
            hash_of("src/pkg/a.py"),
            hash_of(String::from("src/pkg/a.py"))
        );
        assert_ne!(hash_of("src/pkg/a.py"), hash_of("src/pkg/b.py"));
        // A trailing part shorter than a word still counts, and so does its length.
        assert_ne!(hash_of("abcdefgh1"), hash_of("abcdefgh2"));
        assert_ne!(hash_of((1i64, 2u32, 3i64)), hash_of((1i64, 3u32, 2i64)));
    }

    #[test]
    fn small_integers_spread_over_the_high_bits() {
        // hashbrown picks a slot's control byte from the top 7 bits.
        let tops: FastSet<u64> = (0u32..1000).map(|n| hash_of(n) >> 57).collect();
        assert_eq!(tops.len(), 128);
    }

    #[test]
    fn maps_work_as_usual() {
        let mut map: FastMap<(i64, u32), i64> = FastMap::default();
        for n in 0..10_000 {
            map.insert((n, 7), n * 2);
        }
        assert_eq!(map.len(), 10_000);
        assert!((0..10_000).all(|n| map[&(n, 7)] == n * 2));
    }
}
