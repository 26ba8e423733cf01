//! The write-back cache in front of RocksDB.
//!
//! Every state access of a record would otherwise be a RocksDB read and a
//! RocksDB write with their (de)serialisation, and every update a new memtable
//! entry: a hot key updated a thousand times between two checkpoints puts a
//! thousand versions into the memtable, which the synchronous phase then has
//! to flush. The cache keeps recently used entries as encoded bytes, marks
//! the ones changed since they were last written, and writes those in one
//! batch when the cache is over its share of `--state-memory` or when a
//! snapshot is taken. A hot key then reaches RocksDB once per checkpoint.
//!
//! Timers registered since the last write are kept in an ordered set and
//! written the same way; timers that fire before that never touch RocksDB.
//!
//! Entries that are created and removed between two writes (window contents)
//! never reach RocksDB at all.
//!
//! Map entries are cached one by one like values. A map is also read whole
//! (a prefix scan of RocksDB) and cleared whole (a range deletion), which
//! must see the changes still in the cache: the cache queues the changed
//! entries of every map ([`map_queue`]), so that a scan writes that
//! map's changes first and a clear drops them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::hash_map::EntryRef;
use rustc_hash::{FxBuildHasher, FxHashSet};
use smallvec::SmallVec;

mod map_queue;

use map_queue::Member;

/// A cache key: `[state u16][RocksDB key]`, inline up to 24 bytes (most keys),
/// so an entry costs no allocation of its own.
pub(crate) type CacheKey = SmallVec<[u8; 24]>;

/// An encoded value, inline up to 16 bytes (counts, sums, timestamps).
pub(crate) type Value = SmallVec<[u8; 16]>;

/// The changed entries taken out of the cache to be written. Keys and values
/// are copied into one buffer (one allocation for all of them, not one per
/// entry, which the synchronous phase of a snapshot would pay for), so that
/// they can be written while the cache goes on changing. They come out in
/// the cache's order; [`Changes::sort`] (on the thread that writes them)
/// orders them by their keys' bytes.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    bytes: Vec<u8>,
    /// Ordered by key.
    items: Vec<Item>,
    /// How many of them are removals.
    removals: usize,
}

/// Where one change is in [`Changes::bytes`]: its key, then its value.
#[derive(Debug, Clone, Copy)]
struct Item {
    /// The key's first 16 bytes (see [`prefix`]), to sort by.
    prefix: u128,
    start: usize,
    key_len: usize,
    /// `None`: the key was removed.
    value_len: Option<usize>,
}

impl Changes {
    /// How many changes there are.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// How many of them are removals (tombstones to write).
    pub(crate) fn removals(&self) -> usize {
        self.removals
    }

    /// Whether there are none.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Orders the changes by their keys' bytes: by the first 16 bytes as one
    /// integer, then by the whole key, which is the same order with far
    /// fewer comparisons of whole keys.
    pub(crate) fn sort(&mut self) {
        let bytes = &self.bytes;
        let key = |item: &Item| &bytes[item.start..item.start + item.key_len];
        self.items.sort_unstable_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| key(a).cmp(key(b))));
    }

    /// The `i`-th change's key and value (`None` for a removal).
    pub(crate) fn get(&self, i: usize) -> (&[u8], Option<&[u8]>) {
        self.item(&self.items[i])
    }

    /// Every change in key order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.items.iter().map(|item| self.item(item))
    }

    fn item(&self, item: &Item) -> (&[u8], Option<&[u8]>) {
        let value_start = item.start + item.key_len;
        (&self.bytes[item.start..value_start], item.value_len.map(|len| &self.bytes[value_start..value_start + len]))
    }
}

/// A timer's encoded `(key, namespace)`, inline up to 24 bytes.
pub(crate) type TimerTail = SmallVec<[u8; 24]>;

/// Per-entry memory charged on top of key and value bytes: the hash table's
/// slot (key, value and flags inline: 72 bytes) at its average load, and
/// heap headers of the keys and values too long to be inline.
const ENTRY_OVERHEAD: usize = 96;

