//! Event-time timers, kept per key group.

use std::collections::BTreeMap;

use hashbrown::HashSet;
use serde::{Deserialize, Serialize};

use crate::Key;

/// A timer that fired: for `key` (in key group `key_group`) in `namespace`
/// (the window's start for window operators, 0 for process functions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timer<K> {
    /// When it fires, in event time (ms).
    pub timestamp: i64,
    /// Its key.
    pub key: K,
    /// Its namespace.
    pub namespace: i64,
    /// The key's key group.
    pub key_group: u32,
}

/// The timers of one key group: by timestamp, a set of `(key, namespace)`.
#[derive(Debug, Clone)]
pub(crate) struct TimerMap<K: Key> {
    by_time: BTreeMap<i64, HashSet<(K, i64)>>,
}

impl<K: Key> Default for TimerMap<K> {
    fn default() -> Self {
        TimerMap { by_time: BTreeMap::new() }
    }
}

impl<K: Key> TimerMap<K> {
    pub(crate) fn insert(&mut self, key: &K, namespace: i64, timestamp: i64) {
        let set = self.by_time.entry(timestamp).or_default();
        if !set.contains(&(key.clone(), namespace)) {
            set.insert((key.clone(), namespace));
        }
    }

    pub(crate) fn remove(&mut self, key: &K, namespace: i64, timestamp: i64) {
        if let Some(set) = self.by_time.get_mut(&timestamp) {
            set.remove(&(key.clone(), namespace));
            if set.is_empty() {
                self.by_time.remove(&timestamp);
            }
        }
    }

    pub(crate) fn first_time(&self) -> Option<i64> {
        self.by_time.keys().next().copied()
    }

    pub(crate) fn pop_until(&mut self, watermark: i64, key_group: u32, out: &mut Vec<Timer<K>>) {
        while let Some(entry) = self.by_time.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            let timestamp = *entry.key();
            for (key, namespace) in entry.remove() {
                out.push(Timer { timestamp, key, namespace, key_group });
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_time.is_empty()
    }

    pub(crate) fn entries(&self) -> Vec<(i64, &K, i64)> {
        self.by_time.iter().flat_map(|(t, set)| set.iter().map(move |(k, n)| (*t, k, *n))).collect()
    }
}
