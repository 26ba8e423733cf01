//! `verify`: is every file of a checkpoint there, complete and intact?

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::text;
use crate::error::CheckpointError;
use crate::manifest::{parse_checkpoint_dir, METADATA_FILE};
use crate::paths::join;
use crate::storage::CheckpointStorage;

/// One thing wrong with a checkpoint; every variant names the file by its
/// full path or URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// There is no `_metadata`: the checkpoint never completed, or it is not one.
    MetadataMissing {
        /// The `_metadata` path that does not exist.
        path: String,
    },
    /// `_metadata` exists but cannot be read (truncated, not JSON, inconsistent, unknown version).
    MetadataUnreadable {
        /// The `_metadata` file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `_metadata` describes another checkpoint than its `chk-<N>` directory says.
    WrongCheckpointId {
        /// The `_metadata` file.
        path: String,
        /// The id of the directory.
        expected: u64,
        /// The id in `_metadata`.
        found: u64,
    },
    /// A referenced file does not exist.
    Missing {
        /// The file.
        path: String,
    },
    /// A referenced file has another size than recorded.
    WrongSize {
        /// The file.
        path: String,
        /// Recorded size in bytes.
        expected: u64,
        /// Size found.
        actual: u64,
    },
    /// A referenced file has the recorded size but another checksum.
    WrongChecksum {
        /// The file.
        path: String,
        /// Recorded CRC-32C, 8 hex digits.
        expected: String,
        /// CRC-32C of the bytes found, 8 hex digits.
        actual: String,
    },
    /// A recorded path leads outside the storage root.
    OutsideRoot {
        /// The path as recorded, prefixed with the checkpoint directory.
        path: String,
    },
    /// A referenced file could not be read (storage error).
    Unreadable {
        /// The file.
        path: String,
        /// The storage error.
        reason: String,
    },
}

impl Problem {
    /// The file the problem concerns.
    pub fn path(&self) -> &str {
        match self {
            Problem::MetadataMissing { path }
            | Problem::MetadataUnreadable { path, .. }
            | Problem::WrongCheckpointId { path, .. }
            | Problem::Missing { path }
            | Problem::WrongSize { path, .. }
            | Problem::WrongChecksum { path, .. }
            | Problem::OutsideRoot { path }
            | Problem::Unreadable { path, .. } => path,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MetadataMissing { path } => write!(f, "{path}: missing, the checkpoint is not complete"),
            Problem::MetadataUnreadable { path, reason } => write!(f, "{path}: unreadable ({reason})"),
            Problem::WrongCheckpointId { path, expected, found } => {
                write!(f, "{path}: describes checkpoint {found}, but lies in the directory of checkpoint {expected}")
            }
            Problem::Missing { path } => write!(f, "{path}: missing"),
            Problem::WrongSize { path, expected, actual } => write!(f, "{path}: size mismatch (expected {expected} bytes, found {actual})"),
            Problem::WrongChecksum { path, expected, actual } => {
                write!(f, "{path}: checksum mismatch (expected {expected}, found {actual})")
            }
            Problem::OutsideRoot { path } => write!(f, "{path}: path leads outside the checkpoint storage root"),
            Problem::Unreadable { path, reason } => write!(f, "{path}: unreadable ({reason})"),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Full path or URL of the checkpoint directory.
    pub location: String,
    /// The id in `_metadata`, if it could be read.
    pub checkpoint_id: Option<u64>,
    /// Referenced files read and checked (each once).
    pub files_checked: usize,
    /// Bytes read while checking them.
    pub bytes_checked: u64,
    /// Everything wrong, in the order of `_metadata`; empty if all is well.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether the checkpoint can be restored: no problem found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_ok() { "OK" } else { "BROKEN" };
        writeln!(
            f,
            "{}: {verdict}, {} checked ({}), {}",
            self.location,
            text::plural(self.files_checked, "file"),
            text::bytes(self.bytes_checked),
            text::plural(self.problems.len(), "problem")
        )?;
        for problem in &self.problems {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

/// Checks the checkpoint in `chk_dir` (relative to the storage root; `""`
/// for the root itself): its `_metadata` reads, and every file it references
/// exists with the recorded size and CRC-32C. Files are streamed, not held in
/// memory.
///
/// Every problem is collected, not just the first (see [`Problem`]). Errors
/// are returned only for an unusable `chk_dir`.
///
/// # Example
///
/// ```
/// use weir_checkpoint::{open_checkpoint, tools};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// # rt.block_on(async {
/// let (storage, dir) = open_checkpoint(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1/chk-7"))?;
/// let report = tools::verify(&storage, &dir).await?;
/// assert!(report.is_ok(), "{report}");
/// assert_eq!((report.files_checked, report.bytes_checked), (1, 21));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok(())
/// # }
/// ```
pub async fn verify(storage: &CheckpointStorage, chk_dir: &str) -> Result<VerifyReport, CheckpointError> {
    let dir = crate::paths::normalize(chk_dir).ok_or_else(|| CheckpointError::PathEscapesRoot { path: storage.describe(chk_dir) })?;
    let metadata_path = storage.describe(&join(&dir, METADATA_FILE));
    let mut report =
        VerifyReport { location: storage.describe(&dir), checkpoint_id: None, files_checked: 0, bytes_checked: 0, problems: vec![] };
    let meta = match storage.read_metadata(&dir).await {
        Ok(meta) => meta,
        Err(e) => {
            report.problems.push(metadata_problem(metadata_path, e));
            return Ok(report);
        }
    };
    report.checkpoint_id = Some(meta.checkpoint_id);
    if let Some(expected) = dir.rsplit('/').next().and_then(parse_checkpoint_dir) {
        if expected != meta.checkpoint_id {
            report.problems.push(Problem::WrongCheckpointId { path: metadata_path, expected, found: meta.checkpoint_id });
        }
    }
    let mut seen = BTreeSet::new();
    for file in meta.files() {
        let Some(rel) = crate::protocol::root_relative(&dir, &file.path) else {
            report.problems.push(Problem::OutsideRoot { path: format!("{}/{}", storage.describe(&dir), file.path) });
            continue;
        };
        if !seen.insert(rel.clone()) {
            continue;
        }
        let path = storage.describe(&rel);
        match storage.size_and_checksum(&rel).await {
            Ok((size, crc)) => {
                report.files_checked += 1;
                report.bytes_checked += size;
                if size != file.size {
                    report.problems.push(Problem::WrongSize { path, expected: file.size, actual: size });
                } else if crc != file.checksum {
                    report.problems.push(Problem::WrongChecksum { path, expected: hex(file.checksum), actual: hex(crc) });
                }
            }
            Err(CheckpointError::Missing { .. }) => report.problems.push(Problem::Missing { path }),
            Err(e) => report.problems.push(Problem::Unreadable { path, reason: e.to_string() }),
        }
    }
    Ok(report)
}

fn metadata_problem(path: String, e: CheckpointError) -> Problem {
    match e {
        CheckpointError::NotACheckpoint { .. } => Problem::MetadataMissing { path },
        CheckpointError::CorruptMetadata { reason, .. } => Problem::MetadataUnreadable { path, reason },
        CheckpointError::UnsupportedVersion { found, supported, .. } => {
            Problem::MetadataUnreadable { path, reason: format!("format version {found}, this weir reads format version {supported}") }
        }
        other => Problem::MetadataUnreadable { path, reason: other.to_string() },
    }
}

fn hex(crc: u32) -> String {
    format!("{crc:08x}")
}
