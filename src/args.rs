//! `JobArgs`: the flags every job binary understands (DESIGN section 5).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use weir_runtime::{CheckpointConfig, JobConfig, RestartStrategy, RestoreFrom};
use weir_state::BackendKind;

use crate::{parse_duration, parse_size, Error};

fn default_parallelism() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse()
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not a boolean (true or false)")),
    }
}

/// Checks that `addr` reads `HOST:PORT` (an IP address, `[v6]` or a name,
/// and a port number); whether it can be bound is found out when the job starts.
///
/// ```
/// use weir::check_control_addr;
/// assert!(check_control_addr("127.0.0.1:0").is_ok());
/// assert!(check_control_addr("[::1]:9249").is_ok());
/// assert!(check_control_addr("localhost:9249").is_ok());
/// assert!(check_control_addr("127.0.0.1").is_err());
/// assert!(check_control_addr(":9249").is_err());
/// assert!(check_control_addr("127.0.0.1:http").is_err());
/// ```
pub fn check_control_addr(addr: &str) -> Result<(), String> {
    let bad = || Err(format!("--control-addr '{addr}' is not HOST:PORT (e.g. 127.0.0.1:0 to pick a free port)"));
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    match addr.rsplit_once(':') {
        Some((host, port))
            if port.parse::<u16>().is_ok()
                && !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
        {
            Ok(())
        }
        _ => bad(),
    }
}

/// Who owns the files of the checkpoint a job restores from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RestoreMode {
    /// The job never references or deletes the restored checkpoint's files.
    NoClaim,
    /// The job takes the restored checkpoint over and deletes it once subsumed.
    Claim,
}

/// The flags every job binary parses; flatten them into the job's own
/// arguments with `#[command(flatten)]`.
///
/// ```
/// use clap::Parser;
/// use weir::JobArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     job: JobArgs,
/// }
/// let cli = Cli::parse_from(["job", "--parallelism", "2", "--checkpoint-dir", "/tmp/chk", "--checkpoint-interval", "500ms"]);
/// let config = cli.job.to_config("job").unwrap();
/// assert_eq!(config.parallelism, 2);
/// assert_eq!(config.checkpoint.unwrap().interval.as_millis(), 500);
/// ```
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Instances of each operator [default: number of cores]
    #[arg(long, value_name = "N")]
    pub parallelism: Option<u32>,

    /// Key groups: the most instances keyed state can ever be split into; fixed for the life of the job's state
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_parallelism: u32,

    /// Keyed-state backend: hashmap (memory) or rocksdb (local disk)
    #[arg(long, value_name = "hashmap|rocksdb", default_value = "hashmap", value_parser = parse_backend)]
    pub state_backend: BackendKind,

    /// Local working directory for state and staging [default: a directory under the system temp dir]
    #[arg(long, value_name = "PATH")]
    pub state_dir: Option<PathBuf>,

    /// Where checkpoints go: a path, file:///path or s3://bucket/prefix; no checkpoints without it
    #[arg(long, value_name = "URL")]
    pub checkpoint_dir: Option<String>,

    /// Time between checkpoints, e.g. 500ms, 10s, 1m
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,

    /// A checkpoint not complete after this long is aborted (the job keeps running)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub checkpoint_timeout: Duration,

    /// Incremental checkpoints (RocksDB; the hashmap backend always writes its whole state)
    #[arg(long, value_name = "BOOL", default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub incremental: bool,

    /// Completed checkpoints kept; older ones are deleted
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retained_checkpoints: usize,

    /// Restore from a checkpoint or savepoint directory, or `latest`: the newest complete checkpoint under --checkpoint-dir (none there: start fresh)
    #[arg(long, value_name = "PATH|latest")]
    pub from_checkpoint: Option<String>,

    /// Where savepoints go when a request names no directory; requests may only name directories under it
    #[arg(long, value_name = "URL")]
    pub savepoint_dir: Option<String>,

    /// Savepoint requests may name any directory, not only ones under --savepoint-dir
    #[arg(long)]
    pub savepoint_dirs_anywhere: bool,

    /// Checkpoints in flight at once
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub max_concurrent_checkpoints: usize,

    /// RocksDB block cache and write buffers for the whole process, e.g. 512MB
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub state_memory: u64,

    /// Who owns the restored checkpoint's files [default: no-claim]
    #[arg(long, value_name = "MODE", value_enum)]
    pub restore_mode: Option<RestoreMode>,

    /// Accept a checkpoint holding state of operators the job no longer has
    #[arg(long)]
    pub allow_non_restored_state: bool,

    /// HTTP control and metrics endpoint [default: off]; 127.0.0.1:0 picks a free port (logged)
    #[arg(long, value_name = "HOST:PORT")]
    pub control_addr: Option<String>,

    /// After a task fails: none, fixed-delay or exponential-delay restarts from the newest checkpoint [default: exponential-delay with --checkpoint-dir, none without]
    #[arg(long, value_name = "none|fixed-delay|exponential-delay", value_parser = ["none", "fixed-delay", "exponential-delay"])]
    pub restart_strategy: Option<String>,

    /// Restarts before the job gives up and exits non-zero
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub restart_attempts: u32,

    /// Wait before a restart (fixed-delay), or before the first (exponential-delay, doubling after each)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub restart_delay: Duration,

    /// The longest wait of exponential-delay
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub restart_max_delay: Duration,

    /// File holding the control endpoint's token [default: generated, written to <checkpoint-dir>/_control_token or <state-dir>/_control_token]; needed beyond loopback
    #[arg(long, value_name = "PATH")]
    pub control_token_file: Option<PathBuf>,
}

