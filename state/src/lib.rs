//! Keyed state for weir: key groups, the typed state API that operators and
//! user functions use, and the state backends that hold it.
//!
//! State is partitioned into *key groups*: `kg = stable_hash(key) % max_parallelism`.
//! An operator instance owns a contiguous [`KeyGroupRange`]; its backend stores
//! every entry under the entry's key group, so a snapshot can be written (and a
//! restore can be read) one key group at a time.
//!
//! ```
//! use weir_state::{Backend, HashMapBackend, KeyGroupRange, KeyedState, ValueState, key_group_of};
//!
//! let range = KeyGroupRange::new(0, 127);
//! let mut backend: Backend<u64> = HashMapBackend::new(range).into();
//! let count: ValueState<u64> = ValueState::register(&mut backend, "count").unwrap();
//!
//! let key = 42u64;
//! let kg = key_group_of(&key, 128);
//! let mut state = KeyedState::new(&mut backend, kg, &key);
//! let n = count.get(&mut state).unwrap().unwrap_or(0);
//! count.set(&mut state, n + 1).unwrap();
//! assert_eq!(count.get(&mut state).unwrap(), Some(1));
//! ```
#![deny(missing_docs)]

mod any_backend;
mod backend;
pub mod canonical;
pub mod codec;
pub mod conformance;
mod convert;
mod error;
mod handles;
mod hashmap;
mod key;
mod key_group;
mod rocks;
mod schema;
mod snapshot;
mod timers;

pub use any_backend::{Backend, BackendKind};
pub use backend::{KeyedStateBackend, ListId, MapId, Namespace, StateId, StateValue, UserKey};
pub use codec::{CodecError, ValueFormat};
pub use error::StateError;
pub use handles::{KeyedState, ListState, MapState, ReducingState, ValueState};
pub use hashmap::HashMapBackend;
pub use key::{Key, StableHasher};
pub use key_group::{key_group_of, key_group_range_for_subtask, subtask_for_key_group};
pub use rocks::{kept_instance, prepare_rocksdb_restore, RestoreOutcome, RocksDbBackend, RocksDbConfig};
pub use schema::{Schema, StateDescriptor, StateKind, StateType};
pub use snapshot::{RemoveOnDrop, RestoredData, RestoredFile, SnapshotContent, SnapshotFile, StateSnapshot};
pub use timers::Timer;
pub use weir_checkpoint::{KeyGroupOffset, KeyGroupRange};
