//! `tools::promote` scenarios.

use super::*;

on_both_backends!(promote_makes_a_self_contained_checkpoint);

/// Every file of the checkpoint in `dir`, by recorded path, read and checked.
async fn contents(storage: &CheckpointStorage, dir: &str) -> Vec<Bytes> {
    let meta = storage.read_metadata(dir).await.unwrap();
    let mut out = Vec::new();
    for file in meta.files() {
        out.push(storage.read_state_file(dir, file).await.unwrap());
    }
    out
}

async fn promote_makes_a_self_contained_checkpoint(env: Env) {
    // Source and destinations share one object store, so the store copies.
    let (src, same_store_dest, reopen) = match &env.local {
        None => {
            let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
            (
                CheckpointStorage::from_store(store.clone(), "job"),
                CheckpointStorage::from_store(store.clone(), "savepoints/promoted"),
                CheckpointStorage::from_store(store, "savepoints"),
            )
        }
        Some((tmp, _)) => {
            let store: Arc<dyn object_store::ObjectStore> =
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(tmp.path()).unwrap());
            (
                CheckpointStorage::from_store(store.clone(), "job"),
                CheckpointStorage::from_store(store.clone(), "savepoints/promoted"),
                CheckpointStorage::from_store(store, "savepoints"),
            )
        }
    };
    history(&src).await;
    let original = src.read_metadata("chk-3").await.unwrap();
    let original_contents = contents(&src, "chk-3").await;
    // The other destination is a store of its own: files stream through this process.
    let separate_dest = match &env.local {
        None => CheckpointStorage::in_memory(),
        Some((tmp, _)) => CheckpointStorage::open(tmp.path().join("elsewhere/promoted").to_str().unwrap()).unwrap(),
    };
    for (dest, store_side) in [(&same_store_dest, true), (&separate_dest, false)] {
        let report = tools::promote(&src, "chk-3", dest).await.unwrap();
        assert_eq!((report.checkpoint_id, report.store_side_copy), (3, store_side));
        let s = sizes(&src).await;
        assert_eq!((report.files, report.bytes), (4, sum(&s, &["chk-3/op-window-0.state", A, C, D])));
        let dest_files: Vec<String> = sizes(dest).await.into_keys().collect();
        assert_eq!(
            dest_files,
            vec!["_metadata", "op-window-0.state", "window-0/window-0.1.a.sst", "window-0/window-0.2.c.sst", "window-0/window-0.3.d.sst"]
        );
        let meta = dest.read_metadata("").await.unwrap();
        assert!(meta.files().all(|f| !f.path.starts_with("..")), "{meta:?}");
        let verified = tools::verify(dest, "").await.unwrap();
        assert!(verified.is_ok(), "{verified}");
        // Into a directory that holds a checkpoint: refused, nothing changed.
        let err = tools::promote(&src, "chk-3", dest).await.unwrap_err();
        assert!(matches!(err, CheckpointError::DestinationExists { .. }), "{err}");
        assert!(err.to_string().contains(&dest.describe("_metadata")), "{err}");
        // Its files were written by the checkpoints that first uploaded them.
        let by: Vec<_> =
            tools::inspect(dest, "").await.unwrap().operators[1].subtasks[0].files.iter().map(|f| (f.written_by, f.shared)).collect();
        assert_eq!(by, vec![(Some(3), false), (Some(3), false), (Some(1), false), (Some(2), false)]);
    }

    // Delete the source entirely; the promoted checkpoints restore alone.
    for (path, _) in src.list_files("").await.unwrap() {
        src.delete(&path).await.unwrap();
    }
    assert!(src.list_files("").await.unwrap().is_empty());
    let restored = reopen.read_metadata("promoted").await.unwrap();
    assert_eq!((restored.checkpoint_id, &restored.job_name, &restored.operators[0]), (3, &original.job_name, &original.operators[0]));
    assert_eq!(contents(&reopen, "promoted").await, original_contents);
    assert_eq!(contents(&separate_dest, "").await, original_contents);
    if let Some((tmp, _)) = &env.local {
        for dir in [tmp.path().join("savepoints/promoted"), tmp.path().join("elsewhere/promoted")] {
            let (storage, name) = open_checkpoint(dir.to_str().unwrap()).unwrap();
            assert_eq!(contents(&storage, &name).await, original_contents);
            assert!(tools::verify(&storage, &name).await.unwrap().is_ok());
        }
    }
}

#[tokio::test]
async fn promote_streams_large_files_and_checks_them_on_the_way() {
    let tmp = tempfile::tempdir().unwrap();
    let src = CheckpointStorage::open(tmp.path().join("job").to_str().unwrap()).unwrap();
    let big: Vec<u8> = (0..9u32 << 20).map(|i| (i % 251) as u8).collect();
    let dir = CheckpointStorage::checkpoint_dir(1);
    let file = src.write_state_file(&dir, "../shared/window-0.1.big.sst", Bytes::from(big.clone()), vec![]).await.unwrap();
    let mut pending = PendingCheckpoint::new(1, 1, [(0, 0)]);
    let state = SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 3)), files: vec![file.clone()], inline: None };
    pending.acknowledge((0, 0), vec![(OP.into(), 1, state)]);
    src.write_metadata(&pending.into_metadata("big-job", 4)).await.unwrap();

    let dest = CheckpointStorage::in_memory();
    let report = tools::promote(&src, "chk-1", &dest).await.unwrap();
    assert_eq!((report.files, report.bytes, report.store_side_copy), (1, big.len() as u64, false));
    assert!(tools::verify(&dest, "").await.unwrap().is_ok());
    assert_eq!(dest.get("window-0/window-0.1.big.sst").await.unwrap(), Bytes::from(big.clone()));

    // A damaged source is caught while streaming; the destination gets no checkpoint.
    let mut damaged = big;
    damaged[5 << 20] ^= 1;
    src.put("shared/window-0.1.big.sst", Bytes::from(damaged)).await.unwrap();
    let dest = CheckpointStorage::in_memory();
    let err = tools::promote(&src, "chk-1", &dest).await.unwrap_err();
    assert!(matches!(err, CheckpointError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&tmp.path().join("job/shared/window-0.1.big.sst").display().to_string()), "{err}");
    assert!(dest.list_files("").await.unwrap().is_empty());
}

#[tokio::test]
async fn promote_between_local_directories_links_the_files() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let src = CheckpointStorage::open(tmp.path().join("job").to_str().unwrap()).unwrap();
    history(&src).await;
    let dest = CheckpointStorage::open(tmp.path().join("savepoints/promoted").to_str().unwrap()).unwrap();
    let report = tools::promote(&src, "chk-3", &dest).await.unwrap();
    assert!(report.store_side_copy, "{report}");
    for copied in &report.copied {
        let from = std::fs::metadata(&copied.from).unwrap();
        let to = std::fs::metadata(tmp.path().join("savepoints/promoted").join(&copied.to)).unwrap();
        assert_eq!((from.ino(), to.nlink()), (to.ino(), 2), "{} is a hard link of {}", copied.to, copied.from);
    }
    assert!(tools::verify(&dest, "").await.unwrap().is_ok());
    // Deleting the source leaves the promoted checkpoint whole.
    std::fs::remove_dir_all(tmp.path().join("job")).unwrap();
    assert!(tools::verify(&dest, "").await.unwrap().is_ok());
}
