//! Broadcast state (against a reference, at parallelism 1, 2 and 4 with
//! each backend, and restored at another parallelism; beside a keyed input
//! and beside one that is not keyed), rebalance with a
//! process function that is not keyed, and timestamps and watermarks
//! assigned mid-stream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use weir::crates::runtime::{JobControl, OnStart};
use weir::crates::state::BackendKind;
use weir::{
    BroadcastContext, BroadcastProcessFunction, Context, Event, JobConfig, KeyedBroadcastProcessFunction, MapState, OpenContext, OutputTag,
    ProcessContext, ProcessFunction, RestoreFrom, StreamEnvironment, TumblingWindows, UserError,
};

use crate::common::committed_lines;

const CLASSES: u64 = 5;
const KEYS: u64 = 37;
const RULES: u64 = 50;

/// Rule `r`: from `100 r` ms on, class `r % CLASSES` alerts above `(r * 37) % 1000`.
fn rule(r: u64) -> (i64, (u64, u64)) {
    (100 * r as i64, (r % CLASSES, (r * 37) % 1_000))
}

/// Reading `i` at `i` ms: key `i % KEYS`, value `(i * 7919) % 1000`.
fn reading(i: u64) -> (i64, (u64, u64)) {
    (i as i64, (i % KEYS, (i * 7_919) % 1_000))
}

/// The thresholds in force: (class, from) -> threshold.
type Rules = BTreeMap<(u64, i64), u64>;

/// Alerts on readings above their class's threshold in force at the
/// reading's time. Readings wait in state for the watermark to pass them,
/// so that every rule up to their time has arrived.
#[derive(Clone, Default)]
struct Alerts(Option<MapState<i64, Vec<u64>>>);

impl KeyedBroadcastProcessFunction<u64, (u64, u64), (u64, u64), Rules, String> for Alerts {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.0 = Some(MapState::register(ctx.backend(), "waiting")?);
        Ok(())
    }
    fn process(&mut self, (_, v): (u64, u64), _: &Rules, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let waiting = self.0.as_ref().ok_or("not open")?;
        let ts = ctx.timestamp();
        let mut values = waiting.get(&mut ctx.state(), &ts)?.unwrap_or_default();
        values.push(v);
        waiting.put(&mut ctx.state(), ts, values)?;
        ctx.register_timer(ts)?;
        Ok(())
    }
    fn process_broadcast(
        &mut self,
        (class, limit): (u64, u64),
        rules: &mut Rules,
        ctx: &mut BroadcastContext<'_, String>,
    ) -> Result<(), UserError> {
        rules.insert((class, ctx.timestamp()), limit);
        Ok(())
    }
    fn on_timer(&mut self, ts: i64, rules: &Rules, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let waiting = self.0.as_ref().ok_or("not open")?;
        let key = *ctx.key();
        let class = key % CLASSES;
        let limit = rules.range((class, i64::MIN)..=(class, ts)).next_back().map(|(_, l)| *l);
        for v in waiting.remove(&mut ctx.state(), &ts)?.unwrap_or_default() {
            if limit.is_some_and(|l| v > l) {
                ctx.emit(format!("{key},{ts},{v}"));
            }
        }
        Ok(())
    }
}

fn reference(n: u64) -> Vec<String> {
    let rules: Vec<(i64, (u64, u64))> = (0..RULES).map(rule).collect();
    let mut out: Vec<String> = (0..n)
        .filter_map(|i| {
            let (ts, (key, v)) = reading(i);
            let limit = rules.iter().rfind(|(t, (c, _))| *c == key % CLASSES && *t <= ts).map(|(_, (_, l))| *l)?;
            (v > limit).then(|| format!("{key},{ts},{v}"))
        })
        .collect();
    out.sort();
    out
}

fn config(name: &str, p: u32, backend: BackendKind, root: &Path) -> JobConfig {
    let mut c = JobConfig::new(name).with_parallelism(p).with_state_dir(&root.join(format!("state-{name}-{p}")));
    c.backend = backend;
    c
}

