//! weir's operators: stateless transformations, keyed process functions with
//! state and timers, tumbling event-time windows, sources and sinks.
//!
//! Each operator is a chain element ([`weir_runtime::Operator`]); the `weir`
//! crate's DataStream API puts them together.
#![deny(missing_docs)]

mod functions;
mod process;
pub mod sinks;
pub mod sources;
mod throttle;
mod window;

pub use functions::{FilterFn, FlatMapFn, MapFn};
pub use process::{KeyedProcessFunction, KeyedProcessOperator, OpenContext, ProcessContext, UserError};
pub use throttle::Throttle;
pub use window::{Aggregate, AggregateFunction, Aggregating, Count, Reduce, TumblingWindows, Window, WindowOperator, WindowResult};
