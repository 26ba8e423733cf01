//! The queue of each map's changed entries in the write cache.
//!
//! RocksDB's scan of a map and its range deletion of one do not see the
//! cache. The cache therefore lists, per map, the entries changed since the
//! changes were last taken out: a scan of the map first writes them
//! ([`WriteCache::take_map_changes`]), a clear drops them
//! ([`WriteCache::forget_queued`]). Only changes are listed, so a scan pays
//! nothing for entries RocksDB already agrees with.

use hashbrown::hash_map::EntryRef;
use smallvec::SmallVec;

use super::{CacheKey, Value, WriteCache, ENTRY_OVERHEAD};

/// A map entry's encoded user key, inline up to 16 bytes.
pub(crate) type Member = SmallVec<[u8; 16]>;

/// Memory charged per queued map change besides its bytes: its slot in the
/// map's queue (24 bytes inline plus a length) at the queue's average load.
const MEMBER_OVERHEAD: usize = 48;

impl WriteCache {
    /// Queues the changed map entry `key` (the map's key is its first
    /// `map_len` bytes) in its map's queue, unless it is queued already or
    /// unchanged.
    pub(crate) fn queue(&mut self, key: &[u8], map_len: usize) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        if entry.queued || !entry.dirty {
            return;
        }
        entry.queued = true;
        let (map, member) = key.split_at(map_len.min(key.len()));
        let queue = match self.maps.entry_ref(map) {
            EntryRef::Occupied(o) => o.into_mut(),
            EntryRef::Vacant(v) => {
                self.map_bytes += map.len() + ENTRY_OVERHEAD;
                v.insert(Vec::new())
            }
        };
        queue.push(Member::from_slice(member));
        self.map_bytes += member.len() + MEMBER_OVERHEAD;
    }

    /// Whether map `map` has queued changes.
    pub(crate) fn has_queued(&self, map: &[u8]) -> bool {
        self.maps.contains_key(map)
    }

    /// Takes the queue of map `map` out, uncharged.
    fn take_queue(&mut self, map: &[u8]) -> Vec<Member> {
        let Some(queue) = self.maps.remove(map) else { return Vec::new() };
        self.map_bytes -= map.len() + ENTRY_OVERHEAD + queue.iter().map(|m| m.len() + MEMBER_OVERHEAD).sum::<usize>();
        queue
    }

    /// The changes of map `map`, `(cache key, value)` ordered by key (`None`
    /// is a removal), taken out and marked as written, to be written now: a
    /// scan of the map is about to read RocksDB. `new_key` as in
    /// [`WriteCache::take_changes`]. Also returns how many are removals.
    pub(crate) fn take_map_changes(&mut self, map: &[u8], mut new_key: impl FnMut(&[u8])) -> (Vec<(CacheKey, Option<Value>)>, usize) {
        let queue = self.take_queue(map);
        let mut out = Vec::with_capacity(queue.len());
        let mut removals = 0;
        let mut key = CacheKey::from_slice(map);
        for member in queue {
            key.truncate(map.len());
            key.extend_from_slice(&member);
            let Some(e) = self.entries.get_mut(key.as_slice()) else { continue };
            e.queued = false;
            if !e.dirty {
                continue;
            }
            e.dirty = false;
            e.in_db = e.value.is_some();
            if e.in_db && !e.in_filter {
                new_key(&key);
                e.in_filter = true;
            }
            if !e.in_db {
                removals += 1;
            }
            self.dirty_bytes -= key.len() + e.value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
            self.dirty_entries -= 1;
            out.push((key.clone(), e.value.clone()));
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (out, removals)
    }

    /// Drops map `map`'s changed entries from the cache: the map is being
    /// cleared in RocksDB. Returns how many entries were dropped.
    pub(crate) fn forget_queued(&mut self, map: &[u8]) -> usize {
        let mut key = CacheKey::from_slice(map);
        let mut dropped = 0;
        for member in self.take_queue(map) {
            key.truncate(map.len());
            key.extend_from_slice(&member);
            if let Some(old) = self.entries.remove(key.as_slice()) {
                self.uncount(key.len(), &old);
                dropped += 1;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::tests::changes;
    use super::*;

    #[test]
    fn a_maps_changes_are_queued_once_and_taken_or_dropped_by_map() {
        let mut c = WriteCache::new(1 << 20);
        let (map, other) = (&b"m1"[..], &b"m2"[..]);
        for member in [&b"c"[..], b"a", b"b", b"d"] {
            let key = [map, member].concat();
            assert!(c.put(&key, Value::from_slice(&[1])), "a new key");
            c.queue(&key, 2);
        }
        let queued = c.map_bytes;
        assert!(!c.put(b"m1a", Value::from_slice(&[2])), "a cached key");
        c.queue(b"m1a", 2);
        assert_eq!(c.map_bytes, queued, "queued once");
        c.put(b"m2a", Value::from_slice(&[3]));
        c.queue(b"m2a", 2);
        // "d" removed before it was written: dropped from the cache, not from the queue.
        c.forget(b"m1d");
        let mut new_keys = Vec::new();
        let (written, removals) = c.take_map_changes(map, |k| new_keys.push(k.to_vec()));
        let keys: Vec<&[u8]> = written.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!((keys, removals), (vec![&b"m1a"[..], b"m1b", b"m1c"], 0));
        assert_eq!(written[0].1.as_deref(), Some(&[2u8][..]), "the latest value");
        assert_eq!(new_keys.len(), 3);
        assert!(!c.has_queued(map) && c.has_queued(other));
        assert!(!c.get(b"m1a").unwrap().dirty, "written");
        assert_eq!(changes(&mut c), vec![(b"m2a".to_vec(), Some(vec![3u8]))], "only the other map's change is left");
        assert!(!c.has_queued(other), "taking every change empties every queue");
        c.put(b"m2b", Value::from_slice(&[4]));
        c.queue(b"m2b", 2);
        assert_eq!(c.forget_queued(other), 1);
        assert!(c.get(b"m2b").is_none() && c.get(b"m2a").is_some(), "only the changed entries are dropped");
        assert_eq!((c.map_bytes, c.dirty_bytes), (0, 0), "everything charged was released");
    }
}
