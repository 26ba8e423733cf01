//! The hashmap backend: typed state in memory, copy-on-write per key group.
//!
//! Each table keeps one hash map per key group behind an `Arc`. The
//! synchronous phase of a snapshot clones the `Arc`s (a few pointers per key
//! group); the first write to a key group after that copies that key group's
//! map once, so processing never waits for the state to be serialized.
//! Snapshots are in the canonical format ([`crate::canonical`]), entries in
//! hash order (not sorted).

use std::any::Any;
use std::collections::HashMap as StdHashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};
use rustc_hash::FxHashMap;

use crate::canonical::{self, CanonicalWriter, Parsed, RestoredEntries, Section};
use crate::codec::{self, CodecError, ValueFormat};
use crate::convert::Reader;
use crate::timers::TimerMap;
use crate::{
    Key, KeyGroupRange, KeyedStateBackend, ListId, MapId, Namespace, RestoredFile, Schema, SnapshotFile, StateDescriptor, StateError,
    StateId, StateKind, StateSnapshot, StateValue, Timer, UserKey,
};

type Map<K, N, X> = HashMap<(K, N), X>;

/// A borrowed `(key, namespace)` that looks up an owned one without cloning.
#[derive(Hash)]
struct Lookup<'a, K, N>(&'a K, &'a N);

impl<K: Eq, N: Eq> Equivalent<(K, N)> for Lookup<'_, K, N> {
    fn equivalent(&self, other: &(K, N)) -> bool {
        self.0 == &other.0 && self.1 == &other.1
    }
}

/// What a table stores per `(key, namespace)` and how that is written as
/// canonical entries (the layout of [`crate::convert`]) and read back.
trait Layout<K: Key, N: Namespace>: Send + Sync + 'static {
    type Stored: Clone + Send + Sync + 'static;
    /// Writes the entries of one `(key, namespace)`.
    fn write(key: &(K, N), stored: &Self::Stored, out: &mut CanonicalWriter, buf: &mut Vec<u8>) -> Result<(), StateError>;
    /// Adds an entry of the current format and layout.
    fn read(map: &mut Map<K, N, Self::Stored>, key: &[u8], value: &[u8]) -> Result<(), CodecError>;
}

/// One value per key and namespace.
struct Values<V>(PhantomData<fn() -> V>);
/// A list per key and namespace, appended to in place.
struct Lists<V>(PhantomData<fn() -> V>);
/// A map per key and namespace, each entry read and written on its own.
struct Maps<UK, V>(PhantomData<fn() -> (UK, V)>);

const CURRENT: ValueFormat = ValueFormat::CURRENT;

impl<K: Key, N: Namespace, V: StateValue> Layout<K, N> for Values<V> {
    type Stored = V;
    fn write(key: &(K, N), stored: &V, out: &mut CanonicalWriter, _: &mut Vec<u8>) -> Result<(), StateError> {
        out.push_encoded(key, stored)
    }
    fn read(map: &mut Map<K, N, V>, key: &[u8], value: &[u8]) -> Result<(), CodecError> {
        map.insert(codec::decode(CURRENT, key)?, codec::decode(CURRENT, value)?);
        Ok(())
    }
}

impl<K: Key, N: Namespace, V: StateValue> Layout<K, N> for Lists<V> {
    type Stored = Vec<V>;
    fn write(key: &(K, N), stored: &Vec<V>, out: &mut CanonicalWriter, buf: &mut Vec<u8>) -> Result<(), StateError> {
        buf.clear();
        codec::encode_into(key, buf)?;
        let at = buf.len();
        for v in stored {
            codec::encode_into(v, buf)?;
        }
        let (k, v) = buf.split_at(at);
        out.push_entry(k, v)
    }
    fn read(map: &mut Map<K, N, Vec<V>>, key: &[u8], value: &[u8]) -> Result<(), CodecError> {
        let list = map.entry(codec::decode(CURRENT, key)?).or_default();
        let mut rest = value;
        while !rest.is_empty() {
            let (v, used) = codec::decode_prefix(CURRENT, rest)?;
            list.push(v);
            rest = &rest[used..];
        }
        Ok(())
    }
}

