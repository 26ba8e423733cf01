//! Runs a job graph: restores, starts the tasks and the coordinator, waits,
//! and reports the result or the first error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::unbounded;
use tracing::{info, warn};
use weir_checkpoint::protocol::next_checkpoint_id;
use weir_checkpoint::{CheckpointStorage, TaskId};

use crate::coordinator::Coordinator;
use crate::graph::new_stop_flag;
use crate::incremental::SharedFiles;
use crate::io::block_on;
use crate::job_lock::HeldLock;
use crate::leftovers;
use crate::restore::{FetchStats, Restore};
use crate::task::CheckpointPlumbing;
use crate::upload::Uploads;
use crate::{
    CheckpointRecord, CheckpointSummary, Control, Counters, JobConfig, JobControl, JobError, JobGraph, JobState, JobStatus, OperatorStatus,
    RestoreFrom, SubtaskEnv, TaskEvent, Wiring,
};

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// Wall-clock time from start to end.
    pub duration: Duration,
    /// The job's counters (`events` counts what the sources emitted).
    pub counters: BTreeMap<String, u64>,
    /// Checkpoints taken.
    pub checkpoints: CheckpointSummary,
    /// The checkpoint the job restored from.
    pub restored_from: Option<u64>,
    /// How long the restore took: reading and checking the checkpoint's
    /// files and loading every operator's state, before the first record.
    pub restore_time: Option<Duration>,
    /// How the restore got the checkpoint's files.
    pub restore_fetch: Option<FetchStats>,
}

impl JobResult {
    /// The counter `name`, 0 if it was never bumped.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// Runs `graph` with `config` to its end.
///
/// Blocks the calling thread until the job ends. It may be called from
/// inside a tokio runtime (async code): the job has its own I/O runtime, and
/// what it waits for on the calling thread then runs on a thread of its own.
pub fn execute(graph: JobGraph, config: &JobConfig) -> Result<JobResult, JobError> {
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weir-io")
        .enable_all()
        .build()
        .map_err(|e| JobError::io("starting the I/O runtime", e))
        .and_then(|runtime| {
            let result = run(graph, config, &runtime);
            crate::io::drop_runtime(runtime);
            result
        });
    if config.remove_state_dir {
        let _ = std::fs::remove_dir_all(&config.state_dir);
    }
    result
}

fn run(graph: JobGraph, config: &JobConfig, runtime: &tokio::runtime::Runtime) -> Result<JobResult, JobError> {
    let started = Instant::now();
    let stop = new_stop_flag();
    if config.handle_signals {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone()).map_err(|e| JobError::io("installing signal handlers", e))?;
        }
    }
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| JobError::io(format!("creating state directory {}", config.state_dir.display()), e))?;

    // The job's handle: status, and requests to the coordinator.
    let (commands_tx, commands_rx) = match &config.checkpoint {
        Some(_) => {
            let (tx, rx) = unbounded();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let control = JobControl::new(
        JobStatus {
            job_name: config.job_name.clone(),
            state: JobState::Starting,
            parallelism: config.parallelism,
            max_parallelism: config.max_parallelism,
            operators: graph.vertices.iter().map(|v| OperatorStatus { id: v.name.clone(), parallelism: v.parallelism }).collect(),
            restored_from: None,
            checkpoints: Vec::new(),
            restarts: 0,
            last_failure: None,
            last_restore_ms: None,
        },
        commands_tx,
        stop.clone(),
    );

    // Checkpoint storage, and the checkpoints already in it.
    let storage = match &config.checkpoint {
        Some(c) => Some(CheckpointStorage::open(&c.location)?),
        None => None,
    };
    // One job at a time writes into a checkpoint directory; released when this returns.
    let _lock = storage.as_ref().map(|s| HeldLock::acquire(runtime, s, &config.job_name)).transpose()?;
    // The endpoint starts once the lock is held, as its token file goes next
    // to the lock, and before anything else: it installs the metrics recorder
    // that the operators' counters register with.
    let _endpoint = match &config.control_addr {
        Some(addr) => Some(crate::http::serve(runtime, addr, control.clone(), config)?),
        None => None,
    };
    // Run, and after a task failure restore from the newest complete
    // checkpoint as the restart strategy allows.
    let strategy = config.restart_strategy();
    let mut restore_from = config.restore.clone();
    let mut restarts = 0u32;
    loop {
        let job = Attempt {
            graph: &graph,
            config,
            runtime,
            control: &control,
            stop: &stop,
            commands: commands_rx.as_ref(),
            storage: storage.as_ref(),
            started,
        };
        let (error, stop_requested) = match job.run(restore_from.as_ref()) {
            Ok(result) => return Ok(result),
            Err(Failure::Setup(e)) => {
                control.update(|s| s.state = JobState::Failed);
                return Err(e);
            }
            Err(Failure::Task { error, stop_requested }) => (error, stop_requested),
        };
        // The failure set the stop flag to cancel the tasks; they are gone now.
        stop.store(stop_requested, Ordering::Relaxed);
        restarts += 1;
        let delay = if stop_requested { None } else { strategy.delay_before(restarts) };
        let Some(delay) = delay else {
            if restarts > 1 {
                warn!(restarts = restarts - 1, strategy = %strategy, error = %error, "the job failed again and its restarts are used up");
            }
            control.update(|s| s.state = JobState::Failed);
            return Err(error);
        };
        warn!(restart = restarts, of = strategy.attempts(), in_ms = delay.as_millis() as u64, cause = %error, "a task failed; restarting from the newest checkpoint");
        metrics::counter!("weir_job_restarts_total").increment(1);
        let cause = error.to_string();
        control.update(|s| {
            s.state = JobState::Restarting;
            s.restarts = restarts;
            s.last_failure = Some(cause);
        });
        // Wait, unless asked to stop meanwhile.
        let until = Instant::now() + delay;
        while Instant::now() < until && !control.stop_requested() {
            std::thread::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())));
        }
        if control.stop_requested() {
            control.update(|s| s.state = JobState::Failed);
            return Err(error);
        }
        // The newest complete checkpoint, if there is one by now; else what the job started from.
        let newest = match &storage {
            Some(storage) => block_on(runtime.handle(), storage.latest_complete())?,
            None => None,
        };
        restore_from = if newest.is_some() { Some(RestoreFrom::Latest) } else { config.restore.clone() };
        control.update(|s| {
            s.state = JobState::Starting;
            s.last_restore_ms = Some(crate::processing_time_now());
        });
    }
}

