//! Who writes into a checkpoint directory: the lock file `<checkpoint-dir>/_job_lock`.
//!
//! # The convention
//!
//! - A job that writes checkpoints into a directory calls [`JobLock::acquire`]
//!   before its first checkpoint and [`JobLock::release`] after its last one,
//!   at a clean end. `weir checkpoints gc` holds the same lock while it deletes.
//! - The lock file is a small JSON document ([`LockInfo`]):
//!   `{"pid": 4242, "hostname": "worker-1", "start_time_ms": 1700000000000, "job_name": "windowed-count"}`.
//! - A lock is **live** when it was written on this host and its `pid` is
//!   running (Linux: `/proc/<pid>` exists). A lock from another host, or read
//!   where `/proc` is missing, cannot be checked and counts as live too.
//! - A lock is **stale** when it was written on this host and its `pid` is
//!   gone (the job crashed or was killed), or when the file is not a lock
//!   document at all. [`JobLock::acquire`] replaces a stale lock; `gc`
//!   proceeds past one only when asked to (`force_stale`).
//! - A lock carrying the pid of the calling process, but not taken by it (a
//!   restarted container where the job is pid 1 again), is stale *for
//!   [`JobLock::acquire`]*; any other process sees it as live.
//! - A crash leaves the lock behind; that is what makes it stale rather than
//!   absent. To override a live-looking lock (e.g. from a host that is gone),
//!   delete the file by hand.
//!
//! Taking a free lock is atomic where the store supports conditional puts
//! (the local file system, memory, S3). Replacing a stale one is a delete and
//! a conditional put, followed by reading the lock back; two processes that
//! replace the same stale lock at the same instant may, rarely, both succeed.
//!
//! # Example
//!
//! ```
//! use weir_checkpoint::{CheckpointStorage, JobLock, LockStatus};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! # rt.block_on(async {
//! let storage = CheckpointStorage::in_memory();
//! let lock = JobLock::acquire(&storage, "windowed-count").await?;
//! assert!(matches!(JobLock::inspect(&storage).await?, LockStatus::Live { .. }));
//! // A second job cannot take the directory.
//! assert!(JobLock::acquire(&storage, "other-job").await.is_err());
//! lock.release().await?;
//! assert_eq!(JobLock::inspect(&storage).await?, LockStatus::Free);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::CheckpointError;
use crate::storage::CheckpointStorage;

/// Name of the lock file, directly under the checkpoint directory.
pub const JOB_LOCK_FILE: &str = "_job_lock";

/// How often [`JobLock::acquire`] retries when the lock changes under it.
const ATTEMPTS: usize = 3;

/// The locks this process holds, to tell them from the leftovers of an
/// earlier process that had the same pid (they differ in start time).
static HELD: Mutex<Vec<LockInfo>> = Mutex::new(Vec::new());

/// The content of a lock file: who writes into the checkpoint directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the machine the holder runs on.
    pub hostname: String,
    /// When the holder took the lock, ms since the Unix epoch.
    pub start_time_ms: u64,
    /// Name of the job (or tool) holding the lock.
    pub job_name: String,
}

impl LockInfo {
    /// A lock for `job_name` held by the calling process, from now on.
    pub fn current(job_name: &str) -> Self {
        LockInfo { pid: std::process::id(), hostname: this_host(), start_time_ms: crate::utc::now_ms(), job_name: job_name.to_string() }
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {:?} (pid {} on {}, since {})", self.job_name, self.pid, self.hostname, crate::utc::format_ms(self.start_time_ms))
    }
}

/// What [`JobLock::inspect`] finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LockStatus {
    /// No lock file.
    Free,
    /// Held by a process that runs on this host.
    Live {
        /// The lock.
        holder: LockInfo,
    },
    /// Written on another host (or where liveness cannot be checked); treated as live.
    Unverifiable {
        /// The lock.
        holder: LockInfo,
    },
    /// Written on this host by a process that no longer runs.
    Stale {
        /// The lock.
        holder: LockInfo,
    },
    /// The file exists but is not a lock document; treated as stale.
    Unreadable {
        /// Why it cannot be read.
        reason: String,
    },
}

