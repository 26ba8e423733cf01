//! Window assigners against references computed here by brute force:
//! tumbling, sliding and session windows with out-of-order input, allowed
//! lateness and the late-data side output, at parallelism 1, 2 and 4 with
//! each backend; process window functions; and session windows that are
//! open when a job stops and close after it resumes at another parallelism.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use weir::crates::runtime::{JobControl, OnStart};
use weir::crates::state::BackendKind;
use weir::{
    Event, JobConfig, JobError, OutputTag, ProcessWindowFunction, RestoreFrom, SessionWindows, SlidingWindows, Source, SourceStatus,
    StreamEnvironment, UserError, WindowContext,
};

use crate::common::committed_lines;

pub(crate) const KEYS: u64 = 5;

/// A source (of parallelism 1) that plays `steps`, one step per poll: its
/// records, then its watermark. Every window instance then has one input
/// channel, and which records are late is fixed by the script, whatever
/// the windows' parallelism.
struct Script {
    steps: Arc<Vec<(Vec<Event<u64>>, i64)>>,
    next: usize,
    mine: bool,
}

impl Source<u64> for Script {
    fn poll(&mut self, out: &mut Vec<Event<u64>>, _max: usize) -> Result<SourceStatus, JobError> {
        if !self.mine || self.next >= self.steps.len() {
            return Ok(SourceStatus::Exhausted);
        }
        out.extend(self.steps[self.next].0.iter().cloned());
        self.next += 1;
        Ok(if self.next == self.steps.len() { SourceStatus::Exhausted } else { SourceStatus::More })
    }
    fn watermark(&self) -> Option<i64> {
        if !self.mine || self.next >= self.steps.len() {
            return Some(i64::MAX);
        }
        self.next.checked_sub(1).map(|i| self.steps[i].1)
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _: &[u8], _: weir::ValueFormat) -> Result<(), JobError> {
        Ok(())
    }
}

/// 3,000 records, value `i`, key `i % KEYS`, at about `7 i` ms but up to
/// 2.5 s early; 10 records a step, each followed by the watermark "300 ms
/// behind the latest record": many records are late, some beyond 500 ms.
pub(crate) fn script() -> Vec<(Vec<Event<u64>>, i64)> {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut max_ts = i64::MIN;
    let mut steps = Vec::new();
    let mut step = Vec::new();
    for i in 0..3_000u64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let early = if rng % 4 == 0 { (rng >> 8) % 2_500 } else { (rng >> 8) % 250 } as i64;
        let ts = (i as i64 * 7 - early).max(0);
        max_ts = max_ts.max(ts);
        step.push(Event::new(ts, i));
        if step.len() == 10 {
            steps.push((std::mem::take(&mut step), max_ts - 300));
        }
    }
    steps
}

/// The watermark each record of the script arrives under.
pub(crate) fn arrivals(steps: &[(Vec<Event<u64>>, i64)]) -> Vec<(Event<u64>, i64)> {
    let mut wm = i64::MIN;
    let mut out = Vec::new();
    for (records, after) in steps {
        out.extend(records.iter().map(|e| (e.clone(), wm)));
        wm = wm.max(*after);
    }
    out
}

pub(crate) const LATENESS: i64 = 500;

/// Sliding windows by brute force: for each (key, window start) the number
/// of records in it that arrived before the window expired (its end plus
/// the lateness behind the watermark): the last value the window emits.
/// And the records that expired for every window they are in.
fn sliding_reference(size: i64, slide: i64) -> (BTreeMap<(u64, i64), u64>, BTreeSet<u64>) {
    let mut counts = BTreeMap::new();
    let mut late = BTreeSet::new();
    for (e, wm) in arrivals(&script()) {
        let starts: Vec<i64> =
            (-(size / slide) - 1..=e.ts / slide + 1).map(|k| k * slide).filter(|s| *s <= e.ts && e.ts < s + size).collect();
        let live: Vec<i64> = starts.iter().copied().filter(|s| s + size - 1 + LATENESS > wm).collect();
        if live.is_empty() {
            late.insert(e.value);
        }
        for s in live {
            *counts.entry((e.value % KEYS, s)).or_insert(0) += 1;
        }
    }
    (counts, late)
}

pub(crate) fn config(name: &str, parallelism: u32, backend: BackendKind, root: &Path) -> JobConfig {
    let mut c = JobConfig::new(name).with_parallelism(parallelism).with_state_dir(&root.join(format!("state-{name}-{parallelism}")));
    c.backend = backend;
    c
}

