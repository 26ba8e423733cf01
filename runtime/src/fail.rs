//! Fail points: deterministic crashes at named steps of the checkpoint
//! lifecycle, for recovery tests.
//!
//! With `WEIR_FAIL_POINT=<name>` in its environment, the process aborts (no
//! destructor runs, nothing is flushed: as `kill -9` would leave it) the
//! first time it reaches the step `<name>`; with `<name>:<n>`, the `n`-th
//! time. Without the variable a fail point costs one relaxed atomic load.
//!
//! | name | where |
//! | --- | --- |
//! | `task-uploaded` | a task wrote its part of a checkpoint, before it acks |
//! | `savepoint-uploaded` | a task wrote its part of a savepoint, before it acks |
//! | `metadata-written` | `_metadata` is written, before any task is notified |
//! | `sink-began` | a sink instance opened a transaction for the records after a barrier |
//! | `sink-committed` | a sink instance committed a checkpoint's transactions, before the others |
//! | `retention-deleting` | subsumed checkpoints: after the first file is deleted |
//! | `claim-deleting` | the claimed checkpoint: after its first file is deleted |
//! | `operator-batch` | an operator receives a batch (with `:error`: see below) |
//!
//! `<name>:<n>:error` makes the step fail with an error instead, once per
//! process, as a user function would (the job's restart strategy then
//! applies); only steps that can fail take it (`operator-batch`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the fail point.
pub const FAIL_POINT_VAR: &str = "WEIR_FAIL_POINT";

struct Armed {
    name: String,
    at: u64,
    error: bool,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(FAIL_POINT_VAR).ok()?;
            let mut parts = spec.split(':');
            let name = parts.next().unwrap_or_default().to_string();
            let at = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            let error = parts.next() == Some("error");
            Some(Armed { name, at: at.max(1), error, hits: AtomicU64::new(0) })
        })
        .as_ref()
}

/// Reaches the step `name`: aborts the process if the fail point is armed
/// for it and this is the hit it waits for.
pub fn point(name: &str) {
    let Some(a) = armed() else { return };
    if a.name == name && !a.error && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.at {
        eprintln!("weir: fail point {name} reached: aborting");
        std::process::abort();
    }
}

/// Reaches the step `name`, which can fail: an error the `n`-th time if the
/// fail point is armed for it with `:error` (once per process).
pub fn error_point(name: &str) -> Result<(), crate::JobError> {
    let Some(a) = armed() else { return Ok(()) };
    if a.name == name && a.error && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.at {
        return Err(crate::JobError::Operator { operator: name.to_string(), message: "fail point reached".into() });
    }
    Ok(())
}
