//! Processing time: timers of keyed process functions that fire on the
//! wall clock while no input arrives, are checkpointed, and fire after a
//! restore once due (at once if they came due while the job was down); and
//! tumbling and session windows in processing time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weir::crates::runtime::{JobControl, OnStart};
use weir::crates::state::BackendKind;
use weir::{
    Event, JobConfig, JobError, KeyedProcessFunction, OpenContext, ProcessContext, RestoreFrom, SessionWindows, Source, SourceStatus,
    StreamEnvironment, TumblingWindows, UserError, ValueState,
};

const KEYS: u64 = 8;

/// Emits `records` (unless restored: then nothing), then has nothing to
/// read until `idle_for` has passed since it started, then ends.
struct Quiet {
    records: Vec<Event<u64>>,
    started: Instant,
    idle_for: Duration,
    mine: bool,
}

impl Source<u64> for Quiet {
    fn poll(&mut self, out: &mut Vec<Event<u64>>, _max: usize) -> Result<SourceStatus, JobError> {
        if !self.mine {
            return Ok(SourceStatus::Exhausted);
        }
        if !self.records.is_empty() {
            out.append(&mut self.records);
            return Ok(SourceStatus::More);
        }
        Ok(if self.started.elapsed() >= self.idle_for { SourceStatus::Exhausted } else { SourceStatus::Idle })
    }
    fn watermark(&self) -> Option<i64> {
        None
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(vec![1])
    }
    fn restore(&mut self, _: &[u8], _: weir::ValueFormat) -> Result<(), JobError> {
        self.records.clear();
        Ok(())
    }
    fn restore_rescaled(&mut self, _: u32, _: &[(u32, Vec<u8>)], _: weir::ValueFormat) -> Result<(), JobError> {
        self.records.clear();
        Ok(())
    }
}

/// Counts each key's records and reports the count `delay` after its first one, on the wall clock.
#[derive(Clone)]
struct ReportLater {
    delay: i64,
    count: Option<ValueState<u64>>,
}

impl KeyedProcessFunction<u64, u64, (u64, u64, i64)> for ReportLater {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.count = Some(ValueState::register(ctx.backend(), "count")?);
        Ok(())
    }
    fn process(&mut self, _: u64, ctx: &mut ProcessContext<'_, u64, (u64, u64, i64)>) -> Result<(), UserError> {
        let count = self.count.as_ref().ok_or("not open")?;
        let n = count.get(&mut ctx.state())?.unwrap_or(0) + 1;
        count.set(&mut ctx.state(), n)?;
        if n == 1 {
            let at = ctx.current_processing_time() + self.delay;
            ctx.register_processing_time_timer(at)?;
        }
        Ok(())
    }
    fn on_processing_time(&mut self, ts: i64, ctx: &mut ProcessContext<'_, u64, (u64, u64, i64)>) -> Result<(), UserError> {
        let count = self.count.as_ref().ok_or("not open")?;
        let n = count.get(&mut ctx.state())?.unwrap_or(0);
        let key = *ctx.key();
        ctx.emit((key, n, ts));
        Ok(())
    }
}

fn records() -> Vec<Event<u64>> {
    (0..400u64).map(|i| Event::new(i as i64, i)).collect()
}

#[test]
fn processing_time_timers_fire_on_the_wall_clock_without_input() {
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = JobConfig::new("pt").with_parallelism(2).with_state_dir(dir.path());
        c.backend = backend;
        let env = StreamEnvironment::new(c);
        let started = Instant::now();
        let out = env
            .source(move |sub| {
                Ok(Box::new(Quiet { records: records(), started, idle_for: Duration::from_millis(1_200), mine: sub.subtask == 0 }))
            })
            .key_by(|v: &u64| v % KEYS)
            .process(ReportLater { delay: 300, count: None })
            .collect_to_vec();
        env.execute().unwrap();
        let mut got: Vec<(u64, u64)> = out.lock().unwrap().iter().map(|(k, n, _)| (*k, *n)).collect();
        got.sort_unstable();
        assert_eq!(got, (0..KEYS).map(|k| (k, 400 / KEYS)).collect::<Vec<_>>(), "{backend:?}: one report per key");
    }
}

fn run(dir: &std::path::Path, backend: BackendKind, p: u32, stop_after: Option<Duration>, idle_for: Duration) -> Vec<(u64, u64, i64)> {
    let mut c = JobConfig::new("pt-restore")
        .with_parallelism(p)
        .with_state_dir(&dir.join("state"))
        .with_checkpoints(dir.join("chk").to_str().unwrap(), Duration::from_secs(3600));
    c.backend = backend;
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
    let started = Instant::now();
    let out = env
        .source(move |sub| Ok(Box::new(Quiet { records: records(), started, idle_for, mine: sub.subtask == 0 })))
        .uid("quiet")
        .key_by(|v: &u64| v % KEYS)
        .process(ReportLater { delay: 1_000, count: None })
        .uid("report")
        .collect_to_vec();
    env.execute().unwrap();
    let v: Vec<(u64, u64, i64)> = out.lock().unwrap().clone();
    v
}

