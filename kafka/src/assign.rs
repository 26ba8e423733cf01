//! Which source instance reads which partition: the one place that decides
//! it, for a fresh start, a restore, a rescale and partitions added while
//! the job runs.
//!
//! Partition `n` of a topic goes to instance `(start(topic) + n) mod p`,
//! where `start` is a hash of the topic's name: the partitions of one topic
//! are spread round-robin, and several small topics do not all begin at
//! instance 0. The rule depends on nothing but the topic, the partition and
//! `p`, so a partition added later, or the partitions of every earlier
//! instance after a rescale, land on exactly one instance without any
//! coordination between instances.

/// One partition of one topic: a split of the source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// FNV-1a of the topic's name: stable across runs, platforms and versions.
fn start(topic: &str) -> u64 {
    topic.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The instance of `parallelism` that reads `partition` of `topic`.
///
/// ```
/// use weir_kafka::owner;
/// // The four partitions of a topic on two instances: two each, alternating.
/// let owners: Vec<u32> = (0..4).map(|n| owner("events", n, 2)).collect();
/// assert_eq!(owners.iter().filter(|o| **o == 0).count(), 2);
/// assert_ne!(owners[0], owners[1]);
/// ```
pub fn owner(topic: &str, partition: i32, parallelism: u32) -> u32 {
    let p = u64::from(parallelism.max(1));
    let n = u64::try_from(partition).unwrap_or(0);
    // Both terms are below `p`, which fits in a u32.
    ((start(topic) % p + n % p) % p) as u32
}

/// Whether instance `subtask` of `parallelism` reads `tp`.
pub fn owns(tp: &TopicPartition, subtask: u32, parallelism: u32) -> bool {
    owner(&tp.topic, tp.partition, parallelism) == subtask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_has_exactly_one_owner_at_any_parallelism() {
        for p in 1..=5u32 {
            for topic in ["a", "events", "orders-eu"] {
                for n in 0..13 {
                    let tp = TopicPartition { topic: topic.into(), partition: n };
                    let owners = (0..p).filter(|s| owns(&tp, *s, p)).count();
                    assert_eq!(owners, 1, "{tp} at parallelism {p}");
                }
            }
        }
    }

    #[test]
    fn partitions_of_a_topic_are_spread_evenly() {
        for p in 1..=4u32 {
            let mut per = vec![0; p as usize];
            for n in 0..(4 * p as i32) {
                per[owner("events", n, p) as usize] += 1;
            }
            assert!(per.iter().all(|c| *c == 4), "{per:?} at parallelism {p}");
        }
    }

    #[test]
    fn the_rule_does_not_change_between_versions() {
        // A restore after an upgrade must deal partitions out as before.
        assert_eq!(start("events"), 0xdd63_d0ce_c6bb_7d04);
        assert_eq!((0..6).map(|n| owner("orders", n, 3)).collect::<Vec<_>>(), [1, 2, 0, 1, 2, 0]);
    }
}
