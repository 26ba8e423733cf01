//! Windows: assigners (tumbling, sliding, session), the aggregations that
//! fold a window's records, what a fired window emits, and the operators
//! that keep windows in keyed state and fire them on the watermark.

mod aggregate;
mod assigner;
mod function;
mod late;
mod session;
mod sliced;

pub use aggregate::{Aggregate, AggregateFunction, Aggregating, Count, Elements, Reduce};
pub(crate) use assigner::Sliced;
pub use assigner::{SessionWindows, SlidingWindows, TumblingWindows, Window, WindowAssigner};
pub use function::{AllElements, OfAggregate, ProcessWindowFunction, Results, WindowFunction, WindowResult};
pub use session::SessionWindowOperator;
pub use sliced::SlicedWindowOperator;
