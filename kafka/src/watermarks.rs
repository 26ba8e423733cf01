//! Event time of a Kafka source instance: a watermark per partition (the
//! highest record timestamp seen minus the allowed out-of-orderness), and
//! the instance's watermark as the least of them over the partitions that
//! are active. A partition that has had no record for the idleness timeout
//! stops counting until its next record, so that an empty or quiet
//! partition does not hold back event time for the whole job.

use crate::TopicPartition;

/// Per-partition watermarks of one instance. Time is passed in (ms on any
/// monotonic clock), so the logic is tested without sleeping.
#[derive(Debug, Default)]
pub struct PartitionWatermarks {
    out_of_orderness: i64,
    idle_after: Option<i64>,
    /// By index, in the order they were assigned.
    partitions: Vec<(TopicPartition, Partition)>,
    /// The highest watermark handed out: the instance's never goes back.
    emitted: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Partition {
    max_ts: Option<i64>,
    last_record_at: i64,
}

impl PartitionWatermarks {
    /// Watermarks `out_of_orderness` ms behind the highest timestamp; a
    /// partition without records for `idle_after` ms (if given) is idle.
    pub fn new(out_of_orderness: i64, idle_after: Option<i64>) -> Self {
        PartitionWatermarks { out_of_orderness, idle_after, ..Default::default() }
    }

    /// Starts tracking `tp` (assigned at `now`, with `max_ts` if restored);
    /// returns its index, which [`PartitionWatermarks::record`] takes.
    pub fn assign(&mut self, tp: TopicPartition, max_ts: Option<i64>, now: i64) -> usize {
        if let Some(i) = self.partitions.iter().position(|(t, _)| *t == tp) {
            return i;
        }
        self.partitions.push((tp, Partition { max_ts, last_record_at: now }));
        self.partitions.len() - 1
    }

    /// A record of partition `index` with timestamp `ts` read at `now`.
    #[inline]
    pub fn record(&mut self, index: usize, ts: i64, now: i64) {
        if let Some((_, p)) = self.partitions.get_mut(index) {
            p.max_ts = Some(p.max_ts.map_or(ts, |m| m.max(ts)));
            p.last_record_at = now;
        }
    }

    /// The highest timestamp seen of each partition, by index, for the checkpoint.
    pub fn max_timestamps(&self) -> impl Iterator<Item = (&TopicPartition, Option<i64>)> {
        self.partitions.iter().map(|(tp, p)| (tp, p.max_ts))
    }

    /// The instance's watermark at `now`: the least over the active
    /// partitions, never lower than one given before. While an active
    /// partition has no record yet, or when every partition is idle, it
    /// does not move (`None` if there was none yet).
    pub fn current(&mut self, now: i64) -> Option<i64> {
        let mut least: Option<i64> = None;
        for (_, p) in &self.partitions {
            let idle = self.idle_after.is_some_and(|t| now - p.last_record_at >= t);
            if idle {
                continue;
            }
            let Some(max_ts) = p.max_ts else { return self.emitted };
            let wm = max_ts.saturating_sub(self.out_of_orderness).saturating_sub(1);
            least = Some(least.map_or(wm, |l| l.min(wm)));
        }
        let Some(wm) = least else { return self.emitted };
        if self.emitted.is_none_or(|e| wm > e) {
            self.emitted = Some(wm);
        }
        self.emitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(n: i32) -> TopicPartition {
        TopicPartition { topic: "t".into(), partition: n }
    }

    #[test]
    fn the_watermark_is_the_least_of_the_partitions() {
        let mut w = PartitionWatermarks::new(100, None);
        assert_eq!(w.assign(tp(0), None, 0), 0);
        assert_eq!(w.assign(tp(1), None, 0), 1);
        assert_eq!(w.assign(tp(0), None, 0), 0, "assigned once");
        w.record(0, 5_000, 1);
        assert_eq!(w.current(1), None, "partition 1 has no record yet");
        w.record(1, 2_000, 2);
        assert_eq!(w.current(2), Some(1_899));
        w.record(1, 9_000, 3);
        assert_eq!(w.current(3), Some(4_899));
    }

    #[test]
    fn an_idle_partition_does_not_hold_back_event_time() {
        let mut w = PartitionWatermarks::new(0, Some(1_000));
        w.assign(tp(0), None, 0);
        w.assign(tp(1), None, 0);
        w.record(0, 5_000, 10);
        assert_eq!(w.current(500), None, "partition 1 is not idle yet");
        assert_eq!(w.current(1_000), Some(4_999), "partition 1 is idle after 1 s");
        w.record(1, 1_000, 1_200);
        assert_eq!(w.current(1_200), Some(4_999), "the watermark never goes back");
        w.record(0, 8_000, 1_300);
        w.record(1, 7_000, 1_300);
        assert_eq!(w.current(1_300), Some(6_999));
        assert_eq!(w.current(10_000), Some(6_999), "both idle: no new watermark");
    }

    #[test]
    fn a_restored_partition_keeps_its_event_time() {
        let mut w = PartitionWatermarks::new(0, None);
        w.assign(tp(0), Some(3_000), 0);
        assert_eq!(w.current(0), Some(2_999));
        assert_eq!(w.max_timestamps().collect::<Vec<_>>(), [(&tp(0), Some(3_000))]);
    }
}
