//! Writing a sorted run of changes into a column family: a few through a
//! write batch, many as an SST file that RocksDB takes over (ingests) as it
//! is, without inserting each entry into a memtable and flushing it again.

use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamily, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch, WriteOptions, DB};

use super::cache::Changes;
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
    let mut ingest = IngestExternalFileOptions::default();
    ingest.set_move_files(true);
    let result = db.ingest_external_file_cf_opts(cf, &ingest, vec![sst]).map_err(|e| db_err(&format!("ingesting {}", sst.display()), e));
    if sst.exists() {
        let _ = std::fs::remove_file(sst);
    }
    result
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
/// by a snapshot's thread: see [`super::deferred`]).
pub(super) struct Writes {
    /// The changes, ordered by key (so by state first).
    changes: Changes,
    /// Per state: its column family and where its changes are in `changes`.
    runs: Vec<(String, std::ops::Range<usize>)>,
    /// Timer keys, ordered.
    timers: Vec<Vec<u8>>,
    /// Where the SST files are built, and the number of the first.
    dir: PathBuf,
    first_sst: u64,
}

impl Writes {
    /// Writes the changes into `db`, whose column families take `options`.
    pub(super) fn apply(&self, db: &DB, options: &Options, write: &WriteOptions) -> Result<(), StateError> {
        let mut sst = self.first_sst;
        for (name, run) in &self.runs {
            let entries: Vec<(&[u8], Option<&[u8]>)> = run
                .clone()
                .map(|i| {
                    let (k, v) = self.changes.get(i);
                    (&k[STATE_BYTES..], v)
                })
                .collect();
            write_sorted(db, cf_of(db, name)?, options, write, &self.dir.join(format!("{sst:08}.sst")), &entries)?;
            sst += 1;
        }
        let entries: Vec<(&[u8], Option<&[u8]>)> = self.timers.iter().map(|k| (k.as_slice(), Some(&[][..]))).collect();
        write_sorted(db, cf_of(db, TIMERS_CF)?, options, write, &self.dir.join(format!("{sst:08}.sst")), &entries)
    }
}

impl<K: Key> RocksDbBackend<K> {
    /// Writes the cache's changes and cached timers to RocksDB.
    pub(super) fn write_cache(&mut self) -> Result<(), StateError> {
        self.settle()?;
        let writes = self.take_writes()?;
        writes.apply(&self.db, &self.cf_options, &self.write)
    }

    /// Takes the cache's changes and cached timers out, to be written: from
    /// here on the key filter and the timer index count them as in RocksDB.
    pub(super) fn take_writes(&mut self) -> Result<Writes, StateError> {
        // The filter of written keys may take up to half of the cache's share.
        let filter_limit = self.cache.share() / 2;
        let filter = &mut self.filter;
        let changes = self.cache.take_changes(|key| filter.insert(key, filter_limit));
        let mut runs: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        let mut start = 0;
        while start < changes.len() {
            let state = state_of_cache_key(changes.get(start).0);
            let len = (start..changes.len()).take_while(|&i| state_of_cache_key(changes.get(i).0) == state).count();
            let name = &self.states.get(state).ok_or(StateError::UnknownState(state))?.0;
            runs.push((name.clone(), start..start + len));
            start += len;
        }
        self.cache.reserve(self.filter.bytes());
        let mut timers: Vec<Vec<u8>> = Vec::new();
        for ((kg, ts), tails) in self.cache.take_timers() {
            if let Ok(i) = crate::key_group::index_in(self.range, u32::from(kg)) {
                let min = &mut self.db_timer_min[i];
                *min = Some(min.map_or(ts, |m| m.min(ts)));
            }
            let mut tails: Vec<_> = tails.into_iter().collect();
            tails.sort_unstable();
            for tail in tails {
                let mut key = Vec::with_capacity(KG_BYTES + 8 + tail.len());
                timer_key_from_tail(&mut key, u32::from(kg), ts, &tail);
                timers.push(key);
            }
        }
        let first_sst = self.ingested + 1;
        self.ingested += runs.len() as u64 + 1;
        Ok(Writes { changes, runs, timers, dir: self.config.dir.join("ingest"), first_sst })
    }
}
