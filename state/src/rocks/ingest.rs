//! Writing a sorted run of changes into a column family: a few through a
//! write batch, many as an SST file that RocksDB takes over (ingests) as it
//! is, without inserting each entry into a memtable and flushing it again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamily, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch, WriteOptions, DB};

use rustc_hash::FxHashSet;

use super::cache::{Changes, TimerTail};
use super::keys::{state_of_cache_key, timer_key_from_tail, KG_BYTES, STATE_BYTES};
use super::{cf_of, db_err, RocksDbBackend, TIMERS_CF};
use crate::{Key, StateError};

/// Runs shorter than this go through a write batch.
pub(crate) const INGEST_MIN_ENTRIES: usize = 4096;

/// Writes `entries` (strictly ordered by key; `None` removes the key) into `cf`.
/// `sst` is where the SST file is built when the run is long enough; `options`
/// are the column family's options.
pub(crate) fn write_sorted<'k>(
    db: &DB,
    cf: &ColumnFamily,
    options: &Options,
    write: &WriteOptions,
    sst: &Path,
    entries: &[(&'k [u8], Option<&'k [u8]>)],
) -> Result<(), StateError> {
    if entries.is_empty() {
        return Ok(());
    }
    if entries.len() < INGEST_MIN_ENTRIES {
        let mut batch = WriteBatch::default();
        for (key, value) in entries {
            match value {
                Some(v) => batch.put_cf(cf, key, v),
                None => batch.delete_cf(cf, key),
            }
        }
        return db.write_opt(batch, write).map_err(|e| db_err("writing changes", e));
    }
    build_sst(options, sst, entries)?;
    move_in_or_remove(db, cf, sst)
}

/// Has RocksDB take the SST file `sst` over into `cf`; removes the file when
/// RocksDB did not take it (the ingestion failed).
pub(crate) fn move_in_or_remove(db: &DB, cf: &ColumnFamily, sst: &Path) -> Result<(), StateError> {
    let result = move_in(db, cf, &[sst], &format!("ingesting {}", sst.display()));
    if sst.exists() {
        let _ = std::fs::remove_file(sst);
    }
    result
}

/// Has RocksDB take the SST `files` over into `cf` as they are (moved, or
/// linked, into the database); `what` names the step in an error.
pub(crate) fn move_in<P: AsRef<Path>>(db: &DB, cf: &ColumnFamily, files: &[P], what: &str) -> Result<(), StateError> {
    let mut ingest = IngestExternalFileOptions::default();
    ingest.set_move_files(true);
    let paths: Vec<&Path> = files.iter().map(AsRef::as_ref).collect();
    db.ingest_external_file_cf_opts(cf, &ingest, paths).map_err(|e| db_err(what, e))
}

/// Timer keys as entries to write (a timer is its key; the value is empty).
pub(crate) fn timer_entries(keys: &[Vec<u8>]) -> Vec<(&[u8], Option<&[u8]>)> {
    keys.iter().map(|k| (k.as_slice(), Some(&[][..]))).collect()
}

/// Writes `entries` (strictly ordered by key; `None` removes the key) into a
/// new SST file at `sst`, for a column family with `options`.
pub(crate) fn build_sst(options: &Options, sst: &Path, entries: &[(&[u8], Option<&[u8]>)]) -> Result<(), StateError> {
    if let Some(parent) = sst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut writer = SstFileWriter::create(options);
    writer.open(sst).map_err(|e| db_err(&format!("creating {}", sst.display()), e))?;
    for (key, value) in entries {
        match value {
            Some(v) => writer.put(key, v),
            None => writer.delete(key),
        }
        .map_err(|e| db_err(&format!("writing {}", sst.display()), e))?;
    }
    writer.finish().map_err(|e| db_err(&format!("finishing {}", sst.display()), e))
}

