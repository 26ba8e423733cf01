//! Kill the job at random moments while it checkpoints, restart it from the
//! latest checkpoint, and check that the committed output is exactly the
//! reference: nothing lost, nothing twice. With each state backend.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

const N: u64 = 150_000;
const KEYS: u64 = 100;
const EVENT_RATE: u64 = 10_000;

fn args(out: &Path, chk: &Path, interval: &str, rate: u64, backend: &str) -> Vec<String> {
    argv(&format!(
        "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --rate {rate} --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval {interval} --from-checkpoint latest --state-backend {backend}",
        out.display(),
        chk.display()
    ))
}

fn sigkill_at_random_moments(backend: &str) {
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let chk = dir.path().join("chk");
    let kills = kill_at_random_moments(&mut rng, 6, (150, 800), backend, |rng| {
        let interval = format!("{}ms", 100 + rng.below(101));
        Command::new(windowed_count_bin())
            .args(args(&out, &chk, &interval, 50_000, backend))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    assert!(kills >= 3, "{backend}: the job was killed only {kills} times");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000), "{backend}: after {kills} kills");
    let leftovers: Vec<_> = std::fs::read_dir(out.join(".inprogress")).unwrap().collect();
    assert!(leftovers.is_empty(), "{backend}: in-progress files left behind: {leftovers:?}");
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing_hashmap() {
    sigkill_at_random_moments("hashmap");
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing_rocksdb() {
    sigkill_at_random_moments("rocksdb");
}

fn events_of(summary: &str) -> u64 {
    summary.split_whitespace().next().unwrap().trim_start_matches("events=").parse().unwrap()
}

fn sigterm_then_resume(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let chk = dir.path().join("chk");
    let child = Command::new(windowed_count_bin())
        .args(args(&out, &chk, "10s", 30_000, backend))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{backend}: a stopped job exits 0: {}", stderr(&o));
    let first_events = events_of(&stdout(&o));
    assert!(first_events > 0 && first_events < N, "{backend}: stopped partway: {first_events} events");
    // The interval is 10 s: the only checkpoint is the final one the stop took.
    assert_eq!(complete_checkpoints(&chk).len(), 1, "{backend}: {}", stderr(&o));
    let partial = committed_lines(&out);
    let expected = generated_reference(N, KEYS, EVENT_RATE, 1000);
    assert!(partial.iter().all(|l| expected.binary_search(l).is_ok()), "{backend}: everything committed so far is final");
    let o = Command::new(windowed_count_bin()).args(args(&out, &chk, "10s", 50_000, backend)).output().unwrap();
    assert!(o.status.success(), "{backend}: {}", stderr(&o));
    assert_eq!(first_events + events_of(&stdout(&o)), N, "{backend}: the restart reads exactly what the stopped run did not");
    assert_eq!(committed_lines(&out), expected, "{backend}");
}

#[test]
fn sigterm_stops_with_a_final_checkpoint_and_latest_resumes_exactly_there_hashmap() {
    sigterm_then_resume("hashmap");
}

#[test]
fn sigterm_stops_with_a_final_checkpoint_and_latest_resumes_exactly_there_rocksdb() {
    sigterm_then_resume("rocksdb");
}

/// The output of `shop_monitor --generate n`, computed by brute force.
fn shop_reference(n: u64) -> Vec<String> {
    #[allow(dead_code)]
    #[path = "../../examples/shop_monitor.rs"]
    mod shop;
    let mut out = Vec::new();
    let mut sliding: std::collections::BTreeMap<(u64, i64), u64> = Default::default();
    let mut visits: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
    for i in 0..n {
        let ts = i as i64;
        for s in (ts.div_euclid(250) - 4..=ts.div_euclid(250)).map(|k| k * 250).filter(|s| *s <= ts && ts < s + 1000) {
            *sliding.entry((shop::customer(i) % 50, s)).or_insert(0) += 1;
        }
        visits.entry(shop::customer(i)).or_default().push(ts);
        if i % 3 == 1 {
            for o in i.saturating_sub(20)..=i {
                if o % 3 == 0 && o % 97 == shop::order_of(i) {
                    out.push(format!("paid,{o},{i}"));
                }
            }
        }
        let c = shop::customer(i);
        let limit = (0..shop::LIMITS).map(shop::limit).filter(|(t, (tier, _))| *tier == c % 5 && *t <= ts).map(|(_, (_, l))| l).next_back();
        if limit.is_some_and(|l| shop::amount(i) > l) {
            out.push(format!("alert,{c},{ts},{}", shop::amount(i)));
        }
    }
    out.extend(sliding.into_iter().map(|((g, s), n)| format!("sliding,{g},{s},{n}")));
    for (c, times) in visits {
        let (mut start, mut last, mut count) = (times[0], times[0], 0);
        for t in times {
            if t - last >= 300 {
                out.push(format!("session,{c},{start},{},{count}", last + 300));
                start = t;
                count = 0;
            }
            last = t;
            count += 1;
        }
        out.push(format!("session,{c},{start},{},{count}", last + 300));
    }
    out.sort();
    out
}

fn shop_monitor_killed_at_random_moments(backend: &str) {
    // Three seconds of input at the rate below: a run killed within 1.2 s
    // has not read it all, so the job is killed at least twice whatever the
    // random moments are.
    const PURCHASES: u64 = 45_000;
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let kills = kill_at_random_moments(&mut rng, 4, (300, 900), backend, |rng| {
        let interval = format!("{}ms", 100 + rng.below(101));
        Command::new(example_bin("shop_monitor"))
            .args(argv(&format!(
                "--generate {PURCHASES} --rate 15000 --parallelism 2 --output {} --checkpoint-dir {} --checkpoint-interval {interval} \
                 --from-checkpoint latest --state-backend {backend}",
                out.display(),
                chk.display()
            )))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    assert!(kills >= 2, "{backend}: the job was killed only {kills} times");
    let reference = shop_reference(PURCHASES);
    for kind in ["sliding,", "session,", "paid,", "alert,"] {
        assert!(reference.iter().filter(|l| l.starts_with(kind)).count() > 100, "the reference has {kind} lines");
    }
    assert_eq!(committed_lines(&out), reference, "{backend}: after {kills} kills");
}

#[test]
fn a_job_with_windows_a_join_and_broadcast_state_survives_sigkill_hashmap() {
    shop_monitor_killed_at_random_moments("hashmap");
}

#[test]
fn a_job_with_windows_a_join_and_broadcast_state_survives_sigkill_rocksdb() {
    shop_monitor_killed_at_random_moments("rocksdb");
}

/// keyed_totals keeping each key's latest count as an upsert table, killed
/// at random moments: the table ends with every key at its total over all
/// events (an event counted twice or lost in state, or a commit lost,
/// would show), and no transaction is left behind.
fn upsert_table_killed_at_random_moments(backend: &str) {
    #[allow(dead_code)]
    #[path = "../../examples/keyed_totals.rs"]
    mod totals;
    const EVENTS: u64 = 120_000;
    const KEYS: u64 = 2_000;
    const HOT: u64 = 300;
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("table"), dir.path().join("chk"));
    let kills = kill_at_random_moments(&mut rng, 4, (300, 900), backend, |rng| {
        let interval = format!("{}ms", 100 + rng.below(101));
        Command::new(example_bin("keyed_totals"))
            .args(argv(&format!(
                "--generate {EVENTS} --keys {KEYS} --hot-keys {HOT} --rate 40000 --parallelism 2 --upsert-output {} \
                 --checkpoint-dir {} --checkpoint-interval {interval} --from-checkpoint latest --state-backend {backend}",
                out.display(),
                chk.display()
            )))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    assert!(kills >= 2, "{backend}: the job was killed only {kills} times");
    let mut reference: std::collections::BTreeMap<String, String> = Default::default();
    let mut counts: std::collections::BTreeMap<u64, u64> = Default::default();
    for i in 0..EVENTS {
        *counts.entry(totals::generated_key(i, KEYS, HOT)).or_insert(0) += 1;
    }
    reference.extend(counts.into_iter().map(|(k, c)| (k.to_string(), c.to_string())));
    let table = weir::crates::operators::sinks::read_table(&out).unwrap();
    assert_eq!(table.len(), KEYS as usize);
    assert_eq!(table, reference, "{backend}: after {kills} kills");
    let pending: Vec<_> = std::fs::read_dir(out.join(".inprogress")).unwrap().collect();
    assert!(pending.is_empty(), "{backend}: transactions left behind: {pending:?}");
}

#[test]
fn an_upsert_table_survives_sigkill_with_every_key_at_its_total_hashmap() {
    upsert_table_killed_at_random_moments("hashmap");
}

#[test]
fn an_upsert_table_survives_sigkill_with_every_key_at_its_total_rocksdb() {
    upsert_table_killed_at_random_moments("rocksdb");
}
