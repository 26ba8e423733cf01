//! Writing a sorted run of changes into a column family: a few through a
//! write batch, many as an SST file that RocksDB takes over (ingests) as it
//! is, without inserting each entry into a memtable and flushing it again.

use std::path::Path;

use rocksdb::{ColumnFamily, IngestExternalFileOptions, Options, SstFileWriter, WriteBatch, WriteOptions, DB};

use super::db_err;
use crate::StateError;

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