/// Changed bytes that trigger a write even when the cache has room: a
/// snapshot's synchronous phase never has more than this to copy out (the
/// write itself happens on the snapshot's thread, see [`super::deferred`]).
///
/// Writing early costs throughput: an entry written before it dies (a
/// window's contents, which fire a few seconds after they are created) is
/// written once with its value and once more as a tombstone, and both go
/// through RocksDB's compactions. Measured with windowed_count (1M keys per
/// 1 s window, checkpoints every 2 s, the default `--state-memory`, so a
/// bound of 32 MiB, half the instance's share): a write every 16 MiB of
/// changes ran at 290-430 k events/s, every 32 MiB at 430-470 k.
const DIRTY_MAX: usize = 64 << 20;

/// Bytes of changed keys and values (without [`ENTRY_OVERHEAD`]) that
/// trigger a write: what a snapshot copies out. Large values reach it before
/// [`DIRTY_MAX`] (200-byte values at about 75 000 entries).
const DIRTY_DATA_MAX: usize = 16 << 20;

/// Backends open in the process; each gets an equal share of the cache budget.
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// One cached entry: its encoded value, or `None` when it was removed.
#[derive(Debug)]
pub(crate) struct Entry {
    pub value: Option<Value>,
    /// Changed since RocksDB last saw it.
    pub dirty: bool,
    /// RocksDB may hold a value for the key (so a removal needs a tombstone).
    pub in_db: bool,
    /// The key is in the backend's filter of written keys (it was found in
    /// RocksDB or written with a value), so writing it again need not add it.
    pub in_filter: bool,
    /// A changed map entry in its map's queue ([`WriteCache::queue`]).
    pub queued: bool,
}

/// The cache of one backend. Keys are `[state index u16][RocksDB key]`.
pub(crate) struct WriteCache {
    entries: hashbrown::HashMap<CacheKey, Entry, FxBuildHasher>,
    bytes: usize,
    /// Bytes of the changed entries: what the next write has to write.
    dirty_bytes: usize,
    /// How many entries are changed (each counts [`ENTRY_OVERHEAD`] in `dirty_bytes`).
    dirty_entries: usize,
    /// Timers registered since the last write: by key group and time, the
    /// encoded `(key, namespace)` of each.
    timers: BTreeMap<(u16, i64), FxHashSet<TimerTail>>,
    timer_bytes: usize,
    /// The changed entries of every map, by the map's cache key
    /// (`[state][kg][codec((key, namespace))]`): their encoded user keys. A
    /// member may outlive its entry's change (a removed entry that never
    /// reached RocksDB is dropped from the cache, not from here). Emptied
    /// whenever the changes are taken out.
    maps: hashbrown::HashMap<CacheKey, Vec<Member>, FxBuildHasher>,
    /// Bytes charged for `maps`.
    map_bytes: usize,
    /// Memory the backend holds against the cache's share besides the entries (its key filter).
    reserved: usize,
    /// The whole process's budget for write caches.
    budget: usize,
}

impl WriteCache {
    pub(crate) fn new(budget: usize) -> Self {
        OPEN.fetch_add(1, Ordering::Relaxed);
        WriteCache {
            entries: hashbrown::HashMap::default(),
            bytes: 0,
            dirty_bytes: 0,
            dirty_entries: 0,
            timers: BTreeMap::new(),
            timer_bytes: 0,
            maps: hashbrown::HashMap::default(),
            map_bytes: 0,
            reserved: 0,
            budget,
        }
    }

    /// This backend's share of the budget.
    pub(crate) fn share(&self) -> usize {
        self.budget / OPEN.load(Ordering::Relaxed).max(1)
    }

