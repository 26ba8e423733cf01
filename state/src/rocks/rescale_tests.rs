//! Restores of native RocksDB snapshots at another parallelism: one source's
//! files kept and cut to the range, the others' entries copied in; and
//! databases prepared ahead of the backend.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rocksdb::IteratorMode;

use super::*;
use crate::conformance::to_restored;
use crate::{key_group_of, key_group_range_for_subtask, KeyedStateBackend, StateId};

const MAX: u32 = 128;
const KEYS: u64 = 3000;

fn open(dir: &Path, range: KeyGroupRange) -> RocksDbBackend<u64> {
    RocksDbBackend::<u64>::open(&RocksDbConfig::new(dir, 64 << 20), range).unwrap()
}

/// The files of `parallelism` instances holding every key of their ranges
/// (value `value-<key>`, a timer at `1000 + key`), as one restore.
fn snapshot_at(dir: &Path, parallelism: u32) -> Vec<RestoredFile> {
    snapshot_as(dir, parallelism, false)
}

/// [`snapshot_at`], in the native or the canonical format.
fn snapshot_as(dir: &Path, parallelism: u32, canonical: bool) -> Vec<RestoredFile> {
    let mut files = Vec::new();
    for subtask in 0..parallelism {
        let range = key_group_range_for_subtask(MAX, parallelism, subtask);
        let mut b = open(&dir.join(format!("source-{parallelism}-{subtask}")), range);
        let v: StateId<i64, String> = b.register("v").unwrap();
        for key in (0..KEYS).filter(|k| range.contains(key_group_of(k, MAX))) {
            let kg = key_group_of(&key, MAX);
            b.put(&v, kg, &key, &7, format!("value-{key}")).unwrap();
            b.register_timer(kg, &key, 7, 1000 + key as i64).unwrap();
        }
        let snapshot = if canonical { b.snapshot_canonical() } else { b.snapshot() };
        for mut f in to_restored(snapshot.unwrap().write().unwrap()) {
            f.source = format!("instance {subtask}");
            f.key_groups = Some(range);
            files.push(f);
        }
    }
    files
}

/// Every key group stored in `cf` of `b`'s database (what iterating it shows).
fn stored_key_groups(b: &RocksDbBackend<u64>, cf: &str) -> Vec<u32> {
    let handle = b.db.cf_handle(cf).unwrap();
    b.db.iterator_cf(handle, IteratorMode::Start)
        .map(|item| {
            let (k, _) = item.unwrap();
            u32::from(u16::from_be_bytes([k[0], k[1]]))
        })
        .collect()
}

/// Restores `files` at `parallelism` and checks every instance holds exactly its keys and timers.
fn check_restores(dir: &Path, files: &[RestoredFile], parallelism: u32) {
    let (mut keys, mut timers) = (0, 0);
    for subtask in 0..parallelism {
        let range = key_group_range_for_subtask(MAX, parallelism, subtask);
        let target = dir.join(format!("target-{parallelism}-{subtask}"));
        // Both ways in: opening restored, and restoring an open backend.
        let mut b = if subtask % 2 == 0 {
            RocksDbBackend::<u64>::open_restored(&RocksDbConfig::new(&target, 64 << 20), range, files.to_vec()).unwrap()
        } else {
            let mut b = open(&target, range);
            b.restore(files.to_vec()).unwrap();
            b
        };
        for cf in ["v", TIMERS_CF] {
            let outside: Vec<u32> = stored_key_groups(&b, cf).into_iter().filter(|kg| !range.contains(*kg)).collect();
            assert!(outside.is_empty(), "p{parallelism} #{subtask} {cf}: key groups outside {range:?}: {outside:?}");
        }
        let v: StateId<i64, String> = b.register("v").unwrap();
        for key in (0..KEYS).filter(|k| range.contains(key_group_of(k, MAX))) {
            assert_eq!(b.get(&v, key_group_of(&key, MAX), &key, &7).unwrap(), Some(format!("value-{key}")), "p{parallelism} key {key}");
            keys += 1;
        }
        let mut out = Vec::new();
        b.pop_timers(i64::MAX, &mut out).unwrap();
        assert!(out.iter().all(|t| range.contains(t.key_group) && t.timestamp == 1000 + t.key as i64));
        timers += out.len();
    }
    assert_eq!((keys, timers), (KEYS, KEYS as usize), "parallelism {parallelism}: every key and timer exactly once");
}

