//! The checked-in checkpoint `tests/fixtures/v1/chk-7`, written by this crate
//! in format version 1. If this test fails, the on-disk format changed: bump
//! `FORMAT_VERSION` (and keep reading version 1) rather than regenerate it.
//!
//! Regenerate only for a deliberate, compatible addition:
//! `cargo test -p weir-checkpoint --test it -- --ignored regenerate_fixture`.

use std::path::PathBuf;

use bytes::Bytes;
use weir_checkpoint::{
    codec, open_checkpoint, CheckpointStorage, KeyGroupOffset, KeyGroupRange, PendingCheckpoint, SubtaskState, FORMAT_VERSION,
};

type WindowState = Vec<(String, u64)>;

fn fixture_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// Per key group, the window counts stored in the fixture's state file.
fn key_group_contents() -> Vec<(u32, WindowState)> {
    vec![(3, vec![("alice".into(), 2), ("bob".into(), 40)]), (5, vec![("carol".into(), 1)])]
}

/// The source position stored inline: (file index, byte offset).
const SOURCE_POSITION: (u32, u64) = (2, 12_345);

#[tokio::test]
#[ignore = "rewrites the checked-in fixture"]
async fn regenerate_fixture() {
    let root = fixture_root();
    let storage = CheckpointStorage::open(root.to_str().unwrap()).unwrap();
    storage.delete_prefix("chk-7").await.unwrap();
    let dir = CheckpointStorage::checkpoint_dir(7);
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for (key_group, state) in key_group_contents() {
        let offset = bytes.len() as u64;
        codec::encode_into(&state, &mut bytes).unwrap();
        offsets.push(KeyGroupOffset { key_group, offset, len: bytes.len() as u64 - offset });
    }
    let file = storage.write_state_file(&dir, "op-window-0.state", Bytes::from(bytes), offsets).await.unwrap();
    let mut pending = PendingCheckpoint::new(7, 1_700_000_000_000, [(0, 0), (1, 0)]);
    pending.acknowledge(
        (0, 0),
        vec![(
            "source".into(),
            1,
            SubtaskState { subtask: 0, key_groups: None, files: vec![], inline: Some(codec::encode(&SOURCE_POSITION).unwrap()) },
        )],
    );
    pending.acknowledge(
        (1, 0),
        vec![(
            "window".into(),
            1,
            SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 7)), files: vec![file], inline: None },
        )],
    );
    storage.write_metadata(&pending.into_metadata("fixture-job", 8)).await.unwrap();
}

#[tokio::test]
async fn reads_the_v1_fixture() {
    let (storage, dir) = open_checkpoint(fixture_root().join("chk-7").to_str().unwrap()).unwrap();
    assert_eq!(dir, "chk-7");
    let meta = storage.read_metadata(&dir).await.unwrap();
    assert_eq!(meta.format_version, FORMAT_VERSION);
    assert_eq!(meta.format_version, 1);
    assert_eq!(meta.checkpoint_id, 7);
    assert_eq!(meta.job_name, "fixture-job");
    assert_eq!(meta.timestamp_ms, 1_700_000_000_000);
    assert_eq!(meta.max_parallelism, 8);
    let ids: Vec<_> = meta.operators.iter().map(|o| o.operator_id.as_str()).collect();
    assert_eq!(ids, vec!["source", "window"]);

    let source = meta.operator("source").unwrap();
    assert_eq!(source.parallelism, 1);
    assert_eq!(source.subtasks.len(), 1);
    assert_eq!(source.subtasks[0].key_groups, None);
    assert!(source.subtasks[0].files.is_empty());
    let inline = source.subtasks[0].inline.as_deref().unwrap();
    assert_eq!(codec::decode::<(u32, u64)>(inline).unwrap(), SOURCE_POSITION);

    let window = meta.operator("window").unwrap();
    assert_eq!(window.parallelism, 1);
    let st = &window.subtasks[0];
    assert_eq!(st.subtask, 0);
    assert_eq!(st.key_groups, Some(KeyGroupRange::new(0, 7)));
    assert_eq!(st.inline, None);
    assert_eq!(st.files.len(), 1);
    let file = &st.files[0];
    assert_eq!(file.path, "op-window-0.state");
    assert_eq!(file.key_group_offsets.len(), 2);

    let bytes = storage.read_state_file(&dir, file).await.unwrap();
    for (kgo, (key_group, expected)) in file.key_group_offsets.iter().zip(key_group_contents()) {
        assert_eq!(kgo.key_group, key_group);
        let slice = &bytes[kgo.offset as usize..(kgo.offset + kgo.len) as usize];
        assert_eq!(codec::decode::<WindowState>(slice).unwrap(), expected);
    }

    // Writing the same document today yields the same bytes.
    let on_disk = std::fs::read(fixture_root().join("chk-7/_metadata")).unwrap();
    assert_eq!(String::from_utf8(meta.to_json().unwrap()).unwrap(), String::from_utf8(on_disk).unwrap());
}
