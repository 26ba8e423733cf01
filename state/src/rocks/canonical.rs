//! The RocksDB backend and the canonical format ([`crate::canonical`]).
//!
//! Writing: the synchronous phase is the same as for a native snapshot (a
//! RocksDB checkpoint of the live files); the asynchronous phase opens that
//! checkpoint read-only and writes every key group's entries as they are
//! stored (already encoded, key group first), without decoding them.
//!
//! Reading: timers are written at once; a state's entries are kept until the
//! job registers the state, when they are decoded with its declared types
//! (which checks them) and written as one sorted SST file per state.

use std::path::PathBuf;
use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, Options, DB};
use weir_checkpoint::codec;

use super::keys::{timer_key_from_tail, timer_ts, KG_BYTES};
use super::{cf_of, db_err, ingest, RocksDbBackend, META_CF, TIMERS_CF};
use crate::canonical::{Block, CanonicalWriter, EncodedList};
use crate::snapshot::RemoveOnDrop;
use crate::{Key, KeyGroupRange, Namespace, RestoredFile, SnapshotFile, StateError, StateSnapshot, StateValue};

/// A RocksDB checkpoint to be written in the canonical format.
pub(super) struct CanonicalSnapshot {
    pub dir: PathBuf,
    pub range: KeyGroupRange,
}

impl StateSnapshot for CanonicalSnapshot {
    fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
        let _remove = Arc::new(RemoveOnDrop(self.dir.clone()));
        let opts = Options::default();
        let cfs = DB::list_cf(&opts, &self.dir).map_err(|e| db_err("listing the snapshot's states", e))?;
        let db = DB::open_cf_for_read_only(&opts, &self.dir, &cfs, false).map_err(|e| db_err("opening the snapshot", e))?;
        let mut states: Vec<(String, String)> = Vec::new();
        if let Some(meta) = db.cf_handle(META_CF) {
            for name in cfs.iter().filter(|c| !matches!(c.as_str(), "default" | TIMERS_CF | META_CF)) {
                let type_name = db.get_cf(meta, format!("type:{name}").as_bytes()).map_err(|e| db_err("reading state types", e))?;
                if let Some(t) = type_name {
                    states.push((name.clone(), String::from_utf8_lossy(&t).into_owned()));
                }
            }
        }
        let mut file = CanonicalWriter::default();
        for kg in self.range.iter() {
            let prefix = (kg as u16).to_be_bytes();
            let mut block = Block { tables: Vec::new(), timers: Vec::new() };
            for (name, type_name) in &states {
                let Some(cf) = db.cf_handle(name) else { continue };
                let mut entries = EncodedList::default();
                for item in db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward)) {
                    let (k, v) = item.map_err(|e| db_err("reading the snapshot", e))?;
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    entries.push(&[&k[KG_BYTES..], &v]);
                }
                if !entries.is_empty() {
                    block.tables.push((name.clone(), type_name.clone(), entries.finish()?));
                }
            }
            let mut timers = EncodedList::default();
            if let Some(cf) = db.cf_handle(TIMERS_CF) {
                for item in db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward)) {
                    let (k, _) = item.map_err(|e| db_err("reading the snapshot's timers", e))?;
                    let Some(ts) = timer_ts(&k).filter(|_| k.starts_with(&prefix)) else { break };
                    timers.push(&[&codec::encode(&ts)?, &k[KG_BYTES + 8..]]);
                }
            }
            if block.tables.is_empty() && timers.is_empty() {
                continue;
            }
            block.timers = timers.finish()?;
            file.push(kg, &block)?;
        }
        Ok(file.finish())
    }
}

/// Canonical entries of one state, kept until the job registers it.
pub(super) struct PendingState {
    pub type_name: String,
    /// `(key group, encoded entries)`.
    pub blocks: Vec<(u32, Vec<u8>)>,
}

/// The stored timer key of a canonical timer entry.
pub(super) fn timer_key_of(kg: u32, ts: i64, key_and_namespace: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(KG_BYTES + 8 + key_and_namespace.len());
    timer_key_from_tail(&mut key, kg, ts, key_and_namespace);
    key
}

impl<K: Key> RocksDbBackend<K> {
    /// Restores canonical files: timers now, state entries when registered.
    pub(super) fn restore_canonical(&mut self, files: &[RestoredFile]) -> Result<(), StateError> {
        let mut timer_keys: Vec<Vec<u8>> = Vec::new();
        let mut pending = std::mem::take(&mut self.pending);
        crate::canonical::read_blocks(files, self.range, |kg, block| {
            for (name, type_name, entries) in block.tables {
                pending.entry(name).or_insert_with(|| PendingState { type_name, blocks: Vec::new() }).blocks.push((kg, entries));
            }
            let timers: Vec<(i64, K, i64)> =
                codec::decode(&block.timers).map_err(|e| StateError::Corrupt(format!("timers of key group {kg}: {e}")))?;
            for (ts, key, ns) in timers {
                timer_keys.push(timer_key_of(kg, ts, &codec::encode(&(key, ns))?));
            }
            Ok(())
        })?;
        self.pending = pending;
        timer_keys.sort_unstable();
        timer_keys.dedup();
        let entries: Vec<(&[u8], Option<&[u8]>)> = timer_keys.iter().map(|k| (k.as_slice(), Some(&[][..]))).collect();
        self.ingested += 1;
        let sst = self.config.dir.join("ingest").join(format!("{:08}.sst", self.ingested));
        ingest::write_sorted(&self.db, cf_of(&self.db, TIMERS_CF)?, &self.cf_options, &self.write, &sst, &entries)?;
        self.rebuild_timer_index()
    }

    /// Decodes a registered state's canonical entries with its declared types and writes them.
    pub(super) fn load_canonical<N: Namespace, V: StateValue>(&mut self, name: &str, pending: PendingState) -> Result<(), StateError> {
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (kg, bytes) in pending.blocks {
            let decoded: Vec<((K, N), V)> = codec::decode(&bytes).map_err(|e| StateError::IncompatibleState {
                name: name.to_string(),
                requested: std::any::type_name::<(N, V)>(),
                reason: format!("key group {kg} does not decode: {e}"),
            })?;
            for ((key, ns), value) in decoded {
                let mut k = (kg as u16).to_be_bytes().to_vec();
                codec::encode_into(&(key, ns), &mut k)?;
                rows.push((k, codec::encode(&value)?));
            }
        }
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        let entries: Vec<(&[u8], Option<&[u8]>)> = rows.iter().map(|(k, v)| (k.as_slice(), Some(v.as_slice()))).collect();
        self.ingested += 1;
        let sst = self.config.dir.join("ingest").join(format!("{:08}.sst", self.ingested));
        ingest::write_sorted(&self.db, cf_of(&self.db, name)?, &self.cf_options, &self.write, &sst, &entries)
    }
}
