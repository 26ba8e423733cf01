//! The library half of `weir checkpoints`: list, inspect, verify, collect
//! garbage in, and promote checkpoints.
//!
//! Each command is an async function over [`CheckpointStorage`](crate::CheckpointStorage) that returns a
//! typed report. Reports implement [`serde::Serialize`] (for `--json`) and
//! [`std::fmt::Display`] (for people). All I/O goes through the storage; what
//! to count, check, delete or copy is decided by pure functions next to each
//! command.
//!
//! | command | function | report |
//! | --- | --- | --- |
//! | `list` | [`list`] | [`CheckpointSummary`] per `chk-<N>` |
//! | `inspect` | [`inspect`] | [`CheckpointReport`] |
//! | `verify` | [`verify`] | [`VerifyReport`] |
//! | `gc` | [`gc`] | [`GcReport`] |
//! | `promote` | [`promote`] | [`PromoteReport`] |
//!
//! # Example
//!
//! ```
//! use weir_checkpoint::tools::{self, GcOptions};
//! use weir_checkpoint::CheckpointStorage;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! # rt.block_on(async {
//! let storage = CheckpointStorage::in_memory();
//! storage.put("chk-1/op-0/leftover", bytes::Bytes::from_static(b"never completed")).await?;
//!
//! let listed = tools::list(&storage).await?;
//! assert_eq!((listed[0].id, listed[0].complete, listed[0].incremental_size), (1, false, 15));
//!
//! let report = tools::gc(&storage, GcOptions { dry_run: false, force_stale: false }).await?;
//! assert_eq!((report.files, report.bytes), (1, 15));
//! assert!(tools::list(&storage).await?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! ```

mod gc;
mod inspect;
mod list;
mod promote;
mod text;
mod verify;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use gc::{gc, GcOptions, GcReport, GC_LOCK_NAME};
pub use inspect::{inspect, CheckpointReport, FileReport, OperatorReport, SubtaskReport};
pub use list::{list, CheckpointSummary};
pub use promote::{promote, PromoteReport, PromotedFile};
pub use verify::{verify, Problem, VerifyReport};

use crate::manifest::{parse_checkpoint_dir, CheckpointMetadata, SHARED_DIR};
use crate::shared_name::SharedFileName;

/// A file in checkpoint storage and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the storage root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// The checkpoint that wrote the file at root-relative `path`: for a file in
/// `shared/`, the one its name says (see [`SharedFileName`]); for a file in a
/// `chk-<N>/` directory, `N`; elsewhere (e.g. a promoted copy of a shared
/// file), the one its name says, if it has that form.
///
/// `owner` is the operator and subtask that reference the file, when known:
/// with it, operator ids that look like shared names are no problem.
pub(crate) fn written_by(path: &str, owner: Option<(&str, u32)>) -> Option<u64> {
    let by_name = || owner.and_then(|(op, subtask)| SharedFileName::parse_for(op, subtask, path)).or_else(|| SharedFileName::parse(path));
    let first = path.split('/').next().unwrap_or(path);
    if first == SHARED_DIR {
        return by_name().map(|n| n.checkpoint);
    }
    match parse_checkpoint_dir(first) {
        Some(id) if path.len() > first.len() => Some(id),
        _ => by_name().map(|n| n.checkpoint),
    }
}

/// Recorded size of every file `meta` (held in `dir`) references, keyed by
/// root-relative path (or the path as recorded, if it leads out of the root),
/// each file once.
pub(crate) fn referenced_sizes(dir: &str, meta: &CheckpointMetadata) -> BTreeMap<String, u64> {
    meta.files().map(|f| (crate::protocol::root_relative(dir, &f.path).unwrap_or_else(|| f.path.clone()), f.size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_files_to_the_checkpoint_that_wrote_them() {
        assert_eq!(written_by("chk-3/op-0.state", None), Some(3));
        assert_eq!(written_by("chk-3/window-0/000012.sst", Some(("window", 0))), Some(3));
        assert_eq!(written_by("shared/window-0.2.000012.sst", Some(("window", 0))), Some(2));
        assert_eq!(written_by("shared/window-0.2.000012.sst", None), Some(2));
        assert_eq!(written_by("shared/a-1.2.b-0.9.f", Some(("a-1.2.b", 0))), Some(9));
        assert_eq!(written_by("shared/not-a-shared-name", None), None);
        // A promoted checkpoint keeps the original names of shared files.
        assert_eq!(written_by("sp/window-0/window-0.2.000012.sst", Some(("window", 0))), Some(2));
        assert_eq!(written_by("sp/op-0.state", None), None);
        assert_eq!(written_by("chk-3", None), None);
    }
}
