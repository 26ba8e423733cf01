//! What a window emits when it fires: its aggregate as a [`WindowResult`],
//! or whatever a [`ProcessWindowFunction`] makes of the window and its
//! elements (or its aggregate).

use std::fmt;

use weir_runtime::{Event, JobError};

use super::Window;
use crate::UserError;

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
pub trait WindowFunction<K, R>: Send + 'static {
    /// What it emits.
    type Out: Send + 'static;
    /// Emits the output of `window` of `key`, whose aggregate is `result`.
    fn fire(&mut self, key: &K, window: Window, result: R, out: &mut Vec<Event<Self::Out>>) -> Result<(), JobError>;
}

/// Emits the aggregate as a [`WindowResult`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Results;

impl<K: Clone + Send + 'static, R: Send + 'static> WindowFunction<K, R> for Results {
    type Out = WindowResult<K, R>;
    #[inline]
    fn fire(&mut self, key: &K, window: Window, value: R, out: &mut Vec<Event<Self::Out>>) -> Result<(), JobError> {
        out.push(Event { ts: window.max_timestamp(), value: WindowResult { window, key: key.clone(), value } });
        Ok(())
    }
}

/// A function of a whole window, like Flink's `ProcessWindowFunction`:
/// called once per firing with the key, the window and its elements (all
/// of them, or the one incremental result when combined with an aggregate).
/// Output records carry the window's last millisecond as their event time.
///
/// ```
/// use weir_operators::{ProcessWindowFunction, UserError, Window};
///
/// /// The median of each window's values.
/// #[derive(Clone)]
/// struct Median;
/// impl ProcessWindowFunction<u64, u64, (u64, i64, u64)> for Median {
///     fn process(&mut self, key: &u64, window: Window, mut values: Vec<u64>, out: &mut Vec<(u64, i64, u64)>) -> Result<(), UserError> {
///         values.sort_unstable();
///         out.push((*key, window.start, values[values.len() / 2]));
///         Ok(())
///     }
/// }
/// ```
pub trait ProcessWindowFunction<K, I, O>: Send + 'static {
    /// Handles one firing of `window` for `key`.
    fn process(&mut self, key: &K, window: Window, elements: Vec<I>, out: &mut Vec<O>) -> Result<(), UserError>;
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

fn emit<O>(buffer: &mut Vec<O>, window: Window, out: &mut Vec<Event<O>>) {
    out.extend(buffer.drain(..).map(|value| Event { ts: window.max_timestamp(), value }));
}

impl<K: 'static, I: Send + 'static, O: Send + 'static, F: ProcessWindowFunction<K, I, O>> WindowFunction<K, Vec<I>> for AllElements<F, O> {
    type Out = O;
    fn fire(&mut self, key: &K, window: Window, elements: Vec<I>, out: &mut Vec<Event<O>>) -> Result<(), JobError> {
        self.f
            .process(key, window, elements, &mut self.buffer)
            .map_err(|e| JobError::Operator { operator: self.operator.clone(), message: e.to_string() })?;
        emit(&mut self.buffer, window, out);
        Ok(())
    }
}

impl<K: 'static, R: Send + 'static, O: Send + 'static, F: ProcessWindowFunction<K, R, O>> WindowFunction<K, R> for OfAggregate<F, O> {
    type Out = O;
    fn fire(&mut self, key: &K, window: Window, result: R, out: &mut Vec<Event<O>>) -> Result<(), JobError> {
        self.f
            .process(key, window, vec![result], &mut self.buffer)
            .map_err(|e| JobError::Operator { operator: self.operator.clone(), message: e.to_string() })?;
        emit(&mut self.buffer, window, out);
        Ok(())
    }
}
