//! The `_metadata` document that describes one checkpoint or savepoint.
//!
//! It is written as pretty-printed JSON so that users can read it. Format
//! version 2 looks like this (paths are relative to the directory that holds
//! `_metadata`; `inline` is small state such as source positions, as a
//! lowercase hex string, or `null`, encoded in value format `value_format`
//! (the numbers of `weir_state::codec::ValueFormat`: 1 bincode, 2 postcard)):
//!
//! ```json
//! {
//!   "format_version": 2,
//!   "value_format": 2,
//!   "checkpoint_id": 7,
//!   "job_name": "windowed-count",
//!   "timestamp_ms": 1700000000000,
//!   "max_parallelism": 128,
//!   "operators": [
//!     {
//!       "operator_id": "window",
//!       "parallelism": 1,
//!       "subtasks": [
//!         {
//!           "subtask": 0,
//!           "key_groups": { "start": 0, "end": 127 },
//!           "files": [
//!             {
//!               "path": "op-window-0.state",
//!               "size": 42,
//!               "checksum": 3735928559,
//!               "key_group_offsets": [ { "key_group": 0, "offset": 0, "len": 42 } ]
//!             }
//!           ],
//!           "inline": null
//!         }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! Version 3 adds one thing: a subtask's inline state larger than a few
//! kilobytes (a sink's pre-committed records, say) is not written into
//! `_metadata` but into a file of the checkpoint, listed among the
//! subtask's `files` with `"inline_state": true` (and `"inline": null`):
//!
//! ```json
//! { "path": "sink-0/_inline", "size": 1048576, "checksum": 16909060,
//!   "key_group_offsets": [], "inline_state": true }
//! ```
//!
//! A reader of version 2 would take that file for keyed state, hence the
//! new version. Version 1 is version 2 without `value_format`: its inline
//! state is in value format 1. This build reads all three and writes
//! version 3.
//!
//! Unknown fields are ignored when reading, so a later version may add
//! optional fields without bumping [`FORMAT_VERSION`]; any change that an
//! older reader would misread must bump it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::CheckpointError;
pub use crate::key_groups::KeyGroupRange;

/// The `_metadata` format version this build writes (it also reads versions 1 and 2).
pub const FORMAT_VERSION: u32 = 3;

/// The value format of inline state that this build writes (the state
/// crate's codec owns the numbers; the runtime checks that they agree).
pub const INLINE_VALUE_FORMAT: u32 = 2;

/// The value format of the inline state of a version-1 document.
fn legacy_value_format() -> u32 {
    1
}

/// File name of the metadata document inside a checkpoint directory.
pub const METADATA_FILE: &str = "_metadata";

/// Prefix of checkpoint directory names: checkpoint 7 lives in `chk-7`.
pub const CHECKPOINT_DIR_PREFIX: &str = "chk-";

/// Directory (under the checkpoint root) for files several checkpoints may share.
pub const SHARED_DIR: &str = "shared";

/// Name of the directory of checkpoint `id`, relative to the storage root: `chk-<id>`.
pub fn checkpoint_dir_name(id: u64) -> String {
    format!("{CHECKPOINT_DIR_PREFIX}{id}")
}

/// The id in a checkpoint directory name such as `chk-7`; `None` for any other name.
pub fn parse_checkpoint_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(CHECKPOINT_DIR_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The content of a `_metadata` file: everything needed to restore a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Format version of this document, [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The value format of the inline state ([`INLINE_VALUE_FORMAT`] when
    /// written by this build; 1 in version-1 documents, which lack it).
    #[serde(default = "legacy_value_format")]
    pub value_format: u32,
    /// The checkpoint's id.
    pub checkpoint_id: u64,
    /// Name of the job that took it.
    pub job_name: String,
    /// Trigger time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Number of key groups of the job.
    pub max_parallelism: u32,
    /// State of every operator, sorted by `operator_id`.
    pub operators: Vec<OperatorState>,
    /// The figures of the job's latest completed checkpoints and savepoints,
    /// oldest first, this one last (at most [`HISTORY_LEN`]): the history
    /// a restarted job and `weir checkpoints list` show. Absent in documents
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<SnapshotStats>,
}

/// Snapshots a `_metadata` keeps the figures of.
pub const HISTORY_LEN: usize = 100;

/// The figures of one completed checkpoint or savepoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// Its id.
    pub id: u64,
    /// `checkpoint`, `full_checkpoint` or `savepoint`.
    pub kind: String,
    /// A savepoint's format: `native` or `canonical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Trigger time, ms since the Unix epoch.
    pub trigger_time_ms: u64,
    /// Trigger to `_metadata` written, ms.
    pub duration_ms: u64,
    /// Longest synchronous phase of a task, ms.
    pub sync_ms: u64,
    /// Longest asynchronous phase of a task, ms.
    pub async_ms: u64,
    /// Longest barrier alignment of a task, ms.
    pub alignment_ms: u64,
    /// Longest time from the trigger to a task's first barrier, ms.
    pub start_delay_ms: u64,
    /// Bytes written for it.
    pub bytes_written: u64,
    /// Bytes of everything it references.
    pub full_size: u64,
}

/// The state of one operator (all its parallel instances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    /// The operator's stable identifier (set by the job author).
    pub operator_id: String,
    /// The operator's parallelism when the checkpoint was taken.
    pub parallelism: u32,
    /// State of each instance, sorted by `subtask`.
    pub subtasks: Vec<SubtaskState>,
}