/// Changes taken out of the write cache, to be written to RocksDB (now, or
/// by a snapshot's thread: see [`super::deferred`]). Ordering them and
/// building the timers' keys is left to whoever writes them, so that a
/// snapshot's synchronous phase only copies.
pub(super) struct Writes {
    /// The changes, in the cache's order until [`Writes::apply`] sorts them.
    changes: Changes,
    /// The column family of every state, by state index.
    states: Vec<String>,
    /// The timers by key group and time.
    timers: BTreeMap<(u16, i64), FxHashSet<TimerTail>>,
    /// Where the SST files are built, and the number of the first.
    dir: PathBuf,
    first_sst: u64,
}

impl Writes {
    /// SST file numbers a write may use: one per state and one for the timers.
    fn sst_numbers(states: usize) -> u64 {
        states as u64 + 1
    }

    /// How many changes there are.
    pub(super) fn len(&self) -> usize {
        self.changes.len()
    }

    /// Writes the changes into `db`, whose column families take `options`.
    pub(super) fn apply(&mut self, db: &DB, options: &Options, write: &WriteOptions) -> Result<(), StateError> {
        self.changes.sort();
        let changes = &self.changes;
        let mut sst = self.first_sst;
        let mut start = 0;
        while start < changes.len() {
            let state = state_of_cache_key(changes.get(start).0);
            let len = (start..changes.len()).take_while(|&i| state_of_cache_key(changes.get(i).0) == state).count();
            let name = self.states.get(state).ok_or(StateError::UnknownState(state))?;
            let entries: Vec<(&[u8], Option<&[u8]>)> = (start..start + len)
                .map(|i| {
                    let (k, v) = changes.get(i);
                    (&k[STATE_BYTES..], v)
                })
                .collect();
            write_sorted(db, cf_of(db, name)?, options, write, &self.dir.join(format!("{sst:08}.sst")), &entries)?;
            sst += 1;
            start += len;
        }
        // Every timer key into one buffer (a window's worth is hundreds of
        // thousands of them), then one entry per key.
        let mut keys: Vec<u8> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut key = Vec::with_capacity(KG_BYTES + 8 + 24);
        for ((kg, ts), tails) in &self.timers {
            let mut tails: Vec<&TimerTail> = tails.iter().collect();
            tails.sort_unstable();
            for tail in tails {
                timer_key_from_tail(&mut key, u32::from(*kg), *ts, tail);
                keys.extend_from_slice(&key);
                ends.push(keys.len());
            }
        }
        let entries: Vec<(&[u8], Option<&[u8]>)> =
            ends.iter().scan(0, |start, &end| Some((&keys[std::mem::replace(start, end)..end], Some(&[][..])))).collect();
        write_sorted(db, cf_of(db, TIMERS_CF)?, options, write, &self.dir.join(format!("{sst:08}.sst")), &entries)
    }
}

impl<K: Key> RocksDbBackend<K> {
    /// Writes the cache's changes and cached timers to RocksDB.
    pub(super) fn write_cache(&mut self) -> Result<(), StateError> {
        self.settle()?;
        let mut writes = self.take_writes();
        writes.apply(&self.db, &self.cf_options, &self.write)
    }

    /// Takes the cache's changes and cached timers out, to be written: from
    /// here on the key filter and the timer index count them as in RocksDB.
    pub(super) fn take_writes(&mut self) -> Writes {
        // The filter of written keys may take up to half of the cache's share.
        let filter_limit = self.cache.share() / 2;
        let filter = &mut self.filter;
        let changes = self.cache.take_changes(|key| filter.insert(key, filter_limit));
        self.filter.note_removed(changes.removals());
        self.cache.reserve(self.filter.bytes());
        let timers = self.cache.take_timers();
        for (kg, ts) in timers.keys() {
            if let Ok(i) = crate::key_group::index_in(self.range, u32::from(*kg)) {
                let min = &mut self.db_timer_min[i];
                *min = Some(min.map_or(*ts, |m| m.min(*ts)));
            }
        }
        let states: Vec<String> = self.states.iter().map(|s| s.0.clone()).collect();
        let first_sst = self.ingested + 1;
        self.ingested += Writes::sst_numbers(states.len());
        Writes { changes, states, timers, dir: self.config.dir.join("ingest"), first_sst }
    }
}
