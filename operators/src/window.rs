//! Tumbling event-time windows with count, reduce and aggregate.

use std::fmt;

use weir_runtime::{Barrier, Counter, Event, JobError, Keyed, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::{Backend, Key, KeyGroupRange, KeyedStateBackend, StateId, StateValue, Timer};

/// Tumbling windows of a fixed size: `[k * size, (k + 1) * size)`.
///
/// ```
/// use weir_operators::TumblingWindows;
/// let w = TumblingWindows::of_millis(1000);
/// assert_eq!(w.window_of(2500).start, 2000);
/// assert_eq!(w.window_of(-1).start, -1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TumblingWindows {
    size_ms: i64,
}

impl TumblingWindows {
    /// Windows of `size_ms` milliseconds (at least 1).
    pub fn of_millis(size_ms: i64) -> Self {
        TumblingWindows { size_ms: size_ms.max(1) }
    }
    /// Windows of `size`.
    pub fn of(size: std::time::Duration) -> Self {
        Self::of_millis(size.as_millis() as i64)
    }
    /// The window holding event time `ts`.
    #[inline]
    pub fn window_of(&self, ts: i64) -> Window {
        let start = ts - ts.rem_euclid(self.size_ms);
        Window { start, end: start + self.size_ms }
    }
    fn starting_at(&self, start: i64) -> Window {
        Window { start, end: start + self.size_ms }
    }
}

/// A window: event times from `start` (inclusive) to `end` (exclusive), in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// First millisecond.
    pub start: i64,
    /// One past the last millisecond.
    pub end: i64,
}

/// The result of one window for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowResult<K, A> {
    /// The window.
    pub window: Window,
    /// The key.
    pub key: K,
    /// The aggregate.
    pub value: A,
}

impl<K: fmt::Display, A: fmt::Display> fmt::Display for WindowResult<K, A> {
    /// `<window_start_ms>,<key>,<value>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.window.start, self.key, self.value)
    }
}

/// How a window folds its records.
pub trait Aggregate<T>: Send + 'static {
    /// The accumulator kept in state.
    type Acc: StateValue;
    /// What the window emits.
    type Out: Send + 'static;
    /// A new accumulator holding the first record.
    fn first(&self, value: T) -> Self::Acc;
    /// Folds a record in.
    fn add(&self, acc: &mut Self::Acc, value: T);
    /// The window's result.
    fn result(&self, acc: Self::Acc) -> Self::Out;
}

/// Counts records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl<T> Aggregate<T> for Count {
    type Acc = u64;
    type Out = u64;
    #[inline]
    fn first(&self, _value: T) -> u64 {
        1
    }
    #[inline]
    fn add(&self, acc: &mut u64, _value: T) {
        *acc += 1;
    }
    fn result(&self, acc: u64) -> u64 {
        acc
    }
}

/// Folds records with a function of two records.
#[derive(Clone)]
pub struct Reduce<F>(pub F);

impl<T: StateValue, F: Fn(T, T) -> T + Send + 'static> Aggregate<T> for Reduce<F> {
    type Acc = T;
    type Out = T;
    fn first(&self, value: T) -> T {
        value
    }
    fn add(&self, acc: &mut T, value: T) {
        let cur = acc.clone();
        *acc = (self.0)(cur, value);
    }
    fn result(&self, acc: T) -> T {
        acc
    }
}

/// A user-defined aggregation, like Flink's `AggregateFunction`.
///
/// ```
/// use weir_operators::AggregateFunction;
/// #[derive(Clone)]
/// struct Average;
/// impl AggregateFunction<f64> for Average {
///     type Acc = (f64, u64);
///     type Out = f64;
///     fn create(&self) -> (f64, u64) { (0.0, 0) }
///     fn add(&self, acc: &mut (f64, u64), v: f64) { acc.0 += v; acc.1 += 1; }
///     fn result(&self, acc: (f64, u64)) -> f64 { acc.0 / acc.1 as f64 }
/// }
/// ```
pub trait AggregateFunction<T>: Send + 'static {
    /// The accumulator kept in state.
    type Acc: StateValue;
    /// What the window emits.
    type Out: Send + 'static;
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Folds a record in.
    fn add(&self, acc: &mut Self::Acc, value: T);
    /// The window's result.
    fn result(&self, acc: Self::Acc) -> Self::Out;
}

/// Adapts an [`AggregateFunction`] to [`Aggregate`].
#[derive(Clone)]
pub struct Aggregating<F>(pub F);

