//! Restores prepared before the backend exists: the runtime stages and
//! installs the databases of many instances at once (in parallel), or builds
//! the SST files of their canonical entries ([`super::prepared_canonical`]),
//! each in `<dir>/prepared/` with a receipt naming the files and the
//! key-group range it was made from. [`RocksDbBackend::restore`](super::RocksDbBackend) then
//! takes a prepared database over when its receipt matches what it is asked
//! to restore, and does the work itself otherwise.

use std::path::Path;
use std::time::Instant;

use tracing::info;

use super::prepared_canonical;
pub(super) use super::prepared_canonical::PreparedCanonical;
use super::restore::{install, stage, RestoreOutcome};
use super::RocksDbConfig;
use crate::{KeyGroupRange, RestoredFile, StateError};

/// The directory a prepared database is made in, under the instance's directory.
const PREPARED_DIR: &str = "prepared";

/// The receipt of a prepared database, in [`PREPARED_DIR`].
const RECEIPT: &str = "RESTORED_FROM";

/// What a database restored from `files` for `range` is made from, as text.
fn receipt(range: KeyGroupRange, files: &[RestoredFile]) -> String {
    let mut out = format!("key groups {}..={}\n", range.start, range.end);
    for f in files {
        let groups = f.key_groups.map(|r| format!("{}..={}", r.start, r.end)).unwrap_or_default();
        out.push_str(&format!("{}\t{groups}\t{}\t{}\n", f.source, f.name, f.file_name));
    }
    out
}

/// Stages `files` (a native RocksDB checkpoint of one or more instances)
/// and installs the database of `range` from them in `<config.dir>/prepared/`,
/// for the backend opened later in `config.dir` to take over in its
/// [`restore`](crate::KeyedStateBackend::restore) of the same files.
/// Canonical files become one SST file per state and key-group range,
/// built on `threads` threads (the caller prepares other instances at the
/// same time), which the backend ingests when the job registers the state;
/// the outcome is then empty (nothing kept, nothing copied). Returns `None`
/// without doing anything when there are no files, or when canonical files
/// hold version-1 blocks (those need the job's types).
pub fn prepare_rocksdb_restore(
    config: &RocksDbConfig,
    range: KeyGroupRange,
    files: &[RestoredFile],
    threads: usize,
) -> Result<Option<RestoreOutcome>, StateError> {
    if files.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let dir = config.dir.join(PREPARED_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    if crate::canonical::is_canonical(files) {
        let options = super::db_options(config.memory_bytes);
        if !prepared_canonical::prepare(&dir, range, files, &options, threads)? {
            std::fs::remove_dir_all(&dir)?;
            return Ok(None);
        }
        std::fs::write(dir.join(RECEIPT), receipt(range, files))?;
        info!(
            instance = %config.dir.display(),
            key_groups = %format!("{}..={}", range.start, range.end),
            threads,
            ms = started.elapsed().as_millis() as u64,
            "RocksDB restore prepared: built the canonical entries' SST files"
        );
        return Ok(Some(RestoreOutcome::default()));
    }
    let staged = stage(&dir, files)?;
    let outcome = install(&dir, range, staged, config.memory_bytes)?;
    // Written last: a receipt means the database is complete.
    std::fs::write(dir.join(RECEIPT), receipt(range, files))?;
    log_outcome(&config.dir, range, &outcome, started, "prepared");
    Ok(Some(outcome))
}

/// Moves the database prepared in `dir` for `range` from `files` to
/// `<dir>/db` (replacing it); false when none was (or another one was,
/// which is removed).
pub(super) fn adopt(dir: &Path, range: KeyGroupRange, files: &[RestoredFile]) -> Result<bool, StateError> {
    let prepared = dir.join(PREPARED_DIR);
    if !prepared.exists() {
        return Ok(false);
    }
    let matches = std::fs::read_to_string(prepared.join(RECEIPT)).is_ok_and(|r| r == receipt(range, files));
    if matches {
        let db_dir = dir.join("db");
        if db_dir.exists() {
            std::fs::remove_dir_all(&db_dir)?;
        }
        std::fs::rename(prepared.join("db"), &db_dir)?;
    }
    std::fs::remove_dir_all(&prepared)?;
    Ok(matches)
}

/// Logs which way a restore of the instance in `dir` went and how long it took.
pub(super) fn log_outcome(dir: &Path, range: KeyGroupRange, outcome: &RestoreOutcome, started: Instant, how: &str) {
    let ms = started.elapsed().as_millis() as u64;
    let instance = dir.display().to_string();
    let way = match (&outcome.kept, outcome.copied.is_empty()) {
        (Some(_), true) if outcome.deleted_ranges == 0 => "kept the files as they are",
        (Some(_), true) => "kept the files, deleted the key groups outside the range",
        (Some(_), false) => "kept the files of one instance, deleted the key groups outside the range, copied the others' range in",
        (None, _) => "copied the range in",
    };
    info!(
        instance,
        key_groups = %format!("{}..={}", range.start, range.end),
        kept = outcome.kept.as_deref().unwrap_or("none"),
        deleted_ranges = outcome.deleted_ranges,
        copied = %outcome.copied.join(", "),
        copied_entries = outcome.copied_entries,
        ms,
        "RocksDB restore {how}: {way}"
    );
}

/// Takes the canonical restore prepared in `dir` for `range` from `files`
/// over, moving its files into `ingest_dir`; `None` when none was (or
/// another one was, which is removed).
pub(super) fn adopt_canonical(
    dir: &Path,
    range: KeyGroupRange,
    files: &[RestoredFile],
    ingest_dir: &Path,
    restore_no: u64,
) -> Result<Option<PreparedCanonical>, StateError> {
    let prepared = dir.join(PREPARED_DIR);
    if !prepared.exists() {
        return Ok(None);
    }
    let matches = std::fs::read_to_string(prepared.join(RECEIPT)).is_ok_and(|r| r == receipt(range, files));
    let taken = if matches { prepared_canonical::take_over(&prepared, ingest_dir, restore_no)? } else { None };
    std::fs::remove_dir_all(&prepared)?;
    Ok(taken)
}
