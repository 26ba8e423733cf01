//! The RocksDB backend: keyed state and timers on the local disk, larger than memory.
//!
//! One RocksDB instance per operator instance, a column family per declared
//! state, keys laid out key group first ([`keys`]). Timers live in their own
//! column family, ordered by key group and time. Writes skip the write-ahead
//! log: durability comes from checkpoints, never from the local files.
//!
//! Reads and writes go through a write-back cache ([`cache`]) that holds
//! recent entries and the changes RocksDB has not seen yet.
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
mod resources;
mod restore;
mod timers;
mod upgrade;

pub use prepare::prepare_rocksdb_restore;
pub use restore::{kept_instance, RestoreOutcome};

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteOptions, DB};

use crate::codec::{self, ValueFormat};
use crate::convert::Reader;
use crate::{
    Key, KeyGroupRange, KeyedStateBackend, ListId, MapId, Namespace, RestoredFile, Schema, StateDescriptor, StateError, StateId, StateKind,
    StateSnapshot, StateValue, Timer, UserKey,
};
use cache::{Entry, Value, WriteCache};
use key_filter::KeyFilter;
use keys::{cache_key, timer_key, timer_ts, STATE_BYTES};
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
    fn entry(&mut self, state: usize) -> Result<&mut Entry, StateError> {
        let (db, key, states, filter) = (&self.db, &self.key_buf, &self.states, &self.filter);
        self.cache.get_or_load(key, || {
            if !filter.may_contain(key) {
                return Ok(Entry { value: None, dirty: false, in_db: false, in_filter: false });
            }
            let cf = cf_of(db, &states[state].0)?;
            let found = db.get_pinned_cf(cf, &key[STATE_BYTES..]).map_err(|e| db_err("get", e))?.map(|v| Value::from_slice(&v));
            Ok(Entry { in_db: found.is_some(), in_filter: found.is_some(), value: found, dirty: false })
        })
    }

    /// A snapshot's synchronous phase done here and now: writes the cache's
    /// changes and creates a RocksDB checkpoint (hard links) in a directory
    /// of its own.
    fn checkpoint(&mut self) -> Result<PathBuf, StateError> {
        self.checkpoint_job()?.run().0
    }

    /// Registers state `state` of `kind` in a column family of its own: the
    /// existing registration of the same name and schema, or a new one,
    /// reading what a restore left under the name as [`crate::convert`] decides.
    fn register_cf<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<usize, StateError> {
        let reader = Reader::<K, N, UK, V>::new(kind, state);
        let schema = reader.schema();
        let name = state.name();
        if let Some(i) = self.states.iter().position(|s| s.0 == name) {
            if self.states[i].1 != schema {
                return Err(StateError::TypeConflict {
                    name: name.to_string(),
                    existing: self.states[i].1.to_string(),
                    requested: schema.to_string(),
                });
            }
            return Ok(i);
        }
        // Decide before changing anything: a refused state stays as it was.
        let pending_plan = match self.pending.get(name) {
            Some(p) => Some(reader.plan(&p.type_name, p.format)?),
            None => None,
        };
        self.settle()?;
        let recorded_plan = match self.recorded(name)? {
            Some(r) => Some(reader.plan(&r.description, r.format)?),
            None => None,
        };
        if self.db.cf_handle(name).is_none() {
            let options = db_options(self.config.memory_bytes);
            // Settled above: no snapshot thread holds the database.
            let db = Arc::get_mut(&mut self.db)
                .ok_or_else(|| StateError::Io(std::io::Error::other(format!("cannot create state {name} while a snapshot is written"))))?;
            db.create_cf(name, &options).map_err(|e| db_err(&format!("creating state {name}"), e))?;
        }
        if let Some(p) = self.pending.remove(name) {
            self.load_canonical(name, &reader, pending_plan, p)?;
        } else if let Some(plan) = recorded_plan.filter(|p| p.converts()) {
            self.convert_state(name, &reader, &plan)?;
        }
        self.record(name, &schema)?;
        self.states.push((name.to_string(), schema));
        Ok(self.states.len() - 1)
    }

    /// Writes the changes out once there are many, and empties the cache once it holds more than its share of memory.
    ///
    /// A full cache is emptied even when writing took it back under its
    /// share (the timers written were counted in it): kept just under, it
    /// would be full again at the next new entry, and each of those writes
    /// goes over every cached entry to find a handful of changes.
    #[inline]
    fn bound_cache(&mut self) -> Result<(), StateError> {
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
        let state = self.locate(id, kg, key, ns)?;
        let value = match &self.entry(state)?.value {
            Some(bytes) => Some(codec::decode(ValueFormat::CURRENT, bytes)?),
            None => None,
        };
        self.bound_cache()?;
        Ok(value)
    }

    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        self.locate(id, kg, key, ns)?;
        self.value_buf.clear();
        codec::encode_into(&value, &mut self.value_buf)?;
        self.cache.put(&self.key_buf, Value::from_slice(&self.value_buf));
        self.bound_cache()
    }

    fn remove<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        let state = self.locate(id, kg, key, ns)?;
        let entry = self.entry(state)?;
        let old = match &entry.value {
            Some(bytes) => Some(codec::decode(ValueFormat::CURRENT, bytes)?),
            None => None,
        };
        if old.is_some() {
            if entry.in_db {
                let was_dirty = std::mem::replace(&mut entry.dirty, true);
                let len = entry.value.take().map_or(0, |v| v.len());
                self.cache.changed(self.key_buf.len(), was_dirty, len, 0);
            } else {
                // Created since RocksDB last saw this key: nothing to delete there.
                self.cache.forget(&self.key_buf);
            }
        }
        self.bound_cache()?;
        Ok(old)
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
                // Byte by byte: values here are mostly a few bytes, for
                // which a call to `memmove` costs more than the copy.
                bytes.reserve(buf.len());
                for &b in &buf {
                    bytes.push(b);
                }
            }
            None => entry.value = Some(Value::from_slice(&buf)),
        }
        self.value_buf = buf;
        self.cache.changed(self.key_buf.len(), was_dirty, old_len, new_len);
        self.bound_cache()?;
        Ok(created)
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
