use weir_checkpoint::CheckpointError;
use weir_state::StateError;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A user function or an operator failed.
    #[error("operator {operator}: {message}")]
    Operator {
        /// The operator's id.
        operator: String,
        /// What went wrong.
        message: String,
    },
    /// Input could not be read or parsed.
    #[error("{0}")]
    Input(String),
    /// Keyed state failed.
    #[error("operator {operator}: {source}")]
    State {
        /// The operator's id.
        operator: String,
        /// The state error.
        #[source]
        source: StateError,
    },
    /// Checkpoint storage failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// State could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] weir_state::CodecError),
    /// The checkpoint to restore does not fit the job.
    #[error("cannot restore checkpoint {path}: {reason}")]
    IncompatibleCheckpoint {
        /// Where the checkpoint is.
        path: String,
        /// What differs.
        reason: String,
    },
    /// The job's configuration or graph is invalid.
    #[error("invalid job: {0}")]
    Config(String),
    /// A sink could not write or commit.
    #[error("sink {operator}: {message}")]
    Sink {
        /// The sink's id.
        operator: String,
        /// What went wrong.
        message: String,
    },
    /// The final checkpoint did not complete.
    #[error("the final checkpoint {0} did not complete: {1}")]
    FinalCheckpointFailed(u64, String),
    /// A task panicked.
    #[error("task {0} panicked: {1}")]
    Panic(String, String),
    /// The job was cancelled because another task failed.
    #[error("cancelled")]
    Cancelled,
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl JobError {
    /// Wraps a state error of `operator`.
    pub fn state(operator: &str, source: StateError) -> Self {
        JobError::State { operator: operator.to_string(), source }
    }
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        JobError::Io { context: context.into(), source }
    }
}
