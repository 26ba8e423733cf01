//! The conformance suite every keyed-state backend runs unchanged.
//!
//! A backend's tests call [`run_all`] with a constructor for a fresh,
//! empty backend over a key-group range:
//!
//! ```
//! use weir_state::{conformance, Backend, HashMapBackend};
//! conformance::run_all(|range| Backend::from(HashMapBackend::<u64>::new(range)));
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod collections;
mod namespaces;
mod schemas;

pub use collections::*;
pub use namespaces::*;
pub use schemas::*;

use bytes::Bytes;

use crate::snapshot::SnapshotContent;
use crate::{
    key_group_of, key_group_range_for_subtask, Backend, KeyGroupRange, KeyedState, KeyedStateBackend, ListState, MapState, ReducingState,
    RestoredFile, SnapshotFile, StateError, StateId, ValueState,
};

pub(crate) const MAX: u32 = 128;

/// Turns snapshot files into restored files (reading local files from disk).
pub fn to_restored(files: Vec<SnapshotFile>) -> Vec<RestoredFile> {
    files
        .into_iter()
        .map(|f| {
            let bytes = match f.content {
                SnapshotContent::Bytes(b) => Bytes::from(b),
                SnapshotContent::Local { path, .. } => Bytes::from(std::fs::read(path).unwrap()),
            };
            RestoredFile {
                name: format!("instance/{}", f.name),
                file_name: f.name.clone(),
                source: "instance".into(),
                key_groups: Some(KeyGroupRange::new(0, MAX - 1)),
                data: crate::RestoredData::Bytes(bytes),
                key_group_offsets: f.key_group_offsets,
            }
        })
        .collect()
}

/// Runs every conformance test against backends made by `make`.
pub fn run_all(make: impl Fn(KeyGroupRange) -> Backend<u64>) {
    basic_operations(&make);
    key_groups_are_checked(&make);
    registration(&make);
    timers(&make);
    snapshot_round_trip_and_split(&make);
    canonical_round_trip_and_split(&make);
    canonical_snapshots_are_current(&make);
    canonical_fixtures_restore(&make);
    collection_fixtures_restore(&make);
    corrupt_canonical_block_is_named(&make);
    canonical_incompatible_restore_is_refused(&make);
    snapshot_isolated_from_later_writes(&make);
    incompatible_restore_is_refused(&make);
    state_handles(&make);
    changes_between_snapshots(&make);
    list_operations(&make);
    map_operations(&make);
    large_maps_and_lists(&make);
    collections_restore_everywhere(&make);
    namespaced_handles(&make);
    schema_changes_are_refused(&make);
    migrations_read_older_values(&make);
}

pub(crate) fn full() -> KeyGroupRange {
    KeyGroupRange::new(0, MAX - 1)
}

pub fn basic_operations(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let v: StateId<i64, u64> = b.register("v").unwrap();
    let kg = key_group_of(&7u64, MAX);
    assert_eq!(b.get(&v, kg, &7, &1).unwrap(), None);
    b.put(&v, kg, &7, &1, 10).unwrap();
    b.put(&v, kg, &7, &2, 20).unwrap();
    assert_eq!(b.get(&v, kg, &7, &1).unwrap(), Some(10));
    assert_eq!(b.get(&v, kg, &7, &2).unwrap(), Some(20));
    b.put(&v, kg, &7, &1, 11).unwrap();
    assert_eq!(b.get(&v, kg, &7, &1).unwrap(), Some(11));
    let created = b.upsert(&v, kg, &7, &1, 1u64, |d| d, |x, d| *x += d).unwrap();
    assert!(!created);
    assert_eq!(b.get(&v, kg, &7, &1).unwrap(), Some(12));
    let created = b.upsert(&v, kg, &7, &3, 101u64, |d| d, |x, d| *x += d).unwrap();
    assert!(created);
    assert_eq!(b.get(&v, kg, &7, &3).unwrap(), Some(101));
    assert_eq!(b.remove(&v, kg, &7, &1).unwrap(), Some(12));
    assert_eq!(b.remove(&v, kg, &7, &1).unwrap(), None);
    assert_eq!(b.get(&v, kg, &7, &1).unwrap(), None);
    assert_eq!(b.get(&v, kg, &7, &2).unwrap(), Some(20));
}