impl<K: Key, N: Namespace, UK: UserKey, V: StateValue> Layout<K, N> for Maps<UK, V> {
    type Stored = FxHashMap<UK, V>;
    fn write(key: &(K, N), stored: &FxHashMap<UK, V>, out: &mut CanonicalWriter, buf: &mut Vec<u8>) -> Result<(), StateError> {
        buf.clear();
        codec::encode_into(key, buf)?;
        let prefix = buf.len();
        for (uk, v) in stored {
            buf.truncate(prefix);
            codec::encode_into(uk, buf)?;
            let at = buf.len();
            codec::encode_into(v, buf)?;
            let (k, v) = buf.split_at(at);
            out.push_entry(k, v)?;
        }
        Ok(())
    }
    fn read(map: &mut Map<K, N, FxHashMap<UK, V>>, key: &[u8], value: &[u8]) -> Result<(), CodecError> {
        let (key_ns, used): ((K, N), usize) = codec::decode_prefix(CURRENT, key)?;
        let uk: UK = codec::decode(CURRENT, &key[used..])?;
        map.entry(key_ns).or_default().insert(uk, codec::decode(CURRENT, value)?);
        Ok(())
    }
}

struct Table<K: Key, N: Namespace, L: Layout<K, N>> {
    maps: Vec<Arc<Map<K, N, L::Stored>>>,
}

trait ErasedTable<K: Key>: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn freeze(&self) -> Box<dyn FrozenTable>;
}

trait FrozenTable: Send {
    /// Writes the entries of key group index `idx` into the open section of `out`.
    fn write_key_group(&self, idx: usize, out: &mut CanonicalWriter, buf: &mut Vec<u8>) -> Result<(), StateError>;
}

impl<K: Key, N: Namespace, L: Layout<K, N>> ErasedTable<K> for Table<K, N, L> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn freeze(&self) -> Box<dyn FrozenTable> {
        Box::new(FrozenMaps::<K, N, L>(self.maps.clone()))
    }
}

struct FrozenMaps<K: Key, N: Namespace, L: Layout<K, N>>(Vec<Arc<Map<K, N, L::Stored>>>);

impl<K: Key, N: Namespace, L: Layout<K, N>> FrozenTable for FrozenMaps<K, N, L> {
    fn write_key_group(&self, idx: usize, out: &mut CanonicalWriter, buf: &mut Vec<u8>) -> Result<(), StateError> {
        let Some(map) = self.0.get(idx) else { return Ok(()) };
        for (k, v) in map.iter() {
            L::write(k, v, out, buf)?;
        }
        Ok(())
    }
}

struct Slot<K: Key> {
    name: String,
    schema: Schema,
    table: Box<dyn ErasedTable<K>>,
}

/// A state's restored blocks: the schema it was written with, and `(file, key group, entries)`.
type RestoredBlocks = (String, Vec<(String, u32, RestoredEntries)>);

/// The hashmap keyed-state backend.
///
/// ```
/// use weir_state::{HashMapBackend, KeyGroupRange, KeyedStateBackend};
/// let mut b = HashMapBackend::<String>::new(KeyGroupRange::new(0, 63));
/// let id = b.register::<(), u32>("n").unwrap();
/// b.put(&id, 5, &"a".to_string(), &(), 1).unwrap();
/// assert_eq!(b.get(&id, 5, &"a".to_string(), &()).unwrap(), Some(1));
/// ```
pub struct HashMapBackend<K: Key> {
    range: KeyGroupRange,
    slots: Vec<Slot<K>>,
    timers: Vec<Arc<TimerMap<K>>>,
    /// Restored blocks not yet claimed by a `register`: name -> (kg, bytes).
    restored: StdHashMap<String, RestoredBlocks>,
}

