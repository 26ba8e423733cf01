//! Sinks: exactly-once files, an exactly-once table of the latest value per key, stdout, a counting discard, and an in-memory collector.

mod collect;
mod discard;
mod file;
mod print;
mod upsert;

pub use collect::CollectSink;
pub use discard::DiscardSink;
pub use file::FileSink;
pub use print::PrintSink;
pub use upsert::{read_table, UpsertFileSink};
