use weir_runtime::JobError;

/// What can go wrong building or running a job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or setting is invalid.
    #[error("{0}")]
    Args(String),
    /// The job failed.
    #[error(transparent)]
    Job(#[from] JobError),
}
