//! Kill the job at random moments while it checkpoints, restart it from the
//! latest checkpoint, and check that the committed output is exactly the
//! reference: nothing lost, nothing twice.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const N: u64 = 150_000;
const KEYS: u64 = 100;
const EVENT_RATE: u64 = 10_000;

fn args(out: &str, chk: &str, interval: &str) -> Vec<String> {
    args_at_rate(out, chk, interval, "50000")
}

fn args_at_rate(out: &str, chk: &str, interval: &str, rate: &str) -> Vec<String> {
    [
        "--generate",
        &N.to_string(),
        "--keys",
        &KEYS.to_string(),
        "--event-rate",
        &EVENT_RATE.to_string(),
        "--rate",
        rate,
        "--parallelism",
        "2",
        "--output",
        out,
        "--checkpoint-dir",
        chk,
        "--checkpoint-interval",
        interval,
        "--from-checkpoint",
        "latest",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let chk = dir.path().join("chk");
    let (out_s, chk_s) = (out.to_str().unwrap(), chk.to_str().unwrap());
    let mut kills = 0;
    let mut finished = false;
    for attempt in 0..20 {
        let interval = format!("{}ms", 100 + rng.below(101));
        let mut child = Command::new(windowed_count_bin())
            .args(args(out_s, chk_s, &interval))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if kills < 6 {
            let wait = Duration::from_millis(150 + rng.below(800));
            let started = Instant::now();
            while started.elapsed() < wait {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "attempt {attempt} failed: {status}");
        finished = true;
        break;
    }
    assert!(finished, "the job never ran to its end");
    assert!(kills >= 3, "the job was killed only {kills} times");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000), "after {kills} kills");
    let leftovers: Vec<_> = std::fs::read_dir(out.join(".inprogress")).unwrap().collect();
    assert!(leftovers.is_empty(), "in-progress files left behind: {leftovers:?}");
}

#[test]
fn sigterm_stops_with_a_final_checkpoint_and_latest_resumes_exactly_there() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let chk = dir.path().join("chk");
    let (out_s, chk_s) = (out.to_str().unwrap(), chk.to_str().unwrap());
    let a = args_at_rate(out_s, chk_s, "10s", "30000");
    let child = Command::new(windowed_count_bin()).args(&a).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "a stopped job exits 0: {}", stderr(&o));
    let first_events: u64 = stdout(&o).split_whitespace().next().unwrap().trim_start_matches("events=").parse().unwrap();
    assert!(first_events > 0 && first_events < N, "stopped partway: {first_events} events");
    // The interval is 10 s: the only checkpoint is the final one the stop took.
    assert_eq!(complete_checkpoints(&chk).len(), 1, "{}", stderr(&o));
    let partial = committed_lines(&out);
    let expected = generated_reference(N, KEYS, EVENT_RATE, 1000);
    assert!(partial.iter().all(|l| expected.binary_search(l).is_ok()), "everything committed so far is final");
    let o = Command::new(windowed_count_bin()).args(args(out_s, chk_s, "10s")).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let second_events: u64 = stdout(&o).split_whitespace().next().unwrap().trim_start_matches("events=").parse().unwrap();
    assert_eq!(first_events + second_events, N, "the restart reads exactly what the stopped run did not");
    assert_eq!(committed_lines(&out), expected);
}