pub fn key_groups_are_checked(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(KeyGroupRange::new(10, 19));
    let v: StateId<(), u64> = b.register("v").unwrap();
    assert!(matches!(b.put(&v, 20, &1, &(), 1), Err(StateError::KeyGroupOutOfRange { key_group: 20, .. })));
    assert!(b.put(&v, 19, &1, &(), 1).is_ok());
    assert!(b.register_timer(9, &1, 0, 5).is_err());
}

pub fn registration(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let a: StateId<(), u64> = b.register("a").unwrap();
    let again: StateId<(), u64> = b.register("a").unwrap();
    assert_eq!(a.index(), again.index());
    let other = b.register::<(), String>("a");
    assert!(matches!(other, Err(StateError::TypeConflict { .. })), "registering 'a' with another type must fail");
}

pub fn timers(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    for key in 0u64..50 {
        let kg = key_group_of(&key, MAX);
        b.register_timer(kg, &key, 0, 100 + (key as i64 % 5)).unwrap();
        b.register_timer(kg, &key, 0, 100 + (key as i64 % 5)).unwrap(); // duplicate
    }
    let kg3 = key_group_of(&3u64, MAX);
    b.delete_timer(kg3, &3, 0, 103).unwrap();
    let mut out = Vec::new();
    b.pop_timers(99, &mut out).unwrap();
    assert!(out.is_empty());
    b.pop_timers(102, &mut out).unwrap();
    assert_eq!(out.len(), 30, "timers at 100, 101 and 102: ten keys each, duplicates kept once");
    assert!(out.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "timers come in timestamp order");
    assert!(out.iter().all(|t| t.key_group == key_group_of(&t.key, MAX)));
    out.clear();
    b.pop_timers(i64::MAX, &mut out).unwrap();
    assert_eq!(out.len(), 19, "the deleted timer does not fire");
    out.clear();
    b.pop_timers(i64::MAX, &mut out).unwrap();
    assert!(out.is_empty(), "a fired timer fires once");
}

pub(crate) fn fill(b: &mut Backend<u64>) -> StateId<i64, String> {
    let v: StateId<i64, String> = b.register("v").unwrap();
    for key in 0u64..1000 {
        let kg = key_group_of(&key, MAX);
        b.put(&v, kg, &key, &(key as i64 % 3), format!("value-{key}")).unwrap();
        b.register_timer(kg, &key, 7, 1000 + key as i64).unwrap();
    }
    v
}

pub fn snapshot_round_trip_and_split(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill(&mut b);
    let files = to_restored(b.snapshot().unwrap().write().unwrap());
    restores_everywhere(make, files);
}

/// The same as [`snapshot_round_trip_and_split`] through a canonical snapshot.
pub fn canonical_round_trip_and_split(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill(&mut b);
    let files = to_restored(b.snapshot_canonical().unwrap().write().unwrap());
    assert!(files.iter().all(|f| f.file_name == crate::canonical::KEYED_STATE_FILE), "one canonical file");
    restores_everywhere(make, files);
}

/// Fills a backend made by `from`, takes a canonical snapshot and restores
/// it into backends made by `to` at parallelism 1 and 3: how state moves
/// between backends.
pub fn canonical_across(from: &impl Fn(KeyGroupRange) -> Backend<u64>, to: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = from(full());
    fill(&mut b);
    let files = to_restored(b.snapshot_canonical().unwrap().write().unwrap());
    restores_everywhere(to, files);
}

