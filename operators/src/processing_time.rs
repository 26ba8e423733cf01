//! Processing-time timers of a keyed operator: kept in memory by wall-clock
//! time, and checkpointed with the operator as inline state with their key
//! groups, so that a restore at any parallelism gives each instance the
//! timers of its key groups. A timer that came due while the job was down
//! fires right after the restore.
//!
//! A timer at `t` is due once the millisecond `t` has passed (the wall clock
//! reads `t + 1` or later), as in Flink: records that arrive during
//! millisecond `t` carry the time `t`, so a window ending at `t + 1` still
//! takes them. Firing it during that millisecond would let a later record
//! of the same millisecond create the window's state again, and the window
//! would fire twice.

use std::collections::BTreeMap;

use hashbrown::HashSet;
use weir_runtime::{JobError, SubtaskEnv};
use weir_state::codec::{self, ValueFormat};
use weir_state::{Key, KeyGroupRange, Timer};

/// The processing-time timers of one operator instance.
pub struct ProcessingTimers<K: Key> {
    by_time: BTreeMap<i64, HashSet<(u32, K, i64)>>,
}

impl<K: Key> Default for ProcessingTimers<K> {
    fn default() -> Self {
        ProcessingTimers { by_time: BTreeMap::new() }
    }
}

impl<K: Key> ProcessingTimers<K> {
    /// The timers of operator `id` that the instance described by `env`
    /// takes over when the job restores (none otherwise).
    pub fn restored(id: &str, env: &SubtaskEnv) -> Result<Self, JobError> {
        let mut timers = Self::default();
        let Some(r) = env.restored(id, false)? else { return Ok(timers) };
        let states: Vec<Vec<u8>> = match (&r.inline, &r.rescaled) {
            (Some(own), _) => vec![own.clone()],
            (None, Some(all)) => all.states.iter().map(|(_, b)| b.clone()).collect(),
            (None, None) => Vec::new(),
        };
        for bytes in states {
            timers.add_restored(id, r.format, &bytes, env.key_groups)?;
        }
        Ok(timers)
    }

    fn add_restored(&mut self, id: &str, format: ValueFormat, bytes: &[u8], range: KeyGroupRange) -> Result<(), JobError> {
        let entries: Vec<(i64, u32, K, i64)> = codec::decode(format, bytes)
            .map_err(|e| JobError::Input(format!("operator {id}: its checkpointed processing-time timers: {e}")))?;
        for (ts, kg, key, ns) in entries {
            if range.contains(kg) {
                self.register(kg, key, ns, ts);
            }
        }
        Ok(())
    }

    /// Registers a timer (registering it twice keeps one).
    pub fn register(&mut self, kg: u32, key: K, namespace: i64, ts: i64) {
        self.by_time.entry(ts).or_default().insert((kg, key, namespace));
    }

    /// Deletes a timer, if registered.
    pub fn delete(&mut self, kg: u32, key: &K, namespace: i64, ts: i64) {
        if let Some(set) = self.by_time.get_mut(&ts) {
            set.remove(&(kg, key.clone(), namespace));
            if set.is_empty() {
                self.by_time.remove(&ts);
            }
        }
    }

    /// When the earliest timer is due: the millisecond after its time.
    pub fn next(&self) -> Option<i64> {
        self.by_time.keys().next().map(|t| t.saturating_add(1))
    }

    /// Removes the timers due at `now` (those before `now`: their
    /// millisecond has passed) and appends them to `out`, earliest first.
    pub fn pop_due(&mut self, now: i64, out: &mut Vec<Timer<K>>) {
        while let Some(entry) = self.by_time.first_entry() {
            if *entry.key() >= now {
                break;
            }
            let ts = *entry.key();
            for (key_group, key, namespace) in entry.remove() {
                out.push(Timer { timestamp: ts, key, namespace, key_group });
            }
        }
    }

    /// The timers as inline state for a checkpoint, or `None` without timers.
    pub fn snapshot(&self) -> Result<Option<Vec<u8>>, JobError> {
        if self.by_time.is_empty() {
            return Ok(None);
        }
        let entries: Vec<(i64, u32, &K, i64)> =
            self.by_time.iter().flat_map(|(ts, set)| set.iter().map(move |(kg, key, ns)| (*ts, *kg, key, *ns))).collect();
        Ok(Some(codec::encode(&entries)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timers_pop_in_time_order_and_survive_a_snapshot_split_by_key_group() {
        let mut t = ProcessingTimers::<u64>::default();
        t.register(3, 30, 0, 300);
        t.register(1, 10, 0, 100);
        t.register(1, 10, 0, 100);
        t.register(7, 70, 0, 200);
        t.delete(7, &70, 0, 200);
        t.register(9, 90, 0, 250);
        assert_eq!(t.next(), Some(101), "due once millisecond 100 has passed");
        let bytes = t.snapshot().unwrap().unwrap();
        let mut out = Vec::new();
        t.pop_due(260, &mut out);
        assert_eq!(out.iter().map(|t| (t.timestamp, t.key)).collect::<Vec<_>>(), vec![(100, 10), (250, 90)]);
        let mut low = ProcessingTimers::<u64>::default();
        low.add_restored("op", ValueFormat::CURRENT, &bytes, KeyGroupRange::new(0, 4)).unwrap();
        let mut all = Vec::new();
        low.pop_due(i64::MAX, &mut all);
        assert_eq!(all.iter().map(|t| t.key).collect::<Vec<_>>(), vec![10, 30], "only the timers of key groups 0..=4");
    }

    #[test]
    fn a_timer_is_not_due_during_its_own_millisecond() {
        let mut t = ProcessingTimers::<u64>::default();
        t.register(0, 1, 0, 9_999);
        let mut out = Vec::new();
        t.pop_due(9_999, &mut out);
        assert!(out.is_empty(), "records of millisecond 9 999 may still arrive");
        assert_eq!(t.next(), Some(10_000));
        t.pop_due(10_000, &mut out);
        assert_eq!(out.iter().map(|t| t.timestamp).collect::<Vec<_>>(), vec![9_999]);
        assert_eq!(t.next(), None);
    }
}
