//! The `weir checkpoints` library: list, inspect, verify, gc and promote, each
//! on the in-memory store and on a local directory. This module holds the
//! backends and the checkpoint history the scenarios share; each command's
//! scenarios are in a module named after it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use weir_checkpoint::tools::{self, GcOptions, Problem};
use weir_checkpoint::{
    checksum, open_checkpoint, CheckpointError, CheckpointMetadata, CheckpointStorage, JobLock, KeyGroupRange, LockInfo, LockStatus,
    PendingCheckpoint, SharedFileName, StateFile, SubtaskState, JOB_LOCK_FILE,
};

/// A checkpoint root on one backend.
struct Env {
    storage: CheckpointStorage,
    /// The temporary directory and the root in it, for the local backend.
    local: Option<(tempfile::TempDir, PathBuf)>,
}

impl Env {
    fn memory() -> Self {
        Env { storage: CheckpointStorage::in_memory(), local: None }
    }

    fn local() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("job");
        let storage = CheckpointStorage::open(root.to_str().unwrap()).unwrap();
        Env { storage, local: Some((tmp, root)) }
    }

    /// Checks that `reported` names the root-relative file `rel` as users find it.
    fn assert_names(&self, reported: &str, rel: &str) {
        assert_eq!(reported, self.storage.describe(rel));
        if let Some((_, root)) = &self.local {
            assert_eq!(reported, root.join(rel).display().to_string());
        }
    }
}

/// Runs the scenario `$name(Env)` on both backends, as `$name::in_memory` and
/// `$name::local_file_system`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn in_memory() {
                super::$name(crate::tools::Env::memory()).await;
            }

            #[tokio::test]
            async fn local_file_system() {
                super::$name(crate::tools::Env::local()).await;
            }
        }
    )*};
}

mod gc;
mod inspect;
mod list;
mod promote;
mod verify;

const OP: &str = "window";
const A: &str = "shared/window-0.1.a.sst";
const B: &str = "shared/window-0.1.b.sst";
const C: &str = "shared/window-0.2.c.sst";
const D: &str = "shared/window-0.3.d.sst";
const E: &str = "shared/window-0.4.e.sst";
const ORPHAN: &str = "chk-3/orphan-upload";
const SAVEPOINT: &str = "savepoints/kept/_metadata";

fn private_content(id: u64) -> Bytes {
    Bytes::from(format!("window state of checkpoint {id}"))
}

fn sst_content(id: u64, name: &str) -> Bytes {
    Bytes::from(format!("sst {name} of checkpoint {id} {}", "x".repeat(usize::try_from(id).unwrap() * 10)))
}

/// Writes and completes checkpoint `id`: a source with inline state, and
/// instance 0 of `window` with a private file, shared files it uploads
/// (`new`, named as the runtime names them) and shared files of earlier
/// checkpoints it references (`reuse`, root-relative).
async fn write_chk(storage: &CheckpointStorage, id: u64, new: &[&str], reuse: &[&str]) -> CheckpointMetadata {
    let dir = CheckpointStorage::checkpoint_dir(id);
    let mut files = vec![storage.write_state_file(&dir, "op-window-0.state", private_content(id), vec![]).await.unwrap()];
    for name in new {
        let shared = format!("../shared/{}", SharedFileName::new(OP, 0, id, name));
        files.push(storage.write_state_file(&dir, &shared, sst_content(id, name), vec![]).await.unwrap());
    }
    for rel in reuse {
        let bytes = storage.get(rel).await.unwrap();
        let path = format!("../{rel}");
        files.push(StateFile {
            path,
            size: bytes.len() as u64,
            checksum: checksum(&bytes),
            key_group_offsets: vec![],
            inline_state: false,
        });
    }
    let mut pending = PendingCheckpoint::new(id, 1_000 * id, [(0, 0), (1, 0)]);
    let source = SubtaskState { subtask: 0, key_groups: None, files: vec![], inline: Some(vec![1, 2, 3]) };
    pending.acknowledge((0, 0), vec![("source".into(), 1, source)]);
    let window = SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 3)), files, inline: None };
    pending.acknowledge((1, 0), vec![(OP.into(), 1, window)]);
    let meta = pending.into_metadata("tools-job", 4);
    storage.write_metadata(&meta).await.unwrap();
    meta
}

/// Three complete incremental checkpoints (3 references shared files of 1
/// and 2), a leftover upload in chk-3, an incomplete chk-4 that uploaded a
/// private and a shared file, and a savepoint kept in the root.
async fn history(storage: &CheckpointStorage) {
    write_chk(storage, 1, &["a.sst", "b.sst"], &[]).await;
    write_chk(storage, 2, &["c.sst"], &[A]).await;
    write_chk(storage, 3, &["d.sst"], &[A, C]).await;
    storage.put(ORPHAN, Bytes::from_static(b"left by a failed upload")).await.unwrap();
    storage.write_state_file("chk-4", "op-window-0.state", private_content(4), vec![]).await.unwrap();
    storage.write_state_file("chk-4", &format!("../{E}"), sst_content(4, "e.sst"), vec![]).await.unwrap();
    storage.put(SAVEPOINT, Bytes::from_static(b"{}")).await.unwrap();
}

async fn sizes(storage: &CheckpointStorage) -> BTreeMap<String, u64> {
    storage.list_files("").await.unwrap().into_iter().collect()
}

fn sum(sizes: &BTreeMap<String, u64>, paths: &[&str]) -> u64 {
    paths.iter().map(|p| sizes.get(*p).copied().unwrap_or_else(|| panic!("{p} not found"))).sum()
}
