//! The RocksDB backend: keyed state and timers on the local disk, larger than memory.
//!
//! One RocksDB instance per operator instance, a column family per declared
//! state, keys laid out key group first ([`keys`]). Timers live in their own
//! column family, ordered by key group and time. Writes skip the write-ahead
//! log: durability comes from checkpoints, never from the local files.
//!
//! The synchronous phase of a snapshot flushes the memtables and creates a
//! RocksDB checkpoint (hard links to the live files) in a local directory;
//! the asynchronous phase uploads those files.

mod keys;
mod resources;
mod restore;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use weir_checkpoint::codec;

use crate::snapshot::RemoveOnDrop;
use crate::{
    Key, KeyGroupRange, KeyedStateBackend, Namespace, RestoredFile, SnapshotContent, SnapshotFile, StateError, StateId, StateSnapshot,
    StateValue, Timer,
};
use keys::{key_group_of_stored, state_key, timer_key, ts_from_ordered, KG_BYTES};

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
    /// Block cache and write buffers shared by every instance of the process, in bytes.
    pub memory_bytes: u64,
}

/// The RocksDB keyed-state backend.
///
/// ```
/// use weir_state::{KeyGroupRange, KeyedStateBackend, RocksDbBackend, RocksDbConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let config = RocksDbConfig { dir: dir.path().to_path_buf(), memory_bytes: 64 << 20 };
/// let mut b = RocksDbBackend::<u64>::open(&config, KeyGroupRange::new(0, 127)).unwrap();
/// let id = b.register::<(), String>("name").unwrap();
/// b.put(&id, 3, &9, &(), "nine".to_string()).unwrap();
/// assert_eq!(b.get(&id, 3, &9, &()).unwrap().as_deref(), Some("nine"));
/// ```
pub struct RocksDbBackend<K: Key> {
    config: RocksDbConfig,
    range: KeyGroupRange,
    db: DB,
    /// Registered states: (column family, value type), indexed by `StateId`.
    states: Vec<(String, &'static str)>,
    write: WriteOptions,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
    /// The earliest timer of each key group (a lower bound), to skip idle key groups.
    timer_min: Vec<Option<i64>>,
    snapshots: u64,
    _k: PhantomData<fn() -> K>,
}

fn db_options(memory: u64) -> Options {
    let shared = resources::shared_memory(memory);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&shared.cache);
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_block_based_table_factory(&table);
    opts.set_write_buffer_manager(&shared.write_buffers);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_max_background_jobs(2);
    opts.set_max_open_files(256);
    opts
}

impl<K: Key> RocksDbBackend<K> {
    /// Opens an empty backend for `range` in `config.dir` (whatever was there is removed).
    pub fn open(config: &RocksDbConfig, range: KeyGroupRange) -> Result<Self, StateError> {
        let db_dir = config.dir.join("db");
        if db_dir.exists() {
            std::fs::remove_dir_all(&db_dir)?;
        }
        Self::open_existing(config, range)
    }

