//! Canonical restores prepared before the backend exists: the SST files of
//! every state and the timers of one instance, built from the canonical
//! files in `<dir>/prepared/` while the runtime prepares the other
//! instances (see [`super::prepare`]). A listing of the files goes next to
//! them, and the receipt of [`super::prepare`] last. The backend's restore
//! of the same files and range moves them into its `ingest/` directory: the
//! states' files wait there for the job to register the states (their types
//! are checked then), the timers are ingested at once.

use std::path::{Path, PathBuf};

use crate::codec::{self, ValueFormat};
use serde::{Deserialize, Serialize};

use super::canonical::{build_parts, SstFile};
use super::ingest::{build_sst, timer_entries};
use crate::{KeyGroupRange, RestoredFile, StateError};

/// The listing of a prepared canonical restore, in its directory.
const LISTING: &str = "CANONICAL_FILES";

/// What a prepared canonical restore holds: file names in its directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Listing {
    /// `(state, recorded schema, value format, file)`: a state's entries of one contiguous key-group range.
    states: Vec<(String, String, u32, String)>,
    /// Timer files, one per contiguous key-group range.
    timers: Vec<String>,
}

/// A prepared canonical restore taken over by the backend.
pub(super) struct PreparedCanonical {
    /// `(state, recorded schema, value format, SST file)`, waiting for the state's registration.
    pub ssts: Vec<(String, String, ValueFormat, SstFile)>,
    /// Timer SST files to ingest.
    pub timers: Vec<SstFile>,
}

/// Builds the SST files of the canonical `files` for `range` in `dir` on
/// `threads` threads and lists them; false (and nothing left in `dir`) when
/// the files hold version-1 blocks, which need the job's types.
pub(super) fn prepare(
    dir: &Path,
    range: KeyGroupRange,
    files: &[RestoredFile],
    options: &rocksdb::Options,
    threads: usize,
) -> Result<bool, StateError> {
    let parts = build_parts(files, range, options, dir, "canonical", threads)?;
    if parts.iter().any(|p| p.needs_types()) {
        return Ok(false);
    }
    let mut listing = Listing::default();
    // Held until the listing is written: a failure removes every file.
    let mut held: Vec<SstFile> = Vec::new();
    for (i, mut part) in parts.into_iter().enumerate() {
        for (name, type_name, format, sst) in part.ssts.drain(..) {
            listing.states.push((name, type_name, format.number(), file_name(&sst.0)?));
            held.push(sst);
        }
        if part.timer_keys.is_empty() {
            continue;
        }
        part.timer_keys.sort_unstable();
        part.timer_keys.dedup();
        let path = dir.join(format!("timers-{i}.sst"));
        let sst = SstFile(path.clone());
        build_sst(options, &path, &timer_entries(&part.timer_keys))?;
        listing.timers.push(file_name(&path)?);
        held.push(sst);
    }
    std::fs::write(dir.join(LISTING), codec::encode(&listing)?)?;
    // The files stay: the directory is taken over or removed as a whole.
    for sst in held {
        sst.keep();
    }
    Ok(true)
}

fn file_name(path: &Path) -> Result<String, StateError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| StateError::Io(std::io::Error::other(format!("{} has no file name", path.display()))))
}

/// Moves the files of the canonical restore prepared in `prepared` into
/// `ingest_dir` (named after restore number `restore_no`); `None` when it
/// holds no listing (or one that does not read).
pub(super) fn take_over(prepared: &Path, ingest_dir: &Path, restore_no: u64) -> Result<Option<PreparedCanonical>, StateError> {
    let Ok(bytes) = std::fs::read(prepared.join(LISTING)) else { return Ok(None) };
    let Ok(listing) = codec::decode::<Listing>(ValueFormat::CURRENT, &bytes) else { return Ok(None) };
    std::fs::create_dir_all(ingest_dir)?;
    let take = |name: &str| -> Result<SstFile, StateError> {
        let to: PathBuf = ingest_dir.join(format!("{restore_no:08}-prepared-{name}"));
        std::fs::rename(prepared.join(name), &to)?;
        Ok(SstFile(to))
    };
    let mut out = PreparedCanonical { ssts: Vec::new(), timers: Vec::new() };
    for (name, type_name, format, file) in &listing.states {
        out.ssts.push((name.clone(), type_name.clone(), ValueFormat::from_number(*format)?, take(file)?));
    }
    for file in &listing.timers {
        out.timers.push(take(file)?);
    }
    Ok(Some(out))
}
