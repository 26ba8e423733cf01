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
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};
use weir_checkpoint::codec;

use crate::canonical::{self, CanonicalWriter, Parsed, RestoredEntries, Section};
use crate::timers::TimerMap;
use crate::{
    Key, KeyGroupRange, KeyedStateBackend, Namespace, RestoredFile, SnapshotFile, StateError, StateId, StateSnapshot, StateValue, Timer,
};

type Map<K, N, V> = HashMap<(K, N), V>;

/// A borrowed `(key, namespace)` that looks up an owned one without cloning.
#[derive(Hash)]
struct Lookup<'a, K, N>(&'a K, &'a N);

impl<K: Eq, N: Eq> Equivalent<(K, N)> for Lookup<'_, K, N> {
    fn equivalent(&self, other: &(K, N)) -> bool {
        self.0 == &other.0 && self.1 == &other.1
    }
}

struct Table<K: Key, N: Namespace, V: StateValue> {
    maps: Vec<Arc<Map<K, N, V>>>,
}

trait ErasedTable<K: Key>: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn freeze(&self) -> Box<dyn FrozenTable>;
}

trait FrozenTable: Send {
    /// Writes the entries of key group index `idx` into the open section of `out`.
    fn write_key_group(&self, idx: usize, out: &mut CanonicalWriter) -> Result<(), StateError>;
}

impl<K: Key, N: Namespace, V: StateValue> ErasedTable<K> for Table<K, N, V> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn freeze(&self) -> Box<dyn FrozenTable> {
        Box::new(FrozenMaps(self.maps.clone()))
    }
}

struct FrozenMaps<K, N, V>(Vec<Arc<Map<K, N, V>>>);

impl<K: Key, N: Namespace, V: StateValue> FrozenTable for FrozenMaps<K, N, V> {
    fn write_key_group(&self, idx: usize, out: &mut CanonicalWriter) -> Result<(), StateError> {
        let Some(map) = self.0.get(idx) else { return Ok(()) };
        for (k, v) in map.iter() {
            out.push_encoded(k, v)?;
        }
        Ok(())
    }
}

struct Slot<K: Key> {
    name: String,
    type_name: &'static str,
    table: Box<dyn ErasedTable<K>>,
}

/// A state's restored blocks: the type it was written as, and `(file, key group, entries)`.
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
    fn table<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>) -> Result<&mut Table<K, N, V>, StateError> {
        self.slots
            .get_mut(id.index())
            .and_then(|s| s.table.as_any_mut().downcast_mut::<Table<K, N, V>>())
            .ok_or(StateError::UnknownState(id.index()))
    }

    #[inline]
    fn map<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32) -> Result<&mut Map<K, N, V>, StateError> {
        let idx = self.index(kg)?;
        let table = self.table(id)?;
        let map = table.maps.get_mut(idx).ok_or(StateError::UnknownState(id.index()))?;
        Ok(Arc::make_mut(map))
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

    fn register<N: Namespace, V: StateValue>(&mut self, name: &str) -> Result<StateId<N, V>, StateError> {
        let requested = std::any::type_name::<(N, V)>();
        if let Some(i) = self.slots.iter().position(|s| s.name == name) {
            let existing = self.slots[i].type_name;
            if existing != requested {
                return Err(StateError::TypeConflict { name: name.to_string(), existing, requested });
            }
            return Ok(StateId::new(i));
        }
        let n = self.range.len();
        let mut maps: Vec<Map<K, N, V>> = (0..n).map(|_| HashMap::new()).collect();
        // Encoded bytes do not always reveal a changed type (a string decodes
        // as a list of small integers), so the declared types must match.
        if let Some((written_as, _)) = self.restored.get(name) {
            if written_as != requested {
                return Err(StateError::IncompatibleState {
                    name: name.to_string(),
                    requested,
                    reason: format!("the checkpoint holds it as {written_as}"),
                });
            }
        }
        if let Some((written_as, blocks)) = self.restored.remove(name) {
            let incompatible = |e: weir_checkpoint::CodecError| StateError::IncompatibleState {
                name: name.to_string(),
                requested,
                reason: format!("written as {written_as}: {e}"),
            };
            for (file, kg, entries) in blocks {
                let map = &mut maps[self.index(kg)?];
                match entries {
                    RestoredEntries::V1(bytes) => {
                        let entries: Vec<((K, N), V)> = codec::decode(&bytes).map_err(incompatible)?;
                        map.extend(entries);
                    }
                    RestoredEntries::V2(raw) => {
                        let at = canonical::At { file: &file, key_group: kg };
                        for entry in canonical::entries(&raw) {
                            let (k, v) = entry.map_err(|e| at.corrupt(format!("state '{name}': {e}")))?;
                            map.insert(codec::decode(k).map_err(incompatible)?, codec::decode(v).map_err(incompatible)?);
                        }
                    }
                }
            }
        }
        self.slots.push(Slot {
            name: name.to_string(),
            type_name: requested,
            table: Box::new(Table { maps: maps.into_iter().map(Arc::new).collect() }),
        });
        Ok(StateId::new(self.slots.len() - 1))
    }

    #[inline]
    fn get<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        let idx = self.index(kg)?;
        let table = self.table(id)?;
        Ok(table.maps.get(idx).and_then(|m| m.get(&Lookup(key, ns))).cloned())
    }

    #[inline]
    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        let map = self.map(id, kg)?;
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
        let idx = self.index(kg)?;
        let table = self.table(id)?;
        let Some(map) = table.maps.get_mut(idx) else { return Ok(None) };
        if !map.contains_key(&Lookup(key, ns)) {
            return Ok(None);
        }
        Ok(Arc::make_mut(map).remove(&Lookup(key, ns)))
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
        let map = self.map(id, kg)?;
        if let Some(v) = map.get_mut(&Lookup(key, ns)) {
            update(v, input);
            return Ok(false);
        }
        map.insert((key.clone(), ns.clone()), init(input));
        Ok(true)
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
            tables: self.slots.iter().map(|s| (s.name.clone(), s.type_name, s.table.freeze())).collect(),
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
                    timers = codec::decode(&block.timers).map_err(|e| at.corrupt(format!("timers: {e}")))?;
                }
                Parsed::V2(sections) => {
                    for section in sections {
                        match section {
                            Section::State { name, type_name, chunks, .. } => {
                                let mut raw = Vec::new();
                                chunks.decompress_all(at, &mut raw)?;
                                add(name, type_name, RestoredEntries::V2(raw))?;
                            }
                            Section::Timers(chunks) => chunks.for_each(at, &mut buf, |raw| {
                                for timer in canonical::timers(raw) {
                                    let (ts, tail) = timer.map_err(|e| at.corrupt(format!("timers: {e}")))?;
                                    let (key, ns): (K, i64) = codec::decode(tail).map_err(|e| at.corrupt(format!("timers: {e}")))?;
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
    tables: Vec<(String, &'static str, Box<dyn FrozenTable>)>,
    timers: Vec<Arc<TimerMap<K>>>,
}

impl<K: Key> StateSnapshot for HashMapSnapshot<K> {
    fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
        let mut file = CanonicalWriter::default();
        let mut scratch = Vec::new();
        for (i, kg) in self.range.iter().enumerate() {
            file.begin_block(kg)?;
            for (name, type_name, table) in &self.tables {
                file.begin_state(name, type_name, false)?;
                table.write_key_group(i, &mut file)?;
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
