//! Automatic restarts: a user function that fails once (an error or a
//! panic) at a chosen record makes the job restore in-process from its
//! newest checkpoint and go on, with committed output equal to the
//! reference; one that always fails ends the job with its cause after the
//! configured attempts; the job's status shows the restarts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::crates::runtime::{JobControl, JobStatus, OnStart};
use weir::{
    Event, JobConfig, KeyedProcessFunction, OpenContext, ProcessContext, RestartStrategy, StreamEnvironment, UserError, ValueState,
};

use crate::common::committed_lines;

const N: u64 = 40_000;
const KEYS: u64 = 25;

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Error,
    Panic,
}

/// Counts records per key and reports each key's count at the end; fails
/// at record `at`: once (the first time, in this process) or every time.
#[derive(Clone)]
struct FailingCount {
    at: u64,
    fault: Fault,
    once: Option<Arc<AtomicBool>>,
    count: Option<ValueState<u64>>,
}

impl KeyedProcessFunction<u64, u64, String> for FailingCount {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.count = Some(ValueState::register(ctx.backend(), "count")?);
        Ok(())
    }
    fn process(&mut self, v: u64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        if v == self.at && self.once.as_ref().is_none_or(|failed| !failed.swap(true, Ordering::SeqCst)) {
            match self.fault {
                Fault::Error => return Err(format!("boom at record {v}").into()),
                Fault::Panic => panic!("boom at record {v}"),
            }
        }
        let count = self.count.as_ref().ok_or("not open")?;
        count.update(&mut ctx.state(), || 0, |c| *c += 1)?;
        ctx.register_timer(i64::MAX - 1)?;
        Ok(())
    }
    fn on_timer(&mut self, _: i64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let count = self.count.as_ref().ok_or("not open")?;
        let key = *ctx.key();
        let n = count.get(&mut ctx.state())?.unwrap_or(0);
        ctx.emit(format!("{key},{n}"));
        Ok(())
    }
}

fn reference() -> Vec<String> {
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for i in 0..N {
        *counts.entry(i % KEYS).or_insert(0) += 1;
    }
    let mut v: Vec<String> = counts.into_iter().map(|(k, n)| format!("{k},{n}")).collect();
    v.sort();
    v
}

/// Runs the job failing at record `at`; its result, output and last status.
fn run(f: FailingCount, restart: RestartStrategy, checkpoints: bool) -> (Result<u64, String>, Vec<String>, JobStatus) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut c = JobConfig::new("restart").with_parallelism(2).with_state_dir(&dir.path().join("state")).with_restart(restart);
    if checkpoints {
        c = c.with_checkpoints(dir.path().join("chk").to_str().unwrap(), Duration::from_millis(100));
    }
    let control: Arc<Mutex<Option<JobControl>>> = Arc::default();
    let keep = control.clone();
    c.on_start = Some(OnStart(Arc::new(move |ctl: JobControl| *keep.lock().unwrap() = Some(ctl))));
    let env = StreamEnvironment::new(c);
    env.generate(N, Some(40_000.0), 0, |i| Event::new(i as i64, i))
        .uid("source")
        .key_by(|v: &u64| v % KEYS)
        .process(f)
        .uid("counts")
        .write_to_files(&out)
        .uid("output");
    let result = env.execute().map(|r| r.counter("events")).map_err(|e| e.to_string());
    let status = control.lock().unwrap().as_ref().expect("the job started").status();
    (result, committed_lines(&out), status)
}

fn fails_once(fault: Fault) {
    let at = N / 2;
    let f = FailingCount { at, fault, once: Some(Arc::default()), count: None };
    let (result, output, status) = run(f, RestartStrategy::FixedDelay { attempts: 3, delay: Duration::from_millis(100) }, true);
    assert!(result.is_ok(), "the job recovered: {result:?}");
    assert_eq!(output, reference(), "committed output after the restart");
    assert_eq!(status.restarts, 1);
    let cause = status.last_failure.unwrap_or_default();
    assert!(cause.contains(&format!("boom at record {at}")), "{cause}");
    if fault == Fault::Error {
        assert!(cause.contains("operator counts"), "the cause names the operator: {cause}");
    }
    assert!(status.last_restore_ms.is_some());
}

#[test]
fn a_function_that_fails_once_is_restarted_from_the_newest_checkpoint() {
    fails_once(Fault::Error);
}

