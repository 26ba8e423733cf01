//! Every transition of the checkpoint protocol, without a job or a file system.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::manifest::{KeyGroupRange, StateFile, SubtaskState};

const SRC: TaskId = (0, 0);
const OP: TaskId = (1, 0);

fn settings() -> Settings {
    Settings { interval_ms: 100, timeout_ms: 1_000, max_concurrent: 1, retained: 1, max_final_attempts: 3 }
}

fn protocol(s: Settings) -> Protocol {
    Protocol::new(s, "job", 8, [(SRC, true), (OP, false)], 1, Vec::new(), false)
}

fn at(ms: u64) -> Clock {
    Clock { mono_ms: ms, wall_ms: 5_000 + ms }
}

/// The state a task acks with: the source's operator, or the keyed one with `files`.
fn state(task: TaskId, files: &[&str]) -> Vec<(String, u32, SubtaskState)> {
    vec![(
        if task == SRC { "source".into() } else { "op".into() },
        1,
        SubtaskState {
            subtask: 0,
            key_groups: Some(KeyGroupRange::new(0, 7)),
            files: files
                .iter()
                .map(|p| StateFile { path: p.to_string(), size: 1, checksum: 0, key_group_offsets: vec![], inline_state: false })
                .collect(),
            inline: None,
        },
    )]
}

fn ack(p: &mut Protocol, id: u64, task: TaskId, files: &[&str], now: u64) -> Vec<Action> {
    p.handle(Event::Ack { checkpoint: id, task, states: state(task, files) }, at(now))
}

/// Acks from both tasks and a successful `_metadata` write; the actions of the write.
fn complete(p: &mut Protocol, id: u64, files: &[&str], now: u64) -> Vec<Action> {
    ack(p, id, SRC, &[], now);
    let acts = ack(p, id, OP, files, now);
    assert!(matches!(acts[..], [Action::WriteMetadata { id: w, .. }] if w == id), "{acts:?}");
    p.handle(Event::MetadataWritten { checkpoint: id, result: Ok(()) }, at(now))
}

fn triggered(acts: &[Action]) -> Vec<(u64, SnapshotKind, bool)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Trigger(t) => Some((t.id, t.kind, t.is_final)),
            _ => None,
        })
        .collect()
}