/// Restores what [`fill`] wrote at parallelism 1 and 3, checking every entry and timer.
pub fn restores_everywhere(make: &impl Fn(KeyGroupRange) -> Backend<u64>, files: Vec<RestoredFile>) {
    // Restore the whole range, and the same files split over three instances.
    for parallelism in [1u32, 3] {
        let mut seen = 0;
        let mut timers = 0;
        for subtask in 0..parallelism {
            let range = key_group_range_for_subtask(MAX, parallelism, subtask);
            let mut r = make(range);
            r.restore(files.clone()).unwrap();
            let v: StateId<i64, String> = r.register("v").unwrap();
            for key in 0u64..1000 {
                let kg = key_group_of(&key, MAX);
                if range.contains(kg) {
                    assert_eq!(r.get(&v, kg, &key, &(key as i64 % 3)).unwrap(), Some(format!("value-{key}")));
                    seen += 1;
                }
            }
            let mut out = Vec::new();
            r.pop_timers(i64::MAX, &mut out).unwrap();
            assert!(out.iter().all(|t| range.contains(t.key_group) && t.namespace == 7 && t.timestamp == 1000 + t.key as i64));
            timers += out.len();
        }
        assert_eq!(seen, 1000, "parallelism {parallelism}: every key restored exactly once");
        assert_eq!(timers, 1000, "parallelism {parallelism}: every timer restored exactly once");
    }
}

pub fn snapshot_isolated_from_later_writes(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let v = fill(&mut b);
    let snapshot = b.snapshot().unwrap();
    for key in 0u64..1000 {
        let kg = key_group_of(&key, MAX);
        b.put(&v, kg, &key, &(key as i64 % 3), "changed".into()).unwrap();
    }
    b.register_timer(0, &0, 0, 1).unwrap();
    let files = to_restored(snapshot.write().unwrap());
    let mut r = make(full());
    r.restore(files).unwrap();
    let v2: StateId<i64, String> = r.register("v").unwrap();
    for key in 0u64..1000 {
        let kg = key_group_of(&key, MAX);
        assert_eq!(r.get(&v2, kg, &key, &(key as i64 % 3)).unwrap(), Some(format!("value-{key}")));
    }
    let mut out = Vec::new();
    r.pop_timers(999, &mut out).unwrap();
    assert!(out.is_empty(), "a timer registered after the snapshot is not in it");
}

pub fn incompatible_restore_is_refused(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill(&mut b);
    let files = to_restored(b.snapshot().unwrap().write().unwrap());
    let mut r = make(full());
    r.restore(files).unwrap();
    let err = r.register::<i64, Vec<u64>>("v").expect_err("restoring strings as a list of integers must fail");
    let msg = err.to_string();
    assert!(msg.contains("'v'"), "the error names the state: {msg}");
    assert_eq!(r.unclaimed_restored_states(), vec!["v".to_string()], "a refused state stays unclaimed");
}

pub fn state_handles(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let value: ValueState<u64> = ValueState::register(&mut b, "value").unwrap();
    let list: ListState<String> = ListState::register(&mut b, "list").unwrap();
    let map: MapState<String, i32> = MapState::register(&mut b, "map").unwrap();
    let sum: ReducingState<u64, fn(u64, u64) -> u64> =
        ReducingState::register(&mut b, "sum", (|a, b| a + b) as fn(u64, u64) -> u64).unwrap();
    for key in [1u64, 2] {
        let kg = key_group_of(&key, MAX);
        let mut s = KeyedState::new(&mut b, kg, &key);
        value.update(&mut s, || 0, |v| *v += key).unwrap();
        value.update(&mut s, || 0, |v| *v += key).unwrap();
        list.add(&mut s, format!("a{key}")).unwrap();
        list.add(&mut s, format!("b{key}")).unwrap();
        map.put(&mut s, "x".into(), 1).unwrap();
        map.put(&mut s, "y".into(), 2).unwrap();
        assert_eq!(map.remove(&mut s, &"x".to_string()).unwrap(), Some(1));
        for n in 1..=4 {
            sum.add(&mut s, n).unwrap();
        }
    }
    let mut s = KeyedState::new(&mut b, key_group_of(&2u64, MAX), &2);
    assert_eq!(value.get(&mut s).unwrap(), Some(4));
    assert_eq!(list.get(&mut s).unwrap(), vec!["a2".to_string(), "b2".to_string()]);
    assert_eq!(map.entries(&mut s).unwrap(), vec![("y".to_string(), 2)]);
    assert_eq!(sum.get(&mut s).unwrap(), Some(10));
    list.clear(&mut s).unwrap();
    assert!(list.get(&mut s).unwrap().is_empty());
    // Handle state survives a snapshot and restore.
    let files = to_restored(b.snapshot().unwrap().write().unwrap());
    let mut r = make(full());
    r.restore(files).unwrap();
    let value: ValueState<u64> = ValueState::register(&mut r, "value").unwrap();
    let list: ListState<String> = ListState::register(&mut r, "list").unwrap();
    let mut s = KeyedState::new(&mut r, key_group_of(&1u64, MAX), &1);
    assert_eq!(value.get(&mut s).unwrap(), Some(2));
    assert_eq!(list.get(&mut s).unwrap().len(), 2);
    let unclaimed = r.unclaimed_restored_states();
    assert_eq!(unclaimed, vec!["map".to_string(), "sum".to_string()]);
}

