//! The RocksDB backend: keyed state and timers on the local disk, larger than memory.
//!
//! One RocksDB instance per operator instance, a column family per declared
//! state, keys laid out key group first ([`keys`]). Timers live in their own
//! column family, ordered by key group and time. Writes skip the write-ahead
//! log: durability comes from checkpoints, never from the local files.
//!
//! Value state ([`values`]) is read and written through a write-back cache
//! ([`cache`]) that holds recent entries and the changes RocksDB has not
//! seen yet; list and map state ([`collections`]) go to RocksDB directly,
//! one stored entry per list and per map entry. States are registered in
//! [`register`].
//!
//! The synchronous phase of a snapshot takes the cache's changes out (a
//! sorted copy); a thread of the snapshot then writes them, flushes the
//! memtables and creates a RocksDB checkpoint (hard links to the live files)
//! in a local directory, while the worker waits for it a bounded time and
//! then goes on ([`deferred`]); the asynchronous phase uploads those files.
//!
//! A restore at another parallelism takes the files of the checkpointed
//! instance that overlaps the new range most as they are, removes the key
//! groups outside the range with range deletions (`cut`) and copies in the
//! range's entries of the other instances (`restore`); the runtime prepares
//! the databases of all instances at once before opening them (`prepare`).

mod cache;
mod canonical;
mod collections;
mod cut;
mod deferred;
mod ingest;
mod key_filter;
mod keys;
mod native;
mod options;
mod prepare;
mod prepared_canonical;
mod register;
mod resources;
mod restore;
mod timers;
mod upgrade;
mod values;

pub use prepare::prepare_rocksdb_restore;
pub use restore::{kept_instance, RestoreOutcome};

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteOptions, DB};

use crate::codec;
use crate::{
    Key, KeyGroupRange, KeyedStateBackend, ListId, MapId, Namespace, RestoredFile, Schema, StateDescriptor, StateError, StateId, StateKind,
    StateSnapshot, StateValue, Timer, UserKey,
};
use cache::WriteCache;
use key_filter::KeyFilter;
use keys::{timer_key, timer_ts};
use native::{tempfile_dir, RocksDbSnapshot};
pub(crate) use options::{db_options, db_options_with, descriptors, with_merge, write_options};

const TIMERS_CF: &str = "_timers";
const META_CF: &str = "_weir";

fn db_err(context: &str, e: rocksdb::Error) -> StateError {
    StateError::Io(std::io::Error::other(format!("rocksdb: {context}: {e}")))
}

/// Where a RocksDB backend keeps its files and how much memory the process gives RocksDB.
#[derive(Debug, Clone)]
pub struct RocksDbConfig {
    /// The instance's local directory (its database lives in `db/`).
    pub dir: PathBuf,
    /// Block cache, write buffers and write caches shared by every instance of the process, in bytes.
    pub memory_bytes: u64,
    /// Bytes the write caches of all instances may hold together; `None`
    /// gives them a quarter of `memory_bytes`, `Some(0)` writes every change
    /// through to RocksDB at once.
    pub write_cache_bytes: Option<u64>,
}

impl RocksDbConfig {
    /// A backend in `dir` sharing `memory_bytes` with the process's others.
    ///
    /// ```
    /// let config = weir_state::RocksDbConfig::new("/tmp/state/op-0", 512 << 20);
    /// assert_eq!(config.write_cache_bytes, None);
    /// ```
    pub fn new(dir: impl Into<PathBuf>, memory_bytes: u64) -> Self {
        RocksDbConfig { dir: dir.into(), memory_bytes, write_cache_bytes: None }
    }

    /// Sets [`RocksDbConfig::write_cache_bytes`].
    pub fn with_write_cache(mut self, bytes: u64) -> Self {
        self.write_cache_bytes = Some(bytes);
        self
    }
}

