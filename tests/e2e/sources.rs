//! Sources of unbounded input: a source with nothing to read waits instead
//! of spinning and still serves checkpoints; an idle source does not hold
//! windows back (`with_idleness`); a job runs from inside a tokio runtime.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir::{Event, JobConfig, JobError, Source, SourceStatus, StreamEnvironment, TumblingWindows};

/// A test source: `Idle` until `until` says so (or `deadline` passes), then
/// the events of `then` and the end. `before` is emitted by the first poll.
struct Scripted {
    before: Vec<Event<u64>>,
    until: Arc<dyn Fn() -> bool + Send + Sync>,
    deadline: Instant,
    then: Vec<Event<u64>>,
    polls: Arc<AtomicUsize>,
    /// Set when `until` held before the deadline.
    released: Arc<AtomicBool>,
    max_ts: Option<i64>,
}

impl Scripted {
    fn new(until: impl Fn() -> bool + Send + Sync + 'static, deadline: Duration) -> Self {
        Scripted {
            before: Vec::new(),
            until: Arc::new(until),
            deadline: Instant::now() + deadline,
            then: Vec::new(),
            polls: Arc::default(),
            released: Arc::default(),
            max_ts: None,
        }
    }
}

impl Source<u64> for Scripted {
    fn poll(&mut self, out: &mut Vec<Event<u64>>, _max: usize) -> Result<SourceStatus, JobError> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if !self.before.is_empty() {
            out.append(&mut self.before);
        } else if (self.until)() {
            self.released.store(true, Ordering::Relaxed);
            out.append(&mut self.then);
            return Ok(SourceStatus::Exhausted);
        } else if Instant::now() >= self.deadline {
            out.append(&mut self.then);
            return Ok(SourceStatus::Exhausted);
        } else {
            return Ok(SourceStatus::Idle);
        }
        self.max_ts = out.iter().map(|e| e.ts).max().max(self.max_ts);
        Ok(SourceStatus::More)
    }
    fn watermark(&self) -> Option<i64> {
        self.max_ts.map(|t| t - 1)
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _: &[u8], _: weir::ValueFormat) -> Result<(), JobError> {
        Ok(())
    }
}

fn events(range: std::ops::Range<u64>) -> Vec<Event<u64>> {
    range.map(|i| Event::new(i as i64, i)).collect()
}

#[test]
fn an_idle_source_waits_instead_of_polling_in_a_loop() {
    let env = StreamEnvironment::new(JobConfig::new("idle-wait").with_parallelism(1));
    let started = Instant::now();
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let out = env
        .source(move |_| {
            let mut s = Scripted::new(move || started.elapsed() >= Duration::from_millis(300), Duration::from_secs(60));
            s.then = events(0..10);
            s.polls = counted.clone();
            Ok(Box::new(s))
        })
        .collect_to_vec();
    env.execute().unwrap();
    let mut got = out.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    // Waits of 1, 2, 4, ... up to 50 ms: about a dozen polls in 300 ms, not millions.
    let n = polls.load(Ordering::Relaxed);
    assert!(n < 100, "{n} polls while idle for 300 ms");
}

#[test]
fn a_checkpoint_is_taken_while_the_source_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let mut env = StreamEnvironment::new(
        JobConfig::new("idle-checkpoint")
            .with_parallelism(2)
            .with_state_dir(&dir.path().join("state"))
            .with_checkpoints(chk.to_str().unwrap(), Duration::from_secs(3600)),
    );
    let checkpointed = Arc::new(AtomicBool::new(false));
    let record: Arc<Mutex<Option<Result<u64, String>>>> = Arc::default();
    let (flag, rec) = (checkpointed.clone(), record.clone());
    env.on_start(move |control| {
        let (flag, rec) = (flag.clone(), rec.clone());
        std::thread::spawn(move || {
            let reply = control.checkpoint(false).recv().unwrap_or_else(|e| Err(e.to_string()));
            *rec.lock().unwrap() = Some(reply.map(|r| r.id));
            flag.store(true, Ordering::Relaxed);
        });
    });
    let released = Arc::new(AtomicBool::new(false));
    let (flag, rel) = (checkpointed.clone(), released.clone());
    let out = env
        .source(move |env| {
            let flag = flag.clone();
            let mut s = Scripted::new(move || flag.load(Ordering::Relaxed), Duration::from_secs(20));
            let base = u64::from(env.subtask) * 100;
            s.then = events(base..base + 10);
            s.released = rel.clone();
            Ok(Box::new(s))
        })
        .collect_to_vec();
    let result = env.execute().unwrap();
    let requested = record.lock().unwrap().clone();
    assert!(matches!(requested, Some(Ok(_))), "the checkpoint requested while every source was idle completed: {requested:?}");
    assert!(released.load(Ordering::Relaxed), "the sources stayed idle until the checkpoint completed");
    let mut got = out.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..10).chain(100..110).collect::<Vec<_>>());
    assert!(result.checkpoints.completed >= 2, "the requested checkpoint and the final one: {:?}", result.checkpoints);
}

