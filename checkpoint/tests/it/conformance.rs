//! One behaviour for every storage backend.

use bytes::Bytes;
use weir_checkpoint::{CheckpointError, CheckpointListing, CheckpointMetadata, CheckpointStorage};

use crate::{read_all, write_checkpoint};

async fn storage_conformance(storage: CheckpointStorage) {
    // put / get / overwrite / exists / delete
    storage.put("a/b.bin", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(storage.get("a/b.bin").await.unwrap(), Bytes::from_static(b"hello"));
    storage.put("a/b.bin", Bytes::from_static(b"world!")).await.unwrap();
    assert_eq!(storage.get("a/./b.bin").await.unwrap(), Bytes::from_static(b"world!"));
    assert!(storage.exists("a/b.bin").await.unwrap());
    storage.put("a/c/d.bin", Bytes::new()).await.unwrap();
    assert_eq!(storage.list_files("a").await.unwrap(), vec![("a/b.bin".to_string(), 6), ("a/c/d.bin".to_string(), 0)]);
    assert_eq!(storage.get("a/c/d.bin").await.unwrap().len(), 0);
    storage.delete("a/b.bin").await.unwrap();
    assert!(!storage.exists("a/b.bin").await.unwrap());
    let err = storage.get("a/b.bin").await.unwrap_err();
    assert!(matches!(err, CheckpointError::Missing { .. }), "{err}");
    assert!(err.to_string().contains(&storage.describe("a/b.bin")), "{err}");
    storage.delete("a/b.bin").await.unwrap(); // missing is fine
    storage.delete_prefix("a").await.unwrap();
    assert!(storage.list_files("a").await.unwrap().is_empty());
    storage.delete_prefix("never-existed").await.unwrap();

    // rejected paths
    let err = storage.get("../outside").await.unwrap_err();
    assert!(matches!(err, CheckpointError::PathEscapesRoot { .. }), "{err}");
    let err = storage.put("", Bytes::new()).await.unwrap_err();
    assert!(matches!(err, CheckpointError::InvalidPath { .. }), "{err}");
    let err = storage.put("x#1", Bytes::new()).await.unwrap_err();
    assert!(matches!(err, CheckpointError::InvalidPath { .. }), "{err}");

    // state files, private and shared
    let file = storage.write_state_file("chk-1", "op.state", Bytes::from_static(b"abc"), vec![]).await.unwrap();
    assert_eq!(file.path, "op.state");
    assert_eq!(file.size, 3);
    assert_eq!(file.checksum, weir_checkpoint::checksum(b"abc"));
    assert_eq!(storage.read_state_file("chk-1", &file).await.unwrap(), Bytes::from_static(b"abc"));
    let shared = storage.write_state_file("chk-1", "../shared/s.sst", Bytes::from_static(b"sst"), vec![]).await.unwrap();
    assert_eq!(shared.path, "../shared/s.sst");
    assert_eq!(storage.get("shared/s.sst").await.unwrap(), Bytes::from_static(b"sst"));
    assert_eq!(storage.read_state_file("chk-1", &shared).await.unwrap(), Bytes::from_static(b"sst"));
    let err = storage.write_state_file("chk-1", "../../x", Bytes::new(), vec![]).await.unwrap_err();
    assert!(matches!(err, CheckpointError::PathEscapesRoot { .. }), "{err}");
    storage.delete_prefix("chk-1").await.unwrap();
    storage.delete_prefix("shared").await.unwrap();

    // metadata round trip
    assert_eq!(storage.list_checkpoints().await.unwrap(), vec![]);
    assert_eq!(storage.latest_complete().await.unwrap(), None);
    let m1 = write_checkpoint(&storage, 1, &["s1.sst"], true).await;
    assert_eq!(storage.read_metadata("chk-1").await.unwrap(), m1);
    assert_eq!(read_all(&storage, "chk-1").await, m1);
    let m2 = write_checkpoint(&storage, 2, &["s1.sst"], false).await;
    assert_eq!(read_all(&storage, "chk-2").await, m2);

    // an incomplete checkpoint (no _metadata), a corrupt one, and noise
    storage.write_state_file("chk-3", "op.state", Bytes::from_static(b"x"), vec![]).await.unwrap();
    storage.put("chk-4/op.state", Bytes::from_static(b"y")).await.unwrap();
    storage.put("chk-4/_metadata", Bytes::from_static(b"{\"format_vers")).await.unwrap();
    storage.put("chk-x/_metadata", Bytes::from_static(b"{}")).await.unwrap();
    storage.put("savepoints/sp/_metadata", Bytes::from_static(b"{}")).await.unwrap();
    storage.put("chk-9", Bytes::from_static(b"a file, not a directory")).await.unwrap();

    let listing = storage.list_checkpoints().await.unwrap();
    let expect = |id: u64, complete: bool| CheckpointListing { id, dir: format!("chk-{id}"), complete };
    assert_eq!(listing, vec![expect(1, true), expect(2, true), expect(3, false), expect(4, true)]);
    assert_eq!(storage.latest_complete().await.unwrap(), Some(2));
    let err = storage.read_metadata("chk-4").await.unwrap_err();
    assert!(matches!(err, CheckpointError::CorruptMetadata { .. }), "{err}");
    assert!(err.to_string().contains(&storage.describe("chk-4/_metadata")), "{err}");
    let err = storage.read_metadata("chk-3").await.unwrap_err();
    assert!(matches!(err, CheckpointError::NotACheckpoint { .. }), "{err}");
    assert!(err.to_string().contains(&storage.describe("chk-3")), "{err}");

    // A _metadata in the wrong directory is not trusted for `latest`.
    storage.put("chk-5/_metadata", Bytes::from(m1.to_json().unwrap())).await.unwrap();
    assert_eq!(storage.latest_complete().await.unwrap(), Some(2));

    // A newer intact checkpoint wins again.
    write_checkpoint(&storage, 6, &["s1.sst"], false).await;
    assert_eq!(storage.latest_complete().await.unwrap(), Some(6));

    storage.delete_prefix("chk-4").await.unwrap();
    let ids: Vec<u64> = storage.list_checkpoints().await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 5, 6]);

    metadata_is_create_only(&storage, m2).await;
}

