//! The trait every keyed-state backend implements.

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Key, KeyGroupRange, RestoredFile, StateError, StateSnapshot, Timer};

/// A value that keyed state can hold.
pub trait StateValue: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static> StateValue for T {}

/// A namespace under which a key's entry lives: `()` for plain keyed state,
/// the window for window contents, the user key for map state.
pub trait Namespace: Hash + Eq + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Hash + Eq + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static> Namespace for T {}

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

/// The small required trait of a keyed-state backend: typed tables of
/// `(key, namespace) -> value` stored by key group, event-time timers, and
/// snapshot/restore by key group. The conveniences (value, list, map and
/// reducing state) are built on it in [`crate::ValueState`] and friends.
///
/// Every implementation runs the suite in [`crate::conformance`].
pub trait KeyedStateBackend<K: Key>: Send + 'static {
    /// The key groups this instance owns.
    fn key_group_range(&self) -> KeyGroupRange;

    /// Declares a state table. Registering the same name again with the same
    /// types returns the same handle; with other types it fails. State restored
    /// under this name is decoded now, as `V`.
    fn register<N: Namespace, V: StateValue>(&mut self, name: &str) -> Result<StateId<N, V>, StateError>;

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
