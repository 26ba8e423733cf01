//! Damaged checkpoints on the local file system are detected, and every error
//! names the file concerned.

use std::path::{Path, PathBuf};

use weir_checkpoint::{CheckpointError, CheckpointMetadata, CheckpointStorage, StateFile};

use crate::write_checkpoint;

struct Damaged {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    storage: CheckpointStorage,
    meta: CheckpointMetadata,
}

impl Damaged {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ckpt");
        let storage = CheckpointStorage::open(root.to_str().unwrap()).unwrap();
        write_checkpoint(&storage, 1, &["a.sst"], true).await;
        let meta = write_checkpoint(&storage, 2, &["a.sst"], false).await;
        Damaged { _tmp: tmp, root, storage, meta }
    }

    fn private_file(&self) -> (&StateFile, PathBuf) {
        let file = self.meta.files().find(|f| f.path == "op-window-0.state").unwrap();
        (file, self.root.join("chk-2/op-window-0.state"))
    }

    async fn read(&self, file: &StateFile) -> CheckpointError {
        self.storage.read_state_file("chk-2", file).await.unwrap_err()
    }
}

fn assert_names(err: &CheckpointError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg} should name {}", path.display());
}

#[tokio::test]
async fn missing_state_file() {
    let d = Damaged::new().await;
    let (file, path) = d.private_file();
    std::fs::remove_file(&path).unwrap();
    let err = d.read(file).await;
    assert!(matches!(err, CheckpointError::Missing { .. }), "{err}");
    assert_names(&err, &path);
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test]
async fn missing_shared_file() {
    let d = Damaged::new().await;
    let file = d.meta.files().find(|f| f.path == "../shared/a.sst").unwrap();
    let path = d.root.join("shared/a.sst");
    std::fs::remove_file(&path).unwrap();
    let err = d.read(file).await;
    assert!(matches!(err, CheckpointError::Missing { .. }), "{err}");
    assert_names(&err, &path);
}

#[tokio::test]
async fn one_changed_byte() {
    let d = Damaged::new().await;
    let (file, path) = d.private_file();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let err = d.read(file).await;
    match &err {
        CheckpointError::ChecksumMismatch { expected, actual, .. } => {
            assert_eq!(*expected, file.checksum);
            assert_ne!(actual, expected);
            assert!(err.to_string().contains(&format!("expected {expected:08x}")), "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_names(&err, &path);
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[tokio::test]
async fn truncated_file() {
    let d = Damaged::new().await;
    let (file, path) = d.private_file();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(file.size - 4).unwrap();
    drop(f);
    let err = d.read(file).await;
    match &err {
        CheckpointError::SizeMismatch { expected, actual, .. } => {
            assert_eq!((*expected, *actual), (file.size, file.size - 4));
        }
        other => panic!("unexpected {other}"),
    }
    assert_names(&err, &path);
    let msg = err.to_string();
    assert!(msg.contains(&format!("expected {} bytes, found {}", file.size, file.size - 4)), "{msg}");
}

#[tokio::test]
async fn metadata_cut_short() {
    let d = Damaged::new().await;
    let path = d.root.join("chk-2/_metadata");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = d.storage.read_metadata("chk-2").await.unwrap_err();
    assert!(matches!(err, CheckpointError::CorruptMetadata { .. }), "{err}");
    assert_names(&err, &path);
    assert!(err.to_string().contains("truncated"), "{err}");
    // `latest` falls back to the intact older checkpoint.
    assert_eq!(d.storage.latest_complete().await.unwrap(), Some(1));
}

#[tokio::test]
async fn metadata_of_a_future_version() {
    let d = Damaged::new().await;
    let path = d.root.join("chk-2/_metadata");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"format_version\": 3", "\"format_version\": 99", 1)).unwrap();
    let err = d.storage.read_metadata("chk-2").await.unwrap_err();
    assert!(matches!(err, CheckpointError::UnsupportedVersion { found: 99, supported: 3, .. }), "{err}");
    assert_names(&err, &path);
    // Not silently skipped: resuming from checkpoint 1 would go back in time.
    let err = d.storage.latest_complete().await.unwrap_err();
    assert!(matches!(err, CheckpointError::UnsupportedVersion { .. }), "{err}");
}

#[tokio::test]
async fn path_escaping_the_root() {
    let d = Damaged::new().await;
    let mut file = d.private_file().0.clone();
    file.path = "../../../etc/passwd".into();
    let err = d.read(&file).await;
    assert!(matches!(err, CheckpointError::PathEscapesRoot { .. }), "{err}");
    assert!(err.to_string().contains("chk-2/../../../etc/passwd"), "{err}");
}