/// The RocksDB keyed-state backend.
///
/// ```
/// use weir_state::{KeyGroupRange, KeyedStateBackend, RocksDbBackend, RocksDbConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let config = RocksDbConfig::new(dir.path(), 64 << 20);
/// let mut b = RocksDbBackend::<u64>::open(&config, KeyGroupRange::new(0, 127)).unwrap();
/// let id = b.register::<(), String>("name").unwrap();
/// b.put(&id, 3, &9, &(), "nine".to_string()).unwrap();
/// assert_eq!(b.get(&id, 3, &9, &()).unwrap().as_deref(), Some("nine"));
/// ```
pub struct RocksDbBackend<K: Key> {
    config: RocksDbConfig,
    range: KeyGroupRange,
    /// Shared with the thread of a snapshot in flight, if any.
    db: Arc<DB>,
    /// The snapshot whose thread is writing into the database, if any.
    in_flight: Option<deferred::InFlight>,
    /// Registered states: (column family, schema), indexed by `StateId`.
    states: Vec<(String, Schema)>,
    write: WriteOptions,
    /// Recent entries and unwritten changes.
    cache: WriteCache,
    /// The keys written to RocksDB, while it knows all of them.
    filter: KeyFilter,
    /// Options of the column families (for writing SST files to ingest).
    cf_options: Options,
    /// SST files built so far (names them).
    ingested: u64,
    key_buf: Vec<u8>,
    /// Scratch space for encoding a value.
    value_buf: Vec<u8>,
    /// The earliest timer of each key group, cached or in RocksDB (a lower bound), to skip idle key groups.
    timer_min: Vec<Option<i64>>,
    /// The earliest timer of each key group in RocksDB (a lower bound).
    db_timer_min: Vec<Option<i64>>,
    snapshots: u64,
    /// State restored from a canonical snapshot, until the job registers it.
    pending: std::collections::HashMap<String, canonical::PendingState>,
    _k: PhantomData<fn() -> K>,
}

impl<K: Key> RocksDbBackend<K> {
    /// Opens an empty backend for `range` in `config.dir` (whatever was there is removed).
    pub fn open(config: &RocksDbConfig, range: KeyGroupRange) -> Result<Self, StateError> {
        let db_dir = config.dir.join("db");
        if db_dir.exists() {
            std::fs::remove_dir_all(&db_dir)?;
        }
        let mut b = Self::open_existing(config, range)?;
        b.filter = KeyFilter::for_empty_database();
        Ok(b)
    }

    /// Opens a backend for `range` in `config.dir` holding the key groups of
    /// `range` from the restored `files`: the database prepared for them
    /// ([`prepare_rocksdb_restore`]) or one made from them now, opened once.
    pub fn open_restored(config: &RocksDbConfig, range: KeyGroupRange, files: Vec<RestoredFile>) -> Result<Self, StateError> {
        if files.is_empty() || crate::canonical::is_canonical(&files) {
            let mut b = Self::open(config, range)?;
            b.restore(files)?;
            return Ok(b);
        }
        std::fs::create_dir_all(&config.dir)?;
        Self::install_restored(config, range, &files)?;
        Self::open_existing(config, range)
    }

    /// Puts the database of `range` made from the native `files` into
    /// `config.dir/db`: the prepared one if it was made from them, else one
    /// made now.
    fn install_restored(config: &RocksDbConfig, range: KeyGroupRange, files: &[RestoredFile]) -> Result<(), StateError> {
        if prepare::adopt(&config.dir, range, files)? {
            tracing::debug!(instance = %config.dir.display(), "RocksDB restore: took the prepared database over");
            return Ok(());
        }
        let started = std::time::Instant::now();
        let staged = restore::stage(&config.dir, files)?;
        let outcome = restore::install(&config.dir, range, staged, config.memory_bytes)?;
        prepare::log_outcome(&config.dir, range, &outcome, started, "done");
        Ok(())
    }