/// Runs the script through `windows` with lateness; the last value each
/// (key, window start) emitted, and the late side output.
fn run_sliced(windows: SlidingWindows, parallelism: u32, backend: BackendKind) -> (BTreeMap<(u64, i64), u64>, BTreeSet<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let env = StreamEnvironment::new(config("windows", parallelism, backend, dir.path()));
    let steps = Arc::new(script());
    let late_tag = OutputTag::<u64>::new("late");
    let counts = env
        .source(move |sub| Ok(Box::new(Script { steps: steps.clone(), next: 0, mine: sub.subtask == 0 })))
        .set_parallelism(1)
        .key_by(|v: &u64| v % KEYS)
        .window(windows)
        .allowed_lateness(Duration::from_millis(LATENESS as u64))
        .side_output_late_data(&late_tag);
    let counts = counts.count();
    let late = counts.side_output(&late_tag).collect_to_vec();
    let out = counts.collect_to_vec();
    let result = env.execute().unwrap();
    let mut last = BTreeMap::new();
    for r in out.lock().unwrap().iter() {
        last.insert((r.key, r.window.start), r.value);
    }
    let late: BTreeSet<u64> = late.lock().unwrap().iter().copied().collect();
    assert_eq!(result.counter("late_records_dropped"), 0, "late records went to the side output, none were dropped");
    (last, late)
}

fn check_sliced(size: i64, slide: i64) {
    let (reference, late) = sliding_reference(size, slide);
    assert!(!late.is_empty() && late.len() < 1_000, "the script has records beyond the lateness: {}", late.len());
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        for p in [1, 2, 4] {
            let (got, got_late) = run_sliced(SlidingWindows::of_millis(size, slide), p, backend);
            assert_eq!(got, reference, "size {size} slide {slide}, {backend:?}, parallelism {p}");
            assert_eq!(got_late, late, "late records of size {size} slide {slide}, {backend:?}, parallelism {p}");
        }
    }
}

#[test]
fn tumbling_windows_with_lateness_match_the_reference() {
    check_sliced(1_000, 1_000);
}

#[test]
fn sliding_windows_with_lateness_match_the_reference() {
    check_sliced(1_000, 250);
    check_sliced(1_000, 300); // panes of gcd(1000, 300) = 100 ms
}

/// Sliding windows whose watermark moves in jumps of 100 ms to "all at
/// once": a window can fall due in the same watermark as the windows whose
/// records it shares. Each window with records fires once, with its count.
#[test]
fn sliding_windows_fire_each_window_once_whatever_the_watermark_jumps() {
    const SIZE: i64 = 1_000;
    const SLIDE: i64 = 250;
    let mut reference = BTreeMap::new();
    for i in 0..2_000u64 {
        let ts = i as i64 * 3;
        for s in (ts / SLIDE - SIZE / SLIDE + 1..=ts / SLIDE).map(|k| k * SLIDE) {
            *reference.entry((i % KEYS, s)).or_insert(0u64) += 1;
        }
    }
    for jump in [100, 700, 2_600, i64::MAX] {
        // 20 records a step; the watermark is the last record's time rounded
        // down to `jump` (never past a record to come).
        let steps: Vec<(Vec<Event<u64>>, i64)> = (0..100u64)
            .map(|step| {
                let records: Vec<Event<u64>> = (step * 20..step * 20 + 20).map(|i| Event::new(i as i64 * 3, i)).collect();
                let last = (step * 20 + 19) as i64 * 3;
                (records, if jump == i64::MAX { i64::MIN } else { last / jump * jump - 1 })
            })
            .collect();
        for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
            let dir = tempfile::tempdir().unwrap();
            let env = StreamEnvironment::new(config("jumps", 2, backend, dir.path()));
            let steps = Arc::new(steps.clone());
            let out = env
                .source(move |sub| Ok(Box::new(Script { steps: steps.clone(), next: 0, mine: sub.subtask == 0 })))
                .set_parallelism(1)
                .key_by(|v: &u64| v % KEYS)
                .window(SlidingWindows::of_millis(SIZE, SLIDE))
                .count()
                .collect_to_vec();
            env.execute().unwrap();
            let mut got = BTreeMap::new();
            for r in out.lock().unwrap().iter() {
                let previous = got.insert((r.key, r.window.start), r.value);
                assert_eq!(previous, None, "window {} of key {} fired twice, jump {jump}, {backend:?}", r.window.start, r.key);
            }
            assert_eq!(got, reference, "jump {jump}, {backend:?}");
        }
    }
}

