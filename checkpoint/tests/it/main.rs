//! Integration tests of weir-checkpoint: storage conformance (in memory, on
//! the local file system and, with the `s3` feature, on moto's S3 server),
//! damage detection, relocation, cleanup, the checked-in format fixture, and
//! the `weir checkpoints` tools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cleanup;
mod conformance;
mod damage;
mod fixture;
#[cfg(feature = "s3")]
#[path = "../support/moto.rs"]
mod moto;
mod relocation;
mod tools;

use bytes::Bytes;
use weir_checkpoint::{CheckpointMetadata, CheckpointStorage, KeyGroupOffset, KeyGroupRange, PendingCheckpoint, SubtaskState};

/// Writes checkpoint `id` with one keyed operator (a private file and the
/// given shared files, written if `write_shared`) and one source with inline
/// state, and completes it. Returns its metadata.
pub async fn write_checkpoint(storage: &CheckpointStorage, id: u64, shared: &[&str], write_shared: bool) -> CheckpointMetadata {
    let dir = CheckpointStorage::checkpoint_dir(id);
    let private = format!("window state of checkpoint {id}").into_bytes();
    let len = private.len() as u64;
    let mut files = vec![storage
        .write_state_file(
            &dir,
            "op-window-0.state",
            Bytes::from(private),
            vec![KeyGroupOffset { key_group: 0, offset: 0, len: 6 }, KeyGroupOffset { key_group: 1, offset: 6, len: len - 6 }],
        )
        .await
        .unwrap()];
    for name in shared {
        let rel = format!("../shared/{name}");
        let file = if write_shared {
            storage.write_state_file(&dir, &rel, Bytes::from(format!("sst {name}")), vec![]).await.unwrap()
        } else {
            let bytes = storage.get(&format!("shared/{name}")).await.unwrap();
            weir_checkpoint::StateFile {
                path: rel,
                size: bytes.len() as u64,
                checksum: weir_checkpoint::checksum(&bytes),
                key_group_offsets: vec![],
                inline_state: false,
            }
        };
        files.push(file);
    }
    let mut pending = PendingCheckpoint::new(id, 1_000 * id, [(0, 0), (1, 0)]);
    pending.acknowledge(
        (0, 0),
        vec![("source".into(), 1, SubtaskState { subtask: 0, key_groups: None, files: vec![], inline: Some(id.to_le_bytes().to_vec()) })],
    );
    pending.acknowledge(
        (1, 0),
        vec![("window".into(), 1, SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 1)), files, inline: None })],
    );
    assert!(pending.is_complete());
    let meta = pending.into_metadata("test-job", 2);
    storage.write_metadata(&meta).await.unwrap();
    meta
}

/// Reads every file of the checkpoint in `dir` and checks its content is what
/// [`write_checkpoint`] wrote.
pub async fn read_all(storage: &CheckpointStorage, dir: &str) -> CheckpointMetadata {
    let meta = storage.read_metadata(dir).await.unwrap();
    for file in meta.files() {
        let bytes = storage.read_state_file(dir, file).await.unwrap();
        if let Some(name) = file.path.strip_prefix("../shared/") {
            assert_eq!(bytes, Bytes::from(format!("sst {name}")));
        } else {
            let text = format!("window state of checkpoint {}", meta.checkpoint_id);
            assert_eq!(bytes, Bytes::from(text));
        }
    }
    meta
}
