//! Windows: assigners (tumbling, sliding, session, global with a trigger), the aggregations that
//! fold a window's records, what a fired window emits, and the operators
//! that keep windows in keyed state and fire them on the watermark.

mod aggregate;
mod assigner;
mod context;
mod function;
mod global;
mod late;
mod session;
mod sliced;

pub use aggregate::{Aggregate, AggregateFunction, Aggregating, Count, Elements, Reduce};
pub(crate) use assigner::Sliced;
pub use assigner::{SessionWindows, SlidingWindows, TumblingWindows, Window, WindowAssigner};
pub use context::WindowContext;
pub use function::{AllElements, OfAggregate, ProcessWindowFunction, Results, WindowFunction, WindowResult};
pub use global::{GlobalWindowOperator, GlobalWindows, Trigger, TriggerContext, TriggerResult, GLOBAL_WINDOW};
pub use session::SessionWindowOperator;
pub use sliced::SlicedWindowOperator;
