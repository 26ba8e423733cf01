//! A deterministic generated stream: event `i` of `0..n`, split over instances by `i mod p`.

use std::sync::Arc;

use weir_checkpoint::codec;
use weir_runtime::{Event, JobError, Source, SourceStatus};

use crate::Throttle;

/// Produces events `i` in `0..count` with `i mod parallelism == subtask`,
/// each made by `make(i)`. Its position (the next `i`) is checkpointed.
/// The watermark is the event time of the last event minus the allowed
/// out-of-orderness, minus one.
///
/// ```
/// use weir_operators::sources::SequenceSource;
/// use weir_runtime::{Event, Source};
/// let mut s = SequenceSource::new(10, 1, 2, 0, None, |i| Event::new(i as i64, i));
/// let mut out = Vec::new();
/// s.poll(&mut out, 100).unwrap();
/// assert_eq!(out.iter().map(|e| e.value).collect::<Vec<_>>(), vec![1, 3, 5, 7, 9]);
/// ```
pub struct SequenceSource<T> {
    count: u64,
    subtask: u64,
    parallelism: u64,
    next: u64,
    out_of_orderness: i64,
    max_ts: Option<i64>,
    throttle: Throttle,
    make: Arc<dyn Fn(u64) -> Event<T> + Send + Sync>,
}

impl<T> SequenceSource<T> {
    /// Instance `subtask` of `parallelism` over `0..count`, at most `rate`
    /// events per second in all (split evenly over the instances).
    pub fn new(
        count: u64,
        subtask: u32,
        parallelism: u32,
        out_of_orderness_ms: i64,
        rate: Option<f64>,
        make: impl Fn(u64) -> Event<T> + Send + Sync + 'static,
    ) -> Self {
        Self::from_arc(count, subtask, parallelism, out_of_orderness_ms, rate, Arc::new(make))
    }

    /// As [`SequenceSource::new`], with a shared generator function.
    pub fn from_arc(
        count: u64,
        subtask: u32,
        parallelism: u32,
        out_of_orderness_ms: i64,
        rate: Option<f64>,
        make: Arc<dyn Fn(u64) -> Event<T> + Send + Sync>,
    ) -> Self {
        let p = u64::from(parallelism.max(1));
        SequenceSource {
            count,
            subtask: u64::from(subtask),
            parallelism: p,
            next: u64::from(subtask),
            out_of_orderness: out_of_orderness_ms,
            max_ts: None,
            throttle: Throttle::new(rate.map(|r| r / p as f64)),
            make,
        }
    }
}

impl<T: Send> Source<T> for SequenceSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        let limit = self.throttle.batch_limit(max);
        let mut n = 0;
        while n < limit && self.next < self.count {
            let e = (self.make)(self.next);
            self.max_ts = Some(self.max_ts.map_or(e.ts, |m| m.max(e.ts)));
            out.push(e);
            self.next += self.parallelism;
            n += 1;
        }
        self.throttle.wait(n as u64);
        Ok(if self.next >= self.count { SourceStatus::Exhausted } else { SourceStatus::More })
    }

    fn watermark(&self) -> Option<i64> {
        self.max_ts.map(|t| t.saturating_sub(self.out_of_orderness).saturating_sub(1))
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(codec::encode(&(self.next, self.max_ts))?)
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), JobError> {
        let (next, max_ts): (u64, Option<i64>) = codec::decode(position)?;
        if next % self.parallelism != self.subtask {
            return Err(JobError::Input(format!(
                "generator position {next} does not belong to instance {} of {}",
                self.subtask, self.parallelism
            )));
        }
        self.next = next;
        self.max_ts = max_ts;
        Ok(())
    }
}