impl LockStatus {
    /// Whether a job may be writing into the directory (live or unverifiable).
    pub fn is_live(&self) -> bool {
        matches!(self, LockStatus::Live { .. } | LockStatus::Unverifiable { .. })
    }

    /// Whether the lock was left behind (stale or unreadable).
    pub fn is_stale(&self) -> bool {
        matches!(self, LockStatus::Stale { .. } | LockStatus::Unreadable { .. })
    }

    /// Who holds or left the lock, for messages; `None` when free.
    pub fn describe_holder(&self) -> Option<String> {
        match self {
            LockStatus::Free => None,
            LockStatus::Live { holder } => Some(holder.to_string()),
            LockStatus::Unverifiable { holder } => Some(format!("{holder}, on a host where this process cannot check it")),
            LockStatus::Stale { holder } => Some(format!("{holder}, which no longer runs")),
            LockStatus::Unreadable { reason } => Some(format!("an unreadable lock file ({reason})")),
        }
    }
}

/// The lock of a checkpoint directory, held by this process until
/// [`JobLock::release`] (see the [module documentation](self) for the convention).
///
/// Dropping it without `release` leaves the lock file behind, as a crash
/// would: it turns stale when the process exits.
#[derive(Debug)]
pub struct JobLock {
    storage: CheckpointStorage,
    info: LockInfo,
}

impl JobLock {
    /// Takes the lock of `storage`'s directory for `job_name`, replacing a stale one.
    ///
    /// Fails with [`CheckpointError::LockHeld`] when another process (or
    /// another `JobLock` of this process) holds a live lock.
    pub async fn acquire(storage: &CheckpointStorage, job_name: &str) -> Result<JobLock, CheckpointError> {
        let info = LockInfo::current(job_name);
        let bytes = Bytes::from(serde_json::to_vec_pretty(&info).map_err(|e| lock_error(storage, &e.to_string()))?);
        let path = storage.describe(JOB_LOCK_FILE);
        for _ in 0..ATTEMPTS {
            if storage.put_if_absent(JOB_LOCK_FILE, bytes.clone()).await? {
                if read_lock(storage).await? != LockRead::Lock(info.clone()) {
                    continue; // Replaced by a concurrent acquire of a stale lock.
                }
                held().push(info.clone());
                return Ok(JobLock { storage: storage.clone(), info });
            }
            let status = Self::inspect(storage).await?;
            let held_here = match &status {
                LockStatus::Live { holder } => held().contains(holder),
                _ => false,
            };
            match decide(&status, &info, held_here) {
                Decision::Take => {}
                Decision::Replace => storage.delete(JOB_LOCK_FILE).await?,
                Decision::Refuse(holder) => return Err(CheckpointError::LockHeld { path, holder }),
            }
        }
        Err(CheckpointError::LockHeld { path, holder: "another process that keeps replacing it".into() })
    }

    /// Removes the lock file, if it is still this lock (a lock someone else
    /// wrote in the meantime stays).
    pub async fn release(self) -> Result<(), CheckpointError> {
        if read_lock(&self.storage).await? == LockRead::Lock(self.info.clone()) {
            self.storage.delete(JOB_LOCK_FILE).await?;
        } else {
            tracing::warn!(path = %self.storage.describe(JOB_LOCK_FILE), "the lock was replaced by another process; leaving it");
        }
        Ok(())
    }

    /// Reads and classifies the lock of `storage`'s directory.
    pub async fn inspect(storage: &CheckpointStorage) -> Result<LockStatus, CheckpointError> {
        Ok(match read_lock(storage).await? {
            LockRead::Absent => LockStatus::Free,
            LockRead::Unreadable(reason) => LockStatus::Unreadable { reason },
            LockRead::Lock(holder) => classify(holder, &this_host(), pid_alive),
        })
    }

    /// The lock as written.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let mut held = held();
        if let Some(i) = held.iter().position(|h| *h == self.info) {
            held.swap_remove(i);
        }
    }
}

fn held() -> std::sync::MutexGuard<'static, Vec<LockInfo>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock_error(storage: &CheckpointStorage, reason: &str) -> CheckpointError {
    CheckpointError::InvalidPath { path: storage.describe(JOB_LOCK_FILE), reason: reason.to_string() }
}

#[derive(Debug, PartialEq, Eq)]
enum LockRead {
    Absent,
    Unreadable(String),
    Lock(LockInfo),
}