/// Removals, updates and timers that straddle snapshots: what the second
/// snapshot holds is exactly the state at that moment.
pub fn changes_between_snapshots(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    // Enough changes that a backend writing them in bulk does so.
    const KEYS: u64 = 10_000;
    let mut b = make(full());
    let v: StateId<(), u64> = b.register("v").unwrap();
    for key in 0u64..KEYS {
        b.put(&v, key_group_of(&key, MAX), &key, &(), key).unwrap();
        b.register_timer(key_group_of(&key, MAX), &key, 0, 500).unwrap();
    }
    drop(b.snapshot().unwrap());
    for key in 0u64..KEYS {
        let kg = key_group_of(&key, MAX);
        match key % 4 {
            0 => assert_eq!(b.remove(&v, kg, &key, &()).unwrap(), Some(key)),
            1 => assert!(!b.upsert(&v, kg, &key, &(), 10, |x| x, |acc, x| *acc += x).unwrap()),
            2 => {
                // Created and removed between two snapshots.
                b.remove(&v, kg, &key, &()).unwrap();
                assert!(b.upsert(&v, kg, &key, &(), 7, |x| x, |acc, x| *acc += x).unwrap());
                assert_eq!(b.remove(&v, kg, &key, &()).unwrap(), Some(7));
            }
            _ => b.register_timer(kg, &key, 0, 500).unwrap(), // again, after the snapshot
        }
    }
    let files = to_restored(b.snapshot().unwrap().write().unwrap());
    let mut out = Vec::new();
    b.pop_timers(500, &mut out).unwrap();
    assert_eq!(out.len() as u64, KEYS, "a timer registered before and after a snapshot fires once");
    let mut r = make(full());
    r.restore(files).unwrap();
    let v: StateId<(), u64> = r.register("v").unwrap();
    for key in 0u64..KEYS {
        let expected = match key % 4 {
            0 | 2 => None,
            1 => Some(key + 10),
            _ => Some(key),
        };
        assert_eq!(r.get(&v, key_group_of(&key, MAX), &key, &()).unwrap(), expected, "key {key}");
    }
    out.clear();
    r.pop_timers(500, &mut out).unwrap();
    assert_eq!(out.len() as u64, KEYS, "every timer restored once");
}

/// The canonical files checked in under `state/tests/fixtures/<name>/`:
/// `keyed.state` and its key-group offsets (`key_group offset len` a line).
///
/// Each is what [`fill`] wrote in one canonical snapshot, by the backend and
/// in the format version its name says. They are what older weirs wrote and
/// newer ones must read: never regenerate one to make a test pass. A new
/// format version gets a fixture of its own next to them.
pub(crate) fn fixture(name: &str) -> Vec<RestoredFile> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let bytes = std::fs::read(dir.join(crate::canonical::KEYED_STATE_FILE)).unwrap();
    let offsets = std::fs::read_to_string(dir.join("keyed.state.offsets")).unwrap();
    let key_group_offsets = offsets
        .lines()
        .map(|line| {
            let v: Vec<u64> = line.split_whitespace().map(|n| n.parse().unwrap()).collect();
            crate::KeyGroupOffset { key_group: v[0] as u32, offset: v[1], len: v[2] }
        })
        .collect();
    let file = SnapshotFile {
        name: crate::canonical::KEYED_STATE_FILE.into(),
        content: SnapshotContent::Bytes(bytes),
        key_group_offsets,
        shared: false,
    };
    to_restored(vec![file])
}

