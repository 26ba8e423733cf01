//! Restoring a RocksDB backend from checkpoint files: the files of each
//! checkpointed instance are put in a directory of their own. The instance
//! whose key groups overlap this instance's most ([`kept_instance`]) becomes
//! its database, its files as they are, cut down to this instance's range by
//! range deletions ([`super::cut`]); this range's entries of every other
//! overlapping instance are copied in as sorted SST files. At the same
//! parallelism that is one instance with exactly this range: nothing to cut
//! and nothing to copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocksdb::{Options, ReadOptions, SstFileWriter, WriteBatch, DB};

use super::cut::{cut_to, key_group_start};
use super::{db_err, db_options, META_CF};
use crate::{KeyGroupRange, RestoredFile, StateError};

/// Files of one checkpointed instance, written to a local directory.
pub(crate) struct StagedInstance {
    dir: PathBuf,
    /// The instance, for messages (`<operator> instance <n>`).
    source: String,
    key_groups: Option<KeyGroupRange>,
}

/// What a restore of one RocksDB instance did with the checkpointed instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// The checkpointed instance whose files became the database as they are.
    pub kept: Option<String>,
    /// Range deletions that removed the kept files' key groups outside the range.
    pub deleted_ranges: usize,
    /// Checkpointed instances whose entries in the range were copied in.
    pub copied: Vec<String>,
    /// Entries copied from them.
    pub copied_entries: u64,
}

/// Which of the checkpointed instances (by their key-group ranges) a RocksDB
/// restore of `range` takes the files of as they are: the one that overlaps
/// `range` most, the one with the lowest range on a tie; `None` when none
/// does. Incremental checkpoints of the restored instance may reference that
/// instance's shared files, and only those.
///
/// ```
/// use weir_state::{kept_instance, KeyGroupRange};
/// let old = [Some(KeyGroupRange::new(0, 42)), Some(KeyGroupRange::new(43, 85)), Some(KeyGroupRange::new(86, 127))];
/// assert_eq!(kept_instance(KeyGroupRange::new(64, 127), &old), Some(2));
/// assert_eq!(kept_instance(KeyGroupRange::new(0, 63), &old), Some(0));
/// ```
pub fn kept_instance(range: KeyGroupRange, sources: &[Option<KeyGroupRange>]) -> Option<usize> {
    let mut best: Option<(usize, usize, u32)> = None;
    for (i, source) in sources.iter().enumerate() {
        let Some(r) = source else { continue };
        let overlap = r.intersection(&range).len();
        if overlap == 0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, o, start)) => overlap > o || (overlap == o && r.start < start),
        };
        if better {
            best = Some((i, overlap, r.start));
        }
    }
    best.map(|(i, _, _)| i)
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
            if f.file_name.ends_with(".sst") {
                // Immutable: a hard link when the file is local.
                f.place(&target.join(&f.file_name))?;
            } else {
                // MANIFEST, OPTIONS and the like: a copy of its own, since the
                // staged files of one instance may become the database of several.
                std::fs::write(target.join(&f.file_name), f.bytes()?)?;
            }
        }
        if !has_current {
            return Err(StateError::Corrupt(format!(
                "the keyed state of {source} is not a RocksDB checkpoint (it has no CURRENT file): it was written by another state backend"
            )));
        }
        staged.push(StagedInstance { dir: target, source: source.to_string(), key_groups: files.first().and_then(|f| f.key_groups) });
    }
    Ok(staged)
}

