//! Joins of two keyed inputs: the interval join (each record of one side
//! with the other side's records of the same key within a time interval)
//! and the window join (the records of both sides in the same window).

use weir_state::{Key, MapState, StateValue};

use crate::co_process::Either;
use crate::{KeyedCoProcessFunction, OpenContext, ProcessContext, ProcessWindowFunction, UserError, WindowContext};

/// Joins a left record at `t` with every right record of the same key at
/// `t + lower ..= t + upper` (event time, ms), emitting `f(left, right)` at
/// the later of the two times, like Flink's `intervalJoin().between()`.
///
/// Both sides are buffered per key and time in map state; a left record
/// is dropped once the watermark passes `t + upper`, a right record once it
/// passes `t - lower`: no record still to come can match them then. Records
/// behind the watermark on arrival are late and join with what is still
/// buffered.
#[derive(Clone)]
pub struct IntervalJoin<A, B, F> {
    lower: i64,
    upper: i64,
    f: F,
    left: Option<MapState<i64, Vec<A>>>,
    right: Option<MapState<i64, Vec<B>>>,
}

impl<A, B, F> IntervalJoin<A, B, F> {
    /// Joins left `t` with right `t + lower ..= t + upper`.
    pub fn new(lower: i64, upper: i64, f: F) -> Self {
        IntervalJoin { lower, upper, f, left: None, right: None }
    }
}

fn buffered<K: Key, V: StateValue, O>(
    state: &MapState<i64, Vec<V>>,
    ctx: &mut ProcessContext<'_, K, O>,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, V)>, UserError> {
    let mut out = Vec::new();
    state.for_each(&mut ctx.state(), |ts, values| {
        if (from..=to).contains(&ts) {
            out.extend(values.into_iter().map(|v| (ts, v)));
        }
        Ok(())
    })?;
    Ok(out)
}

fn buffer<K: Key, V: StateValue, O>(state: &MapState<i64, Vec<V>>, ctx: &mut ProcessContext<'_, K, O>, value: V) -> Result<(), UserError> {
    let ts = ctx.timestamp();
    let mut values = state.get(&mut ctx.state(), &ts)?.unwrap_or_default();
    values.push(value);
    state.put(&mut ctx.state(), ts, values)?;
    Ok(())
}

impl<K, A, B, O, F> KeyedCoProcessFunction<K, A, B, O> for IntervalJoin<A, B, F>
where
    K: Key,
    A: StateValue,
    B: StateValue,
    F: Fn(&A, &B) -> O + Clone + Send,
{
    fn open(&mut self, ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        self.left = Some(MapState::register(ctx.backend(), "interval-join-left")?);
        self.right = Some(MapState::register(ctx.backend(), "interval-join-right")?);
        Ok(())
    }

    fn process1(&mut self, a: A, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        let (Some(left), Some(right)) = (&self.left, &self.right) else { return Err("interval join used before open".into()) };
        let t = ctx.timestamp();
        for (tb, b) in buffered(right, ctx, t + self.lower, t + self.upper)? {
            ctx.emit_at(t.max(tb), (self.f)(&a, &b));
        }
        if t + self.upper > ctx.watermark() {
            buffer(left, ctx, a)?;
            ctx.register_timer(t + self.upper)?;
        }
        Ok(())
    }

    fn process2(&mut self, b: B, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        let (Some(left), Some(right)) = (&self.left, &self.right) else { return Err("interval join used before open".into()) };
        let t = ctx.timestamp();
        for (ta, a) in buffered(left, ctx, t - self.upper, t - self.lower)? {
            ctx.emit_at(t.max(ta), (self.f)(&a, &b));
        }
        if t - self.lower > ctx.watermark() {
            buffer(right, ctx, b)?;
            ctx.register_timer(t - self.lower)?;
        }
        Ok(())
    }

    fn on_timer(&mut self, now: i64, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        let (Some(left), Some(right)) = (&self.left, &self.right) else { return Err("interval join used before open".into()) };
        let mut expired = Vec::new();
        left.for_each(&mut ctx.state(), |ts, _| {
            if ts + self.upper <= now {
                expired.push(ts);
            }
            Ok(())
        })?;
        for ts in expired.drain(..) {
            left.remove(&mut ctx.state(), &ts)?;
        }
        right.for_each(&mut ctx.state(), |ts, _| {
            if ts - self.lower <= now {
                expired.push(ts);
            }
            Ok(())
        })?;
        for ts in expired {
            right.remove(&mut ctx.state(), &ts)?;
        }
        Ok(())
    }
}

/// Joins the records of both sides that fall in the same window for the
/// same key: `f(left, right)` for every pair, at the window's last
/// millisecond, like Flink's `join().where().equalTo().window()`.
#[derive(Clone)]
pub struct WindowJoin<F>(pub F);

impl<K, A, B, O, F> ProcessWindowFunction<K, Either<A, B>, O> for WindowJoin<F>
where
    K: Key,
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    F: Fn(&A, &B) -> O + Send + 'static,
{
    fn process(&mut self, _ctx: &mut WindowContext<'_, K>, elements: Vec<Either<A, B>>, out: &mut Vec<O>) -> Result<(), UserError> {
        let (mut lefts, mut rights) = (Vec::new(), Vec::new());
        for e in elements {
            match e {
                Either::Left(a) => lefts.push(a),
                Either::Right(b) => rights.push(b),
            }
        }
        for a in &lefts {
            out.extend(rights.iter().map(|b| (self.0)(a, b)));
        }
        Ok(())
    }
}
