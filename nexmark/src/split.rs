//! Splitting the stream of event numbers among parallel instances, and
//! rescaling exactly (see [`Split`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The event numbers `next, next + stride, ...` below `end` (unbounded if `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Progression {
    next: u64,
    stride: u64,
    end: Option<u64>,
}

impl Progression {
    fn is_empty(&self) -> bool {
        self.end.is_some_and(|end| self.next >= end)
    }

    /// How many numbers are left (`None` if unbounded).
    fn len(&self) -> Option<u64> {
        self.end.map(|end| end.saturating_sub(self.next).div_ceil(self.stride))
    }

    fn contains(&self, n: u64) -> bool {
        n >= self.next && (n - self.next) % self.stride == 0 && self.end.is_none_or(|end| n < end)
    }
}

/// The event numbers an instance still has to produce, in increasing order.
///
/// Instance `i` of `p` starts with the event numbers `n` with `n % p == i`
/// ([`Split::new`]); its position is the next event number
/// ([`Split::position`]), so an instance that has never been rescaled is
/// described by one `u64` ([`Split::resume`]).
///
/// Rescaling ([`rescale`]) takes the splits of *all* old instances. Let `cut`
/// be the largest old position. The numbers from `cut` on are split round
/// robin among the new instances again (instance `j` takes `n >= cut` with
/// `n % p_new == j`), and the numbers below `cut` that old instances had not
/// produced yet (the backlog of the instances that were behind) are shared
/// out among the new instances as bounded arithmetic progressions. So a
/// `Split` is in general a short list of progressions (one unbounded, plus
/// any backlog), which it produces merged in increasing order; it serializes
/// with serde for checkpoints. Every event number is produced exactly once
/// across any number of rescales, whatever the positions of the old
/// instances.
///
/// ```
/// use weir_nexmark::Split;
///
/// let mut split = Split::new(1, 3)?;
/// assert_eq!(split.advance(), Some(1));
/// assert_eq!(split.advance(), Some(4));
/// assert_eq!(split.position(), Some(7));
/// assert_eq!(split, Split::resume(1, 3, 7)?);
/// # Ok::<(), weir_nexmark::SplitError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SplitRepr")]
pub struct Split {
    /// Disjoint, non-empty progressions; exactly one is unbounded.
    pieces: Vec<Progression>,
}

/// A [`Split`] as read from a checkpoint, checked before use.
#[derive(Deserialize)]
struct SplitRepr {
    pieces: Vec<Progression>,
}

impl TryFrom<SplitRepr> for Split {
    type Error = String;

    fn try_from(repr: SplitRepr) -> Result<Split, String> {
        let unbounded = repr.pieces.iter().filter(|p| p.end.is_none()).count();
        if repr.pieces.iter().any(|p| p.stride == 0 || p.is_empty()) || unbounded != 1 {
            return Err("invalid nexmark split: a zero stride, an empty piece or not exactly one unbounded piece".to_owned());
        }
        Ok(Split { pieces: repr.pieces })
    }
}

/// An invalid split request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A parallelism of 0.
    ZeroParallelism,
    /// An instance index not below the parallelism.
    InstanceOutOfRange {
        /// The instance index.
        instance: u32,
        /// The parallelism.
        parallelism: u32,
    },
    /// The splits given to [`rescale`] are not those of all instances of one
    /// run (some missing, duplicated or from different runs).
    Incomplete,
    /// Event numbers near `u64::MAX`.
    Overflow,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::ZeroParallelism => write!(f, "nexmark split: parallelism must be at least 1"),
            SplitError::InstanceOutOfRange { instance, parallelism } => {
                write!(f, "nexmark split: instance {instance} out of range for parallelism {parallelism}")
            }
            SplitError::Incomplete => write!(f, "nexmark split: rescaling needs the splits of all instances of one run"),
            SplitError::Overflow => write!(f, "nexmark split: event numbers overflow"),
        }
    }
}

impl std::error::Error for SplitError {}

/// The instance (of `parallelism`) that owns event number `n` before any
/// rescale: `n % parallelism`.
///
/// ```
/// assert_eq!(weir_nexmark::owner(7, 3), 1);
/// ```
pub fn owner(n: u64, parallelism: u32) -> u32 {
    match parallelism {
        0 => 0,
        p => (n % u64::from(p)) as u32,
    }
}

fn check(instance: u32, parallelism: u32) -> Result<(), SplitError> {
    if parallelism == 0 {
        Err(SplitError::ZeroParallelism)
    } else if instance >= parallelism {
        Err(SplitError::InstanceOutOfRange { instance, parallelism })
    } else {
        Ok(())
    }
}

/// The first `n >= from` with `n % stride == residue` (`residue < stride`).
fn first_at_or_after(from: u64, residue: u64, stride: u64) -> Result<u64, SplitError> {
    from.checked_add((residue + stride - from % stride) % stride).ok_or(SplitError::Overflow)
}

impl Split {
    /// All event numbers `n` with `n % parallelism == instance`.
    pub fn new(instance: u32, parallelism: u32) -> Result<Split, SplitError> {
        Split::resume(instance, parallelism, 0)
    }

