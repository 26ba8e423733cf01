#![allow(clippy::unwrap_used)]
use super::*;
use weir_runtime::{Barrier, Counters, Notification, Operator, OperatorSnapshot, SavepointFormat, SnapshotKind};

type Op = TwoPhaseCommitOperator<u32, FileSink<u32>>;

fn sink_at(dir: &Path, subtask: u32, parallelism: u32, run: &str, restored: Option<Vec<(u32, Vec<u8>)>>) -> Op {
    let sink = FileSink::new("out", dir, subtask, Counters::default().counter("rows")).unwrap();
    let mut op =
        TwoPhaseCommitOperator::new("out", sink, subtask, parallelism, run, true, restored.map(|r| (weir_state::ValueFormat::CURRENT, r)))
            .unwrap();
    op.open().unwrap();
    op
}

fn sink(dir: &Path, run: &str, restored: Option<Vec<u8>>) -> Op {
    sink_at(dir, 0, 1, run, restored.map(|s| vec![(0, s)]))
}

/// Writes one record per value.
fn write(op: &mut Op, values: &[u32]) {
    op.process(&mut values.iter().map(|v| Event::new(0, *v)).collect()).unwrap();
}

fn barrier(op: &mut Op, id: u64, kind: SnapshotKind) -> Vec<u8> {
    let mut snaps: Vec<OperatorSnapshot> = Vec::new();
    op.barrier(&Barrier { id, timestamp_ms: 0, is_final: false, kind }, &mut snaps).unwrap();
    snaps.pop().unwrap().inline.unwrap()
}

fn complete(op: &mut Op, id: u64, kind: SnapshotKind) {
    op.checkpoint_complete(&Notification { id, kind, is_final: false }).unwrap();
}

fn committed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).filter(|n| !n.starts_with('.')).collect();
    names.sort();
    names
}

fn text(dir: &Path) -> String {
    let mut lines: Vec<String> = committed(dir)
        .iter()
        .flat_map(|n| fs::read_to_string(dir.join(n)).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    lines.sort();
    lines.join(",")
}

fn in_progress(dir: &Path) -> usize {
    fs::read_dir(dir.join(IN_PROGRESS_DIR)).unwrap().count()
}

const CP: SnapshotKind = SnapshotKind::Checkpoint;
const SP: SnapshotKind = SnapshotKind::Savepoint(SavepointFormat::Canonical);

#[test]
fn files_appear_only_when_a_checkpoint_covering_them_completes_never_on_a_savepoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "r1", None);
    write(&mut s, &[1, 2]);
    barrier(&mut s, 3, CP);
    write(&mut s, &[3]);
    s.checkpoint_aborted(&Notification { id: 3, kind: CP, is_final: false }).unwrap();
    barrier(&mut s, 4, SP);
    complete(&mut s, 4, SP);
    assert!(committed(dir.path()).is_empty(), "a savepoint commits nothing");
    barrier(&mut s, 5, CP);
    complete(&mut s, 5, CP);
    // Checkpoint 3 was aborted and 4 was a savepoint: checkpoint 5 commits both files.
    assert_eq!(committed(dir.path()), vec!["part-0000-0000000003-r1-0".to_string(), "part-0000-0000000004-r1-1".to_string()]);
    assert_eq!(text(dir.path()), "1,2,3");
    assert_eq!(in_progress(dir.path()), 0);
}

#[test]
fn restore_finishes_a_commit_the_crash_interrupted_and_drops_uncovered_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "r1", None);
    write(&mut s, &[7]);
    let state = barrier(&mut s, 5, CP);
    // Written after checkpoint 5: no checkpoint covers it.
    write(&mut s, &[8]);
    // The process dies here: _metadata of checkpoint 5 was written, the sink never heard.
    drop(s);
    assert!(committed(dir.path()).is_empty());
    assert_eq!(in_progress(dir.path()), 2);

    let _restored = sink(dir.path(), "r2", Some(state.clone()));
    assert_eq!(committed(dir.path()), vec!["part-0000-0000000005-r1-0".to_string()]);
    assert_eq!(text(dir.path()), "7");
    assert_eq!(in_progress(dir.path()), 0, "the output after checkpoint 5 is gone");

    // Restoring the same checkpoint again (a second crash) commits nothing twice.
    let _again = sink(dir.path(), "r3", Some(state));
    assert_eq!(committed(dir.path()), vec!["part-0000-0000000005-r1-0".to_string()]);
}

