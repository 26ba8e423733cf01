//! Records in and out of each operator, as `metrics` counters.

use crate::{Barrier, JobError, Notification, Operator, OperatorSnapshot};

/// Counts the records of every batch passing into `inner`, a batch at a time.
///
/// [`Metered::records_in`] before an operator counts what it receives
/// (`weir_records_in_total{operator=..}`); [`Metered::records_out`] after it,
/// what it emits (`weir_records_out_total{operator=..}`).
pub struct Metered<I> {
    counter: metrics::Counter,
    inner: Box<dyn Operator<I>>,
}

impl<I: 'static> Metered<I> {
    /// Counts what `operator` receives, then hands it to `operator`'s implementation `inner`.
    pub fn records_in(operator: &str, inner: Box<dyn Operator<I>>) -> Box<dyn Operator<I>> {
        Box::new(Metered { counter: metrics::counter!("weir_records_in_total", "operator" => operator.to_string()), inner })
    }
    /// Counts what `operator` emits into `next`.
    pub fn records_out(operator: &str, next: Box<dyn Operator<I>>) -> Box<dyn Operator<I>> {
        Box::new(Metered { counter: metrics::counter!("weir_records_out_total", "operator" => operator.to_string()), inner: next })
    }
}

impl<I> Operator<I> for Metered<I> {
    #[inline]
    fn process(&mut self, batch: &mut Vec<I>) -> Result<(), JobError> {
        crate::fail::error_point("operator-batch")?;
        self.counter.increment(batch.len() as u64);
        self.inner.process(batch)
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.inner.watermark(watermark)
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.inner.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.inner.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.inner.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.inner.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.inner.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.inner.idle()
    }
    fn processing_time(&mut self, now: i64) -> Result<Option<i64>, JobError> {
        self.inner.processing_time(now)
    }
}
