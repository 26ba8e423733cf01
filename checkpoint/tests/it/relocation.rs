//! A checkpoint directory tree can be copied elsewhere and restored from there.

use std::path::Path;

use weir_checkpoint::{open_checkpoint, CheckpointError, CheckpointStorage};

use crate::{read_all, write_checkpoint};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn copied_checkpoint_restores_from_its_new_place() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let storage = CheckpointStorage::open(original.to_str().unwrap()).unwrap();
    write_checkpoint(&storage, 1, &["x.sst", "y.sst"], true).await;
    let meta = write_checkpoint(&storage, 2, &["x.sst"], false).await;
    assert!(meta.files().any(|f| f.path == "../shared/x.sst"));

    let moved = tmp.path().join("elsewhere/moved");
    copy_tree(&original, &moved);
    std::fs::remove_dir_all(&original).unwrap();

    let chk = moved.join("chk-2");
    let forms = [
        chk.display().to_string(),
        format!("{}/", chk.display()),
        chk.join("_metadata").display().to_string(),
        format!("file://{}", chk.display()),
        moved.join("chk-1/../chk-2").display().to_string(),
    ];
    for form in forms {
        let (storage, dir) = open_checkpoint(&form).unwrap();
        assert_eq!(dir, "chk-2", "{form}");
        assert_eq!(read_all(&storage, &dir).await, meta, "{form}");
    }
    // Opening for restore creates nothing.
    assert!(!original.exists());
}

#[tokio::test]
async fn savepoint_directory_with_any_name() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(tmp.path().to_str().unwrap()).unwrap();
    let meta = write_checkpoint(&storage, 5, &[], true).await;
    let savepoint = tmp.path().join("savepoints/before-upgrade");
    copy_tree(&tmp.path().join("chk-5"), &savepoint);
    let (storage, dir) = open_checkpoint(savepoint.to_str().unwrap()).unwrap();
    assert_eq!(dir, "before-upgrade");
    assert_eq!(read_all(&storage, &dir).await, meta);
}

#[test]
fn not_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("chk-3");
    std::fs::create_dir(&empty).unwrap();
    let err = open_checkpoint(empty.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, CheckpointError::NotACheckpoint { .. }), "{err}");
    assert!(err.to_string().contains(&empty.display().to_string()), "{err}");
    assert!(err.to_string().contains("no _metadata"), "{err}");

    let missing = tmp.path().join("nope");
    let err = open_checkpoint(missing.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, CheckpointError::Missing { .. }), "{err}");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");

    let err = open_checkpoint("/").unwrap_err();
    assert!(matches!(err, CheckpointError::NotACheckpoint { .. }), "{err}");
}
