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
//! | `sink-committed` | a sink instance committed a checkpoint's transactions, before the others |
//! | `retention-deleting` | subsumed checkpoints: after the first file is deleted |
//! | `claim-deleting` | the claimed checkpoint: after its first file is deleted |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the fail point.
pub const FAIL_POINT_VAR: &str = "WEIR_FAIL_POINT";

struct Armed {
    name: String,
    at: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(FAIL_POINT_VAR).ok()?;
            let (name, at) = match spec.split_once(':') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed { name, at: at.max(1), hits: AtomicU64::new(0) })
        })
        .as_ref()
}

/// Reaches the step `name`: aborts the process if the fail point is armed
/// for it and this is the hit it waits for.
pub fn point(name: &str) {
    let Some(a) = armed() else { return };
    if a.name == name && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.at {
        eprintln!("weir: fail point {name} reached: aborting");
        std::process::abort();
    }
}
