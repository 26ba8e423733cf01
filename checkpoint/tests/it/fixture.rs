//! The checked-in checkpoints `tests/fixtures/v1/chk-7` (format version 1,
//! values in value format 1, bincode), `tests/fixtures/v2/chk-7` (format
//! version 2, value format 2, postcard) and `tests/fixtures/v3/chk-7`
//! (version 3: the same, and a sink's inline state in a file of its own),
//! each written by this crate in its version. If a test fails, the on-disk format changed: bump
//! `FORMAT_VERSION` (and keep reading the older versions) rather than
//! regenerate a fixture.
//!
//! Versions 1 and 2 can no longer be written. Regenerate version 3 only for a
//! deliberate, compatible addition:
//! `cargo test -p weir-checkpoint --test it -- --ignored regenerate_fixture`.

use std::path::PathBuf;

use bytes::Bytes;
use weir_checkpoint::{
    open_checkpoint, CheckpointStorage, KeyGroupOffset, KeyGroupRange, PendingCheckpoint, StateFile, SubtaskState, FORMAT_VERSION,
};

type WindowState = Vec<(String, u64)>;

fn fixture_root() -> PathBuf {
    fixture_root_of(1)
}

fn fixture_root_of(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

/// Value format 1 (bincode 2, standard configuration), how version 1 stored values.
mod bincode_values {
    pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
        bincode::serde::decode_from_slice(bytes, bincode::config::standard()).unwrap().0
    }
}

/// Value format 2 (postcard 1.x), written out by hand for the few values
/// these fixtures hold: `(u32, u64)` and `Vec<(String, u64)>`, as postcard's
/// wire format specifies (unsigned LEB128 varints, strings length-prefixed).
mod postcard_values {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    pub fn position((file, offset): (u32, u64)) -> Vec<u8> {
        let mut out = Vec::new();
        varint(u64::from(file), &mut out);
        varint(offset, &mut out);
        out
    }
    pub fn window(state: &[(String, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(state.len() as u64, &mut out);
        for (k, v) in state {
            varint(k.len() as u64, &mut out);
            out.extend_from_slice(k.as_bytes());
            varint(*v, &mut out);
        }
        out
    }
}

/// Per key group, the window counts stored in the fixture's state file.
fn key_group_contents() -> Vec<(u32, WindowState)> {
    vec![(3, vec![("alice".into(), 2), ("bob".into(), 40)]), (5, vec![("carol".into(), 1)])]
}

/// The source position stored inline: (file index, byte offset).
const SOURCE_POSITION: (u32, u64) = (2, 12_345);

/// The sink's inline state, stored in a file of its own (version 3).
fn sink_state() -> Vec<u8> {
    (0..200u32).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
#[ignore = "rewrites the checked-in fixture"]
async fn regenerate_fixture() {
    let root = fixture_root_of(FORMAT_VERSION);
    let storage = CheckpointStorage::open(root.to_str().unwrap()).unwrap();
    storage.delete_prefix("chk-7").await.unwrap();
    let dir = CheckpointStorage::checkpoint_dir(7);
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for (key_group, state) in key_group_contents() {
        let offset = bytes.len() as u64;
        bytes.extend_from_slice(&postcard_values::window(&state));
        offsets.push(KeyGroupOffset { key_group, offset, len: bytes.len() as u64 - offset });
    }
    let file = storage.write_state_file(&dir, "op-window-0.state", Bytes::from(bytes), offsets).await.unwrap();
    let sink = storage.write_state_file(&dir, "sink-0/_inline", Bytes::from(sink_state()), vec![]).await.unwrap();
    let sink = StateFile { inline_state: true, ..sink };
    let mut pending = PendingCheckpoint::new(7, 1_700_000_000_000, [(0, 0), (1, 0)]);
    pending.acknowledge(
        (0, 0),
        vec![(
            "source".into(),
            1,
            SubtaskState { subtask: 0, key_groups: None, files: vec![], inline: Some(postcard_values::position(SOURCE_POSITION)) },
        )],
    );
    pending.acknowledge(
        (1, 0),
        vec![
            ("window".into(), 1, SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 7)), files: vec![file], inline: None }),
            ("sink".into(), 1, SubtaskState { subtask: 0, key_groups: None, files: vec![sink], inline: None }),
        ],
    );
    storage.write_metadata(&pending.into_metadata("fixture-job", 8)).await.unwrap();
}