/// Sessions by brute force: each key's records sorted by time, cut where
/// the next record is `gap` or more after the previous one.
fn sessions_reference(events: &[(i64, u64)], gap: i64) -> BTreeSet<(u64, i64, i64, u64)> {
    let mut by_key: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for (ts, v) in events {
        by_key.entry(v % KEYS).or_default().push(*ts);
    }
    let mut out = BTreeSet::new();
    for (k, mut ts) in by_key {
        ts.sort_unstable();
        let (mut start, mut last, mut n) = (ts[0], ts[0], 0);
        for t in ts {
            if t - last >= gap {
                out.insert((k, start, last + gap, n));
                start = t;
                n = 0;
            }
            last = t;
            n += 1;
        }
        out.insert((k, start, last + gap, n));
    }
    out
}

/// Session times: bursts of records 0-40 ms apart with pauses of up to a
/// second between them, shuffled within 250 ms (the watermark's bound).
fn session_events(n: u64) -> Vec<(i64, u64)> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut ts = 0i64;
    (0..n)
        .map(|i| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            ts += if rng % 50 == 0 { 300 + (rng >> 9) as i64 % 700 } else { (rng >> 9) as i64 % 40 };
            (ts, i)
        })
        .collect()
}

#[test]
fn session_windows_merge_out_of_order_records_like_the_reference() {
    const GAP: i64 = 200;
    let events = session_events(4_000);
    let reference = sessions_reference(&events, GAP);
    assert!(reference.len() > 100, "{} sessions", reference.len());
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        for p in [1, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let env = StreamEnvironment::new(config("sessions", p, backend, dir.path()));
            let shuffled: Vec<(i64, u64)> = {
                let mut v = events.clone();
                // Swap neighbours less than 250 ms apart: out of order, never late.
                for i in (1..v.len()).step_by(3) {
                    if v[i].0 - v[i - 1].0 < 250 {
                        v.swap(i - 1, i);
                    }
                }
                v
            };
            let out = env
                .generate(shuffled.len() as u64, None, 250, move |i| Event::new(shuffled[i as usize].0, shuffled[i as usize].1))
                .key_by(|v: &u64| v % KEYS)
                .window(SessionWindows::with_gap(Duration::from_millis(GAP as u64)))
                .count()
                .collect_to_vec();
            let result = env.execute().unwrap();
            let got: BTreeSet<(u64, i64, i64, u64)> =
                out.lock().unwrap().iter().map(|r| (r.key, r.window.start, r.window.end, r.value)).collect();
            assert_eq!(result.counter("late_records_dropped"), 0);
            assert_eq!(got, reference, "{backend:?}, parallelism {p}");
        }
    }
}

#[test]
fn a_late_record_reopens_a_fired_session_within_the_lateness() {
    // Key 0 only (values are multiples of KEYS). Gap 100, lateness 500.
    let steps = vec![
        (vec![Event::new(0, 0u64), Event::new(50, 5)], 400), // session [0, 150) fires: 2
        (vec![Event::new(120, 10)], 1_000),                  // late, within lateness: [0, 220) fires again: 3
        (vec![Event::new(2_000, 15)], 2_000),                // a new session, [2000, 2100), fires at the end
        (vec![Event::new(30, 20)], 5_000),                   // beyond the lateness of [0, 220): side output
    ];
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        let dir = tempfile::tempdir().unwrap();
        let env = StreamEnvironment::new(config("session-late", 2, backend, dir.path()));
        let steps = Arc::new(steps.clone());
        let tag = OutputTag::<u64>::new("late");
        let counts = env
            .source(move |sub| Ok(Box::new(Script { steps: steps.clone(), next: 0, mine: sub.subtask == 0 })))
            .set_parallelism(1)
            .key_by(|v: &u64| v % KEYS)
            .window(SessionWindows::with_gap_millis(100))
            .allowed_lateness(Duration::from_millis(500))
            .side_output_late_data(&tag)
            .count();
        let late = counts.side_output(&tag).collect_to_vec();
        let out = counts.collect_to_vec();
        env.execute().unwrap();
        let got: Vec<(i64, i64, u64)> = out.lock().unwrap().iter().map(|r| (r.window.start, r.window.end, r.value)).collect();
        assert_eq!(got, vec![(0, 150, 2), (0, 220, 3), (2_000, 2_100, 1)], "{backend:?}");
        assert_eq!(*late.lock().unwrap(), vec![20], "{backend:?}");
    }
}