fn alerts_job(env: &StreamEnvironment, n: u64, rate: Option<f64>) -> weir::DataStream<String> {
    let rules = env.generate(RULES, None, 0, |r| {
        let (ts, v) = rule(r);
        Event::new(ts, v)
    });
    let readings = env.generate(n, rate, 0, |i| {
        let (ts, v) = reading(i);
        Event::new(ts, v)
    });
    readings
        .uid("readings")
        .connect_broadcast(rules.set_parallelism(1).uid("rules").broadcast())
        .key_by(|r: &(u64, u64)| r.0)
        .process(Alerts::default())
        .uid("alerts")
}

#[test]
fn broadcast_state_matches_the_reference_at_every_parallelism() {
    const N: u64 = 20_000;
    let reference = reference(N);
    assert!(reference.len() > 1_000, "{} alerts", reference.len());
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        for p in [1, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let env = StreamEnvironment::new(config("broadcast", p, backend, dir.path()));
            let out = alerts_job(&env, N, None).collect_to_vec();
            env.execute().unwrap();
            let mut got = out.lock().unwrap().clone();
            got.sort();
            assert_eq!(got, reference, "{backend:?}, parallelism {p}");
        }
    }
}

/// The rules all come in the first run; the second, at another
/// parallelism, has only its restored broadcast state to go by.
fn broadcast_across_a_rescale(backend: BackendKind, from: u32, to: u32) {
    const N: u64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let run = |p: u32, rate: Option<f64>, stop_after: Option<Duration>| {
        let mut c = config("broadcast-rescale", p, backend, dir.path()).with_checkpoints(chk.to_str().unwrap(), Duration::from_millis(200));
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
        alerts_job(&env, N, rate).write_to_files(&out).uid("output");
        env.execute().unwrap()
    };
    let first = run(from, Some(30_000.0), Some(Duration::from_millis(1_000)));
    assert!(first.counter("events") < N + RULES, "the first run stopped partway");
    run(to, None, None);
    assert_eq!(committed_lines(&out), reference(N), "{backend:?}, parallelism {from} -> {to}");
}

#[test]
fn broadcast_state_is_restored_at_another_parallelism() {
    broadcast_across_a_rescale(BackendKind::HashMap, 2, 3);
    broadcast_across_a_rescale(BackendKind::RocksDb, 3, 1);
}

/// Splits numbers into digits, sending zeros aside.
#[derive(Clone)]
struct Digits(OutputTag<u64>);

impl ProcessFunction<u64, u64> for Digits {
    fn process(&mut self, v: u64, ctx: &mut Context<'_, u64>) -> Result<(), UserError> {
        for d in v.to_string().bytes().map(|b| u64::from(b - b'0')) {
            if d == 0 {
                ctx.output(&self.0, v);
            } else {
                ctx.emit(d);
            }
        }
        Ok(())
    }
}

#[test]
fn rebalance_spreads_a_single_source_and_a_process_function_splits_records() {
    let env = StreamEnvironment::new(JobConfig::new("rebalance").with_parallelism(3));
    let zeros = OutputTag::<u64>::new("zeros");
    let digits = env.generate(10_000, None, 0, |i| Event::new(i as i64, i)).set_parallelism(1).rebalance().process(Digits(zeros.clone()));
    let zero_out = digits.side_output(&zeros).collect_to_vec();
    let per_instance = digits.map(|d| d).collect_to_vec();
    let result = env.execute().unwrap();
    let mut got = per_instance.lock().unwrap().clone();
    got.sort_unstable();
    let mut want: Vec<u64> =
        (0..10_000u64).flat_map(|v| v.to_string().bytes().map(|b| u64::from(b - b'0')).collect::<Vec<_>>()).filter(|d| *d != 0).collect();
    want.sort_unstable();
    assert_eq!(got, want);
    let zero_count = (0..10_000u64).map(|v| v.to_string().bytes().filter(|b| *b == b'0').count()).sum::<usize>();
    assert_eq!(zero_out.lock().unwrap().len(), zero_count);
    assert_eq!(result.counter("events"), 10_000);
}

