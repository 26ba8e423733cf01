//! Global windows: one window per key holding every record, fired by a
//! trigger (every `n` records for count windows) rather than by time.
//!
//! State per key is one value: the number of records in the window and its
//! accumulator. A trigger that fires and purges starts the window afresh.
//! The window never ends, so the window function's `clear` is never called:
//! its per-window state is the key's, under [`GLOBAL_WINDOW`].

use std::sync::Arc;

use weir_runtime::{Barrier, Counter, Event, JobError, Keyed, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::{Backend, Key, KeyGroupRange, KeyedStateBackend, StateId};

use super::{Aggregate, Window, WindowContext, WindowFunction};
use crate::OpenContext;

/// What a trigger decides after a record joined the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    /// Keep collecting.
    Continue,
    /// Emit the window's result and keep its contents.
    Fire,
    /// Emit the window's result and start it afresh.
    FireAndPurge,
}

/// What a trigger sees: the window's record count (the new record
/// included) and the new record's event time.
#[derive(Debug, Clone, Copy)]
pub struct TriggerContext {
    /// Records in the window, the new one included.
    pub count: u64,
    /// The new record's event time.
    pub timestamp: i64,
}

/// Decides when a global window fires.
pub type Trigger = Arc<dyn Fn(&TriggerContext) -> TriggerResult + Send + Sync>;

/// One window per key for all time, fired by a trigger: `GlobalWindows::count(n)`
/// emits every `n` records of a key (Flink's `countWindow(n)`).
///
/// ```
/// use weir_operators::{GlobalWindows, TriggerContext, TriggerResult};
/// let every_3 = GlobalWindows::count(3);
/// // Or any rule of the count and the record's time:
/// let custom = GlobalWindows::with_trigger(|c: &TriggerContext| {
///     if c.count % 10 == 0 { TriggerResult::Fire } else { TriggerResult::Continue }
/// });
/// # let _ = (every_3, custom);
/// ```
#[derive(Clone)]
pub struct GlobalWindows {
    pub(crate) trigger: Trigger,
}

impl GlobalWindows {
    /// Fires and purges every `n` records of a key (at least 1).
    pub fn count(n: u64) -> Self {
        let n = n.max(1);
        Self::with_trigger(move |c: &TriggerContext| if c.count >= n { TriggerResult::FireAndPurge } else { TriggerResult::Continue })
    }
    /// Fires as `trigger` decides.
    pub fn with_trigger(trigger: impl Fn(&TriggerContext) -> TriggerResult + Send + Sync + 'static) -> Self {
        GlobalWindows { trigger: Arc::new(trigger) }
    }
}

impl std::fmt::Debug for GlobalWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GlobalWindows")
    }
}

/// The window every result of a global window carries.
pub const GLOBAL_WINDOW: Window = Window { start: i64::MIN, end: i64::MAX };

/// Runs global windows of an [`Aggregate`] with a trigger.
pub struct GlobalWindowOperator<K: Key, T, A: Aggregate<T>, F: WindowFunction<K, A::Out>> {
    id: String,
    trigger: Trigger,
    agg: A,
    f: F,
    backend: Backend<K>,
    contents: StateId<(), (u64, A::Acc)>,
    range: KeyGroupRange,
    watermark: i64,
    out: Vec<Event<F::Out>>,
    windows_fired: Counter,
    next: Box<dyn Operator<Event<F::Out>>>,
}

impl<K: Key, T: Send, A: Aggregate<T>, F: WindowFunction<K, A::Out>> GlobalWindowOperator<K, T, A, F> {
    /// Builds the instance described by `env`, restoring its state if the job restores.
    pub fn new(
        id: &str,
        windows: GlobalWindows,
        agg: A,
        mut f: F,
        env: &SubtaskEnv,
        next: Box<dyn Operator<Event<F::Out>>>,
    ) -> Result<Self, JobError> {
        let mut backend: Backend<K> = env.keyed_backend(id)?;
        let contents = backend.register("global-window").map_err(|e| JobError::state(id, e))?;
        f.open(&mut OpenContext::new(&mut backend, env.subtask))?;
        Ok(GlobalWindowOperator {
            id: id.to_string(),
            trigger: windows.trigger,
            agg,
            f,
            backend,
            contents,
            range: env.key_groups,
            watermark: i64::MIN,
            out: Vec::new(),
            windows_fired: env.counters.counter("windows_fired"),
            next,
        })
    }
}

impl<K: Key, T: Send, A: Aggregate<T>, F: WindowFunction<K, A::Out>> Operator<Keyed<K, T>> for GlobalWindowOperator<K, T, A, F> {
    fn process(&mut self, batch: &mut Vec<Keyed<K, T>>) -> Result<(), JobError> {
        let mut fired = 0;
        for r in batch.drain(..) {
            let agg = &self.agg;
            let count = std::cell::Cell::new(0);
            self.backend
                .upsert(
                    &self.contents,
                    r.kg,
                    &r.key,
                    &(),
                    r.value,
                    |v| {
                        count.set(1);
                        (1, agg.first(v))
                    },
                    |(n, acc), v| {
                        *n += 1;
                        count.set(*n);
                        agg.add(acc, v);
                    },
                )
                .map_err(|e| JobError::state(&self.id, e))?;
            let decision = (self.trigger)(&TriggerContext { count: count.get(), timestamp: r.ts });
            let acc = match decision {
                TriggerResult::Continue => None,
                TriggerResult::Fire => self.backend.get(&self.contents, r.kg, &r.key, &()).map_err(|e| JobError::state(&self.id, e))?,
                TriggerResult::FireAndPurge => {
                    self.backend.remove(&self.contents, r.kg, &r.key, &()).map_err(|e| JobError::state(&self.id, e))?
                }
            };
            if let Some((_, acc)) = acc {
                let mut ctx = WindowContext::new(&mut self.backend, r.kg, &r.key, GLOBAL_WINDOW, self.watermark);
                self.f.fire(&mut ctx, self.agg.result(acc), &mut self.out)?;
                fired += 1;
            }
        }
        if fired > 0 {
            self.windows_fired.add(fired);
        }
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
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
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.next.idle()
    }
}