/// Records of the process-window test: record `i` carries `i * 10_000 + v`
/// for its value `v`; its key is `i % KEYS`.
fn value_of(record: u64) -> u64 {
    record % 10_000
}

/// Max minus min of each window's values, from all of its elements.
#[derive(Clone)]
struct Spread;

impl ProcessWindowFunction<u64, u64, (u64, i64, u64)> for Spread {
    fn process(&mut self, ctx: &mut WindowContext<'_, u64>, records: Vec<u64>, out: &mut Vec<(u64, i64, u64)>) -> Result<(), UserError> {
        let values = records.into_iter().map(value_of);
        let (min, max) = values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if min > max {
            return Err("an empty window".into());
        }
        out.push((*ctx.key(), ctx.window().start, max - min));
        Ok(())
    }
}

/// Sum of values per window (an aggregate).
#[derive(Clone)]
struct Sum;

impl weir::AggregateFunction<u64> for Sum {
    type Acc = u64;
    type Out = u64;
    fn create(&self) -> u64 {
        0
    }
    fn add(&self, acc: &mut u64, record: u64) {
        *acc += value_of(record);
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn result(&self, acc: u64) -> u64 {
        acc
    }
}

/// Labels a window's sum with its key and start.
#[derive(Clone)]
struct Label;

impl ProcessWindowFunction<u64, u64, (u64, i64, u64)> for Label {
    fn process(&mut self, ctx: &mut WindowContext<'_, u64>, sums: Vec<u64>, out: &mut Vec<(u64, i64, u64)>) -> Result<(), UserError> {
        out.push((*ctx.key(), ctx.window().start, sums.into_iter().next().ok_or("no aggregate")?));
        Ok(())
    }
}

#[test]
fn process_window_functions_see_every_element_or_the_aggregate() {
    const N: u64 = 20_000;
    let (size, slide) = (1_000i64, 500i64);
    let record = |i: u64| i * 10_000 + i.wrapping_mul(2_654_435_761) % 10_000;
    let mut spread: BTreeMap<(u64, i64), (u64, u64)> = BTreeMap::new();
    let mut sums: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for i in 0..N {
        let ts = (i as i64) / 3;
        let v = value_of(record(i));
        for s in (-2..=ts / slide + 1).map(|k| k * slide).filter(|s| *s <= ts && ts < s + size) {
            let e = spread.entry((i % KEYS, s)).or_insert((u64::MAX, 0));
            *e = (e.0.min(v), e.1.max(v));
            *sums.entry((i % KEYS, s)).or_insert(0) += v;
        }
    }
    let spread: BTreeSet<(u64, i64, u64)> = spread.into_iter().map(|((k, s), (lo, hi))| (k, s, hi - lo)).collect();
    let sums: BTreeSet<(u64, i64, u64)> = sums.into_iter().map(|((k, s), v)| (k, s, v)).collect();
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        for p in [1, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let env = StreamEnvironment::new(config("process-window", p, backend, dir.path()));
            let input = || env.generate(N, None, 0, move |i| Event::new(i as i64 / 3, record(i))).key_by(|r: &u64| (r / 10_000) % KEYS);
            let all = input().window(SlidingWindows::of_millis(size, slide)).process(Spread).collect_to_vec();
            let agg = input().window(SlidingWindows::of_millis(size, slide)).aggregate_process(Sum, Label).collect_to_vec();
            env.execute().unwrap();
            let all: BTreeSet<_> = all.lock().unwrap().iter().copied().collect();
            let agg: BTreeSet<_> = agg.lock().unwrap().iter().copied().collect();
            assert_eq!(all, spread, "all elements, {backend:?}, parallelism {p}");
            assert_eq!(agg, sums, "aggregate, {backend:?}, parallelism {p}");
        }
    }
}

