//! Key groups: which key group a key falls in, and which instance owns it.

use weir_checkpoint::KeyGroupRange;

use crate::{Key, StateError};

/// The position of `key_group` in `range`, or the error that it lies outside.
#[inline]
pub(crate) fn index_in(range: KeyGroupRange, key_group: u32) -> Result<usize, StateError> {
    if range.contains(key_group) {
        Ok((key_group - range.start) as usize)
    } else {
        Err(StateError::KeyGroupOutOfRange { key_group, start: range.start, end: range.end })
    }
}

/// The key group of `key` among `max_parallelism` key groups.
///
/// ```
/// use weir_state::key_group_of;
/// let kg = key_group_of(&"user-7".to_string(), 128);
/// assert!(kg < 128);
/// ```
#[inline]
pub fn key_group_of<K: Key>(key: &K, max_parallelism: u32) -> u32 {
    (key.stable_hash() % u64::from(max_parallelism.max(1))) as u32
}

/// The contiguous range of key groups that instance `subtask` of
/// `parallelism` owns, as Flink's `KeyGroupRangeAssignment` computes it.
///
/// ```
/// use weir_state::key_group_range_for_subtask;
/// let r = key_group_range_for_subtask(128, 2, 1);
/// assert_eq!((r.start, r.end), (64, 127));
/// ```
pub fn key_group_range_for_subtask(max_parallelism: u32, parallelism: u32, subtask: u32) -> KeyGroupRange {
    let max = u64::from(max_parallelism);
    let p = u64::from(parallelism.max(1));
    let i = u64::from(subtask);
    let start = (i * max).div_ceil(p);
    let end = ((i + 1) * max).div_ceil(p) - 1;
    KeyGroupRange::new(start as u32, end as u32)
}

/// The instance (of `parallelism`) that owns key group `key_group`.
///
/// ```
/// use weir_state::subtask_for_key_group;
/// assert_eq!(subtask_for_key_group(128, 2, 63), 0);
/// assert_eq!(subtask_for_key_group(128, 2, 64), 1);
/// ```
#[inline]
pub fn subtask_for_key_group(max_parallelism: u32, parallelism: u32, key_group: u32) -> u32 {
    (u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_key_group_once_and_agree_with_owner() {
        for max in [1u32, 7, 128, 1000] {
            for p in 1..=max.min(9) {
                let mut next = 0;
                for i in 0..p {
                    let r = key_group_range_for_subtask(max, p, i);
                    assert_eq!(r.start, next, "max {max} p {p} i {i}");
                    for kg in r.start..=r.end {
                        assert_eq!(subtask_for_key_group(max, p, kg), i, "max {max} p {p} kg {kg}");
                    }
                    next = r.end + 1;
                }
                assert_eq!(next, max);
            }
        }
    }

    #[test]
    fn keys_spread_over_key_groups() {
        let mut counts = vec![0u32; 128];
        for k in 0u64..12_800 {
            counts[key_group_of(&k, 128) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 50 && c < 150), "{counts:?}");
    }
}