fn deletions(acts: &[Action]) -> Vec<Deletion> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Delete(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const SP: SnapshotKind = SnapshotKind::Savepoint(SavepointFormat::Canonical);

fn savepoint_request() -> Request {
    Request::Savepoint { dir: "/sp".into(), format: SavepointFormat::Canonical }
}

#[test]
fn periodic_checkpoints_are_paced_by_the_interval_and_the_concurrency_limit() {
    let mut p = protocol(settings());
    assert!(p.handle(Event::Tick, at(0)).is_empty(), "the first one is due one interval after the start");
    assert!(p.handle(Event::Tick, at(99)).is_empty());
    assert_eq!(triggered(&p.handle(Event::Tick, at(100))), vec![(1, SnapshotKind::Checkpoint, false)]);
    // Due again at 200, but one is in flight and at most one may be.
    assert!(p.handle(Event::Tick, at(250)).is_empty());
    complete(&mut p, 1, &["a"], 260);
    // Overdue: triggered as soon as the slot is free.
    assert_eq!(triggered(&p.handle(Event::Tick, at(261))), vec![(2, SnapshotKind::Checkpoint, false)]);
    assert!(p.handle(Event::Tick, at(300)).is_empty());
}

#[test]
fn two_may_be_in_flight_when_the_limit_is_two() {
    let mut p = protocol(Settings { max_concurrent: 2, ..settings() });
    p.handle(Event::Tick, at(0));
    assert_eq!(triggered(&p.handle(Event::Tick, at(100))).len(), 1);
    assert_eq!(triggered(&p.handle(Event::Tick, at(200))).len(), 1);
    assert!(triggered(&p.handle(Event::Tick, at(300))).is_empty());
    assert_eq!(p.in_flight(), vec![1, 2]);
}

#[test]
fn a_checkpoint_completes_when_every_task_acked_and_its_metadata_is_written() {
    let mut p = protocol(settings());
    p.handle(Event::Request(7, Request::Checkpoint { full: true }), at(0));
    assert!(ack(&mut p, 1, SRC, &[], 1).is_empty());
    assert!(ack(&mut p, 1, SRC, &["dup"], 1).is_empty(), "a duplicate ack changes nothing");
    let acts = ack(&mut p, 1, OP, &["a"], 2);
    let [Action::WriteMetadata { id: 1, target, metadata }] = &acts[..] else { panic!("{acts:?}") };
    assert_eq!(target, &Target::Checkpoint { dir: "chk-1".into() });
    assert_eq!(metadata.timestamp_ms, 5_000);
    assert_eq!(metadata.operators[0].subtasks[0].files[0].path, "a");
    // While `_metadata` is written, a decline or time-out cannot abort it.
    assert!(p.handle(Event::Decline { checkpoint: 1, task: OP, reason: "x".into() }, at(3)).is_empty());
    assert!(p.handle(Event::Tick, at(5_000)).iter().all(|a| !matches!(a, Action::NotifyAbort { .. })));
    let acts = p.handle(Event::MetadataWritten { checkpoint: 1, result: Ok(()) }, at(5_001));
    assert_eq!(
        acts,
        vec![
            Action::NotifyComplete { id: 1, kind: SnapshotKind::FullCheckpoint, is_final: false },
            Action::Reply { request: 7, result: Ok(1) },
        ]
    );
    assert_eq!(p.retained().len(), 1);
}

#[test]
fn a_decline_aborts_and_removes_only_what_no_retained_checkpoint_references() {
    let mut p = protocol(settings());
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100));
    complete(&mut p, 1, &["own", "../shared/s1"], 110);
    p.handle(Event::Request(3, Request::Checkpoint { full: false }), at(120));
    ack(&mut p, 2, OP, &["own", "../shared/s1", "../shared/s2"], 130);
    let acts = p.handle(Event::Decline { checkpoint: 2, task: SRC, reason: "disk full".into() }, at(140));
    assert!(matches!(&acts[0], Action::NotifyAbort { id: 2, kind: SnapshotKind::Checkpoint, reason } if reason.contains("disk full")));
    let d = &deletions(&acts)[0];
    assert_eq!(d.files, strings(&["chk-2/own", "shared/s2"]));
    assert_eq!(d.sweep, strings(&["chk-2"]));
    assert!(d.keep.contains("shared/s1") && d.keep.contains("chk-1/own"));
    assert!(matches!(&acts[2], Action::Reply { request: 3, result: Err(r) } if r.contains("disk full")));
}

#[test]
fn a_checkpoint_times_out_naming_the_tasks_that_did_not_answer() {
    let mut p = protocol(settings());
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100));
    ack(&mut p, 1, SRC, &[], 150);
    assert!(p.handle(Event::Tick, at(1_099)).iter().all(|a| !matches!(a, Action::NotifyAbort { .. })));
    let acts = p.handle(Event::Tick, at(1_100));
    assert!(
        matches!(&acts[0], Action::NotifyAbort { id: 1, reason, .. } if reason.contains("timed out") && reason.contains("(1, 0)")),
        "{acts:?}"
    );
    // The next one follows at once (it is overdue).
    assert_eq!(triggered(&acts), vec![(2, SnapshotKind::Checkpoint, false)]);
}