/// Session windows of a generated stream, open when the first run stops
/// (its final checkpoint holds them), closed by the second run at another
/// parallelism: the committed output is every session exactly once.
fn sessions_across_a_restart(backend: BackendKind, from: u32, to: u32) {
    const N: u64 = 60_000;
    const GAP: i64 = 200;
    let events = Arc::new(session_events(N));
    let reference: Vec<String> = {
        let mut v: Vec<String> = sessions_reference(&events, GAP).into_iter().map(|(k, s, e, n)| format!("{k},{s},{e},{n}")).collect();
        v.sort();
        v
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let run = |p: u32, rate: Option<f64>, stop_after: Option<Duration>| {
        let mut c = config("sessions-restart", p, backend, dir.path()).with_checkpoints(chk.to_str().unwrap(), Duration::from_millis(200));
        c.restore = Some(RestoreFrom::Latest);
        if let Some(after) = stop_after {
            c.on_start = Some(OnStart(Arc::new(move |control: JobControl| {
                std::thread::spawn(move || {
                    std::thread::sleep(after);
                    control.stop();
                });
            })));
        }
        let env = StreamEnvironment::new(c);
        let events = events.clone();
        env.generate(N, rate, 0, move |i| Event::new(events[i as usize].0, events[i as usize].1))
            .uid("source")
            .key_by(|v: &u64| v % KEYS)
            .window(SessionWindows::with_gap_millis(GAP))
            .count()
            .uid("sessions")
            .map(|r| format!("{},{},{},{}", r.key, r.window.start, r.window.end, r.value))
            .write_to_files(&out)
            .uid("output");
        env.execute().unwrap()
    };
    let first = run(from, Some(30_000.0), Some(Duration::from_millis(1_000)));
    assert!(first.counter("events") < N, "the first run stopped partway");
    run(to, None, None);
    assert_eq!(committed_lines(&out), reference, "{backend:?}, parallelism {from} -> {to}");
}

#[test]
fn sessions_open_at_a_stop_close_after_a_rescaled_restore() {
    sessions_across_a_restart(BackendKind::HashMap, 2, 3);
    sessions_across_a_restart(BackendKind::RocksDb, 3, 2);
}

#[test]
fn a_uid_after_a_stateless_operator_is_refused() {
    let env = StreamEnvironment::new(JobConfig::new("uid"));
    env.from_collection(vec![(0, 1u64)]).map(|v| v + 1).uid("plus-one").discard();
    let err = env.execute().expect_err("a uid on map is refused").to_string();
    assert!(err.contains("uid('plus-one')") && err.contains("keeps no state"), "{err}");
}

#[test]
fn count_windows_fire_every_n_records_of_a_key() {
    const N: u64 = 10_000;
    // Per key, in order: sums of each run of 7 values; the last partial run never fires.
    let mut per_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for i in 0..N {
        per_key.entry(i % KEYS).or_default().push(i);
    }
    let mut purged: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut running: BTreeSet<(u64, u64)> = BTreeSet::new();
    for (k, values) in &per_key {
        for chunk in values.chunks_exact(7) {
            purged.insert((*k, chunk.iter().sum()));
        }
        for (n, _) in values.iter().enumerate().filter(|(n, _)| (n + 1) % 3 == 0) {
            running.insert((*k, values[..=n].iter().sum()));
        }
    }
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        for p in [1, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let env = StreamEnvironment::new(config("count-windows", p, backend, dir.path()));
            // One source instance: each key's records reach its window in order.
            let input = || env.generate(N, None, 0, |i| Event::new(i as i64, i)).set_parallelism(1).key_by(|v: &u64| v % KEYS);
            let sums = input().count_window(7).reduce(|a, b| a + b).collect_to_vec();
            let every_third =
                weir::GlobalWindows::with_trigger(
                    |c: &weir::TriggerContext| {
                        if c.count % 3 == 0 {
                            weir::TriggerResult::Fire
                        } else {
                            weir::TriggerResult::Continue
                        }
                    },
                );
            let running_sums = input().window(every_third).reduce(|a, b| a + b).collect_to_vec();
            env.execute().unwrap();
            let got: BTreeSet<(u64, u64)> = sums.lock().unwrap().iter().map(|r| (r.key, r.value)).collect();
            assert_eq!(got, purged, "count windows, {backend:?}, parallelism {p}");
            let got: BTreeSet<(u64, u64)> = running_sums.lock().unwrap().iter().map(|r| (r.key, r.value)).collect();
            assert_eq!(got, running, "a trigger that fires without purging, {backend:?}, parallelism {p}");
        }
    }
}
