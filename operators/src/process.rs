//! Keyed process functions: per-record user logic with keyed state, and
//! event-time and processing-time timers.

use weir_runtime::{Barrier, Event, JobError, Keyed, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::{Backend, Key, KeyGroupRange, KeyedState, KeyedStateBackend, Timer};

use crate::processing_time::ProcessingTimers;
use crate::side::{OutputTag, SideOutputs};

/// The error a user function returns.
pub type UserError = Box<dyn std::error::Error + Send + Sync>;

/// Where a function declares its state when its instance starts.
pub struct OpenContext<'a, K: Key> {
    backend: &'a mut Backend<K>,
    subtask: u32,
}

impl<'a, K: Key> OpenContext<'a, K> {
    pub(crate) fn new(backend: &'a mut Backend<K>, subtask: u32) -> Self {
        OpenContext { backend, subtask }
    }

    /// The backend to register state handles in, e.g.
    /// `ValueState::register(ctx.backend(), "count")`.
    pub fn backend(&mut self) -> &mut Backend<K> {
        self.backend
    }
    /// This instance's index.
    pub fn subtask(&self) -> u32 {
        self.subtask
    }
}

/// What a process function sees of the record (or timer) it handles.
pub struct ProcessContext<'a, K: Key, O> {
    backend: &'a mut Backend<K>,
    key_group: u32,
    key: &'a K,
    timestamp: i64,
    watermark: i64,
    out: &'a mut Vec<Event<O>>,
    side: &'a mut SideOutputs,
    processing: Option<&'a mut ProcessingTimers<K>>,
}

impl<'a, K: Key, O> ProcessContext<'a, K, O> {
    /// The context of a record or timer of `key`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        backend: &'a mut Backend<K>,
        key_group: u32,
        key: &'a K,
        timestamp: i64,
        watermark: i64,
        out: &'a mut Vec<Event<O>>,
        side: &'a mut SideOutputs,
    ) -> Self {
        ProcessContext { backend, key_group, key, timestamp, watermark, out, side, processing: None }
    }

    /// The wall clock (ms since the Unix epoch): processing time.
    pub fn current_processing_time(&self) -> i64 {
        weir_runtime::processing_time_now()
    }
    /// Calls `on_processing_time` for the current key once the wall clock
    /// has passed `ts` (ms since the Unix epoch), that is in millisecond
    /// `ts + 1` or later, as in Flink. Checkpoints keep it; after a restore
    /// it fires when due, at once if it came due meanwhile.
    pub fn register_processing_time_timer(&mut self, ts: i64) -> Result<(), UserError> {
        let timers = self.processing.as_deref_mut().ok_or("this operator has no processing-time timers")?;
        timers.register(self.key_group, self.key.clone(), 0, ts);
        Ok(())
    }
    /// Removes a processing-time timer of the current key.
    pub fn delete_processing_time_timer(&mut self, ts: i64) -> Result<(), UserError> {
        let timers = self.processing.as_deref_mut().ok_or("this operator has no processing-time timers")?;
        timers.delete(self.key_group, self.key, 0, ts);
        Ok(())
    }

    /// Sends `value` at the current timestamp to the side output `tag`
    /// (taken with `DataStream::side_output(&tag)` on this operator's
    /// output; dropped if nobody took it).
    pub fn output<X: Send + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.push(tag, self.timestamp, value);
    }
    /// The current key.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The event time of the record, or the time of the firing timer.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }
    /// The current key's state.
    pub fn state(&mut self) -> KeyedState<'_, K> {
        KeyedState::new(self.backend, self.key_group, self.key)
    }
    /// Emits a record at the current timestamp.
    pub fn emit(&mut self, value: O) {
        self.out.push(Event { ts: self.timestamp, value });
    }
    /// Emits a record at `ts`.
    pub fn emit_at(&mut self, ts: i64, value: O) {
        self.out.push(Event { ts, value });
    }
    /// Calls `on_timer` for the current key once the watermark reaches `ts`.
    pub fn register_timer(&mut self, ts: i64) -> Result<(), UserError> {
        Ok(self.backend.register_timer(self.key_group, self.key, 0, ts)?)
    }
    /// Removes a timer registered for the current key.
    pub fn delete_timer(&mut self, ts: i64) -> Result<(), UserError> {
        Ok(self.backend.delete_timer(self.key_group, self.key, 0, ts)?)
    }
}