#[test]
fn a_late_ack_of_an_aborted_checkpoint_removes_what_it_wrote() {
    let mut p = protocol(settings());
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100));
    complete(&mut p, 1, &["../shared/s1"], 110);
    p.handle(Event::Tick, at(210));
    p.handle(Event::Decline { checkpoint: 2, task: SRC, reason: "x".into() }, at(220));
    let acts = ack(&mut p, 2, OP, &["own", "../shared/s1", "../shared/late"], 230);
    assert_eq!(
        deletions(&acts),
        vec![Deletion {
            files: strings(&["chk-2/own", "shared/late"]),
            sweep: strings(&["chk-2"]),
            keep: ["shared/s1".to_string()].into()
        }]
    );
    // A late ack of a completed checkpoint deletes nothing.
    assert!(ack(&mut p, 1, OP, &["../shared/s1"], 240).is_empty());
    // Nor does one of a checkpoint that never was.
    assert!(ack(&mut p, 99, OP, &["x"], 240).is_empty());
}

#[test]
fn a_late_ack_of_an_aborted_savepoint_removes_the_savepoint_directory() {
    let mut p = protocol(settings());
    let acts = p.handle(Event::Request(1, savepoint_request()), at(0));
    let [Action::Trigger(t)] = &acts[..] else { panic!("{acts:?}") };
    assert_eq!((t.kind, t.is_final), (SP, false));
    assert_eq!(t.target, Target::Savepoint { root: "/sp".into(), dir: "savepoint-1-5000".into() });
    let acts = p.handle(Event::Tick, at(2_000));
    assert!(acts.contains(&Action::DeleteSavepoint { root: "/sp".into(), dir: "savepoint-1-5000".into() }), "{acts:?}");
    assert!(acts.iter().any(|a| matches!(a, Action::Reply { request: 1, result: Err(_) })));
    assert_eq!(
        ack(&mut p, 1, OP, &["canonical"], 2_100),
        vec![Action::DeleteSavepoint { root: "/sp".into(), dir: "savepoint-1-5000".into() }]
    );
}

#[test]
fn a_savepoint_in_flight_is_neither_subsumed_by_a_checkpoint_nor_holds_back_retention() {
    let mut p = protocol(Settings { max_concurrent: 2, ..settings() });
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100));
    complete(&mut p, 1, &["../shared/s1"], 110);
    p.handle(Event::Request(9, savepoint_request()), at(120)); // savepoint 2
    p.handle(Event::Tick, at(210)); // checkpoint 3
    let acts = complete(&mut p, 3, &["../shared/s3"], 220);
    assert_eq!(acts[0], Action::NotifyComplete { id: 3, kind: SnapshotKind::Checkpoint, is_final: false });
    assert!(!acts.iter().any(|a| matches!(a, Action::NotifyAbort { .. })), "the savepoint goes on: {acts:?}");
    // Checkpoint 1 is subsumed and deleted although savepoint 2 is in flight.
    let d = &deletions(&acts)[0];
    assert_eq!(d.files, strings(&["chk-1/_metadata", "shared/s1"]));
    assert_eq!(p.in_flight(), vec![2]);
    let acts = complete(&mut p, 2, &["x"], 230);
    assert_eq!(acts, vec![Action::NotifyComplete { id: 2, kind: SP, is_final: false }, Action::Reply { request: 9, result: Ok(2) }]);
    assert_eq!(p.retained().iter().map(|m| m.checkpoint_id).collect::<Vec<_>>(), vec![3], "a savepoint is never retained");
}

#[test]
fn two_in_flight_the_older_completing_last_is_subsumed_and_its_late_acks_cleaned_up() {
    let mut p = protocol(Settings { max_concurrent: 2, ..settings() });
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100)); // 1
    p.handle(Event::Tick, at(200)); // 2
    ack(&mut p, 1, SRC, &[], 210);
    let acts = complete(&mut p, 2, &["b"], 220);
    assert_eq!(acts[0], Action::NotifyComplete { id: 2, kind: SnapshotKind::Checkpoint, is_final: false });
    assert!(matches!(&acts[1], Action::NotifyAbort { id: 1, reason, .. } if reason.contains("subsumed by checkpoint 2")), "{acts:?}");
    // Checkpoint 1's last ack arrives after all: it never completes, its files go.
    let acts = ack(&mut p, 1, OP, &["a"], 230);
    assert_eq!(deletions(&acts)[0].files, strings(&["chk-1/a"]));
    assert!(!acts.iter().any(|a| matches!(a, Action::WriteMetadata { .. })));
}