impl<K: Key> HashMapBackend<K> {
    /// An empty backend for the key groups in `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        let n = range.len();
        HashMapBackend {
            range,
            slots: Vec::new(),
            timers: (0..n).map(|_| Arc::new(TimerMap::default())).collect(),
            restored: StdHashMap::new(),
        }
    }

    #[inline]
    fn index(&self, kg: u32) -> Result<usize, StateError> {
        crate::key_group::index_in(self.range, kg)
    }

    #[inline]
    fn table<N: Namespace, L: Layout<K, N>>(&mut self, index: usize) -> Result<&mut Table<K, N, L>, StateError> {
        self.slots.get_mut(index).and_then(|s| s.table.as_any_mut().downcast_mut::<Table<K, N, L>>()).ok_or(StateError::UnknownState(index))
    }

    /// The map of key group `kg` of table `index`, to read.
    #[inline]
    fn map_ref<N: Namespace, L: Layout<K, N>>(&mut self, index: usize, kg: u32) -> Result<&Map<K, N, L::Stored>, StateError> {
        let idx = self.index(kg)?;
        let table = self.table::<N, L>(index)?;
        table.maps.get(idx).map(|m| &**m).ok_or(StateError::UnknownState(index))
    }

    /// The map of key group `kg` of table `index`, to change (copied first if a snapshot holds it).
    #[inline]
    fn map_mut<N: Namespace, L: Layout<K, N>>(&mut self, index: usize, kg: u32) -> Result<&mut Map<K, N, L::Stored>, StateError> {
        let idx = self.index(kg)?;
        let table = self.table::<N, L>(index)?;
        let map = table.maps.get_mut(idx).ok_or(StateError::UnknownState(index))?;
        Ok(Arc::make_mut(map))
    }

    /// Registers a table of layout `L`: the existing one of the same name
    /// and schema, or a new one holding what was restored under the name.
    fn register_table<N: Namespace, UK: UserKey, V: StateValue, L: Layout<K, N>>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<usize, StateError> {
        let reader = Reader::<K, N, UK, V>::new(kind, state);
        let schema = reader.schema();
        let name = state.name();
        if let Some(i) = schema.find_registered(name, self.slots.iter().map(|s| (s.name.as_str(), &s.schema)))? {
            return Ok(i);
        }
        let n = self.range.len();
        let mut maps: Vec<Map<K, N, L::Stored>> = (0..n).map(|_| HashMap::new()).collect();
        // Every block is checked before any is taken: a refused state stays unclaimed.
        if let Some((written, blocks)) = self.restored.get(name) {
            for (_, _, entries) in blocks {
                let format = match entries {
                    RestoredEntries::V1(_) => ValueFormat::LEGACY,
                    RestoredEntries::Framed(_, f) => *f,
                };
                reader.plan(written, format)?;
            }
        }
        if let Some((written, blocks)) = self.restored.remove(name) {
            for (file, kg, entries) in blocks {
                let map = &mut maps[self.index(kg)?];
                let at = canonical::At { file: &file, key_group: kg };
                let mut add = |k: &[u8], v: &[u8]| L::read(map, k, v).map_err(|e| at.corrupt(format!("state '{name}': {e}")));
                match entries {
                    RestoredEntries::V1(bytes) => reader.convert_v1(&bytes, &mut add)?,
                    RestoredEntries::Framed(raw, format) => {
                        let plan = reader.plan(&written, format)?;
                        for entry in canonical::entries(&raw) {
                            let (k, v) = entry.map_err(|e| at.corrupt(format!("state '{name}': {e}")))?;
                            reader.convert(&plan, k, v, &mut add)?;
                        }
                    }
                }
            }
        }
        self.slots.push(Slot {
            name: name.to_string(),
            schema,
            table: Box::new(Table::<K, N, L> { maps: maps.into_iter().map(Arc::new).collect() }),
        });
        Ok(self.slots.len() - 1)
    }

    /// Names of the restored states that no `register` has claimed yet.
    pub fn unclaimed_restored_states(&self) -> Vec<String> {
        let mut v: Vec<String> = self.restored.keys().cloned().collect();
        v.sort();
        v
    }
}

impl<K: Key> KeyedStateBackend<K> for HashMapBackend<K> {
    fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    fn register_state<N: Namespace, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<StateId<N, V>, StateError> {
        self.register_table::<N, (), V, Values<V>>(state, kind).map(StateId::new)
    }

