//! The error type of this crate.
//!
//! Every variant that concerns a file names it by the full path or URL a user
//! can look up (see [`CheckpointStorage::describe`](crate::CheckpointStorage::describe)),
//! and says what is wrong with it.

/// Everything that can go wrong while writing, reading or locating checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file that a checkpoint references, or that was asked for, does not exist.
    #[error("checkpoint file {path}: missing")]
    Missing {
        /// Full path or URL of the missing file.
        path: String,
    },

    /// A file exists but its size differs from the one recorded in `_metadata`.
    #[error("checkpoint file {path}: size mismatch (expected {expected} bytes, found {actual})")]
    SizeMismatch {
        /// Full path or URL of the file.
        path: String,
        /// Size recorded in `_metadata`.
        expected: u64,
        /// Size found in storage.
        actual: u64,
    },

    /// A file has the recorded size but not the recorded CRC-32C checksum.
    #[error("checkpoint file {path}: checksum mismatch (expected {expected:08x}, found {actual:08x})")]
    ChecksumMismatch {
        /// Full path or URL of the file.
        path: String,
        /// Checksum recorded in `_metadata`.
        expected: u32,
        /// Checksum of the bytes found in storage.
        actual: u32,
    },

    /// A `_metadata` file exists but is truncated, not JSON, or inconsistent.
    #[error("checkpoint metadata {path}: unreadable ({reason})")]
    CorruptMetadata {
        /// Full path or URL of the `_metadata` file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `_metadata` file was written in a format version this build does not read.
    #[error(
        "checkpoint metadata {path}: format version {found} is not supported \
         (this weir reads format versions 1 to {supported})"
    )]
    UnsupportedVersion {
        /// Full path or URL of the `_metadata` file.
        path: String,
        /// The version found in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// The metadata could not be serialized (should not happen with valid data).
    #[error("checkpoint metadata for checkpoint {checkpoint_id}: cannot be encoded ({reason})")]
    EncodeMetadata {
        /// The checkpoint whose metadata failed to encode.
        checkpoint_id: u64,
        /// Why.
        reason: String,
    },

    /// The checkpoint location given by the user cannot be used.
    #[error("checkpoint location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as the user gave it.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A path inside the checkpoint storage is not acceptable (empty, bad characters, ...).
    #[error("checkpoint path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Why it is rejected.
        reason: String,
    },

    /// The underlying object store failed.
    #[error("checkpoint storage {path}: {source}")]
    Store {
        /// Full path or URL of the object concerned.
        path: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },

    /// A path recorded in `_metadata` leads outside the storage root (too many `../`).
    #[error("checkpoint file {path}: path leads outside the checkpoint storage root")]
    PathEscapesRoot {
        /// The path as recorded, prefixed with the directory that holds `_metadata`.
        path: String,
    },

    /// A directory that should be a checkpoint or savepoint holds no `_metadata`.
    #[error("{path} is not a checkpoint: it holds no _metadata")]
    NotACheckpoint {
        /// Full path or URL of the directory.
        path: String,
    },

    /// A job (or `gc`) holds the directory's lock file and may be running:
    /// another job may not start there, and `gc` does not touch it.
    #[error("checkpoint directory is in use: {path} is held by {holder}; stop it first, or delete {path} if you are sure it is gone")]
    LockHeld {
        /// Full path or URL of the lock file (`<checkpoint-dir>/_job_lock`).
        path: String,
        /// Who holds it: job name, pid, host and start time.
        holder: String,
    },

    /// The directory's lock file was left by a process that no longer runs.
    #[error("checkpoint directory lock {path} is stale: {holder}; `weir checkpoints gc --force-stale` (`force_stale`) proceeds past it")]
    StaleLock {
        /// Full path or URL of the lock file.
        path: String,
        /// Who left it, and why it is considered stale.
        holder: String,
    },

    /// A checkpoint's `_metadata` cannot be read, so which files it references
    /// is unknown and garbage collection would be guesswork.
    #[error("not collecting garbage: {source}; repair or remove that checkpoint first")]
    UnknownReferences {
        /// Why the `_metadata` could not be read (names the file).
        #[source]
        source: Box<CheckpointError>,
    },

    /// A `_metadata` is written only where none exists (create-only), so that
    /// two writers cannot both complete the same checkpoint or savepoint:
    /// this one found another's already there, and left it alone.
    #[error("checkpoint metadata {path} already exists with other contents: another writer completed this checkpoint first; it was not overwritten")]
    MetadataExists {
        /// Full path or URL of the existing `_metadata`.
        path: String,
    },

    /// The destination of a promotion already holds a checkpoint.
    #[error("{path} already exists: promote into a directory without a checkpoint")]
    DestinationExists {
        /// Full path or URL of the existing `_metadata`.
        path: String,
    },
}