#[test]
fn retention_waits_while_a_checkpoint_is_in_flight() {
    let mut p = protocol(Settings { max_concurrent: 2, ..settings() });
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100)); // 1
    complete(&mut p, 1, &["../shared/s1"], 110);
    p.handle(Event::Tick, at(200)); // 2
    p.handle(Event::Tick, at(300)); // 3
    let acts = complete(&mut p, 3, &["../shared/s3"], 310);
    // 2 is older than 3: subsumed; then nothing is in flight and 1 goes.
    assert!(acts.iter().any(|a| matches!(a, Action::NotifyAbort { id: 2, .. })));
    let ds = deletions(&acts);
    assert_eq!(ds.last().unwrap().files, strings(&["chk-1/_metadata", "shared/s1"]));

    // With a newer one in flight, the subsumed checkpoint's files stay until it settles.
    let mut p = protocol(Settings { max_concurrent: 2, ..settings() });
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100)); // 1
    complete(&mut p, 1, &["../shared/s1"], 110);
    p.handle(Event::Tick, at(200)); // 2
    p.handle(Event::Tick, at(300)); // 3
    let acts = complete(&mut p, 2, &["../shared/s2"], 310);
    assert!(deletions(&acts).is_empty(), "checkpoint 3 may reference checkpoint 1's shared files: {acts:?}");
    let acts = p.handle(Event::Decline { checkpoint: 3, task: OP, reason: "x".into() }, at(320));
    let ds = deletions(&acts);
    assert_eq!(ds.len(), 2, "{acts:?}");
    assert_eq!(ds[1].files, strings(&["chk-1/_metadata", "shared/s1"]));
    assert_eq!(ds[1].sweep, strings(&["chk-1"]));
    assert!(ds[1].keep.contains("shared/s2"));
}

#[test]
fn a_failed_metadata_write_aborts() {
    let mut p = protocol(settings());
    p.handle(Event::Request(4, Request::Checkpoint { full: false }), at(0));
    ack(&mut p, 1, SRC, &[], 1);
    ack(&mut p, 1, OP, &["a"], 1);
    let acts = p.handle(Event::MetadataWritten { checkpoint: 1, result: Err("exists".into()) }, at(2));
    assert!(matches!(&acts[0], Action::NotifyAbort { id: 1, reason, .. } if reason.contains("writing _metadata failed: exists")));
    assert_eq!(deletions(&acts)[0].files, strings(&["chk-1/a"]));
    assert!(matches!(&acts[2], Action::Reply { request: 4, result: Err(_) }));
    assert!(p.retained().is_empty());
}

#[test]
fn the_final_checkpoint_waits_for_what_is_in_flight_and_ends_the_job() {
    let mut p = protocol(settings());
    p.handle(Event::Tick, at(0));
    p.handle(Event::Tick, at(100)); // 1
    assert!(p.handle(Event::SourceExhausted(SRC), at(110)).is_empty(), "checkpoint 1 is still in flight");
    let acts = complete(&mut p, 1, &[], 120);
    assert_eq!(triggered(&acts), vec![(2, SnapshotKind::Checkpoint, true)]);
    assert!(triggered(&p.handle(Event::Tick, at(1_000))).is_empty(), "no periodic checkpoint after the sources are done");
    let acts = complete(&mut p, 2, &[], 130);
    assert_eq!(acts[0], Action::NotifyComplete { id: 2, kind: SnapshotKind::Checkpoint, is_final: true });
    assert_eq!(acts.last(), Some(&Action::Finished));
    assert!(matches!(p.handle(Event::Request(1, savepoint_request()), at(140))[..], [Action::Reply { request: 1, result: Err(_) }]));
}

