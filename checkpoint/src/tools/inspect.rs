//! `inspect`: what one checkpoint holds, from its `_metadata`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{text, written_by};
use crate::error::CheckpointError;
use crate::manifest::{CheckpointMetadata, KeyGroupRange};
use crate::storage::CheckpointStorage;

/// Everything `_metadata` says about one checkpoint or savepoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointReport {
    /// Full path or URL of the checkpoint directory.
    pub location: String,
    /// Name of the job that took it.
    pub job_name: String,
    /// The checkpoint's id.
    pub checkpoint_id: u64,
    /// Trigger time, ms since the Unix epoch.
    pub trigger_time_ms: u64,
    /// `_metadata` format version.
    pub format_version: u32,
    /// Value format of the inline state (1 bincode, 2 postcard).
    pub value_format: u32,
    /// Number of key groups of the job.
    pub max_parallelism: u32,
    /// Every operator, sorted by id.
    pub operators: Vec<OperatorReport>,
}

/// One operator of a [`CheckpointReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorReport {
    /// The operator's id.
    pub operator_id: String,
    /// Its parallelism when the checkpoint was taken.
    pub parallelism: u32,
    /// Each instance, sorted by index.
    pub subtasks: Vec<SubtaskReport>,
}

/// One instance of an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskReport {
    /// Index of the instance.
    pub subtask: u32,
    /// The key groups it owned; `None` for a non-keyed operator.
    pub key_groups: Option<KeyGroupRange>,
    /// Bytes of state stored in `_metadata` itself.
    pub inline_size: u64,
    /// Its files.
    pub files: Vec<FileReport>,
}

/// One file of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Path as recorded, relative to the checkpoint directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC-32C, 8 lowercase hex digits.
    pub checksum: String,
    /// The checkpoint that wrote it: from its shared-file name, or the
    /// `chk-<N>` directory it lies in; `None` if neither tells.
    pub written_by: Option<u64>,
    /// Whether it lies outside the checkpoint's directory (normally in
    /// `shared/`), where other checkpoints may reference it too.
    pub shared: bool,
}

/// Reads the `_metadata` of `chk_dir` (relative to the storage root; `""` for
/// the root itself) and reports what it holds. Does not read the state files
/// (see [`verify`](super::verify)).
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
/// let report = tools::inspect(&storage, &dir).await?;
/// assert_eq!((report.checkpoint_id, report.job_name.as_str()), (7, "fixture-job"));
/// println!("{report}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok(())
/// # }
/// ```
pub async fn inspect(storage: &CheckpointStorage, chk_dir: &str) -> Result<CheckpointReport, CheckpointError> {
    let meta = storage.read_metadata(chk_dir).await?;
    Ok(report(storage.describe(chk_dir), chk_dir, &meta))
}

