//! The RocksDB backend and the canonical format ([`crate::canonical`]).
//!
//! Writing: the synchronous phase is the same as for a native snapshot (a
//! RocksDB checkpoint of the live files); the asynchronous phase opens that
//! checkpoint read-only and streams every key group's entries, as they are
//! stored (already encoded, key group first, sorted), into the canonical
//! file's compressed chunks, without decoding them: one thread per core
//! (at least two) each writes a contiguous range of the instance's key
//! groups, and the parts are joined in key-group order.
//!
//! Reading (version 2): the blocks of the instance's key groups are split
//! into contiguous key-group ranges, one per thread; each thread streams its
//! entries into one SST file per state (the key group's two bytes ++ the
//! entry's key bytes, the value bytes), sorting a section first when its
//! writer did not sort it. Timers are written at once. A state's SST files
//! wait until the job registers the state with the types they were written
//! as, and are then ingested as they are. Version-1 blocks (older hashmap
//! checkpoints) are not framed: their entries are kept until registration,
//! decoded with the declared types, encoded again and written sorted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{DBRawIteratorWithThreadMode, Options, ReadOptions, SstFileWriter, DB};

use super::keys::{timer_key_from_tail, KG_BYTES};
use super::{cf_of, db_err, ingest, RocksDbBackend, META_CF, TIMERS_CF};
use crate::canonical::{self, At, CanonicalWriter, Loaded, Parsed, Section};
use crate::codec::{self, ValueFormat};
use crate::convert::{Plan, Reader};
use crate::snapshot::RemoveOnDrop;
use crate::{Key, KeyGroupRange, Namespace, RestoredFile, SnapshotFile, StateError, StateSnapshot, StateValue, UserKey};

/// A RocksDB checkpoint to be written in the canonical format.
pub(super) struct CanonicalSnapshot {
    pub dir: PathBuf,
    pub range: KeyGroupRange,
}

/// Options for reading a snapshot once from start to end.
fn scan_options() -> ReadOptions {
    let mut read = ReadOptions::default();
    read.fill_cache(false);
    // Large reads instead of a system call per 4 KiB block.
    read.set_readahead_size(SCAN_READAHEAD);
    read
}

/// Bytes read ahead while scanning a snapshot's files.
const SCAN_READAHEAD: usize = 4 << 20;

type RawIter<'a> = DBRawIteratorWithThreadMode<'a, DB>;

/// Seeks `it` to `prefix` and calls `f` with every entry whose key starts with it.
fn scan_prefix(it: &mut RawIter<'_>, prefix: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StateError>) -> Result<(), StateError> {
    it.seek(prefix);
    while let Some((k, v)) = it.item() {
        if !k.starts_with(prefix) {
            break;
        }
        f(k, v)?;
        it.next();
    }
    it.status().map_err(|e| db_err("reading the snapshot", e))
}

impl StateSnapshot for CanonicalSnapshot {
    fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
        let _remove = Arc::new(RemoveOnDrop(self.dir.clone()));
        let mut opts = Options::default();
        super::with_merge(&mut opts);
        let cfs = DB::list_cf(&opts, &self.dir).map_err(|e| db_err("listing the snapshot's states", e))?;
        let db = DB::open_cf_descriptors_read_only(&opts, &self.dir, super::descriptors(&opts, &cfs), false)
            .map_err(|e| db_err("opening the snapshot", e))?;
        let mut states: Vec<(String, String, ValueFormat)> = Vec::new();
        if let Some(meta) = db.cf_handle(META_CF) {
            let get = |key: String| -> Result<Option<String>, StateError> {
                let v = db.get_cf(meta, key.as_bytes()).map_err(|e| db_err("reading the state metadata", e))?;
                Ok(v.map(|v| String::from_utf8_lossy(&v).into_owned()))
            };
            for name in cfs.iter().filter(|c| !matches!(c.as_str(), "default" | TIMERS_CF | META_CF)) {
                if let Some(schema) = get(format!("schema:{name}"))? {
                    let format = match get(format!("format:{name}"))? {
                        Some(n) => ValueFormat::from_number(n.parse().unwrap_or(0))?,
                        None => ValueFormat::CURRENT,
                    };
                    states.push((name.clone(), schema, format));
                } else if let Some(type_name) = get(format!("type:{name}"))? {
                    states.push((name.clone(), type_name, ValueFormat::LEGACY));
                }
            }
        }
        // Contiguous key-group ranges, one per thread, written side by side
        // and joined in key-group order.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(2, WRITE_THREADS);
        let ranges = split(self.range, threads);
        let (db, states) = (&db, &states);
        let parts = on_threads(&ranges, "weir-canonical", |_, r| write_range(db, states, r));
        let mut file = CanonicalWriter::default();
        for part in parts {
            file.append(part?)?;
        }
        file.finish()
    }
}