    /// Every event number: the split of a single instance.
    pub fn all() -> Split {
        Split { pieces: vec![Progression { next: 0, stride: 1, end: None }] }
    }

    /// The event numbers `n >= position` with `n % parallelism == instance`:
    /// an instance that has never been rescaled, restored from its
    /// [`position`](Split::position).
    pub fn resume(instance: u32, parallelism: u32, position: u64) -> Result<Split, SplitError> {
        check(instance, parallelism)?;
        let stride = u64::from(parallelism);
        let next = first_at_or_after(position, u64::from(instance), stride)?;
        Ok(Split { pieces: vec![Progression { next, stride, end: None }] })
    }

    /// The next event number to produce (the smallest one left); `None` only
    /// once the numbers up to `u64::MAX` are exhausted.
    pub fn position(&self) -> Option<u64> {
        self.pieces.iter().map(|p| p.next).min()
    }

    /// Takes the next event number.
    pub fn advance(&mut self) -> Option<u64> {
        let (index, n) = self.pieces.iter().enumerate().map(|(i, p)| (i, p.next)).min_by_key(|&(_, n)| n)?;
        let piece = self.pieces.get_mut(index)?;
        match n.checked_add(piece.stride) {
            Some(next) => piece.next = next,
            None => piece.end = Some(n),
        }
        if piece.is_empty() {
            self.pieces.swap_remove(index);
        }
        Some(n)
    }

    /// Whether event number `n` is still to be produced by this split.
    pub fn contains(&self, n: u64) -> bool {
        self.pieces.iter().any(|p| p.contains(n))
    }

    /// The event numbers left, in increasing order (unbounded).
    pub fn remaining(&self) -> impl Iterator<Item = u64> {
        let mut split = self.clone();
        std::iter::from_fn(move || split.advance())
    }
}

/// Re-splits the work left by all instances of a run (`old[i]` is instance
/// `i`'s split, e.g. restored from its checkpoint) among `new_parallelism`
/// instances; element `j` of the result is new instance `j`'s split. The new
/// splits hold exactly the event numbers the old ones held, each once.
///
/// ```
/// use weir_nexmark::{rescale, Split};
///
/// let mut old = vec![Split::new(0, 2)?, Split::new(1, 2)?];
/// for _ in 0..3 { old[0].advance(); } // produced 0, 2, 4
/// old[1].advance(); // produced 1
/// let new = rescale(&old, 3)?;
/// let mut next: Vec<u64> = new.iter().flat_map(|s| s.remaining().take_while(|&n| n < 9)).collect();
/// next.sort();
/// assert_eq!(next, [3, 5, 6, 7, 8]);
/// # Ok::<(), weir_nexmark::SplitError>(())
/// ```
pub fn rescale(old: &[Split], new_parallelism: u32) -> Result<Vec<Split>, SplitError> {
    check(0, new_parallelism)?;
    let p = u64::from(new_parallelism);
    let (tails, bounded): (Vec<&Progression>, Vec<&Progression>) =
        old.iter().flat_map(|s| &s.pieces).filter(|piece| !piece.is_empty()).partition(|piece| piece.end.is_none());

    // The unbounded tails must be one per residue class of their common stride.
    let stride = tails.first().map(|t| t.stride).ok_or(SplitError::Incomplete)?;
    if tails.len() as u64 != stride || tails.iter().any(|t| t.stride != stride) {
        return Err(SplitError::Incomplete);
    }
    let mut seen = vec![false; tails.len()];
    for t in &tails {
        match seen.get_mut((t.next % stride) as usize) {
            Some(slot) if !*slot => *slot = true,
            _ => return Err(SplitError::Incomplete),
        }
    }
    let cut = tails.iter().map(|t| t.next).max().unwrap_or(0);

    let mut backlog: Vec<Progression> = bounded.into_iter().cloned().collect();
    backlog.extend(tails.iter().filter(|t| t.next < cut).map(|t| Progression { next: t.next, stride, end: Some(cut) }));

    let mut new: Vec<Vec<Progression>> = Vec::with_capacity(new_parallelism as usize);
    for j in 0..p {
        new.push(vec![Progression { next: first_at_or_after(cut, j, p)?, stride: p, end: None }]);
    }
    // Share the backlog out: each piece interleaved over the new instances
    // (starting where the last piece stopped, to balance the remainders).
    let mut turn = 0u64;
    for piece in backlog {
        let count = piece.len().unwrap_or(0);
        match piece.stride.checked_mul(p) {
            Some(wide) if count > 1 && p > 1 => {
                for k in 0..count.min(p) {
                    let sub = Progression { next: piece.next + k * piece.stride, stride: wide, end: piece.end };
                    if let Some(target) = new.get_mut(((turn + k) % p) as usize) {
                        target.push(sub);
                    }
                }
                turn += count.min(p);
            }
            _ => {
                if let Some(target) = new.get_mut((turn % p) as usize) {
                    target.push(piece);
                }
                turn += 1;
            }
        }
    }
    Ok(new.into_iter().map(|pieces| Split { pieces }).collect())
}