    /// Opens the database already in `config.dir/db` (restored files), or a new one.
    fn open_existing(config: &RocksDbConfig, range: KeyGroupRange) -> Result<Self, StateError> {
        let db_dir = config.dir.join("db");
        std::fs::create_dir_all(&config.dir)?;
        let shared = resources::shared_memory(config.memory_bytes);
        let opts = db_options_with(&shared);
        let mut cfs: Vec<String> = DB::list_cf(&opts, &db_dir).unwrap_or_default();
        for needed in ["default", TIMERS_CF, META_CF] {
            if !cfs.iter().any(|c| c == needed) {
                cfs.push(needed.to_string());
            }
        }
        let descriptors = cfs.iter().map(|name| ColumnFamilyDescriptor::new(name, db_options_with(&shared)));
        let db = DB::open_cf_descriptors(&opts, &db_dir, descriptors).map_err(|e| db_err(&format!("opening {}", db_dir.display()), e))?;
        let mut b = RocksDbBackend {
            config: config.clone(),
            range,
            db: Arc::new(db),
            in_flight: None,
            states: Vec::new(),
            write: write_options(),
            cache: WriteCache::new(config.write_cache_bytes.map_or(shared.write_cache, |b| b as usize)),
            filter: KeyFilter::unknown(),
            cf_options: db_options_with(&shared),
            ingested: 0,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            timer_min: vec![None; range.len()],
            db_timer_min: vec![None; range.len()],
            snapshots: 0,
            pending: std::collections::HashMap::new(),
            _k: PhantomData,
        };
        b.upgrade_timers()?;
        b.rebuild_timer_index()?;
        Ok(b)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StateError> {
        cf_of(&self.db, name)
    }

    #[inline]
    fn check(&self, kg: u32) -> Result<usize, StateError> {
        crate::key_group::index_in(self.range, kg)
    }

    fn rebuild_timer_index(&mut self) -> Result<(), StateError> {
        for (i, kg) in self.range.iter().enumerate() {
            self.db_timer_min[i] = self.first_timer(kg)?;
            self.timer_min[i] = self.db_timer_min[i];
        }
        Ok(())
    }

    fn first_timer(&self, kg: u32) -> Result<Option<i64>, StateError> {
        let cf = self.cf(TIMERS_CF)?;
        let prefix = (kg as u16).to_be_bytes();
        let mut it = self.db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward));
        match it.next() {
            Some(Ok((k, _))) if k.starts_with(&prefix) => Ok(timer_ts(&k)),
            Some(Err(e)) => Err(db_err("reading timers", e)),
            _ => Ok(None),
        }
    }

    /// Names of restored states that the job did not register.
    pub fn unclaimed_restored_states(&self) -> Vec<String> {
        let Ok(cfs) = DB::list_cf(&Options::default(), self.config.dir.join("db")) else { return Vec::new() };
        let mut v: Vec<String> = cfs
            .into_iter()
            .filter(|c| c != "default" && c != TIMERS_CF && c != META_CF && !self.states.iter().any(|s| &s.0 == c))
            .chain(self.pending.keys().cloned())
            .collect();
        v.sort();
        v
    }

    /// A snapshot's synchronous phase done here and now: writes the cache's
    /// changes and creates a RocksDB checkpoint (hard links) in a directory
    /// of its own.
    fn checkpoint(&mut self) -> Result<PathBuf, StateError> {
        self.checkpoint_job()?.run().0
    }
}

impl<K: Key> KeyedStateBackend<K> for RocksDbBackend<K> {
    fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    fn register_state<N: Namespace, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<StateId<N, V>, StateError> {
        self.register_cf::<N, (), V>(state, kind).map(StateId::new)
    }

