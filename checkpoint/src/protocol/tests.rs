#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use super::*;
use crate::manifest::{CheckpointMetadata, KeyGroupRange, OperatorState, StateFile, SubtaskState, FORMAT_VERSION};

fn file(path: &str) -> StateFile {
    StateFile { path: path.into(), size: 1, checksum: 0, key_group_offsets: vec![], inline_state: false }
}

fn subtask(index: u32, files: &[&str]) -> SubtaskState {
    SubtaskState {
        subtask: index,
        key_groups: Some(KeyGroupRange::for_subtask(8, 2, index)),
        files: files.iter().map(|p| file(p)).collect(),
        inline: None,
    }
}

fn meta(id: u64, files: &[&str]) -> CheckpointMetadata {
    CheckpointMetadata {
        history: Vec::new(),
        format_version: FORMAT_VERSION,
        value_format: 2,
        checkpoint_id: id,
        job_name: "j".into(),
        timestamp_ms: 0,
        max_parallelism: 8,
        operators: vec![OperatorState {
            operator_id: "op".into(),
            parallelism: 1,
            subtasks: vec![SubtaskState { subtask: 0, key_groups: None, files: files.iter().map(|p| file(p)).collect(), inline: None }],
        }],
    }
}

fn set(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

#[test]
fn root_relative_paths() {
    assert_eq!(root_relative("chk-3", "op-0.state").as_deref(), Some("chk-3/op-0.state"));
    assert_eq!(root_relative("chk-3", "../shared/a.sst").as_deref(), Some("shared/a.sst"));
    assert_eq!(root_relative("chk-3", "./sub/./x").as_deref(), Some("chk-3/sub/x"));
    assert_eq!(root_relative("sp/name", "../../x").as_deref(), Some("x"));
    assert_eq!(root_relative("chk-3", "../../etc/passwd"), None);
    assert_eq!(root_relative("chk-3", "/etc/passwd"), None);
    assert_eq!(root_relative("chk-3", ".."), None);
    assert_eq!(root_relative("", "x").as_deref(), Some("x"));
}

#[test]
fn completes_after_every_expected_ack() {
    let mut p = PendingCheckpoint::new(4, 99, [(0, 0), (0, 1), (1, 0)]);
    assert_eq!((p.id(), p.timestamp_ms()), (4, 99));
    assert!(!p.is_complete());
    assert_eq!(p.remaining(), 3);
    assert_eq!(p.acknowledge((1, 0), vec![("window".into(), 2, subtask(1, &["w1"]))]), AckOutcome::Pending { remaining: 2 });
    assert_eq!(p.acknowledge((0, 1), vec![("source".into(), 2, subtask(1, &[]))]), AckOutcome::Pending { remaining: 1 });
    assert_eq!(p.missing_tasks(), vec![(0, 0)]);
    assert!(!p.is_complete());
    // A chained task acks for two operators at once.
    assert_eq!(
        p.acknowledge((0, 0), vec![("source".into(), 2, subtask(0, &[])), ("window".into(), 2, subtask(0, &["w0", "../shared/s"])),]),
        AckOutcome::Complete
    );
    assert!(p.is_complete());
    assert!(p.missing_tasks().is_empty());
}

#[test]
fn duplicate_and_unknown_acks_change_nothing() {
    let mut p = PendingCheckpoint::new(1, 0, [(0, 0), (0, 1)]);
    assert_eq!(p.acknowledge((0, 0), vec![("op".into(), 2, subtask(0, &["a"]))]), AckOutcome::Pending { remaining: 1 });
    assert_eq!(p.acknowledge((0, 0), vec![("op".into(), 2, subtask(0, &["other"]))]), AckOutcome::Duplicate);
    assert_eq!(p.acknowledge((7, 0), vec![("op".into(), 2, subtask(1, &["x"]))]), AckOutcome::UnknownTask);
    assert_eq!(p.remaining(), 1);
    assert_eq!(p.referenced_files(), set(&["chk-1/a"]));
    assert_eq!(p.acknowledge((0, 1), vec![]), AckOutcome::Complete);
    // After completion, a repeat is still a duplicate.
    assert_eq!(p.acknowledge((0, 1), vec![]), AckOutcome::Duplicate);
}

#[test]
fn no_expected_tasks_is_complete_at_once() {
    let mut p = PendingCheckpoint::new(1, 0, []);
    assert!(p.is_complete());
    assert_eq!(p.acknowledge((0, 0), vec![]), AckOutcome::UnknownTask);
}

#[test]
fn into_metadata_sorts_operators_and_subtasks() {
    let mut p = PendingCheckpoint::new(9, 1234, [(0, 0), (0, 1), (1, 0)]);
    p.acknowledge((1, 0), vec![("z-sink".into(), 1, subtask(0, &[]))]);
    p.acknowledge((0, 1), vec![("a-src".into(), 2, subtask(1, &["s1"]))]);
    p.acknowledge((0, 0), vec![("a-src".into(), 2, subtask(0, &["s0"]))]);
    let m = p.into_metadata("job", 8);
    assert_eq!(m.format_version, FORMAT_VERSION);
    assert_eq!((m.checkpoint_id, m.timestamp_ms, m.max_parallelism), (9, 1234, 8));
    assert_eq!(m.job_name, "job");
    let ids: Vec<_> = m.operators.iter().map(|o| o.operator_id.as_str()).collect();
    assert_eq!(ids, vec!["a-src", "z-sink"]);
    let src = m.operator("a-src").unwrap();
    assert_eq!(src.parallelism, 2);
    assert_eq!(src.subtasks.iter().map(|s| s.subtask).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(src.subtasks[0].files[0].path, "s0");
    // The result is a valid document.
    let json = m.to_json().unwrap();
    assert_eq!(CheckpointMetadata::from_json("m", &json).unwrap(), m);
}

#[test]
fn first_ack_wins_on_conflicts() {
    let mut p = PendingCheckpoint::new(1, 0, [(0, 0), (0, 1)]);
    p.acknowledge((0, 0), vec![("op".into(), 2, subtask(0, &["first"]))]);
    p.acknowledge((0, 1), vec![("op".into(), 3, subtask(0, &["second"]))]);
    let m = p.into_metadata("j", 8);
    let op = m.operator("op").unwrap();
    assert_eq!(op.parallelism, 2);
    assert_eq!(op.subtasks.len(), 1);
    assert_eq!(op.subtasks[0].files[0].path, "first");
}

#[test]
fn pending_referenced_files_and_abort() {
    let mut p = PendingCheckpoint::new(5, 0, [(0, 0), (0, 1)]);
    p.acknowledge((0, 0), vec![("op".into(), 2, subtask(0, &["own", "../shared/old.sst", "../shared/new.sst", "../../escape"]))]);
    assert_eq!(p.referenced_files(), set(&["chk-5/own", "shared/new.sst", "shared/old.sst"]));
    let retained = meta(4, &["x", "../shared/old.sst"]);
    assert_eq!(p.abort_deletable(&[&retained]), set(&["chk-5/own", "shared/new.sst"]));
    assert_eq!(p.abort_deletable(&[]), p.referenced_files());
}

#[test]
fn referenced_files_of_metadata() {
    let m = meta(3, &["a", "../shared/s", "sub/../b", "../../out"]);
    assert_eq!(referenced_files(&m), set(&["chk-3/a", "chk-3/b", "shared/s"]));
    assert_eq!(referenced_files_in("savepoints/sp1", &m), set(&["out", "savepoints/sp1/a", "savepoints/sp1/b", "savepoints/shared/s"]));
}

#[test]
fn subsumption_keeps_the_newest() {
    assert_eq!(subsumed(&[1, 2, 3, 4], 2), vec![1, 2]);
    assert_eq!(subsumed(&[4, 1, 3, 2], 2), vec![1, 2], "order of input does not matter");
    assert_eq!(subsumed(&[1, 2, 3], 3), Vec::<u64>::new());
    assert_eq!(subsumed(&[1, 2, 3], 10), Vec::<u64>::new());
    assert_eq!(subsumed(&[1, 2, 3], 0), vec![1, 2], "retain is at least 1");
    assert_eq!(subsumed(&[], 0), Vec::<u64>::new());
    assert_eq!(subsumed(&[5, 5, 6], 1), vec![5], "duplicates count once");
}

#[test]
fn deletable_files_keep_shared_files_of_retained_checkpoints() {
    let c1 = meta(1, &["a", "../shared/s1", "../shared/s2"]);
    let c2 = meta(2, &["a", "../shared/s2", "../shared/s3"]);
    let c3 = meta(3, &["a", "../shared/s3", "../shared/s4"]);
    // Retain 2 of 3: c1 is discarded.
    assert_eq!(deletable_files(&[&c2, &c3], &[&c1]), set(&["chk-1/a", "shared/s1"]),);
    // Retain only c3: c1 and c2 go, s2 is no longer referenced, s3 is.
    assert_eq!(deletable_files(&[&c3], &[&c1, &c2]), set(&["chk-1/a", "chk-2/a", "shared/s1", "shared/s2"]),);
    // Nothing discarded, nothing deleted.
    assert!(deletable_files(&[&c1, &c2, &c3], &[]).is_empty());
    // Nothing retained: everything the discarded ones reference.
    assert_eq!(deletable_files(&[], &[&c1]), set(&["chk-1/a", "shared/s1", "shared/s2"]));
}

#[test]
fn deletable_files_respect_cross_checkpoint_references() {
    // A retained checkpoint that references a private file of a discarded one.
    let c1 = meta(1, &["a", "b"]);
    let c2 = meta(2, &["../chk-1/b"]);
    assert_eq!(deletable_files(&[&c2], &[&c1]), set(&["chk-1/a"]));
}

#[test]
fn next_ids() {
    assert_eq!(next_checkpoint_id(&[], None), 1);
    assert_eq!(next_checkpoint_id(&[3, 9, 4], None), 10);
    assert_eq!(next_checkpoint_id(&[], Some(41)), 42);
    assert_eq!(next_checkpoint_id(&[3], Some(41)), 42);
    assert_eq!(next_checkpoint_id(&[50], Some(41)), 51);
    assert_eq!(next_checkpoint_id(&[0], None), 1);
    assert_eq!(next_checkpoint_id(&[u64::MAX], None), u64::MAX);
}
