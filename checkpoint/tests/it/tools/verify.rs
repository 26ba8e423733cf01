//! `tools::verify` scenarios.

use super::*;

on_both_backends!(verify_reports_every_damaged_file, verify_reports_unreadable_and_missing_metadata);

async fn verify_reports_every_damaged_file(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let healthy = tools::verify(storage, "chk-3").await.unwrap();
    assert!(healthy.is_ok(), "{healthy}");
    let s = sizes(storage).await;
    assert_eq!(
        (healthy.checkpoint_id, healthy.files_checked, healthy.bytes_checked),
        (Some(3), 4, sum(&s, &["chk-3/op-window-0.state", A, C, D]))
    );

    // A missing shared file, a flipped byte in the private file, a truncated shared file.
    storage.delete(C).await.unwrap();
    let private = "chk-3/op-window-0.state";
    let mut bytes = storage.get(private).await.unwrap().to_vec();
    bytes[3] ^= 0x20;
    storage.put(private, Bytes::from(bytes)).await.unwrap();
    let d = storage.get(D).await.unwrap();
    storage.put(D, d.slice(..d.len() - 5)).await.unwrap();

    let report = tools::verify(storage, "chk-3").await.unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.problems.len(), 3, "{report}");
    match &report.problems[0] {
        Problem::WrongChecksum { path, expected, actual } => {
            env.assert_names(path, private);
            assert_eq!(*expected, format!("{:08x}", checksum(&private_content(3))));
            assert_ne!(actual, expected);
        }
        other => panic!("{other}"),
    }
    match &report.problems[1] {
        Problem::WrongSize { path, expected, actual } => {
            env.assert_names(path, D);
            assert_eq!((*expected, *actual), (d.len() as u64, d.len() as u64 - 5));
        }
        other => panic!("{other}"),
    }
    assert_eq!(report.problems[2], Problem::Missing { path: storage.describe(C) });
    env.assert_names(report.problems[2].path(), C);
    let text = report.to_string();
    assert!(text.contains(": BROKEN, 3 files checked"), "{text}");
    assert!(text.contains(&format!("{}: missing", storage.describe(C))), "{text}");
    assert!(
        text.contains(&format!("{}: size mismatch (expected {} bytes, found {})", storage.describe(D), d.len(), d.len() - 5)),
        "{text}"
    );
    assert!(text.contains(&format!("{}: checksum mismatch", storage.describe(private))), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["problems"][2]["kind"], "missing");

    // Checkpoint 2 shares the missing file; checkpoint 1 is intact.
    let report = tools::verify(storage, "chk-2").await.unwrap();
    assert_eq!(report.problems, vec![Problem::Missing { path: storage.describe(C) }]);
    assert!(tools::verify(storage, "chk-1").await.unwrap().is_ok());
}

async fn verify_reports_unreadable_and_missing_metadata(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let metadata = "chk-2/_metadata";
    let bytes = storage.get(metadata).await.unwrap();
    storage.put(metadata, bytes.slice(..bytes.len() / 2)).await.unwrap();
    let report = tools::verify(storage, "chk-2").await.unwrap();
    assert_eq!(report.checkpoint_id, None);
    match report.problems.as_slice() {
        [Problem::MetadataUnreadable { path, reason }] => {
            env.assert_names(path, metadata);
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let report = tools::verify(storage, "chk-4").await.unwrap();
    assert_eq!(report.problems, vec![Problem::MetadataMissing { path: storage.describe("chk-4/_metadata") }]);

    // A _metadata copied into another checkpoint's directory.
    storage.put("chk-9/_metadata", storage.get("chk-1/_metadata").await.unwrap()).await.unwrap();
    let report = tools::verify(storage, "chk-9").await.unwrap();
    assert!(matches!(report.problems[0], Problem::WrongCheckpointId { expected: 9, found: 1, .. }), "{report}");
}