/// The report of `meta`, held in `dir` (relative to the root) at `location`.
pub(crate) fn report(location: String, dir: &str, meta: &CheckpointMetadata) -> CheckpointReport {
    let dir = crate::paths::normalize(dir).unwrap_or_default();
    let operators = meta
        .operators
        .iter()
        .map(|op| OperatorReport {
            operator_id: op.operator_id.clone(),
            parallelism: op.parallelism,
            subtasks: op
                .subtasks
                .iter()
                .map(|st| SubtaskReport {
                    subtask: st.subtask,
                    key_groups: st.key_groups,
                    // In `_metadata`, or in a file of its own (version 3).
                    inline_size: st
                        .inline
                        .as_ref()
                        .map(|b| b.len() as u64)
                        .unwrap_or_else(|| st.files.iter().filter(|f| f.inline_state).map(|f| f.size).sum()),
                    files: st
                        .files
                        .iter()
                        .map(|f| {
                            let resolved = crate::protocol::root_relative(&dir, &f.path);
                            let inside = resolved.as_deref().is_some_and(|p| dir.is_empty() || p.starts_with(&format!("{dir}/")));
                            let by = resolved.as_deref().and_then(|p| written_by(p, Some((&op.operator_id, st.subtask))));
                            FileReport {
                                path: f.path.clone(),
                                size: f.size,
                                checksum: format!("{:08x}", f.checksum),
                                written_by: by.or(inside.then_some(meta.checkpoint_id)),
                                shared: !inside,
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    CheckpointReport {
        location,
        job_name: meta.job_name.clone(),
        checkpoint_id: meta.checkpoint_id,
        trigger_time_ms: meta.timestamp_ms,
        format_version: meta.format_version,
        value_format: meta.value_format,
        max_parallelism: meta.max_parallelism,
        operators,
    }
}

impl fmt::Display for CheckpointReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "checkpoint {} of job {:?} at {}", self.checkpoint_id, self.job_name, self.location)?;
        writeln!(f, "  triggered      {}", crate::utc::format_ms(self.trigger_time_ms))?;
        writeln!(f, "  format version {} (values in value format {})", self.format_version, self.value_format)?;
        writeln!(f, "  key groups     {} (max parallelism)", self.max_parallelism)?;
        for op in &self.operators {
            writeln!(f, "  operator {:?}, parallelism {}", op.operator_id, op.parallelism)?;
            for st in &op.subtasks {
                let key_groups = match st.key_groups {
                    Some(kg) if kg.is_empty() => "no key groups".to_string(),
                    Some(kg) => format!("key groups {}..={}", kg.start, kg.end),
                    None => "not keyed".to_string(),
                };
                let size: u64 = st.files.iter().map(|f| f.size).sum();
                writeln!(
                    f,
                    "    subtask {}: {key_groups}, inline {}, {}, {}",
                    st.subtask,
                    text::bytes(st.inline_size),
                    text::plural(st.files.len(), "file"),
                    text::bytes(size)
                )?;
                for file in &st.files {
                    let by = file.written_by.map_or_else(|| "?".to_string(), |id| id.to_string());
                    let shared = if file.shared { ", shared" } else { "" };
                    writeln!(
                        f,
                        "      {}  {}  crc32c {}  written by checkpoint {by}{shared}",
                        file.path,
                        text::bytes(file.size),
                        file.checksum
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{OperatorState, StateFile, SubtaskState, FORMAT_VERSION};

    fn file(path: &str) -> StateFile {
        StateFile { path: path.into(), size: 3, checksum: 0xab, key_group_offsets: vec![], inline_state: false }
    }

    #[test]
    fn attributes_and_marks_shared_files() {
        let meta = CheckpointMetadata {
            history: Vec::new(),
            format_version: FORMAT_VERSION,
            value_format: 2,
            checkpoint_id: 5,
            job_name: "j".into(),
            timestamp_ms: 0,
            max_parallelism: 4,
            operators: vec![OperatorState {
                operator_id: "w".into(),
                parallelism: 2,
                subtasks: vec![SubtaskState {
                    subtask: 1,
                    key_groups: Some(KeyGroupRange::new(2, 3)),
                    files: vec![file("own"), file("w-1/000009.sst"), file("../shared/w-1.3.000007.sst"), file("../chk-4/x")],
                    inline: Some(vec![1, 2]),
                }],
            }],
        };
        let report = report("memory:///chk-5".into(), "chk-5", &meta);
        let st = &report.operators[0].subtasks[0];
        assert_eq!(st.inline_size, 2);
        let got: Vec<_> = st.files.iter().map(|f| (f.path.as_str(), f.written_by, f.shared)).collect();
        assert_eq!(
            got,
            vec![
                ("own", Some(5), false),
                ("w-1/000009.sst", Some(5), false),
                ("../shared/w-1.3.000007.sst", Some(3), true),
                ("../chk-4/x", Some(4), true)
            ]
        );
        assert_eq!(st.files[0].checksum, "000000ab");
        // A promoted copy in a directory of any name.
        let report = super::report("x".into(), "savepoint", &meta);
        let st = &report.operators[0].subtasks[0];
        assert_eq!((st.files[0].written_by, st.files[0].shared), (Some(5), false));
        let text = report.to_string();
        assert!(text.contains("subtask 1: key groups 2..=3, inline 2 B, 4 files, 12 B"), "{text}");
    }
}