#[test]
fn timestamps_assigned_mid_stream_drive_windows() {
    // Records carry their time in the value; the source's own times are all 0.
    // Shuffled within 40 ms; the assigner allows 50.
    let times: Vec<i64> = (0..5_000i64).map(|i| i * 3 + if i % 4 == 1 { -40 } else { 0 }).collect();
    let mut reference: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for (i, t) in times.iter().enumerate() {
        *reference.entry((i as u64 % 3, t.div_euclid(100) * 100)).or_insert(0) += 1;
    }
    for p in [1, 2] {
        let env = StreamEnvironment::new(JobConfig::new("assign").with_parallelism(p));
        let times = times.clone();
        let out = env
            .generate(5_000, None, 0, move |i| Event::new(0, (i, times[i as usize])))
            .assign_timestamps_and_watermarks(|r: &(u64, i64)| r.1, Duration::from_millis(50))
            .key_by(|r: &(u64, i64)| r.0 % 3)
            .window(TumblingWindows::of_millis(100))
            .count()
            .collect_to_vec();
        let result = env.execute().unwrap();
        let got: BTreeMap<(u64, i64), u64> = out.lock().unwrap().iter().map(|r| ((r.key, r.window.start), r.value)).collect();
        assert_eq!(result.counter("late_records_dropped"), 0);
        assert_eq!(got, reference, "parallelism {p}");
    }
}

/// A block list broadcast beside an input that is not keyed: readings
/// whose value is blocked are dropped, the others tagged with the size of
/// the list; every instance reports each rule it receives.
#[derive(Clone)]
struct BlockList;

impl BroadcastProcessFunction<u64, u64, BTreeSet<u64>, String> for BlockList {
    fn process(&mut self, v: u64, blocked: &BTreeSet<u64>, ctx: &mut Context<'_, String>) -> Result<(), UserError> {
        if !blocked.contains(&v) {
            ctx.emit(format!("{v},{}", blocked.len()));
        }
        Ok(())
    }
    fn process_broadcast(&mut self, v: u64, blocked: &mut BTreeSet<u64>, ctx: &mut BroadcastContext<'_, String>) -> Result<(), UserError> {
        blocked.insert(v);
        ctx.emit(format!("rule {v}"));
        Ok(())
    }
}

fn block_list_job(env: &StreamEnvironment, rules: u64, readings: u64) -> weir::DataStream<String> {
    let blocked = env.generate(rules, None, 0, |r| Event::new(0, r * 3));
    env.generate(readings, None, 0, |i| Event::new(i as i64, i % 100))
        .uid("readings")
        .connect_broadcast(blocked.set_parallelism(1).uid("rules").broadcast())
        .process(BlockList)
        .uid("block-list")
}

#[test]
fn broadcast_beside_an_input_that_is_not_keyed_reaches_every_instance() {
    for p in [1, 2, 4] {
        let env = StreamEnvironment::new(JobConfig::new("block-list").with_parallelism(p));
        let out = block_list_job(&env, 10, 1_000).collect_to_vec();
        env.execute().unwrap();
        let out = out.lock().unwrap().clone();
        let rules = out.iter().filter(|l| l.starts_with("rule ")).count();
        assert_eq!(rules, 10 * p as usize, "every instance gets every rule, at parallelism {p}");
        let readings = out.iter().filter(|l| !l.starts_with("rule ")).count();
        // Each reading once, unless a rule blocking it came first.
        assert!((1_000 - 10 * 10..=1_000).contains(&readings), "{readings} readings at parallelism {p}");
    }
}

#[test]
fn broadcast_state_beside_an_input_that_is_not_keyed_is_restored_at_another_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let run = |p: u32, rules: u64, readings: u64| {
        let c = JobConfig::new("block-list-rescale")
            .with_parallelism(p)
            .with_state_dir(&dir.path().join(format!("state-{p}")))
            .with_checkpoints(chk.to_str().unwrap(), Duration::from_millis(100))
            .with_restore(RestoreFrom::Latest);
        let env = StreamEnvironment::new(c);
        let out = block_list_job(&env, rules, readings).collect_to_vec();
        env.execute().unwrap();
        let out = out.lock().unwrap().clone();
        out
    };
    // The rules all come in the first run, at parallelism 2; the second, at
    // 3, has only its restored broadcast state to go by.
    assert_eq!(run(2, 20, 0).len(), 40, "both instances got the 20 rules");
    let mut got = run(3, 20, 900);
    got.sort();
    let mut expected: Vec<String> =
        (0..900u64).map(|i| i % 100).filter(|v| !(v % 3 == 0 && v / 3 < 20)).map(|v| format!("{v},20")).collect();
    expected.sort();
    assert_eq!(got, expected);
}