#[test]
fn another_parallelism_keeps_one_source_and_cuts_it_to_the_range() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [(1, 3), (3, 2), (2, 4), (3, 1), (2, 2)] {
        let files = snapshot_at(dir.path(), from);
        check_restores(&dir.path().join(format!("from-{from}")), &files, to);
    }
}

#[test]
fn the_largest_overlap_is_kept_and_the_rest_copied() {
    let dir = tempfile::tempdir().unwrap();
    let files = snapshot_at(dir.path(), 3);
    // 3 -> 2: instance 1 (64..=127) overlaps old 1 (43..=85) on 22 key groups and old 2 (86..=127) on 42.
    let range = key_group_range_for_subtask(MAX, 2, 1);
    let target = dir.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let staged = restore::stage(&target, &files).unwrap();
    let outcome = restore::install(&target, range, staged, 64 << 20).unwrap();
    assert_eq!(outcome.kept.as_deref(), Some("instance 2"));
    assert_eq!(outcome.copied, vec!["instance 1".to_string()]);
    assert_eq!(outcome.deleted_ranges, 0, "old 2 lies inside the range: nothing to cut");
    // 3 -> 4: instance 1 (32..=63) lies inside old 0 (0..=42) and old 1 (43..=85): keep old 1 (21 > 11), cut both sides.
    let range = key_group_range_for_subtask(MAX, 4, 1);
    let staged = restore::stage(&target, &files).unwrap();
    let outcome = restore::install(&target, range, staged, 64 << 20).unwrap();
    assert_eq!(outcome.kept.as_deref(), Some("instance 1"));
    assert_eq!(outcome.copied, vec!["instance 0".to_string()]);
    assert!(outcome.deleted_ranges > 0);
}

#[test]
fn cut_edges_are_inclusive() {
    let ranges = [Some(KeyGroupRange::new(0, 63)), Some(KeyGroupRange::new(64, 127))];
    assert_eq!(kept_instance(KeyGroupRange::new(0, 63), &ranges), Some(0));
    assert_eq!(kept_instance(KeyGroupRange::new(63, 64), &ranges), Some(0), "a tie goes to the lower range");
    assert_eq!(kept_instance(KeyGroupRange::new(63, 65), &ranges), Some(1));
    assert_eq!(kept_instance(KeyGroupRange::new(128, 130), &ranges), None);
    assert_eq!(kept_instance(KeyGroupRange::new(0, 63), &[None]), None);
    // A single key group at each edge of a source survives its cut.
    let dir = tempfile::tempdir().unwrap();
    let files = snapshot_at(dir.path(), 1);
    for range in [KeyGroupRange::new(0, 0), KeyGroupRange::new(127, 127), KeyGroupRange::new(5, 5)] {
        let mut b = open(&dir.path().join(format!("edge-{}", range.start)), range);
        b.restore(files.clone()).unwrap();
        let v: StateId<i64, String> = b.register("v").unwrap();
        let keys: Vec<u64> = (0..KEYS).filter(|k| key_group_of(k, MAX) == range.start).collect();
        assert!(!keys.is_empty());
        for key in keys {
            assert_eq!(b.get(&v, range.start, &key, &7).unwrap(), Some(format!("value-{key}")));
        }
        assert!(stored_key_groups(&b, "v").iter().all(|kg| *kg == range.start));
        assert!(stored_key_groups(&b, TIMERS_CF).iter().all(|kg| *kg == range.start));
    }
}

#[test]
fn a_prepared_database_is_taken_over_only_for_the_same_files_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let files = snapshot_at(dir.path(), 2);
    let range = key_group_range_for_subtask(MAX, 3, 1);
    let config = RocksDbConfig::new(dir.path().join("instance"), 64 << 20);
    let outcome = prepare_rocksdb_restore(&config, range, &files, 2).unwrap().unwrap();
    assert_eq!(outcome.kept.as_deref(), Some("instance 1"));
    assert!(config.dir.join("prepared/RESTORED_FROM").is_file());
    let mut b = RocksDbBackend::<u64>::open_restored(&config, range, files.clone()).unwrap();
    assert!(!config.dir.join("prepared").exists(), "taken over");
    let v: StateId<i64, String> = b.register("v").unwrap();
    let key = (0..KEYS).find(|k| range.contains(key_group_of(k, MAX))).unwrap();
    assert_eq!(b.get(&v, key_group_of(&key, MAX), &key, &7).unwrap(), Some(format!("value-{key}")));
    drop(b);

    // Prepared for another range: not used, removed, and the restore is still right.
    prepare_rocksdb_restore(&config, key_group_range_for_subtask(MAX, 3, 0), &files, 2).unwrap();
    let mut b = RocksDbBackend::<u64>::open(&config, range).unwrap();
    b.restore(files.clone()).unwrap();
    assert!(!config.dir.join("prepared").exists());
    assert!(stored_key_groups(&b, "v").iter().all(|kg| range.contains(*kg)));
    drop(b);
    check_restores(&dir.path().join("again"), &files, 3);
}

