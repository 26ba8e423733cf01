//! Two streams connected: keyed the same way, handled by one co-process
//! function with shared keyed state and timers, or joined (by interval or
//! by window).

use weir_operators::{CoProcess, Either, IntervalJoin, KeyedCoProcessFunction, WindowAssigner, WindowJoin};
use weir_state::{Key, StateValue};

use crate::keyed::KeyedStream;
use crate::stream::DataStream;

/// Two streams to be keyed the same way and handled together.
pub struct ConnectedStreams<A, B> {
    left: DataStream<A>,
    right: DataStream<B>,
}

impl<A: Send + 'static> DataStream<A> {
    /// Connects this stream (the first input) with `other` (the second), to
    /// key both with [`ConnectedStreams::key_by`].
    pub fn connect<B: Send + 'static>(self, other: DataStream<B>) -> ConnectedStreams<A, B> {
        ConnectedStreams { left: self, right: other }
    }
}

impl<A: Send + 'static, B: Send + 'static> ConnectedStreams<A, B> {
    /// Partitions both inputs by key (`left_key` of the first input's
    /// records, `right_key` of the second's): a key's records of both
    /// inputs reach the same instance.
    pub fn key_by<K: Key>(
        self,
        left_key: impl Fn(&A) -> K + Clone + Send + 'static,
        right_key: impl Fn(&B) -> K + Clone + Send + 'static,
    ) -> KeyedConnectedStreams<K, A, B> {
        let left = self.left.map(Either::<A, B>::Left);
        let right = self.right.map(Either::<A, B>::Right);
        let keyed = left.union(right).key_by(move |e: &Either<A, B>| match e {
            Either::Left(a) => left_key(a),
            Either::Right(b) => right_key(b),
        });
        KeyedConnectedStreams { keyed }
    }
}

/// Two inputs partitioned by the same key.
pub struct KeyedConnectedStreams<K, A, B> {
    keyed: KeyedStream<K, Either<A, B>>,
}

impl<K: Key, A: Send + 'static, B: Send + 'static> KeyedConnectedStreams<K, A, B> {
    /// Runs a [`KeyedCoProcessFunction`]: `process1` for the first input's
    /// records, `process2` for the second's, both with the key's state and
    /// timers. The operator's watermark is the minimum of both inputs'.
    pub fn process<O: Send + 'static, F: KeyedCoProcessFunction<K, A, B, O> + Clone + 'static>(self, f: F) -> DataStream<O> {
        self.keyed.process(CoProcess(f))
    }

    /// Joins each record of the first input at `t` with the records of the
    /// second input of the same key at `t + lower_ms ..= t + upper_ms`,
    /// emitting `f(first, second)` at the later of their times.
    ///
    /// ```
    /// use weir::{JobConfig, StreamEnvironment};
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("join").with_parallelism(2));
    /// let orders = env.from_collection(vec![(1_000, (7u64, "book".to_string())), (5_000, (8, "pen".to_string()))]);
    /// let payments = env.from_collection(vec![(1_500, (7u64, 12u64)), (9_000, (8, 3))]);
    /// let paid = orders
    ///     .connect(payments)
    ///     .key_by(|o: &(u64, String)| o.0, |p: &(u64, u64)| p.0)
    ///     .interval_join(0, 2_000, |o, p| format!("{} paid {}", o.1, p.1)) // payment within 2 s
    ///     .collect_to_vec();
    /// env.execute().unwrap();
    /// assert_eq!(*paid.lock().unwrap(), vec!["book paid 12".to_string()]);
    /// ```
    pub fn interval_join<O: Send + 'static>(
        self,
        lower_ms: i64,
        upper_ms: i64,
        f: impl Fn(&A, &B) -> O + Clone + Send + 'static,
    ) -> DataStream<O>
    where
        A: StateValue,
        B: StateValue,
    {
        self.process(IntervalJoin::new(lower_ms, upper_ms, f))
    }

    /// Joins the records of both inputs of the same key that fall in the
    /// same window: `f(first, second)` for every pair when the window fires.
    pub fn window_join<O: Send + 'static>(
        self,
        windows: impl Into<WindowAssigner>,
        f: impl Fn(&A, &B) -> O + Clone + Send + 'static,
    ) -> DataStream<O>
    where
        A: StateValue,
        B: StateValue,
    {
        self.keyed.window(windows).process(WindowJoin(f))
    }
}
