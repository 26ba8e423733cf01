//! The DataStream API in this process: keyed process functions with every
//! kind of state and timers, restore into a changed job, and checkpoints that
//! fail without failing the job.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weir::{
    Error, JobConfig, JobError, KeyedProcessFunction, ListState, MapState, OpenContext, ProcessContext, ReducingState, RestoreFrom,
    StreamEnvironment, TumblingWindows, UserError, ValueState,
};

use crate::common::{complete_checkpoints, files_under};

/// Per key: a running count (value), the values seen (list), counts by parity
/// (map), the maximum (reducing); a timer 100 ms after each record reports the
/// key's state.
type MaxState = ReducingState<u64, fn(u64, u64) -> u64>;

/// The state handles, declared in `open`.
#[derive(Clone)]
struct TrackerState {
    count: ValueState<u64>,
    seen: ListState<u64>,
    parity: MapState<bool, u64>,
    max: MaxState,
}

#[derive(Clone, Default)]
struct Tracker {
    state: Option<TrackerState>,
}

fn max(a: u64, b: u64) -> u64 {
    a.max(b)
}

impl Tracker {
    fn handles(&self) -> Result<TrackerState, UserError> {
        self.state.clone().ok_or_else(|| "process called before open".into())
    }
}

impl KeyedProcessFunction<u64, u64, String> for Tracker {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.state = Some(TrackerState {
            count: ValueState::register(ctx.backend(), "count")?,
            seen: ListState::register(ctx.backend(), "seen")?,
            parity: MapState::register(ctx.backend(), "parity")?,
            max: ReducingState::register(ctx.backend(), "max", max as fn(u64, u64) -> u64)?,
        });
        Ok(())
    }

    fn process(&mut self, value: u64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let h = self.handles()?;
        let mut st = ctx.state();
        h.count.update(&mut st, || 0, |c| *c += 1)?;
        h.seen.add(&mut st, value)?;
        let even = value % 2 == 0;
        let n = h.parity.get(&mut st, &even)?.unwrap_or(0);
        h.parity.put(&mut st, even, n + 1)?;
        h.max.add(&mut st, value)?;
        let at = ctx.timestamp() + 100;
        ctx.register_timer(at)?;
        Ok(())
    }

    fn on_timer(&mut self, timestamp: i64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let h = self.handles()?;
        let key = *ctx.key();
        let mut st = ctx.state();
        let c = h.count.get(&mut st)?.unwrap_or(0);
        let s = h.seen.get(&mut st)?.len();
        let even = h.parity.get(&mut st, &true)?.unwrap_or(0);
        let m = h.max.get(&mut st)?.unwrap_or(0);
        ctx.emit(format!("t={timestamp} key={key} count={c} seen={s} even={even} max={m}"));
        Ok(())
    }
}

/// Records `(ts, value)`, keyed by `value % 3`.
fn run_tracker(config: JobConfig, items: Vec<(i64, u64)>, source_uid: &str) -> Result<Vec<String>, Error> {
    let env = StreamEnvironment::new(config);
    let out =
        env.from_collection(items).uid(source_uid).key_by(|v: &u64| v % 3).process(Tracker::default()).uid("tracker").collect_to_vec();
    env.execute()?;
    let mut v = out.lock().unwrap().clone();
    v.sort();
    Ok(v)
}

fn config(chk: &std::path::Path) -> JobConfig {
    JobConfig::new("api-test")
        .with_parallelism(2)
        .with_checkpoints(chk.to_str().unwrap(), Duration::from_secs(10))
        .with_state_dir(&chk.parent().unwrap().join("state"))
}

#[test]
fn process_function_state_and_timers_survive_a_restore_into_a_changed_job() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    // Keys 0, 1, 2 get values 0..9 at times 0, 10, ... 90; timers fire at the end of input.
    let first = run_tracker(config(&chk), (0..9).map(|v| (v as i64 * 10, v)).collect(), "numbers").unwrap();
    assert_eq!(first.len(), 9, "one timer per record: {first:?}");
    assert!(first.contains(&"t=180 key=2 count=3 seen=3 even=2 max=8".to_string()), "{first:?}");
    let latest = *complete_checkpoints(&chk).last().unwrap();

    // A second job with another source: without --allow-non-restored-state the old source's state is refused.
    let mut c = config(&dir.path().join("chk2"));
    c.restore = Some(RestoreFrom::Path(chk.join(format!("chk-{latest}")).to_str().unwrap().to_string()));
    let err = run_tracker(c.clone(), vec![(1000, 5)], "more-numbers").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("numbers") && msg.contains("--allow-non-restored-state"), "{msg}");

    c.allow_non_restored_state = true;
    let second = run_tracker(c, vec![(1000, 5), (1000, 11)], "more-numbers").unwrap();
    // Key 2 had 2, 5, 8; now 5 and 11 arrive: count 5, max 11, even values 2 and 8.
    // Both records set a timer for the same key and time: it fires once.
    assert_eq!(second, vec!["t=1100 key=2 count=5 seen=5 even=2 max=11".to_string()]);
}