#[test]
fn a_function_that_panics_once_is_restarted_from_the_newest_checkpoint() {
    fails_once(Fault::Panic);
}

#[test]
fn a_function_that_always_fails_ends_the_job_after_its_attempts() {
    let f = FailingCount { at: 1_000, fault: Fault::Error, once: None, count: None };
    let (result, output, status) =
        run(f, RestartStrategy::ExponentialDelay { attempts: 2, initial: Duration::from_millis(50), max: Duration::from_millis(80) }, true);
    let err = result.expect_err("the job fails in the end");
    assert!(err.contains("boom at record 1000"), "the last cause: {err}");
    assert_eq!(status.restarts, 2, "two restarts, then it gave up");
    assert!(output.is_empty(), "nothing was committed: {} lines", output.len());
}

#[test]
fn without_checkpoints_the_default_does_not_restart() {
    let f = FailingCount { at: 1_000, fault: Fault::Error, once: Some(Arc::default()), count: None };
    let dir = tempfile::tempdir().unwrap();
    let c = JobConfig::new("no-restart").with_parallelism(1).with_state_dir(dir.path());
    assert_eq!(c.restart_strategy(), RestartStrategy::None);
    let env = StreamEnvironment::new(c);
    env.generate(N, None, 0, |i| Event::new(i as i64, i)).key_by(|v: &u64| v % KEYS).process(f).discard();
    let err = env.execute().expect_err("fails at once").to_string();
    assert!(err.contains("boom at record 1000"), "{err}");
}

