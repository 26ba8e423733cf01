//! List and map state in RocksDB, one stored entry per list and per map
//! entry (the layout of [`crate::convert`]):
//!
//! - a map entry is `kg ++ codec((key, namespace)) ++ codec(user key)`, so
//!   one entry is one point read or write, a map is a prefix scan in the
//!   order of its encoded user keys, and clearing it is one range deletion.
//!   Entries go through the write cache like values ([`super::cache`]): a
//!   map that gains an entry per record (distinct counts) would otherwise
//!   pay a memtable insert at a random place per record, where the cache
//!   writes its changes sorted, many at a time as one SST file. A scan
//!   writes the map's queued changes into RocksDB first and reads RocksDB;
//! - a list is `kg ++ codec((key, namespace))` holding its elements'
//!   encodings one after another; adding is a RocksDB merge that appends
//!   ([`append_merge`]), so it never reads the list. Lists are written in
//!   RocksDB directly.
//!
//! Writes to RocksDB first wait for a snapshot's thread
//! ([`RocksDbBackend::settle`]): a RocksDB checkpoint in the making must not
//! see changes made after its barrier. Reads need no wait.

use rocksdb::{MergeOperands, ReadOptions, WriteBatch};

use super::cache::{CacheKey, Value};
use super::keys::{cache_key, STATE_BYTES};
use super::values::decode_cached;
use super::{cf_of, db_err, RocksDbBackend};
use crate::codec::{self, ValueFormat};
use crate::{Key, ListId, MapId, Namespace, StateError, StateValue, UserKey};

/// The name of the merge operator of every column family.
pub(super) const MERGE_NAME: &str = "weir-append";

