use weir_checkpoint::CodecError;

/// What can go wrong while reading, writing, snapshotting or restoring keyed state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A state was registered twice under one name with different types.
    #[error("state '{name}' is already registered with value type {existing}, not {requested}")]
    TypeConflict {
        /// The state's name.
        name: String,
        /// The type it was registered with first.
        existing: &'static str,
        /// The type asked for now.
        requested: &'static str,
    },
    /// Restored bytes of a state could not be read as the type the job declares.
    #[error("state '{name}' in the checkpoint cannot be read as {requested} (the job's declared type): {reason}")]
    IncompatibleState {
        /// The state's name.
        name: String,
        /// The type the job declares.
        requested: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A key group outside the instance's range was used.
    #[error("key group {key_group} is outside this instance's range {start}..={end}")]
    KeyGroupOutOfRange {
        /// The key group.
        key_group: u32,
        /// First key group of the range.
        start: u32,
        /// Last key group of the range.
        end: u32,
    },
    /// A restored state file is damaged.
    #[error("restored state is corrupt: {0}")]
    Corrupt(String),
    /// Encoding or decoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A state handle was used with a backend that did not register it.
    #[error("state handle {0} does not belong to this backend")]
    UnknownState(usize),
    /// An I/O error of the backend's local files.
    #[error("state backend I/O: {0}")]
    Io(#[from] std::io::Error),
}
