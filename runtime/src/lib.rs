//! The weir runtime: job graphs of operator chains run as parallel tasks on
//! worker threads, bounded channels between them, key-group partitioning,
//! watermarks, aligned checkpoint barriers, the checkpoint coordinator and
//! restore.
//!
//! Jobs are normally built with the `weir` crate's DataStream API; this crate
//! holds what runs them.
#![deny(missing_docs)]

mod config;
mod control;
mod coordinator;
mod counters;
mod env;
mod error;
mod event;
mod exchange;
mod executor;
mod fail;
mod graph;
mod http;
mod incremental;
mod io;
mod job_control;
mod job_lock;
mod leftovers;
mod message;
mod metered;
mod operator;
mod partition;
mod prepare;
mod restart;
mod restore;
mod sink;
mod snapshot;
mod source;
mod task;
mod two_phase;
mod upload;

pub use config::{CheckpointConfig, JobConfig, OnStart, RestoreFrom};
pub use control::{AckStats, Control, TaskEvent};
pub use coordinator::{CheckpointStats, CheckpointSummary};
pub use counters::{Counter, Counters};
pub use env::SubtaskEnv;
pub use error::JobError;
pub use event::{Event, Keyed};
pub use exchange::{Broadcast, ByKeyGroup, Exchange, RoundRobin, RoundRobinInto, Route};
pub use executor::{execute, JobResult};
pub use fail::{point as fail_point, FAIL_POINT_VAR};
pub use graph::{BuiltTask, EdgeId, EdgeSpec, JobGraph, TaskFactory, VertexSpec, Wiring, CHANNEL_CAPACITY};
pub use http::is_loopback_host;
pub use http::token::{default_token_file, TOKEN_FILE as CONTROL_TOKEN_FILE};
pub use job_control::{
    CheckpointRecord, CheckpointStatus, JobControl, JobState, JobStatus, OperatorStatus, Reply, SavepointFormat, SnapshotKind,
};
pub use message::{Barrier, Message};
pub use metered::Metered;
pub use operator::{processing_time_now, BatchFn, Notification, Operator, Stateless};
pub use partition::{ForwardOutput, KeyGroupPartitioner};
pub use restart::RestartStrategy;
pub use restore::FetchStats;
pub use sink::{Sink, SinkOperator};
pub use snapshot::{OperatorSnapshot, RescaledInline, RestoredState};
pub use source::{Source, SourceStatus, SOURCE_BATCH};
pub use two_phase::{RecoveryScope, TransactionContext, TwoPhaseCommitOperator, TwoPhaseCommitSink};
pub use upload::MAX_METADATA_INLINE;
