//! Sinks: exactly-once files, stdout, a counting discard, and an in-memory collector.

mod collect;
mod discard;
mod file;
mod print;

pub use collect::CollectSink;
pub use discard::DiscardSink;
pub use file::FileSink;
pub use print::PrintSink;
