//! `StreamEnvironment`: where a job is put together and run.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use weir_operators::sources::{CollectionSource, FileSource, LineParser, SequenceSource};
use weir_runtime::{
    execute, BuiltTask, EdgeId, EdgeSpec, Event, JobConfig, JobError, JobGraph, JobResult, Metered, Source, SubtaskEnv, VertexSpec,
};

use crate::stream::{DataStream, Head};
use crate::{Error, JobArgs};

/// The graph under construction, shared by every stream of an environment.
pub(crate) struct Builder {
    pub(crate) vertices: Vec<VertexSpec>,
    pub(crate) edges: Vec<EdgeSpec>,
    /// Ids of stateful operators; a `.uid()` call may still change them.
    pub(crate) operator_ids: Vec<Rc<RefCell<String>>>,
    /// The keyed ones among them, with their parallelism.
    pub(crate) keyed_operators: Vec<(Rc<RefCell<String>>, u32)>,
    /// Mistakes in putting the job together, which `execute` reports.
    pub(crate) errors: Vec<String>,
    /// The job's parallelism: of every operator not given another.
    pub(crate) parallelism: u32,
    /// The job's name, which connectors derive external names from.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) job_name: String,
    next_operator: usize,
    /// Stateless operators are numbered apart, so that adding one does not
    /// change the derived ids of the stateful operators after it.
    next_stateless: usize,
}

impl Builder {
    pub(crate) fn operator_id(&mut self, kind: &str) -> Rc<RefCell<String>> {
        let id = Rc::new(RefCell::new(format!("{kind}-{}", self.next_operator)));
        self.next_operator += 1;
        self.operator_ids.push(id.clone());
        id
    }
    /// A new id of a keyed operator of `parallelism` instances.
    pub(crate) fn keyed_operator_id(&mut self, kind: &str, parallelism: u32) -> Rc<RefCell<String>> {
        let id = self.operator_id(kind);
        self.keyed_operators.push((id.clone(), parallelism));
        id
    }
    /// A name for a stateless operator's metrics (not a checkpointed id).
    pub(crate) fn metrics_name(&mut self, kind: &str) -> String {
        let name = format!("{kind}-{}", self.next_stateless);
        self.next_stateless += 1;
        name
    }

    pub(crate) fn add_edge(&mut self, edge: EdgeSpec) -> EdgeId {
        self.edges.push(edge);
        self.edges.len() - 1
    }
}

/// Builds and runs a job.
///
/// ```
/// use weir::{StreamEnvironment, JobConfig};
/// let env = StreamEnvironment::new(JobConfig::new("doc").with_parallelism(2));
/// let out = env.from_collection((0..10).map(|i| (i, i)).collect()).map(|x| x * 10).collect_to_vec();
/// env.execute().unwrap();
/// let mut v = out.lock().unwrap().clone();
/// v.sort();
/// assert_eq!(v, (0..10).map(|x| x * 10).collect::<Vec<_>>());
/// ```
pub struct StreamEnvironment {
    pub(crate) builder: Rc<RefCell<Builder>>,
    config: JobConfig,
}

impl StreamEnvironment {
    /// An environment with `config`.
    pub fn new(config: JobConfig) -> Self {
        StreamEnvironment {
            builder: Rc::new(RefCell::new(Builder {
                vertices: Vec::new(),
                edges: Vec::new(),
                operator_ids: Vec::new(),
                keyed_operators: Vec::new(),
                errors: Vec::new(),
                parallelism: config.parallelism,
                job_name: config.job_name.clone(),
                next_operator: 0,
                next_stateless: 0,
            })),
            config,
        }
    }

    /// An environment configured by command-line flags.
    pub fn from_args(job_name: &str, args: &JobArgs) -> Result<Self, Error> {
        Ok(Self::new(args.to_config(job_name)?))
    }

    /// The configuration.
    pub fn config(&self) -> &JobConfig {
        &self.config
    }

    /// Calls `f` with the job's [`JobControl`](weir_runtime::JobControl) once
    /// it runs: a program that embeds the job can then take checkpoints and
    /// savepoints, read its status, or stop it.
    pub fn on_start(&mut self, f: impl Fn(weir_runtime::JobControl) + Send + Sync + 'static) {
        self.config.on_start = Some(weir_runtime::OnStart(std::sync::Arc::new(f)));
    }

    /// The parallelism of every operator.
    pub fn parallelism(&self) -> u32 {
        self.config.parallelism
    }

