//! The chain element: an operator that receives what the one before it emits
//! and pushes its own output into the next one. Tasks run chains of them.

use crate::{Barrier, JobError, OperatorSnapshot};

/// One operator of a chain, receiving `I`.
///
/// Calls come from one thread, in stream order. `barrier` must snapshot the
/// operator's own state into `snapshots` and then pass the barrier on; so must
/// `watermark`, `checkpoint_complete`, `checkpoint_aborted` and `finish`.
pub trait Operator<I>: Send {
    /// Processes (and drains) a batch.
    fn process(&mut self, batch: &mut Vec<I>) -> Result<(), JobError>;
    /// Event time has reached `watermark`.
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError>;
    /// Synchronous phase of a checkpoint.
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError>;
    /// Checkpoint `id` is complete (its `_metadata` is written).
    fn checkpoint_complete(&mut self, id: u64) -> Result<(), JobError>;
    /// Checkpoint `id` was aborted.
    fn checkpoint_aborted(&mut self, id: u64) -> Result<(), JobError>;
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
    fn checkpoint_complete(&mut self, id: u64) -> Result<(), JobError> {
        self.next.checkpoint_complete(id)
    }
    fn checkpoint_aborted(&mut self, id: u64) -> Result<(), JobError> {
        self.next.checkpoint_aborted(id)
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.next.idle()
    }
}
