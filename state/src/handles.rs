//! The state handles user functions declare: value, list, map and reducing state.
//!
//! A handle is registered once and then used for whichever key (and
//! namespace) the operator is processing: [`KeyedState`] says which. Its
//! namespace type `N` is `()` for plain keyed state; window functions keep
//! per-window state under the window as namespace. The namespace is part of
//! the state's recorded schema and of every entry's key, so checkpoints,
//! savepoints and rescaling carry it like the key.

use std::marker::PhantomData;

use crate::{
    Backend, Key, KeyedStateBackend, ListId, MapId, Namespace, StateDescriptor, StateError, StateId, StateKind, StateValue, UserKey,
};

/// Access to the keyed state of one key (and namespace): the backend, the
/// key, its key group and the namespace. Operators create it for the
/// record (or timer, or window) being processed.
pub struct KeyedState<'a, K: Key, N: Namespace = ()> {
    backend: &'a mut Backend<K>,
    key_group: u32,
    key: &'a K,
    namespace: &'a N,
}

impl<'a, K: Key> KeyedState<'a, K> {
    /// State of `key` (in key group `key_group`) in `backend`, in namespace `()`.
    pub fn new(backend: &'a mut Backend<K>, key_group: u32, key: &'a K) -> Self {
        KeyedState { backend, key_group, key, namespace: &() }
    }
}

impl<'a, K: Key, N: Namespace> KeyedState<'a, K, N> {
    /// State of `key` (in key group `key_group`) in `backend` under
    /// `namespace`: handles of namespace type `N` read and write the entries
    /// of this `(key, namespace)` only.
    ///
    /// ```
    /// # use weir_state::*;
    /// let mut b: Backend<u64> = HashMapBackend::new(KeyGroupRange::new(0, 0)).into();
    /// // A count per key and window `(start, end)`.
    /// let fired: ValueState<u32, (i64, i64)> = ValueState::register(&mut b, "fired").unwrap();
    /// let (w1, w2) = ((0, 10), (10, 20));
    /// fired.set(&mut KeyedState::with_namespace(&mut b, 0, &7, &w1), 3).unwrap();
    /// assert_eq!(fired.get(&mut KeyedState::with_namespace(&mut b, 0, &7, &w1)).unwrap(), Some(3));
    /// assert_eq!(fired.get(&mut KeyedState::with_namespace(&mut b, 0, &7, &w2)).unwrap(), None);
    /// ```
    pub fn with_namespace(backend: &'a mut Backend<K>, key_group: u32, key: &'a K, namespace: &'a N) -> Self {
        KeyedState { backend, key_group, key, namespace }
    }
    /// The current key.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The current namespace.
    pub fn namespace(&self) -> &N {
        self.namespace
    }
}

/// A single value per key (and namespace `N`, `()` unless given).
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
pub struct ValueState<V, N = ()> {
    id: StateId<N, V>,
}
impl<V, N> Clone for ValueState<V, N> {
    fn clone(&self) -> Self {
        ValueState { id: self.id }
    }
}

impl<V: StateValue, N: Namespace> ValueState<V, N> {
    /// Declares the state in `backend`: a name, or a [`StateDescriptor`] with migrations.
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<V>>) -> Result<Self, StateError> {
        Ok(ValueState { id: backend.register_state(&state.into(), StateKind::Value)? })
    }
    /// The current key's value.
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<Option<V>, StateError> {
        s.backend.get(&self.id, s.key_group, s.key, s.namespace)
    }
    /// Sets the current key's value.
    pub fn set<K: Key>(&self, s: &mut KeyedState<'_, K, N>, value: V) -> Result<(), StateError> {
        s.backend.put(&self.id, s.key_group, s.key, s.namespace, value)
    }
    /// Removes the current key's value.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<(), StateError> {
        s.backend.remove(&self.id, s.key_group, s.key, s.namespace).map(|_| ())
    }
    /// Changes the current key's value in place (created with `init` first if absent).
    pub fn update<K: Key>(&self, s: &mut KeyedState<'_, K, N>, init: impl FnOnce() -> V, f: impl FnOnce(&mut V)) -> Result<(), StateError> {
        s.backend
            .upsert(
                &self.id,
                s.key_group,
                s.key,
                s.namespace,
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

/// A list of values per key (and namespace `N`). Adding a value does not read the list (RocksDB
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
pub struct ListState<V, N = ()> {
    id: ListId<N, V>,
}
impl<V, N> Clone for ListState<V, N> {
    fn clone(&self) -> Self {
        ListState { id: self.id }
    }
}

impl<V: StateValue, N: Namespace> ListState<V, N> {
    /// Declares the state in `backend`: a name, or a [`StateDescriptor`] with migrations (of the element type).
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<V>>) -> Result<Self, StateError> {
        Ok(ListState { id: backend.register_list(&state.into())? })
    }
    /// The current key's list (empty when there is none).
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<Vec<V>, StateError> {
        let mut out = Vec::new();
        self.for_each(s, |v| {
            out.push(v);
            Ok(())
        })?;
        Ok(out)
    }
    /// Calls `f` with each element of the current key's list, oldest first,
    /// without building the list.
    pub fn for_each<K: Key>(&self, s: &mut KeyedState<'_, K, N>, mut f: impl FnMut(V) -> Result<(), StateError>) -> Result<(), StateError> {
        s.backend.list_for_each(&self.id, s.key_group, s.key, s.namespace, &mut f)
    }
    /// Appends a value to the current key's list.
    pub fn add<K: Key>(&self, s: &mut KeyedState<'_, K, N>, value: V) -> Result<(), StateError> {
        s.backend.list_add(&self.id, s.key_group, s.key, s.namespace, value)
    }
    /// Replaces the current key's list.
    pub fn set<K: Key>(&self, s: &mut KeyedState<'_, K, N>, values: Vec<V>) -> Result<(), StateError> {
        s.backend.list_clear(&self.id, s.key_group, s.key, s.namespace)?;
        for v in values {
            s.backend.list_add(&self.id, s.key_group, s.key, s.namespace, v)?;
        }
        Ok(())
    }
    /// Removes the current key's list.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<(), StateError> {
        s.backend.list_clear(&self.id, s.key_group, s.key, s.namespace)
    }
}

