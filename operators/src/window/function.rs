//! What a window emits when it fires: its aggregate as a [`WindowResult`],
//! or whatever a [`ProcessWindowFunction`] makes of the window and its
//! elements (or its aggregate), with state per window and per key.

use std::fmt;

use weir_runtime::{Event, JobError};
use weir_state::Key;

use super::{Window, WindowContext};
use crate::{OpenContext, UserError};

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

/// Turns a fired window's aggregate into output records (at the window's
/// last millisecond). The window operators call it; users write a
/// [`ProcessWindowFunction`] instead.
pub trait WindowFunction<K: Key, R>: Send + 'static {
    /// What it emits.
    type Out: Send + 'static;
    /// Registers the state it keeps, once per operator instance, after the
    /// instance's state is restored.
    fn open(&mut self, _ctx: &mut OpenContext<'_, K>) -> Result<(), JobError> {
        Ok(())
    }
    /// Emits the output of the window of the context, whose aggregate is `result`.
    fn fire(&mut self, ctx: &mut WindowContext<'_, K>, result: R, out: &mut Vec<Event<Self::Out>>) -> Result<(), JobError>;
    /// The window of the context is purged: it will not fire again.
    fn clear(&mut self, _ctx: &mut WindowContext<'_, K>) -> Result<(), JobError> {
        Ok(())
    }
}

/// Emits the aggregate as a [`WindowResult`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Results;

impl<K: Key, R: Send + 'static> WindowFunction<K, R> for Results {
    type Out = WindowResult<K, R>;
    #[inline]
    fn fire(&mut self, ctx: &mut WindowContext<'_, K>, value: R, out: &mut Vec<Event<Self::Out>>) -> Result<(), JobError> {
        let window = ctx.window();
        out.push(Event { ts: window.max_timestamp(), value: WindowResult { window, key: ctx.key().clone(), value } });
        Ok(())
    }
}

/// A function of a whole window, like Flink's `ProcessWindowFunction`:
/// called once per firing with a [`WindowContext`] (the key, the window,
/// the watermark, state) and the window's elements (all of them, or the one
/// incremental result when combined with an aggregate). Output records
/// carry the window's last millisecond as their event time.
///
/// State handles are registered in [`open`](Self::open): per-window state
/// has the window as namespace (`ValueState<V, Window>`, used through
/// [`WindowContext::window_state`]), state across the key's windows none
/// (`ValueState<V>`, through [`WindowContext::global_state`]). Per-window
/// state is the function's to remove, in [`clear`](Self::clear), which the
/// operator calls once a window is purged:
///
/// - tumbling and sliding windows: right after the window fires, or with
///   allowed lateness when the watermark passes its end plus the lateness
///   (late records fire it again until then);
/// - session windows: the same, and also for each session that a record
///   merges into a larger one (per-window state is not merged: the merged
///   session starts without any);
/// - global windows never end: `clear` is not called (their per-window
///   state is the key's, under [`GLOBAL_WINDOW`](crate::GLOBAL_WINDOW)).
///
/// The window operator's own state is named `window-contents`,
/// `session-windows` or `global-window`: give the function's state other names.
///
/// ```
/// use weir_operators::{OpenContext, ProcessWindowFunction, UserError, Window, WindowContext};
/// use weir_state::ValueState;
///
/// /// The median of each window's values, and how often the window fired
/// /// (records within the allowed lateness fire it again).
/// #[derive(Clone, Default)]
/// struct Median { fired: Option<ValueState<u32, Window>> }
/// impl ProcessWindowFunction<u64, u64, (u64, i64, u64, u32)> for Median {
///     fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
///         self.fired = Some(ValueState::register(ctx.backend(), "fired")?);
///         Ok(())
///     }
///     fn process(&mut self, ctx: &mut WindowContext<'_, u64>, mut values: Vec<u64>, out: &mut Vec<(u64, i64, u64, u32)>) -> Result<(), UserError> {
///         let fired = self.fired.as_ref().ok_or("not opened")?;
///         let n = fired.get(&mut ctx.window_state())?.unwrap_or(0) + 1;
///         fired.set(&mut ctx.window_state(), n)?;
///         values.sort_unstable();
///         out.push((*ctx.key(), ctx.window().start, values[values.len() / 2], n));
///         Ok(())
///     }
///     fn clear(&mut self, ctx: &mut WindowContext<'_, u64>) -> Result<(), UserError> {
///         Ok(self.fired.as_ref().ok_or("not opened")?.clear(&mut ctx.window_state())?)
///     }
/// }
/// ```
pub trait ProcessWindowFunction<K: Key, I, O>: Send + 'static {
    /// Registers state handles. Called once per operator instance before
    /// any window fires, after its state is restored when the job restores.
    fn open(&mut self, _ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        Ok(())
    }
    /// Handles one firing of the window of `ctx`.
    fn process(&mut self, ctx: &mut WindowContext<'_, K>, elements: Vec<I>, out: &mut Vec<O>) -> Result<(), UserError>;
    /// Removes the per-window state of the window of `ctx`, which is purged
    /// (see the trait's documentation for when).
    fn clear(&mut self, _ctx: &mut WindowContext<'_, K>) -> Result<(), UserError> {
        Ok(())
    }
}

