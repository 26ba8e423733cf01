//! What flows through a job: timestamped events, and keyed events after `key_by`.

/// A record with its event time (milliseconds).
///
/// ```
/// use weir_runtime::Event;
/// let e = Event::new(1_000, "click");
/// assert_eq!(e.ts, 1_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<T> {
    /// Event time in milliseconds.
    pub ts: i64,
    /// The record.
    pub value: T,
}

impl<T> Event<T> {
    /// An event at `ts`.
    pub fn new(ts: i64, value: T) -> Self {
        Event { ts, value }
    }
}

/// A record routed by key: its key, the key's key group, its event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<K, T> {
    /// The key's key group.
    pub kg: u32,
    /// The key.
    pub key: K,
    /// Event time in milliseconds.
    pub ts: i64,
    /// The record.
    pub value: T,
}
