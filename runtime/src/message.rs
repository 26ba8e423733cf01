//! The ordered stream of one channel: batches, watermarks, barriers, end of input.

use weir_state::{Backend, Key, KeyedStateBackend, StateError, StateSnapshot};

use crate::{SavepointFormat, SnapshotKind};

/// A checkpoint barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint's id.
    pub id: u64,
    /// When the coordinator triggered it (ms since the epoch).
    pub timestamp_ms: u64,
    /// The last checkpoint of the job: end of input follows it.
    pub is_final: bool,
    /// Checkpoint, full checkpoint or savepoint.
    pub kind: SnapshotKind,
}

impl Barrier {
    /// A periodic checkpoint's barrier.
    ///
    /// ```
    /// let b = weir_runtime::Barrier::checkpoint(7, 0);
    /// assert_eq!((b.id, b.is_final), (7, false));
    /// ```
    pub fn checkpoint(id: u64, timestamp_ms: u64) -> Self {
        Barrier { id, timestamp_ms, is_final: false, kind: SnapshotKind::Checkpoint }
    }

    /// The synchronous phase of a keyed operator's snapshot for this barrier:
    /// the backend's own snapshot, or a canonical one for a canonical savepoint.
    pub fn snapshot<K: Key>(&self, backend: &mut Backend<K>) -> Result<Box<dyn StateSnapshot>, StateError> {
        match self.kind {
            SnapshotKind::Savepoint(SavepointFormat::Canonical) => backend.snapshot_canonical(),
            _ => backend.snapshot(),
        }
    }
}

/// One element of a channel.
#[derive(Debug)]
pub enum Message<T> {
    /// Records.
    Batch(Vec<T>),
    /// Event time has reached this point on the channel.
    Watermark(i64),
    /// Everything before belongs to the checkpoint, everything after does not.
    Barrier(Barrier),
    /// The sender is done.
    End,
    /// The sender has gone idle (a source with nothing to read for longer
    /// than its idle timeout): the receiver leaves this channel out of its
    /// watermark until the channel's next record or watermark, so that an
    /// idle source does not hold event time back.
    Idle,
}
