//! The state handles user functions declare: value, list, map and reducing state.

use std::marker::PhantomData;

use crate::{Backend, Key, KeyedStateBackend, ListId, MapId, StateDescriptor, StateError, StateId, StateKind, StateValue, UserKey};

/// Access to the keyed state of one key: the backend, the key and its key group.
/// Operators create it for the record (or timer) being processed.
pub struct KeyedState<'a, K: Key> {
    backend: &'a mut Backend<K>,
    key_group: u32,
    key: &'a K,
}

impl<'a, K: Key> KeyedState<'a, K> {
    /// State of `key` (in key group `key_group`) in `backend`.
    pub fn new(backend: &'a mut Backend<K>, key_group: u32, key: &'a K) -> Self {
        KeyedState { backend, key_group, key }
    }
    /// The current key.
    pub fn key(&self) -> &K {
        self.key
    }
}

/// A single value per key.
///
/// ```
/// # use weir_state::*;
/// let mut b: Backend<u64> = HashMapBackend::new(KeyGroupRange::new(0, 0)).into();
/// let last: ValueState<String> = ValueState::register(&mut b, "last").unwrap();
/// let mut s = KeyedState::new(&mut b, 0, &3);
/// last.set(&mut s, "x".into()).unwrap();
/// assert_eq!(last.get(&mut s).unwrap().as_deref(), Some("x"));
/// last.clear(&mut s).unwrap();
/// assert_eq!(last.get(&mut s).unwrap(), None);
/// ```
#[derive(Debug)]
pub struct ValueState<V> {
    id: StateId<(), V>,
}
impl<V> Clone for ValueState<V> {
    fn clone(&self) -> Self {
        ValueState { id: self.id }
    }
}

impl<V: StateValue> ValueState<V> {
    /// Declares the state in `backend`: a name, or a [`StateDescriptor`] with migrations.
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<V>>) -> Result<Self, StateError> {
        Ok(ValueState { id: backend.register_state(&state.into(), StateKind::Value)? })
    }
    /// The current key's value.
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<Option<V>, StateError> {
        s.backend.get(&self.id, s.key_group, s.key, &())
    }
    /// Sets the current key's value.
    pub fn set<K: Key>(&self, s: &mut KeyedState<'_, K>, value: V) -> Result<(), StateError> {
        s.backend.put(&self.id, s.key_group, s.key, &(), value)
    }
    /// Removes the current key's value.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<(), StateError> {
        s.backend.remove(&self.id, s.key_group, s.key, &()).map(|_| ())
    }
    /// Changes the current key's value in place (created with `init` first if absent).
    pub fn update<K: Key>(&self, s: &mut KeyedState<'_, K>, init: impl FnOnce() -> V, f: impl FnOnce(&mut V)) -> Result<(), StateError> {
        s.backend
            .upsert(
                &self.id,
                s.key_group,
                s.key,
                &(),
                f,
                |f| {
                    let mut v = init();
                    f(&mut v);
                    v
                },
                |v, f| f(v),
            )
            .map(|_| ())
    }
}

/// A list of values per key. Adding a value does not read the list (RocksDB
/// appends it with a merge), and reading streams the elements.
///
/// ```
/// # use weir_state::*;
/// let mut b: Backend<u64> = HashMapBackend::new(KeyGroupRange::new(0, 0)).into();
/// let seen: ListState<u32> = ListState::register(&mut b, "seen").unwrap();
/// let mut s = KeyedState::new(&mut b, 0, &1);
/// seen.add(&mut s, 4).unwrap();
/// seen.add(&mut s, 5).unwrap();
/// assert_eq!(seen.get(&mut s).unwrap(), vec![4, 5]);
/// ```
#[derive(Debug)]
pub struct ListState<V> {
    id: ListId<(), V>,
}
impl<V> Clone for ListState<V> {
    fn clone(&self) -> Self {
        ListState { id: self.id }
    }
}

impl<V: StateValue> ListState<V> {
    /// Declares the state in `backend`: a name, or a [`StateDescriptor`] with migrations (of the element type).
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<V>>) -> Result<Self, StateError> {
        Ok(ListState { id: backend.register_list(&state.into())? })
    }
    /// The current key's list (empty when there is none).
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<Vec<V>, StateError> {
        let mut out = Vec::new();
        self.for_each(s, |v| {
            out.push(v);
            Ok(())
        })?;
        Ok(out)
    }
    /// Calls `f` with each element of the current key's list, oldest first,
    /// without building the list.
    pub fn for_each<K: Key>(&self, s: &mut KeyedState<'_, K>, mut f: impl FnMut(V) -> Result<(), StateError>) -> Result<(), StateError> {
        s.backend.list_for_each(&self.id, s.key_group, s.key, &(), &mut f)
    }
    /// Appends a value to the current key's list.
    pub fn add<K: Key>(&self, s: &mut KeyedState<'_, K>, value: V) -> Result<(), StateError> {
        s.backend.list_add(&self.id, s.key_group, s.key, &(), value)
    }
    /// Replaces the current key's list.
    pub fn set<K: Key>(&self, s: &mut KeyedState<'_, K>, values: Vec<V>) -> Result<(), StateError> {
        s.backend.list_clear(&self.id, s.key_group, s.key, &())?;
        for v in values {
            s.backend.list_add(&self.id, s.key_group, s.key, &(), v)?;
        }
        Ok(())
    }
    /// Removes the current key's list.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<(), StateError> {
        s.backend.list_clear(&self.id, s.key_group, s.key, &())
    }
}

