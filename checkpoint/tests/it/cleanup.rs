//! Subsumed and aborted checkpoints are removed without touching what retained
//! checkpoints still reference.

use bytes::Bytes;
use weir_checkpoint::{protocol, CheckpointStorage, PendingCheckpoint, SubtaskState};

use crate::{read_all, write_checkpoint};

fn names(files: Vec<(String, u64)>) -> Vec<String> {
    files.into_iter().map(|(p, _)| p).collect()
}

async fn discard_keeps_shared_files(storage: CheckpointStorage) {
    let c1 = write_checkpoint(&storage, 1, &["s1", "s2"], true).await;
    // An orphan left by a failed upload.
    storage.put("chk-1/orphan", Bytes::from_static(b"o")).await.unwrap();
    storage.put("shared/s3", Bytes::from_static(b"sst s3")).await.unwrap();
    let c2 = write_checkpoint(&storage, 2, &["s2", "s3"], false).await;
    let c3 = write_checkpoint(&storage, 3, &["s3"], false).await;

    let completed: Vec<u64> = storage.list_checkpoints().await.unwrap().iter().filter(|c| c.complete).map(|c| c.id).collect();
    assert_eq!(protocol::subsumed(&completed, 2), vec![1]);
    storage.discard_checkpoints(&[&c2, &c3], &[&c1]).await.unwrap();
    assert_eq!(
        names(storage.list_files("").await.unwrap()),
        vec!["chk-2/_metadata", "chk-2/op-window-0.state", "chk-3/_metadata", "chk-3/op-window-0.state", "shared/s2", "shared/s3",]
    );
    read_all(&storage, "chk-2").await;
    read_all(&storage, "chk-3").await;

    storage.discard_checkpoints(&[&c3], &[&c2]).await.unwrap();
    assert_eq!(names(storage.list_files("").await.unwrap()), vec!["chk-3/_metadata", "chk-3/op-window-0.state", "shared/s3"]);
    let ids: Vec<u64> = storage.list_checkpoints().await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![3], "discarded directories are gone");
    read_all(&storage, "chk-3").await;

    // Abort checkpoint 4: it uploaded a private file and a new shared file and
    // references the retained s3.
    let dir = CheckpointStorage::checkpoint_dir(4);
    let own = storage.write_state_file(&dir, "own", Bytes::from_static(b"4"), vec![]).await.unwrap();
    let new = storage.write_state_file(&dir, "../shared/s4", Bytes::from_static(b"4"), vec![]).await.unwrap();
    let old = c3.files().find(|f| f.path == "../shared/s3").unwrap().clone();
    storage.put("chk-4/unacked", Bytes::from_static(b"u")).await.unwrap();
    let mut pending = PendingCheckpoint::new(4, 0, [(0, 0), (0, 1)]);
    pending.acknowledge(
        (0, 0),
        vec![("window".into(), 2, SubtaskState { subtask: 0, key_groups: None, files: vec![own, new, old], inline: None })],
    );
    storage.abort_checkpoint(&pending, &[&c3]).await.unwrap();
    assert_eq!(names(storage.list_files("").await.unwrap()), vec!["chk-3/_metadata", "chk-3/op-window-0.state", "shared/s3"]);
    read_all(&storage, "chk-3").await;
}

#[tokio::test]
async fn in_memory() {
    discard_keeps_shared_files(CheckpointStorage::in_memory()).await;
}

#[tokio::test]
async fn local_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(tmp.path().to_str().unwrap()).unwrap();
    discard_keeps_shared_files(storage).await;
    for gone in ["chk-1", "chk-2", "chk-4"] {
        assert!(!tmp.path().join(gone).exists(), "{gone} directory removed");
    }
    assert!(tmp.path().is_dir(), "the root stays");
}