#[test]
fn changed_max_parallelism_and_state_type_are_refused_with_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    run_tracker(config(&chk), vec![(0, 1), (5, 2)], "numbers").unwrap();
    let latest = *complete_checkpoints(&chk).last().unwrap();
    let path = chk.join(format!("chk-{latest}")).to_str().unwrap().to_string();

    let mut c = config(&dir.path().join("chk2"));
    c.restore = Some(RestoreFrom::Path(path.clone()));
    c.max_parallelism = 64;
    let msg = run_tracker(c, vec![], "numbers").unwrap_err().to_string();
    assert!(msg.contains("max parallelism 128") && msg.contains("has 64"), "{msg}");

    // The same operator id, but its "count" state is now a string.
    #[derive(Clone)]
    struct Renamed;
    impl KeyedProcessFunction<u64, u64, String> for Renamed {
        fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
            ValueState::<String>::register(ctx.backend(), "count")?;
            Ok(())
        }
        fn process(&mut self, _: u64, _: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
            Ok(())
        }
    }
    let mut c = config(&dir.path().join("chk3"));
    c.restore = Some(RestoreFrom::Path(path));
    let env = StreamEnvironment::new(c);
    env.from_collection(Vec::<(i64, u64)>::new()).uid("numbers").key_by(|v: &u64| *v).process(Renamed).uid("tracker").discard();
    let msg = env.execute().unwrap_err().to_string();
    assert!(msg.contains("tracker") && msg.contains("'count'") && msg.contains("String"), "{msg}");
}

/// Sleeps while handling its first records, so the first checkpoints time out.
#[derive(Clone)]
struct SlowStart(Arc<AtomicUsize>);

impl KeyedProcessFunction<u64, u64, u64> for SlowStart {
    fn process(&mut self, value: u64, ctx: &mut ProcessContext<'_, u64, u64>) -> Result<(), UserError> {
        if self.0.fetch_add(1, Ordering::Relaxed) < 40 {
            std::thread::sleep(Duration::from_millis(15));
        }
        ctx.emit(value);
        Ok(())
    }
}

#[test]
fn timed_out_checkpoints_are_aborted_and_cleaned_up_without_failing_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let mut c = config(&chk);
    if let Some(cp) = c.checkpoint.as_mut() {
        cp.interval = Duration::from_millis(10);
        cp.timeout = Duration::from_millis(30);
    }
    let env = StreamEnvironment::new(c);
    let out = env
        .generate(20_000, Some(40_000.0), 0, |i| weir::Event::new(i as i64, i))
        .key_by(|v: &u64| *v)
        .process(SlowStart(Arc::new(AtomicUsize::new(0))))
        .key_by(|v: &u64| *v)
        .window(TumblingWindows::of_millis(1_000_000))
        .count()
        .collect_to_vec();
    let result = env.execute().unwrap();
    assert!(result.checkpoints.aborted > 0, "some checkpoints timed out: {:?}", result.checkpoints);
    assert!(result.checkpoints.completed > 0, "later checkpoints completed: {:?}", result.checkpoints);
    assert_eq!(out.lock().unwrap().len(), 20_000, "every key counted once");
    let dirs: Vec<String> = std::fs::read_dir(&chk).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(dirs.len() <= 2, "aborted checkpoints leave nothing behind: {dirs:?} holding {:?}", files_under(&chk));
    assert_eq!(complete_checkpoints(&chk).len(), dirs.len());
}

#[test]
fn union_filter_map_and_reduce_windows() {
    let env = StreamEnvironment::new(JobConfig::new("union").with_parallelism(3));
    let a = env.from_collection((0..100i64).map(|i| (i * 10, i)).collect());
    let b = env.from_collection((0..100i64).map(|i| (i * 10, -i)).collect());
    let out = a
        .union(b)
        .filter(|v: &i64| *v % 2 == 0)
        .map(|v: i64| (v.rem_euclid(4), v))
        .key_by(|p: &(i64, i64)| p.0 as u64)
        .window(TumblingWindows::of_millis(500))
        .reduce(|x: (i64, i64), y: (i64, i64)| (x.0, x.1 + y.1))
        .map(|r| (r.window.start, r.key, r.value.1))
        .collect_to_vec();
    env.execute().unwrap();
    let mut got = out.lock().unwrap().clone();
    got.sort();
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..100i64 {
        for v in [i, -i] {
            if v % 2 == 0 {
                *expected.entry(((i * 10) / 500 * 500, v.rem_euclid(4) as u64)).or_insert(0) += v;
            }
        }
    }
    let expected: Vec<(i64, u64, i64)> = expected.into_iter().map(|((w, k), s)| (w, k, s)).collect();
    assert_eq!(got, expected);
}

