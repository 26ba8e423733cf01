//! List and map state in RocksDB, one stored entry per list and per map
//! entry (the layout of [`crate::convert`]), read and written in RocksDB
//! directly rather than through the write cache, which holds whole values:
//!
//! - a map entry is `kg ++ codec((key, namespace)) ++ codec(user key)`, so
//!   one entry is one point read or write, a map is a prefix scan in the
//!   order of its encoded user keys, and clearing it is one range deletion;
//! - a list is `kg ++ codec((key, namespace))` holding its elements'
//!   encodings one after another; adding is a RocksDB merge that appends
//!   ([`append_merge`]), so it never reads the list.
//!
//! Writes first wait for a snapshot's thread ([`RocksDbBackend::settle`]):
//! a RocksDB checkpoint in the making must not see changes made after its
//! barrier. Reads need no wait.

use rocksdb::{MergeOperands, ReadOptions};

use super::keys::KG_BYTES;
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

    /// `kg ++ codec((key, ns)) ++ codec(user_key)` into `key_buf`.
    fn map_entry_key<N: Namespace, UK: UserKey>(&mut self, kg: u32, key: &K, ns: &N, user_key: &UK) -> Result<(), StateError> {
        self.collection_key(kg, key, ns)?;
        codec::encode_into(user_key, &mut self.key_buf)?;
        Ok(())
    }

    pub(super) fn rocks_map_get<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        self.collection(id.index(), kg)?;
        self.map_entry_key(kg, key, ns, user_key)?;
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        match self.db.get_pinned_cf(cf, &self.key_buf).map_err(|e| db_err("reading a map entry", e))? {
            Some(v) => Ok(Some(codec::decode(ValueFormat::CURRENT, &v)?)),
            None => Ok(None),
        }
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
        self.collection(id.index(), kg)?;
        self.settle()?;
        self.map_entry_key(kg, key, ns, user_key)?;
        self.value_buf.clear();
        codec::encode_into(value, &mut self.value_buf)?;
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        self.db.put_cf_opt(cf, &self.key_buf, &self.value_buf, &self.write).map_err(|e| db_err("writing a map entry", e))
    }

    pub(super) fn rocks_map_remove<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        let old = self.rocks_map_get(id, kg, key, ns, user_key)?;
        if old.is_some() {
            self.settle()?;
            let cf = cf_of(&self.db, &self.states[id.index()].0)?;
            self.db.delete_cf_opt(cf, &self.key_buf, &self.write).map_err(|e| db_err("removing a map entry", e))?;
        }
        Ok(old)
    }

    pub(super) fn rocks_map_for_each<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(UK, V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.collection(id.index(), kg)?;
        self.collection_key(kg, key, ns)?;
        let prefix = self.key_buf.clone();
        let mut read = ReadOptions::default();
        if let Some(end) = prefix_end(&prefix) {
            read.set_iterate_upper_bound(end);
        }
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        let mut it = self.db.raw_iterator_cf_opt(cf, read);
        it.seek(&prefix);
        while let Some((k, v)) = it.item() {
            let Some(user_key) = k.strip_prefix(prefix.as_slice()) else { break };
            let uk: UK = codec::decode(ValueFormat::CURRENT, user_key)?;
            let value: V = codec::decode(ValueFormat::CURRENT, v)?;
            f(uk, value)?;
            it.next();
        }
        it.status().map_err(|e| db_err("reading a map", e))
    }

    pub(super) fn rocks_map_clear<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError> {
        self.collection(id.index(), kg)?;
        self.settle()?;
        self.collection_key(kg, key, ns)?;
        let cf = cf_of(&self.db, &self.states[id.index()].0)?;
        // The key group's two bytes never are all 0xff (at most 32768 key groups).
        let end = prefix_end(&self.key_buf).ok_or_else(|| StateError::Corrupt("a map key without an end".into()))?;
        let _ = KG_BYTES;
        self.db.delete_range_cf_opt(cf, &self.key_buf, &end, &self.write).map_err(|e| db_err("clearing a map", e))
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