    #[inline]
    fn get<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        Ok(self.map_ref::<N, Values<V>>(id.index(), kg)?.get(&Lookup(key, ns)).cloned())
    }

    #[inline]
    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        let map = self.map_mut::<N, Values<V>>(id.index(), kg)?;
        match map.get_mut(&Lookup(key, ns)) {
            Some(v) => *v = value,
            None => {
                map.insert((key.clone(), ns.clone()), value);
            }
        }
        Ok(())
    }

    #[inline]
    fn remove<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        if !self.map_ref::<N, Values<V>>(id.index(), kg)?.contains_key(&Lookup(key, ns)) {
            return Ok(None);
        }
        Ok(self.map_mut::<N, Values<V>>(id.index(), kg)?.remove(&Lookup(key, ns)))
    }

    #[inline]
    fn upsert<N: Namespace, V: StateValue, X>(
        &mut self,
        id: &StateId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        input: X,
        init: impl FnOnce(X) -> V,
        update: impl FnOnce(&mut V, X),
    ) -> Result<bool, StateError> {
        let map = self.map_mut::<N, Values<V>>(id.index(), kg)?;
        if let Some(v) = map.get_mut(&Lookup(key, ns)) {
            update(v, input);
            return Ok(false);
        }
        map.insert((key.clone(), ns.clone()), init(input));
        Ok(true)
    }

    fn register_list<N: Namespace, V: StateValue>(&mut self, state: &StateDescriptor<V>) -> Result<ListId<N, V>, StateError> {
        self.register_table::<N, (), V, Lists<V>>(state, StateKind::List).map(ListId::new)
    }

    #[inline]
    fn list_add<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        let map = self.map_mut::<N, Lists<V>>(id.index(), kg)?;
        match map.get_mut(&Lookup(key, ns)) {
            Some(list) => list.push(value),
            None => {
                map.insert((key.clone(), ns.clone()), vec![value]);
            }
        }
        Ok(())
    }

    fn list_for_each<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        if let Some(list) = self.map_ref::<N, Lists<V>>(id.index(), kg)?.get(&Lookup(key, ns)) {
            for v in list {
                f(v.clone())?;
            }
        }
        Ok(())
    }

    fn list_clear<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N) -> Result<(), StateError> {
        if self.map_ref::<N, Lists<V>>(id.index(), kg)?.contains_key(&Lookup(key, ns)) {
            self.map_mut::<N, Lists<V>>(id.index(), kg)?.remove(&Lookup(key, ns));
        }
        Ok(())
    }

    fn register_map<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
    ) -> Result<MapId<N, UK, V>, StateError> {
        self.register_table::<N, UK, V, Maps<UK, V>>(state, StateKind::Map).map(MapId::new)
    }

    #[inline]
    fn map_get<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        Ok(self.map_ref::<N, Maps<UK, V>>(id.index(), kg)?.get(&Lookup(key, ns)).and_then(|m| m.get(user_key)).cloned())
    }

    #[inline]
    fn map_put<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: UK,
        value: V,
    ) -> Result<(), StateError> {
        let map = self.map_mut::<N, Maps<UK, V>>(id.index(), kg)?;
        match map.get_mut(&Lookup(key, ns)) {
            Some(m) => {
                m.insert(user_key, value);
            }
            None => {
                let mut m = FxHashMap::default();
                m.insert(user_key, value);
                map.insert((key.clone(), ns.clone()), m);
            }
        }
        Ok(())
    }

    #[inline]
    fn map_remove<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        let present = self.map_ref::<N, Maps<UK, V>>(id.index(), kg)?.get(&Lookup(key, ns)).is_some_and(|m| m.contains_key(user_key));
        if !present {
            return Ok(None);
        }
        let map = self.map_mut::<N, Maps<UK, V>>(id.index(), kg)?;
        let Some(m) = map.get_mut(&Lookup(key, ns)) else { return Ok(None) };
        let removed = m.remove(user_key);
        if m.is_empty() {
            map.remove(&Lookup(key, ns));
        }
        Ok(removed)
    }

    fn map_for_each<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(UK, V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        if let Some(m) = self.map_ref::<N, Maps<UK, V>>(id.index(), kg)?.get(&Lookup(key, ns)) {
            for (uk, v) in m {
                f(uk.clone(), v.clone())?;
            }
        }
        Ok(())
    }

    fn map_clear<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError> {
        if self.map_ref::<N, Maps<UK, V>>(id.index(), kg)?.contains_key(&Lookup(key, ns)) {
            self.map_mut::<N, Maps<UK, V>>(id.index(), kg)?.remove(&Lookup(key, ns));
        }
        Ok(())
    }

    fn register_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        let idx = self.index(kg)?;
        if let Some(t) = self.timers.get_mut(idx) {
            Arc::make_mut(t).insert(key, namespace, timestamp);
        }
        Ok(())
    }

    fn delete_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        let idx = self.index(kg)?;
        if let Some(t) = self.timers.get_mut(idx) {
            Arc::make_mut(t).remove(key, namespace, timestamp);
        }
        Ok(())
    }

    fn pop_timers(&mut self, watermark: i64, out: &mut Vec<Timer<K>>) -> Result<(), StateError> {
        let start = out.len();
        for (i, t) in self.timers.iter_mut().enumerate() {
            if t.first_time().is_some_and(|first| first <= watermark) {
                Arc::make_mut(t).pop_until(watermark, self.range.start + i as u32, out);
            }
        }
        out[start..].sort_by_key(|t| t.timestamp);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        Ok(Box::new(HashMapSnapshot {
            range: self.range,
            tables: self.slots.iter().map(|s| (s.name.clone(), s.schema.to_json(), s.table.freeze())).collect(),
            timers: self.timers.clone(),
        }))
    }

    fn snapshot_canonical(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        // The hashmap backend's snapshots are canonical.
        self.snapshot()
    }

    fn restore(&mut self, files: Vec<RestoredFile>) -> Result<(), StateError> {
        let loaded = canonical::load(&files, self.range)?;
        let mut buf = Vec::new();
        loaded.blocks(self.range, |at, bytes| {
            let kg = at.key_group;
            let idx = self.index(kg)?;
            let mut add = |name: &str, type_name: &str, entries: RestoredEntries| -> Result<(), StateError> {
                // A state is recorded with one schema in every block (its format may differ).
                let slot = self.restored.entry(name.to_string()).or_insert_with(|| (type_name.to_string(), Vec::new()));
                if slot.0 != type_name {
                    return Err(at.corrupt(format!("state '{name}' is written as {type_name} here and as {} before", slot.0)));
                }
                slot.1.push((at.file.to_string(), kg, entries));
                Ok(())
            };
            let mut timers: Vec<(i64, K, i64)> = Vec::new();
            match canonical::parse_block(at, bytes)? {
                Parsed::V1(block) => {
                    for (name, type_name, entries) in block.tables {
                        add(&name, &type_name, RestoredEntries::V1(entries))?;
                    }
                    timers = codec::decode(ValueFormat::LEGACY, &block.timers).map_err(|e| at.corrupt(format!("timers: {e}")))?;
                }
                Parsed::V2(sections) => {
                    for section in sections {
                        match section {
                            Section::State { name, type_name, format, chunks, .. } => {
                                let mut raw = Vec::new();
                                chunks.decompress_all(at, &mut raw)?;
                                add(name, type_name, RestoredEntries::Framed(raw, format))?;
                            }
                            Section::Timers(format, chunks) => chunks.for_each(at, &mut buf, |raw| {
                                for timer in canonical::timers(raw) {
                                    let (ts, tail) = timer.map_err(|e| at.corrupt(format!("timers: {e}")))?;
                                    let (key, ns): (K, i64) =
                                        codec::decode(format, tail).map_err(|e| at.corrupt(format!("timers: {e}")))?;
                                    timers.push((canonical::ts_from_bytes(ts), key, ns));
                                }
                                Ok(())
                            })?,
                        }
                    }
                }
            }
            if let Some(map) = self.timers.get_mut(idx) {
                let map = Arc::make_mut(map);
                for (ts, key, ns) in timers {
                    map.insert(&key, ns, ts);
                }
            }
            Ok(())
        })
    }
}