#[test]
fn processing_time_timers_are_checkpointed_and_fire_after_a_restore() {
    for (backend, from, to, pause) in [(BackendKind::HashMap, 2, 3, 0), (BackendKind::RocksDb, 3, 2, 1_500)] {
        let dir = tempfile::tempdir().unwrap();
        // Stopped 300 ms in: every timer (1 s after the key's first record) is pending.
        let first = run(dir.path(), backend, from, Some(Duration::from_millis(300)), Duration::from_secs(30));
        assert!(first.is_empty(), "{backend:?}: no timer was due before the stop: {first:?}");
        std::thread::sleep(Duration::from_millis(pause));
        let restored_at = weir::crates::runtime::processing_time_now();
        let second = run(dir.path(), backend, to, None, Duration::from_millis(1_500));
        let mut got: Vec<(u64, u64)> = second.iter().map(|(k, n, _)| (*k, *n)).collect();
        got.sort_unstable();
        assert_eq!(got, (0..KEYS).map(|k| (k, 400 / KEYS)).collect::<Vec<_>>(), "{backend:?}: each key reported once, after the restore");
        if pause > 1_000 {
            // Due while the job was down: they fire as it starts.
            assert!(second.iter().all(|(_, _, ts)| *ts < restored_at), "{backend:?}: timers were overdue");
        }
    }
}

#[test]
fn tumbling_windows_in_processing_time_count_what_arrived_in_each() {
    let env = StreamEnvironment::new(JobConfig::new("pt-windows").with_parallelism(2));
    let started = Instant::now();
    let out = env
        .source(move |sub| {
            Ok(Box::new(Quiet { records: records(), started, idle_for: Duration::from_millis(800), mine: sub.subtask == 0 }))
        })
        .key_by(|v: &u64| v % KEYS)
        .window(TumblingWindows::of_millis(200).in_processing_time())
        .count()
        .collect_to_vec();
    env.execute().unwrap();
    let results = out.lock().unwrap().clone();
    let total: u64 = results.iter().map(|r| r.value).sum();
    assert_eq!(total, 400, "every record counted once, in the window of its arrival");
    assert!(results.iter().all(|r| r.window.start % 200 == 0 && r.window.start > 1_600_000_000_000), "{results:?}");
    let keys: std::collections::BTreeSet<u64> = results.iter().map(|r| r.key).collect();
    assert_eq!(keys.len() as u64, KEYS);
}

/// Emits `first`, then nothing for `pause`, then `second`, then nothing
/// until `end` has passed since it started.
struct TwoBursts {
    first: Vec<Event<u64>>,
    second: Vec<Event<u64>>,
    started: Instant,
    pause: Duration,
    end: Duration,
}

impl Source<u64> for TwoBursts {
    fn poll(&mut self, out: &mut Vec<Event<u64>>, _max: usize) -> Result<SourceStatus, JobError> {
        let now = self.started.elapsed();
        if !self.first.is_empty() {
            out.append(&mut self.first);
            return Ok(SourceStatus::More);
        }
        if now >= self.pause && !self.second.is_empty() {
            out.append(&mut self.second);
            return Ok(SourceStatus::More);
        }
        Ok(if now >= self.end { SourceStatus::Exhausted } else { SourceStatus::Idle })
    }
    fn watermark(&self) -> Option<i64> {
        None
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(vec![1])
    }
    fn restore(&mut self, _: &[u8], _: weir::ValueFormat) -> Result<(), JobError> {
        Ok(())
    }
}

#[test]
fn session_windows_in_processing_time_close_a_gap_of_wall_clock_after_the_last_record() {
    let env = StreamEnvironment::new(JobConfig::new("pt-sessions").with_parallelism(2));
    let started = Instant::now();
    let burst = |n: u64| (0..n).map(|i| Event::new(0, i)).collect::<Vec<_>>();
    let out = env
        .source(move |sub| {
            let (first, second) = if sub.subtask == 0 { (burst(80), burst(40)) } else { (Vec::new(), Vec::new()) };
            Ok(Box::new(TwoBursts { first, second, started, pause: Duration::from_millis(500), end: Duration::from_millis(1_300) }))
        })
        .key_by(|v: &u64| v % KEYS)
        .window(SessionWindows::with_gap_millis(150).in_processing_time())
        .count()
        .collect_to_vec();
    env.execute().unwrap();
    let mut results = out.lock().unwrap().clone();
    results.sort_by_key(|r| (r.key, r.window.start));
    // Every key: a session of its 10 records of the first burst, closed
    // before the second (350 ms of wall clock later), and one of its 5 of the second.
    for key in 0..KEYS {
        let sessions: Vec<_> = results.iter().filter(|r| r.key == key).collect();
        assert_eq!(sessions.iter().map(|r| r.value).collect::<Vec<_>>(), [10, 5], "key {key}: {sessions:?}");
        assert!(sessions[0].window.end <= sessions[1].window.start, "{sessions:?}");
        assert!(sessions[0].window.start > 1_600_000_000_000, "wall-clock times: {sessions:?}");
        assert!(sessions[1].window.start - sessions[0].window.start >= 300, "{sessions:?}");
    }
}
