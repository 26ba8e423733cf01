//! A filter of the keys this backend has written to RocksDB, so that looking
//! up a key it never wrote costs one probe in memory instead of a RocksDB
//! read (which checks the Bloom filter of every level-0 file and of each
//! level).
//!
//! It only answers when it knows every key in the database: it starts
//! complete for a new, empty database, and is turned off for good when the
//! database received keys some other way (a restore) or when it would grow
//! past its memory limit. Removed keys stay in it (a Bloom filter cannot
//! forget), so a key that was written and removed is looked up in RocksDB,
//! until the backend builds the filter again from the keys RocksDB holds
//! ([`KeyFilter::wants_rebuild`]): a job whose keys come and go (windows)
//! would otherwise grow the chain by every key it ever wrote.
//!
//! The filter is a chain of blocked Bloom filters (every key's bits in one
//! 64-byte cache line, about 1 % false positives at 10 bits per key), each
//! twice the capacity of the one before.

use rocksdb::ReadOptions;

use super::keys::cache_key_of_stored;
use super::{cf_of, db_err, RocksDbBackend};
use crate::{Key, StateError};

/// Bits per key.
const BITS_PER_KEY: usize = 10;

/// Bits set per key, all in one 512-bit block.
const PROBES: u32 = 6;

/// Keys of the first filter of the chain.
const FIRST_CAPACITY: usize = 1 << 16;

/// One blocked Bloom filter.
struct Block {
    lines: Vec<[u64; 8]>,
    capacity: usize,
    len: usize,
}

impl Block {
    fn new(capacity: usize) -> Self {
        let lines = (capacity * BITS_PER_KEY).div_ceil(512).max(1);
        Block { lines: vec![[0u64; 8]; lines], capacity, len: 0 }
    }

    /// The line and the bits of a key's hash.
    #[inline]
    fn probe(&self, hash: u64) -> (usize, impl Iterator<Item = u32>) {
        let line = ((u128::from(hash) * self.lines.len() as u128) >> 64) as usize;
        let mut h = (hash >> 32) as u32 | 1;
        let bits = (0..PROBES).map(move |_| {
            h = h.wrapping_mul(0x9E37_79B9);
            h >> 23 // 9 bits: 0..512
        });
        (line, bits)
    }

