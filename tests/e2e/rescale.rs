//! The rescale matrix: a job stopped at one parallelism (SIGTERM: a final
//! checkpoint) resumes from that checkpoint at another, with each state
//! backend, and its committed output is exactly the reference. Keyed state
//! is cut by key group; the generator's stripes, the line-file source's
//! files and the sink's uncommitted files are dealt out to the new instances.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

const N: u64 = 120_000;
const KEYS: u64 = 100;
const EVENT_RATE: u64 = 10_000;

fn args(out: &Path, chk: &Path, parallelism: u32, rate: u64, backend: &str) -> Vec<String> {
    argv(&format!(
        "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --rate {rate} --parallelism {parallelism} --output {} \
         --checkpoint-dir {} --checkpoint-interval 300ms --from-checkpoint latest --state-backend {backend}",
        out.display(),
        chk.display()
    ))
}

fn rescale(from: u32, to: u32, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let child = Command::new(windowed_count_bin())
        .args(args(&out, &chk, from, 40_000, backend))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{backend} {from}->{to}: {}", stderr(&o));
    let first: u64 = stdout(&o).split_whitespace().next().unwrap().trim_start_matches("events=").parse().unwrap();
    assert!(first > 0 && first < N, "{backend} {from}->{to}: the first run stopped partway ({first} events)");
    let o = Command::new(windowed_count_bin()).args(args(&out, &chk, to, 1_000_000, backend)).output().unwrap();
    assert!(o.status.success(), "{backend} {from}->{to}: {}", stderr(&o));
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000), "{backend}: parallelism {from} -> {to}");
}

#[test]
fn rescale_from_a_checkpoint_hashmap() {
    for (from, to) in [(1, 3), (3, 2), (2, 4)] {
        rescale(from, to, "hashmap");
    }
}

#[test]
fn rescale_from_a_checkpoint_rocksdb() {
    for (from, to) in [(1, 3), (3, 2), (2, 4)] {
        rescale(from, to, "rocksdb");
    }
}

/// Runs windowed_count with `args` until SIGTERM after `run_for` (a final checkpoint); returns its events.
fn stop_partway(args: &[String], run_for: Duration, what: &str) -> u64 {
    let child = Command::new(windowed_count_bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(run_for);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{what}: {}", stderr(&o));
    stdout(&o).split_whitespace().next().unwrap().trim_start_matches("events=").parse().unwrap()
}

/// RocksDB with incremental checkpoints, 2 -> 3 from the job's own
/// checkpoint: a restored instance keeps the files of the checkpointed
/// instance that overlaps it most, and its checkpoints reference them where
/// that instance uploaded them. The job then restores from such a checkpoint
/// on the same machine (local recovery of the kept files), and from a
/// promoted copy of it elsewhere, and ends with the reference output.
#[test]
fn a_rescaled_rocksdb_job_references_the_kept_files_and_restores_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let (out, chk, state) = (dir.path().join("out"), dir.path().join("chk"), dir.path().join("state"));
    // One checkpoint per run (the final one), so no compaction rewrites the kept files in between.
    let args = |parallelism: u32, rate: u64| {
        argv(&format!(
            "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --rate {rate} --parallelism {parallelism} --output {} \
             --checkpoint-dir {} --checkpoint-interval 1h --from-checkpoint latest --state-backend rocksdb --state-dir {}",
            out.display(),
            chk.display(),
            state.display()
        ))
    };
    let first = stop_partway(&args(2, 40_000), Duration::from_millis(1300), "p2");
    let second = stop_partway(&args(3, 20_000), Duration::from_millis(1300), "p2 -> p3");
    assert!(first > 0 && second > 0 && first + second < N, "both runs stopped partway: {first} + {second} of {N}");
    // Instance 2 at parallelism 3 (key groups 86..=127) kept the files of instance 1 at 2 (64..=127).
    let newest = *complete_checkpoints(&chk).last().unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(chk.join(format!("chk-{newest}/_metadata"))).unwrap()).unwrap();
    let op = meta["operators"].as_array().unwrap().iter().find(|o| o["operator_id"] == "window-count").unwrap();
    let kept: Vec<String> = op["subtasks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| {
            let own = format!("shared/window-count-{}.", st["subtask"]);
            st["files"].as_array().unwrap().iter().filter_map(move |f| {
                let path = f["path"].as_str().unwrap();
                (path.contains("shared/window-count-") && !path.contains(&own)).then(|| path.to_string())
            })
        })
        .collect();
    assert!(!kept.is_empty(), "chk-{newest} references files another instance uploaded: {op}");
    // The tools take such references as they are; a promoted copy restores elsewhere at another parallelism.
    let weir = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_weir")).args(args).output().unwrap();
    let o = weir(&["checkpoints", "verify", chk.join(format!("chk-{newest}")).to_str().unwrap()]);
    assert!(o.status.success(), "verify: {}{}", stdout(&o), stderr(&o));
    let sp = dir.path().join("sp");
    let o = weir(&["checkpoints", "promote", chk.join(format!("chk-{newest}")).to_str().unwrap(), sp.to_str().unwrap()]);
    assert!(o.status.success(), "promote: {}", stderr(&o));
    let out_sp = dir.path().join("out-sp");
    copy_dir(&out, &out_sp);
    let o = run_windowed_count(&argv(&format!(
        "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --parallelism 2 --output {} --from-checkpoint {} --state-backend rocksdb",
        out_sp.display(),
        sp.display()
    )));
    assert!(o.status.success(), "promoted, p3 -> p2: {}", stderr(&o));
    assert_eq!(committed_lines(&out_sp), generated_reference(N, KEYS, EVENT_RATE, 1000), "2 -> 3 -> promoted -> 2");
    let o = run_windowed_count(&args(3, 1_000_000));
    assert!(o.status.success(), "p3 -> p3: {}", stderr(&o));
    assert!(stderr(&o).contains("local recovery"), "the kept files are found in the state directory: {}", stderr(&o));
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000), "2 -> 3 -> 3");
}

/// File input: each file is read by one instance; stopped partway at 3,
/// its files and offsets go on at 2, each to exactly one instance.
#[test]
fn rescale_file_input_from_a_checkpoint() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (input, out, chk) = (dir.path().join("in"), dir.path().join("out"), dir.path().join("chk"));
    std::fs::create_dir(&input).unwrap();
    // Seven files, in event-time order one after another by name.
    let events: Vec<(i64, u64)> = (0..N).map(|i| ((i * 1000 / EVENT_RATE) as i64, (i * 2654435761) % KEYS)).collect();
    for (f, chunk) in events.chunks(N as usize / 7 + 1).enumerate() {
        let mut file = std::io::BufWriter::new(std::fs::File::create(input.join(format!("part-{f}.csv"))).unwrap());
        for (ts, key) in chunk {
            writeln!(file, "{ts},{key}").unwrap();
        }
    }
    let args = |parallelism: u32, rate: u64| {
        argv(&format!(
            "--input {} --rate {rate} --parallelism {parallelism} --output {} --checkpoint-dir {} --checkpoint-interval 300ms \
             --from-checkpoint latest",
            input.display(),
            out.display(),
            chk.display()
        ))
    };
    let first = stop_partway(&args(3, 40_000), Duration::from_millis(1300), "files p3");
    assert!(first > 0 && first < N, "the first run stopped partway ({first} events)");
    let o = run_windowed_count(&args(2, 1_000_000));
    assert!(o.status.success(), "files 3 -> 2: {}", stderr(&o));
    assert_eq!(committed_lines(&out), reference(events.iter().copied(), 1000), "files: parallelism 3 -> 2");
}
