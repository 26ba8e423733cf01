//! The job graph: vertices (chains of operators run as `parallelism` tasks)
//! and the edges (channels) between them.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::source::SourceTask;
use crate::task::{CheckpointPlumbing, InputTask, TaskOutcome};
use crate::{Event, JobError, Message, Operator, Source, SubtaskEnv};

/// Batches a channel holds before its sender blocks (backpressure).
///
/// A checkpoint's barrier queues behind what the channels hold: with 8
/// batches, an incremental checkpoint of `keyed_totals` spent 10-25 ms of its
/// 45-50 ms before its barriers reached the keyed tasks. 4 took about 6 ms
/// off that and changed no throughput measured (`benches/README.md`).
pub const CHANNEL_CAPACITY: usize = 4;

/// A runnable task instance.
pub struct BuiltTask {
    pub(crate) is_source: bool,
    pub(crate) run: Box<dyn FnOnce(CheckpointPlumbing) -> Result<TaskOutcome, JobError> + Send>,
}

impl BuiltTask {
    /// A task that drives `source` into `chain`. With an `idle_timeout`, a
    /// source that has had nothing to read for that long marks its output
    /// idle, so that it does not hold back the watermark downstream.
    pub fn source<T: Send + 'static>(
        operator_id: &str,
        source: Box<dyn Source<T>>,
        chain: Box<dyn Operator<Event<T>>>,
        env: &SubtaskEnv,
        idle_timeout: Option<Duration>,
    ) -> Result<Self, JobError> {
        let mut source = source;
        // The source's restored position: its own, or every earlier
        // instance's after a change of parallelism (each new instance takes its share).
        if let Some(restored) = env.restored(operator_id, false)? {
            match (restored.inline, restored.rescaled) {
                (_, Some(rescaled)) => source.restore_rescaled(rescaled.parallelism, &rescaled.states, restored.format)?,
                (Some(position), None) => source.restore(&position, restored.format)?,
                (None, None) => {}
            }
        }
        let task = SourceTask {
            operator_id: operator_id.to_string(),
            source,
            chain,
            stop: env.stop.clone(),
            events: env.counters.counter("events"),
            final_barrier: None,
            idle_timeout,
        };
        Ok(BuiltTask { is_source: true, run: Box::new(move |p| task.run(p)) })
    }

    /// A task that reads `inputs` into `chain`.
    pub fn input<T: Send + 'static>(inputs: Vec<Receiver<Message<T>>>, chain: Box<dyn Operator<T>>) -> Self {
        let task = InputTask { inputs, chain, notified: Default::default() };
        BuiltTask { is_source: false, run: Box::new(move |p| task.run(p)) }
    }
}

/// Builds one instance of a vertex.
pub type TaskFactory = Box<dyn Fn(&SubtaskEnv, &mut Wiring) -> Result<BuiltTask, JobError>>;

/// A vertex: a chain of operators run as `parallelism` tasks.
pub struct VertexSpec {
    /// For thread names and messages.
    pub name: String,
    /// Number of instances.
    pub parallelism: u32,
    /// Builds an instance.
    pub build: TaskFactory,
}

/// Identifies an edge of a graph.
pub type EdgeId = usize;

/// An edge: the channels between the instances of two vertices.
pub struct EdgeSpec {
    create: Box<dyn Fn() -> Box<dyn Any>>,
}

struct EdgeChannels<T> {
    senders: Vec<Option<Vec<Sender<Message<T>>>>>,
    receivers: Vec<Option<Vec<Receiver<Message<T>>>>>,
}

impl EdgeSpec {
    /// Every upstream instance sends to every downstream instance (for `key_by`).
    pub fn all_to_all<T: Send + 'static>(upstream: u32, downstream: u32) -> Self {
        EdgeSpec {
            create: Box::new(move || {
                let mut senders: Vec<Vec<Sender<Message<T>>>> = (0..upstream).map(|_| Vec::new()).collect();
                let mut receivers: Vec<Vec<Receiver<Message<T>>>> = (0..downstream).map(|_| Vec::new()).collect();
                for s in senders.iter_mut() {
                    for r in receivers.iter_mut() {
                        let (tx, rx) = bounded(CHANNEL_CAPACITY);
                        s.push(tx);
                        r.push(rx);
                    }
                }
                Box::new(EdgeChannels {
                    senders: senders.into_iter().map(Some).collect(),
                    receivers: receivers.into_iter().map(Some).collect(),
                })
            }),
        }
    }

    /// Instance `i` sends to instance `i` (both vertices have `parallelism` instances).
    pub fn forward<T: Send + 'static>(parallelism: u32) -> Self {
        EdgeSpec {
            create: Box::new(move || {
                let (senders, receivers): (Vec<_>, Vec<_>) = (0..parallelism)
                    .map(|_| {
                        let (tx, rx) = bounded(CHANNEL_CAPACITY);
                        (Some(vec![tx]), Some(vec![rx]))
                    })
                    .unzip();
                Box::new(EdgeChannels::<T> { senders, receivers })
            }),
        }
    }
}

/// The channels of every edge, handed out to the instances as they are built.
pub struct Wiring {
    edges: Vec<Box<dyn Any>>,
}

impl Wiring {
    pub(crate) fn new(edges: &[EdgeSpec]) -> Self {
        Wiring { edges: edges.iter().map(|e| (e.create)()).collect() }
    }

    fn channels<T: 'static>(&mut self, edge: EdgeId) -> Result<&mut EdgeChannels<T>, JobError> {
        self.edges
            .get_mut(edge)
            .and_then(|e| e.downcast_mut::<EdgeChannels<T>>())
            .ok_or_else(|| JobError::Config(format!("edge {edge} does not carry the requested type")))
    }

    /// The senders of upstream instance `subtask` of `edge` (one per downstream instance).
    pub fn senders<T: 'static>(&mut self, edge: EdgeId, subtask: u32) -> Result<Vec<Sender<Message<T>>>, JobError> {
        self.channels::<T>(edge)?
            .senders
            .get_mut(subtask as usize)
            .and_then(Option::take)
            .ok_or_else(|| JobError::Config(format!("edge {edge}: senders of instance {subtask} taken twice or missing")))
    }

    /// The receivers of downstream instance `subtask` of `edge` (one per upstream instance).
    pub fn receivers<T: 'static>(&mut self, edge: EdgeId, subtask: u32) -> Result<Vec<Receiver<Message<T>>>, JobError> {
        self.channels::<T>(edge)?
            .receivers
            .get_mut(subtask as usize)
            .and_then(Option::take)
            .ok_or_else(|| JobError::Config(format!("edge {edge}: receivers of instance {subtask} taken twice or missing")))
    }
}

/// A whole job: its vertices, edges and the ids of its operators.
#[derive(Default)]
pub struct JobGraph {
    /// Vertices.
    pub vertices: Vec<VertexSpec>,
    /// Edges.
    pub edges: Vec<EdgeSpec>,
    /// Ids of every operator (what checkpoints match state by).
    pub operator_ids: BTreeSet<String>,
    /// Ids of the keyed operators and their parallelism: a restore prepares
    /// their RocksDB databases in parallel before the tasks are built. A
    /// keyed operator missing here restores while its task is built.
    pub keyed_operators: BTreeMap<String, u32>,
}

pub(crate) fn new_stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