/// Makes `<dir>/db` hold exactly the key groups of `range` from the staged instances.
pub(crate) fn install(dir: &Path, range: KeyGroupRange, staged: Vec<StagedInstance>, memory: u64) -> Result<RestoreOutcome, StateError> {
    let db_dir = dir.join("db");
    if db_dir.exists() {
        std::fs::remove_dir_all(&db_dir)?;
    }
    let kept = kept_instance(range, &staged.iter().map(|s| s.key_groups).collect::<Vec<_>>());
    let mut outcome = RestoreOutcome::default();
    let mut kept_range = None;
    if let Some(i) = kept {
        std::fs::rename(&staged[i].dir, &db_dir)?;
        outcome.kept = Some(staged[i].source.clone());
        kept_range = staged[i].key_groups;
    }
    // Sources of unknown range are copied from too: the copy reads only this range.
    let others: Vec<&StagedInstance> = staged
        .iter()
        .enumerate()
        .filter(|(i, s)| Some(*i) != kept && s.key_groups.is_none_or(|r| !r.intersection(&range).is_empty()))
        .map(|(_, s)| s)
        .collect();
    if kept_range == Some(range) && others.is_empty() {
        remove_staged(staged);
        return Ok(outcome);
    }
    let opts = db_options(memory);
    let mut cfs = match kept {
        Some(_) => DB::list_cf(&Options::default(), &db_dir).map_err(|e| db_err("listing the kept instance's states", e))?,
        None => vec!["default".to_string()],
    };
    let mut target =
        DB::open_cf_descriptors(&opts, &db_dir, super::descriptors(&opts, &cfs)).map_err(|e| db_err("opening the restored database", e))?;
    if let Some(from) = kept_range {
        outcome.deleted_ranges = cut_to(&target, &cfs, from, range)?;
    }
    for source in others {
        outcome.copied_entries += copy_range(&mut target, &mut cfs, &opts, source, range, &dir.join("restore"))?;
        outcome.copied.push(source.source.clone());
    }
    let handles: Vec<&rocksdb::ColumnFamily> = cfs.iter().filter_map(|c| target.cf_handle(c)).collect();
    let mut flush = rocksdb::FlushOptions::default();
    flush.set_wait(true);
    target.flush_cfs_opt(&handles, &flush).map_err(|e| db_err("flushing the restored database", e))?;
    drop(handles);
    drop(target);
    remove_staged(staged);
    Ok(outcome)
}

fn remove_staged(staged: Vec<StagedInstance>) {
    for source in staged {
        let _ = std::fs::remove_dir_all(source.dir);
    }
}

/// Copies the entries of `range` in every column family of `source` into
/// `target` (creating the column families it lacks); the meta column family's
/// entries that `target` lacks are added. Returns the entries copied.
fn copy_range(
    target: &mut DB,
    target_cfs: &mut Vec<String>,
    opts: &Options,
    source: &StagedInstance,
    range: KeyGroupRange,
    scratch: &Path,
) -> Result<u64, StateError> {
    let context = |what: &str| format!("{what} {}", source.source);
    let cfs = DB::list_cf(&Options::default(), &source.dir).map_err(|e| db_err(&context("listing the states of"), e))?;
    let db = DB::open_cf_descriptors_read_only(opts, &source.dir, super::descriptors(opts, &cfs), false)
        .map_err(|e| db_err(&context("opening the files of"), e))?;
    let first = key_group_start(range.start)?;
    let after = if range.end < 0xFFFF { Some(key_group_start(range.end + 1)?) } else { None };
    let mut copied = 0u64;
    for (n, name) in cfs.iter().enumerate().filter(|(_, c)| c.as_str() != "default") {
        if !target_cfs.contains(name) {
            target.create_cf(name, opts).map_err(|e| db_err(&format!("creating state {name}"), e))?;
            target_cfs.push(name.clone());
        }
        let (Some(from), Some(to)) = (db.cf_handle(name), target.cf_handle(name)) else { continue };
        if name.as_str() == META_CF {
            let mut batch = WriteBatch::default();
            for item in db.iterator_cf(from, rocksdb::IteratorMode::Start) {
                let (k, v) = item.map_err(|e| db_err(&context("reading the state types of"), e))?;
                if target.get_pinned_cf(to, &k).map_err(|e| db_err("reading state types", e))?.is_none() {
                    batch.put_cf(to, k, v);
                }
            }
            target.write(batch).map_err(|e| db_err("writing state types", e))?;
            continue;
        }
        let mut read = ReadOptions::default();
        read.set_iterate_lower_bound(first.to_vec());
        if let Some(after) = after {
            read.set_iterate_upper_bound(after.to_vec());
        }
        read.fill_cache(false);
        let mut iter = db.raw_iterator_cf_opt(from, read);
        iter.seek(first);
        let sst = scratch.join(format!("copy-{}-{n}.sst", source.dir.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()));
        let mut writer: Option<SstFileWriter> = None;
        let mut entries = 0u64;
        while let (Some(k), Some(v)) = (iter.key(), iter.value()) {
            if writer.is_none() {
                let w = SstFileWriter::create(opts);
                w.open(&sst).map_err(|e| db_err(&format!("creating {}", sst.display()), e))?;
                writer = Some(w);
            }
            if let Some(w) = writer.as_mut() {
                w.put(k, v).map_err(|e| db_err(&format!("writing {}", sst.display()), e))?;
            }
            entries += 1;
            iter.next();
        }
        iter.status().map_err(|e| db_err(&context(&format!("reading {name} of")), e))?;
        let Some(mut w) = writer else { continue };
        w.finish().map_err(|e| db_err(&format!("finishing {}", sst.display()), e))?;
        super::ingest::move_in_or_remove(target, to, &sst)?;
        copied += entries;
    }
    Ok(copied)
}
