//! `KeyedStream` and `WindowedStream`: keyed processing and windows.

use std::cell::RefCell;
use std::rc::Rc;

use weir_operators::{
    Aggregate, AggregateFunction, Aggregating, Count, KeyedProcessFunction, KeyedProcessOperator, Reduce, TumblingWindows, WindowOperator,
    WindowResult,
};
use weir_runtime::{Event, Keyed, Metered};
use weir_state::{Key, StateValue};

use crate::environment::Builder;
use crate::stream::{DataStream, Head};

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
        let next: Head<Event<O>> = Rc::new(move |env, wiring, down| {
            let id = cell.borrow().clone();
            let op = KeyedProcessOperator::new(&id, f.clone(), env, Metered::records_out(&id, down))?;
            head(env, wiring, Metered::records_in(&id, Box::new(op)))
        });
        let mut out = DataStream::new(self.builder, self.parallelism, next);
        out.last_id = Some(id);
        out
    }

    /// Groups the records of each key into tumbling event-time windows.
    pub fn window(self, windows: TumblingWindows) -> WindowedStream<K, T> {
        WindowedStream { stream: self, windows }
    }
}

/// A keyed stream grouped into windows, waiting for its aggregation.
pub struct WindowedStream<K, T> {
    stream: KeyedStream<K, T>,
    windows: TumblingWindows,
}

impl<K: Key, T: Send + 'static> WindowedStream<K, T> {
    /// Folds each window with `agg`.
    pub fn apply<A: Aggregate<T> + Clone>(self, agg: A) -> DataStream<WindowResult<K, A::Out>> {
        let s = self.stream;
        let id = s.builder.borrow_mut().keyed_operator_id("window", s.parallelism);
        let head = s.head;
        let windows = self.windows;
        let cell = id.clone();
        let next: Head<Event<WindowResult<K, A::Out>>> = Rc::new(move |env, wiring, down| {
            let id = cell.borrow().clone();
            let op = WindowOperator::new(&id, windows, agg.clone(), env, Metered::records_out(&id, down))?;
            head(env, wiring, Metered::records_in(&id, Box::new(op)))
        });
        let mut out = DataStream::new(s.builder, s.parallelism, next);
        out.last_id = Some(id);
        out
    }

    /// The number of records of each key in each window.
    pub fn count(self) -> DataStream<WindowResult<K, u64>> {
        self.apply(Count)
    }

    /// Each window's records folded pairwise with `f`.
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
}
