//! `KeyedStream` and `WindowedStream`: keyed processing and windows.

#[cfg(doc)]
use weir_operators::TumblingWindows;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use weir_operators::{
    Aggregate, AggregateFunction, Aggregating, AllElements, Count, Elements, GlobalWindowOperator, KeyedProcessFunction,
    KeyedProcessOperator, OfAggregate, ProcessWindowFunction, Reduce, Results, SessionWindowOperator, SlicedWindowOperator, WindowAssigner,
    WindowFunction, WindowResult,
};
use weir_runtime::{Event, Keyed, Metered, Operator};
use weir_state::{Key, StateValue};

use crate::environment::Builder;
use crate::side::{OpenSides, SideOutput};
use crate::stream::{DataStream, Head};
use weir_operators::OutputTag;

/// A stream partitioned by key: every record of a key is handled by the same instance.
pub struct KeyedStream<K, T> {
    pub(crate) builder: Rc<RefCell<Builder>>,
    pub(crate) parallelism: u32,
    pub(crate) head: Head<Keyed<K, T>>,
}

impl<K: Key, T: Send + 'static> KeyedStream<K, T> {
    /// Runs a keyed process function: per-record logic with keyed state and
    /// event-time timers. Each instance gets a clone of `f`.
    pub fn process<O: Send + 'static, F: KeyedProcessFunction<K, T, O> + Clone + 'static>(self, f: F) -> DataStream<O> {
        let id = self.builder.borrow_mut().keyed_operator_id("process", self.parallelism);
        let head = self.head;
        let cell = id.clone();
        let sides = OpenSides::default();
        let taken = sides.clone();
        let next: Head<Event<O>> = Rc::new(move |env, wiring, down| {
            let id = cell.borrow().clone();
            let side = taken.build(env, wiring)?;
            let op = KeyedProcessOperator::new(&id, f.clone(), env, side, Metered::records_out(&id, down))?;
            head(env, wiring, Metered::records_in(&id, Box::new(op)))
        });
        let mut out = DataStream::new(self.builder, self.parallelism, next);
        out.last_id = Some(id);
        out.open_sides = Some(sides);
        out
    }

    /// Groups the records of each key into windows: event-time
    /// [`TumblingWindows`], [`SlidingWindows`](weir_operators::SlidingWindows)
    /// or [`SessionWindows`](weir_operators::SessionWindows), or
    /// [`GlobalWindows`](weir_operators::GlobalWindows) with a trigger.
    pub fn window(self, windows: impl Into<WindowAssigner>) -> WindowedStream<K, T> {
        WindowedStream { stream: self, assigner: windows.into(), allowed_lateness: 0, late: None }
    }
}

impl<K: Key, T: Send + 'static> KeyedStream<K, T> {
    /// Windows of every `n` records of a key (Flink's `countWindow(n)`):
    /// `window(GlobalWindows::count(n))`.
    pub fn count_window(self, n: u64) -> WindowedStream<K, T> {
        self.window(weir_operators::GlobalWindows::count(n))
    }
}

/// A keyed stream grouped into windows, waiting for its aggregation.
///
/// A window fires once the watermark passes its end. A record for a window
/// that has fired is late: within [`allowed_lateness`](Self::allowed_lateness)
/// it fires its window again with the record in, later than that it goes to
/// the [late-data side output](Self::side_output_late_data), or is dropped
/// and counted (`late_records_dropped` in the job's result,
/// `weir_late_records_total` in `/metrics`).
pub struct WindowedStream<K, T> {
    stream: KeyedStream<K, T>,
    assigner: WindowAssigner,
    allowed_lateness: i64,
    late: Option<SideOutput>,
}

