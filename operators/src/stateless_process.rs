//! Per-record functions on a stream that is not keyed: a process function
//! that may emit any number of records and send to side outputs, and the
//! timestamp and watermark assigner.

use weir_runtime::{Barrier, Event, JobError, Notification, Operator, OperatorSnapshot};

use crate::side::{OutputTag, SideOutputs};
use crate::UserError;

/// What a [`ProcessFunction`] sees of the record it handles.
pub struct Context<'a, O> {
    timestamp: i64,
    watermark: i64,
    out: &'a mut Vec<Event<O>>,
    side: &'a mut SideOutputs,
}

impl<'a, O> Context<'a, O> {
    /// The context of a record at `timestamp` under `watermark`.
    pub(crate) fn new(timestamp: i64, watermark: i64, out: &'a mut Vec<Event<O>>, side: &'a mut SideOutputs) -> Self {
        Context { timestamp, watermark, out, side }
    }
}

impl<O> Context<'_, O> {
    /// The record's event time.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }
    /// Emits a record at the current timestamp.
    pub fn emit(&mut self, value: O) {
        self.out.push(Event { ts: self.timestamp, value });
    }
    /// Emits a record at `ts`.
    pub fn emit_at(&mut self, ts: i64, value: O) {
        self.out.push(Event { ts, value });
    }
    /// Sends `value` at the current timestamp to the side output `tag`.
    pub fn output<X: Send + 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.push(tag, self.timestamp, value);
    }
}

/// Per-record logic on a stream that is not keyed (no keyed state, no
/// timers), like Flink's `ProcessFunction` on a `DataStream`.
///
/// ```
/// use weir_operators::{Context, ProcessFunction, UserError};
/// #[derive(Clone)]
/// struct Words;
/// impl ProcessFunction<String, String> for Words {
///     fn process(&mut self, line: String, ctx: &mut Context<'_, String>) -> Result<(), UserError> {
///         line.split_whitespace().for_each(|w| ctx.emit(w.to_string()));
///         Ok(())
///     }
/// }
/// ```
pub trait ProcessFunction<I, O>: Send {
    /// Handles one record.
    fn process(&mut self, value: I, ctx: &mut Context<'_, O>) -> Result<(), UserError>;
}

/// Runs a [`ProcessFunction`].
pub struct ProcessOperator<I, O, F> {
    id: String,
    f: F,
    watermark: i64,
    out: Vec<Event<O>>,
    side: SideOutputs,
    next: Box<dyn Operator<Event<O>>>,
    _i: std::marker::PhantomData<fn(I)>,
}

impl<I, O, F: ProcessFunction<I, O>> ProcessOperator<I, O, F> {
    /// Runs `f` (named `id` in errors) before `next`, with the side outputs `side`.
    pub fn new(id: &str, f: F, side: SideOutputs, next: Box<dyn Operator<Event<O>>>) -> Self {
        ProcessOperator { id: id.to_string(), f, watermark: i64::MIN, out: Vec::new(), side, next, _i: std::marker::PhantomData }
    }
}

impl<I: Send, O: Send, F: ProcessFunction<I, O>> Operator<Event<I>> for ProcessOperator<I, O, F> {
    fn process(&mut self, batch: &mut Vec<Event<I>>) -> Result<(), JobError> {
        for e in batch.drain(..) {
            let mut ctx = Context { timestamp: e.ts, watermark: self.watermark, out: &mut self.out, side: &mut self.side };
            self.f.process(e.value, &mut ctx).map_err(|e| JobError::Operator { operator: self.id.clone(), message: e.to_string() })?;
        }
        self.side.flush()?;
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        self.side.watermark(watermark)?;
        self.next.watermark(watermark)
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
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
        self.side.finish()?;
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.side.idle()?;
        self.next.idle()
    }
}

/// Gives records new event times and makes the watermark from them,
/// trailing the newest by a bound, like Flink's
/// `assignTimestampsAndWatermarks(forBoundedOutOfOrderness(..))`. Watermarks
/// from upstream are replaced, except the final one (end of input), and
/// idleness from upstream is passed on.
///
/// ```
/// use weir_operators::WatermarkAssigner;
/// use weir_runtime::{Event, Operator};
/// # use weir_runtime::{Barrier, JobError, Notification, OperatorSnapshot};
/// # struct Last(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
/// # impl Operator<Event<(i64, &'static str)>> for Last {
/// #     fn process(&mut self, b: &mut Vec<Event<(i64, &'static str)>>) -> Result<(), JobError> { self.0.lock().unwrap().extend(b.drain(..).map(|e| format!("{}@{}", e.value.1, e.ts))); Ok(()) }
/// #     fn watermark(&mut self, w: i64) -> Result<(), JobError> { self.0.lock().unwrap().push(format!("wm {w}")); Ok(()) }
/// #     fn barrier(&mut self, _: &Barrier, _: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> { Ok(()) }
/// #     fn checkpoint_complete(&mut self, _: &Notification) -> Result<(), JobError> { Ok(()) }
/// #     fn checkpoint_aborted(&mut self, _: &Notification) -> Result<(), JobError> { Ok(()) }
/// #     fn open(&mut self) -> Result<(), JobError> { Ok(()) }
/// #     fn finish(&mut self) -> Result<(), JobError> { Ok(()) }
/// # }
/// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let mut a = WatermarkAssigner::new(|v: &(i64, &'static str)| v.0, 100, Box::new(Last(seen.clone())));
/// a.process(&mut vec![Event::new(0, (1_000, "a")), Event::new(0, (900, "b"))]).unwrap();
/// a.watermark(5_000).unwrap(); // upstream's watermark: replaced
/// assert_eq!(*seen.lock().unwrap(), ["a@1000", "b@900", "wm 899"]);
/// ```
pub struct WatermarkAssigner<T, F> {
    ts: F,
    bound: i64,
    max_ts: Option<i64>,
    emitted: i64,
    next: Box<dyn Operator<Event<T>>>,
}

impl<T, F: Fn(&T) -> i64> WatermarkAssigner<T, F> {
    /// Event time `ts(record)`; watermark the newest event time minus
    /// `bound_ms`, minus one.
    pub fn new(ts: F, bound_ms: i64, next: Box<dyn Operator<Event<T>>>) -> Self {
        WatermarkAssigner { ts, bound: bound_ms.max(0), max_ts: None, emitted: i64::MIN, next }
    }
}

impl<T: Send, F: Fn(&T) -> i64 + Send> Operator<Event<T>> for WatermarkAssigner<T, F> {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        for e in batch.iter_mut() {
            e.ts = (self.ts)(&e.value);
            self.max_ts = Some(self.max_ts.map_or(e.ts, |m| m.max(e.ts)));
        }
        self.next.process(batch)?;
        if let Some(max) = self.max_ts {
            let wm = max.saturating_sub(self.bound).saturating_sub(1);
            if wm > self.emitted {
                self.emitted = wm;
                self.next.watermark(wm)?;
            }
        }
        Ok(())
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        if watermark == i64::MAX && self.emitted < i64::MAX {
            self.emitted = i64::MAX;
            return self.next.watermark(watermark);
        }
        Ok(())
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
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