/// Restores every checked-in canonical fixture (format versions 1 and 2, as
/// each backend wrote them) at parallelism 1 and 3.
pub fn canonical_fixtures_restore(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    for name in ["canonical-v1", "canonical-v2-hashmap", "canonical-v2-rocksdb"] {
        let files = fixture(name);
        let version = files[0].block(&files[0].bytes().unwrap(), files[0].key_group_offsets[0].key_group).unwrap().unwrap()[..2].to_vec();
        assert_eq!(version == [0xff, 2], name.starts_with("canonical-v2"), "{name} is in the version its name says");
        restores_everywhere(make, files);
    }
}

/// Canonical snapshots are written in the current version: every block starts with `0xFF 0x03`.
pub fn canonical_snapshots_are_current(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill(&mut b);
    let files = to_restored(b.snapshot_canonical().unwrap().write().unwrap());
    for f in &files {
        let bytes = f.bytes().unwrap();
        assert!(!f.key_group_offsets.is_empty());
        for o in &f.key_group_offsets {
            let block = f.block(&bytes, o.key_group).unwrap().unwrap();
            assert_eq!(block[..2], [0xff, crate::canonical::FORMAT_VERSION]);
        }
    }
}

/// A damaged block of a canonical snapshot fails the restore with an error
/// naming the file and the key group, at any parallelism that reads it.
pub fn corrupt_canonical_block_is_named(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill(&mut b);
    let mut files = to_restored(b.snapshot_canonical().unwrap().write().unwrap());
    let file = &mut files[0];
    let o = file.key_group_offsets[file.key_group_offsets.len() / 2];
    let mut bytes = file.bytes().unwrap().to_vec();
    bytes[(o.offset + o.len - 3) as usize] ^= 0x10;
    file.data = crate::RestoredData::Bytes(Bytes::from(bytes));
    for parallelism in [1u32, 3] {
        let subtask = (0..parallelism).find(|&s| key_group_range_for_subtask(MAX, parallelism, s).contains(o.key_group)).unwrap();
        let mut r = make(key_group_range_for_subtask(MAX, parallelism, subtask));
        let err = r.restore(files.clone()).expect_err("a damaged block must fail the restore");
        let msg = err.to_string();
        assert!(matches!(err, StateError::Corrupt(_)), "{msg}");
        assert!(msg.contains("instance/keyed.state") && msg.contains(&format!("key group {}", o.key_group)), "{msg}");
    }
}

/// A canonical restore refuses a state declared with other types than it
/// was written with, naming the state and both types, and leaves it unclaimed.
pub fn canonical_incompatible_restore_is_refused(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill(&mut b);
    let files = to_restored(b.snapshot_canonical().unwrap().write().unwrap());
    let mut r = make(full());
    r.restore(files).unwrap();
    let err = r.register::<i64, Vec<u64>>("v").expect_err("restoring strings as a list of integers must fail");
    let msg = err.to_string();
    assert!(msg.contains("'v'") && msg.contains("String") && msg.contains("Vec<u64>"), "the error names the state and the types: {msg}");
    assert_eq!(r.unclaimed_restored_states(), vec!["v".to_string()], "a refused state stays unclaimed");
    let v: StateId<i64, String> = r.register("v").unwrap();
    assert_eq!(r.get(&v, key_group_of(&5u64, MAX), &5, &2).unwrap(), Some("value-5".into()), "the right types still restore it");
}
