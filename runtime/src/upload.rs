//! The asynchronous phase: serialize frozen state and write it to checkpoint storage.

use bytes::Bytes;
use weir_checkpoint::{CheckpointStorage, SubtaskState, TaskId};
use weir_state::SnapshotContent;

use crate::{JobError, OperatorSnapshot};

/// Writes every snapshot of one task for `checkpoint`; returns the state
/// handles to acknowledge with and the number of bytes written.
pub(crate) async fn upload_snapshots(
    storage: &CheckpointStorage,
    checkpoint: u64,
    task: TaskId,
    parallelism: u32,
    snapshots: Vec<OperatorSnapshot>,
) -> Result<(Vec<(String, u32, SubtaskState)>, u64), JobError> {
    let dir = CheckpointStorage::checkpoint_dir(checkpoint);
    let subtask = task.1;
    let mut states = Vec::with_capacity(snapshots.len());
    let mut bytes_written = 0u64;
    for snap in snapshots {
        let mut files = Vec::new();
        if let Some(state) = snap.state {
            let written = tokio::task::spawn_blocking(move || state.write())
                .await
                .map_err(|e| JobError::Panic(format!("snapshot of {}", snap.operator_id), e.to_string()))?
                .map_err(|e| JobError::state(&snap.operator_id, e))?;
            for file in written {
                let bytes = match file.content {
                    SnapshotContent::Bytes(b) => Bytes::from(b),
                    SnapshotContent::Local(path) => {
                        Bytes::from(tokio::fs::read(&path).await.map_err(|e| JobError::io(format!("reading {}", path.display()), e))?)
                    }
                };
                bytes_written += bytes.len() as u64;
                let name = format!("{}-{}-{}", snap.operator_id, subtask, file.name);
                files.push(storage.write_state_file(&dir, &name, bytes, file.key_group_offsets).await?);
            }
        }
        if let Some(inline) = &snap.inline {
            bytes_written += inline.len() as u64;
        }
        states.push((snap.operator_id, parallelism, SubtaskState { subtask, key_groups: snap.key_groups, files, inline: snap.inline }));
    }
    Ok((states, bytes_written))
}