/// windowed_count whose operators fail once (an error at the 300th batch
/// one receives): the process restarts the job itself, `/job` and
/// `/metrics` count the restart, and the committed output is the reference.
#[test]
fn a_running_job_restarts_itself_and_says_so_in_job_and_metrics() {
    use crate::common::{argv, generated_reference};
    const EVENTS: u64 = 120_000;
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let args = argv(&format!(
        "--generate {EVENTS} --keys 100 --event-rate 10000 --rate 40000 --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval 200ms --restart-strategy fixed-delay --restart-attempts 2 --restart-delay 300ms",
        out.display(),
        chk.display()
    ));
    let job = crate::control::Job::start_with_env(dir.path(), &args, &[("WEIR_FAIL_POINT", "operator-batch:300:error")]);
    let started = std::time::Instant::now();
    loop {
        let (_, status) = job.get("/job");
        if status["restarts"] == 1 {
            assert!(status["last_failure"].as_str().unwrap_or_default().contains("fail point"), "{status}");
            assert!(status["last_restore_ms"].as_u64().is_some() || status["state"] == "restarting", "{status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no restart: {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, _, metrics) = job.call("GET", "/metrics", "");
    assert!(metrics.body.lines().any(|l| l.starts_with("weir_job_restarts_total") && l.ends_with(" 1")), "{}", metrics.body);
    let (status, _, log) = job.wait();
    assert!(status.success(), "{log}");
    assert!(log.contains("restarting from the newest checkpoint"), "{log}");
    assert_eq!(committed_lines(&out), generated_reference(EVENTS, 100, 10_000, 1000));
}

/// Transactions of `(run, instance, number)` and their lines.
type Published = Arc<Mutex<BTreeMap<(String, u32, u64), Vec<String>>>>;
/// Restored handles committed again: (bytes, same lines as before).
type Recommitted = Arc<Mutex<Vec<(usize, bool)>>>;

/// An exactly-once sink that keeps each transaction's lines in its handle,
/// as the Kafka sink keeps its records: handles of a few hundred kilobytes,
/// stored in files of their own rather than in `_metadata`. Commits publish
/// a handle's lines once; a restored handle committed again must hold the
/// same lines.
struct Staging {
    run: String,
    subtask: u32,
    published: Published,
    restored: Recommitted,
}

type StagedHandle = (String, u32, u64, Vec<String>);

impl weir::TwoPhaseCommitSink<String> for Staging {
    type Handle = StagedHandle;
    type Transaction = StagedHandle;
    fn begin(&mut self, ctx: &weir::TransactionContext) -> Result<StagedHandle, weir::JobError> {
        Ok((self.run.clone(), self.subtask, ctx.seq, Vec::new()))
    }
    fn write(&mut self, txn: &mut StagedHandle, batch: &mut Vec<Event<String>>) -> Result<(), weir::JobError> {
        txn.3.extend(batch.drain(..).map(|e| e.value));
        Ok(())
    }
    fn pre_commit(&mut self, txn: StagedHandle, _: Option<u64>) -> Result<StagedHandle, weir::JobError> {
        Ok(txn)
    }
    fn commit(&mut self, (run, subtask, seq, lines): &StagedHandle) -> Result<(), weir::JobError> {
        let mut published = self.published.lock().unwrap();
        let before = published.entry((run.clone(), *subtask, *seq)).or_insert_with(|| lines.clone());
        if *run != self.run {
            let bytes = lines.iter().map(|l| l.len()).sum();
            self.restored.lock().unwrap().push((bytes, before == lines));
        }
        Ok(())
    }
    fn abort(&mut self, _: StagedHandle) -> Result<(), weir::JobError> {
        Ok(())
    }
    fn abort_lingering(&mut self, _: &weir::RecoveryScope<'_, StagedHandle>) -> Result<(), weir::JobError> {
        Ok(())
    }
}

/// A job whose sink's pre-committed transactions are far larger than what
/// `_metadata` holds fails once after a checkpoint completed; the restart
/// restores those transactions from the checkpoint's files intact, and
/// every line is published exactly once.
#[test]
fn large_pre_committed_transactions_are_restored_from_their_own_files() {
    const LINES: u64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let c = JobConfig::new("staging")
        .with_parallelism(2)
        .with_state_dir(&dir.path().join("state"))
        .with_checkpoints(dir.path().join("chk").to_str().unwrap(), Duration::from_millis(100))
        .with_restart(RestartStrategy::FixedDelay { attempts: 3, delay: Duration::from_millis(50) });
    let env = StreamEnvironment::new(c);
    let (published, restored): (Published, Recommitted) = Default::default();
    let committed_once = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let (p, r, c) = (published.clone(), restored.clone(), committed_once.clone());
    env.generate(LINES, Some(40_000.0), 0, |i| Event::new(i as i64, i))
        .uid("source")
        .map(move |i: u64| {
            // After the first commit, the next record fails the job once.
            if committed_once.load(Ordering::SeqCst) && !failed.swap(true, Ordering::SeqCst) {
                panic!("boom after a commit");
            }
            format!("{i:0>100}")
        })
        .sink_exactly_once("staging", move |env| {
            let sink = Staging { run: env.run_id.clone(), subtask: env.subtask, published: p.clone(), restored: r.clone() };
            Ok(Watch(sink, c.clone()))
        })
        .uid("staging");
    env.execute().unwrap();
    let restored = restored.lock().unwrap().clone();
    assert!(restored.iter().all(|(_, same)| *same), "a restored handle differs from the one pre-committed: {restored:?}");
    let largest = restored.iter().map(|(b, _)| *b).max().unwrap_or(0);
    assert!(largest > weir::crates::runtime::MAX_METADATA_INLINE, "no restored handle was large: {restored:?}");
    let mut lines: Vec<String> = published.lock().unwrap().values().flatten().cloned().collect();
    lines.sort();
    assert_eq!(lines, (0..LINES).map(|i| format!("{i:0>100}")).collect::<Vec<_>>());
}

/// Sets the flag when a transaction of this run commits.
struct Watch(Staging, Arc<AtomicBool>);

impl weir::TwoPhaseCommitSink<String> for Watch {
    type Handle = StagedHandle;
    type Transaction = StagedHandle;
    fn begin(&mut self, ctx: &weir::TransactionContext) -> Result<StagedHandle, weir::JobError> {
        self.0.begin(ctx)
    }
    fn write(&mut self, txn: &mut StagedHandle, batch: &mut Vec<Event<String>>) -> Result<(), weir::JobError> {
        self.0.write(txn, batch)
    }
    fn pre_commit(&mut self, txn: StagedHandle, c: Option<u64>) -> Result<StagedHandle, weir::JobError> {
        self.0.pre_commit(txn, c)
    }
    fn commit(&mut self, h: &StagedHandle) -> Result<(), weir::JobError> {
        if h.0 == self.0.run {
            self.1.store(true, Ordering::SeqCst);
        }
        self.0.commit(h)
    }
    fn abort(&mut self, txn: StagedHandle) -> Result<(), weir::JobError> {
        self.0.abort(txn)
    }
    fn abort_lingering(&mut self, s: &weir::RecoveryScope<'_, StagedHandle>) -> Result<(), weir::JobError> {
        self.0.abort_lingering(s)
    }
}