    /// A stream from a source; `make` builds the instance for each subtask.
    pub fn source<T: Send + 'static>(&self, make: impl Fn(&SubtaskEnv) -> Result<Box<dyn Source<T>>, JobError> + 'static) -> DataStream<T> {
        let id = self.builder.borrow_mut().operator_id("source");
        let cell = id.clone();
        let idleness = Rc::new(Cell::new(None));
        let idle_timeout = idleness.clone();
        let head: Head<Event<T>> = Rc::new(move |env, _wiring, chain| {
            let id = cell.borrow().clone();
            let source = make(env)?;
            BuiltTask::source(&id, source, Metered::records_out(&id, chain), env, idle_timeout.get())
        });
        let mut stream = DataStream::new(self.builder.clone(), self.config.parallelism, head);
        stream.last_id = Some(id);
        stream.idleness = vec![idleness];
        stream.at_source = true;
        stream
    }

    /// A stream of the `(event time ms, value)` pairs of a vector.
    pub fn from_collection<T: Clone + Send + Sync + 'static>(&self, items: Vec<(i64, T)>) -> DataStream<T> {
        let items: Arc<Vec<Event<T>>> = Arc::new(items.into_iter().map(|(ts, v)| Event::new(ts, v)).collect());
        self.source(move |env| Ok(Box::new(CollectionSource::new(items.as_ref().clone(), env.subtask, env.parallelism))))
    }

    /// A generated stream of `count` events: event `i` is `make(i)`, made by
    /// instance `i mod parallelism`; at most `rate` events per second in all.
    pub fn generate<T: Send + 'static>(
        &self,
        count: u64,
        rate: Option<f64>,
        out_of_orderness_ms: i64,
        make: impl Fn(u64) -> Event<T> + Send + Sync + 'static,
    ) -> DataStream<T> {
        let make: Arc<dyn Fn(u64) -> Event<T> + Send + Sync> = Arc::new(make);
        self.source(move |env| {
            Ok(Box::new(SequenceSource::from_arc(count, env.subtask, env.parallelism, out_of_orderness_ms, rate, make.clone())))
        })
    }

    /// A stream of the lines of a file, or of the files of a directory in
    /// name order, each turned into an event by `parse`. A line `parse`
    /// rejects fails the job with the file and line number.
    ///
    /// Each file is read by one instance (file `i` by instance `i mod
    /// parallelism`, each instance its files in name order), so the input
    /// is read once, not scanned by every instance; with files each in
    /// event-time order and in that order one after another by name, every
    /// instance's event time keeps increasing. A single file is read by one
    /// instance: split large input into several files to read it in parallel.
    pub fn read_lines<T: Send + 'static>(
        &self,
        path: &Path,
        rate: Option<f64>,
        out_of_orderness_ms: i64,
        parse: impl Fn(&str) -> Result<Event<T>, String> + Send + Sync + 'static,
    ) -> DataStream<T> {
        let parse: LineParser<T> = Arc::new(parse);
        let path = path.to_path_buf();
        self.source(move |env| {
            Ok(Box::new(FileSource::new(&path, env.subtask, env.parallelism, out_of_orderness_ms, rate, parse.clone())?))
        })
    }

    /// Runs the job to its end: until every source is exhausted, or the
    /// process is asked to stop (SIGINT, SIGTERM) when the configuration says so.
    pub fn execute(self) -> Result<JobResult, Error> {
        let builder = Rc::try_unwrap(self.builder)
            .map_err(|_| Error::Args("a stream of this environment was not consumed: end every stream with a sink".into()));
        let builder = match builder {
            Ok(b) => b.into_inner(),
            Err(e) => return Err(e),
        };
        let mut ids = BTreeSet::new();
        for id in &builder.operator_ids {
            let id = id.borrow().clone();
            if !ids.insert(id.clone()) {
                return Err(Error::Args(format!("two operators have the id '{id}'; operator ids must be unique")));
            }
        }
        if let Some(e) = builder.errors.first() {
            return Err(Error::Args(e.clone()));
        }
        if builder.vertices.is_empty() {
            return Err(Error::Args("the job has no sink".into()));
        }
        let keyed_operators = builder.keyed_operators.iter().map(|(id, p)| (id.borrow().clone(), *p)).collect();
        let graph = JobGraph { vertices: builder.vertices, edges: builder.edges, operator_ids: ids, keyed_operators };
        Ok(execute(graph, &self.config)?)
    }
}