#[test]
fn a_final_checkpoint_that_times_out_is_retried_and_the_job_fails_after_the_last_attempt() {
    let mut p = protocol(Settings { max_final_attempts: 2, ..settings() });
    let acts = p.handle(Event::SourceExhausted(SRC), at(0));
    assert_eq!(triggered(&acts), vec![(1, SnapshotKind::Checkpoint, true)]);
    let acts = p.handle(Event::Tick, at(1_000));
    assert!(matches!(acts[0], Action::NotifyAbort { id: 1, .. }));
    assert_eq!(triggered(&acts), vec![(2, SnapshotKind::Checkpoint, true)], "retried: {acts:?}");
    let acts = p.handle(Event::Tick, at(2_000));
    assert!(matches!(acts.last(), Some(Action::Fail { checkpoint: 2, reason }) if reason.contains("attempt 2 of 2")), "{acts:?}");
    assert!(triggered(&acts).is_empty());
}

#[test]
fn stop_with_savepoint_takes_a_savepoint_then_the_final_checkpoint() {
    let mut p = protocol(settings());
    let stop = Request::StopWithSavepoint { dir: "/sp".into(), format: SavepointFormat::Native };
    assert!(p.handle(Event::Request(5, stop.clone()), at(0)).is_empty());
    assert!(
        matches!(p.handle(Event::Request(6, stop), at(1))[..], [Action::Reply { request: 6, result: Err(ref r) }] if r.contains("already stopping"))
    );
    assert!(triggered(&p.handle(Event::Tick, at(500))).is_empty(), "no periodic checkpoint while stopping");
    let acts = p.handle(Event::SourceExhausted(SRC), at(600));
    assert_eq!(triggered(&acts), vec![(1, SnapshotKind::Savepoint(SavepointFormat::Native), false)]);
    let acts = complete(&mut p, 1, &["sp"], 610);
    assert_eq!(acts[0], Action::NotifyComplete { id: 1, kind: SnapshotKind::Savepoint(SavepointFormat::Native), is_final: false });
    assert_eq!(acts[1], Action::Reply { request: 5, result: Ok(1) });
    assert_eq!(triggered(&acts), vec![(2, SnapshotKind::Checkpoint, true)], "the final checkpoint commits the output: {acts:?}");
    let acts = p.handle(Event::Request(8, Request::Checkpoint { full: false }), at(620));
    assert!(matches!(acts[..], [Action::Reply { request: 8, result: Err(_) }]));
    let acts = complete(&mut p, 2, &[], 630);
    assert_eq!(acts.last(), Some(&Action::Finished));
}

#[test]
fn a_failed_stop_savepoint_is_answered_and_the_job_still_takes_its_final_checkpoint() {
    let mut p = protocol(settings());
    p.handle(Event::Request(5, Request::StopWithSavepoint { dir: "/sp".into(), format: SavepointFormat::Canonical }), at(0));
    p.handle(Event::SourceExhausted(SRC), at(10));
    let acts = p.handle(Event::Decline { checkpoint: 1, task: OP, reason: "no space".into() }, at(20));
    assert!(acts.iter().any(|a| matches!(a, Action::Reply { request: 5, result: Err(r) } if r.contains("no space"))));
    assert!(acts.iter().any(|a| matches!(a, Action::DeleteSavepoint { .. })));
    assert_eq!(triggered(&acts), vec![(2, SnapshotKind::Checkpoint, true)]);
}

#[test]
fn a_claimed_checkpoint_is_deleted_once_the_first_own_checkpoint_completes() {
    let mut p = Protocol::new(settings(), "job", 8, [(SRC, true), (OP, false)], 10, Vec::new(), true);
    p.handle(Event::Request(1, savepoint_request()), at(0));
    let acts = complete(&mut p, 10, &[], 10);
    assert!(!acts.contains(&Action::DeleteClaimed), "a savepoint is not the job's own checkpoint");
    p.handle(Event::Request(2, Request::Checkpoint { full: false }), at(20));
    let acts = complete(&mut p, 11, &[], 30);
    assert_eq!(acts.iter().filter(|a| **a == Action::DeleteClaimed).count(), 1);
    p.handle(Event::Request(3, Request::Checkpoint { full: false }), at(40));
    assert!(!complete(&mut p, 12, &[], 50).contains(&Action::DeleteClaimed));
}