/// The state of one parallel instance of an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskState {
    /// Index of the instance, below the operator's parallelism.
    pub subtask: u32,
    /// Key groups the instance owned; `None` for non-keyed operators.
    pub key_groups: Option<KeyGroupRange>,
    /// Files holding the instance's state.
    pub files: Vec<StateFile>,
    /// Small state stored in `_metadata` itself (source positions, sink
    /// committables). Written as a lowercase hex string, or `null`.
    #[serde(with = "crate::hex")]
    pub inline: Option<Vec<u8>>,
}

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Path relative to the directory holding `_metadata`, `/`-separated, e.g.
    /// `op-window-0.state` or `../shared/abc.sst`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC-32C of the whole file (see [`checksum`](crate::checksum())).
    pub checksum: u32,
    /// Where each key group's data lies in the file; may be empty.
    pub key_group_offsets: Vec<KeyGroupOffset>,
    /// The file holds the subtask's inline state, too large for
    /// `_metadata`, rather than keyed state (format version 3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline_state: bool,
}

impl StateFile {
    /// A file of keyed state.
    ///
    /// ```
    /// let f = weir_checkpoint::StateFile::keyed("op-0/state", 3, 7, vec![]);
    /// assert!(!f.inline_state);
    /// ```
    pub fn keyed(path: impl Into<String>, size: u64, checksum: u32, key_group_offsets: Vec<KeyGroupOffset>) -> Self {
        StateFile { path: path.into(), size, checksum, key_group_offsets, inline_state: false }
    }
}

/// Where one key group's data lies inside a [`StateFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGroupOffset {
    /// The key group.
    pub key_group: u32,
    /// Byte offset of its data in the file.
    pub offset: u64,
    /// Length of its data in bytes.
    pub len: u64,
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

impl CheckpointMetadata {
    /// The document as pretty-printed JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut out = serde_json::to_vec_pretty(self)
            .map_err(|e| CheckpointError::EncodeMetadata { checkpoint_id: self.checkpoint_id, reason: e.to_string() })?;
        out.push(b'\n');
        Ok(out)
    }

    /// Parses and checks a `_metadata` document; `path_for_errors` names the
    /// file in error messages.
    ///
    /// Fails with [`CheckpointError::UnsupportedVersion`] for a format version
    /// other than [`FORMAT_VERSION`], and with [`CheckpointError::CorruptMetadata`]
    /// when the bytes are not a complete, consistent document.
    pub fn from_json(path_for_errors: &str, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::CorruptMetadata { path: path_for_errors.to_string(), reason };
        let probe: VersionProbe = serde_json::from_slice(bytes).map_err(|e| corrupt(json_reason(&e)))?;
        if !(1..=FORMAT_VERSION).contains(&probe.format_version) {
            return Err(CheckpointError::UnsupportedVersion {
                path: path_for_errors.to_string(),
                found: probe.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let mut meta: CheckpointMetadata = serde_json::from_slice(bytes).map_err(|e| corrupt(json_reason(&e)))?;
        if meta.format_version == 1 {
            meta.value_format = legacy_value_format();
        }
        meta.check().map_err(corrupt)?;
        Ok(meta)
    }

    /// The state of operator `id`, if the checkpoint has any.
    pub fn operator(&self, id: &str) -> Option<&OperatorState> {
        self.operators.iter().find(|op| op.operator_id == id)
    }

    /// Every file of every subtask of every operator.
    pub fn files(&self) -> impl Iterator<Item = &StateFile> {
        self.operators.iter().flat_map(|op| op.subtasks.iter()).flat_map(|st| st.files.iter())
    }

    /// Internal consistency, so that a restore never trips over nonsense.
    fn check(&self) -> Result<(), String> {
        let mut operator_ids = BTreeSet::new();
        for op in &self.operators {
            if !operator_ids.insert(op.operator_id.as_str()) {
                return Err(format!("operator {:?} appears twice", op.operator_id));
            }
            let mut indices = BTreeSet::new();
            for st in &op.subtasks {
                let at = format!("operator {:?} subtask {}", op.operator_id, st.subtask);
                if st.subtask >= op.parallelism {
                    return Err(format!("{at}: index not below parallelism {}", op.parallelism));
                }
                if !indices.insert(st.subtask) {
                    return Err(format!("{at}: appears twice"));
                }
                if let Some(kg) = st.key_groups {
                    if !kg.is_empty() && kg.end >= self.max_parallelism {
                        return Err(format!("{at}: key groups {kg} exceed max_parallelism {}", self.max_parallelism));
                    }
                }
                for file in &st.files {
                    check_file(file).map_err(|e| format!("{at}: file {:?}: {e}", file.path))?;
                }
                let inline_files = st.files.iter().filter(|f| f.inline_state).count();
                if inline_files > 1 || (inline_files == 1 && st.inline.is_some()) {
                    return Err(format!("{at}: inline state given more than once (in _metadata and files)"));
                }
            }
        }
        Ok(())
    }
}

fn check_file(file: &StateFile) -> Result<(), String> {
    if file.path.is_empty() {
        return Err("empty path".into());
    }
    if file.path.starts_with('/') || file.path.contains('\\') || file.path.contains("://") {
        return Err("path must be relative and use `/`".into());
    }
    if file.inline_state && !file.key_group_offsets.is_empty() {
        return Err("a file of inline state has key group offsets".into());
    }
    for kgo in &file.key_group_offsets {
        match kgo.offset.checked_add(kgo.len) {
            Some(end) if end <= file.size => {}
            _ => {
                return Err(format!(
                    "key group {} at offset {} length {} lies beyond the file size {}",
                    kgo.key_group, kgo.offset, kgo.len, file.size
                ))
            }
        }
    }
    Ok(())
}

fn json_reason(e: &serde_json::Error) -> String {
    if e.is_eof() {
        format!("truncated: {e}")
    } else {
        e.to_string()
    }
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