impl<K: Key, T: Send + 'static> WindowedStream<K, T> {
    /// Keeps each window's state `lateness` after its end: a record that
    /// arrives meanwhile fires the window again with the record in.
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = i64::try_from(lateness.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Sends records later than their windows' allowed lateness to the side
    /// output `tag` (take it with [`DataStream::side_output`]) instead of
    /// dropping them.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late = Some(SideOutput::new(tag));
        self
    }

    /// Builds the window operator: `agg` folds each window's records, `f`
    /// makes its output (given the operator's id).
    fn build<A, F>(self, agg: A, f: impl Fn(&str) -> F + 'static) -> DataStream<F::Out>
    where
        A: Aggregate<T> + Clone,
        F: WindowFunction<K, A::Out>,
    {
        let s = self.stream;
        let id = s.builder.borrow_mut().keyed_operator_id("window", s.parallelism);
        let head = s.head;
        let (assigner, allowed) = (self.assigner, self.allowed_lateness);
        if allowed > 0 || self.late.is_some() {
            if let WindowAssigner::Global(_) = assigner {
                s.builder
                    .borrow_mut()
                    .errors
                    .push("global windows have no end, so no lateness: drop allowed_lateness and side_output_late_data".into());
            }
        }
        let late_edge = self.late.as_ref().map(|l| l.edge.clone());
        let cell = id.clone();
        let next: Head<Event<F::Out>> = Rc::new(move |env, wiring, down| {
            let id = cell.borrow().clone();
            let late = SideOutput::output::<T>(late_edge.as_ref().and_then(|e| e.get()), env, wiring)?;
            let down = Metered::records_out(&id, down);
            let op: Box<dyn Operator<Keyed<K, T>>> = match assigner.clone() {
                WindowAssigner::Sliced { size, slide, processing } => {
                    Box::new(SlicedWindowOperator::new(&id, (size, slide, processing), allowed, agg.clone(), f(&id), env, late, down)?)
                }
                WindowAssigner::Session { gap, processing } => {
                    Box::new(SessionWindowOperator::new(&id, (gap, processing), allowed, agg.clone(), f(&id), env, late, down)?)
                }
                WindowAssigner::Global(windows) => Box::new(GlobalWindowOperator::new(&id, windows, agg.clone(), f(&id), env, down)?),
            };
            head(env, wiring, Metered::records_in(&id, op))
        });
        let mut out = DataStream::new(s.builder, s.parallelism, next);
        out.last_id = Some(id);
        out.side_outputs.extend(self.late);
        out
    }

    /// Folds each window with `agg`.
    pub fn apply<A: Aggregate<T> + Clone>(self, agg: A) -> DataStream<WindowResult<K, A::Out>> {
        self.build(agg, |_| Results)
    }

    /// The number of records of each key in each window.
    pub fn count(self) -> DataStream<WindowResult<K, u64>> {
        self.apply(Count)
    }

    /// Each window's records folded pairwise with `f` (associative: sliding
    /// and session windows fold in pieces).
    pub fn reduce(self, f: impl Fn(T, T) -> T + Clone + Send + 'static) -> DataStream<WindowResult<K, T>>
    where
        T: StateValue,
    {
        self.apply(Reduce(f))
    }

    /// Each window aggregated by an [`AggregateFunction`].
    pub fn aggregate<F: AggregateFunction<T> + Clone>(self, f: F) -> DataStream<WindowResult<K, F::Out>> {
        self.apply(Aggregating(f))
    }

    /// Each window's records, all of them, handed to a
    /// [`ProcessWindowFunction`] when it fires (which keeps every record in
    /// state: prefer [`aggregate_process`](Self::aggregate_process) where an
    /// aggregate will do). The function can keep state per window and per
    /// key (see [`WindowContext`](weir_operators::WindowContext)).
    ///
    /// ```
    /// use weir::{JobConfig, OpenContext, ProcessWindowFunction, StreamEnvironment, TumblingWindows, UserError, ValueState, WindowContext};
    ///
    /// /// max - min of each window, and the largest spread of the key so far.
    /// #[derive(Clone, Default)]
    /// struct Spread {
    ///     widest: Option<ValueState<i64>>,
    /// }
    /// impl ProcessWindowFunction<u64, i64, String> for Spread {
    ///     fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
    ///         self.widest = Some(ValueState::register(ctx.backend(), "widest")?);
    ///         Ok(())
    ///     }
    ///     fn process(&mut self, ctx: &mut WindowContext<'_, u64>, values: Vec<i64>, out: &mut Vec<String>) -> Result<(), UserError> {
    ///         let (min, max) = (values.iter().min().ok_or("empty")?, values.iter().max().ok_or("empty")?);
    ///         let widest = self.widest.as_ref().ok_or("not opened")?;
    ///         let most = widest.get(&mut ctx.global_state())?.unwrap_or(0).max(max - min);
    ///         widest.set(&mut ctx.global_state(), most)?;
    ///         out.push(format!("{}@{}: {} (widest {most})", ctx.key(), ctx.window().start, max - min));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("spread").with_parallelism(1));
    /// let out = env
    ///     .from_collection(vec![(0, 5i64), (10, 9), (20, 2), (1_000, 4)])
    ///     .key_by(|_: &i64| 1u64)
    ///     .window(TumblingWindows::of_millis(1000))
    ///     .process(Spread::default())
    ///     .collect_to_vec();
    /// env.execute().unwrap();
    /// assert_eq!(*out.lock().unwrap(), vec!["1@0: 7 (widest 7)".to_string(), "1@1000: 0 (widest 7)".to_string()]);
    /// ```
    pub fn process<O: Send + 'static, F: ProcessWindowFunction<K, T, O> + Clone>(self, f: F) -> DataStream<O>
    where
        T: StateValue,
    {
        self.build(Elements, move |id| AllElements::new(id, f.clone()))
    }

    /// Each window aggregated incrementally by `agg`, its result handed to a
    /// [`ProcessWindowFunction`] (as its only element) with its context (the
    /// key, the window, state) when it fires, like Flink's
    /// `aggregate(agg, windowFunction)`.
    pub fn aggregate_process<A, O, F>(self, agg: A, f: F) -> DataStream<O>
    where
        A: AggregateFunction<T> + Clone,
        O: Send + 'static,
        F: ProcessWindowFunction<K, A::Out, O> + Clone,
    {
        self.build(Aggregating(agg), move |id| OfAggregate::new(id, f.clone()))
    }
}