struct HashMapSnapshot<K: Key> {
    range: KeyGroupRange,
    tables: Vec<(String, String, Box<dyn FrozenTable>)>,
    timers: Vec<Arc<TimerMap<K>>>,
}

impl<K: Key> StateSnapshot for HashMapSnapshot<K> {
    fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
        let mut file = CanonicalWriter::default();
        let mut scratch = Vec::new();
        for (i, kg) in self.range.iter().enumerate() {
            file.begin_block(kg)?;
            for (name, schema, table) in &self.tables {
                file.begin_state(name, schema, ValueFormat::CURRENT, false)?;
                table.write_key_group(i, &mut file, &mut scratch)?;
            }
            file.begin_timers()?;
            for (ts, key, ns) in self.timers.get(i).filter(|t| !t.is_empty()).map(|t| t.entries()).unwrap_or_default() {
                scratch.clear();
                codec::encode_into(&(key, ns), &mut scratch)?;
                file.push_timer(canonical::ts_bytes(ts), &scratch)?;
            }
        }
        file.finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn make(range: KeyGroupRange) -> HashMapBackend<u64> {
        HashMapBackend::new(range)
    }

    #[test]
    fn conformance() {
        crate::conformance::run_all(|range| crate::Backend::from(make(range)));
    }

    #[test]
    fn snapshot_is_unaffected_by_later_writes() {
        let mut b = make(KeyGroupRange::new(0, 0));
        let id = b.register::<(), u64>("v").unwrap();
        b.put(&id, 0, &1, &(), 10).unwrap();
        let snap = b.snapshot().unwrap();
        b.put(&id, 0, &1, &(), 20).unwrap();
        let files = snap.write().unwrap();
        let mut restored = make(KeyGroupRange::new(0, 0));
        restored.restore(crate::conformance::to_restored(files)).unwrap();
        let id2 = restored.register::<(), u64>("v").unwrap();
        assert_eq!(restored.get(&id2, 0, &1, &()).unwrap(), Some(10));
        assert_eq!(b.get(&id, 0, &1, &()).unwrap(), Some(20));
    }
}