    /// Sets the memory the backend holds against its share besides the entries.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.reserved = bytes;
    }

    /// The share left for entries and timers.
    fn limit(&self) -> usize {
        self.share().saturating_sub(self.reserved)
    }

    /// Whether the changes should be written now: the cache holds more than
    /// its share, or more changes than half of it or [`DIRTY_MAX`], or their
    /// keys and values more than [`DIRTY_DATA_MAX`] (which keep a snapshot's
    /// copy of them short and small).
    pub(crate) fn needs_write(&self) -> bool {
        self.is_full() || self.dirty_bytes + self.timer_bytes > (self.limit() / 2).min(DIRTY_MAX) || self.dirty_data() > DIRTY_DATA_MAX
    }

    /// Bytes of the changed entries' keys and values.
    fn dirty_data(&self) -> usize {
        self.dirty_bytes - self.dirty_entries * ENTRY_OVERHEAD
    }

    /// Whether the cache holds more than its share (and should be emptied once written).
    pub(crate) fn is_full(&self) -> bool {
        self.bytes + self.map_bytes + self.timer_bytes > self.limit()
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The entry for `key`, made by `load` (and counted) when it is not cached.
    pub(crate) fn get_or_load<E>(&mut self, key: &[u8], load: impl FnOnce() -> Result<Entry, E>) -> Result<&mut Entry, E> {
        match self.entries.entry_ref(key) {
            EntryRef::Occupied(o) => Ok(o.into_mut()),
            EntryRef::Vacant(v) => {
                let entry = load()?;
                let size = key.len() + entry.value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
                self.bytes += size;
                if entry.dirty {
                    self.dirty_bytes += size;
                    self.dirty_entries += 1;
                }
                Ok(v.insert(entry))
            }
        }
    }

    /// Sets the value of `key` and marks it changed, with one probe of the
    /// table. A key not cached may be in RocksDB (a removal then needs a
    /// tombstone). `true` when the key was not cached.
    pub(crate) fn put(&mut self, key: &[u8], value: Value) -> bool {
        let new_len = value.len();
        let replaced = match self.entries.entry_ref(key) {
            EntryRef::Occupied(mut o) => {
                let e = o.get_mut();
                let old_len = e.value.replace(value).map_or(0, |v| v.len());
                Some((std::mem::replace(&mut e.dirty, true), old_len))
            }
            EntryRef::Vacant(v) => {
                v.insert(Entry { value: Some(value), dirty: true, in_db: true, in_filter: false, queued: false });
                None
            }
        };
        match replaced {
            Some((was_dirty, old_len)) => {
                self.changed(key.len(), was_dirty, old_len, new_len);
                false
            }
            None => {
                let size = key.len() + new_len + ENTRY_OVERHEAD;
                self.bytes += size;
                self.dirty_bytes += size;
                self.dirty_entries += 1;
                true
            }
        }
    }

    /// Inserts or replaces the entry for `key`.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, key: &[u8], entry: Entry) {
        let size = key.len() + entry.value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        if entry.dirty {
            self.dirty_bytes += size;
            self.dirty_entries += 1;
        }
        self.bytes += size;
        if let Some(old) = self.entries.insert(CacheKey::from_slice(key), entry) {
            self.uncount(key.len(), &old);
        }
    }

    fn uncount(&mut self, key_len: usize, old: &Entry) {
        let size = key_len + old.value.as_ref().map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        self.bytes -= size;
        if old.dirty {
            self.dirty_bytes -= size;
            self.dirty_entries -= 1;
        }
    }

    /// Accounts for an entry changed in place through [`WriteCache::get_or_load`]
    /// and now marked dirty: its value was `old_len` bytes, and it was dirty
    /// before or not.
    pub(crate) fn changed(&mut self, key_len: usize, was_dirty: bool, old_len: usize, new_len: usize) {
        self.bytes = self.bytes + new_len - old_len;
        if was_dirty {
            self.dirty_bytes = self.dirty_bytes + new_len - old_len;
        } else {
            self.dirty_bytes += key_len + new_len + ENTRY_OVERHEAD;
            self.dirty_entries += 1;
        }
    }

    /// Drops the entry for `key`; whether it was cached.
    pub(crate) fn forget(&mut self, key: &[u8]) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                self.uncount(key.len(), &old);
                true
            }
            None => false,
        }
    }

    /// Whether no entry is cached.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every changed entry, `(key, value)`, copied out and marked as written
    /// (in one pass over the entries); `None` is a removal. The caller sorts
    /// ([`Changes::sort`]) and writes them or fails. `new_key` is called
    /// with every key written with a value that is not yet in the filter of
    /// written keys (once per key while it stays cached, however often it
    /// changes).
    pub(crate) fn take_changes(&mut self, mut new_key: impl FnMut(&[u8])) -> Changes {
        let mut changes =
            Changes { bytes: Vec::with_capacity(self.dirty_data()), items: Vec::with_capacity(self.dirty_entries), removals: 0 };
        self.dirty_bytes = 0;
        self.dirty_entries = 0;
        self.maps.clear();
        self.map_bytes = 0;
        for (k, e) in self.entries.iter_mut() {
            if e.dirty {
                e.dirty = false;
                e.queued = false;
                e.in_db = e.value.is_some();
                if e.in_db && !e.in_filter {
                    new_key(k);
                    e.in_filter = true;
                }
                let start = changes.bytes.len();
                changes.bytes.extend_from_slice(k);
                match &e.value {
                    Some(v) => changes.bytes.extend_from_slice(v),
                    None => changes.removals += 1,
                }
                changes.items.push(Item { prefix: prefix(k), start, key_len: k.len(), value_len: e.value.as_ref().map(|v| v.len()) });
            }
        }
        changes
    }

    /// Empties the cache (after its changes were written).
    pub(crate) fn clear(&mut self) {
        self.entries = hashbrown::HashMap::default();
        self.maps = hashbrown::HashMap::default();
        self.map_bytes = 0;
        self.bytes = 0;
        self.dirty_bytes = 0;
        self.dirty_entries = 0;
    }

    /// Adds a timer; `false` when it was already there.
    pub(crate) fn add_timer(&mut self, kg: u16, ts: i64, tail: &[u8]) -> bool {
        let set = self.timers.entry((kg, ts)).or_default();
        if set.contains(tail) {
            return false;
        }
        set.insert(TimerTail::from_slice(tail));
        self.timer_bytes += tail.len() + ENTRY_OVERHEAD;
        true
    }

    /// Removes a timer.
    pub(crate) fn remove_timer(&mut self, kg: u16, ts: i64, tail: &[u8]) {
        if let Some(set) = self.timers.get_mut(&(kg, ts)) {
            if set.remove(tail) {
                self.timer_bytes -= tail.len() + ENTRY_OVERHEAD;
                if set.is_empty() {
                    self.timers.remove(&(kg, ts));
                }
            }
        }
    }

    /// Moves the timers of key group `kg` due at `watermark` into `out`.
    pub(crate) fn take_due(&mut self, kg: u16, watermark: i64, out: &mut Vec<(i64, TimerTail)>) {
        let due: Vec<(u16, i64)> = self.timers.range((kg, i64::MIN)..=(kg, watermark)).map(|(k, _)| *k).collect();
        for k in due {
            if let Some(set) = self.timers.remove(&k) {
                for tail in set {
                    self.timer_bytes -= tail.len() + ENTRY_OVERHEAD;
                    out.push((k.1, tail));
                }
            }
        }
    }

    /// The earliest cached timer of key group `kg`.
    pub(crate) fn next_timer(&self, kg: u16) -> Option<i64> {
        self.timers.range((kg, i64::MIN)..=(kg, i64::MAX)).next().map(|(k, _)| k.1)
    }

    /// Takes every cached timer out (to write them), ordered by key group and time.
    pub(crate) fn take_timers(&mut self) -> BTreeMap<(u16, i64), FxHashSet<TimerTail>> {
        self.timer_bytes = 0;
        std::mem::take(&mut self.timers)
    }
}

