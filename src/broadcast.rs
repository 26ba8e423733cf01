//! Broadcast streams: every record to every instance of the operator they
//! are connected to, which keeps them in broadcast state.

use std::rc::Rc;

use weir_operators::{BroadcastOperator, BroadcastProcessFunction, Either, KeyedBroadcastOperator, KeyedBroadcastProcessFunction};
use weir_runtime::{Broadcast, BuiltTask, ByKeyGroup, EdgeSpec, Event, Exchange, Keyed, Metered, RoundRobinInto, VertexSpec};
use weir_state::{Key, StateType};

use crate::side::OpenSides;
use crate::stream::{DataStream, Head};

/// A stream whose every record goes to every instance of the operator it
/// is connected to (see [`DataStream::connect_broadcast`]).
pub struct BroadcastStream<B> {
    stream: DataStream<B>,
}

impl<B: Clone + Send + 'static> DataStream<B> {
    /// Makes this stream a broadcast stream, to connect to another with
    /// [`DataStream::connect_broadcast`].
    pub fn broadcast(self) -> BroadcastStream<B> {
        BroadcastStream { stream: self }
    }
}

impl<A: Send + 'static> DataStream<A> {
    /// Connects this stream with a broadcast stream, to key this one with
    /// [`BroadcastConnectedStreams::key_by`] and handle both with a
    /// [`KeyedBroadcastProcessFunction`].
    ///
    /// Keyed and broadcast records reach an instance in no set order: a
    /// reading here may be handled before a limit broadcast earlier in event
    /// time. Where that matters, keep the keyed records in state until a
    /// timer at their time fires (the watermark then covers the broadcast
    /// records up to it) and keep the broadcast state's history by time.
    ///
    /// ```no_run
    /// use std::collections::BTreeMap;
    /// use weir::{BroadcastContext, JobConfig, KeyedBroadcastProcessFunction, ProcessContext, StreamEnvironment, UserError};
    ///
    /// /// Readings above their sensor's limit; limits come as (sensor, limit).
    /// #[derive(Clone)]
    /// struct OverLimit;
    /// impl KeyedBroadcastProcessFunction<u64, (u64, u64), (u64, u64), BTreeMap<u64, u64>, (u64, u64)> for OverLimit {
    ///     fn process(&mut self, (s, v): (u64, u64), limits: &BTreeMap<u64, u64>, ctx: &mut ProcessContext<'_, u64, (u64, u64)>) -> Result<(), UserError> {
    ///         if limits.get(&s).is_some_and(|l| v > *l) { ctx.emit((s, v)) }
    ///         Ok(())
    ///     }
    ///     fn process_broadcast(&mut self, (s, l): (u64, u64), limits: &mut BTreeMap<u64, u64>, _: &mut BroadcastContext<'_, (u64, u64)>) -> Result<(), UserError> {
    ///         limits.insert(s, l);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("limits").with_parallelism(2));
    /// let limits = env.from_collection(vec![(0, (1u64, 10u64)), (0, (2, 50))]).set_parallelism(1).broadcast();
    /// let readings = env.from_collection(vec![(1_000, (1u64, 5u64)), (1_000, (1, 20)), (1_000, (2, 60))]);
    /// let alerts = readings.connect_broadcast(limits).key_by(|r: &(u64, u64)| r.0).process(OverLimit).collect_to_vec();
    /// env.execute().unwrap();
    /// ```
    pub fn connect_broadcast<B: Clone + Send + 'static>(self, broadcast: BroadcastStream<B>) -> BroadcastConnectedStreams<A, B> {
        BroadcastConnectedStreams { stream: self, broadcast: broadcast.stream }
    }
}

/// A stream connected with a broadcast stream, waiting for its key.
pub struct BroadcastConnectedStreams<A, B> {
    stream: DataStream<A>,
    broadcast: DataStream<B>,
}

/// The records a broadcast operator of an input that is not keyed receives.
type PlainInput<A, B> = Either<Event<A>, Event<B>>;

impl<A: Send + 'static, B: Clone + Send + 'static> BroadcastConnectedStreams<A, B> {
    /// Runs `f` over the records of the first stream, dealt out round
    /// robin (reading the broadcast state `S`), and the broadcast records
    /// (which change it), like Flink's `BroadcastProcessFunction`. Each
    /// instance checkpoints its copy of the broadcast state; a restore at
    /// any parallelism gives every instance the first copy.
    pub fn process<S, O, F>(self, f: F) -> DataStream<O>
    where
        S: StateType + Default,
        O: Send + 'static,
        F: BroadcastProcessFunction<A, B, S, O> + Clone + 'static,
    {
        let BroadcastConnectedStreams { stream, broadcast } = self;
        let builder = stream.builder.clone();
        let p = builder.borrow().parallelism;
        let input_edge = builder.borrow_mut().add_edge(EdgeSpec::all_to_all::<PlainInput<A, B>>(stream.parallelism, p));
        let broadcast_edge = builder.borrow_mut().add_edge(EdgeSpec::all_to_all::<PlainInput<A, B>>(broadcast.parallelism, p));
        let (head_a, head_b) = (stream.head, broadcast.head);
        builder.borrow_mut().vertices.push(VertexSpec {
            name: format!("rebalance-{input_edge}"),
            parallelism: stream.parallelism,
            build: Box::new(move |env, wiring| {
                let senders = wiring.senders::<PlainInput<A, B>>(input_edge, env.subtask)?;
                head_a(env, wiring, Box::new(Exchange::new(RoundRobinInto::new(Either::<Event<A>, Event<B>>::Left), senders)))
            }),
        });
        builder.borrow_mut().vertices.push(VertexSpec {
            name: format!("broadcast-{broadcast_edge}"),
            parallelism: broadcast.parallelism,
            build: Box::new(move |env, wiring| {
                let senders = wiring.senders::<PlainInput<A, B>>(broadcast_edge, env.subtask)?;
                head_b(env, wiring, Box::new(Exchange::new(Broadcast(Either::<Event<A>, Event<B>>::Right), senders)))
            }),
        });
        let id = builder.borrow_mut().operator_id("broadcast-process");
        let cell = id.clone();
        let sides = OpenSides::default();
        let taken = sides.clone();
        let head: Head<Event<O>> = Rc::new(move |env, wiring, down| {
            let id = cell.borrow().clone();
            let mut inputs = wiring.receivers::<PlainInput<A, B>>(input_edge, env.subtask)?;
            inputs.extend(wiring.receivers::<PlainInput<A, B>>(broadcast_edge, env.subtask)?);
            let side = taken.build(env, wiring)?;
            let op = BroadcastOperator::<A, B, S, O, F>::new(&id, f.clone(), env, side, Metered::records_out(&id, down))?;
            Ok(BuiltTask::input(inputs, Metered::records_in(&id, Box::new(op))))
        });
        let mut out = DataStream::new(builder, p, head);
        out.last_id = Some(id);
        out.open_sides = Some(sides);
        out
    }

