//! The trait every keyed-state backend implements.

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

use crate::{Key, KeyGroupRange, RestoredFile, StateDescriptor, StateError, StateKind, StateSnapshot, StateType, Timer};

/// A value that keyed state can hold: a [`StateType`], whose stable tag
/// and version checkpoints record.
pub trait StateValue: StateType {}
impl<T: StateType> StateValue for T {}

/// A namespace under which a key's entry lives: `()` for plain keyed state,
/// the window for window contents.
pub trait Namespace: StateType + Hash + Eq + Debug {}
impl<T: StateType + Hash + Eq + Debug> Namespace for T {}

/// A key of map state's maps.
pub trait UserKey: StateType + Hash + Eq {}
impl<T: StateType + Hash + Eq> UserKey for T {}

/// A typed handle to one registered state table.
///
/// ```
/// use weir_state::{Backend, HashMapBackend, KeyedStateBackend, KeyGroupRange, StateId};
/// let mut b: Backend<u64> = HashMapBackend::new(KeyGroupRange::new(0, 3)).into();
/// let id: StateId<(), String> = b.register("name").unwrap();
/// b.put(&id, 1, &9, &(), "nine".to_string()).unwrap();
/// assert_eq!(b.get(&id, 1, &9, &()).unwrap().as_deref(), Some("nine"));
/// ```
#[derive(Debug)]
pub struct StateId<N, V> {
    index: usize,
    _types: PhantomData<fn() -> (N, V)>,
}

impl<N, V> Clone for StateId<N, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N, V> Copy for StateId<N, V> {}

impl<N, V> StateId<N, V> {
    /// A handle for the table at `index` of a backend. Backends create these.
    pub fn new(index: usize) -> Self {
        StateId { index, _types: PhantomData }
    }
    /// The table's index in its backend.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Marks the types of a handle without holding them.
type Types<T> = PhantomData<fn() -> T>;

/// A typed handle to one registered list state: a list of `V` per key and namespace `N`.
#[derive(Debug)]
pub struct ListId<N, V>(StateId<N, V>);

impl<N, V> Clone for ListId<N, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N, V> Copy for ListId<N, V> {}

impl<N, V> ListId<N, V> {
    /// A handle for the list state at `index` of a backend. Backends create these.
    pub fn new(index: usize) -> Self {
        ListId(StateId::new(index))
    }
    /// The state's index in its backend.
    pub fn index(&self) -> usize {
        self.0.index()
    }
}

/// A typed handle to one registered map state: a map from `UK` to `V` per key and namespace `N`.
#[derive(Debug)]
pub struct MapId<N, UK, V> {
    index: usize,
    _types: Types<(N, UK, V)>,
}

impl<N, UK, V> Clone for MapId<N, UK, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N, UK, V> Copy for MapId<N, UK, V> {}

impl<N, UK, V> MapId<N, UK, V> {
    /// A handle for the map state at `index` of a backend. Backends create these.
    pub fn new(index: usize) -> Self {
        MapId { index, _types: PhantomData }
    }
    /// The state's index in its backend.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// The small required trait of a keyed-state backend: typed tables of
/// `(key, namespace) -> value`, lists and maps stored per entry, all by key
/// group, event-time timers, and snapshot/restore by key group. The
/// conveniences (value, list, map and reducing state) are built on it in
/// [`crate::ValueState`] and friends.
///
/// Every implementation runs the suite in [`crate::conformance`].
pub trait KeyedStateBackend<K: Key>: Send + 'static {
    /// The key groups this instance owns.
    fn key_group_range(&self) -> KeyGroupRange;

    /// Declares a state table of `kind` (value or reducing). Registering the
    /// same name again with the same schema returns the same handle; with
    /// another it fails. State restored under this name is read now: as it
    /// is when its recorded schema is the declared one, through a declared
    /// migration when only its value type differs, and otherwise not at all
    /// (an error naming both schemas).
    fn register_state<N: Namespace, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<StateId<N, V>, StateError>;

