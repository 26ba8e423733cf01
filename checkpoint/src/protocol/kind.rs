//! What a snapshot is: a checkpoint, a full checkpoint or a savepoint.
//!
//! The kind decides who owns the snapshot (the job's retention, or the user)
//! and whether its completion may have side effects: a sink commits only on a
//! completed checkpoint, never on an intermediate savepoint.

use serde::Serialize;

/// The format of a savepoint.
///
/// ```
/// use weir_checkpoint::protocol::SavepointFormat;
/// assert_eq!("native".parse::<SavepointFormat>().unwrap(), SavepointFormat::Native);
/// assert!("binary".parse::<SavepointFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SavepointFormat {
    /// Backend-independent, split by key group: restores into either backend at any parallelism.
    #[default]
    Canonical,
    /// The backend's own files: restores into the same backend at any parallelism.
    Native,
}

impl std::str::FromStr for SavepointFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "canonical" => Ok(SavepointFormat::Canonical),
            "native" => Ok(SavepointFormat::Native),
            other => Err(format!("unknown savepoint format '{other}' (expected canonical or native)")),
        }
    }
}

/// What a checkpoint barrier asks of the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "format")]
pub enum SnapshotKind {
    /// A periodic checkpoint (incremental where the backend and `--incremental` allow).
    #[default]
    Checkpoint,
    /// A checkpoint that references nothing from earlier ones.
    FullCheckpoint,
    /// A self-contained savepoint in a directory of its own.
    Savepoint(SavepointFormat),
}

impl SnapshotKind {
    /// Whether this is a savepoint: owned by the user, never part of the
    /// job's retention, never an increment base, and without side effects.
    ///
    /// ```
    /// use weir_checkpoint::protocol::{SavepointFormat, SnapshotKind};
    /// assert!(SnapshotKind::Savepoint(SavepointFormat::Native).is_savepoint());
    /// assert!(!SnapshotKind::FullCheckpoint.is_savepoint());
    /// ```
    pub fn is_savepoint(self) -> bool {
        matches!(self, SnapshotKind::Savepoint(_))
    }

    /// A word for logs: `checkpoint`, `full checkpoint` or `savepoint`.
    pub fn describe(self) -> &'static str {
        match self {
            SnapshotKind::Checkpoint => "checkpoint",
            SnapshotKind::FullCheckpoint => "full checkpoint",
            SnapshotKind::Savepoint(_) => "savepoint",
        }
    }
}
