//! weir's operators: stateless transformations, keyed process functions with
//! state and timers, event-time windows (tumbling, sliding, session), sources and sinks.
//!
//! Each operator is a chain element ([`weir_runtime::Operator`]); the `weir`
//! crate's DataStream API puts them together.
#![deny(missing_docs)]

mod broadcast;
mod broadcast_process;
mod co_process;
mod functions;
mod join;
mod process;
mod processing_time;
mod side;
pub mod sinks;
pub mod sources;
mod stateless_process;
mod throttle;
mod window;

pub use broadcast::{BroadcastContext, KeyedBroadcastOperator, KeyedBroadcastProcessFunction};
pub use broadcast_process::{BroadcastOperator, BroadcastProcessFunction};
pub use co_process::{CoProcess, Either, KeyedCoProcessFunction};
pub use functions::{FilterFn, FlatMapFn, MapFn};
pub use join::{IntervalJoin, WindowJoin};
pub use process::{KeyedProcessFunction, KeyedProcessOperator, OpenContext, ProcessContext, UserError};
pub use processing_time::ProcessingTimers;
pub use side::{OutputTag, SideChannel, SideOutputs, TypedSide};
pub use stateless_process::{Context, ProcessFunction, ProcessOperator, WatermarkAssigner};
pub use throttle::Throttle;
pub use window::{
    Aggregate, AggregateFunction, Aggregating, AllElements, Count, Elements, GlobalWindowOperator, GlobalWindows, OfAggregate,
    ProcessWindowFunction, Reduce, Results, SessionWindowOperator, SessionWindows, SlicedWindowOperator, SlidingWindows, Trigger,
    TriggerContext, TriggerResult, TumblingWindows, Window, WindowAssigner, WindowContext, WindowFunction, WindowResult, GLOBAL_WINDOW,
};