/// Two writers cannot both complete one checkpoint: `_metadata` is written
/// only where there is none, and the first one stays.
async fn metadata_is_create_only(storage: &CheckpointStorage, first: CheckpointMetadata) {
    let dir = CheckpointStorage::checkpoint_dir(first.checkpoint_id);
    // The same bytes again: the writer's own put, repeated by a retry.
    storage.write_metadata(&first).await.unwrap();
    let second = CheckpointMetadata { job_name: "a-second-writer".into(), timestamp_ms: first.timestamp_ms + 1, ..first.clone() };
    let err = storage.write_metadata(&second).await.unwrap_err();
    assert!(matches!(err, CheckpointError::MetadataExists { .. }), "{err}");
    assert!(err.to_string().contains(&storage.describe(&format!("{dir}/_metadata"))), "{err}");
    assert_eq!(storage.read_metadata(&dir).await.unwrap(), first, "the first writer's _metadata stays");
    // A savepoint's directory alike.
    storage.write_metadata_in("savepoints/sp-2", &first).await.unwrap();
    let err = storage.write_metadata_in("savepoints/sp-2", &second).await.unwrap_err();
    assert!(err.to_string().contains(&storage.describe("savepoints/sp-2/_metadata")), "{err}");
    // Once deleted, a _metadata can be written again.
    storage.delete_prefix("savepoints/sp-2").await.unwrap();
    storage.write_metadata_in("savepoints/sp-2", &second).await.unwrap();
    assert_eq!(storage.read_metadata("savepoints/sp-2").await.unwrap(), second);
}

