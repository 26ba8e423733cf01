//! An in-memory collection as a source (for examples and tests).

use weir_runtime::{Event, JobError, Source, SourceStatus};
use weir_state::codec::{self, ValueFormat};

use super::{Stripe, Stripes};

/// Emits the elements of a vector whose index `i` has `i mod parallelism ==
/// subtask` ([`Stripes`] after a change of parallelism). Its position (the
/// next index of each of its stripes) is checkpointed, and dealt out again at
/// another parallelism.
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
    subtask: u32,
    parallelism: u32,
    stripes: Stripes,
    max_ts: Option<i64>,
}

impl<T> CollectionSource<T> {
    /// Instance `subtask` of `parallelism` over `items`.
    pub fn new(items: Vec<Event<T>>, subtask: u32, parallelism: u32) -> Self {
        let parallelism = parallelism.max(1);
        CollectionSource { items, subtask, parallelism, stripes: Stripes::initial(subtask, parallelism), max_ts: None }
    }

    fn count(&self) -> u64 {
        self.items.len() as u64
    }
}

fn decode_position(position: &[u8], format: ValueFormat) -> Result<(Vec<Stripe>, Option<i64>), JobError> {
    codec::decode(format, position)
        .map_err(|e| JobError::Input(format!("a collection position does not decode ({e}): written by another version?")))
}

impl<T: Clone + Send> Source<T> for CollectionSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        let count = self.count();
        let mut n = 0;
        while n < max {
            let Some(e) = self.stripes.next_index(count).and_then(|i| self.items.get(i as usize)) else { break };
            self.max_ts = Some(self.max_ts.map_or(e.ts, |m| m.max(e.ts)));
            out.push(e.clone());
            n += 1;
        }
        Ok(if self.stripes.done(count) { SourceStatus::Exhausted } else { SourceStatus::More })
    }

    fn watermark(&self) -> Option<i64> {
        if self.stripes.done(self.count()) {
            return Some(i64::MAX);
        }
        self.max_ts.map(|t| t.saturating_sub(1))
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
        self.max_ts = decoded.iter().map(|(_, ts)| *ts).min().flatten();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn values(s: &mut CollectionSource<u32>, max: usize) -> Vec<u32> {
        let mut out = Vec::new();
        s.poll(&mut out, max).unwrap();
        out.into_iter().map(|e| e.value).collect()
    }

    #[test]
    fn every_element_once_across_a_change_of_parallelism() {
        let items: Vec<Event<u32>> = (0..20).map(|i| Event::new(i64::from(i), i)).collect();
        let mut seen = Vec::new();
        let mut old: Vec<CollectionSource<u32>> = (0..2).map(|s| CollectionSource::new(items.clone(), s, 2)).collect();
        seen.extend(values(&mut old[0], 3));
        seen.extend(values(&mut old[1], 5));
        let positions: Vec<(u32, Vec<u8>)> = old.iter_mut().enumerate().map(|(i, s)| (i as u32, s.snapshot().unwrap())).collect();
        for subtask in 0..3 {
            let mut new = CollectionSource::new(items.clone(), subtask, 3);
            new.restore_rescaled(2, &positions, weir_state::ValueFormat::CURRENT).unwrap();
            let part = values(&mut new, 100);
            assert!(part.windows(2).all(|w| w[0] < w[1]), "in order: {part:?}");
            assert_eq!(new.watermark(), Some(i64::MAX), "done");
            seen.extend(part);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
    }
}
