//! The job's hold on its checkpoint directory: the `_job_lock` file (see
//! [`weir_checkpoint::lease`]), taken before the job touches the directory and
//! released when the job ends, whether it succeeded or failed. A killed job
//! leaves the lock behind; it is stale then and the next start replaces it.

use tracing::warn;
use weir_checkpoint::{CheckpointStorage, JobLock};

use crate::JobError;

/// Holds the lock of a checkpoint directory; dropping it releases the lock.
pub(crate) struct HeldLock {
    lock: Option<JobLock>,
    runtime: tokio::runtime::Handle,
}

impl HeldLock {
    /// Takes the lock of `storage`'s directory for `job_name`; fails with
    /// [`weir_checkpoint::CheckpointError::LockHeld`] (naming the lock file and
    /// its holder's pid and host) while another live job holds it.
    pub(crate) fn acquire(runtime: &tokio::runtime::Runtime, storage: &CheckpointStorage, job_name: &str) -> Result<Self, JobError> {
        let lock = crate::io::block_on(runtime.handle(), JobLock::acquire(storage, job_name))?;
        Ok(HeldLock { lock: Some(lock), runtime: runtime.handle().clone() })
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            let path = lock.info().to_string();
            if let Err(e) = crate::io::block_on(&self.runtime, lock.release()) {
                warn!(lock = %path, error = %e, "could not release the checkpoint directory's lock");
            }
        }
    }
}
