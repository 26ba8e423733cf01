//! Restore modes. From outside its own checkpoint directory a job restores
//! in no-claim mode: the restored checkpoint stays, and the job's own
//! checkpoints never depend on it, so it can be deleted. With
//! The files of the restored checkpoint that the job still uses are copied
//! into its own directory inside the store (hard links here). With
//! `--restore-mode claim` the job takes it over and deletes it once its own
//! first checkpoint is complete; savepoints are never claimed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

const N: u64 = 100_000;
const KEYS: u64 = 100;
const EVENT_RATE: u64 = 10_000;

fn args(out: &Path, chk: &Path, rate: u64, extra: &str) -> Vec<String> {
    argv(&format!(
        "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --rate {rate} --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval 200ms --state-backend rocksdb {extra}",
        out.display(),
        chk.display()
    ))
}

/// A first run stopped partway; returns its newest complete checkpoint.
fn stopped_run(out: &Path, chk: &Path) -> PathBuf {
    let child =
        Command::new(windowed_count_bin()).args(args(out, chk, 40_000, "")).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = *complete_checkpoints(chk).last().expect("the stop took a final checkpoint");
    chk.join(format!("chk-{id}"))
}

/// The inodes of the files in `dir`.
fn inodes(dir: &Path) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().ino()).collect()
}

#[test]
fn no_claim_leaves_the_source_which_can_then_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (out, a, b) = (dir.path().join("out"), dir.path().join("a"), dir.path().join("b"));
    let source = stopped_run(&out, &a);
    let from = format!("--from-checkpoint {}", source.display());
    let o = Command::new(windowed_count_bin()).args(args(&out, &b, 1_000_000, &from)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(source.join("_metadata").is_file(), "no-claim never deletes the restored checkpoint");
    // Restored files still in use were linked into the job's own `shared/`, not uploaded again.
    let linked: Vec<_> = inodes(&b.join("shared")).into_iter().filter(|i| inodes(&a.join("shared")).contains(i)).collect();
    assert!(!linked.is_empty(), "the first checkpoint linked the restored files it still needed");
    std::fs::remove_dir_all(&a).unwrap();
    // The job's own checkpoints stand alone: restoring from them works without the source.
    let o = Command::new(windowed_count_bin()).args(args(&out, &b, 1_000_000, "--from-checkpoint latest")).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000));
}

#[test]
fn claim_deletes_the_restored_checkpoint_once_the_first_checkpoint_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (out, a, b) = (dir.path().join("out"), dir.path().join("a"), dir.path().join("b"));
    let source = stopped_run(&out, &a);
    let referenced = referenced_files(&a, source.file_name().unwrap().to_str().unwrap().trim_start_matches("chk-").parse().unwrap());
    assert!(!referenced.is_empty());
    let from = format!("--from-checkpoint {} --restore-mode claim", source.display());
    let o = Command::new(windowed_count_bin()).args(args(&out, &b, 1_000_000, &from)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("claimed checkpoint is subsumed and deleted"), "{}", stderr(&o));
    for f in &referenced {
        assert!(!a.join(f).exists(), "{f} of the claimed checkpoint is deleted");
    }
    assert!(!source.exists(), "its directory is gone");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000));
}

#[test]
fn claim_is_refused_for_a_savepoint_and_without_a_checkpoint_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (out, a, b) = (dir.path().join("out"), dir.path().join("a"), dir.path().join("b"));
    let source = stopped_run(&out, &a);
    let savepoint = dir.path().join("sp");
    let o = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["checkpoints", "promote", source.to_str().unwrap(), savepoint.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let from = format!("--from-checkpoint {} --restore-mode claim", savepoint.display());
    let o = Command::new(windowed_count_bin()).args(args(&out, &b, 1_000_000, &from)).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("never deletes a savepoint"), "{}", stderr(&o));
    assert!(savepoint.join("_metadata").is_file());
    let o = Command::new(windowed_count_bin())
        .args(argv(&format!("--generate 10 --restore-mode claim --from-checkpoint {}", source.display())))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--restore-mode claim needs"), "{}", stderr(&o));
}

#[test]
fn a_moved_checkpoint_directory_restores_and_goes_on_checkpointing_there() {
    let dir = tempfile::tempdir().unwrap();
    let (out, a, moved) = (dir.path().join("out"), dir.path().join("a"), dir.path().join("elsewhere/a"));
    let source = stopped_run(&out, &a);
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&a, &moved).unwrap();
    assert!(!source.exists());
    // The moved directory is the job's own: it resumes from its newest checkpoint and keeps checkpointing into it.
    let before = complete_checkpoints(&moved);
    let o = Command::new(windowed_count_bin()).args(args(&out, &moved, 1_000_000, "--from-checkpoint latest")).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(complete_checkpoints(&moved).last() > before.last(), "new checkpoints in the moved directory");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000));
}
