//! A job's run-time settings.

use std::path::PathBuf;
use std::time::Duration;

use weir_state::BackendKind;

/// Where to restore from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreFrom {
    /// The newest complete checkpoint in the job's checkpoint directory.
    Latest,
    /// A checkpoint or savepoint directory.
    Path(String),
}

/// Checkpoint settings.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// Where checkpoints go: a path, `file://...` or `s3://...`.
    pub location: String,
    /// Time between two triggers.
    pub interval: Duration,
    /// A checkpoint not complete after this long is aborted.
    pub timeout: Duration,
    /// Completed checkpoints kept.
    pub retained: usize,
    /// Checkpoints in flight at once.
    pub max_concurrent: usize,
    /// Reference shared files of the last confirmed checkpoint instead of uploading them again.
    pub incremental: bool,
}

/// A job's settings.
///
/// ```
/// use weir_runtime::JobConfig;
/// let c = JobConfig::new("test").with_parallelism(2);
/// assert_eq!(c.parallelism, 2);
/// ```
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// The job's name (written into checkpoints).
    pub job_name: String,
    /// Instances of each operator.
    pub parallelism: u32,
    /// Key groups.
    pub max_parallelism: u32,
    /// Keyed-state backend.
    pub backend: BackendKind,
    /// Local working directory.
    pub state_dir: PathBuf,
    /// Remove `state_dir` when the job ends (it is a temporary directory of this run).
    pub remove_state_dir: bool,
    /// RocksDB block cache and write buffers for the whole process, in bytes.
    pub state_memory: u64,
    /// Checkpoints, if any.
    pub checkpoint: Option<CheckpointConfig>,
    /// Restore source, if any.
    pub restore: Option<RestoreFrom>,
    /// Accept checkpointed state of operators the job no longer has.
    pub allow_non_restored_state: bool,
    /// `--restore-mode claim`: take the restored checkpoint over and delete
    /// it once the job's own first checkpoint is complete.
    pub claim_restored: bool,
    /// Stop gracefully on SIGINT and SIGTERM.
    pub handle_signals: bool,
    /// Serve the control endpoint on this `HOST:PORT` (`127.0.0.1:0` picks a port).
    pub control_addr: Option<String>,
    /// Where savepoints go when a request names no directory, and the root
    /// that requests naming one must stay under.
    pub savepoint_dir: Option<String>,
    /// Savepoint requests may name any directory, not only ones under `savepoint_dir`.
    pub savepoint_dirs_anywhere: bool,
    /// The file holding the control endpoint's token; without it a token is
    /// generated and written next to the checkpoint directory's lock (or in
    /// the state directory). Needed to listen beyond loopback.
    pub control_token_file: Option<std::path::PathBuf>,
    /// Called with the job's handle once its tasks run (to embed a job in a
    /// program that checkpoints, takes savepoints or stops it).
    pub on_start: Option<OnStart>,
    /// What to do when a task fails; `None`: [`RestartStrategy::default_for`]
    /// whether the job checkpoints.
    pub restart: Option<crate::RestartStrategy>,
}

/// A callback that receives a running job's [`JobControl`](crate::JobControl).
#[derive(Clone)]
pub struct OnStart(pub std::sync::Arc<dyn Fn(crate::JobControl) + Send + Sync>);

impl std::fmt::Debug for OnStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnStart(..)")
    }
}

impl JobConfig {
    /// Defaults: parallelism 1, 128 key groups, hashmap backend, no checkpoints.
    pub fn new(job_name: &str) -> Self {
        JobConfig {
            job_name: job_name.to_string(),
            parallelism: 1,
            max_parallelism: 128,
            backend: BackendKind::HashMap,
            state_dir: std::env::temp_dir().join(format!("weir-{}-{}", job_name, std::process::id())),
            state_memory: 512 << 20,
            remove_state_dir: true,
            checkpoint: None,
            restore: None,
            allow_non_restored_state: false,
            claim_restored: false,
            control_addr: None,
            savepoint_dir: None,
            savepoint_dirs_anywhere: false,
            control_token_file: None,
            on_start: None,
            restart: None,
            handle_signals: false,
        }
    }
    /// Sets the parallelism.
    pub fn with_parallelism(mut self, p: u32) -> Self {
        self.parallelism = p;
        self
    }
    /// Turns checkpoints on.
    pub fn with_checkpoints(mut self, location: &str, interval: Duration) -> Self {
        self.checkpoint = Some(CheckpointConfig {
            location: location.to_string(),
            interval,
            timeout: Duration::from_secs(600),
            retained: 2,
            max_concurrent: 1,
            incremental: true,
        });
        self
    }
    /// Works in `dir` (and keeps it when the job ends, for local recovery).
    pub fn with_state_dir(mut self, dir: &std::path::Path) -> Self {
        self.state_dir = dir.to_path_buf();
        self.remove_state_dir = false;
        self
    }
    /// Restarts failed tasks as `strategy` says.
    pub fn with_restart(mut self, strategy: crate::RestartStrategy) -> Self {
        self.restart = Some(strategy);
        self
    }
    /// The restart strategy in force.
    pub fn restart_strategy(&self) -> crate::RestartStrategy {
        self.restart.unwrap_or_else(|| crate::RestartStrategy::default_for(self.checkpoint.is_some()))
    }
    /// Restores from `from`.
    pub fn with_restore(mut self, from: RestoreFrom) -> Self {
        self.restore = Some(from);
        self
    }
}
