//! The job's I/O runtime, usable from a thread that is itself inside a tokio
//! runtime (a job started from async code).
//!
//! Tokio refuses to block on a future, or to drop a runtime, on a thread that
//! runs inside a runtime: it would stall that runtime's tasks. `execute`
//! blocks its caller for the whole job anyway, so its few waits on I/O done
//! on the calling thread (the lock, leftovers, the restore's downloads, the
//! last uploads) go to a short-lived thread of their own in that case.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};

/// Whether this thread runs inside a tokio runtime.
fn in_runtime() -> bool {
    Handle::try_current().is_ok()
}

/// Runs `f` to completion on `runtime`, from any thread.
pub(crate) fn block_on<F>(runtime: &Handle, f: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if !in_runtime() {
        return runtime.block_on(f);
    }
    std::thread::scope(|s| match s.spawn(|| runtime.block_on(f)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Drops `runtime` (waiting for its threads), from any thread.
pub(crate) fn drop_runtime(runtime: Runtime) {
    if !in_runtime() {
        return drop(runtime);
    }
    std::thread::scope(|s| {
        s.spawn(move || drop(runtime));
    });
}
