//! Splitting a range of indices `0..count` over source instances in a way
//! that survives a change of parallelism.
//!
//! The work is a set of *stripes*: the indices `i` with `i mod modulus ==
//! residue`, each with the next index to emit. A job starts with one stripe
//! per instance; its position is the stripes it owns. At another parallelism
//! the stripes of every old instance are dealt out again, stripe `k` (in a
//! fixed order) to new instance `k mod parallelism`, as Flink deals out
//! source splits. An instance emits the smallest next index of its stripes
//! first, so its event times keep increasing.

use serde::{Deserialize, Serialize};

/// Indices `≡ residue (mod modulus)`, from `next` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stripe {
    /// The step between two indices.
    pub modulus: u64,
    /// `index mod modulus`.
    pub residue: u64,
    /// The next index to emit.
    pub next: u64,
}

/// The stripes of one instance.
///
/// ```
/// use weir_operators::sources::Stripes;
/// // Instance 1 of 2 over 0..7, then its position dealt out to 3 instances.
/// let mut s = Stripes::initial(1, 2);
/// assert_eq!(s.next_index(7), Some(1));
/// let old = vec![Stripes::initial(0, 2).into_vec(), s.into_vec()];
/// let mut mine = Stripes::rescaled(old.iter().map(|v| v.as_slice()), 1, 3);
/// assert_eq!(std::iter::from_fn(|| mine.next_index(7)).collect::<Vec<_>>(), vec![3, 5]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripes(Vec<Stripe>);

impl Stripes {
    /// Instance `subtask` of `parallelism` at the start: one stripe.
    pub fn initial(subtask: u32, parallelism: u32) -> Self {
        let p = u64::from(parallelism.max(1));
        let s = u64::from(subtask);
        Stripes(vec![Stripe { modulus: p, residue: s % p, next: s }])
    }

    /// Instance `subtask` of `parallelism`'s share of the stripes of every old instance.
    pub fn rescaled<'a>(old: impl IntoIterator<Item = &'a [Stripe]>, subtask: u32, parallelism: u32) -> Self {
        let mut all: Vec<Stripe> = old.into_iter().flatten().copied().collect();
        all.sort_by_key(|s| (s.modulus, s.residue, s.next));
        let p = parallelism.max(1) as usize;
        Stripes(all.into_iter().enumerate().filter(|(k, _)| k % p == subtask as usize).map(|(_, s)| s).collect())
    }

    /// The stripes it owns, as checkpointed.
    pub fn into_vec(self) -> Vec<Stripe> {
        self.0
    }

    /// The stripes it owns.
    pub fn as_slice(&self) -> &[Stripe] {
        &self.0
    }

    /// Takes the smallest next index below `count`.
    #[inline]
    pub fn next_index(&mut self, count: u64) -> Option<u64> {
        let stripe = match self.0.as_mut_slice() {
            [one] => one,
            many => many.iter_mut().min_by_key(|s| s.next)?,
        };
        if stripe.next >= count {
            return None;
        }
        let i = stripe.next;
        stripe.next += stripe.modulus;
        Some(i)
    }

    /// Every index below `count` was emitted.
    pub fn done(&self, count: u64) -> bool {
        self.0.iter().all(|s| s.next >= count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn drain(s: &mut Stripes, count: u64, max: usize) -> Vec<u64> {
        std::iter::from_fn(|| s.next_index(count)).take(max).collect()
    }

    #[test]
    fn every_index_once_across_changes_of_parallelism() {
        let count = 1000;
        for (p1, p2, p3) in [(1, 3, 2), (3, 2, 4), (2, 4, 1), (4, 4, 3)] {
            let mut seen = Vec::new();
            let mut gen: Vec<Stripes> = (0..p1).map(|s| Stripes::initial(s, p1)).collect();
            for (k, s) in gen.iter_mut().enumerate() {
                seen.extend(drain(s, count, 37 + k * 11));
            }
            for p in [p2, p3] {
                let old: Vec<Vec<Stripe>> = gen.into_iter().map(Stripes::into_vec).collect();
                gen = (0..p).map(|s| Stripes::rescaled(old.iter().map(|v| v.as_slice()), s, p)).collect();
                for (k, s) in gen.iter_mut().enumerate() {
                    let part = drain(s, count, 50 + k * 7);
                    assert!(part.windows(2).all(|w| w[0] < w[1]), "an instance emits in increasing order");
                    seen.extend(part);
                }
            }
            for s in gen.iter_mut() {
                seen.extend(drain(s, count, usize::MAX));
                assert!(s.done(count));
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..count).collect::<Vec<_>>(), "{p1} -> {p2} -> {p3}: every index exactly once");
        }
    }
}
