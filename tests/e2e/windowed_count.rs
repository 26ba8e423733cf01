//! windowed_count's committed output equals the reference at several parallelisms.

use std::io::Write;
use std::path::Path;

use crate::common::*;

fn generator_args(n: u64, out: &Path, chk: &Path, p: u32, backend: &str) -> Vec<String> {
    argv(&format!(
        "--generate {n} --keys 500 --event-rate 10000 --parallelism {p} --output {} --checkpoint-dir {} --checkpoint-interval 50ms --state-backend {backend}",
        out.display(),
        chk.display()
    ))
}

#[test]
fn generated_input_matches_reference_at_parallelism_1_2_4_with_both_backends() {
    let expected = generated_reference(60_000, 500, 10_000, 1000);
    for backend in BACKENDS {
        for p in [1, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out");
            let chk = dir.path().join("chk");
            let o = run_windowed_count(&generator_args(60_000, &out, &chk, p, backend));
            assert!(o.status.success(), "{backend}, parallelism {p}: {}", stderr(&o));
            let summary = stdout(&o);
            assert!(summary.starts_with("events=60000 windows_fired=3000 output_rows=3000 "), "{backend}, parallelism {p}: {summary}");
            assert_eq!(committed_lines(&out), expected, "{backend}, parallelism {p}");
            let retained = complete_checkpoints(&chk);
            assert!(!retained.is_empty() && retained.len() <= 2, "{backend}, parallelism {p}: retained {retained:?}");
        }
    }
}

#[test]
fn file_input_matches_reference_and_without_checkpoints_commits_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // Three files, in event-time order one after another by name.
    let events: Vec<(i64, u64)> = (0..9_000u64).map(|i| (i as i64 * 3 / 2, (i * 7919) % 97)).collect();
    for (f, chunk) in events.chunks(3_000).enumerate() {
        let mut file = std::fs::File::create(input.join(format!("part-{f}.csv"))).unwrap();
        for (ts, key) in chunk {
            writeln!(file, "{ts},{key}").unwrap();
        }
    }
    // Hidden and underscore files are not input.
    std::fs::write(input.join(".hidden"), "not,input\n").unwrap();
    std::fs::write(input.join("_SUCCESS"), "").unwrap();
    let expected = reference(events.iter().copied(), 1000);
    for (p, checkpoints) in [("2", true), ("3", false)] {
        let out = dir.path().join(format!("out-{p}"));
        let chk = dir.path().join(format!("chk-{p}"));
        let mut args = vec!["--input", input.to_str().unwrap(), "--parallelism", p, "--output", out.to_str().unwrap()];
        if checkpoints {
            args.extend(["--checkpoint-dir", chk.to_str().unwrap(), "--checkpoint-interval", "20ms"]);
        }
        let o = run_windowed_count(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(committed_lines(&out), expected, "parallelism {p}, checkpoints {checkpoints}");
    }
}

#[test]
fn latest_with_no_checkpoint_starts_fresh_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let chk = dir.path().join("chk");
    let mut args = generator_args(20_000, &out, &chk, 2, "hashmap");
    args.extend(argv("--from-checkpoint latest"));
    let o = run_windowed_count(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("no complete checkpoint to restore from; starting fresh"), "{}", stderr(&o));
    assert_eq!(committed_lines(&out), generated_reference(20_000, 500, 10_000, 1000));
    // Run again from latest: everything was read, so nothing new is emitted and nothing is duplicated.
    let o = run_windowed_count(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("restoring"), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("events=0 "), "{}", stdout(&o));
    assert_eq!(committed_lines(&out), generated_reference(20_000, 500, 10_000, 1000));
}

#[test]
fn retention_keeps_exactly_the_retained_checkpoints_and_their_files() {
    for backend in ["hashmap", "rocksdb", "rocksdb --incremental false", "rocksdb --max-concurrent-checkpoints 3"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let chk = dir.path().join("chk");
        let o = run_windowed_count(&argv(&format!(
            "--generate 100000 --keys 50 --event-rate 10000 --rate 100000 --parallelism 2 --output {} --checkpoint-dir {} \
             --checkpoint-interval 30ms --retained-checkpoints 3 --state-backend {backend}",
            out.display(),
            chk.display()
        )));
        assert!(o.status.success(), "{backend}: {}", stderr(&o));
        assert_eq!(committed_lines(&out), generated_reference(100_000, 50, 10_000, 1000), "{backend}");
        let completed = stderr(&o).matches("checkpoint complete").count();
        assert!(completed >= 5, "{backend}: expected several checkpoints, log shows {completed}");
        let retained = complete_checkpoints(&chk);
        assert_eq!(retained.len(), 3, "{backend}: {retained:?}");
        // Nothing else is left in the checkpoint directory: no incomplete chk-N, no stray files.
        let entries: Vec<String> = std::fs::read_dir(&chk).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        assert_eq!(entries.iter().filter(|e| e.starts_with("chk-")).count(), 3, "{backend}: {entries:?}");
        // Exactly the files the retained checkpoints reference (in chk-N/ and shared/), nothing else.
        let expected: std::collections::BTreeSet<String> = retained.iter().flat_map(|id| referenced_files(&chk, *id)).collect();
        let on_disk: std::collections::BTreeSet<String> = files_under(&chk).into_iter().collect();
        assert_eq!(on_disk, expected, "{backend}: files on disk vs files the retained checkpoints reference");
    }
}

#[test]
fn full_rocksdb_checkpoints_keep_everything_in_their_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let out = dir.path().join("out");
    let o = run_windowed_count(&argv(&format!(
        "--generate 40000 --keys 50 --event-rate 10000 --rate 80000 --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval 50ms --state-backend rocksdb --incremental false",
        out.display(),
        chk.display()
    )));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!chk.join("shared").exists() || files_under(&chk.join("shared")).is_empty(), "nothing is shared without --incremental");
    for id in complete_checkpoints(&chk) {
        assert!(referenced_files(&chk, id).iter().all(|p| p.starts_with(&format!("chk-{id}/"))), "chk-{id} is self-contained");
    }
    assert_eq!(committed_lines(&out), generated_reference(40_000, 50, 10_000, 1000));
}