/// The first 16 bytes of `key` as a big-endian integer, zero-padded: a key
/// whose bytes sort before another's never gets a larger prefix.
fn prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(16);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

impl Drop for WriteCache {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(super) fn changes(c: &mut WriteCache) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut changes = c.take_changes(|_| {});
        changes.sort();
        changes.iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect()
    }

    #[test]
    fn accounts_bytes_and_lists_only_changes() {
        let mut c = WriteCache::new(1 << 20);
        c.insert(b"b", Entry { value: Some(Value::from_slice(&[1, 2, 3])), dirty: true, in_db: false, in_filter: false, queued: false });
        c.insert(b"c", Entry { value: None, dirty: false, in_db: false, in_filter: false, queued: false });
        c.insert(b"a", Entry { value: None, dirty: true, in_db: true, in_filter: false, queued: false });
        assert_eq!(c.bytes, 1 + 3 + ENTRY_OVERHEAD + 2 * (1 + ENTRY_OVERHEAD));
        c.insert(b"b", Entry { value: Some(Value::from_slice(&[9])), dirty: true, in_db: false, in_filter: false, queued: false });
        assert_eq!(c.bytes, 1 + 1 + ENTRY_OVERHEAD + 2 * (1 + ENTRY_OVERHEAD));
        assert_eq!(c.dirty_bytes, 1 + 1 + ENTRY_OVERHEAD + 1 + ENTRY_OVERHEAD);
        let e = c.get_or_load(b"c", || Err(())).unwrap(); // "c" changed in place
        e.value = Some(Value::from_slice(&[0; 4]));
        e.dirty = true;
        c.changed(1, false, 0, 4);
        assert_eq!(c.dirty_bytes, 1 + 1 + ENTRY_OVERHEAD + 2 * (1 + ENTRY_OVERHEAD) + 4);
        assert_eq!(changes(&mut c), vec![(b"a".to_vec(), None), (b"b".to_vec(), Some(vec![9u8])), (b"c".to_vec(), Some(vec![0u8; 4]))]);
        assert_eq!(c.dirty_bytes, 0);
        assert!(c.take_changes(|_| {}).is_empty());
        let b = c.get(b"b").unwrap();
        assert!(!b.dirty && b.in_db);
        assert!(!c.get(b"a").unwrap().in_db, "a written removal leaves nothing in RocksDB");
        for k in [b"a", b"b", b"c"] {
            c.forget(k);
        }
        assert_eq!(c.bytes, 0);
    }

    #[test]
    fn a_key_rewritten_at_every_write_joins_the_filter_once() {
        let mut c = WriteCache::new(1 << 20);
        let mut added: Vec<Vec<u8>> = Vec::new();
        c.put(b"hot", Value::from_slice(&[0]));
        c.put(b"gone", Value::from_slice(&[0]));
        c.take_changes(|k| added.push(k.to_vec()));
        added.sort();
        assert_eq!(added, vec![b"gone".to_vec(), b"hot".to_vec()]);
        added.clear();
        for round in 1..5u8 {
            c.put(b"hot", Value::from_slice(&[round]));
            let changes = c.take_changes(|k| added.push(k.to_vec()));
            assert_eq!(changes.len(), 1, "the changed value is still written");
        }
        // Removed (as the backend removes a cached entry), written, and set again.
        let e = c.get_or_load(b"gone", || Err(())).unwrap();
        e.value = None;
        e.dirty = true;
        c.changed(4, false, 1, 0);
        c.take_changes(|k| added.push(k.to_vec()));
        c.put(b"gone", Value::from_slice(&[1]));
        c.take_changes(|k| added.push(k.to_vec()));
        assert!(added.is_empty(), "keys already in the filter were added again: {added:?}");
        // A key looked up and not found, then set: new to the filter.
        c.insert(b"new", Entry { value: None, dirty: false, in_db: false, in_filter: false, queued: false });
        c.put(b"new", Value::from_slice(&[1]));
        c.take_changes(|k| added.push(k.to_vec()));
        assert_eq!(added, vec![b"new".to_vec()]);
    }

    #[test]
    fn put_accounts_like_a_replacement() {
        let mut c = WriteCache::new(1 << 20);
        c.put(b"k", Value::from_slice(&[1, 2]));
        assert_eq!((c.bytes, c.dirty_bytes), (1 + 2 + ENTRY_OVERHEAD, 1 + 2 + ENTRY_OVERHEAD));
        assert!(c.get(b"k").unwrap().in_db, "an uncached key may be in RocksDB");
        c.put(b"k", Value::from_slice(&[3]));
        assert_eq!((c.bytes, c.dirty_bytes), (1 + 1 + ENTRY_OVERHEAD, 1 + 1 + ENTRY_OVERHEAD));
        assert_eq!(changes(&mut c), vec![(b"k".to_vec(), Some(vec![3u8]))]);
        c.put(b"k", Value::from_slice(&[4, 5, 6]));
        assert_eq!((c.bytes, c.dirty_bytes), (1 + 3 + ENTRY_OVERHEAD, 1 + 3 + ENTRY_OVERHEAD));
        assert!(c.get(b"k").unwrap().in_db, "written once, it is in RocksDB");
    }

    #[test]
    fn changes_come_out_in_the_order_of_their_bytes() {
        let mut c = WriteCache::new(1 << 20);
        let mut keys: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0, 0], vec![1], vec![255; 20], vec![0; 17], vec![0; 16]];
        keys.extend((0..200u32).map(|i| [&[0u8; 15][..], &i.to_le_bytes(), &[(i % 3) as u8]].concat()));
        for k in &keys {
            c.insert(k, Entry { value: None, dirty: true, in_db: true, in_filter: false, queued: false });
        }
        keys.sort();
        let mut changes = c.take_changes(|_| {});
        changes.sort();
        let sorted: Vec<Vec<u8>> = changes.iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(sorted, keys);
    }

    #[test]
    fn small_changes_wait_longer_than_large_ones() {
        // A budget so large that only the bounds on changes matter.
        let mut small = WriteCache::new(1 << 40);
        for i in 0..100_000u64 {
            small.put(&i.to_be_bytes(), Value::from_slice(&i.to_le_bytes()));
        }
        assert!(!small.needs_write(), "100 000 counts are 1.6 MB of keys and values: kept");
        let mut large = WriteCache::new(1 << 40);
        let value = [7u8; 250];
        let mut written_at = None;
        for i in 0..100_000u64 {
            large.put(&i.to_be_bytes(), Value::from_slice(&value));
            if large.needs_write() {
                written_at = Some(i + 1);
                break;
            }
        }
        let n = written_at.unwrap() as usize;
        assert_eq!((n - 1) * (8 + 250), DIRTY_DATA_MAX - DIRTY_DATA_MAX % 258, "written once 16 MiB of keys and values are changed");
        assert_eq!(large.dirty_data(), n * 258, "the keys and values counted are those copied out");
        let changes = large.take_changes(|_| {});
        assert_eq!((changes.len(), changes.bytes.len()), (n, n * 258));
        assert!(!large.needs_write() && large.dirty_data() == 0);
    }

    #[test]
    fn timers_are_ordered_and_deduplicated() {
        let mut c = WriteCache::new(1 << 20);
        assert!(c.add_timer(1, 20, b"x"));
        assert!(c.add_timer(1, 10, b"x"));
        assert!(!c.add_timer(1, 10, b"x"));
        assert!(c.add_timer(1, 10, b"y"));
        assert!(c.add_timer(2, 5, b"x"));
        assert_eq!(c.next_timer(1), Some(10));
        assert_eq!(c.next_timer(3), None);
        c.remove_timer(1, 10, b"y");
        let mut due = Vec::new();
        c.take_due(1, 15, &mut due);
        assert_eq!(due, vec![(10, TimerTail::from_slice(b"x"))]);
        assert_eq!(c.next_timer(1), Some(20));
        assert_eq!(c.take_timers().len(), 2);
        assert_eq!(c.timer_bytes, 0);
        assert!(!c.needs_write() && !c.is_full());
    }
}