    /// Declares a value state table named `name`: [`KeyedStateBackend::register_state`]
    /// without migrations.
    fn register<N: Namespace, V: StateValue>(&mut self, name: &str) -> Result<StateId<N, V>, StateError> {
        self.register_state(&StateDescriptor::new(name), StateKind::Value)
    }

    /// Declares a list state (see [`KeyedStateBackend::register_state`]).
    fn register_list<N: Namespace, V: StateValue>(&mut self, state: &StateDescriptor<V>) -> Result<ListId<N, V>, StateError>;

    /// Appends `value` to the list under `(key, namespace)`, without reading the list.
    fn list_add<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError>;

    /// Calls `f` with every element of the list under `(key, namespace)`, oldest first.
    fn list_for_each<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(V) -> Result<(), StateError>,
    ) -> Result<(), StateError>;

    /// Removes the list under `(key, namespace)`.
    fn list_clear<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N) -> Result<(), StateError>;

    /// Declares a map state (see [`KeyedStateBackend::register_state`]).
    fn register_map<N: Namespace, UK: UserKey, V: StateValue>(&mut self, state: &StateDescriptor<V>)
        -> Result<MapId<N, UK, V>, StateError>;

    /// The value under `user_key` in the map under `(key, namespace)`.
    #[allow(clippy::too_many_arguments)]
    fn map_get<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError>;

    /// Stores `value` under `user_key` in the map under `(key, namespace)`.
    #[allow(clippy::too_many_arguments)]
    fn map_put<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: UK,
        value: V,
    ) -> Result<(), StateError>;

    /// Removes and returns the value under `user_key` in the map under `(key, namespace)`.
    #[allow(clippy::too_many_arguments)]
    fn map_remove<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError>;

    /// Calls `f` with every entry of the map under `(key, namespace)` (in
    /// the order of the user keys' encoded bytes for RocksDB, unordered in memory).
    #[allow(clippy::type_complexity)]
    fn map_for_each<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(UK, V) -> Result<(), StateError>,
    ) -> Result<(), StateError>;

    /// Removes the whole map under `(key, namespace)`.
    fn map_clear<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError>;

    /// The value under `(key, namespace)`.
    fn get<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError>;

    /// Stores `value` under `(key, namespace)`.
    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError>;

    /// Removes and returns the value under `(key, namespace)`.
    fn remove<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError>;

    /// Folds `input` into the value under `(key, namespace)` in place with
    /// `update`, or stores `init(input)` when there is none. Returns `true`
    /// when it was created.
    #[allow(clippy::too_many_arguments)]
    fn upsert<N: Namespace, V: StateValue, X>(
        &mut self,
        id: &StateId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        input: X,
        init: impl FnOnce(X) -> V,
        update: impl FnOnce(&mut V, X),
    ) -> Result<bool, StateError>;

    /// Registers an event-time timer; registering the same timer twice keeps one.
    fn register_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError>;

    /// Deletes a timer, if it is registered.
    fn delete_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError>;

    /// Removes every timer with `timestamp <= watermark` and appends them to
    /// `out`, ordered by timestamp.
    fn pop_timers(&mut self, watermark: i64, out: &mut Vec<Timer<K>>) -> Result<(), StateError>;

    /// Synchronous phase of a snapshot: freezes the current state so that the
    /// returned snapshot can be written on another thread while processing goes on.
    fn snapshot(&mut self) -> Result<Box<dyn StateSnapshot>, StateError>;

    /// Like [`KeyedStateBackend::snapshot`], but the snapshot is written in
    /// the canonical format ([`crate::canonical`]), which every backend
    /// restores at any parallelism.
    fn snapshot_canonical(&mut self) -> Result<Box<dyn StateSnapshot>, StateError>;

    /// Loads the key groups of this instance's range from restored files.
    /// Must be called before the tables are registered.
    fn restore(&mut self, files: Vec<RestoredFile>) -> Result<(), StateError>;
}
