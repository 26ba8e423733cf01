//! Value state (values, reductions, aggregations) in RocksDB: read and
//! written through the write-back cache ([`super::cache`]), one cached
//! entry per `(state, key group, key, namespace)`, loaded from RocksDB on
//! first use unless the key filter ([`super::key_filter`]) knows the key was
//! never written.

use super::cache::{Entry, Value};
use super::keys::{cache_key, STATE_BYTES};
use super::{cf_of, db_err, RocksDbBackend};
use crate::codec::{self, ValueFormat};
use crate::{Key, Namespace, StateError, StateId, StateValue};

/// A cached value decoded (`None`: no value).
pub(super) fn decode_cached<V: StateValue>(value: &Option<Value>) -> Result<Option<V>, StateError> {
    Ok(value.as_deref().map(|bytes| codec::decode(ValueFormat::CURRENT, bytes)).transpose()?)
}

impl<K: Key> RocksDbBackend<K> {
    /// Builds the cache key of `(key, ns)` in state `id` into `key_buf`.
    fn locate<N: Namespace, V>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<usize, StateError> {
        self.check(kg)?;
        let state = id.index();
        if state >= self.states.len() {
            return Err(StateError::UnknownState(state));
        }
        cache_key(&mut self.key_buf, state, kg, key, ns)?;
        Ok(state)
    }

    /// The cached entry for `key_buf`, read from RocksDB first when it is not cached.
    pub(super) fn entry(&mut self, state: usize) -> Result<&mut Entry, StateError> {
        let (db, key, states, filter) = (&self.db, &self.key_buf, &self.states, &self.filter);
        self.cache.get_or_load(key, || {
            if !filter.may_contain(key) {
                return Ok(Entry { value: None, dirty: false, in_db: false, in_filter: false, queued: false });
            }
            let cf = cf_of(db, &states[state].0)?;
            let found = db.get_pinned_cf(cf, &key[STATE_BYTES..]).map_err(|e| db_err("get", e))?.map(|v| Value::from_slice(&v));
            Ok(Entry { in_db: found.is_some(), in_filter: found.is_some(), value: found, dirty: false, queued: false })
        })
    }

    /// Removes the entry for `key_buf` in the cache and returns its old
    /// value: a removal that RocksDB must see stays as a changed entry, an
    /// entry RocksDB never saw is dropped.
    pub(super) fn remove_cached(&mut self, state: usize) -> Result<Option<Value>, StateError> {
        let entry = self.entry(state)?;
        let old = entry.value.take();
        let Some(len) = old.as_ref().map(|v| v.len()) else { return Ok(None) };
        if entry.in_db {
            let was_dirty = std::mem::replace(&mut entry.dirty, true);
            self.cache.changed(self.key_buf.len(), was_dirty, len, 0);
        } else {
            // Created since RocksDB last saw this key: nothing to delete there.
            self.cache.forget(&self.key_buf);
        }
        Ok(old)
    }

    /// Writes the changes out once there are many, and empties the cache once it holds more than its share of memory.
    ///
    /// A full cache is emptied even when writing took it back under its
    /// share (the timers written were counted in it): kept just under, it
    /// would be full again at the next new entry, and each of those writes
    /// goes over every cached entry to find a handful of changes.
    #[inline]
    pub(super) fn bound_cache(&mut self) -> Result<(), StateError> {
        if self.cache.needs_write() {
            let full = self.cache.is_full();
            self.write_cache()?;
            if full {
                self.cache.clear();
                if self.filter.wants_rebuild() {
                    self.rebuild_filter()?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn rocks_get<N: Namespace, V: StateValue>(
        &mut self,
        id: &StateId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<Option<V>, StateError> {
        let state = self.locate(id, kg, key, ns)?;
        let value = decode_cached(&self.entry(state)?.value)?;
        self.bound_cache()?;
        Ok(value)
    }

    pub(super) fn rocks_put<N: Namespace, V: StateValue>(
        &mut self,
        id: &StateId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        value: V,
    ) -> Result<(), StateError> {
        self.locate(id, kg, key, ns)?;
        self.value_buf.clear();
        codec::encode_into(&value, &mut self.value_buf)?;
        self.cache.put(&self.key_buf, Value::from_slice(&self.value_buf));
        self.bound_cache()
    }

    pub(super) fn rocks_remove<N: Namespace, V: StateValue>(
        &mut self,
        id: &StateId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<Option<V>, StateError> {
        let state = self.locate(id, kg, key, ns)?;
        let old = decode_cached(&self.remove_cached(state)?)?;
        self.bound_cache()?;
        Ok(old)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn rocks_upsert<N: Namespace, V: StateValue, X>(
        &mut self,
        id: &StateId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        input: X,
        init: impl FnOnce(X) -> V,
        update: impl FnOnce(&mut V, X),
    ) -> Result<bool, StateError> {
        let state = self.locate(id, kg, key, ns)?;
        let mut buf = std::mem::take(&mut self.value_buf);
        buf.clear();
        let entry = self.entry(state)?;
        let was_dirty = std::mem::replace(&mut entry.dirty, true);
        let (old_len, created) = match &entry.value {
            Some(bytes) => {
                let mut value: V = codec::decode(ValueFormat::CURRENT, bytes)?;
                update(&mut value, input);
                codec::encode_into(&value, &mut buf)?;
                (bytes.len(), false)
            }
            None => {
                codec::encode_into(&init(input), &mut buf)?;
                (0, true)
            }
        };
        let new_len = buf.len();
        match &mut entry.value {
            Some(bytes) => {
                bytes.clear();
                // `SmallVec::extend` copies byte by byte into reserved room:
                // for values of a few bytes, cheaper than a call to `memmove`.
                bytes.extend(buf.iter().copied());
            }
            None => entry.value = Some(Value::from_slice(&buf)),
        }
        self.value_buf = buf;
        self.cache.changed(self.key_buf.len(), was_dirty, old_len, new_len);
        self.bound_cache()?;
        Ok(created)
    }
}
