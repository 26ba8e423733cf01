//! Sources: a deterministic sequence generator, line files, and an in-memory collection.

mod collection;
mod files;
mod sequence;
mod stripes;

pub use collection::CollectionSource;
pub use files::{FileSource, LineParser};
pub use sequence::SequenceSource;
pub use stripes::{Stripe, Stripes};