#[tokio::test]
async fn in_memory() {
    storage_conformance(CheckpointStorage::in_memory()).await;
}

#[tokio::test]
async fn in_memory_with_root_prefix() {
    let store = std::sync::Arc::new(object_store::memory::InMemory::new());
    let storage = CheckpointStorage::from_store(store.clone(), "jobs/one");
    storage_conformance(storage).await;
    // Nothing escaped the prefix, and a sibling root sees nothing.
    let other = CheckpointStorage::from_store(store, "jobs/two");
    assert!(other.list_checkpoints().await.unwrap().is_empty());
}

#[tokio::test]
async fn local_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("does/not/exist/yet");
    let storage = CheckpointStorage::open(root.to_str().unwrap()).unwrap();
    assert!(root.is_dir(), "open creates the directory");
    assert_eq!(storage.describe("chk-1/x"), format!("{}/chk-1/x", root.display()));
    storage_conformance(storage).await;
    // No staging files are left behind.
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            assert!(!path.to_string_lossy().contains('#'), "{}", path.display());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
}

/// The same suite against moto's S3 server: a root prefix, as `s3://bucket/prefix` gives.
#[cfg(feature = "s3")]
#[tokio::test]
async fn s3() {
    let server = crate::moto::MotoServer::start();
    storage_conformance(s3_storage(&server, "jobs/one")).await;
    // The server refused the second _metadata itself (`If-None-Match: *`).
    let refused = server.log().lines().any(|l| l.contains("/_metadata HTTP/1.1") && l.contains(" 412 "));
    assert!(refused, "no 412 answer to a _metadata put: {}", server.log());
    // Nothing escaped the prefix, and a sibling root sees nothing.
    assert!(s3_storage(&server, "jobs/two").list_checkpoints().await.unwrap().is_empty());
}

/// Storage on the bucket of `server` under `root`, configured as
/// `AmazonS3Builder::from_env` would be with [`MotoServer::env`] (the tests
/// of this process do not change its environment, which others read).
#[cfg(feature = "s3")]
fn s3_storage(server: &crate::moto::MotoServer, root: &str) -> CheckpointStorage {
    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name(crate::moto::BUCKET);
    for (key, value) in server.env() {
        builder = builder.with_config(key.to_ascii_lowercase().parse().unwrap(), value);
    }
    CheckpointStorage::from_store(std::sync::Arc::new(builder.build().unwrap()), root)
}

#[tokio::test]
async fn local_file_system_through_file_url() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}/ckpt", tmp.path().display());
    let storage = CheckpointStorage::open(&url).unwrap();
    storage.put("chk-1/x", Bytes::from_static(b"1")).await.unwrap();
    assert_eq!(std::fs::read(tmp.path().join("ckpt/chk-1/x")).unwrap(), b"1");
}

#[test]
fn relative_paths_are_resolved_against_the_current_directory() {
    let loc = weir_checkpoint::CheckpointLocation::parse("rel/ckpt").unwrap();
    let expected = std::env::current_dir().unwrap().join("rel/ckpt");
    assert_eq!(loc, weir_checkpoint::CheckpointLocation::Local { dir: expected, given: "rel/ckpt".into() });
    assert_eq!(loc.to_string(), "rel/ckpt");
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let s = CheckpointStorage::in_memory();
    assert_send(&s.get("x"));
    assert_send(&s.put("x", Bytes::new()));
    assert_send(&s.list_checkpoints());
    assert_send(&s.latest_complete());
    assert_send(&s.delete_prefix("x"));
    assert_send(&s.discard_checkpoints(&[], &[]));
}

#[test]
fn works_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(tmp.path().to_str().unwrap()).unwrap();
    rt.block_on(async move {
        let tasks: Vec<_> = (1..=4)
            .map(|id| {
                let storage = storage.clone();
                tokio::spawn(async move { write_checkpoint(&storage, id, &[], true).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(storage.latest_complete().await.unwrap(), Some(4));
    });
}
