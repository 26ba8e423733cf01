//! `tools::inspect` scenarios.

use super::*;

on_both_backends!(inspect_reports_every_file);

async fn inspect_reports_every_file(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let report = tools::inspect(storage, "chk-3").await.unwrap();
    assert_eq!((report.job_name.as_str(), report.checkpoint_id, report.format_version, report.max_parallelism), ("tools-job", 3, 3, 4));
    assert_eq!(report.location, storage.describe("chk-3"));
    let ops: Vec<_> = report.operators.iter().map(|o| (o.operator_id.as_str(), o.parallelism, o.subtasks.len())).collect();
    assert_eq!(ops, vec![("source", 1, 1), ("window", 1, 1)]);
    assert_eq!(report.operators[0].subtasks[0].inline_size, 3);
    let window = &report.operators[1].subtasks[0];
    assert_eq!((window.key_groups, window.inline_size), (Some(KeyGroupRange::new(0, 3)), 0));
    let s = sizes(storage).await;
    let files: Vec<_> = window.files.iter().map(|f| (f.path.as_str(), f.size, f.written_by, f.shared)).collect();
    assert_eq!(
        files,
        vec![
            ("op-window-0.state", s["chk-3/op-window-0.state"], Some(3), false),
            ("../shared/window-0.3.d.sst", s[D], Some(3), true),
            ("../shared/window-0.1.a.sst", s[A], Some(1), true),
            ("../shared/window-0.2.c.sst", s[C], Some(2), true),
        ]
    );
    assert_eq!(window.files[2].checksum, format!("{:08x}", checksum(&storage.get(A).await.unwrap())));
    let text = report.to_string();
    assert!(text.contains("../shared/window-0.1.a.sst"), "{text}");
    assert!(text.contains("written by checkpoint 1, shared"), "{text}");

    // The checked-in fixture, copied into this backend.
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/chk-7");
    for name in ["_metadata", "op-window-0.state"] {
        storage.put(&format!("fixture/chk-7/{name}"), Bytes::from(std::fs::read(fixture.join(name)).unwrap())).await.unwrap();
    }
    let report = tools::inspect(storage, "fixture/chk-7").await.unwrap();
    assert_fixture_report(&report);
    assert!(tools::verify(storage, "fixture/chk-7").await.unwrap().is_ok());
}

fn assert_fixture_report(report: &tools::CheckpointReport) {
    assert_eq!((report.job_name.as_str(), report.checkpoint_id, report.format_version, report.max_parallelism), ("fixture-job", 7, 1, 8));
    assert_eq!(report.trigger_time_ms, 1_700_000_000_000);
    let source = &report.operators[0];
    assert_eq!((source.operator_id.as_str(), source.parallelism), ("source", 1));
    assert_eq!((source.subtasks[0].key_groups, source.subtasks[0].inline_size, source.subtasks[0].files.len()), (None, 4, 0));
    let window = &report.operators[1];
    assert_eq!((window.operator_id.as_str(), window.parallelism), ("window", 1));
    let st = &window.subtasks[0];
    assert_eq!((st.subtask, st.key_groups, st.inline_size), (0, Some(KeyGroupRange::new(0, 7)), 0));
    let files: Vec<_> = st.files.iter().map(|f| (f.path.as_str(), f.size, f.checksum.as_str(), f.written_by, f.shared)).collect();
    assert_eq!(files, vec![("op-window-0.state", 21, "3f3cad3b", Some(7), false)]);
    let text = report.to_string();
    for line in [
        "checkpoint 7 of job \"fixture-job\" at ",
        "  triggered      2023-11-14T22:13:20.000Z",
        "  operator \"window\", parallelism 1",
        "    subtask 0: key groups 0..=7, inline 0 B, 1 file, 21 B",
        "      op-window-0.state  21 B  crc32c 3f3cad3b  written by checkpoint 7",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["operators"][1]["subtasks"][0]["files"][0]["checksum"], "3f3cad3b");
    assert_eq!(json["operators"][1]["subtasks"][0]["key_groups"]["end"], 7);
}

#[tokio::test]
async fn inspect_the_checked_in_fixture_in_place() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/chk-7");
    let (storage, dir) = open_checkpoint(fixture.to_str().unwrap()).unwrap();
    let report = tools::inspect(&storage, &dir).await.unwrap();
    assert_eq!(report.location, fixture.display().to_string());
    assert_fixture_report(&report);
}
