//! `weir`: the administration tool of weir's checkpoint directories and
//! running jobs.
//!
//! ```text
//! weir checkpoints list DIR [--json]
//! weir checkpoints inspect PATH [--json]
//! weir checkpoints verify PATH [--json]
//! weir checkpoints gc DIR [--dry-run] [--force-stale] [--json]
//! weir checkpoints promote PATH DEST [--json]
//! weir savepoint --job URL [--dir DIR] [--native] [--stop] [--timeout DURATION] [--json]
//! ```
//!
//! `DIR` is a job's checkpoint directory, `PATH` one checkpoint or savepoint
//! in it (`.../chk-7`), `DEST` where a promoted copy goes; each a path, a
//! `file://` URL or (with the `s3` feature) an `s3://` URL. `URL` is a running
//! job's control endpoint (`--control-addr`), `http://HOST:PORT`. Exit codes:
//! 0 on success, 1 when the command fails (or `verify` finds a problem), 2 for
//! bad usage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use weir::client::{read_token_file, ControlClient};
use weir_checkpoint::tools::{self, CheckpointSummary, GcOptions};
use weir_checkpoint::{open_checkpoint, CheckpointError, CheckpointLocation, CheckpointStorage, JobLock, LockStatus, METADATA_FILE};

/// Administers weir's checkpoint directories.
#[derive(Debug, Parser)]
#[command(name = "weir", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, inspect, verify, garbage-collect and promote checkpoints
    #[command(subcommand)]
    Checkpoints(Checkpoints),
    /// Take a savepoint of a running job through its control endpoint (--control-addr) and print its path
    Savepoint {
        /// The job's control endpoint, http://HOST:PORT
        #[arg(long, value_name = "URL")]
        job: String,
        /// Where the savepoint goes (a new directory under it) [default: the job's --savepoint-dir]
        #[arg(long, value_name = "DIR")]
        dir: Option<String>,
        /// The backend's own format (restores into the same backend) instead of the canonical one
        #[arg(long)]
        native: bool,
        /// Stop the job: its sources stop, the savepoint is taken, then its final checkpoint, and it exits
        #[arg(long)]
        stop: bool,
        /// Give up waiting for the savepoint after this long
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = weir::parse_duration)]
        timeout: std::time::Duration,
        /// Print the savepoint's whole record as JSON instead of its path
        #[arg(long)]
        json: bool,
        /// The job's control token file (its --control-token-file, or the file it logs at start)
        #[arg(long, value_name = "PATH", conflicts_with = "checkpoint_dir")]
        token_file: Option<PathBuf>,
        /// The job's local --checkpoint-dir, to read the token it wrote there (`_control_token`)
        #[arg(long, value_name = "DIR")]
        checkpoint_dir: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Checkpoints {
    /// Every checkpoint in a checkpoint directory: id, trigger time (UTC), complete or not, full and incremental size
    List {
        /// The job's checkpoint directory: a path, file:// or s3:// URL
        dir: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// What one checkpoint holds: operators, key groups, every file with its size, checksum and the checkpoint that wrote it
    Inspect {
        /// A checkpoint or savepoint directory (`.../chk-7`) or its `_metadata`
        path: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Check that every file of a checkpoint is there with its recorded size and checksum; exits 1 on any problem
    Verify {
        /// A checkpoint or savepoint directory (`.../chk-7`) or its `_metadata`
        path: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Delete what no complete checkpoint references: incomplete checkpoints, orphaned shared files
    Gc {
        /// The job's checkpoint directory: a path, file:// or s3:// URL
        dir: String,
        /// Only say what would be deleted
        #[arg(long)]
        dry_run: bool,
        /// Proceed past a lock left by a job that no longer runs (a live job's lock always stops gc)
        #[arg(long)]
        force_stale: bool,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Copy a checkpoint with exactly the files it references into DEST, a self-contained savepoint
    Promote {
        /// A checkpoint directory (`.../chk-7`) or its `_metadata`
        path: String,
        /// The destination directory (created; must not hold a `_metadata` yet)
        dest: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

/// A failure, as printed on stderr.
type Failure = String;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let cli = Cli::parse(); // Bad usage exits 2.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the I/O runtime: {e}")),
    };
    let command = match cli.command {
        Command::Checkpoints(command) => command,
        Command::Savepoint { job, dir, native, stop, timeout, json, token_file, checkpoint_dir } => {
            let request = SavepointRequest { dir, native, stop, timeout, json };
            return savepoint(&job, token_file, checkpoint_dir, request);
        }
    };
    match runtime.block_on(run(command)) {
        Ok(code) => code,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("weir: error: {message}");
    ExitCode::FAILURE
}

async fn run(command: Checkpoints) -> Result<ExitCode, Failure> {
    match command {
        Checkpoints::List { dir, json } => {
            let storage = open_dir(&dir)?;
            let report = ListReport {
                location: storage.describe(""),
                lock: JobLock::inspect(&storage).await.map_err(|e| e.to_string())?,
                checkpoints: tools::list(&storage).await.map_err(|e| e.to_string())?,
            };
            if !json && report.checkpoints.is_empty() && storage.exists(METADATA_FILE).await.unwrap_or(false) {
                eprintln!("weir: note: {} is one checkpoint, not a checkpoint directory; see `weir checkpoints inspect`", report.location);
            }
            print(&report, json, list_text)
        }
        Checkpoints::Inspect { path, json } => {
            let (storage, dir) = open_checkpoint(&path).map_err(|e| e.to_string())?;
            let report = tools::inspect(&storage, &dir).await.map_err(|e| e.to_string())?;
            print(&report, json, ToString::to_string)
        }
        Checkpoints::Verify { path, json } => {
            let (storage, dir) = open_checkpoint(&path).map_err(|e| e.to_string())?;
            let report = tools::verify(&storage, &dir).await.map_err(|e| e.to_string())?;
            print(&report, json, ToString::to_string)?;
            if report.is_ok() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(format!("{} is broken: {} problem(s)", report.location, report.problems.len()))
            }
        }
        Checkpoints::Gc { dir, dry_run, force_stale, json } => {
            let storage = open_dir(&dir)?;
            let report = tools::gc(&storage, GcOptions { dry_run, force_stale }).await.map_err(|e| match e {
                e @ (CheckpointError::LockHeld { .. } | CheckpointError::StaleLock { .. }) => format!("not collecting garbage: {e}"),
                e => e.to_string(),
            })?;
            print(&report, json, ToString::to_string)
        }
        Checkpoints::Promote { path, dest, json } => {
            let (src, dir) = open_checkpoint(&path).map_err(|e| e.to_string())?;
            let dest = CheckpointStorage::open(&dest).map_err(|e| e.to_string())?;
            let report = tools::promote(&src, &dir, &dest).await.map_err(|e| e.to_string())?;
            print(&report, json, ToString::to_string)
        }
    }
}

/// What `weir savepoint` asks for.
struct SavepointRequest {
    dir: Option<String>,
    native: bool,
    stop: bool,
    timeout: std::time::Duration,
    json: bool,
}

/// The token `weir savepoint` sends: from `--token-file`, or from the
/// `_control_token` a job wrote into its local `--checkpoint-dir`.
fn control_token(token_file: Option<PathBuf>, checkpoint_dir: Option<String>) -> Result<String, (u8, String)> {
    let file = match (token_file, checkpoint_dir) {
        (Some(file), _) => file,
        (None, Some(dir)) => match CheckpointLocation::parse(&dir) {
            Ok(CheckpointLocation::Local { dir, .. }) => dir.join(weir_runtime::CONTROL_TOKEN_FILE),
            Ok(_) => {
                return Err((
                    2,
                    format!("--checkpoint-dir {dir} is not local: its job keeps its token in its state directory; give --token-file"),
                ))
            }
            Err(e) => return Err((2, format!("--checkpoint-dir: {e}"))),
        },
        (None, None) => {
            return Err((
                2,
                "the job's control token is needed: give --token-file PATH (the file the job logs at start) \
                 or --checkpoint-dir DIR (the job's local checkpoint directory, where it writes _control_token)"
                    .to_string(),
            ))
        }
    };
    read_token_file(&file).map_err(|e| (1, e.to_string()))
}

/// `weir savepoint`: asks the job at `job` for a savepoint (and with `stop`
/// to stop with it), waits for it and prints its path.
fn savepoint(job: &str, token_file: Option<PathBuf>, checkpoint_dir: Option<String>, request: SavepointRequest) -> ExitCode {
    let SavepointRequest { dir, native, stop, timeout, json } = request;
    let client = match ControlClient::new(job) {
        Ok(c) => c.with_timeout(timeout),
        Err(e) => {
            eprintln!("weir: error: --job {e}");
            return ExitCode::from(2);
        }
    };
    let client = match control_token(token_file, checkpoint_dir) {
        Ok(token) => client.with_token(token),
        Err((code, message)) => {
            eprintln!("weir: error: {message}");
            return ExitCode::from(code);
        }
    };
    // A relative directory means one under this directory, not under the job's.
    let dir = match dir {
        Some(d) if d.trim().is_empty() => {
            eprintln!("weir: error: --dir is empty");
            return ExitCode::from(2);
        }
        Some(d) if !d.contains("://") && std::path::Path::new(&d).is_relative() => match std::env::current_dir() {
            Ok(cwd) => Some(cwd.join(d).to_string_lossy().into_owned()),
            Err(e) => return fail(&format!("cannot resolve --dir {d}: {e}")),
        },
        d => d,
    };
    let format = if native { "native" } else { "canonical" };
    let (path, body) = match (stop, dir) {
        (false, dir) => ("/savepoints", serde_json::json!({ "dir": dir, "format": format })),
        (true, Some(dir)) => ("/stop", serde_json::json!({ "savepoint_dir": dir, "format": format })),
        (true, None) => ("/stop", serde_json::json!({ "savepoint": true, "format": format })),
    };
    let answer = match client.post(path, &body.to_string()) {
        Ok(a) => a,
        Err(e) => return fail(&e.to_string()),
    };
    if !answer.is_success() {
        return fail(&format!("the savepoint failed: {}", answer.error_message()));
    }
    let record = match answer.json() {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    let out = match (json, record["path"].as_str()) {
        (true, _) => format!("{}\n", serde_json::to_string_pretty(&record).unwrap_or_default()),
        (false, Some(p)) => format!("{p}\n"),
        (false, None) => return fail(&format!("the job's answer names no savepoint path: {record}")),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => fail(&format!("cannot write to stdout: {e}")),
        _ => ExitCode::SUCCESS,
    }
}

/// Opens an existing checkpoint directory (unlike a job, the tool never creates one).
fn open_dir(dir: &str) -> Result<CheckpointStorage, Failure> {
    let location = CheckpointLocation::parse(dir).map_err(|e| e.to_string())?;
    if let CheckpointLocation::Local { dir: path, .. } = &location {
        if !path.is_dir() {
            return Err(format!("{}: no such directory", path.display()));
        }
    }
    CheckpointStorage::open_location(&location).map_err(|e| e.to_string())
}

/// Prints `report` to stdout as JSON, or as `text` makes it. A closed pipe
/// (`weir ... | head`) ends the output quietly.
fn print<T: Serialize>(report: &T, json: bool, text: impl Fn(&T) -> String) -> Result<ExitCode, Failure> {
    let out = if json {
        let mut doc = serde_json::to_string_pretty(report).map_err(|e| format!("cannot write JSON: {e}"))?;
        doc.push('\n');
        doc
    } else {
        text(report)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write to stdout: {e}")),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// What `list` prints: the directory, who holds its lock, its checkpoints.
#[derive(Debug, Serialize)]
struct ListReport {
    location: String,
    lock: LockStatus,
    checkpoints: Vec<CheckpointSummary>,
}

fn list_text(report: &ListReport) -> String {
    let complete = report.checkpoints.iter().filter(|c| c.complete && c.problem.is_none()).count();
    let mut text = format!("{}: {} checkpoint(s), {complete} complete\n", report.location, report.checkpoints.len());
    match report.lock.describe_holder() {
        Some(holder) if report.lock.is_live() => text += &format!("  in use by {holder}\n"),
        Some(holder) => text += &format!("  stale lock: {holder}\n"),
        None => {}
    }
    for checkpoint in &report.checkpoints {
        text += &format!("{checkpoint}\n");
    }
    text
}