#[test]
fn retention_keeps_the_newest_and_deletes_metadata_first() {
    let mut p = Protocol::new(Settings { retained: 2, ..settings() }, "job", 8, [(SRC, true), (OP, false)], 1, Vec::new(), false);
    for (i, id) in (1..=3u64).enumerate() {
        p.handle(Event::Request(id, Request::Checkpoint { full: false }), at(i as u64));
        let shared = format!("../shared/s{id}");
        let acts = complete(&mut p, id, &["own", "../shared/common", &shared], i as u64);
        if id < 3 {
            assert!(deletions(&acts).is_empty());
        } else {
            let d = &deletions(&acts)[0];
            assert_eq!(d.files, strings(&["chk-1/_metadata", "chk-1/own", "shared/s1"]));
            assert!(d.keep.contains("shared/common"));
        }
    }
    assert_eq!(p.retained().iter().map(|m| m.checkpoint_id).collect::<Vec<_>>(), vec![2, 3]);
}

#[test]
fn the_job_ends_when_every_task_ended() {
    let mut p = protocol(settings());
    assert!(p.handle(Event::TaskEnded(SRC), at(0)).is_empty());
    assert_eq!(p.handle(Event::TaskEnded(OP), at(1)), vec![Action::Finished]);
    assert!(p.handle(Event::Tick, at(1_000)).is_empty());
}

#[test]
fn acks_of_unknown_tasks_are_ignored() {
    let mut p = protocol(settings());
    p.handle(Event::Request(1, Request::Checkpoint { full: false }), at(0));
    assert!(ack(&mut p, 1, (9, 9), &["x"], 1).is_empty());
    assert_eq!(p.in_flight(), vec![1]);
}

#[test]
fn a_stop_ends_periodic_checkpoints_and_the_final_one_follows_the_sources() {
    let mut p = protocol(settings());
    p.handle(Event::Tick, at(0));
    assert!(p.handle(Event::Stop, at(50)).is_empty());
    assert!(triggered(&p.handle(Event::Tick, at(500))).is_empty(), "no periodic checkpoint once stopping");
    // A checkpoint asked for explicitly is still taken.
    assert_eq!(triggered(&p.handle(Event::Request(1, Request::Checkpoint { full: false }), at(510))).len(), 1);
    complete(&mut p, 1, &[], 520);
    assert_eq!(triggered(&p.handle(Event::SourceExhausted(SRC), at(600))), vec![(2, SnapshotKind::Checkpoint, true)]);
}

#[test]
fn the_schedule_is_anchored_and_a_long_checkpoint_moves_it() {
    let mut p = protocol(settings());
    p.handle(Event::Tick, at(0));
    assert_eq!(triggered(&p.handle(Event::Tick, at(107))).len(), 1, "due at 100, seen at 107");
    complete(&mut p, 1, &[], 120);
    assert!(p.handle(Event::Tick, at(199)).is_empty());
    assert_eq!(triggered(&p.handle(Event::Tick, at(200))).len(), 1, "due at 200, not at 207");
    // Checkpoint 2 runs past two slots: the next is taken when it completes, then one interval later.
    complete(&mut p, 2, &[], 450);
    assert_eq!(triggered(&p.handle(Event::Tick, at(451))).len(), 1);
    complete(&mut p, 3, &[], 460);
    assert!(p.handle(Event::Tick, at(550)).is_empty());
    assert_eq!(triggered(&p.handle(Event::Tick, at(551))).len(), 1);
}