/// The canonical blocks of the key groups in `range`, read from `db`, whose
/// keyed states are `states` (name, recorded schema, value format).
fn write_range(db: &DB, states: &[(String, String, ValueFormat)], range: KeyGroupRange) -> Result<CanonicalWriter, StateError> {
    let mut iters: Vec<(&str, &str, ValueFormat, RawIter<'_>)> = Vec::new();
    for (name, schema, format) in states {
        iters.push((name, schema, *format, db.raw_iterator_cf_opt(cf_of(db, name)?, scan_options())));
    }
    let mut timers = db.cf_handle(TIMERS_CF).map(|cf| db.raw_iterator_cf_opt(cf, scan_options()));
    let mut file = CanonicalWriter::default();
    for kg in range.iter() {
        let prefix = (kg as u16).to_be_bytes();
        file.begin_block(kg)?;
        for (name, schema, format, it) in &mut iters {
            file.begin_state(name, schema, *format, true)?;
            scan_prefix(it, &prefix, |k, v| file.push_entry(&k[KG_BYTES..], v))?;
        }
        if let Some(it) = &mut timers {
            file.begin_timers()?;
            scan_prefix(it, &prefix, |k, _| {
                let Some((ts, tail)) = k[KG_BYTES..].split_first_chunk::<8>() else {
                    return Err(StateError::Corrupt(format!("a timer key of key group {kg} is {} bytes long", k.len())));
                };
                file.push_timer(*ts, tail)
            })?;
        }
    }
    file.end_block()?;
    Ok(file)
}

/// Canonical entries of one state, kept until the job registers it.
pub(super) struct PendingState {
    /// The recorded schema (or, before schemas, type name).
    pub type_name: String,
    /// The value format of its entries.
    pub format: ValueFormat,
    /// Version-1 blocks: `(key group, codec(Vec<((K, N), V)>))`.
    pub blocks: Vec<(u32, Vec<u8>)>,
    /// Version 2: sorted SST files with disjoint key ranges, ready to ingest.
    pub ssts: Vec<SstFile>,
}

/// The pending entries of state `name`, which every block must declare with the same types.
fn pending_for<'a>(
    pending: &'a mut HashMap<String, PendingState>,
    name: &str,
    type_name: &str,
    format: ValueFormat,
) -> Result<&'a mut PendingState, StateError> {
    let p = pending.entry(name.to_string()).or_insert_with(|| PendingState {
        type_name: type_name.to_string(),
        format,
        blocks: vec![],
        ssts: vec![],
    });
    if p.type_name != type_name {
        return Err(StateError::Corrupt(format!("state '{name}' is written as {type_name} and as {}", p.type_name)));
    }
    if p.format != format {
        return Err(StateError::Corrupt(format!("state '{name}' is written in {format} and in {}", p.format)));
    }
    Ok(p)
}

/// Adds restored SST files `(state, types, file)` to the pending entries of
/// their states; the first error once all are added.
fn pend_ssts(pending: &mut HashMap<String, PendingState>, ssts: Vec<(String, String, ValueFormat, SstFile)>) -> Result<(), StateError> {
    let mut result = Ok(());
    for (name, type_name, format, sst) in ssts {
        match pending_for(pending, &name, &type_name, format) {
            Ok(p) => p.ssts.push(sst),
            Err(e) => result = result.and(Err(e)),
        }
    }
    result
}

/// An SST file built for a restore, removed unless RocksDB took it over.
pub(super) struct SstFile(pub PathBuf);

impl SstFile {
    /// Keeps the file: it is no longer removed when this is dropped.
    pub(super) fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for SstFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// The stored timer key of a canonical timer entry.
pub(super) fn timer_key_of(kg: u32, ts: i64, key_and_namespace: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(KG_BYTES + 8 + key_and_namespace.len());
    timer_key_from_tail(&mut key, kg, ts, key_and_namespace);
    key
}

/// One state's SST file being written by one restore thread.
struct StateSst<'o> {
    type_name: String,
    format: ValueFormat,
    writer: SstFileWriter<'o>,
    path: PathBuf,
}