/// [`rescale`] from the positions of instances that have never been
/// rescaled: `old_positions[i]` is the [`position`](Split::position) of
/// instance `i` of `old_positions.len()`.
///
/// ```
/// use weir_nexmark::rescale_positions;
///
/// // Of p = 2, instance 0 is at 6 (produced 0, 2, 4) and instance 1 at 3.
/// let new = rescale_positions(&[6, 3], 3)?;
/// assert_eq!(new.len(), 3);
/// assert!(new.iter().any(|s| s.contains(3)) && new.iter().any(|s| s.contains(5)));
/// assert!(!new.iter().any(|s| s.contains(4)));
/// # Ok::<(), weir_nexmark::SplitError>(())
/// ```
pub fn rescale_positions(old_positions: &[u64], new_parallelism: u32) -> Result<Vec<Split>, SplitError> {
    let p = u32::try_from(old_positions.len()).map_err(|_| SplitError::Overflow)?;
    let old = (0..p).zip(old_positions).map(|(i, &position)| Split::resume(i, p, position)).collect::<Result<Vec<_>, _>>()?;
    rescale(&old, new_parallelism)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Advances `split` by `k` and returns the numbers produced.
    fn take(split: &mut Split, k: usize) -> Vec<u64> {
        (0..k).map_while(|_| split.advance()).collect()
    }

    #[test]
    fn round_robin_ownership() {
        let mut s = Split::new(2, 3).unwrap();
        assert_eq!(take(&mut s, 4), [2, 5, 8, 11]);
        assert!(s.contains(14) && !s.contains(11) && !s.contains(13));
        assert_eq!(owner(14, 3), 2);
        assert_eq!(Split::new(3, 3), Err(SplitError::InstanceOutOfRange { instance: 3, parallelism: 3 }));
        assert_eq!(Split::new(0, 0), Err(SplitError::ZeroParallelism));
        // A position between owned numbers rounds up to the next owned one.
        assert_eq!(Split::resume(2, 3, 12).unwrap().position(), Some(14));
    }

    #[test]
    fn rescale_rejects_incomplete_sets() {
        let a = Split::new(0, 2).unwrap();
        let b = Split::new(1, 2).unwrap();
        assert_eq!(rescale(std::slice::from_ref(&a), 3), Err(SplitError::Incomplete));
        assert_eq!(rescale(&[a.clone(), a.clone()], 3), Err(SplitError::Incomplete));
        assert_eq!(rescale(&[], 3), Err(SplitError::Incomplete));
        assert_eq!(rescale(&[a, b], 0), Err(SplitError::ZeroParallelism));
    }

    /// Runs instances to various depths through a chain of parallelisms and
    /// checks that every number below `limit` is produced exactly once.
    #[test]
    fn chained_rescales_are_exact() {
        let limit = 2_000u64;
        for chain in [[2u32, 3, 1, 5], [4, 2, 7, 3], [1, 1, 2, 2]] {
            let mut produced = vec![0u32; limit as usize];
            let mut splits: Vec<Split> = (0..chain[0]).map(|i| Split::new(i, chain[0]).unwrap()).collect();
            for (step, &next_p) in chain.iter().skip(1).enumerate() {
                for (i, s) in splits.iter_mut().enumerate() {
                    // Uneven progress: instance i advances (i * 37 + step * 11) % 90 numbers.
                    for n in take(s, (i * 37 + step * 11) % 90) {
                        produced[n as usize] += 1;
                    }
                }
                splits = rescale(&splits, next_p).unwrap();
                assert_eq!(splits.len(), next_p as usize);
            }
            for s in &splits {
                for n in s.remaining().take_while(|&n| n < limit) {
                    produced[n as usize] += 1;
                }
            }
            assert!(produced.iter().all(|&c| c == 1), "chain {chain:?}");
        }
    }

    #[test]
    fn backlog_is_shared_out_and_order_is_increasing() {
        // p = 2: instance 0 produced nothing, instance 1 produced up to 199.
        let new = rescale_positions(&[0, 201], 3).unwrap();
        let sizes: Vec<usize> = new.iter().map(|s| s.remaining().take_while(|&n| n < 201).count()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 101);
        assert!(sizes.iter().all(|&k| (33..=34).contains(&k)), "{sizes:?}");
        for s in &new {
            let numbers: Vec<u64> = s.remaining().take(200).collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn splits_round_trip_through_json() {
        let new = rescale_positions(&[10, 3], 2).unwrap();
        let json = serde_json::to_string(&new).unwrap();
        let back: Vec<Split> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, new);
        let zero_stride = r#"{"pieces":[{"next":0,"stride":0,"end":null}]}"#;
        assert!(serde_json::from_str::<Split>(zero_stride).is_err());
        let no_tail = r#"{"pieces":[{"next":0,"stride":1,"end":5}]}"#;
        assert!(serde_json::from_str::<Split>(no_tail).is_err());
    }
}
