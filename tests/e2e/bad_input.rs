//! Damaged checkpoints, malformed records and bad flags fail with a message
//! that names what is wrong, and commit nothing.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The job of these tests, writing into `out`, plus `extra` flags.
fn job<'a>(out: &'a Path, backend: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--generate", "1000000", "--keys", "50", "--event-rate", "10000", "--parallelism", "2", "--state-backend", backend];
    args.extend(["--output", out.to_str().unwrap()]);
    args.extend(extra);
    args
}

/// Runs a job until it has committed output, stops it with SIGTERM (so its final
/// checkpoint holds open windows) and returns its temp dir and that checkpoint.
fn completed_checkpoint(backend: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("first-out");
    let chk = dir.path().join("chk");
    let child = std::process::Command::new(windowed_count_bin())
        .args(job(&out, backend, &["--rate", "20000", "--checkpoint-dir", chk.to_str().unwrap(), "--checkpoint-interval", "100ms"]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    // Until some output is committed (a window fired) and later checkpoints hold the next windows.
    while committed_lines(&out).is_empty() || complete_checkpoints(&chk).len() < 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the job took no checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let id = *complete_checkpoints(&chk).last().unwrap();
    (dir, chk.join(format!("chk-{id}")))
}

/// A file of the window operator's keyed state that the checkpoint references
/// (the hashmap backend's `keyed.state`, or a RocksDB SST file in `shared/`).
fn state_file(chk: &Path) -> PathBuf {
    let id: u64 = chk.file_name().unwrap().to_string_lossy().trim_start_matches("chk-").parse().unwrap();
    let root = chk.parent().unwrap();
    let file = referenced_files(root, id)
        .into_iter()
        .find(|p| p.contains("window-count-") && (p.ends_with("keyed.state") || p.ends_with(".sst")))
        .map(|p| root.join(p))
        .expect("the checkpoint holds window state");
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    file
}

fn restore_fails_naming(backend: &str, chk: &Path, damaged: &Path, out: &Path) {
    let o = run_windowed_count(&job(out, backend, &["--from-checkpoint", chk.to_str().unwrap()]));
    assert!(!o.status.success(), "restoring a damaged checkpoint must fail");
    let err = stderr(&o);
    let name = damaged.file_name().unwrap().to_string_lossy().to_string();
    assert!(err.contains(&name), "the error names {name}: {err}");
    assert!(committed_lines(out).is_empty(), "nothing is committed when the restore fails");
}

#[test]
fn missing_state_file_is_named() {
    for backend in BACKENDS {
        let (dir, chk) = completed_checkpoint(backend);
        let file = state_file(&chk);
        std::fs::remove_file(&file).unwrap();
        restore_fails_naming(backend, &chk, &file, &dir.path().join("out"));
    }
}

#[test]
fn changed_byte_is_named() {
    for backend in BACKENDS {
        let (dir, chk) = completed_checkpoint(backend);
        let file = state_file(&chk);
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&file, bytes).unwrap();
        restore_fails_naming(backend, &chk, &file, &dir.path().join("out"));
    }
}

#[test]
fn metadata_cut_short_is_named() {
    for backend in BACKENDS {
        let (dir, chk) = completed_checkpoint(backend);
        let meta = chk.join("_metadata");
        let bytes = std::fs::read(&meta).unwrap();
        std::fs::write(&meta, &bytes[..bytes.len() / 2]).unwrap();
        restore_fails_naming(backend, &chk, &meta, &dir.path().join("out"));
    }
}

#[test]
fn damaged_latest_checkpoint_fails_and_keeps_committed_output() {
    for backend in BACKENDS {
        let (dir, newest) = completed_checkpoint(backend);
        let chk = newest.parent().unwrap().to_path_buf();
        let file = state_file(&newest);
        std::fs::remove_file(&file).unwrap();
        let first_out = dir.path().join("first-out");
        let before = committed_lines(&first_out);
        assert!(!before.is_empty());
        let extra = ["--checkpoint-dir", chk.to_str().unwrap(), "--from-checkpoint", "latest"];
        let o = run_windowed_count(&job(&first_out, backend, &extra));
        assert!(!o.status.success(), "{backend}: `latest` does not silently fall back past a damaged checkpoint");
        assert!(stderr(&o).contains(&*file.file_name().unwrap().to_string_lossy()), "{backend}: {}", stderr(&o));
        assert_eq!(committed_lines(&first_out), before, "{backend}: committed output stays as it was");
    }
}

#[test]
fn malformed_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.csv");
    std::fs::write(&input, "0,1\n10,2\n20,x\n30,3\n").unwrap();
    let o = run_windowed_count(&["--input", input.to_str().unwrap(), "--parallelism", "1", "--print"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("events.csv:3"), "{err}");
    assert!(err.contains("key 'x' is not an unsigned integer"), "{err}");
}

#[test]
fn bad_flags_are_explained() {
    let cases: [(&[&str], &str); 6] = [
        (&["--generate", "10", "--parallelism", "0"], "--parallelism 0 must be between 1"),
        (&["--generate", "10", "--checkpoint-dir", "/tmp/x", "--checkpoint-interval", "10"], "has no unit"),
        (&["--generate", "10", "--from-checkpoint", "latest"], "--from-checkpoint latest needs --checkpoint-dir"),
        (&["--generate", "10", "--state-backend", "leveldb"], "unknown state backend 'leveldb'"),
        (&["--generate", "10", "--max-parallelism", "4", "--parallelism", "8"], "between 1 and --max-parallelism (4)"),
        (&["--parallelism", "2"], "give exactly one of --input PATH and --generate N"),
    ];
    for (args, expected) in cases {
        let o = run_windowed_count(args);
        assert!(!o.status.success(), "{args:?} must fail");
        assert!(stderr(&o).contains(expected), "{args:?}: expected '{expected}' in: {}", stderr(&o));
    }
}

#[test]
fn help_lists_every_job_flag() {
    let o = run_windowed_count(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for flag in [
        "--parallelism",
        "--max-parallelism",
        "--state-backend",
        "--state-dir",
        "--checkpoint-dir",
        "--checkpoint-interval",
        "--incremental",
        "--retained-checkpoints",
        "--from-checkpoint",
        "--savepoint-dir",
        "--max-concurrent-checkpoints",
        "--state-memory",
        "--restore-mode",
        "--allow-non-restored-state",
        "--control-addr",
        "--input",
        "--generate",
        "--keys",
        "--event-rate",
        "--rate",
        "--window",
        "--out-of-orderness",
        "--output",
        "--print",
    ] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
}