#[test]
fn a_savepoint_then_a_crash_then_the_older_checkpoint_leaves_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "r1", None);
    write(&mut s, &[1]);
    let chk = barrier(&mut s, 1, CP);
    complete(&mut s, 1, CP);
    write(&mut s, &[2]);
    barrier(&mut s, 2, SP);
    complete(&mut s, 2, SP);
    drop(s); // killed before the next checkpoint
             // Resumed from checkpoint 1: record 2 is replayed.
    let mut r = sink(dir.path(), "r2", Some(chk));
    write(&mut r, &[2]);
    barrier(&mut r, 3, CP);
    complete(&mut r, 3, CP);
    assert_eq!(text(dir.path()), "1,2");
}

#[test]
fn replayed_checkpoint_ids_never_reuse_a_committed_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "r1", None);
    write(&mut s, &[1]);
    let chk = barrier(&mut s, 1, CP);
    complete(&mut s, 1, CP);
    write(&mut s, &[2]);
    barrier(&mut s, 2, CP);
    complete(&mut s, 2, CP);
    // A restore from checkpoint 1 (kept by retention) takes id 2 again.
    let mut r = sink(dir.path(), "r2", Some(chk));
    write(&mut r, &[20]);
    barrier(&mut r, 2, CP);
    complete(&mut r, 2, CP);
    assert_eq!(committed(dir.path()).len(), 3);
    assert_eq!(text(dir.path()), "1,2,20", "the earlier checkpoint 2's file is still there");
}

#[test]
fn after_a_rescale_each_earlier_instance_is_recovered_by_exactly_one_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = sink_at(dir.path(), 0, 2, "r1", None);
    let mut b = sink_at(dir.path(), 1, 2, "r1", None);
    write(&mut a, &[1]);
    write(&mut b, &[2]);
    let (sa, sb) = (barrier(&mut a, 4, CP), barrier(&mut b, 4, CP));
    write(&mut b, &[99]); // after the checkpoint
    drop((a, b));
    // One instance now: it commits both earlier instances' files and removes instance 1's uncovered one.
    let _one = sink_at(dir.path(), 0, 1, "r2", Some(vec![(0, sa), (1, sb)]));
    assert_eq!(text(dir.path()), "1,2");
    assert_eq!(in_progress(dir.path()), 0);
}

#[test]
fn a_pending_file_that_vanished_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sink(dir.path(), "r1", None);
    write(&mut s, &[7]);
    let state = barrier(&mut s, 2, CP);
    drop(s);
    for e in fs::read_dir(dir.path().join(IN_PROGRESS_DIR)).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    let sink = FileSink::<u32>::new("out", dir.path(), 0, Counters::default().counter("rows")).unwrap();
    let mut op =
        TwoPhaseCommitOperator::new("out", sink, 0, 1, "r2", true, Some((weir_state::ValueFormat::CURRENT, vec![(0, state)]))).unwrap();
    let err = op.open().unwrap_err().to_string();
    assert!(err.contains(".inprogress") && err.contains("part-0000-0000000002-r1-0"), "{err}");
}

#[test]
fn without_checkpoints_files_are_committed_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::<u32>::new("out", dir.path(), 0, Counters::default().counter("rows")).unwrap();
    let mut op = TwoPhaseCommitOperator::new("out", sink, 0, 1, "r1", false, None).unwrap();
    op.open().unwrap();
    write(&mut op, &[5]);
    assert!(committed(dir.path()).is_empty());
    op.finish().unwrap();
    assert_eq!(committed(dir.path()), vec!["part-0000-r1-0".to_string()]);
}

#[test]
fn in_progress_names_are_parsed_back_to_their_instance_and_run() {
    assert_eq!(owner("3-a1b2-17.part"), Some((3, "a1b2")));
    assert_eq!(owner("x-a-1.part"), None);
    assert_eq!(owner("3-a-1.txt"), None);
}