    fn insert(&mut self, hash: u64) {
        let (line, bits) = self.probe(hash);
        let words = &mut self.lines[line];
        for bit in bits {
            words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (line, mut bits) = self.probe(hash);
        let words = &self.lines[line];
        bits.all(|bit| words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    fn bytes(&self) -> usize {
        self.lines.len() * 64
    }
}

/// The keys written to RocksDB, while it knows all of them.
pub(crate) struct KeyFilter {
    blocks: Vec<Block>,
    complete: bool,
    /// Keys added since the filter was made.
    inserted: usize,
    /// Keys removed from RocksDB (tombstones written) since the filter was made.
    removed: usize,
}

impl KeyFilter {
    /// A filter for an empty database.
    pub(crate) fn for_empty_database() -> Self {
        KeyFilter { blocks: Vec::new(), complete: true, inserted: 0, removed: 0 }
    }

    /// A filter of exactly the keys whose [`hash`]es are given (all the
    /// database holds), with room for as many again; `None` past `limit` bytes.
    pub(crate) fn from_hashes(hashes: &[u64], limit: usize) -> Option<Self> {
        let capacity = (hashes.len() * 2).max(FIRST_CAPACITY).next_power_of_two();
        let mut block = Block::new(capacity);
        if block.bytes() > limit {
            return None;
        }
        for h in hashes {
            block.insert(*h);
        }
        Some(KeyFilter { blocks: vec![block], complete: true, inserted: hashes.len(), removed: 0 })
    }

    /// A filter that does not know the database's keys: it never answers.
    pub(crate) fn unknown() -> Self {
        KeyFilter { blocks: Vec::new(), complete: false, inserted: 0, removed: 0 }
    }

    /// The database received keys that did not go through [`KeyFilter::insert`].
    pub(crate) fn forget_all(&mut self) {
        self.blocks = Vec::new();
        self.complete = false;
    }

    /// Records that `key` was written; gives up past `limit` bytes.
    ///
    /// Every call counts towards the filter's capacity, also for a key it
    /// already holds (checking first would cost a probe of every block per
    /// new key): callers add a key once, which the write cache tracks per
    /// entry ([`super::cache::Entry::in_filter`]).
    pub(crate) fn insert(&mut self, key: &[u8], limit: usize) {
        if !self.complete {
            return;
        }
        let full = self.blocks.last().is_none_or(|b| b.len >= b.capacity);
        if full {
            let capacity = self.blocks.last().map_or(FIRST_CAPACITY, |b| b.capacity * 2);
            let block = Block::new(capacity);
            if self.bytes() + block.bytes() > limit {
                self.forget_all();
                return;
            }
            self.blocks.push(block);
        }
        if let Some(block) = self.blocks.last_mut() {
            block.insert(hash(key));
            self.inserted += 1;
        }
    }

    /// Records that `n` keys were removed from the database.
    pub(crate) fn note_removed(&mut self, n: usize) {
        self.removed += n;
    }

    /// Whether building the filter again from the database's keys would
    /// shrink it: it has grown past its first block, and at least half of
    /// the keys it holds were removed since.
    pub(crate) fn wants_rebuild(&self) -> bool {
        self.complete && self.blocks.len() >= 2 && self.removed * 2 >= self.inserted
    }

    /// False only when `key` was certainly never written; true when it may
    /// have been, or when the filter does not know.
    #[inline]
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        if !self.complete {
            return true;
        }
        let h = hash(key);
        self.blocks.iter().any(|b| b.may_contain(h))
    }

    /// Memory the filter holds.
    pub(crate) fn bytes(&self) -> usize {
        self.blocks.iter().map(Block::bytes).sum()
    }
}

/// A 64-bit hash of `key` with well-mixed bits (FxHash, then a finaliser).
#[inline]
pub(crate) fn hash(key: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(key);
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl<K: Key> RocksDbBackend<K> {
    /// Builds the key filter again from the keys of every state in RocksDB,
    /// once most of the keys it holds were removed. Only with every change
    /// written ([`RocksDbBackend::settle`] first) and the cache emptied: a
    /// cached entry's [`super::cache::Entry::in_filter`] may name a key the
    /// new filter no longer holds.
    pub(super) fn rebuild_filter(&mut self) -> Result<(), StateError> {
        self.settle()?;
        let started = std::time::Instant::now();
        let mut hashes = Vec::new();
        let mut key = Vec::new();
        // Lists bypass the cache: their keys need no filter.
        for (i, (name, _)) in self.states.iter().enumerate().filter(|(_, s)| s.1.kind != crate::StateKind::List) {
            let mut read = ReadOptions::default();
            read.fill_cache(false);
            let mut it = self.db.raw_iterator_cf_opt(cf_of(&self.db, name)?, read);
            it.seek_to_first();
            while let Some(k) = it.key() {
                cache_key_of_stored(&mut key, i, k);
                hashes.push(hash(&key));
                it.next();
            }
            it.status().map_err(|e| db_err("reading keys for the key filter", e))?;
        }
        let before = self.filter.bytes();
        self.filter = KeyFilter::from_hashes(&hashes, self.cache.share() / 2).unwrap_or_else(KeyFilter::unknown);
        self.cache.reserve(self.filter.bytes());
        tracing::debug!(
            keys = hashes.len(),
            before,
            after = self.filter.bytes(),
            ms = started.elapsed().as_millis() as u64,
            "key filter rebuilt"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(i: u64) -> Vec<u8> {
        [&[0u8, 0, 1, 7][..], &i.to_le_bytes()].concat()
    }

    #[test]
    fn knows_every_written_key_and_few_others() {
        let mut f = KeyFilter::for_empty_database();
        assert!(!f.may_contain(&key(1)), "an empty database holds nothing");
        let n = 300_000;
        for i in 0..n {
            f.insert(&key(i), 64 << 20);
        }
        assert!((0..n).all(|i| f.may_contain(&key(i))), "no false negatives");
        let false_positives = (n..2 * n).filter(|i| f.may_contain(&key(*i))).count();
        assert!(false_positives < (n as usize) / 25, "{false_positives} of {n} absent keys pass");
        assert!(f.blocks.len() > 1, "the chain grew");
    }

    #[test]
    fn a_filter_built_from_the_keys_left_forgets_the_removed_ones() {
        let mut f = KeyFilter::for_empty_database();
        let n = 8 * FIRST_CAPACITY as u64;
        for i in 0..n {
            f.insert(&key(i), 64 << 20);
        }
        assert!(!f.wants_rebuild(), "nothing was removed");
        f.note_removed(n as usize / 2 - 1);
        assert!(!f.wants_rebuild(), "more than half of the keys are still there");
        f.note_removed(1);
        assert!(f.wants_rebuild());
        let left: Vec<u64> = (0..1000).map(|i| hash(&key(i))).collect();
        let rebuilt = KeyFilter::from_hashes(&left, 64 << 20).unwrap();
        assert!((0..1000).all(|i| rebuilt.may_contain(&key(i))), "no false negatives");
        let passed = (1000..n).filter(|i| rebuilt.may_contain(&key(*i))).count();
        assert!(passed < (n as usize) / 50, "{passed} removed keys still pass");
        assert!(rebuilt.bytes() * 8 < f.bytes(), "{} bytes against {}", rebuilt.bytes(), f.bytes());
        assert!(KeyFilter::from_hashes(&left, 1024).is_none(), "over its limit it is not made");
    }

    #[test]
    fn past_its_limit_or_after_foreign_writes_it_always_says_maybe() {
        let mut f = KeyFilter::for_empty_database();
        for i in 0..(FIRST_CAPACITY as u64 * 4) {
            f.insert(&key(i), FIRST_CAPACITY * BITS_PER_KEY / 8 * 2);
        }
        assert!(f.may_contain(&key(u64::MAX)) && f.bytes() == 0, "over its limit it gives up and frees its memory");
        let mut f = KeyFilter::for_empty_database();
        f.insert(&key(1), 1 << 20);
        f.forget_all();
        assert!(f.may_contain(&key(2)));
        assert!(KeyFilter::unknown().may_contain(&key(3)));
    }
}