/// What one restore thread made of its key-group range.
#[derive(Default)]
pub(super) struct Part {
    /// `(state, recorded schema, value format, SST file)`.
    pub ssts: Vec<(String, String, ValueFormat, SstFile)>,
    /// Stored timer keys, unsorted.
    pub timer_keys: Vec<Vec<u8>>,
    /// Stored timer keys in value format 1 (their tails need the key type to convert).
    pub legacy_timer_keys: Vec<Vec<u8>>,
    /// Version-1 entries: `(state, types, key group, entries)`.
    pub v1: Vec<(String, String, u32, Vec<u8>)>,
    /// Version-1 timers: `(key group, codec(Vec<(time, K, namespace)>))`,
    /// decoded once the key type is known.
    pub v1_timers: Vec<(u32, Vec<u8>)>,
}

impl Part {
    /// Whether it holds version-1 entries or timers, or timers in an older
    /// value format (which need the job's types).
    pub(super) fn needs_types(&self) -> bool {
        !self.v1.is_empty() || !self.v1_timers.is_empty() || !self.legacy_timer_keys.is_empty()
    }
}

/// The SST files (and timer keys) of `range` from the canonical `files`,
/// built on up to `threads` threads in `dir`, named `<prefix>-<thread>-<n>.sst`;
/// one part per thread, in key-group order.
pub(super) fn build_parts(
    files: &[RestoredFile],
    range: KeyGroupRange,
    options: &Options,
    dir: &Path,
    prefix: &str,
    threads: usize,
) -> Result<Vec<Part>, StateError> {
    let loaded = canonical::load(files, range)?;
    std::fs::create_dir_all(dir)?;
    let ranges = split(range, threads.max(1));
    let loaded = &loaded;
    on_threads(&ranges, "weir-canonical-restore", |i, r| build_part(loaded, r, options, dir, &format!("{prefix}-{i}")))
        .into_iter()
        .collect()
}

impl StateSst<'_> {
    /// Writes `kg ++ key -> value`. Keys must grow strictly: the SST file
    /// writer checks that (an invalid argument), so it is not compared here
    /// a second time.
    #[inline]
    fn put(&mut self, at: At<'_>, name: &str, key: &mut Vec<u8>, kg: [u8; 2], k: &[u8], v: &[u8]) -> Result<(), StateError> {
        key.clear();
        key.extend_from_slice(&kg);
        key.extend_from_slice(k);
        self.writer.put(&*key, v).map_err(|e| match e.kind() {
            rocksdb::ErrorKind::InvalidArgument => {
                at.corrupt(format!("state '{name}': its entries are not in increasing key order, or a key appears twice"))
            }
            _ => db_err(&format!("writing {}", self.path.display()), e),
        })
    }
}

