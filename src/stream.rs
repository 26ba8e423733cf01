//! `DataStream`: a stream of records, and the operations that transform, key,
//! combine and end it.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_operators::sinks::{CollectSink, DiscardSink, FileSink, PrintSink, UpsertFileSink};
use weir_operators::{FilterFn, FlatMapFn, MapFn, ProcessFunction, ProcessOperator, WatermarkAssigner};
use weir_runtime::{
    BuiltTask, EdgeSpec, Event, Exchange, ForwardOutput, JobError, KeyGroupPartitioner, Keyed, Metered, Operator, RoundRobin, SinkOperator,
    Stateless, SubtaskEnv, TwoPhaseCommitOperator, TwoPhaseCommitSink, VertexSpec, Wiring,
};
use weir_state::Key;

use crate::environment::Builder;
use crate::keyed::KeyedStream;
use crate::side::{OpenSides, SideOutput};
use weir_operators::OutputTag;

/// Builds a task for one instance, given the rest of the chain after this point.
pub(crate) type Head<I> = Rc<dyn Fn(&SubtaskEnv, &mut Wiring, Box<dyn Operator<I>>) -> Result<BuiltTask, JobError>>;

/// A stream of records of type `T`, each with an event time.
///
/// Operations consume the stream and return the next one; the chain of
/// operations up to a `key_by` or a sink runs in one task per instance, with
/// no channel in between.
pub struct DataStream<T> {
    pub(crate) builder: Rc<RefCell<Builder>>,
    pub(crate) parallelism: u32,
    pub(crate) head: Head<Event<T>>,
    /// The id of the last stateful operator, which `uid` renames.
    pub(crate) last_id: Option<Rc<RefCell<String>>>,
    /// The idle timeouts of the sources this stream comes from with no
    /// channel in between (both sides of a union), which `with_idleness` sets.
    pub(crate) idleness: Vec<Rc<Cell<Option<Duration>>>>,
    /// The side outputs of the operator this stream comes out of.
    pub(crate) side_outputs: Vec<SideOutput>,
    /// A process function's side outputs, where any tag may be taken.
    pub(crate) open_sides: Option<OpenSides>,
    /// Whether the stream is a source and what is chained to it, before any
    /// exchange: the part whose parallelism `set_parallelism` sets.
    pub(crate) at_source: bool,
}

