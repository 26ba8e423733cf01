//! A deterministic generated stream: event `i` of `0..n`, split over
//! instances by `i mod p` at the start ([`Stripes`] after a change of parallelism).

use std::sync::Arc;

use weir_runtime::{Event, JobError, Source, SourceStatus};
use weir_state::codec::{self, ValueFormat};

use super::{Stripe, Stripes};
use crate::Throttle;

/// Produces events `i` in `0..count` with `i mod parallelism == subtask`,
/// each made by `make(i)`. Its position (the next `i` of each of its
/// stripes) is checkpointed, and dealt out again at another parallelism.
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
    subtask: u32,
    parallelism: u32,
    stripes: Stripes,
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
        let p = parallelism.max(1);
        SequenceSource {
            count,
            subtask,
            parallelism: p,
            stripes: Stripes::initial(subtask, p),
            out_of_orderness: out_of_orderness_ms,
            max_ts: None,
            throttle: Throttle::new(rate.map(|r| r / f64::from(p))),
            make,
        }
    }
}

impl<T: Send> Source<T> for SequenceSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        let limit = self.throttle.batch_limit(max);
        let mut n = 0;
        while n < limit {
            let Some(i) = self.stripes.next_index(self.count) else { break };
            let e = (self.make)(i);
            self.max_ts = Some(self.max_ts.map_or(e.ts, |m| m.max(e.ts)));
            out.push(e);
            n += 1;
        }
        self.throttle.wait(n as u64);
        Ok(if self.stripes.done(self.count) { SourceStatus::Exhausted } else { SourceStatus::More })
    }

    fn watermark(&self) -> Option<i64> {
        if self.stripes.done(self.count) {
            // Nothing more comes from this instance (also: no stripes at all).
            return Some(i64::MAX);
        }
        self.max_ts.map(|t| t.saturating_sub(self.out_of_orderness).saturating_sub(1))
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(codec::encode(&(self.stripes.as_slice(), self.max_ts))?)
    }

    fn restore(&mut self, position: &[u8], format: ValueFormat) -> Result<(), JobError> {
        let (stripes, max_ts) = decode_position(position, format)?;
        self.stripes = Stripes::rescaled([stripes.as_slice()], 0, 1);
        self.max_ts = max_ts;
        Ok(())
    }

    fn restore_rescaled(&mut self, _parallelism: u32, positions: &[(u32, Vec<u8>)], format: ValueFormat) -> Result<(), JobError> {
        let decoded: Vec<(Vec<Stripe>, Option<i64>)> =
            positions.iter().map(|(_, p)| decode_position(p, format)).collect::<Result<_, _>>()?;
        self.stripes = Stripes::rescaled(decoded.iter().map(|(s, _)| s.as_slice()), self.subtask, self.parallelism);
        // The watermark restarts from the least advanced old instance: never ahead of an event still to come.
        self.max_ts = decoded.iter().map(|(_, ts)| *ts).min().flatten();
        Ok(())
    }
}

fn decode_position(position: &[u8], format: ValueFormat) -> Result<(Vec<Stripe>, Option<i64>), JobError> {
    codec::decode(format, position)
        .map_err(|e| JobError::Input(format!("a generator position does not decode ({e}): written by another version?")))
}