/// Adapts a [`ProcessWindowFunction`] of all the elements to [`WindowFunction`].
pub struct AllElements<F, O> {
    pub(crate) f: F,
    pub(crate) operator: String,
    pub(crate) buffer: Vec<O>,
}

/// Adapts a [`ProcessWindowFunction`] of an aggregate to [`WindowFunction`].
pub struct OfAggregate<F, O> {
    pub(crate) f: F,
    pub(crate) operator: String,
    pub(crate) buffer: Vec<O>,
}

impl<F, O> AllElements<F, O> {
    /// Wraps `f` for the operator `operator`.
    pub fn new(operator: &str, f: F) -> Self {
        AllElements { f, operator: operator.to_string(), buffer: Vec::new() }
    }
}

impl<F, O> OfAggregate<F, O> {
    /// Wraps `f` for the operator `operator`.
    pub fn new(operator: &str, f: F) -> Self {
        OfAggregate { f, operator: operator.to_string(), buffer: Vec::new() }
    }
}

/// A user function's error as the job's, naming the operator.
fn user(operator: &str, e: UserError) -> JobError {
    JobError::Operator { operator: operator.to_string(), message: e.to_string() }
}

fn emit<O>(buffer: &mut Vec<O>, window: Window, out: &mut Vec<Event<O>>) {
    out.extend(buffer.drain(..).map(|value| Event { ts: window.max_timestamp(), value }));
}

impl<K: Key, I: Send + 'static, O: Send + 'static, F: ProcessWindowFunction<K, I, O>> WindowFunction<K, Vec<I>> for AllElements<F, O> {
    type Out = O;
    fn open(&mut self, ctx: &mut OpenContext<'_, K>) -> Result<(), JobError> {
        self.f.open(ctx).map_err(|e| user(&self.operator, e))
    }
    fn fire(&mut self, ctx: &mut WindowContext<'_, K>, elements: Vec<I>, out: &mut Vec<Event<O>>) -> Result<(), JobError> {
        self.f.process(ctx, elements, &mut self.buffer).map_err(|e| user(&self.operator, e))?;
        emit(&mut self.buffer, ctx.window(), out);
        Ok(())
    }
    fn clear(&mut self, ctx: &mut WindowContext<'_, K>) -> Result<(), JobError> {
        self.f.clear(ctx).map_err(|e| user(&self.operator, e))
    }
}

impl<K: Key, R: Send + 'static, O: Send + 'static, F: ProcessWindowFunction<K, R, O>> WindowFunction<K, R> for OfAggregate<F, O> {
    type Out = O;
    fn open(&mut self, ctx: &mut OpenContext<'_, K>) -> Result<(), JobError> {
        self.f.open(ctx).map_err(|e| user(&self.operator, e))
    }
    fn fire(&mut self, ctx: &mut WindowContext<'_, K>, result: R, out: &mut Vec<Event<O>>) -> Result<(), JobError> {
        self.f.process(ctx, vec![result], &mut self.buffer).map_err(|e| user(&self.operator, e))?;
        emit(&mut self.buffer, ctx.window(), out);
        Ok(())
    }
    fn clear(&mut self, ctx: &mut WindowContext<'_, K>) -> Result<(), JobError> {
        self.f.clear(ctx).map_err(|e| user(&self.operator, e))
    }
}
