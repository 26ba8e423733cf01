//! weir: a single-node stream processor with built-in state and
//! exactly-once checkpoints.
//!
//! A job reads sources, transforms records, partitions them by key, keeps
//! keyed state in key groups, counts them in event-time windows and writes
//! them to sinks. Checkpoints (aligned barriers, `_metadata` written last)
//! make a restart continue exactly where the job was.
//!
//! A whole job: count words per key in one-second windows.
//!
//! ```
//! use weir::{JobConfig, StreamEnvironment, TumblingWindows};
//!
//! let env = StreamEnvironment::new(JobConfig::new("word-count").with_parallelism(2));
//! let lines = vec![(100, "a b a"), (900, "b"), (1500, "a")];
//! let counts = env
//!     .from_collection(lines)
//!     .flat_map(|line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>())
//!     .key_by(|word: &String| word.clone())
//!     .window(TumblingWindows::of_millis(1000))
//!     .count()
//!     .map(|r| format!("{}", r))
//!     .collect_to_vec();
//! let result = env.execute().unwrap();
//!
//! let mut counts = counts.lock().unwrap().clone();
//! counts.sort();
//! assert_eq!(counts, ["0,a,2", "0,b,2", "1000,a,1"]);
//! assert_eq!(result.counter("events"), 3);
//! ```
#![deny(missing_docs)]

mod args;
mod broadcast;
pub mod client;
mod connected;
mod environment;
mod error;
#[cfg(feature = "kafka")]
mod kafka_api;
mod keyed;
mod logging;
mod parse;
mod side;
mod stream;

pub use args::{check_control_addr, JobArgs, RestoreMode};
pub use broadcast::{BroadcastConnectedStreams, BroadcastStream, KeyedBroadcastConnectedStreams};
pub use connected::{ConnectedStreams, KeyedConnectedStreams};
pub use environment::StreamEnvironment;
pub use error::Error;
pub use keyed::{KeyedStream, WindowedStream};
pub use logging::init_logging;
pub use parse::{parse_count, parse_duration, parse_size};
pub use stream::{DataStream, SinkHandle};

pub use weir_operators::{
    AggregateFunction, BroadcastContext, BroadcastProcessFunction, Context, Either, GlobalWindows, KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction, KeyedProcessFunction, OpenContext, OutputTag, ProcessContext, ProcessFunction, ProcessWindowFunction,
    SessionWindows, SlidingWindows, TriggerContext, TriggerResult, TumblingWindows, UserError, Window, WindowContext, WindowResult,
};
pub use weir_runtime::{
    Event, JobConfig, JobError, JobResult, RecoveryScope, RestartStrategy, RestoreFrom, Source, SourceStatus, SubtaskEnv,
    TransactionContext, TwoPhaseCommitSink,
};
pub use weir_state::{state_type, Key, ListState, MapState, ReducingState, StateDescriptor, StateType, ValueFormat, ValueState};

/// Apache Kafka: the configuration and record types of
/// [`StreamEnvironment::from_kafka`] and [`DataStream::sink_to_kafka`]
/// (feature `kafka`).
#[cfg(feature = "kafka")]
pub mod kafka {
    pub use weir_kafka::*;
}

/// The crates weir is made of, for what the facade does not re-export.
pub mod crates {
    pub use weir_checkpoint as checkpoint;
    pub use weir_operators as operators;
    pub use weir_runtime as runtime;
    pub use weir_state as state;
}
