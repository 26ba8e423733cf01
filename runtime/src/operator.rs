//! The chain element: an operator that receives what the one before it emits
//! and pushes its own output into the next one. Tasks run chains of them.

use crate::{Barrier, JobError, OperatorSnapshot, SnapshotKind};

/// One operator of a chain, receiving `I`: the lifecycle every operator,
/// stateful or not, source chain or sink, goes through.
///
/// 1. **Initialize**: the operator is built with its restored state (the
///    instance's own, or what [`SubtaskEnv::restored`](crate::SubtaskEnv::restored)
///    assigns it after a change of parallelism), then [`open`](Operator::open)
///    runs once every operator of the job is built.
/// 2. **Process**: batches and watermarks, in stream order.
/// 3. **Snapshot** at a [`Barrier`], whose `kind` says checkpoint or savepoint.
/// 4. **Notify**: [`checkpoint_complete`](Operator::checkpoint_complete) and
///    [`checkpoint_aborted`](Operator::checkpoint_aborted) with the snapshot's
///    kind. Side effects (a sink's commit) belong to completed checkpoints
///    only: [`Notification::commits`] says when.
/// 5. **Finish** at end of input.
///
/// Calls come from one thread. An operator that is followed by others in its
/// chain passes every call on after handling it.
pub trait Operator<I>: Send {
    /// The task starts: every operator of the job has its restored state.
    /// Finish what a restore needs before the first record (a sink commits
    /// the transactions of the restored checkpoint).
    fn open(&mut self) -> Result<(), JobError>;
    /// Processes (and drains) a batch.
    fn process(&mut self, batch: &mut Vec<I>) -> Result<(), JobError>;
    /// Event time has reached `watermark`.
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError>;
    /// Synchronous phase of a snapshot: the operator's state goes into `snapshots`.
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError>;
    /// A snapshot is complete (its `_metadata` is written).
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError>;
    /// A snapshot was aborted.
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError>;
    /// End of input: flush and pass on.
    fn finish(&mut self) -> Result<(), JobError>;
    /// The input has gone idle: no records or watermarks for a while (see
    /// [`Message::Idle`](crate::Message::Idle)), so downstream must not
    /// wait for its watermark. The next record or watermark makes it active
    /// again. An operator that forwards watermarks passes this on too; the
    /// default keeps it, so that downstream keeps waiting as before.
    fn idle(&mut self) -> Result<(), JobError> {
        Ok(())
    }
    /// Processing time (wall clock, ms since the epoch, see [`processing_time_now`])
    /// has reached `now`: fire what is due. Returns when it next wants to
    /// be called (its earliest processing-time timer), if ever. The task
    /// calls it on the head of its chain after every batch and when that
    /// time comes, also while no input arrives. The default has no timers.
    fn processing_time(&mut self, _now: i64) -> Result<Option<i64>, JobError> {
        Ok(None)
    }
}

/// Processing time: the wall clock in ms since the Unix epoch.
///
/// ```
/// assert!(weir_runtime::processing_time_now() > 1_600_000_000_000);
/// ```
pub fn processing_time_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A snapshot's completion or abort, as tasks and operators learn of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The snapshot's id.
    pub id: u64,
    /// Checkpoint, full checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// The job's last checkpoint: end of input follows.
    pub is_final: bool,
}

impl Notification {
    /// Whether side effects may happen for it: a completed checkpoint
    /// commits, a savepoint never does (its state may never be restored, and
    /// the job's next restore from `latest` would replay what it covers).
    ///
    /// ```
    /// use weir_runtime::{Notification, SavepointFormat, SnapshotKind};
    /// let n = Notification { id: 3, kind: SnapshotKind::Checkpoint, is_final: false };
    /// assert!(n.commits());
    /// let n = Notification { id: 4, kind: SnapshotKind::Savepoint(SavepointFormat::Native), is_final: false };
    /// assert!(!n.commits());
    /// ```
    pub fn commits(&self) -> bool {
        !self.kind.is_savepoint()
    }
}

/// An operator that only transforms batches: everything else passes through
/// to `next` unchanged. Implement [`BatchFn`] and wrap it in [`Stateless`].
pub trait BatchFn<I, O>: Send {
    /// Transforms `input` (draining it) into `output`.
    fn apply(&mut self, input: &mut Vec<I>, output: &mut Vec<O>) -> Result<(), JobError>;
}

/// A stateless operator: a [`BatchFn`] followed by the rest of the chain.
pub struct Stateless<I, O, F: BatchFn<I, O>> {
    f: F,
    buffer: Vec<O>,
    next: Box<dyn Operator<O>>,
    _i: std::marker::PhantomData<fn(I)>,
}

impl<I, O, F: BatchFn<I, O>> Stateless<I, O, F> {
    /// Chains `f` before `next`.
    pub fn new(f: F, next: Box<dyn Operator<O>>) -> Self {
        Stateless { f, buffer: Vec::new(), next, _i: std::marker::PhantomData }
    }
}

impl<I, O: Send, F: BatchFn<I, O>> Operator<I> for Stateless<I, O, F> {
    fn process(&mut self, batch: &mut Vec<I>) -> Result<(), JobError> {
        self.f.apply(batch, &mut self.buffer)?;
        if !self.buffer.is_empty() {
            self.next.process(&mut self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.next.watermark(watermark)
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.next.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.next.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.next.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.next.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.next.idle()
    }
}
