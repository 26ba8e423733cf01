//! Writing a sorted run of changes into a column family: a few through a
//! write batch, many as an SST file that RocksDB takes over (ingests) as it
//! is, without inserting each entry into a memtable and flushing it again.

use std::path::Path;

use rocksdb::{ColumnFamily, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch, WriteOptions, DB};

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
    writer.finish().map_err(|e| db_err(&format!("finishing {}", sst.display()), e))?;
    let mut ingest = IngestExternalFileOptions::default();
    ingest.set_move_files(true);
    let result = db.ingest_external_file_cf_opts(cf, &ingest, vec![sst]).map_err(|e| db_err(&format!("ingesting {}", sst.display()), e));
    if sst.exists() {
        let _ = std::fs::remove_file(sst);
    }
    result
}

impl<K: Key> RocksDbBackend<K> {
    /// Writes the cache's changes and cached timers to RocksDB.
    pub(super) fn write_cache(&mut self) -> Result<(), StateError> {
        let db = &self.db;
        let ingest_dir = self.config.dir.join("ingest");
        // The filter of written keys may take up to half of the cache's share.
        let filter_limit = self.cache.share() / 2;
        let dirty = self.cache.take_changes();
        for (key, value) in &dirty {
            if value.is_some() {
                self.filter.insert(key, filter_limit);
            }
        }
        for run in dirty.chunk_by(|a, b| state_of_cache_key(a.0) == state_of_cache_key(b.0)) {
            let state = state_of_cache_key(run[0].0);
            let name = &self.states.get(state).ok_or(StateError::UnknownState(state))?.0;
            let entries: Vec<(&[u8], Option<&[u8]>)> = run.iter().map(|(k, v)| (&k[STATE_BYTES..], *v)).collect();
            self.ingested += 1;
            let sst = ingest_dir.join(format!("{:08}.sst", self.ingested));
            write_sorted(db, cf_of(db, name)?, &self.cf_options, &self.write, &sst, &entries)?;
        }
        drop(dirty);
        self.cache.reserve(self.filter.bytes());
        let timers = self.cache.take_timers();
        if timers.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for ((kg, ts), tails) in timers {
            if let Ok(i) = crate::key_group::index_in(self.range, u32::from(kg)) {
                let min = &mut self.db_timer_min[i];
                *min = Some(min.map_or(ts, |m| m.min(ts)));
            }
            let mut tails: Vec<_> = tails.into_iter().collect();
            tails.sort_unstable();
            for tail in tails {
                let mut key = Vec::with_capacity(KG_BYTES + 8 + tail.len());
                timer_key_from_tail(&mut key, u32::from(kg), ts, &tail);
                keys.push(key);
            }
        }
        let entries: Vec<(&[u8], Option<&[u8]>)> = keys.iter().map(|k| (k.as_slice(), Some(&[][..]))).collect();
        self.ingested += 1;
        let sst = ingest_dir.join(format!("{:08}.sst", self.ingested));
        write_sorted(&self.db, cf_of(&self.db, TIMERS_CF)?, &self.cf_options, &self.write, &sst, &entries)
    }
}