impl<T: Send + 'static> DataStream<T> {
    pub(crate) fn new(builder: Rc<RefCell<Builder>>, parallelism: u32, head: Head<Event<T>>) -> Self {
        DataStream {
            builder,
            parallelism,
            head,
            last_id: None,
            idleness: Vec::new(),
            side_outputs: Vec::new(),
            open_sides: None,
            at_source: false,
        }
    }

    /// Chains a stateless operator: `make()` builds its per-instance function.
    fn chain<O: Send + 'static, F: weir_runtime::BatchFn<Event<T>, Event<O>> + 'static>(
        self,
        kind: &str,
        make: impl Fn() -> F + 'static,
    ) -> DataStream<O> {
        let head = self.head;
        let name = self.builder.borrow_mut().metrics_name(kind);
        let next: Head<Event<O>> = Rc::new(move |env, wiring, down| {
            let op = Stateless::new(make(), Metered::records_out(&name, down));
            head(env, wiring, Metered::records_in(&name, Box::new(op)))
        });
        DataStream {
            builder: self.builder,
            parallelism: self.parallelism,
            head: next,
            last_id: None,
            idleness: self.idleness,
            side_outputs: Vec::new(),
            open_sides: None,
            at_source: self.at_source,
        }
    }

    /// Gives the operator this stream comes out of (a source, process
    /// function or window) a stable id, which checkpoints use to match its
    /// state. Without it, ids are derived from the order in which stateful
    /// operators are added (`window-3`; stateless ones do not count) and
    /// change when stateful operators are added before it.
    ///
    /// A stream that comes out of an operator without state (`map`,
    /// `filter`, `flat_map`, `union`, a side output) has nothing for an id to
    /// name: `execute` then fails, naming the id.
    pub fn uid(self, id: &str) -> Self {
        match &self.last_id {
            Some(cell) => *cell.borrow_mut() = id.to_string(),
            None => self.builder.borrow_mut().errors.push(format!(
                "uid('{id}') follows an operator that keeps no state (map, filter, flat_map, union or a side output); \
                 give the id to the source, process function, window or sink instead"
            )),
        }
        self
    }

    /// The records the operator this stream comes out of sends to its side
    /// output `tag` (for windows: [`WindowedStream::side_output_late_data`](crate::WindowedStream::side_output_late_data);
    /// for process functions: what they send with `ctx.output(&tag, value)`),
    /// as a stream of the same parallelism. A side output nobody asks for is
    /// dropped (and counted); asking for a tag the operator does not have,
    /// or asking twice, makes `execute` fail naming the tag.
    ///
    /// ```
    /// use weir::{JobConfig, KeyedProcessFunction, OutputTag, ProcessContext, StreamEnvironment, UserError};
    ///
    /// /// Passes positive amounts on; sends the others aside.
    /// #[derive(Clone)]
    /// struct Check(OutputTag<i64>);
    /// impl KeyedProcessFunction<u64, i64, i64> for Check {
    ///     fn process(&mut self, v: i64, ctx: &mut ProcessContext<'_, u64, i64>) -> Result<(), UserError> {
    ///         if v > 0 { ctx.emit(v) } else { ctx.output(&self.0, v) }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("side").with_parallelism(1));
    /// let rejected = OutputTag::<i64>::new("rejected");
    /// let amounts = env.from_collection(vec![(0, 5i64), (1, -3), (2, 7)]).key_by(|_: &i64| 0u64).process(Check(rejected.clone()));
    /// let aside = amounts.side_output(&rejected).collect_to_vec();
    /// let accepted = amounts.collect_to_vec();
    /// env.execute().unwrap();
    /// assert_eq!(*accepted.lock().unwrap(), vec![5, 7]);
    /// assert_eq!(*aside.lock().unwrap(), vec![-3]);
    /// ```
    pub fn side_output<X: Send + 'static>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        let found = self.side_outputs.iter().find(|s| s.name == tag.name() && s.type_id == std::any::TypeId::of::<X>());
        let p = self.parallelism;
        let mut b = self.builder.borrow_mut();
        let edge = match found {
            Some(side) if side.edge.get().is_none() => {
                let edge = b.add_edge(SideOutput::edge::<X>(p));
                side.edge.set(Some(edge));
                Some(edge)
            }
            Some(_) => {
                b.errors.push(format!("side output '{}' is asked for twice; take it once and reuse the stream", tag.name()));
                None
            }
            None => match &self.open_sides {
                Some(open) => {
                    let edge = b.add_edge(SideOutput::edge::<X>(p));
                    if open.take(tag, edge) {
                        Some(edge)
                    } else {
                        b.errors.push(format!("side output '{}' is asked for twice; take it once and reuse the stream", tag.name()));
                        None
                    }
                }
                None => {
                    b.errors.push(format!("this operator has no side output '{}' of that type", tag.name()));
                    None
                }
            },
        };
        drop(b);
        let head: Head<Event<X>> = Rc::new(move |env, wiring, down| match edge {
            Some(edge) => Ok(BuiltTask::input(wiring.receivers::<Event<X>>(edge, env.subtask)?, down)),
            None => Err(JobError::Config("a side output that does not exist".into())),
        });
        DataStream::new(self.builder.clone(), p, head)
    }

    /// Marks a source instance idle once it has had nothing to read for
    /// `timeout` (its [`Source::poll`](weir_runtime::Source::poll) returned
    /// [`SourceStatus::Idle`](weir_runtime::SourceStatus::Idle) with no
    /// records), as Flink's `withIdleness` does. Without it an operator
    /// with several inputs waits for the watermark of every one of them, so
    /// a single instance with no data (a quiet partition, more instances
    /// than input) would hold every window back until it gets data again.
    /// An idle instance is left out of the minimum until its next record or
    /// watermark; its records behind the watermark reached meanwhile are
    /// late (windows drop them).
    ///
    /// Applies to the sources this stream comes from with no `key_by` in
    /// between (both sides of a `union`); elsewhere it changes nothing.
    /// Sources are never marked idle without it.
    pub fn with_idleness(self, timeout: Duration) -> Self {
        for cell in &self.idleness {
            cell.set(Some(timeout));
        }
        self
    }

    /// Runs the source this stream comes from, and the operators chained to
    /// it up to the first `key_by`, as `parallelism` instances instead of
    /// the job's parallelism (a source that cannot be split: `1`). The
    /// operators after the `key_by` run at the job's parallelism, and a
    /// restore at another source parallelism deals the source's positions
    /// out again, as for a change of the job's parallelism.
    ///
    /// Elsewhere (after a `key_by` or `union`) `execute` fails, naming it.
    pub fn set_parallelism(mut self, parallelism: u32) -> Self {
        if self.at_source && parallelism >= 1 {
            self.parallelism = parallelism;
        } else {
            self.builder.borrow_mut().errors.push(format!(
                "set_parallelism({parallelism}) applies to a source and what is chained to it before the first key_by, \
                 with a parallelism of at least 1"
            ));
        }
        self
    }

    /// Applies `f` to every record.
    pub fn map<O: Send + 'static>(self, f: impl Fn(T) -> O + Clone + Send + 'static) -> DataStream<O> {
        self.chain("map", move || MapFn(f.clone()))
    }

    /// Keeps the records for which `f` is true.
    pub fn filter(self, f: impl Fn(&T) -> bool + Clone + Send + 'static) -> DataStream<T> {
        self.chain("filter", move || FilterFn(f.clone()))
    }

    /// Replaces every record with the records `f` returns.
    pub fn flat_map<O: Send + 'static, I: IntoIterator<Item = O>>(self, f: impl Fn(T) -> I + Clone + Send + 'static) -> DataStream<O> {
        self.chain("flat_map", move || FlatMapFn(f.clone()))
    }

    /// Runs a [`ProcessFunction`](weir_operators::ProcessFunction) over
    /// every record (no keyed state: see [`KeyedStream::process`] for that).
    /// It may emit any number of records and send to side outputs.
    pub fn process<O: Send + 'static, F: ProcessFunction<T, O> + Clone + 'static>(self, f: F) -> DataStream<O> {
        let head = self.head;
        let name = self.builder.borrow_mut().metrics_name("process");
        let sides = OpenSides::default();
        let taken = sides.clone();
        let next: Head<Event<O>> = Rc::new(move |env, wiring, down| {
            let side = taken.build(env, wiring)?;
            let op = ProcessOperator::new(&name, f.clone(), side, Metered::records_out(&name, down));
            head(env, wiring, Metered::records_in(&name, Box::new(op)))
        });
        let mut out = DataStream::new(self.builder, self.parallelism, next);
        out.idleness = self.idleness;
        out.at_source = self.at_source;
        out.open_sides = Some(sides);
        out
    }

    /// Gives each record the event time `ts(record)` and makes the
    /// watermark from them: the newest event time minus
    /// `max_out_of_orderness`, minus one. Watermarks from upstream are
    /// replaced (except the final one at end of input); idleness (see
    /// [`with_idleness`](Self::with_idleness)) passes through.
    pub fn assign_timestamps_and_watermarks(
        self,
        ts: impl Fn(&T) -> i64 + Clone + Send + 'static,
        max_out_of_orderness: Duration,
    ) -> DataStream<T> {
        let bound = i64::try_from(max_out_of_orderness.as_millis()).unwrap_or(i64::MAX);
        let head = self.head;
        let next: Head<Event<T>> =
            Rc::new(move |env, wiring, down| head(env, wiring, Box::new(WatermarkAssigner::new(ts.clone(), bound, down))));
        let mut out = DataStream::new(self.builder, self.parallelism, next);
        out.idleness = self.idleness;
        out.at_source = self.at_source;
        out
    }

    /// Deals the records out round robin over the job's parallelism
    /// (evening out skewed or idle instances, or fanning out a source of
    /// parallelism 1).
    pub fn rebalance(self) -> DataStream<T> {
        let downstream = self.builder.borrow().parallelism;
        let edge = self.builder.borrow_mut().add_edge(EdgeSpec::all_to_all::<Event<T>>(self.parallelism, downstream));
        let head = self.head;
        self.builder.borrow_mut().vertices.push(VertexSpec {
            name: format!("rebalance-{edge}"),
            parallelism: self.parallelism,
            build: Box::new(move |env, wiring| {
                let senders = wiring.senders::<Event<T>>(edge, env.subtask)?;
                head(env, wiring, Box::new(Exchange::new(RoundRobin::default(), senders)))
            }),
        });
        let head: Head<Event<T>> =
            Rc::new(move |env, wiring, down| Ok(BuiltTask::input(wiring.receivers::<Event<T>>(edge, env.subtask)?, down)));
        DataStream::new(self.builder, downstream, head)
    }

    /// Partitions the stream by the key `f` returns: every record of a key
    /// goes to the instance owning the key's key group.
    pub fn key_by<K: Key>(self, f: impl Fn(&T) -> K + Clone + Send + 'static) -> KeyedStream<K, T> {
        let downstream = self.builder.borrow().parallelism;
        let edge = self.builder.borrow_mut().add_edge(EdgeSpec::all_to_all::<Keyed<K, T>>(self.parallelism, downstream));
        let head = self.head;
        let name = format!("keyby-{edge}");
        self.builder.borrow_mut().vertices.push(VertexSpec {
            name,
            parallelism: self.parallelism,
            build: Box::new(move |env, wiring| {
                let senders = wiring.senders::<Keyed<K, T>>(edge, env.subtask)?;
                head(env, wiring, Box::new(KeyGroupPartitioner::new(f.clone(), env.max_parallelism, senders)))
            }),
        });
        let keyed_head: Head<Keyed<K, T>> =
            Rc::new(move |env, wiring, down| Ok(BuiltTask::input(wiring.receivers::<Keyed<K, T>>(edge, env.subtask)?, down)));
        KeyedStream { builder: self.builder, parallelism: downstream, head: keyed_head }
    }

    /// Merges this stream with `other`; the result holds the records of both.
    pub fn union(self, other: DataStream<T>) -> DataStream<T> {
        let p = self.parallelism;
        if other.parallelism != p {
            self.builder
                .borrow_mut()
                .errors
                .push(format!("union of streams of parallelism {p} and {}: give both sides the same parallelism", other.parallelism));
        }
        let mut edges = Vec::new();
        let mut idleness = Vec::new();
        for stream in [self, other] {
            let edge = stream.builder.borrow_mut().add_edge(EdgeSpec::forward::<Event<T>>(p));
            let head = stream.head;
            let name = format!("union-{edge}");
            stream.builder.borrow_mut().vertices.push(VertexSpec {
                name,
                parallelism: p,
                build: Box::new(move |env, wiring| {
                    let mut senders = wiring.senders::<Event<T>>(edge, env.subtask)?;
                    let tx = senders.pop().ok_or_else(|| JobError::Config("union edge without a channel".into()))?;
                    head(env, wiring, Box::new(ForwardOutput::new(tx)))
                }),
            });
            edges.push((edge, stream.builder));
            idleness.extend(stream.idleness);
        }
        let builder = edges[0].1.clone();
        let ids: Vec<usize> = edges.iter().map(|e| e.0).collect();
        let head: Head<Event<T>> = Rc::new(move |env, wiring, down| {
            let mut inputs = Vec::new();
            for edge in &ids {
                inputs.extend(wiring.receivers::<Event<T>>(*edge, env.subtask)?);
            }
            Ok(BuiltTask::input(inputs, down))
        });
        let mut out = DataStream::new(builder, p, head);
        out.idleness = idleness;
        out
    }

    /// Ends the stream in a sink that `make` builds for each instance.
    pub fn sink(
        self,
        kind: &str,
        make: impl Fn(&str, &SubtaskEnv) -> Result<Box<dyn Operator<Event<T>>>, JobError> + 'static,
    ) -> SinkHandle {
        let id = self.builder.borrow_mut().operator_id(kind);
        let head = self.head;
        let cell = id.clone();
        let name = cell.borrow().clone();
        self.builder.borrow_mut().vertices.push(VertexSpec {
            name,
            parallelism: self.parallelism,
            build: Box::new(move |env, wiring| {
                let id = id.borrow().clone();
                let sink = make(&id, env)?;
                head(env, wiring, Metered::records_in(&id, sink))
            }),
        });
        SinkHandle { id: cell }
    }

    /// Ends the stream in an exactly-once file sink writing each record's
    /// `Display` as a line into files in `dir`: files appear only when the
    /// checkpoint covering them completes (or at the end, without checkpoints).
    pub fn write_to_files(self, dir: &Path) -> SinkHandle
    where
        T: Display,
    {
        let dir = dir.to_path_buf();
        self.sink("file-sink", move |id, env| Ok(Box::new(FileSink::<T>::operator(id, &dir, env)?)))
    }

    /// Ends a stream of `(key, value)` results that change in an
    /// exactly-once table of the latest value per key, in files in `dir`
    /// (`table-*`, lines `<key>\t<value>`; see
    /// [`read_table`](weir_operators::sinks::read_table)): each completed
    /// checkpoint applies the values written since the one before, a
    /// savepoint applies nothing, and a restore never applies a value twice
    /// or loses one. Keyed results (a running total per key) are what it is
    /// for: the value of a key at a checkpoint is its last one.
    pub fn write_upserts_to_files<K: Display + Send + 'static, V: Display + Send + 'static>(self, dir: &Path) -> SinkHandle
    where
        T: Into<(K, V)>,
    {
        let dir = dir.to_path_buf();
        self.map(Into::into).sink("upsert-sink", move |id, env| Ok(Box::new(UpsertFileSink::<K, V>::operator(id, &dir, env)?)))
    }

    /// Ends the stream in an exactly-once sink of your own: `make` builds each
    /// instance's [`TwoPhaseCommitSink`](weir_runtime::TwoPhaseCommitSink), and
    /// weir runs the protocol (pre-commit at barriers, commit when a
    /// checkpoint completes, never on a savepoint; commit and clean up on
    /// restore). Without checkpoints, the sink commits at the end of input.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weir::{Event, JobConfig, JobError, RecoveryScope, StreamEnvironment, TransactionContext, TwoPhaseCommitSink};
    ///
    /// /// Publishes each transaction's rows into a shared table on commit.
    /// struct Table { published: Arc<Mutex<Vec<(u64, Vec<i64>)>>>, staged: Vec<(u64, Vec<i64>)> }
    ///
    /// impl TwoPhaseCommitSink<i64> for Table {
    ///     type Handle = u64; // (instance << 32) | transaction number
    ///     type Transaction = (u64, Vec<i64>);
    ///     fn begin(&mut self, ctx: &TransactionContext) -> Result<Self::Transaction, JobError> {
    ///         Ok(((u64::from(ctx.subtask) << 32) | ctx.seq, Vec::new()))
    ///     }
    ///     fn write(&mut self, txn: &mut Self::Transaction, batch: &mut Vec<Event<i64>>) -> Result<(), JobError> {
    ///         txn.1.extend(batch.drain(..).map(|e| e.value));
    ///         Ok(())
    ///     }
    ///     fn pre_commit(&mut self, txn: Self::Transaction, _checkpoint: Option<u64>) -> Result<u64, JobError> {
    ///         let handle = txn.0;
    ///         self.staged.push(txn);
    ///         Ok(handle)
    ///     }
    ///     fn commit(&mut self, handle: &u64) -> Result<(), JobError> {
    ///         let mut published = self.published.lock().map_err(|_| JobError::Config("poisoned".into()))?;
    ///         if published.iter().any(|(h, _)| h == handle) {
    ///             return Ok(()); // idempotent
    ///         }
    ///         if let Some(i) = self.staged.iter().position(|(h, _)| h == handle) {
    ///             published.push(self.staged.remove(i));
    ///         }
    ///         Ok(())
    ///     }
    ///     fn abort(&mut self, _txn: Self::Transaction) -> Result<(), JobError> {
    ///         Ok(())
    ///     }
    ///     fn abort_lingering(&mut self, _scope: &RecoveryScope<'_, u64>) -> Result<(), JobError> {
    ///         Ok(()) // nothing outlives the process here
    ///     }
    /// }
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("doc").with_parallelism(2));
    /// let published = Arc::new(Mutex::new(Vec::new()));
    /// let table = published.clone();
    /// env.from_collection((0..10).map(|i| (i, i)).collect())
    ///     .map(|x| x * 10)
    ///     .sink_exactly_once("table", move |_| Ok(Table { published: table.clone(), staged: Vec::new() }));
    /// env.execute().unwrap();
    /// let mut rows: Vec<i64> = published.lock().unwrap().iter().flat_map(|(_, r)| r.clone()).collect();
    /// rows.sort();
    /// assert_eq!(rows, (0..10).map(|x| x * 10).collect::<Vec<_>>());
    /// ```
    pub fn sink_exactly_once<S: TwoPhaseCommitSink<T> + 'static>(
        self,
        kind: &str,
        make: impl Fn(&SubtaskEnv) -> Result<S, JobError> + 'static,
    ) -> SinkHandle {
        self.sink(kind, move |id, env| Ok(Box::new(TwoPhaseCommitOperator::from_env(id, make(env)?, env)?)))
    }

    /// Ends the stream by printing each record to stdout.
    pub fn print(self) -> SinkHandle
    where
        T: Display,
    {
        self.sink("print-sink", |_, env| Ok(Box::new(SinkOperator(PrintSink::new(env.counters.counter("output_rows"))))))
    }

    /// Ends the stream by counting its records (`output_rows`) and dropping them.
    pub fn discard(self) -> SinkHandle {
        self.sink("discard-sink", |_, env| Ok(Box::new(SinkOperator(DiscardSink::new(env.counters.counter("output_rows"))))))
    }

    /// Ends the stream by collecting its records in memory (not exactly-once:
    /// for tests and small jobs).
    pub fn collect_to_vec(self) -> Arc<Mutex<Vec<T>>> {
        let out = Arc::new(Mutex::new(Vec::new()));
        let shared = out.clone();
        self.sink("collect-sink", move |_, _| Ok(Box::new(SinkOperator(CollectSink::new(shared.clone())))));
        out
    }
}

/// The end of a stream: lets the sink be given a stable id.
pub struct SinkHandle {
    id: Rc<RefCell<String>>,
}

impl SinkHandle {
    /// Gives the sink a stable id (see [`DataStream::uid`]).
    pub fn uid(self, id: &str) -> Self {
        *self.id.borrow_mut() = id.to_string();
        self
    }
}