/// A map from user keys to values, per key. Each entry is stored on its
/// own: reading or writing one entry touches that entry only.
///
/// ```
/// # use weir_state::*;
/// let mut b: Backend<u64> = HashMapBackend::new(KeyGroupRange::new(0, 0)).into();
/// let by_page: MapState<String, u64> = MapState::register(&mut b, "pages").unwrap();
/// let mut s = KeyedState::new(&mut b, 0, &1);
/// by_page.put(&mut s, "/".into(), 2).unwrap();
/// assert_eq!(by_page.get(&mut s, &"/".to_string()).unwrap(), Some(2));
/// assert!(by_page.contains(&mut s, &"/".to_string()).unwrap());
/// assert_eq!(by_page.entries(&mut s).unwrap().len(), 1);
/// ```
#[derive(Debug)]
pub struct MapState<UK, UV> {
    id: MapId<(), UK, UV>,
}
impl<UK, UV> Clone for MapState<UK, UV> {
    fn clone(&self) -> Self {
        MapState { id: self.id }
    }
}

impl<UK: UserKey, UV: StateValue> MapState<UK, UV> {
    /// Declares the state in `backend`: a name, or a [`StateDescriptor`] with migrations (of the value type).
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<UV>>) -> Result<Self, StateError> {
        Ok(MapState { id: backend.register_map(&state.into())? })
    }
    /// The value under `user_key` for the current key.
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K>, user_key: &UK) -> Result<Option<UV>, StateError> {
        s.backend.map_get(&self.id, s.key_group, s.key, &(), user_key)
    }
    /// Whether the current key's map has `user_key`.
    pub fn contains<K: Key>(&self, s: &mut KeyedState<'_, K>, user_key: &UK) -> Result<bool, StateError> {
        Ok(self.get(s, user_key)?.is_some())
    }
    /// Stores `value` under `user_key` for the current key.
    pub fn put<K: Key>(&self, s: &mut KeyedState<'_, K>, user_key: UK, value: UV) -> Result<(), StateError> {
        s.backend.map_put(&self.id, s.key_group, s.key, &(), user_key, value)
    }
    /// Removes `user_key` for the current key.
    pub fn remove<K: Key>(&self, s: &mut KeyedState<'_, K>, user_key: &UK) -> Result<Option<UV>, StateError> {
        s.backend.map_remove(&self.id, s.key_group, s.key, &(), user_key)
    }
    /// Calls `f` with every entry of the current key's map, without building it.
    pub fn for_each<K: Key>(
        &self,
        s: &mut KeyedState<'_, K>,
        mut f: impl FnMut(UK, UV) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        s.backend.map_for_each(&self.id, s.key_group, s.key, &(), &mut f)
    }
    /// Every entry of the current key's map.
    pub fn entries<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<Vec<(UK, UV)>, StateError> {
        let mut out = Vec::new();
        self.for_each(s, |k, v| {
            out.push((k, v));
            Ok(())
        })?;
        Ok(out)
    }
    /// Removes the current key's whole map.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<(), StateError> {
        s.backend.map_clear(&self.id, s.key_group, s.key, &())
    }
}

/// A value per key that every added value is folded into with a reduce function.
///
/// ```
/// # use weir_state::*;
/// let mut b: Backend<u64> = HashMapBackend::new(KeyGroupRange::new(0, 0)).into();
/// let max: ReducingState<i64, fn(i64, i64) -> i64> = ReducingState::register(&mut b, "max", (|a: i64, b: i64| a.max(b)) as fn(i64, i64) -> i64).unwrap();
/// let mut s = KeyedState::new(&mut b, 0, &1);
/// max.add(&mut s, 3).unwrap();
/// max.add(&mut s, 9).unwrap();
/// max.add(&mut s, 4).unwrap();
/// assert_eq!(max.get(&mut s).unwrap(), Some(9));
/// ```
pub struct ReducingState<V, F> {
    id: StateId<(), V>,
    reduce: F,
    _v: PhantomData<fn() -> V>,
}
impl<V, F: Clone> Clone for ReducingState<V, F> {
    fn clone(&self) -> Self {
        ReducingState { id: self.id, reduce: self.reduce.clone(), _v: PhantomData }
    }
}

impl<V: StateValue, F: Fn(V, V) -> V> ReducingState<V, F> {
    /// Declares the state in `backend` (a name, or a [`StateDescriptor`]), folded with `reduce`.
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<V>>, reduce: F) -> Result<Self, StateError> {
        Ok(ReducingState { id: backend.register_state(&state.into(), StateKind::Reducing)?, reduce, _v: PhantomData })
    }
    /// The current key's reduced value.
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<Option<V>, StateError> {
        s.backend.get(&self.id, s.key_group, s.key, &())
    }
    /// Folds `value` into the current key's value.
    pub fn add<K: Key>(&self, s: &mut KeyedState<'_, K>, value: V) -> Result<(), StateError> {
        let next = match s.backend.get(&self.id, s.key_group, s.key, &())? {
            Some(acc) => (self.reduce)(acc, value),
            None => value,
        };
        s.backend.put(&self.id, s.key_group, s.key, &(), next)
    }
    /// Removes the current key's value.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K>) -> Result<(), StateError> {
        s.backend.remove(&self.id, s.key_group, s.key, &()).map(|_| ())
    }
}