#[test]
fn an_operator_error_fails_the_job_with_its_message() {
    #[derive(Clone)]
    struct Fails;
    impl KeyedProcessFunction<u64, u64, u64> for Fails {
        fn process(&mut self, value: u64, _: &mut ProcessContext<'_, u64, u64>) -> Result<(), UserError> {
            if value == 7 {
                return Err("seven is not allowed".into());
            }
            Ok(())
        }
    }
    let env = StreamEnvironment::new(JobConfig::new("fails").with_parallelism(2));
    env.from_collection((0..100u64).map(|i| (i as i64, i)).collect()).key_by(|v: &u64| *v).process(Fails).discard();
    match env.execute() {
        Err(Error::Job(JobError::Operator { operator, message })) => {
            assert!(operator.starts_with("process-"), "{operator}");
            assert_eq!(message, "seven is not allowed");
        }
        other => panic!("expected the operator's error, got {other:?}"),
    }
}

/// Passes every record on.
#[derive(Clone)]
struct PassThrough;

impl KeyedProcessFunction<u64, u64, u64> for PassThrough {
    fn process(&mut self, value: u64, ctx: &mut ProcessContext<'_, u64, u64>) -> Result<(), UserError> {
        ctx.emit(value);
        Ok(())
    }
}

/// Takes a millisecond per batch and records how far the source ran ahead of it.
struct SlowSink {
    generated: Arc<AtomicU64>,
    consumed: Arc<AtomicU64>,
    max_ahead: Arc<AtomicU64>,
}

impl weir::crates::runtime::Sink<u64> for SlowSink {
    fn write(&mut self, batch: &mut Vec<weir::Event<u64>>) -> Result<(), JobError> {
        std::thread::sleep(Duration::from_millis(1));
        let consumed = self.consumed.fetch_add(batch.len() as u64, Ordering::SeqCst) + batch.len() as u64;
        let ahead = self.generated.load(Ordering::SeqCst).saturating_sub(consumed);
        self.max_ahead.fetch_max(ahead, Ordering::SeqCst);
        batch.clear();
        Ok(())
    }
}

#[test]
fn a_slow_sink_slows_the_sources_and_memory_stays_bounded() {
    const N: u64 = 3_000_000;
    let generated = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let max_ahead = Arc::new(AtomicU64::new(0));
    let env = StreamEnvironment::new(JobConfig::new("backpressure").with_parallelism(2));
    let g = generated.clone();
    let (c, m, g2) = (consumed.clone(), max_ahead.clone(), generated.clone());
    env.generate(N, None, 0, move |i| {
        g.fetch_add(1, Ordering::SeqCst);
        weir::Event::new(i as i64, i)
    })
    .key_by(|v: &u64| v % 1000)
    .process(PassThrough)
    .sink("slow-sink", move |_, _| {
        Ok(Box::new(weir::crates::runtime::SinkOperator(SlowSink { generated: g2.clone(), consumed: c.clone(), max_ahead: m.clone() })))
    });
    env.execute().unwrap();
    assert_eq!(consumed.load(Ordering::SeqCst), N);
    // Two sources, each with two bounded channels of CHANNEL_CAPACITY batches
    // and a batch or two in flight per task: far below N.
    let bound = 2 * (2 * weir::crates::runtime::CHANNEL_CAPACITY as u64 + 4) * weir::crates::runtime::SOURCE_BATCH as u64;
    let ahead = max_ahead.load(Ordering::SeqCst);
    assert!(ahead <= bound, "the sources ran {ahead} records ahead of the sink (bound {bound})");
}

#[test]
fn records_and_checkpoints_are_reported_as_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only test that installs a recorder");

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir.path().join("chk"));
    if let Some(cp) = c.checkpoint.as_mut() {
        cp.interval = Duration::from_millis(20);
    }
    let env = StreamEnvironment::new(c);
    env.generate(30_000, Some(60_000.0), 0, |i| weir::Event::new(i as i64, i % 10))
        .uid("metrics-source")
        .key_by(|k: &u64| *k)
        .window(TumblingWindows::of_millis(1000))
        .count()
        .uid("metrics-window")
        .discard()
        .uid("metrics-sink");
    let result = env.execute().unwrap();

    let mut counters = std::collections::BTreeMap::new();
    let mut histograms = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        match value {
            DebugValue::Counter(n) => {
                counters.insert(name, n);
            }
            DebugValue::Histogram(v) => {
                histograms.insert(name, v.len());
            }
            DebugValue::Gauge(_) => {}
        }
    }
    assert_eq!(counters.get("weir_records_out_total{operator=metrics-source}"), Some(&30_000), "{counters:?}");
    assert_eq!(counters.get("weir_records_in_total{operator=metrics-window}"), Some(&30_000), "{counters:?}");
    // 30 windows of 10 keys.
    assert_eq!(counters.get("weir_records_out_total{operator=metrics-window}"), Some(&300), "{counters:?}");
    assert_eq!(counters.get("weir_records_in_total{operator=metrics-sink}"), Some(&300), "{counters:?}");
    let completed = result.checkpoints.completed as usize;
    assert!(completed >= 2);
    for h in ["weir_checkpoint_duration_seconds{}", "weir_checkpoint_sync_seconds{}", "weir_checkpoint_bytes_written{}"] {
        assert!(histograms.get(h).copied().unwrap_or(0) >= completed, "{h}: {histograms:?}");
    }
}
