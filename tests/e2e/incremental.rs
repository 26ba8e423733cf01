//! Incremental RocksDB checkpoints: after many checkpoints with compactions,
//! the checkpoint directory holds exactly what the retained checkpoints
//! reference, and the job restores from each of them with the right state.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::*;

const KEYS: u64 = 20_000;
const HOT: u64 = 2_000;
const N: u64 = 260_000;

fn keyed_totals(args: &[String]) -> std::process::Output {
    Command::new(example_bin("keyed_totals")).args(args).env("RUST_LOG", "info").output().unwrap()
}

/// The final count of every key after all `N` events.
fn reference_counts() -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for i in 0..N {
        let key = if i < KEYS { i } else { ((u128::from(i) * 2_654_435_761) % u128::from(HOT)) as u64 };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[test]
fn many_incremental_checkpoints_keep_exactly_the_referenced_files_and_each_restores() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let o = keyed_totals(&argv(&format!(
        "--generate {N} --keys {KEYS} --hot-keys {HOT} --value-bytes 64 --rate 70000 --parallelism 2 --state-backend rocksdb \
         --state-memory 16MiB --checkpoint-dir {} --checkpoint-interval 40ms --retained-checkpoints 2 --state-dir {}",
        chk.display(),
        dir.path().join("state").display()
    )));
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    let completed = log.matches("checkpoint complete").count();
    assert!(completed >= 50, "50 or more checkpoints: {completed}");
    let retained = complete_checkpoints(&chk);
    assert_eq!(retained.len(), 2, "{retained:?}");

    // Incremental: later checkpoints reference SST files uploaded by earlier ones.
    let reused = retained.iter().flat_map(|id| referenced_files(&chk, *id)).filter(|p| p.starts_with("shared/")).count();
    assert!(reused > 0, "the retained checkpoints reference shared files");

    // Exactly the files the two retained checkpoints reference, nothing else.
    let expected: BTreeSet<String> = retained.iter().flat_map(|id| referenced_files(&chk, *id)).collect();
    let on_disk: BTreeSet<String> = files_under(&chk).into_iter().collect();
    assert_eq!(on_disk, expected, "files on disk vs files the retained checkpoints reference");

    // Each retained checkpoint restores, and the job goes on from its state to the right final counts.
    let reference = reference_counts();
    for id in retained {
        let out = dir.path().join(format!("out-{id}"));
        let o = keyed_totals(&argv(&format!(
            "--generate {N} --keys {KEYS} --hot-keys {HOT} --value-bytes 64 --parallelism 2 --state-backend rocksdb \
             --from-checkpoint {} --output {} --state-dir {}",
            chk.join(format!("chk-{id}")).display(),
            out.display(),
            dir.path().join(format!("state-{id}")).display()
        )));
        assert!(o.status.success(), "restoring chk-{id}: {}", stderr(&o));
        let mut last: BTreeMap<u64, u64> = BTreeMap::new();
        for line in committed_lines(&out) {
            let (k, c) = line.split_once(',').unwrap();
            let (k, c): (u64, u64) = (k.parse().unwrap(), c.parse().unwrap());
            let e = last.entry(k).or_insert(0);
            *e = (*e).max(c);
        }
        for (k, c) in &last {
            assert_eq!(reference.get(k), Some(c), "chk-{id}: key {k} ends at the reference count");
        }
    }
}

#[test]
fn a_restart_on_the_same_machine_recovers_locally_and_elsewhere_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let state = dir.path().join("state");
    let run = |state_dir: &std::path::Path, out: &std::path::Path| {
        keyed_totals(&argv(&format!(
            "--generate {N} --keys {KEYS} --hot-keys {HOT} --value-bytes 64 --parallelism 2 --state-backend rocksdb \
             --checkpoint-dir {} --checkpoint-interval 1h --from-checkpoint latest --state-dir {} --output {}",
            chk.display(),
            state_dir.display(),
            out.display()
        )))
    };
    let out = dir.path().join("out");
    let o = run(&state, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = committed_lines(&out);
    // Same state directory: the database files of the last run are still there.
    let o = run(&state, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(local recovery)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("downloaded_files=0"), "{}", stderr(&o));
    // Another state directory: everything is downloaded.
    let o = run(&dir.path().join("elsewhere"), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(download)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("local_files=0"), "{}", stderr(&o));
    // The checkpoint directory is on the same file system: its SST files are
    // linked, not copied, and what the restored run did left them as they were.
    let linked = stderr(&o).split("linked_files=").nth(1).and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    assert!(linked.is_some_and(|n| n > 0), "{}", stderr(&o));
    let newest = complete_checkpoints(&chk).last().map(|id| chk.join(format!("chk-{id}"))).unwrap();
    let verify = weir_tool(&["checkpoints", "verify", newest.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    // The first run emitted every final count; the restored runs, with all input read, add nothing.
    let reference = reference_counts();
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for line in &first {
        let (k, c) = line.split_once(',').unwrap();
        let e = last.entry(k.parse().unwrap()).or_insert(0);
        *e = (*e).max(c.parse().unwrap());
    }
    assert_eq!(last, reference);
    assert_eq!(committed_lines(&out), first);
}