async fn read_lock(storage: &CheckpointStorage) -> Result<LockRead, CheckpointError> {
    match storage.get(JOB_LOCK_FILE).await {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(info) => LockRead::Lock(info),
            Err(e) => LockRead::Unreadable(e.to_string()),
        }),
        Err(CheckpointError::Missing { .. }) => Ok(LockRead::Absent),
        Err(e) => Err(e),
    }
}

/// Live, stale or unverifiable: `pid_alive` answers `None` where it cannot tell.
fn classify(holder: LockInfo, this_host: &str, pid_alive: impl Fn(u32) -> Option<bool>) -> LockStatus {
    if holder.hostname != this_host {
        return LockStatus::Unverifiable { holder };
    }
    match pid_alive(holder.pid) {
        Some(true) => LockStatus::Live { holder },
        Some(false) => LockStatus::Stale { holder },
        None => LockStatus::Unverifiable { holder },
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Gone meanwhile: try to take it again.
    Take,
    /// Stale: delete it, then take it.
    Replace,
    /// Live: refuse, naming the holder.
    Refuse(String),
}

/// What `me` (about to acquire) does about the lock found; `held_here` says
/// whether the lock found is one this process holds (a live [`JobLock`]).
fn decide(status: &LockStatus, me: &LockInfo, held_here: bool) -> Decision {
    match status {
        LockStatus::Free => Decision::Take,
        LockStatus::Stale { .. } | LockStatus::Unreadable { .. } => Decision::Replace,
        LockStatus::Live { holder } if holder.pid == me.pid && holder.hostname == me.hostname && !held_here => Decision::Replace,
        live => Decision::Refuse(live.describe_holder().unwrap_or_default()),
    }
}

/// Whether process `pid` runs on this host; `None` without `/proc`.
fn pid_alive(pid: u32) -> Option<bool> {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// This machine's host name (Linux: the kernel's; else `$HOSTNAME`; else `unknown`).
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(pid: u32, host: &str) -> LockInfo {
        LockInfo { pid, hostname: host.into(), start_time_ms: 0, job_name: "job".into() }
    }

    #[test]
    fn classifies() {
        let alive = |pid: u32| Some(pid == 1);
        assert_eq!(classify(lock(1, "h"), "h", alive), LockStatus::Live { holder: lock(1, "h") });
        assert_eq!(classify(lock(2, "h"), "h", alive), LockStatus::Stale { holder: lock(2, "h") });
        assert_eq!(classify(lock(2, "other"), "h", alive), LockStatus::Unverifiable { holder: lock(2, "other") });
        assert_eq!(classify(lock(1, "h"), "h", |_| None), LockStatus::Unverifiable { holder: lock(1, "h") });
    }

    #[test]
    fn decides() {
        let me = lock(7, "h");
        assert_eq!(decide(&LockStatus::Free, &me, false), Decision::Take);
        assert_eq!(decide(&LockStatus::Stale { holder: lock(8, "h") }, &me, false), Decision::Replace);
        assert_eq!(decide(&LockStatus::Unreadable { reason: "x".into() }, &me, false), Decision::Replace);
        // Our pid, but not our lock: an earlier process with the same pid.
        assert_eq!(decide(&LockStatus::Live { holder: lock(7, "h") }, &me, false), Decision::Replace);
        assert!(matches!(decide(&LockStatus::Live { holder: lock(7, "h") }, &me, true), Decision::Refuse(_)));
        assert!(matches!(decide(&LockStatus::Live { holder: lock(8, "h") }, &me, false), Decision::Refuse(_)));
        assert!(matches!(decide(&LockStatus::Unverifiable { holder: lock(7, "other") }, &me, false), Decision::Refuse(_)));
    }

    #[test]
    fn this_process_is_alive() {
        if std::path::Path::new("/proc/self").exists() {
            assert_eq!(pid_alive(std::process::id()), Some(true));
        }
        assert!(!this_host().is_empty());
    }

    #[test]
    fn describes_holders() {
        let text = LockStatus::Stale { holder: lock(8, "h") }.describe_holder().unwrap_or_default();
        assert_eq!(text, "job \"job\" (pid 8 on h, since 1970-01-01T00:00:00.000Z), which no longer runs");
    }
}