impl<T, F: AggregateFunction<T>> Aggregate<T> for Aggregating<F> {
    type Acc = F::Acc;
    type Out = F::Out;
    fn first(&self, value: T) -> Self::Acc {
        let mut acc = self.0.create();
        self.0.add(&mut acc, value);
        acc
    }
    fn add(&self, acc: &mut Self::Acc, value: T) {
        self.0.add(acc, value)
    }
    fn result(&self, acc: Self::Acc) -> Self::Out {
        self.0.result(acc)
    }
}

const OUT_BATCH: usize = 4096;

/// Keeps one accumulator per key and window in keyed state, and emits it when
/// the watermark passes the window's end. Late records are dropped and counted.
pub struct WindowOperator<K: Key, T, A: Aggregate<T>> {
    id: String,
    windows: TumblingWindows,
    agg: A,
    backend: Backend<K>,
    contents: StateId<i64, A::Acc>,
    range: KeyGroupRange,
    watermark: i64,
    fired: Vec<Timer<K>>,
    out: Vec<Event<WindowResult<K, A::Out>>>,
    windows_fired: Counter,
    late: Counter,
    next: Box<dyn Operator<Event<WindowResult<K, A::Out>>>>,
}

impl<K: Key, T, A: Aggregate<T>> WindowOperator<K, T, A> {
    /// Builds the instance described by `env`, restoring its state if the job restores.
    pub fn new(
        id: &str,
        windows: TumblingWindows,
        agg: A,
        env: &SubtaskEnv,
        next: Box<dyn Operator<Event<WindowResult<K, A::Out>>>>,
    ) -> Result<Self, JobError> {
        let mut backend: Backend<K> = env.keyed_backend(id)?;
        let contents = backend.register("window-contents").map_err(|e| JobError::state(id, e))?;
        Ok(WindowOperator {
            id: id.to_string(),
            windows,
            agg,
            backend,
            contents,
            range: env.key_groups,
            watermark: i64::MIN,
            fired: Vec::new(),
            out: Vec::new(),
            windows_fired: env.counters.counter("windows_fired"),
            late: env.counters.counter("late_records_dropped"),
            next,
        })
    }

    fn flush(&mut self) -> Result<(), JobError> {
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

impl<K: Key, T: Send, A: Aggregate<T>> Operator<Keyed<K, T>> for WindowOperator<K, T, A> {
    fn process(&mut self, batch: &mut Vec<Keyed<K, T>>) -> Result<(), JobError> {
        let mut late = 0;
        for r in batch.drain(..) {
            let w = self.windows.window_of(r.ts);
            if w.end - 1 <= self.watermark {
                late += 1;
                continue;
            }
            let agg = &self.agg;
            let created = self
                .backend
                .upsert(&self.contents, r.kg, &r.key, &w.start, r.value, |v| agg.first(v), |acc, v| agg.add(acc, v))
                .map_err(|e| JobError::state(&self.id, e))?;
            if created {
                self.backend.register_timer(r.kg, &r.key, w.start, w.end - 1).map_err(|e| JobError::state(&self.id, e))?;
            }
        }
        if late > 0 {
            self.late.add(late);
        }
        Ok(())
    }

    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        self.backend.pop_timers(watermark, &mut self.fired).map_err(|e| JobError::state(&self.id, e))?;
        let fired = std::mem::take(&mut self.fired);
        let n = fired.len() as u64;
        for t in &fired {
            let acc = self.backend.remove(&self.contents, t.key_group, &t.key, &t.namespace).map_err(|e| JobError::state(&self.id, e))?;
            if let Some(acc) = acc {
                let window = self.windows.starting_at(t.namespace);
                self.out
                    .push(Event { ts: window.end - 1, value: WindowResult { window, key: t.key.clone(), value: self.agg.result(acc) } });
                if self.out.len() >= OUT_BATCH {
                    self.flush()?;
                }
            }
        }
        self.fired = fired;
        self.fired.clear();
        if n > 0 {
            self.windows_fired.add(n);
        }
        self.flush()?;
        self.next.watermark(watermark)
    }

    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        let state = barrier.snapshot(&mut self.backend).map_err(|e| JobError::state(&self.id, e))?;
        snapshots.push(OperatorSnapshot { operator_id: self.id.clone(), key_groups: Some(self.range), inline: None, state: Some(state) });
        self.next.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.next.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.next.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.next.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.next.idle()
    }
}