    /// Opens the database already in `config.dir/db` (restored files), or a new one.
    fn open_existing(config: &RocksDbConfig, range: KeyGroupRange) -> Result<Self, StateError> {
        let db_dir = config.dir.join("db");
        std::fs::create_dir_all(&config.dir)?;
        let opts = db_options(config.memory_bytes);
        let mut cfs: Vec<String> = DB::list_cf(&opts, &db_dir).unwrap_or_default();
        for needed in ["default", TIMERS_CF, META_CF] {
            if !cfs.iter().any(|c| c == needed) {
                cfs.push(needed.to_string());
            }
        }
        let descriptors = cfs.iter().map(|name| ColumnFamilyDescriptor::new(name, db_options(config.memory_bytes)));
        let db = DB::open_cf_descriptors(&opts, &db_dir, descriptors).map_err(|e| db_err(&format!("opening {}", db_dir.display()), e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        let mut b = RocksDbBackend {
            config: config.clone(),
            range,
            db,
            states: Vec::new(),
            write,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            timer_min: vec![None; range.len()],
            snapshots: 0,
            _k: PhantomData,
        };
        b.rebuild_timer_index()?;
        Ok(b)
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StateError> {
        self.db.cf_handle(name).ok_or_else(|| StateError::Corrupt(format!("column family {name} is missing")))
    }

    #[inline]
    fn check(&self, kg: u32) -> Result<usize, StateError> {
        crate::key_group::index_in(self.range, kg)
    }

    #[inline]
    fn state_cf<N, V>(&self, id: &StateId<N, V>) -> Result<&str, StateError> {
        self.states.get(id.index()).map(|s| s.0.as_str()).ok_or(StateError::UnknownState(id.index()))
    }

    fn rebuild_timer_index(&mut self) -> Result<(), StateError> {
        for (i, kg) in self.range.iter().enumerate() {
            self.timer_min[i] = self.first_timer(kg)?;
        }
        Ok(())
    }

    fn first_timer(&self, kg: u32) -> Result<Option<i64>, StateError> {
        let cf = self.cf(TIMERS_CF)?;
        let prefix = (kg as u16).to_be_bytes();
        let mut it = self.db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward));
        match it.next() {
            Some(Ok((k, _))) if k.starts_with(&prefix) && k.len() >= KG_BYTES + 8 => {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&k[KG_BYTES..KG_BYTES + 8]);
                Ok(Some(ts_from_ordered(ts)))
            }
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
            .collect();
        v.sort();
        v
    }

    /// Writes `key_buf` -> `value_buf` (or an empty value) into column family `cf`.
    fn put_bytes(&self, cf: &str, value_is_in_buf: bool) -> Result<(), StateError> {
        let cf = self.cf(cf)?;
        let value: &[u8] = if value_is_in_buf { &self.value_buf } else { &[] };
        self.db.put_cf_opt(cf, &self.key_buf, value, &self.write).map_err(|e| db_err("put", e))
    }
}

impl<K: Key> KeyedStateBackend<K> for RocksDbBackend<K> {
    fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    fn register<N: Namespace, V: StateValue>(&mut self, name: &str) -> Result<StateId<N, V>, StateError> {
        let requested = std::any::type_name::<(N, V)>();
        if let Some(i) = self.states.iter().position(|s| s.0 == name) {
            let existing = self.states[i].1;
            if existing != requested {
                return Err(StateError::TypeConflict { name: name.to_string(), existing, requested });
            }
            return Ok(StateId::new(i));
        }
        let meta_key = format!("type:{name}");
        let written_as = self.db.get_cf(self.cf(META_CF)?, meta_key.as_bytes()).map_err(|e| db_err("reading state types", e))?;
        match written_as {
            Some(t) if t != requested.as_bytes() => {
                return Err(StateError::IncompatibleState {
                    name: name.to_string(),
                    requested,
                    reason: format!("the checkpoint holds it as {}", String::from_utf8_lossy(&t)),
                })
            }
            Some(_) => {}
            None => {
                let meta = self.cf(META_CF)?;
                self.db
                    .put_cf_opt(meta, meta_key.as_bytes(), requested.as_bytes(), &self.write)
                    .map_err(|e| db_err("writing state types", e))?;
            }
        }
        if self.db.cf_handle(name).is_none() {
            self.db.create_cf(name, &db_options(self.config.memory_bytes)).map_err(|e| db_err(&format!("creating state {name}"), e))?;
        }
        self.states.push((name.to_string(), requested));
        Ok(StateId::new(self.states.len() - 1))
    }

    fn get<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        self.check(kg)?;
        state_key(&mut self.key_buf, kg, key, ns)?;
        let cf = self.cf(self.state_cf(id)?)?;
        match self.db.get_pinned_cf(cf, &self.key_buf).map_err(|e| db_err("get", e))? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn put<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N, value: V) -> Result<(), StateError> {
        self.check(kg)?;
        state_key(&mut self.key_buf, kg, key, ns)?;
        self.value_buf.clear();
        codec::encode_into(&value, &mut self.value_buf)?;
        self.put_bytes(self.state_cf(id)?, true)
    }

    fn remove<N: Namespace, V: StateValue>(&mut self, id: &StateId<N, V>, kg: u32, key: &K, ns: &N) -> Result<Option<V>, StateError> {
        let old = self.get(id, kg, key, ns)?;
        if old.is_some() {
            let cf = self.cf(self.state_cf(id)?)?;
            self.db.delete_cf_opt(cf, &self.key_buf, &self.write).map_err(|e| db_err("delete", e))?;
        }
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
        let (value, created) = match self.get(id, kg, key, ns)? {
            Some(mut v) => {
                update(&mut v, input);
                (v, false)
            }
            None => (init(input), true),
        };
        self.value_buf.clear();
        codec::encode_into(&value, &mut self.value_buf)?;
        self.put_bytes(self.state_cf(id)?, true)?;
        Ok(created)
    }