/// Two source instances into a keyed window count: instance 0 emits events
/// 0..4000 ms at once, instance 1 nothing. Both stay open until a window
/// has fired (or `wait` passed). Returns whether a window fired before the
/// end of input, the windows, and the late records dropped.
fn one_idle_instance(idleness: Option<Duration>, wait: Duration) -> (bool, Vec<String>, u64) {
    let env = StreamEnvironment::new(JobConfig::new("idleness").with_parallelism(2));
    let fired = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicBool::new(false));
    let (f, rel) = (fired.clone(), released.clone());
    let stream = env.source(move |env| {
        let f = f.clone();
        let mut s = Scripted::new(move || f.load(Ordering::Relaxed), wait);
        if env.subtask == 0 {
            s.before = (0..400).map(|i| Event::new(i * 10, i as u64 % 3)).collect();
        } else {
            // Back from idleness with a record behind the watermark: late.
            s.then = vec![Event::new(5, 7)];
            s.released = rel.clone();
        }
        Ok(Box::new(s))
    });
    let stream = match idleness {
        Some(t) => stream.with_idleness(t),
        None => stream,
    };
    let f = fired.clone();
    let out = stream
        .key_by(|k: &u64| *k)
        .window(TumblingWindows::of_millis(1000))
        .count()
        .map(move |r| {
            f.store(true, Ordering::Relaxed);
            format!("{r}")
        })
        .collect_to_vec();
    let result = env.execute().unwrap();
    let mut windows = out.lock().unwrap().clone();
    windows.sort();
    (released.load(Ordering::Relaxed), windows, result.counter("late_records_dropped"))
}

#[test]
fn an_idle_instance_does_not_hold_windows_back() {
    let (before_end, windows, late) = one_idle_instance(Some(Duration::from_millis(100)), Duration::from_secs(20));
    assert!(before_end, "windows fired while one source instance was idle");
    // 400 events, keys 0..3, four windows each: every event counted once, the late one not.
    let total: u64 = windows.iter().map(|w| w.rsplit(',').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!((windows.len(), total), (12, 400), "{windows:?}");
    assert_eq!(late, 1, "a record behind the watermark after idleness is late");
}

#[test]
fn without_idleness_an_idle_instance_holds_windows_until_the_end() {
    let (before_end, windows, late) = one_idle_instance(None, Duration::from_millis(500));
    assert!(!before_end, "no window fires while an instance has no watermark");
    // The idle instance's record at 5 ms is on time then.
    assert_eq!((windows.len(), late), (13, 0), "{windows:?}");
}

fn small_job() -> (StreamEnvironment, Arc<Mutex<Vec<String>>>) {
    let env = StreamEnvironment::new(JobConfig::new("in-async").with_parallelism(2));
    let out = env
        .from_collection(vec![(100, "a"), (900, "b"), (1500, "a")])
        .key_by(|w: &&str| w.to_string())
        .window(TumblingWindows::of_millis(1000))
        .count()
        .map(|r| format!("{r}"))
        .collect_to_vec();
    (env, out)
}

#[tokio::test]
async fn execute_runs_inside_a_current_thread_runtime() {
    let (env, out) = small_job();
    env.execute().unwrap();
    let mut got = out.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, ["0,a,1", "0,b,1", "1000,a,1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_runs_inside_a_multi_thread_runtime_with_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let env = StreamEnvironment::new(
        JobConfig::new("in-async-chk")
            .with_parallelism(2)
            .with_state_dir(&dir.path().join("state"))
            .with_checkpoints(dir.path().join("chk").to_str().unwrap(), Duration::from_millis(20)),
    );
    let out = env
        .generate(20_000, Some(200_000.0), 0, |i| Event::new(i as i64 / 10, i % 7))
        .key_by(|k: &u64| *k)
        .window(TumblingWindows::of_millis(100))
        .count()
        .collect_to_vec();
    let result = env.execute().unwrap();
    assert!(result.checkpoints.completed >= 1);
    let total: u64 = out.lock().unwrap().iter().map(|r| r.value).sum();
    assert_eq!(total, 20_000);
    // And again from the newest checkpoint: restore and leftovers run there too.
    let env = StreamEnvironment::new(
        JobConfig::new("in-async-chk")
            .with_parallelism(2)
            .with_state_dir(&dir.path().join("state"))
            .with_checkpoints(dir.path().join("chk").to_str().unwrap(), Duration::from_millis(20))
            .with_restore(weir::RestoreFrom::Latest),
    );
    let out = env
        .generate(20_000, None, 0, |i| Event::new(i as i64 / 10, i % 7))
        .key_by(|k: &u64| *k)
        .window(TumblingWindows::of_millis(100))
        .count()
        .collect_to_vec();
    let result = env.execute().unwrap();
    assert!(result.restored_from.is_some());
    assert_eq!(result.counter("events"), 0, "everything was read before");
    assert!(out.lock().unwrap().is_empty());
}
