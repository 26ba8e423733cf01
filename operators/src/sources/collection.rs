//! An in-memory collection as a source (for examples and tests).

use weir_checkpoint::codec;
use weir_runtime::{Event, JobError, Source, SourceStatus};

/// Emits the elements of a vector whose index `i` has `i mod parallelism == subtask`.
///
/// ```
/// use weir_operators::sources::CollectionSource;
/// use weir_runtime::{Event, Source};
/// let mut s = CollectionSource::new(vec![Event::new(0, "a"), Event::new(1, "b")], 0, 1);
/// let mut out = Vec::new();
/// s.poll(&mut out, 10).unwrap();
/// assert_eq!(out.len(), 2);
/// ```
pub struct CollectionSource<T> {
    items: Vec<Event<T>>,
    subtask: usize,
    parallelism: usize,
    next: usize,
    max_ts: Option<i64>,
}

impl<T> CollectionSource<T> {
    /// Instance `subtask` of `parallelism` over `items`.
    pub fn new(items: Vec<Event<T>>, subtask: u32, parallelism: u32) -> Self {
        CollectionSource {
            items,
            subtask: subtask as usize,
            parallelism: parallelism.max(1) as usize,
            next: subtask as usize,
            max_ts: None,
        }
    }
}

impl<T: Clone + Send> Source<T> for CollectionSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        let mut n = 0;
        while n < max && self.next < self.items.len() {
            let e = self.items[self.next].clone();
            self.max_ts = Some(self.max_ts.map_or(e.ts, |m| m.max(e.ts)));
            out.push(e);
            self.next += self.parallelism;
            n += 1;
        }
        Ok(if self.next >= self.items.len() { SourceStatus::Exhausted } else { SourceStatus::More })
    }
    fn watermark(&self) -> Option<i64> {
        self.max_ts.map(|t| t.saturating_sub(1))
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(codec::encode(&(self.next as u64, self.max_ts))?)
    }
    fn restore(&mut self, position: &[u8]) -> Result<(), JobError> {
        let (next, max_ts): (u64, Option<i64>) = codec::decode(position)?;
        if next as usize % self.parallelism != self.subtask {
            return Err(JobError::Input(format!("collection position {next} does not belong to instance {}", self.subtask)));
        }
        self.next = next as usize;
        self.max_ts = max_ts;
        Ok(())
    }
}
