//! Named counters that tasks bump and the job result reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A set of named counters shared by the tasks of a job.
///
/// ```
/// use weir_runtime::Counters;
/// let c = Counters::default();
/// let events = c.counter("events");
/// events.add(3);
/// assert_eq!(c.snapshot()["events"], 3);
/// ```
#[derive(Clone, Default)]
pub struct Counters {
    inner: Arc<Mutex<BTreeMap<String, Arc<AtomicU64>>>>,
}

/// One counter.
#[derive(Clone, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Counters {
    /// The counter `name`, created at zero on first use.
    pub fn counter(&self, name: &str) -> Counter {
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        Counter(map.entry(name.to_string()).or_default().clone())
    }
    /// Every counter's value.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let map = match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.iter().map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect()
    }
}
