//! Ranges of key groups, the unit in which keyed state is split and redistributed.

use serde::{Deserialize, Serialize};

/// A contiguous range of key groups, inclusive at both ends like Flink's.
///
/// A range with `start == end + 1` (or more generally `start > end`) is empty;
/// [`KeyGroupRange::EMPTY`] is the canonical empty range. In `_metadata` it is
/// written as `{"start": 0, "end": 63}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyGroupRange {
    /// First key group in the range.
    pub start: u32,
    /// Last key group in the range (inclusive).
    pub end: u32,
}

impl KeyGroupRange {
    /// The canonical empty range.
    pub const EMPTY: KeyGroupRange = KeyGroupRange { start: 1, end: 0 };

    /// The range `start..=end`; empty when `start > end`.
    pub fn new(start: u32, end: u32) -> Self {
        KeyGroupRange { start, end }
    }

    /// The key groups that subtask `subtask` of `parallelism` owns when the job
    /// has `max_parallelism` key groups, computed exactly like Flink's
    /// `KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex`.
    ///
    /// Returns [`KeyGroupRange::EMPTY`] when `parallelism` is 0 or `subtask`
    /// is not below it.
    pub fn for_subtask(max_parallelism: u32, parallelism: u32, subtask: u32) -> Self {
        if parallelism == 0 || subtask >= parallelism {
            return Self::EMPTY;
        }
        let (m, p, i) = (u64::from(max_parallelism), u64::from(parallelism), u64::from(subtask));
        let start = (i * m).div_ceil(p);
        let end_exclusive = ((i + 1) * m).div_ceil(p);
        if end_exclusive <= start {
            return Self::EMPTY;
        }
        // Both values are at most `max_parallelism`, so they fit in u32.
        match (u32::try_from(start), u32::try_from(end_exclusive - 1)) {
            (Ok(start), Ok(end)) => Self::new(start, end),
            _ => Self::EMPTY,
        }
    }

    /// Whether the range holds no key group.
    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }

    /// Whether `key_group` lies in the range.
    pub fn contains(&self, key_group: u32) -> bool {
        self.start <= key_group && key_group <= self.end
    }

    /// Number of key groups in the range.
    pub fn len(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            usize::try_from(u64::from(self.end) - u64::from(self.start) + 1).unwrap_or(usize::MAX)
        }
    }

    /// The key groups of the range in ascending order.
    pub fn iter(&self) -> std::ops::RangeInclusive<u32> {
        if self.is_empty() {
            // An empty inclusive range that does not depend on the stored bounds.
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        self.start..=self.end
    }

    /// The key groups both ranges hold (possibly empty).
    pub fn intersection(&self, other: &KeyGroupRange) -> KeyGroupRange {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        if start > end {
            Self::EMPTY
        } else {
            Self::new(start, end)
        }
    }
}

impl IntoIterator for KeyGroupRange {
    type Item = u32;
    type IntoIter = std::ops::RangeInclusive<u32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            write!(f, "[]")
        } else {
            write!(f, "[{}..={}]", self.start, self.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeyGroupRange;

    #[test]
    fn basic_properties() {
        let r = KeyGroupRange::new(4, 7);
        assert!(!r.is_empty());
        assert_eq!(r.len(), 4);
        assert!(r.contains(4) && r.contains(7));
        assert!(!r.contains(3) && !r.contains(8));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(r.to_string(), "[4..=7]");
        let single = KeyGroupRange::new(0, 0);
        assert_eq!(single.len(), 1);
        assert_eq!(single.into_iter().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn empty_ranges() {
        for r in [KeyGroupRange::EMPTY, KeyGroupRange::new(5, 4), KeyGroupRange::new(9, 2)] {
            assert!(r.is_empty());
            assert_eq!(r.len(), 0);
            assert_eq!(r.iter().count(), 0);
            assert!(!r.contains(4) && !r.contains(5) && !r.contains(0));
        }
        assert_eq!(KeyGroupRange::EMPTY.to_string(), "[]");
    }

    #[test]
    fn full_u32_range_len_does_not_overflow() {
        let r = KeyGroupRange::new(0, u32::MAX);
        assert_eq!(r.len() as u64, 1u64 << 32);
    }

    #[test]
    fn for_subtask_matches_flink() {
        // Flink: maxParallelism 128, parallelism 3 -> [0,42], [43,85], [86,127]
        assert_eq!(KeyGroupRange::for_subtask(128, 3, 0), KeyGroupRange::new(0, 42));
        assert_eq!(KeyGroupRange::for_subtask(128, 3, 1), KeyGroupRange::new(43, 85));
        assert_eq!(KeyGroupRange::for_subtask(128, 3, 2), KeyGroupRange::new(86, 127));
        assert!(KeyGroupRange::for_subtask(128, 3, 3).is_empty());
        assert!(KeyGroupRange::for_subtask(128, 0, 0).is_empty());
        // Every key group is covered exactly once, for many shapes.
        for max in [1u32, 2, 7, 128, 1000] {
            for p in 1..=max.min(20) {
                let mut next = 0;
                for i in 0..p {
                    let r = KeyGroupRange::for_subtask(max, p, i);
                    assert_eq!(r.start, next, "max {max} p {p} i {i}");
                    next = r.end + 1;
                }
                assert_eq!(next, max);
            }
        }
    }

    #[test]
    fn intersection() {
        let a = KeyGroupRange::new(0, 10);
        assert_eq!(a.intersection(&KeyGroupRange::new(5, 20)), KeyGroupRange::new(5, 10));
        assert!(a.intersection(&KeyGroupRange::new(11, 20)).is_empty());
        assert!(a.intersection(&KeyGroupRange::EMPTY).is_empty());
    }
}
