//! The ordered stream of one channel: batches, watermarks, barriers, end of input.

/// A checkpoint barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint's id.
    pub id: u64,
    /// When the coordinator triggered it (ms since the epoch).
    pub timestamp_ms: u64,
    /// The last checkpoint of the job: end of input follows it.
    pub is_final: bool,
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
}