#[tokio::test]
async fn reads_the_v1_fixture() {
    let (storage, dir) = open_checkpoint(fixture_root().join("chk-7").to_str().unwrap()).unwrap();
    assert_eq!(dir, "chk-7");
    let meta = storage.read_metadata(&dir).await.unwrap();
    assert_eq!(meta.format_version, 1);
    assert_eq!(meta.value_format, 1, "version 1 held values in value format 1");
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
    assert_eq!(bincode_values::decode::<(u32, u64)>(inline), SOURCE_POSITION);

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
        assert_eq!(bincode_values::decode::<WindowState>(slice), expected);
    }
}

#[tokio::test]
async fn reads_the_v2_fixture() {
    let (storage, dir) = open_checkpoint(fixture_root_of(2).join("chk-7").to_str().unwrap()).unwrap();
    let meta = storage.read_metadata(&dir).await.unwrap();
    assert_eq!((meta.format_version, meta.value_format), (2, 2));
    assert_eq!((meta.checkpoint_id, meta.job_name.as_str(), meta.max_parallelism), (7, "fixture-job", 8));
    let source = meta.operator("source").unwrap();
    assert_eq!(source.subtasks[0].inline.as_deref().unwrap(), postcard_values::position(SOURCE_POSITION).as_slice());
    let window = meta.operator("window").unwrap();
    let file = &window.subtasks[0].files[0];
    let bytes = storage.read_state_file(&dir, file).await.unwrap();
    for (kgo, (key_group, expected)) in file.key_group_offsets.iter().zip(key_group_contents()) {
        assert_eq!(kgo.key_group, key_group);
        assert_eq!(&bytes[kgo.offset as usize..(kgo.offset + kgo.len) as usize], postcard_values::window(&expected).as_slice());
    }
    // Writing the same document today yields the same bytes.
    let on_disk = std::fs::read(fixture_root_of(2).join("chk-7/_metadata")).unwrap();
    assert_eq!(String::from_utf8(meta.to_json().unwrap()).unwrap(), String::from_utf8(on_disk).unwrap());
}

#[tokio::test]
async fn reads_the_v3_fixture() {
    let (storage, dir) = open_checkpoint(fixture_root_of(3).join("chk-7").to_str().unwrap()).unwrap();
    let meta = storage.read_metadata(&dir).await.unwrap();
    assert_eq!((meta.format_version, meta.value_format), (3, 2));
    let source = meta.operator("source").unwrap();
    assert_eq!(source.subtasks[0].inline.as_deref().unwrap(), postcard_values::position(SOURCE_POSITION).as_slice());
    let window = meta.operator("window").unwrap();
    let file = &window.subtasks[0].files[0];
    assert!(!file.inline_state);
    let bytes = storage.read_state_file(&dir, file).await.unwrap();
    for (kgo, (key_group, expected)) in file.key_group_offsets.iter().zip(key_group_contents()) {
        assert_eq!(kgo.key_group, key_group);
        assert_eq!(&bytes[kgo.offset as usize..(kgo.offset + kgo.len) as usize], postcard_values::window(&expected).as_slice());
    }
    let sink = &meta.operator("sink").unwrap().subtasks[0];
    assert_eq!((sink.inline.as_ref(), sink.files.len()), (None, 1));
    assert!(sink.files[0].inline_state && sink.files[0].path == "sink-0/_inline");
    assert_eq!(storage.read_state_file(&dir, &sink.files[0]).await.unwrap().to_vec(), sink_state());
    let on_disk = std::fs::read(fixture_root_of(3).join("chk-7/_metadata")).unwrap();
    assert_eq!(String::from_utf8(meta.to_json().unwrap()).unwrap(), String::from_utf8(on_disk).unwrap());
}