/// A map from user keys to values, per key (and namespace `N`). Each entry is stored on its
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
pub struct MapState<UK, UV, N = ()> {
    id: MapId<N, UK, UV>,
}
impl<UK, UV, N> Clone for MapState<UK, UV, N> {
    fn clone(&self) -> Self {
        MapState { id: self.id }
    }
}

impl<UK: UserKey, UV: StateValue, N: Namespace> MapState<UK, UV, N> {
    /// Declares the state in `backend`: a name, or a [`StateDescriptor`] with migrations (of the value type).
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<UV>>) -> Result<Self, StateError> {
        Ok(MapState { id: backend.register_map(&state.into())? })
    }
    /// The value under `user_key` for the current key.
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K, N>, user_key: &UK) -> Result<Option<UV>, StateError> {
        s.backend.map_get(&self.id, s.key_group, s.key, s.namespace, user_key)
    }
    /// Whether the current key's map has `user_key`.
    pub fn contains<K: Key>(&self, s: &mut KeyedState<'_, K, N>, user_key: &UK) -> Result<bool, StateError> {
        Ok(self.get(s, user_key)?.is_some())
    }
    /// Stores `value` under `user_key` for the current key.
    pub fn put<K: Key>(&self, s: &mut KeyedState<'_, K, N>, user_key: UK, value: UV) -> Result<(), StateError> {
        s.backend.map_put(&self.id, s.key_group, s.key, s.namespace, user_key, value)
    }
    /// Removes `user_key` for the current key.
    pub fn remove<K: Key>(&self, s: &mut KeyedState<'_, K, N>, user_key: &UK) -> Result<Option<UV>, StateError> {
        s.backend.map_remove(&self.id, s.key_group, s.key, s.namespace, user_key)
    }
    /// Calls `f` with every entry of the current key's map, without building it.
    pub fn for_each<K: Key>(
        &self,
        s: &mut KeyedState<'_, K, N>,
        mut f: impl FnMut(UK, UV) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        s.backend.map_for_each(&self.id, s.key_group, s.key, s.namespace, &mut f)
    }
    /// Every entry of the current key's map.
    pub fn entries<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<Vec<(UK, UV)>, StateError> {
        let mut out = Vec::new();
        self.for_each(s, |k, v| {
            out.push((k, v));
            Ok(())
        })?;
        Ok(out)
    }
    /// Removes the current key's whole map.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<(), StateError> {
        s.backend.map_clear(&self.id, s.key_group, s.key, s.namespace)
    }
}

/// A value per key (and namespace `N`) that every added value is folded into with a reduce function.
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
pub struct ReducingState<V, F, N = ()> {
    id: StateId<N, V>,
    reduce: F,
    _v: PhantomData<fn() -> V>,
}
impl<V, F: Clone, N> Clone for ReducingState<V, F, N> {
    fn clone(&self) -> Self {
        ReducingState { id: self.id, reduce: self.reduce.clone(), _v: PhantomData }
    }
}

impl<V: StateValue, F: Fn(V, V) -> V, N: Namespace> ReducingState<V, F, N> {
    /// Declares the state in `backend` (a name, or a [`StateDescriptor`]), folded with `reduce`.
    pub fn register<K: Key>(backend: &mut Backend<K>, state: impl Into<StateDescriptor<V>>, reduce: F) -> Result<Self, StateError> {
        Ok(ReducingState { id: backend.register_state(&state.into(), StateKind::Reducing)?, reduce, _v: PhantomData })
    }
    /// The current key's reduced value.
    pub fn get<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<Option<V>, StateError> {
        s.backend.get(&self.id, s.key_group, s.key, s.namespace)
    }
    /// Folds `value` into the current key's value.
    pub fn add<K: Key>(&self, s: &mut KeyedState<'_, K, N>, value: V) -> Result<(), StateError> {
        let next = match s.backend.get(&self.id, s.key_group, s.key, s.namespace)? {
            Some(acc) => (self.reduce)(acc, value),
            None => value,
        };
        s.backend.put(&self.id, s.key_group, s.key, s.namespace, next)
    }
    /// Removes the current key's value.
    pub fn clear<K: Key>(&self, s: &mut KeyedState<'_, K, N>) -> Result<(), StateError> {
        s.backend.remove(&self.id, s.key_group, s.key, s.namespace).map(|_| ())
    }
}