/// Checks that `b` holds exactly the keys and timers of `range` from [`snapshot_as`].
fn check_instance(b: &mut RocksDbBackend<u64>, range: KeyGroupRange) {
    let v: StateId<i64, String> = b.register("v").unwrap();
    let mut keys = 0;
    for key in (0..KEYS).filter(|k| range.contains(key_group_of(k, MAX))) {
        assert_eq!(b.get(&v, key_group_of(&key, MAX), &key, &7).unwrap(), Some(format!("value-{key}")), "key {key}");
        keys += 1;
    }
    assert!(keys > 0);
    let mut out = Vec::new();
    b.pop_timers(i64::MAX, &mut out).unwrap();
    assert!(out.iter().all(|t| range.contains(t.key_group) && t.timestamp == 1000 + t.key as i64));
    assert_eq!(out.len(), keys, "one timer per key");
    for cf in ["v", TIMERS_CF] {
        assert!(stored_key_groups(b, cf).iter().all(|kg| range.contains(*kg)), "{cf} holds key groups outside {range:?}");
    }
}

#[test]
fn a_prepared_canonical_restore_is_taken_over_only_for_the_same_files_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let files = snapshot_as(dir.path(), 2, true);
    assert!(crate::canonical::is_canonical(&files));
    let range = key_group_range_for_subtask(MAX, 3, 1);
    let config = RocksDbConfig::new(dir.path().join("instance"), 64 << 20);
    assert_eq!(prepare_rocksdb_restore(&config, range, &files, 2).unwrap(), Some(RestoreOutcome::default()));
    assert!(config.dir.join("prepared/RESTORED_FROM").is_file());
    // The same files, cut short: what was prepared is taken over, they are not read again.
    let cut: Vec<RestoredFile> = files
        .iter()
        .map(|f| RestoredFile { data: crate::RestoredData::Bytes(bytes::Bytes::from_static(b"not read")), ..f.clone() })
        .collect();
    let mut b = RocksDbBackend::<u64>::open_restored(&config, range, cut).unwrap();
    assert!(!config.dir.join("prepared").exists(), "taken over");
    check_instance(&mut b, range);
    drop(b);

    // Prepared for another range: not used, removed, and the restore is still right.
    prepare_rocksdb_restore(&config, key_group_range_for_subtask(MAX, 3, 0), &files, 1).unwrap();
    let mut b = RocksDbBackend::<u64>::open(&config, range).unwrap();
    b.restore(files.clone()).unwrap();
    assert!(!config.dir.join("prepared").exists());
    check_instance(&mut b, range);
}

#[test]
fn a_truncated_canonical_file_fails_the_preparation_and_leaves_nothing_prepared() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = snapshot_as(dir.path(), 2, true);
    // Cut short: the key groups of its second half point past its end.
    let bytes = files[0].bytes().unwrap();
    files[0].data = crate::RestoredData::Bytes(bytes.slice(..bytes.len() / 2));
    let config = RocksDbConfig::new(dir.path().join("instance"), 64 << 20);
    let range = key_group_range_for_subtask(MAX, 1, 0);
    let err = prepare_rocksdb_restore(&config, range, &files, 2).unwrap_err();
    assert!(err.to_string().contains(&files[0].name), "{err}");
    let left: Vec<_> =
        std::fs::read_dir(config.dir.join("prepared")).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_version_1_canonical_file_is_not_prepared_and_restores_in_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let files = crate::conformance::fixture("canonical-v1");
    let config = RocksDbConfig::new(dir.path().join("instance"), 64 << 20);
    let range = key_group_range_for_subtask(MAX, 1, 0);
    assert_eq!(prepare_rocksdb_restore(&config, range, &files, 2).unwrap(), None, "version 1 needs the job's types");
    assert!(!config.dir.join("prepared").exists());
    let b = RocksDbBackend::<u64>::open_restored(&config, range, files).unwrap();
    assert!(!b.pending.is_empty(), "the entries wait for their state's registration");
}
