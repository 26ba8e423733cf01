#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

pub(crate) fn sample() -> CheckpointMetadata {
    CheckpointMetadata {
        history: Vec::new(),
        format_version: FORMAT_VERSION,
        value_format: 2,
        checkpoint_id: 3,
        job_name: "job".into(),
        timestamp_ms: 1_700_000_000_000,
        max_parallelism: 128,
        operators: vec![
            OperatorState {
                operator_id: "source".into(),
                parallelism: 2,
                subtasks: vec![
                    SubtaskState { subtask: 0, key_groups: None, files: vec![], inline: Some(vec![0, 1, 0xfe]) },
                    SubtaskState { subtask: 1, key_groups: None, files: vec![], inline: None },
                ],
            },
            OperatorState {
                operator_id: "window".into(),
                parallelism: 1,
                subtasks: vec![SubtaskState {
                    subtask: 0,
                    key_groups: Some(KeyGroupRange::new(0, 127)),
                    files: vec![
                        StateFile {
                            path: "op-window-0.state".into(),
                            size: 10,
                            checksum: 0xdead_beef,
                            key_group_offsets: vec![KeyGroupOffset { key_group: 5, offset: 2, len: 8 }],
                            inline_state: false,
                        },
                        StateFile { path: "../shared/a.sst".into(), size: 3, checksum: 1, key_group_offsets: vec![], inline_state: false },
                    ],
                    inline: None,
                }],
            },
        ],
    }
}

#[test]
fn json_round_trip() {
    let meta = sample();
    let json = meta.to_json().unwrap();
    let text = std::str::from_utf8(&json).unwrap();
    assert!(text.contains("\"inline\": \"0001fe\""), "{text}");
    assert!(text.contains("\"inline\": null"), "{text}");
    assert!(text.contains('\n'), "pretty printed");
    assert_eq!(CheckpointMetadata::from_json("x/_metadata", &json).unwrap(), meta);
}

#[test]
fn accessors() {
    let meta = sample();
    assert_eq!(meta.operator("window").unwrap().parallelism, 1);
    assert!(meta.operator("nope").is_none());
    let paths: Vec<_> = meta.files().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["op-window-0.state", "../shared/a.sst"]);
}

#[test]
fn unsupported_version_is_reported_first() {
    let json = br#"{"format_version": 4, "something_new": true}"#;
    let err = CheckpointMetadata::from_json("/d/chk-1/_metadata", json).unwrap_err();
    assert!(matches!(err, CheckpointError::UnsupportedVersion { found: 4, supported: 3, .. }));
    let msg = err.to_string();
    assert!(msg.contains("/d/chk-1/_metadata") && msg.contains("version 4"), "{msg}");
}

#[test]
fn truncated_metadata_is_corrupt() {
    let json = sample().to_json().unwrap();
    for cut in [0, 1, json.len() / 3, json.len() / 2, json.len() - 3] {
        let err = CheckpointMetadata::from_json("/d/chk-3/_metadata", &json[..cut]).unwrap_err();
        assert!(matches!(err, CheckpointError::CorruptMetadata { .. }), "{err}");
        assert!(err.to_string().contains("/d/chk-3/_metadata"), "{err}");
    }
}

#[test]
fn garbage_is_corrupt() {
    let err = CheckpointMetadata::from_json("m", b"\x00\x01not json").unwrap_err();
    assert!(matches!(err, CheckpointError::CorruptMetadata { .. }), "{err}");
    let err = CheckpointMetadata::from_json("m", br#"{"format_version": 1}"#).unwrap_err();
    assert!(err.to_string().contains("missing field"), "{err}");
}

fn check_err(mutate: impl FnOnce(&mut CheckpointMetadata), expect: &str) {
    let mut meta = sample();
    mutate(&mut meta);
    let json = meta.to_json().unwrap();
    let err = CheckpointMetadata::from_json("m", &json).unwrap_err();
    assert!(matches!(err, CheckpointError::CorruptMetadata { .. }), "{err}");
    assert!(err.to_string().contains(expect), "{err} should contain {expect}");
}

#[test]
fn inconsistent_documents_are_rejected() {
    check_err(|m| m.operators[1].operator_id = "source".into(), "appears twice");
    check_err(|m| m.operators[0].subtasks[1].subtask = 0, "appears twice");
    check_err(|m| m.operators[0].subtasks[1].subtask = 2, "not below parallelism");
    check_err(|m| m.operators[1].subtasks[0].key_groups = Some(KeyGroupRange::new(0, 128)), "exceed max_parallelism");
    check_err(|m| m.operators[1].subtasks[0].files[0].key_group_offsets[0].len = 9, "beyond the file size");
    check_err(|m| m.operators[1].subtasks[0].files[0].path = "/abs".into(), "relative");
    check_err(|m| m.operators[1].subtasks[0].files[0].path = String::new(), "empty path");
    check_err(|m| m.operators[1].subtasks[0].files[0].inline_state = true, "inline state has key group offsets");
    check_err(
        |m| {
            let st = &mut m.operators[1].subtasks[0];
            st.files[1].inline_state = true;
            st.inline = Some(vec![1]);
        },
        "inline state given more than once",
    );
}

#[test]
fn bad_inline_hex_is_corrupt() {
    let json = String::from_utf8(sample().to_json().unwrap()).unwrap();
    let json = json.replace("\"0001fe\"", "\"0001f\"");
    let err = CheckpointMetadata::from_json("m", json.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("hex"), "{err}");
}

#[test]
fn unknown_fields_are_ignored() {
    let json = String::from_utf8(sample().to_json().unwrap()).unwrap();
    let json = json.replacen('{', "{\"future_field\": [1, 2],", 1);
    assert_eq!(CheckpointMetadata::from_json("m", json.as_bytes()).unwrap(), sample());
}

#[test]
fn checkpoint_dir_names() {
    assert_eq!(checkpoint_dir_name(7), "chk-7");
    assert_eq!(parse_checkpoint_dir("chk-7"), Some(7));
    assert_eq!(parse_checkpoint_dir("chk-0012"), Some(12));
    for bad in ["chk-", "chk-+1", "chk--1", "chk-1a", "shared", "chk-99999999999999999999999"] {
        assert_eq!(parse_checkpoint_dir(bad), None, "{bad}");
    }
}