/// The merge operator of list state: the operands appended to the value.
pub(super) fn append_merge(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let len = existing.map_or(0, <[u8]>::len) + operands.iter().map(<[u8]>::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    if let Some(e) = existing {
        out.extend_from_slice(e);
    }
    for op in operands {
        out.extend_from_slice(op);
    }
    Some(out)
}

/// The smallest key greater than every key that starts with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl<K: Key> RocksDbBackend<K> {
    /// The column family of collection state `index`, checked against the range.
    fn collection(&self, index: usize, kg: u32) -> Result<&str, StateError> {
        self.check(kg)?;
        self.states.get(index).map(|s| s.0.as_str()).ok_or(StateError::UnknownState(index))
    }

    /// `kg ++ codec((key, ns))` into `key_buf`.
    fn collection_key<N: Namespace>(&mut self, kg: u32, key: &K, ns: &N) -> Result<(), StateError> {
        self.key_buf.clear();
        self.key_buf.extend_from_slice(&(kg as u16).to_be_bytes());
        codec::encode_into(&(key, ns), &mut self.key_buf)?;
        Ok(())
    }

    pub(super) fn rocks_list_add<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        value: V,
    ) -> Result<(), StateError> {
        self.collection(id.index(), kg)?;
        self.settle()?;
        self.collection_key(kg, key, ns)?;
        self.value_buf.clear();
        codec::encode_into(&value, &mut self.value_buf)?;
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        self.db.merge_cf_opt(cf, &self.key_buf, &self.value_buf, &self.write).map_err(|e| db_err("appending to a list", e))
    }

    pub(super) fn rocks_list_for_each<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.collection(id.index(), kg)?;
        self.collection_key(kg, key, ns)?;
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        let Some(list) = self.db.get_pinned_cf(cf, &self.key_buf).map_err(|e| db_err("reading a list", e))? else { return Ok(()) };
        let mut rest: &[u8] = &list;
        while !rest.is_empty() {
            let (v, used) = codec::decode_prefix::<V>(ValueFormat::CURRENT, rest)?;
            rest = &rest[used..];
            f(v)?;
        }
        Ok(())
    }

    pub(super) fn rocks_list_clear<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError> {
        self.collection(id.index(), kg)?;
        self.settle()?;
        self.collection_key(kg, key, ns)?;
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        self.db.delete_cf_opt(cf, &self.key_buf, &self.write).map_err(|e| db_err("clearing a list", e))
    }

    /// The cache key of a map, `[state] ++ kg ++ codec((key, ns))`, into
    /// `key_buf`; its tail from [`STATE_BYTES`] on is the prefix of the map's
    /// entries in RocksDB. Returns its length.
    fn map_key<N: Namespace>(&mut self, state: usize, kg: u32, key: &K, ns: &N) -> Result<usize, StateError> {
        self.collection(state, kg)?;
        cache_key(&mut self.key_buf, state, kg, key, ns)?;
        Ok(self.key_buf.len())
    }

    /// The cache key of a map entry, the map's key then `codec(user_key)`,
    /// into `key_buf`. Returns the length of the map's key.
    fn map_entry_key<N: Namespace, UK: UserKey>(
        &mut self,
        state: usize,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<usize, StateError> {
        let map = self.map_key(state, kg, key, ns)?;
        codec::encode_into(user_key, &mut self.key_buf)?;
        Ok(map)
    }

    pub(super) fn rocks_map_get<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        let state = id.index();
        self.map_entry_key(state, kg, key, ns, user_key)?;
        let value = decode_cached(&self.entry(state)?.value)?;
        self.bound_cache()?;
        Ok(value)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn rocks_map_put<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
        value: &V,
    ) -> Result<(), StateError> {
        let map = self.map_entry_key(id.index(), kg, key, ns, user_key)?;
        self.value_buf.clear();
        codec::encode_into(value, &mut self.value_buf)?;
        self.cache.put(&self.key_buf, Value::from_slice(&self.value_buf));
        self.cache.queue(&self.key_buf, map);
        self.bound_cache()
    }

    pub(super) fn rocks_map_remove<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        let state = id.index();
        let map = self.map_entry_key(state, kg, key, ns, user_key)?;
        let old = decode_cached(&self.remove_cached(state)?)?;
        // A removal RocksDB has yet to see (`queue` passes over anything else).
        self.cache.queue(&self.key_buf, map);
        self.bound_cache()?;
        Ok(old)
    }

    /// Writes the queued changes of the map whose cache key is the first
    /// `map_len` bytes of `key_buf` into RocksDB, after any snapshot's
    /// thread: RocksDB then holds the whole map, for a scan or a clear.
    fn write_map(&mut self, state: usize, map_len: usize) -> Result<(), StateError> {
        self.settle()?;
        if !self.cache.has_queued(&self.key_buf[..map_len]) {
            return Ok(());
        }
        let filter_limit = self.cache.share() / 2;
        let filter = &mut self.filter;
        let (changes, removals) = self.cache.take_map_changes(&self.key_buf[..map_len], |key| filter.insert(key, filter_limit));
        self.filter.note_removed(removals);
        self.cache.reserve(self.filter.bytes());
        let cf = cf_of(&self.db, &self.states[state].0)?;
        let mut batch = WriteBatch::default();
        for (key, value) in &changes {
            match value {
                Some(v) => batch.put_cf(cf, &key[STATE_BYTES..], v),
                None => batch.delete_cf(cf, &key[STATE_BYTES..]),
            }
        }
        self.db.write_opt(batch, &self.write).map_err(|e| db_err("writing a map's changes", e))
    }

    /// Calls `f` with every entry of the map in the order of the encoded
    /// user keys, read from RocksDB once the map's changes are written
    /// ([`Self::write_map`]).
    pub(super) fn rocks_map_for_each<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(UK, V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let state = id.index();
        let map_len = self.map_key(state, kg, key, ns)?;
        self.write_map(state, map_len)?;
        let prefix = &self.key_buf[STATE_BYTES..map_len];
        let mut read = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            read.set_iterate_upper_bound(end);
        }
        let cf = cf_of(&self.db, &self.states[state].0)?;
        let mut it = self.db.raw_iterator_cf_opt(cf, read);
        it.seek(prefix);
        while let Some((k, v)) = it.item() {
            let Some(user_key) = k.strip_prefix(prefix) else { break };
            let uk: UK = codec::decode(ValueFormat::CURRENT, user_key)?;
            let value: V = codec::decode(ValueFormat::CURRENT, v)?;
            f(uk, value)?;
            it.next();
        }
        it.status().map_err(|e| db_err("reading a map", e))
    }

    /// Clears the map: its queued changes are dropped, its cached entries
    /// (found by a scan of RocksDB, which holds every other entry of it
    /// that may be cached) forgotten, and its entries deleted as one range.
    pub(super) fn rocks_map_clear<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError> {
        let state = id.index();
        let map_len = self.map_key(state, kg, key, ns)?;
        // A snapshot's thread may be writing entries of this map: they go first.
        self.settle()?;
        let mut dropped = self.cache.forget_queued(&self.key_buf[..map_len]);
        let prefix = self.key_buf[STATE_BYTES..map_len].to_vec();
        // The key group's two bytes never are all 0xff (at most 32768 key groups).
        let end = prefix_end(&prefix).ok_or_else(|| StateError::Corrupt("a map key without an end".into()))?;
        let cf = cf_of(&self.db, &self.states[state].0)?;
        if !self.cache.is_empty() {
            let mut read = ReadOptions::default();
            read.set_iterate_upper_bound(end.clone());
            let mut it = self.db.raw_iterator_cf_opt(cf, read);
            it.seek(&prefix);
            let mut cached = CacheKey::from_slice(&self.key_buf[..STATE_BYTES]);
            while let Some(k) = it.key() {
                cached.truncate(STATE_BYTES);
                cached.extend_from_slice(k);
                dropped += usize::from(self.cache.forget(&cached));
                it.next();
            }
            it.status().map_err(|e| db_err("reading a map", e))?;
        }
        self.filter.note_removed(dropped);
        self.db.delete_range_cf_opt(cf, &prefix, &end, &self.write).map_err(|e| db_err("clearing a map", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[0, 5]), Some(vec![0, 6]));
        assert_eq!(prefix_end(&[0, 5, 0xff]), Some(vec![0, 6]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