    /// Partitions the first stream by `key` (the broadcast stream goes to every instance).
    pub fn key_by<K: Key, KF: Fn(&A) -> K + Clone + Send + 'static>(self, key: KF) -> KeyedBroadcastConnectedStreams<K, A, B, KF> {
        KeyedBroadcastConnectedStreams { inner: self, key, _k: std::marker::PhantomData }
    }
}

/// A keyed stream connected with a broadcast stream.
pub struct KeyedBroadcastConnectedStreams<K, A, B, KF> {
    inner: BroadcastConnectedStreams<A, B>,
    key: KF,
    _k: std::marker::PhantomData<fn() -> K>,
}

/// The records the broadcast operator receives: keyed ones and broadcast ones.
type Input<K, A, B> = Either<Keyed<K, A>, Event<B>>;

impl<K: Key, A: Send + 'static, B: Clone + Send + 'static, KF: Fn(&A) -> K + Clone + Send + 'static>
    KeyedBroadcastConnectedStreams<K, A, B, KF>
{
    /// Runs `f` over the keyed records (with keyed state and timers, reading
    /// the broadcast state `S`) and the broadcast records (which change it).
    /// Each instance checkpoints its copy of the broadcast state; a restore
    /// at any parallelism gives every instance the first copy.
    pub fn process<S, O, F>(self, f: F) -> DataStream<O>
    where
        S: StateType + Default,
        O: Send + 'static,
        F: KeyedBroadcastProcessFunction<K, A, B, S, O> + Clone + 'static,
    {
        let BroadcastConnectedStreams { stream, broadcast } = self.inner;
        let builder = stream.builder.clone();
        let p = builder.borrow().parallelism;
        let key = self.key;
        let keyed_edge = builder.borrow_mut().add_edge(EdgeSpec::all_to_all::<Input<K, A, B>>(stream.parallelism, p));
        let broadcast_edge = builder.borrow_mut().add_edge(EdgeSpec::all_to_all::<Input<K, A, B>>(broadcast.parallelism, p));
        let (head_a, head_b) = (stream.head, broadcast.head);
        // The keyed side goes by key group, as Left; the broadcast side to every instance, as Right.
        builder.borrow_mut().vertices.push(VertexSpec {
            name: format!("keyby-{keyed_edge}"),
            parallelism: stream.parallelism,
            build: Box::new(move |env, wiring| {
                let senders = wiring.senders::<Input<K, A, B>>(keyed_edge, env.subtask)?;
                let route =
                    ByKeyGroup { key_fn: key.clone(), wrap: Either::<Keyed<K, A>, Event<B>>::Left, max_parallelism: env.max_parallelism };
                head_a(env, wiring, Box::new(Exchange::new(route, senders)))
            }),
        });
        builder.borrow_mut().vertices.push(VertexSpec {
            name: format!("broadcast-{broadcast_edge}"),
            parallelism: broadcast.parallelism,
            build: Box::new(move |env, wiring| {
                let senders = wiring.senders::<Input<K, A, B>>(broadcast_edge, env.subtask)?;
                head_b(env, wiring, Box::new(Exchange::new(Broadcast(Either::<Keyed<K, A>, Event<B>>::Right), senders)))
            }),
        });
        let id = builder.borrow_mut().keyed_operator_id("broadcast-process", p);
        let cell = id.clone();
        let sides = OpenSides::default();
        let taken = sides.clone();
        let head: Head<Event<O>> = Rc::new(move |env, wiring, down| {
            let id = cell.borrow().clone();
            let mut inputs = wiring.receivers::<Input<K, A, B>>(keyed_edge, env.subtask)?;
            inputs.extend(wiring.receivers::<Input<K, A, B>>(broadcast_edge, env.subtask)?);
            let side = taken.build(env, wiring)?;
            let op = KeyedBroadcastOperator::<K, A, B, S, O, F>::new(&id, f.clone(), env, side, Metered::records_out(&id, down))?;
            Ok(BuiltTask::input(inputs, Metered::records_in(&id, Box::new(op))))
        });
        let mut out = DataStream::new(builder, p, head);
        out.last_id = Some(id);
        out.open_sides = Some(sides);
        out
    }
}