/// Streams the blocks of `range` into SST files under `dir` named `<prefix>-<n>.sst`.
fn build_part(loaded: &Loaded<'_>, range: KeyGroupRange, options: &Options, dir: &Path, prefix: &str) -> Result<Part, StateError> {
    let mut part = Part::default();
    let mut states: HashMap<String, StateSst<'_>> = HashMap::new();
    let (mut buf, mut key) = (Vec::new(), Vec::new());
    let result = loaded.blocks(range, |at, bytes| {
        let kg = at.key_group;
        let kg_bytes = (kg as u16).to_be_bytes();
        match canonical::parse_block(at, bytes)? {
            Parsed::V1(block) => {
                for (name, type_name, entries) in block.tables {
                    part.v1.push((name, type_name, kg, entries));
                }
                part.v1_timers.push((kg, block.timers));
            }
            Parsed::V2(sections) => {
                for section in sections {
                    match section {
                        Section::State { name, type_name, format, sorted, chunks } => {
                            if !states.contains_key(name) {
                                let path = dir.join(format!("{prefix}-{}.sst", states.len()));
                                let writer = SstFileWriter::create(options);
                                writer.open(&path).map_err(|e| db_err(&format!("creating {}", path.display()), e))?;
                                states.insert(name.to_string(), StateSst { type_name: type_name.to_string(), format, writer, path });
                            }
                            let Some(sst) = states.get_mut(name) else { continue };
                            if sst.format != format {
                                return Err(at.corrupt(format!("state '{name}' is written in {format} here and in {} before", sst.format)));
                            }
                            if sst.type_name != type_name {
                                return Err(
                                    at.corrupt(format!("state '{name}' is written as {type_name} here and as {} before", sst.type_name))
                                );
                            }
                            if sorted {
                                chunks.for_each(at, &mut buf, |raw| {
                                    for entry in canonical::entries(raw) {
                                        let (k, v) = entry.map_err(|e| at.corrupt(format!("state '{name}': {e}")))?;
                                        sst.put(at, name, &mut key, kg_bytes, k, v)?;
                                    }
                                    Ok(())
                                })?;
                            } else {
                                buf.clear();
                                chunks.decompress_all(at, &mut buf)?;
                                let mut rows: Vec<(&[u8], &[u8])> = Vec::new();
                                for entry in canonical::entries(&buf) {
                                    rows.push(entry.map_err(|e| at.corrupt(format!("state '{name}': {e}")))?);
                                }
                                rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
                                for (k, v) in rows.drain(..) {
                                    sst.put(at, name, &mut key, kg_bytes, k, v)?;
                                }
                            }
                        }
                        Section::Timers(format, chunks) => chunks.for_each(at, &mut buf, |raw| {
                            let keys = if format == ValueFormat::CURRENT { &mut part.timer_keys } else { &mut part.legacy_timer_keys };
                            for timer in canonical::timers(raw) {
                                let (ts, tail) = timer.map_err(|e| at.corrupt(format!("timers: {e}")))?;
                                keys.push(timer_key_of(kg, canonical::ts_from_bytes(ts), tail));
                            }
                            Ok(())
                        })?,
                    }
                }
            }
        }
        Ok(())
    });
    // Every file written so far is removed if anything failed.
    let mut names: Vec<String> = states.keys().cloned().collect();
    names.sort();
    for name in names {
        let Some(mut sst) = states.remove(&name) else { continue };
        let file = SstFile(sst.path.clone());
        if result.is_ok() {
            sst.writer.finish().map_err(|e| db_err(&format!("finishing {}", sst.path.display()), e))?;
        }
        part.ssts.push((name, sst.type_name, sst.format, file));
    }
    result.map(|_| part)
}

/// Runs `f(i, ranges[i])` for every range on a thread of its own (named
/// `name`) and returns the results in the ranges' order; a thread that
/// cannot start or panics gives an error.
fn on_threads<T: Send>(
    ranges: &[KeyGroupRange],
    name: &str,
    f: impl Fn(usize, KeyGroupRange) -> Result<T, StateError> + Sync,
) -> Vec<Result<T, StateError>> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let r = *r;
                std::thread::Builder::new().name(name.to_string()).spawn_scoped(s, move || f(i, r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(StateError::Io(std::io::Error::other(format!("a thread of {name} panicked"))))),
                Err(e) => Err(StateError::Io(e)),
            })
            .collect()
    })
}

/// Splits `range` into at most `n` contiguous ranges of about equal size.
fn split(range: KeyGroupRange, n: usize) -> Vec<KeyGroupRange> {
    let len = range.len() as u32;
    let n = (n as u32).clamp(1, len.max(1));
    (0..n).map(|i| KeyGroupRange::new(range.start + len * i / n, range.start + len * (i + 1) / n - 1)).filter(|r| !r.is_empty()).collect()
}