/// Why an attempt to run the job ended without a result.
enum Failure {
    /// Before any task ran: restoring, building. Not restarted.
    Setup(JobError),
    /// A task failed; `stop_requested` if the job was being stopped anyway.
    Task { error: JobError, stop_requested: bool },
}

impl<E: Into<JobError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Setup(e.into())
    }
}

/// One run of the job's tasks, from a restore (or the start) to their end.
struct Attempt<'a> {
    graph: &'a JobGraph,
    config: &'a JobConfig,
    runtime: &'a tokio::runtime::Runtime,
    control: &'a JobControl,
    stop: &'a Arc<AtomicBool>,
    commands: Option<&'a crossbeam_channel::Receiver<crate::job_control::Command>>,
    storage: Option<&'a CheckpointStorage>,
    started: Instant,
}

impl Attempt<'_> {
    fn run(&self, restore_from: Option<&RestoreFrom>) -> Result<JobResult, Failure> {
        let Attempt { graph, config, runtime, control, stop, commands, storage, started } = *self;
        // Left behind by a run that died while writing a checkpoint.
        let leftovers::Checkpoints { complete: existing, ids: existing_ids } = match storage {
            Some(storage) => block_on(runtime.handle(), leftovers::remove_leftovers(storage))?,
            None => leftovers::Checkpoints::default(),
        };

        // The history of earlier runs, as the newest `_metadata` keeps it.
        if let Some(newest) = existing.iter().max_by_key(|m| m.checkpoint_id) {
            let earlier: Vec<CheckpointRecord> = newest.history.iter().filter_map(CheckpointRecord::from_stats).collect();
            control.update(|s| {
                if s.checkpoints.is_empty() {
                    s.checkpoints = earlier;
                }
            });
        }

        // What to restore.
        let restore_started = Instant::now();
        let restore = match restore_from {
            None => None,
            Some(RestoreFrom::Latest) => {
                let Some(storage) = storage else {
                    return Err(JobError::Config("--from-checkpoint latest needs --checkpoint-dir".into()).into());
                };
                match block_on(runtime.handle(), storage.latest_complete())? {
                    Some(id) => Some(Restore::load(runtime, storage, &CheckpointStorage::checkpoint_dir(id), &config.state_dir)?),
                    None => {
                        info!(dir = %storage.describe(""), "no complete checkpoint to restore from; starting fresh");
                        None
                    }
                }
            }
            Some(RestoreFrom::Path(path)) => Some(Restore::load_path(runtime, path, &config.state_dir)?),
        };
        if let Some(r) = &restore {
            r.check_compatible(&graph.operator_ids, config.max_parallelism, config.allow_non_restored_state)?;
            info!(checkpoint = r.meta.checkpoint_id, path = %r.path, "restoring");
        }
        let restored_from = restore.as_ref().map(|r| r.meta.checkpoint_id);
        let restore_fetch = restore.as_ref().map(|r| r.fetched);
        let restored_path = restore.as_ref().map(|r| r.path.clone());
        control.update(|s| s.restored_from = restored_path);
        // Restored from the job's own directory, the next checkpoints may keep
        // referencing its shared files; from anywhere else they never do (no-claim).
        let own_restore = match (&restore, storage) {
            (Some(r), Some(s)) => r.is_in(s),
            _ => false,
        };
        let incremental = config.checkpoint.as_ref().is_some_and(|c| c.incremental);
        // Restored from its own directory, a job owns the checkpoint anyway (retention subsumes it).
        let claimed = match (&restore, config.claim_restored && !own_restore) {
            (Some(r), true) => Some(r.claim()?),
            _ => None,
        };
        let restore = restore.map(Arc::new);
        if let Some(r) = &restore {
            crate::prepare::prepare_restores(r, &graph.keyed_operators, config)?;
        }

        // The restored files the first checkpoint may reference or copy instead of uploading them.
        let candidates = restore.as_ref().map(|r| Arc::new(r.candidates(own_restore)));

        // Build every task.
        let counters = Counters::default();
        let run_id = format!(
            "{:x}{:x}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
        );
        let mut wiring = Wiring::new(&graph.edges);
        let (events_tx, events_rx) = unbounded::<TaskEvent>();
        let mut tasks = Vec::new();
        let uploads = Uploads::default();
        for (v, vertex) in graph.vertices.iter().enumerate() {
            for subtask in 0..vertex.parallelism {
                let env = SubtaskEnv {
                    subtask,
                    parallelism: vertex.parallelism,
                    max_parallelism: config.max_parallelism,
                    key_groups: weir_state::key_group_range_for_subtask(config.max_parallelism, vertex.parallelism, subtask),
                    backend: config.backend,
                    state_dir: config.state_dir.clone(),
                    state_memory: config.state_memory,
                    checkpointing: config.checkpoint.is_some(),
                    counters: counters.clone(),
                    stop: stop.clone(),
                    run_id: run_id.clone(),
                    restore: restore.clone(),
                };
                let built = (vertex.build)(&env, &mut wiring)?;
                let shared = match (&restore, &candidates) {
                    (Some(r), Some(c)) => SharedFiles::new(incremental).with_restored(c.clone(), r.storage().clone()),
                    _ => SharedFiles::new(incremental),
                };
                let (ctl_tx, ctl_rx) = unbounded::<Control>();
                let task: TaskId = (v as u32, subtask);
                let plumbing = CheckpointPlumbing {
                    task,
                    parallelism: vertex.parallelism,
                    control: ctl_rx,
                    events: config.checkpoint.as_ref().map(|_| events_tx.clone()),
                    storage: storage.cloned(),
                    runtime: runtime.handle().clone(),
                    shared: Arc::new(Mutex::new(shared)),
                    savepoints: Arc::default(),
                    uploads: uploads.clone(),
                };
                tasks.push((format!("{}-{}", vertex.name, subtask), task, ctl_tx, built, plumbing));
            }
        }
        drop(wiring);
        // Every operator has its state now: the fetched files are no longer needed.
        if let Some(r) = restore.as_ref() {
            let _ = std::fs::remove_dir_all(&r.local_dir);
        }
        drop(restore);
        let restore_time = restored_from.map(|_| restore_started.elapsed());
        if let (Some(id), Some(t)) = (restored_from, restore_time) {
            info!(checkpoint = id, ms = t.as_millis() as u64, "restored");
        }

        // Start the coordinator.
        let controls: Vec<(TaskId, crossbeam_channel::Sender<Control>, bool)> =
            tasks.iter().map(|(_, id, tx, built, _)| (*id, tx.clone(), built.is_source)).collect();
        let coordinator = match (&config.checkpoint, storage) {
            (Some(c), Some(storage)) => {
                let coordinator = Coordinator {
                    storage: storage.clone(),
                    config: c.clone(),
                    job_name: config.job_name.clone(),
                    max_parallelism: config.max_parallelism,
                    tasks: controls.clone(),
                    events: events_rx,
                    runtime: runtime.handle().clone(),
                    next_id: next_checkpoint_id(&existing_ids, restored_from),
                    completed: existing,
                    commands: commands.cloned(),
                    control: control.clone(),
                    claimed,
                };
                Some(
                    std::thread::Builder::new()
                        .name("weir-coordinator".into())
                        .spawn(move || coordinator.run())
                        .map_err(|e| JobError::io("starting the checkpoint coordinator", e))?,
                )
            }
            _ => None,
        };

        // Start the tasks.
        let (done_tx, done_rx) = unbounded::<(String, Result<(), JobError>)>();
        let mut handles = Vec::new();
        for (name, task, _, built, plumbing) in tasks {
            let done = done_tx.clone();
            let events = plumbing.events.clone();
            let thread_name = name.clone();
            let handle = std::thread::Builder::new()
                .name(thread_name)
                .spawn(move || {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (built.run)(plumbing)));
                    let result = match result {
                        Ok(r) => r.map(|_| ()),
                        Err(panic) => {
                            let msg = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            Err(JobError::Panic(name.clone(), msg))
                        }
                    };
                    if let Some(events) = events {
                        let _ = events.send(TaskEvent::TaskEnded(task));
                    }
                    let _ = done.send((name, result));
                })
                .map_err(|e| JobError::io("starting a task thread", e))?;
            handles.push(handle);
        }
        drop(done_tx);
        drop(events_tx);
        control.update(|s| {
            if s.state == JobState::Starting {
                s.state = JobState::Running;
            }
        });
        if let Some(on_start) = &config.on_start {
            (on_start.0)(control.clone());
        }

        // Wait for every task; the first failure cancels the others.
        let mut first_error: Option<JobError> = None;
        let mut stop_requested = false;
        for _ in 0..handles.len() {
            let Ok((name, result)) = done_rx.recv() else { break };
            if let Err(e) = result {
                if first_error.is_none() {
                    if !matches!(e, JobError::Cancelled) {
                        warn!(task = %name, error = %e, "task failed; cancelling the job");
                    }
                    stop_requested = stop.swap(true, Ordering::Relaxed);
                    for (_, tx, _) in &controls {
                        let _ = tx.send(Control::Cancel);
                    }
                    first_error = Some(e);
                } else if matches!(first_error, Some(JobError::Cancelled)) && !matches!(e, JobError::Cancelled) {
                    first_error = Some(e);
                }
            }
        }
        for h in handles {
            let _ = h.join();
        }
        drop(controls);
        let checkpoints = match coordinator {
            Some(h) => match h.join() {
                Ok(Ok(summary)) => summary,
                Ok(Err(e)) => {
                    if matches!(first_error, None | Some(JobError::Cancelled)) {
                        first_error = Some(e);
                    }
                    CheckpointSummary::default()
                }
                Err(_) => CheckpointSummary::default(),
            },
            None => CheckpointSummary::default(),
        };
        // Uploads of aborted checkpoints may still be running, and may write after
        // the abort removed what they had written so far.
        block_on(runtime.handle(), uploads.wait());
        if let Some(storage) = storage {
            if let Err(e) = block_on(runtime.handle(), leftovers::remove_leftovers(storage)) {
                warn!(error = %e, "removing what aborted checkpoints left behind failed; the next start removes it");
            }
        }
        if let Some(error) = first_error {
            return Err(Failure::Task { error, stop_requested });
        }
        control.update(|s| s.state = JobState::Finished);
        Ok(JobResult {
            duration: started.elapsed(),
            counters: counters.snapshot(),
            checkpoints,
            restored_from,
            restore_time,
            restore_fetch,
        })
    }
}
