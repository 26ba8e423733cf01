//! Two inputs keyed the same way, handled by one function that shares keyed
//! state and timers across both: Flink's `KeyedCoProcessFunction`.
//!
//! The two streams travel as one stream of [`Either`] (each side tagged
//! before the key partitioning), so that a record of either input reaches
//! the instance owning its key, and the operator's watermark is the minimum
//! of both inputs', as for any operator with several inputs.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use weir_state::{Key, StateType};

use crate::{KeyedProcessFunction, OpenContext, ProcessContext, UserError};

/// A record of the first (`Left`) or the second (`Right`) of two connected inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Either<A, B> {
    /// From the first input.
    Left(A),
    /// From the second input.
    Right(B),
}

impl<A: StateType, B: StateType> StateType for Either<A, B> {
    fn type_tag() -> Cow<'static, str> {
        Cow::Owned(format!("either<{},{}>", A::description(), B::description()))
    }
}

/// Per-key logic over two inputs with shared state and timers.
///
/// ```
/// use weir_operators::{KeyedCoProcessFunction, ProcessContext, UserError};
///
/// /// Emits each payment once its order has been seen (whichever came first).
/// #[derive(Clone, Default)]
/// struct Match;
/// impl KeyedCoProcessFunction<u64, String, u64, (u64, String)> for Match {
///     fn process1(&mut self, order: String, ctx: &mut ProcessContext<'_, u64, (u64, String)>) -> Result<(), UserError> {
///         let id = *ctx.key();
///         ctx.emit((id, order));
///         Ok(())
///     }
///     fn process2(&mut self, _amount: u64, _ctx: &mut ProcessContext<'_, u64, (u64, String)>) -> Result<(), UserError> {
///         Ok(())
///     }
/// }
/// ```
pub trait KeyedCoProcessFunction<K: Key, A, B, O>: Send {
    /// Declares state (shared by both inputs). Called once per instance.
    fn open(&mut self, _ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        Ok(())
    }
    /// Handles a record of the first input.
    fn process1(&mut self, value: A, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError>;
    /// Handles a record of the second input.
    fn process2(&mut self, value: B, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError>;
    /// Handles an event-time timer of the current key.
    fn on_timer(&mut self, _timestamp: i64, _ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        Ok(())
    }
    /// Handles a processing-time timer of the current key.
    fn on_processing_time(&mut self, _timestamp: i64, _ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        Ok(())
    }
}

/// Runs a [`KeyedCoProcessFunction`] as a [`KeyedProcessFunction`] of [`Either`].
#[derive(Clone)]
pub struct CoProcess<F>(pub F);

impl<K: Key, A, B, O, F: KeyedCoProcessFunction<K, A, B, O>> KeyedProcessFunction<K, Either<A, B>, O> for CoProcess<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        self.0.open(ctx)
    }
    #[inline]
    fn process(&mut self, value: Either<A, B>, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        match value {
            Either::Left(a) => self.0.process1(a, ctx),
            Either::Right(b) => self.0.process2(b, ctx),
        }
    }
    fn on_timer(&mut self, timestamp: i64, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        self.0.on_timer(timestamp, ctx)
    }
    fn on_processing_time(&mut self, timestamp: i64, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        self.0.on_processing_time(timestamp, ctx)
    }
}