impl<K: Key> RocksDbBackend<K> {
    /// Restores canonical files: timers now, state entries when registered.
    pub(super) fn restore_canonical(&mut self, files: &[RestoredFile]) -> Result<(), StateError> {
        let dir = self.config.dir.join("ingest");
        self.ingested += 1;
        let restore_no = self.ingested;
        if let Some(prepared) = super::prepare::adopt_canonical(&self.config.dir, self.range, files, &dir, restore_no)? {
            return self.load_prepared(prepared);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(RESTORE_THREADS);
        let parts = build_parts(files, self.range, &self.cf_options, &dir, &format!("{restore_no:08}-canonical"), threads)?;
        let mut timer_keys: Vec<Vec<u8>> = Vec::new();
        let mut pending = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for part in parts {
            timer_keys.extend(part.timer_keys);
            for legacy in &part.legacy_timer_keys {
                match super::upgrade::current_timer_key::<K>(legacy) {
                    Ok(key) => timer_keys.push(key),
                    Err(e) => result = result.and(Err(e)),
                }
            }
            for (kg, bytes) in part.v1_timers {
                match v1_timer_keys::<K>(kg, &bytes) {
                    Ok(keys) => timer_keys.extend(keys),
                    Err(e) => result = result.and(Err(e)),
                }
            }
            result = result.and(pend_ssts(&mut pending, part.ssts));
            for (name, type_name, kg, entries) in part.v1 {
                match pending_for(&mut pending, &name, &type_name, ValueFormat::LEGACY) {
                    Ok(p) => p.blocks.push((kg, entries)),
                    Err(e) => result = result.and(Err(e)),
                }
            }
        }
        self.pending = pending;
        result?;
        timer_keys.sort_unstable();
        timer_keys.dedup();
        self.ingested += 1;
        let sst = dir.join(format!("{:08}.sst", self.ingested));
        let entries = ingest::timer_entries(&timer_keys);
        ingest::write_sorted(&self.db, cf_of(&self.db, TIMERS_CF)?, &self.cf_options, &self.write, &sst, &entries)?;
        self.rebuild_timer_index()
    }

    /// Takes a canonical restore prepared before the backend was opened
    /// over: its states' SST files wait for registration, its timers are
    /// ingested now.
    fn load_prepared(&mut self, prepared: super::prepare::PreparedCanonical) -> Result<(), StateError> {
        pend_ssts(&mut self.pending, prepared.ssts)?;
        if !prepared.timers.is_empty() {
            let paths: Vec<&Path> = prepared.timers.iter().map(|f| f.0.as_path()).collect();
            ingest::move_in(&self.db, cf_of(&self.db, TIMERS_CF)?, &paths, "ingesting the restored timers")?;
        }
        self.rebuild_timer_index()
    }

    /// Writes a registered state's restored entries: ingests its SST files
    /// (converting them in place when `plan` says so), and converts
    /// version-1 entries with its declared types and writes them.
    pub(super) fn load_canonical<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        name: &str,
        reader: &Reader<'_, K, N, UK, V>,
        plan: Option<Plan<V>>,
        pending: PendingState,
    ) -> Result<(), StateError> {
        if !pending.ssts.is_empty() {
            let cf = cf_of(&self.db, name)?;
            let paths: Vec<&Path> = pending.ssts.iter().map(|f| f.0.as_path()).collect();
            ingest::move_in(&self.db, cf, &paths, &format!("ingesting the restored entries of state '{name}'"))?;
            if let Some(plan) = plan.filter(|p| p.converts()) {
                self.convert_state(name, reader, &plan)?;
            }
        }
        if pending.blocks.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (kg, bytes) in pending.blocks {
            reader.convert_v1(&bytes, &mut |k, v| {
                let mut key = (kg as u16).to_be_bytes().to_vec();
                key.extend_from_slice(k);
                rows.push((key, v.to_vec()));
                Ok(())
            })?;
        }
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        let entries: Vec<(&[u8], Option<&[u8]>)> = rows.iter().map(|(k, v)| (k.as_slice(), Some(v.as_slice()))).collect();
        self.ingested += 1;
        let sst = self.config.dir.join("ingest").join(format!("{:08}.sst", self.ingested));
        ingest::write_sorted(&self.db, cf_of(&self.db, name)?, &self.cf_options, &self.write, &sst, &entries)
    }
}

/// The stored timer keys of a version-1 block's timers of key group `kg`.
fn v1_timer_keys<K: Key>(kg: u32, bytes: &[u8]) -> Result<Vec<Vec<u8>>, StateError> {
    let timers: Vec<(i64, K, i64)> =
        codec::decode(ValueFormat::LEGACY, bytes).map_err(|e| StateError::Corrupt(format!("the timers of key group {kg}: {e}")))?;
    timers.into_iter().map(|(ts, key, ns)| Ok(timer_key_of(kg, ts, &codec::encode(&(key, ns))?))).collect()
}

/// Threads a restore writes SST files with (at most; no more than the machine's cores).
const RESTORE_THREADS: usize = 4;

/// Threads an instance writes a canonical snapshot with: one per core, at
/// least two (the job's operators keep running meanwhile, and a savepoint
/// should not wait for a single thread's share of the cores), at most this.
const WRITE_THREADS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_evenly_and_cover() {
        let r = KeyGroupRange::new(10, 73);
        let parts = split(r, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].start, 10);
        assert_eq!(parts[2].end, 73);
        assert!(parts.windows(2).all(|w| w[0].end + 1 == w[1].start));
        assert_eq!(split(KeyGroupRange::new(5, 5), 4).len(), 1);
    }
}
