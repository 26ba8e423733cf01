//! The rescale matrix: a job stopped at one parallelism (SIGTERM: a final
//! checkpoint) resumes from that checkpoint at another, with each state
//! backend, and its committed output is exactly the reference. Keyed state
//! is cut by key group; the generator's stripes and the sink's uncommitted
//! files are dealt out to the new instances.

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