    fn get<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        self.rocks_get(id, kg, key, ns)
    }

    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        self.rocks_put(id, kg, key, ns, value)
    }

    fn remove<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        self.rocks_remove(id, kg, key, ns)
    }

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
        self.rocks_upsert(id, kg, key, ns, input, init, update)
    }

    fn register_list<N: Namespace, V: StateValue>(&mut self, state: &StateDescriptor<V>) -> Result<ListId<N, V>, StateError> {
        self.register_cf::<N, (), V>(state, StateKind::List).map(ListId::new)
    }

    fn list_add<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        self.rocks_list_add(id, kg, key, ns, value)
    }

    fn list_for_each<N: Namespace, V: StateValue>(
        &mut self,
        id: &ListId<N, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.rocks_list_for_each(id, kg, key, ns, f)
    }

    fn list_clear<N: Namespace, V: StateValue>(&mut self, id: &ListId<N, V>, kg: u32, key: &K, ns: &N) -> Result<(), StateError> {
        self.rocks_list_clear(id, kg, key, ns)
    }

    fn register_map<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
    ) -> Result<MapId<N, UK, V>, StateError> {
        self.register_cf::<N, UK, V>(state, StateKind::Map).map(MapId::new)
    }

    fn map_get<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        self.rocks_map_get(id, kg, key, ns, user_key)
    }

    fn map_put<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: UK,
        value: V,
    ) -> Result<(), StateError> {
        self.rocks_map_put(id, kg, key, ns, &user_key, &value)
    }

    fn map_remove<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        user_key: &UK,
    ) -> Result<Option<V>, StateError> {
        self.rocks_map_remove(id, kg, key, ns, user_key)
    }

    fn map_for_each<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
        f: &mut dyn FnMut(UK, V) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        self.rocks_map_for_each(id, kg, key, ns, f)
    }

    fn map_clear<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        id: &MapId<N, UK, V>,
        kg: u32,
        key: &K,
        ns: &N,
    ) -> Result<(), StateError> {
        self.rocks_map_clear(id, kg, key, ns)
    }

    fn register_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        let idx = self.check(kg)?;
        self.key_buf.clear();
        codec::encode_into(&(key, namespace), &mut self.key_buf)?;
        if self.cache.add_timer(kg as u16, timestamp, &self.key_buf) {
            let min = &mut self.timer_min[idx];
            *min = Some(min.map_or(timestamp, |m| m.min(timestamp)));
            self.bound_cache()?;
        }
        Ok(())
    }

    fn delete_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        let idx = self.check(kg)?;
        self.key_buf.clear();
        codec::encode_into(&(key, namespace), &mut self.key_buf)?;
        self.cache.remove_timer(kg as u16, timestamp, &self.key_buf);
        if self.db_timer_min[idx].is_some_and(|m| m <= timestamp) {
            self.settle()?;
            timer_key(&mut self.key_buf, kg, timestamp, key, namespace)?;
            let cf = self.cf(TIMERS_CF)?;
            self.db.delete_cf_opt(cf, &self.key_buf, &self.write).map_err(|e| db_err("delete timer", e))?;
        }
        Ok(())
    }

    fn pop_timers(&mut self, watermark: i64, out: &mut Vec<Timer<K>>) -> Result<(), StateError> {
        self.pop_due_timers(watermark, out)
    }

    fn snapshot(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        let started = std::time::Instant::now();
        let job = self.checkpoint_job()?;
        let in_flight = deferred::InFlight::start(job);
        // Done or not, the worker goes on then; a failure is reported by the
        // snapshot's `write` and by the backend's next step.
        let _ = in_flight.wait_until(started + deferred::SYNC_WAIT);
        self.in_flight = Some(in_flight.clone());
        Ok(Box::new(RocksDbSnapshot { in_flight, written: false }))
    }

    fn snapshot_canonical(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        Ok(Box::new(canonical::CanonicalSnapshot { dir: self.checkpoint()?, range: self.range }))
    }

    fn restore(&mut self, files: Vec<RestoredFile>) -> Result<(), StateError> {
        self.settle()?;
        if !files.is_empty() {
            // The database gets keys that did not go through the filter.
            self.filter.forget_all();
        }
        if crate::canonical::is_canonical(&files) {
            return self.restore_canonical(&files);
        }
        // Close the current database before its files are replaced.
        let empty = tempfile_dir(&self.config.dir)?;
        let placeholder = Arc::new(DB::open_default(&empty).map_err(|e| db_err("opening a placeholder", e))?);
        drop(std::mem::replace(&mut self.db, placeholder));
        Self::install_restored(&self.config, self.range, &files)?;
        *self = Self::open_existing(&self.config.clone(), self.range)?;
        let _ = std::fs::remove_dir_all(&empty);
        Ok(())
    }
}

fn cf_of<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, StateError> {
    db.cf_handle(name).ok_or_else(|| StateError::Corrupt(format!("column family {name} is missing")))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rescale_tests;

#[cfg(test)]
mod map_tests;