/// Per-key logic with state and timers, like Flink's `KeyedProcessFunction`.
///
/// ```
/// use weir_operators::{KeyedProcessFunction, OpenContext, ProcessContext, UserError};
/// use weir_state::ValueState;
///
/// /// Emits the running count of each key.
/// #[derive(Clone, Default)]
/// struct RunningCount { count: Option<ValueState<u64>> }
///
/// impl KeyedProcessFunction<u64, u64, (u64, u64)> for RunningCount {
///     fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
///         self.count = Some(ValueState::register(ctx.backend(), "count")?);
///         Ok(())
///     }
///     fn process(&mut self, _value: u64, ctx: &mut ProcessContext<'_, u64, (u64, u64)>) -> Result<(), UserError> {
///         let state = self.count.as_ref().ok_or("not opened")?;
///         let n = state.get(&mut ctx.state())?.unwrap_or(0) + 1;
///         state.set(&mut ctx.state(), n)?;
///         let key = *ctx.key();
///         ctx.emit((key, n));
///         Ok(())
///     }
/// }
/// ```
pub trait KeyedProcessFunction<K: Key, I, O>: Send {
    /// Declares state. Called once per instance before any record.
    fn open(&mut self, _ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        Ok(())
    }
    /// Handles one record.
    fn process(&mut self, value: I, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError>;
    /// Handles an event-time timer of the current key.
    fn on_timer(&mut self, _timestamp: i64, _ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        Ok(())
    }
    /// Handles a processing-time timer of the current key (see
    /// [`ProcessContext::register_processing_time_timer`]); the context's
    /// timestamp is the timer's time.
    fn on_processing_time(&mut self, _timestamp: i64, _ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        Ok(())
    }
}

/// Runs a [`KeyedProcessFunction`] over keyed records.
pub struct KeyedProcessOperator<K: Key, I, O, F> {
    id: String,
    f: F,
    backend: Backend<K>,
    range: KeyGroupRange,
    watermark: i64,
    out: Vec<Event<O>>,
    timers: Vec<Timer<K>>,
    processing: ProcessingTimers<K>,
    side: SideOutputs,
    next: Box<dyn weir_runtime::Operator<Event<O>>>,
    _i: std::marker::PhantomData<fn(I)>,
}

impl<K: Key, I, O, F: KeyedProcessFunction<K, I, O>> KeyedProcessOperator<K, I, O, F> {
    /// Builds the instance described by `env`, restoring its state if the
    /// job restores; `side` holds the side outputs that were taken.
    pub fn new(id: &str, mut f: F, env: &SubtaskEnv, side: SideOutputs, next: Box<dyn Operator<Event<O>>>) -> Result<Self, JobError> {
        let mut backend: Backend<K> = env.keyed_backend(id)?;
        f.open(&mut OpenContext { backend: &mut backend, subtask: env.subtask })
            .map_err(|e| JobError::Operator { operator: id.to_string(), message: e.to_string() })?;
        Ok(KeyedProcessOperator {
            id: id.to_string(),
            f,
            range: env.key_groups,
            backend,
            watermark: i64::MIN,
            out: Vec::new(),
            timers: Vec::new(),
            processing: ProcessingTimers::restored(id, env)?,
            side,
            next,
            _i: std::marker::PhantomData,
        })
    }

    fn user(&self, e: UserError) -> JobError {
        JobError::Operator { operator: self.id.clone(), message: e.to_string() }
    }

    fn flush(&mut self) -> Result<(), JobError> {
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

impl<K: Key, I: Send, O: Send, F: KeyedProcessFunction<K, I, O>> Operator<Keyed<K, I>> for KeyedProcessOperator<K, I, O, F> {
    fn process(&mut self, batch: &mut Vec<Keyed<K, I>>) -> Result<(), JobError> {
        for r in batch.drain(..) {
            let mut ctx = ProcessContext {
                backend: &mut self.backend,
                key_group: r.kg,
                key: &r.key,
                timestamp: r.ts,
                watermark: self.watermark,
                out: &mut self.out,
                side: &mut self.side,
                processing: Some(&mut self.processing),
            };
            if let Err(e) = self.f.process(r.value, &mut ctx) {
                return Err(self.user(e));
            }
        }
        self.side.flush()?;
        self.flush()
    }

    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        self.backend.pop_timers(watermark, &mut self.timers).map_err(|e| JobError::state(&self.id, e))?;
        let timers = std::mem::take(&mut self.timers);
        for t in &timers {
            let mut ctx = ProcessContext {
                backend: &mut self.backend,
                key_group: t.key_group,
                key: &t.key,
                timestamp: t.timestamp,
                watermark,
                out: &mut self.out,
                side: &mut self.side,
                processing: Some(&mut self.processing),
            };
            if let Err(e) = self.f.on_timer(t.timestamp, &mut ctx) {
                return Err(self.user(e));
            }
        }
        self.timers = timers;
        self.timers.clear();
        self.flush()?;
        self.side.watermark(watermark)?;
        self.next.watermark(watermark)
    }

    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        let state = barrier.snapshot(&mut self.backend).map_err(|e| JobError::state(&self.id, e))?;
        let inline = self.processing.snapshot()?;
        snapshots.push(OperatorSnapshot { operator_id: self.id.clone(), key_groups: Some(self.range), inline, state: Some(state) });
        self.side.barrier(barrier, snapshots)?;
        self.next.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.checkpoint_complete(n)?;
        self.next.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.checkpoint_aborted(n)?;
        self.next.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.side.open()?;
        self.next.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.side.finish()?;
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.side.idle()?;
        self.next.idle()
    }
    fn processing_time(&mut self, now: i64) -> Result<Option<i64>, JobError> {
        if self.processing.next().is_some_and(|due| due <= now) {
            self.processing.pop_due(now, &mut self.timers);
            let timers = std::mem::take(&mut self.timers);
            for t in &timers {
                let mut ctx = ProcessContext {
                    backend: &mut self.backend,
                    key_group: t.key_group,
                    key: &t.key,
                    timestamp: t.timestamp,
                    watermark: self.watermark,
                    out: &mut self.out,
                    side: &mut self.side,
                    processing: Some(&mut self.processing),
                };
                if let Err(e) = self.f.on_processing_time(t.timestamp, &mut ctx) {
                    return Err(self.user(e));
                }
            }
            self.timers = timers;
            self.timers.clear();
            self.side.flush()?;
            self.flush()?;
        }
        Ok(self.processing.next())
    }
}