    fn register_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        let idx = self.check(kg)?;
        timer_key(&mut self.key_buf, kg, timestamp, key, namespace)?;
        self.put_bytes(TIMERS_CF, false)?;
        let min = &mut self.timer_min[idx];
        *min = Some(min.map_or(timestamp, |m| m.min(timestamp)));
        Ok(())
    }

    fn delete_timer(&mut self, kg: u32, key: &K, namespace: i64, timestamp: i64) -> Result<(), StateError> {
        self.check(kg)?;
        timer_key(&mut self.key_buf, kg, timestamp, key, namespace)?;
        let cf = self.cf(TIMERS_CF)?;
        self.db.delete_cf_opt(cf, &self.key_buf, &self.write).map_err(|e| db_err("delete timer", e))
    }

    fn pop_timers(&mut self, watermark: i64, out: &mut Vec<Timer<K>>) -> Result<(), StateError> {
        let start = out.len();
        let mut batch = WriteBatch::default();
        for (i, kg) in self.range.iter().enumerate() {
            if self.timer_min[i].is_none_or(|m| m > watermark) {
                continue;
            }
            let cf = self.cf(TIMERS_CF)?;
            let prefix = (kg as u16).to_be_bytes();
            let mut next_min = None;
            for item in self.db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward)) {
                let (k, _) = item.map_err(|e| db_err("reading timers", e))?;
                if !k.starts_with(&prefix) || k.len() < KG_BYTES + 8 {
                    break;
                }
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&k[KG_BYTES..KG_BYTES + 8]);
                let timestamp = ts_from_ordered(ts);
                if timestamp > watermark {
                    next_min = Some(timestamp);
                    break;
                }
                let (key, namespace): (K, i64) = codec::decode(&k[KG_BYTES + 8..])?;
                out.push(Timer { timestamp, key, namespace, key_group: kg });
                batch.delete_cf(cf, &k);
            }
            self.timer_min[i] = next_min;
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &self.write).map_err(|e| db_err("removing fired timers", e))?;
        }
        out[start..].sort_by_key(|t| t.timestamp);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Box<dyn StateSnapshot>, StateError> {
        let mut cfs: Vec<&rocksdb::ColumnFamily> = Vec::new();
        for name in ["default", TIMERS_CF, META_CF].iter().copied().chain(self.states.iter().map(|s| s.0.as_str())) {
            cfs.push(self.cf(name)?);
        }
        self.db.flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default()).map_err(|e| db_err("flushing memtables", e))?;
        self.snapshots += 1;
        let snapshots = self.config.dir.join("snapshots");
        std::fs::create_dir_all(&snapshots)?;
        let dir = snapshots.join(format!("{:08}", self.snapshots));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(&dir))
            .map_err(|e| db_err("creating a checkpoint", e))?;
        Ok(Box::new(RocksDbSnapshot { dir }))
    }

    fn restore(&mut self, files: Vec<RestoredFile>) -> Result<(), StateError> {
        let staged = restore::stage(&self.config.dir, &files)?;
        // Close the current database before its files are replaced.
        let empty = tempfile_dir(&self.config.dir)?;
        let placeholder = DB::open_default(&empty).map_err(|e| db_err("opening a placeholder", e))?;
        drop(std::mem::replace(&mut self.db, placeholder));
        restore::install(&self.config.dir, self.range, staged, self.config.memory_bytes)?;
        *self = Self::open_existing(&self.config.clone(), self.range)?;
        let _ = std::fs::remove_dir_all(&empty);
        Ok(())
    }
}

fn tempfile_dir(parent: &Path) -> Result<PathBuf, StateError> {
    let dir = parent.join("placeholder");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

struct RocksDbSnapshot {
    dir: PathBuf,
}

impl StateSnapshot for RocksDbSnapshot {
    fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
        let guard = Arc::new(RemoveOnDrop(self.dir.clone()));
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            files.push(SnapshotFile {
                shared: name.ends_with(".sst"),
                name,
                content: SnapshotContent::Local { path: entry.path(), keep: Some(guard.clone()) },
                key_group_offsets: Vec::new(),
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }
}

/// The key group of a key stored by this backend (for cutting ranges out).
pub(crate) fn stored_key_group(key: &[u8]) -> Option<u32> {
    key_group_of_stored(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        crate::conformance::run_all(|range| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let config = RocksDbConfig { dir: dir.path().join(format!("instance-{i}")), memory_bytes: 64 << 20 };
            crate::Backend::from(RocksDbBackend::<u64>::open(&config, range).unwrap())
        });
    }
}
