//! The backend a job runs with, chosen at run time without dynamic dispatch.

use std::fmt;
use std::str::FromStr;

use crate::{
    HashMapBackend, Key, KeyGroupRange, KeyedStateBackend, ListId, MapId, Namespace, RestoredFile, RocksDbBackend, RocksDbConfig,
    StateDescriptor, StateError, StateId, StateKind, StateSnapshot, StateValue, Timer, UserKey,
};

/// Which keyed-state backend a job uses (`--state-backend`).
///
/// ```
/// use weir_state::BackendKind;
/// assert_eq!("hashmap".parse::<BackendKind>().unwrap(), BackendKind::HashMap);
/// assert!("leveldb".parse::<BackendKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// State in memory, as typed hash maps per key group.
    #[default]
    HashMap,
    /// State in RocksDB on the local disk.
    RocksDb,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::HashMap => "hashmap",
            BackendKind::RocksDb => "rocksdb",
        })
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hashmap" => Ok(BackendKind::HashMap),
            "rocksdb" => Ok(BackendKind::RocksDb),
            other => Err(format!("unknown state backend '{other}' (expected hashmap or rocksdb)")),
        }
    }
}

/// A keyed-state backend of any kind. Operators hold this concrete type, so
/// every state access is a direct call behind one predictable branch.
pub enum Backend<K: Key> {
    /// The hashmap backend.
    HashMap(HashMapBackend<K>),
    /// The RocksDB backend.
    RocksDb(Box<RocksDbBackend<K>>),
}

impl<K: Key> From<RocksDbBackend<K>> for Backend<K> {
    fn from(b: RocksDbBackend<K>) -> Self {
        Backend::RocksDb(Box::new(b))
    }
}

impl<K: Key> From<HashMapBackend<K>> for Backend<K> {
    fn from(b: HashMapBackend<K>) -> Self {
        Backend::HashMap(b)
    }
}

impl<K: Key> Backend<K> {
    /// A new, empty backend of `kind` for `range`; a RocksDB backend keeps
    /// its files in `dir` and shares `memory_bytes` with the process's others.
    pub fn new(kind: BackendKind, range: KeyGroupRange, dir: &std::path::Path, memory_bytes: u64) -> Result<Self, StateError> {
        match kind {
            BackendKind::HashMap => Ok(Backend::HashMap(HashMapBackend::new(range))),
            BackendKind::RocksDb => Ok(RocksDbBackend::open(&RocksDbConfig::new(dir, memory_bytes), range)?.into()),
        }
    }

    /// A backend of `kind` for `range` holding the key groups of `range`
    /// from the restored `files`; a RocksDB backend (files in `dir`) opens
    /// its database once, taking over one prepared for these files
    /// ([`crate::prepare_rocksdb_restore`]) if there is one.
    pub fn restored(
        kind: BackendKind,
        range: KeyGroupRange,
        dir: &std::path::Path,
        memory_bytes: u64,
        files: Vec<RestoredFile>,
    ) -> Result<Self, StateError> {
        match kind {
            BackendKind::HashMap => {
                let mut b = HashMapBackend::new(range);
                b.restore(files)?;
                Ok(Backend::HashMap(b))
            }
            BackendKind::RocksDb => Ok(RocksDbBackend::open_restored(&RocksDbConfig::new(dir, memory_bytes), range, files)?.into()),
        }
    }

    /// Names of restored states that the job did not register (state of
    /// operators or states the job no longer has).
    pub fn unclaimed_restored_states(&self) -> Vec<String> {
        match self {
            Backend::HashMap(b) => b.unclaimed_restored_states(),
            Backend::RocksDb(b) => b.unclaimed_restored_states(),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Backend::HashMap($b) => $e,
            Backend::RocksDb($b) => $e,
        }
    };
}

impl<K: Key> KeyedStateBackend<K> for Backend<K> {
    fn key_group_range(&self) -> KeyGroupRange {
        delegate!(self, b => b.key_group_range())
    }
    fn register_state<N: Namespace, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<StateId<N, V>, StateError> {
        delegate!(self, b => b.register_state(state, kind))
    }
    fn register_list<N: Namespace, V: StateValue>(&mut self, state: &StateDescriptor<V>) -> Result<ListId<N, V>, StateError> {
        delegate!(self, b => b.register_list(state))
    }
    #[inline]
    fn list_add<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        delegate!(self, b => b.list_add(id, kg, key, ns, value))
    }
    fn list_for_each<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        delegate!(self, b => b.list_for_each(id, kg, key, ns, f))
    }
    fn list_clear<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N) -> Result<(), StateError> {
        delegate!(self, b => b.list_clear(id, kg, key, ns))
    }
    fn register_map<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
    ) -> Result<MapId<N, UK, V>, StateError> {
        delegate!(self, b => b.register_map(state))
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
        delegate!(self, b => b.map_get(id, kg, key, ns, user_key))
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
        delegate!(self, b => b.map_put(id, kg, key, ns, user_key, value))
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
        delegate!(self, b => b.map_remove(id, kg, key, ns, user_key))
    }
    fn map_for_each<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(UK, V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        delegate!(self, b => b.map_for_each(id, kg, key, ns, f))
    }
    fn map_clear<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError> {
        delegate!(self, b => b.map_clear(id, kg, key, ns))
    }
    #[inline]
    fn get<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        delegate!(self, b => b.get(id, kg, key, ns))
    }
    #[inline]
    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        delegate!(self, b => b.put(id, kg, key, ns, value))
    }
    #[inline]
    fn remove<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        delegate!(self, b => b.remove(id, kg, key, ns))
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
        delegate!(self, b => b.upsert(id, kg, key, ns, input, init, update))
    }
    fn register_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        delegate!(self, b => b.register_timer(kg, key, namespace, timestamp))
    }
    fn delete_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        delegate!(self, b => b.delete_timer(kg, key, namespace, timestamp))
    }
    fn pop_timers(&mut self, watermark: i64, out: &mut Vec<Timer<K>>) -> Result<(), StateError> {
        delegate!(self, b => b.pop_timers(watermark, out))
    }
    fn snapshot(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        delegate!(self, b => b.snapshot())
    }
    fn snapshot_canonical(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        delegate!(self, b => b.snapshot_canonical())
    }
    fn restore(&mut self, files: Vec<RestoredFile>) -> Result<(), StateError> {
        delegate!(self, b => b.restore(files))
    }
}
