//! Restoring a RocksDB backend from checkpoint files: the files of each
//! checkpointed instance are put in a directory of their own; one whose key
//! groups are exactly this instance's becomes its database as it is, others
//! have this instance's key-group range copied out of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, Options, DB};

use super::{db_err, db_options, stored_key_group, META_CF};
use crate::{KeyGroupRange, RestoredFile, StateError};

/// A stored key and its value.
type KeyValue = (Box<[u8]>, Box<[u8]>);

/// Files of one checkpointed instance, written to a local directory.
pub(crate) struct StagedInstance {
    dir: PathBuf,
    key_groups: Option<KeyGroupRange>,
}

/// Writes every restored file into `<dir>/restore/<n>/`, one directory per source instance.
pub(crate) fn stage(dir: &Path, files: &[RestoredFile]) -> Result<Vec<StagedInstance>, StateError> {
    let root = dir.join("restore");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let mut groups: BTreeMap<&str, Vec<&RestoredFile>> = BTreeMap::new();
    for f in files {
        groups.entry(f.source.as_str()).or_default().push(f);
    }
    let mut staged = Vec::new();
    for (i, (source, files)) in groups.into_iter().enumerate() {
        let target = root.join(i.to_string());
        std::fs::create_dir_all(&target)?;
        let mut has_current = false;
        for f in &files {
            if f.file_name.is_empty() || f.file_name.contains('/') || f.file_name.starts_with('.') {
                return Err(StateError::Corrupt(format!("{}: not a RocksDB file name: {:?}", f.name, f.file_name)));
            }
            has_current |= f.file_name == "CURRENT";
            f.place(&target.join(&f.file_name))?;
        }
        if !has_current {
            return Err(StateError::Corrupt(format!(
                "the keyed state of {source} is not a RocksDB checkpoint (it has no CURRENT file): it was written by another state backend"
            )));
        }
        staged.push(StagedInstance { dir: target, key_groups: files.first().and_then(|f| f.key_groups) });
    }
    Ok(staged)
}

/// Makes `<dir>/db` hold exactly the key groups of `range` from the staged instances.
pub(crate) fn install(dir: &Path, range: KeyGroupRange, staged: Vec<StagedInstance>, memory: u64) -> Result<(), StateError> {
    let db_dir = dir.join("db");
    if db_dir.exists() {
        std::fs::remove_dir_all(&db_dir)?;
    }
    if let [only] = staged.as_slice() {
        if only.key_groups == Some(range) {
            std::fs::rename(&only.dir, &db_dir)?;
            return Ok(());
        }
    }
    // Another parallelism: copy this range's entries out of every source that
    // overlaps it. Keys begin with their key group, so the range is one
    // contiguous run of each source; the runs of different sources do not
    // overlap, and each is written as a sorted SST file and ingested.
    let opts = db_options(memory);
    let mut target_cfs: Vec<String> = Vec::new();
    let mut target = DB::open_default(&db_dir).map_err(|e| db_err("creating the restored database", e))?;
    let first = (range.start as u16).to_be_bytes();
    let write = rocksdb::WriteOptions::default();
    let mut files = 0u64;
    for source in &staged {
        if source.key_groups.is_some_and(|r| r.intersection(&range).is_empty()) {
            continue;
        }
        let cfs = DB::list_cf(&Options::default(), &source.dir).map_err(|e| db_err("listing restored states", e))?;
        let db = DB::open_cf_for_read_only(&opts, &source.dir, &cfs, false).map_err(|e| db_err("opening restored files", e))?;
        for name in cfs.iter().filter(|c| c.as_str() != "default") {
            if !target_cfs.contains(name) {
                target.create_cf(name, &opts).map_err(|e| db_err("creating a restored state", e))?;
                target_cfs.push(name.clone());
            }
            let (Some(from), Some(to)) = (db.cf_handle(name), target.cf_handle(name)) else { continue };
            let meta = name.as_str() == META_CF;
            let mode = if meta { IteratorMode::Start } else { IteratorMode::From(&first, rocksdb::Direction::Forward) };
            let mut rows: Vec<KeyValue> = Vec::new();
            for item in db.iterator_cf(from, mode) {
                let (k, v) = item.map_err(|e| db_err("reading restored state", e))?;
                if !meta && stored_key_group(&k).is_none_or(|kg| kg > range.end) {
                    break;
                }
                rows.push((k, v));
            }
            let entries: Vec<(&[u8], Option<&[u8]>)> = rows.iter().map(|(k, v)| (&k[..], Some(&v[..]))).collect();
            files += 1;
            let sst = dir.join("restore").join(format!("cut-{files}.sst"));
            super::ingest::write_sorted(&target, to, &opts, &write, &sst, &entries)?;
        }
    }
    drop(target);
    for source in staged {
        let _ = std::fs::remove_dir_all(source.dir);
    }
    Ok(())
}
