use crate::codec::CodecError;

/// What can go wrong while reading, writing, snapshotting or restoring keyed state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A state was registered twice under one name with different schemas.
    #[error("state '{name}' is already registered as {existing}, not {requested}")]
    TypeConflict {
        /// The state's name.
        name: String,
        /// The schema it was registered with first.
        existing: String,
        /// The schema asked for now.
        requested: String,
    },
    /// A restored state was written with a schema the job's declared one cannot read.
    #[error("state '{name}' cannot be restored: the checkpoint holds {written}, the job declares {declared}: {reason}")]
    IncompatibleState {
        /// The state's name.
        name: String,
        /// The schema the job declares.
        declared: String,
        /// The schema the checkpoint records.
        written: String,
        /// Why the one cannot be read as the other.
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