impl JobArgs {
    /// Checks the flags together and turns them into a job configuration.
    pub fn to_config(&self, job_name: &str) -> Result<JobConfig, Error> {
        let bad = |m: String| Err(Error::Args(m));
        let parallelism = self.parallelism.unwrap_or_else(default_parallelism);
        if self.max_parallelism == 0 || self.max_parallelism > 32_768 {
            return bad(format!("--max-parallelism {} must be between 1 and 32768", self.max_parallelism));
        }
        if parallelism == 0 || parallelism > self.max_parallelism {
            return bad(format!("--parallelism {parallelism} must be between 1 and --max-parallelism ({})", self.max_parallelism));
        }
        if self.retained_checkpoints == 0 {
            return bad("--retained-checkpoints must be at least 1".into());
        }
        if self.max_concurrent_checkpoints == 0 {
            return bad("--max-concurrent-checkpoints must be at least 1".into());
        }
        if self.checkpoint_interval < Duration::from_millis(10) {
            return bad(format!("--checkpoint-interval {:?} is too short (10ms at least)", self.checkpoint_interval));
        }
        if let Some(addr) = &self.control_addr {
            check_control_addr(addr).map_err(Error::Args)?;
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(host, _)| host);
            if !weir_runtime::is_loopback_host(host) && self.control_token_file.is_none() {
                return bad(format!(
                    "--control-addr {addr} listens beyond this machine: give --control-token-file PATH too \
                     (a file holding the token that every request must then carry), or listen on 127.0.0.1"
                ));
            }
        }
        let restart = match self.restart_strategy.as_deref() {
            None => None,
            Some("none") => Some(RestartStrategy::None),
            Some("fixed-delay") => Some(RestartStrategy::FixedDelay { attempts: self.restart_attempts, delay: self.restart_delay }),
            Some(_) => {
                if self.restart_max_delay < self.restart_delay {
                    return bad(format!(
                        "--restart-max-delay {:?} is shorter than --restart-delay {:?}",
                        self.restart_max_delay, self.restart_delay
                    ));
                }
                Some(RestartStrategy::ExponentialDelay {
                    attempts: self.restart_attempts,
                    initial: self.restart_delay,
                    max: self.restart_max_delay,
                })
            }
        };
        let restart = match (restart, self.checkpoint_dir.is_some()) {
            // The defaults, with the attempts and delays given.
            (None, true) => Some(RestartStrategy::ExponentialDelay {
                attempts: self.restart_attempts,
                initial: self.restart_delay,
                max: self.restart_max_delay.max(self.restart_delay),
            }),
            (r, _) => r,
        };
        let claim_restored = self.restore_mode == Some(RestoreMode::Claim);
        if claim_restored && (self.from_checkpoint.is_none() || self.checkpoint_dir.is_none()) {
            return bad("--restore-mode claim needs --from-checkpoint (what to take over) and --checkpoint-dir (where the job's own checkpoints replace it)".into());
        }
        let restore = match self.from_checkpoint.as_deref() {
            None => None,
            Some("latest") => {
                if self.checkpoint_dir.is_none() {
                    return bad("--from-checkpoint latest needs --checkpoint-dir (the directory to look in)".into());
                }
                Some(RestoreFrom::Latest)
            }
            Some("") => return bad("--from-checkpoint needs a path or `latest`".into()),
            Some(path) => Some(RestoreFrom::Path(path.to_string())),
        };
        // Without --state-dir the job works in a directory of its own and removes it at the end.
        let remove_state_dir = self.state_dir.is_none();
        let state_dir =
            self.state_dir.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("weir-{}-{}", job_name, std::process::id())));
        Ok(JobConfig {
            job_name: job_name.to_string(),
            parallelism,
            max_parallelism: self.max_parallelism,
            backend: self.state_backend,
            state_dir,
            remove_state_dir,
            state_memory: self.state_memory,
            checkpoint: self.checkpoint_dir.as_ref().map(|location| CheckpointConfig {
                location: location.clone(),
                interval: self.checkpoint_interval,
                timeout: self.checkpoint_timeout,
                retained: self.retained_checkpoints,
                max_concurrent: self.max_concurrent_checkpoints,
                incremental: self.incremental,
            }),
            restore,
            allow_non_restored_state: self.allow_non_restored_state,
            claim_restored,
            handle_signals: true,
            control_addr: self.control_addr.clone(),
            savepoint_dir: self.savepoint_dir.clone(),
            savepoint_dirs_anywhere: self.savepoint_dirs_anywhere,
            control_token_file: self.control_token_file.clone(),
            on_start: None,
            restart,
        })
    }
}
