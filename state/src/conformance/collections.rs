//! List and map state: every operation, large collections, and their
//! restores at other parallelisms and from the fixtures of older releases.

use std::collections::BTreeMap;

use super::{fill, fixture, full, to_restored, MAX};
use crate::{
    key_group_of, key_group_range_for_subtask, Backend, KeyGroupRange, KeyedState, KeyedStateBackend, ListState, MapState, StateId,
};

pub fn list_operations(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let list: ListState<String> = ListState::register(&mut b, "list").unwrap();
    // Keys whose encodings could share a prefix: 1, 128 (two bytes) and 256.
    for key in [1u64, 128, 256] {
        let mut s = KeyedState::new(&mut b, key_group_of(&key, MAX), &key);
        assert!(list.get(&mut s).unwrap().is_empty());
        for i in 0..3 {
            list.add(&mut s, format!("{key}-{i}")).unwrap();
        }
    }
    let mut s = KeyedState::new(&mut b, key_group_of(&128u64, MAX), &128);
    assert_eq!(list.get(&mut s).unwrap(), vec!["128-0", "128-1", "128-2"], "elements in the order they were added");
    let mut streamed = Vec::new();
    list.for_each(&mut s, |v| {
        streamed.push(v);
        Ok(())
    })
    .unwrap();
    assert_eq!(streamed.len(), 3);
    list.set(&mut s, vec!["x".into()]).unwrap();
    assert_eq!(list.get(&mut s).unwrap(), vec!["x"]);
    list.clear(&mut s).unwrap();
    assert!(list.get(&mut s).unwrap().is_empty());
    list.add(&mut s, "again".into()).unwrap();
    assert_eq!(list.get(&mut s).unwrap(), vec!["again"], "a cleared list starts afresh");
    let mut s = KeyedState::new(&mut b, key_group_of(&1u64, MAX), &1);
    assert_eq!(list.get(&mut s).unwrap(), vec!["1-0", "1-1", "1-2"], "other keys are untouched");
}

pub fn map_operations(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let map: MapState<String, u64> = MapState::register(&mut b, "map").unwrap();
    for key in [1u64, 128, 256] {
        let mut s = KeyedState::new(&mut b, key_group_of(&key, MAX), &key);
        for (i, uk) in ["a", "b", "c"].iter().enumerate() {
            map.put(&mut s, uk.to_string(), key * 10 + i as u64).unwrap();
        }
    }
    let mut s = KeyedState::new(&mut b, key_group_of(&128u64, MAX), &128);
    assert_eq!(map.get(&mut s, &"b".to_string()).unwrap(), Some(1281));
    assert!(map.contains(&mut s, &"c".to_string()).unwrap());
    assert!(!map.contains(&mut s, &"d".to_string()).unwrap());
    map.put(&mut s, "b".into(), 7).unwrap();
    assert_eq!(map.get(&mut s, &"b".to_string()).unwrap(), Some(7), "a put replaces the entry");
    assert_eq!(map.remove(&mut s, &"a".to_string()).unwrap(), Some(1280));
    assert_eq!(map.remove(&mut s, &"a".to_string()).unwrap(), None);
    let entries: BTreeMap<String, u64> = map.entries(&mut s).unwrap().into_iter().collect();
    assert_eq!(entries, [("b".to_string(), 7), ("c".to_string(), 1282)].into_iter().collect());
    map.clear(&mut s).unwrap();
    assert!(map.entries(&mut s).unwrap().is_empty());
    assert_eq!(map.get(&mut s, &"c".to_string()).unwrap(), None);
    for key in [1u64, 256] {
        let mut s = KeyedState::new(&mut b, key_group_of(&key, MAX), &key);
        assert_eq!(map.entries(&mut s).unwrap().len(), 3, "key {key}: other keys' maps are untouched");
    }
    // Map state with a namespace, through the backend's own operations.
    let id = b.register_map::<i64, u32, String>(&"windows".into()).unwrap();
    let kg = key_group_of(&5u64, MAX);
    for ns in [-1i64, 0, 1] {
        for uk in 0..4u32 {
            b.map_put(&id, kg, &5, &ns, uk, format!("{ns}/{uk}")).unwrap();
        }
    }
    b.map_clear(&id, kg, &5, &0).unwrap();
    let mut n = 0;
    b.map_for_each(&id, kg, &5, &1, &mut |uk, v| {
        assert_eq!(v, format!("1/{uk}"));
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 4, "clearing one namespace's map leaves the others");
    assert_eq!(b.map_get(&id, kg, &5, &0, &1).unwrap(), None);
    assert_eq!(b.map_get(&id, kg, &5, &-1, &1).unwrap().as_deref(), Some("-1/1"));
}

/// 100,000 entries in one key's map and one key's list.
pub fn large_maps_and_lists(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    const N: u64 = 100_000;
    let mut b = make(full());
    let map: MapState<u64, u64> = MapState::register(&mut b, "big-map").unwrap();
    let list: ListState<u64> = ListState::register(&mut b, "big-list").unwrap();
    let key = 42u64;
    let kg = key_group_of(&key, MAX);
    let mut s = KeyedState::new(&mut b, kg, &key);
    for i in 0..N {
        map.put(&mut s, i, i * 2).unwrap();
        list.add(&mut s, i).unwrap();
    }
    for i in (0..N).step_by(997) {
        assert_eq!(map.get(&mut s, &i).unwrap(), Some(i * 2));
    }
    for i in (0..N).filter(|i| i % 2 == 1) {
        map.remove(&mut s, &i).unwrap();
    }
    let (mut n, mut sum) = (0u64, 0u64);
    map.for_each(&mut s, |k, v| {
        assert_eq!(v, k * 2);
        n += 1;
        sum += k;
        Ok(())
    })
    .unwrap();
    assert_eq!((n, sum), (N / 2, (0..N).filter(|i| i % 2 == 0).sum()));
    let mut expected = 0;
    list.for_each(&mut s, |v| {
        assert_eq!(v, expected);
        expected += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(expected, N);
    // Through a snapshot as well.
    let files = to_restored(b.snapshot().unwrap().write().unwrap());
    let mut r = make(full());
    r.restore(files).unwrap();
    let map: MapState<u64, u64> = MapState::register(&mut r, "big-map").unwrap();
    let list: ListState<u64> = ListState::register(&mut r, "big-list").unwrap();
    let mut s = KeyedState::new(&mut r, kg, &key);
    assert_eq!(map.entries(&mut s).unwrap().len() as u64, N / 2);
    assert_eq!(list.get(&mut s).unwrap().len() as u64, N);
}

/// What [`fill_collections`] writes for `key`: its list and its map.
fn expected_collections(key: u64) -> (Vec<u64>, BTreeMap<String, u64>) {
    let list = (0..key % 4).map(|i| key * 10 + i).collect();
    let map = (0..key % 3).map(|i| (format!("/p{i}"), key + i)).collect();
    (list, map)
}

/// [`fill`]'s values and timers, a list "seen" and a map "pages" per key:
/// what the collection fixtures hold.
fn fill_collections(b: &mut Backend<u64>) {
    fill(b);
    let seen: ListState<u64> = ListState::register(b, "seen").unwrap();
    let pages: MapState<String, u64> = MapState::register(b, "pages").unwrap();
    for key in 0u64..1000 {
        let mut s = KeyedState::new(b, key_group_of(&key, MAX), &key);
        let (list, map) = expected_collections(key);
        for v in list {
            seen.add(&mut s, v).unwrap();
        }
        for (k, v) in map {
            pages.put(&mut s, k, v).unwrap();
        }
    }
}

/// Restores what [`fill_collections`] wrote at parallelism 1 and 3 and checks every key.
fn check_collections_everywhere(make: &impl Fn(KeyGroupRange) -> Backend<u64>, files: Vec<crate::RestoredFile>, what: &str) {
    for parallelism in [1u32, 3] {
        let (mut keys, mut timers) = (0, 0);
        for subtask in 0..parallelism {
            let range = key_group_range_for_subtask(MAX, parallelism, subtask);
            let mut r = make(range);
            r.restore(files.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let v: StateId<i64, String> = r.register("v").unwrap_or_else(|e| panic!("{what}: {e}"));
            let seen: ListState<u64> = ListState::register(&mut r, "seen").unwrap_or_else(|e| panic!("{what}: {e}"));
            let pages: MapState<String, u64> = MapState::register(&mut r, "pages").unwrap_or_else(|e| panic!("{what}: {e}"));
            for key in (0u64..1000).filter(|k| range.contains(key_group_of(k, MAX))) {
                let kg = key_group_of(&key, MAX);
                assert_eq!(r.get(&v, kg, &key, &(key as i64 % 3)).unwrap(), Some(format!("value-{key}")), "{what}");
                let mut s = KeyedState::new(&mut r, kg, &key);
                let (list, map) = expected_collections(key);
                assert_eq!(seen.get(&mut s).unwrap(), list, "{what}: key {key}'s list");
                let got: BTreeMap<String, u64> = pages.entries(&mut s).unwrap().into_iter().collect();
                assert_eq!(got, map, "{what}: key {key}'s map");
                keys += 1;
            }
            let mut out = Vec::new();
            r.pop_timers(i64::MAX, &mut out).unwrap();
            assert!(out.iter().all(|t| t.namespace == 7 && t.timestamp == 1000 + t.key as i64), "{what}");
            timers += out.len();
        }
        assert_eq!((keys, timers), (1000, 1000), "{what} at parallelism {parallelism}: every key and timer once");
    }
}

/// Lists and maps survive native and canonical snapshots, restored at
/// parallelism 1 and 3 (a rescale splits them by key group).
pub fn collections_restore_everywhere(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    fill_collections(&mut b);
    check_collections_everywhere(make, to_restored(b.snapshot().unwrap().write().unwrap()), "snapshot");
    check_collections_everywhere(make, to_restored(b.snapshot_canonical().unwrap().write().unwrap()), "canonical snapshot");
}

/// The canonical savepoints of the release before value formats and schemas
/// (value format 1, lists and maps stored whole per key), as each backend
/// wrote them, restore with today's types.
///
/// So do those of this release (`canonical-v3-*`: value format 2, lists and
/// maps stored per entry), which guard format version 3.
pub fn collection_fixtures_restore(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    for (name, version) in [
        ("canonical-v2-hashmap-collections", 2),
        ("canonical-v2-rocksdb-collections", 2),
        ("canonical-v3-hashmap-collections", 3),
        ("canonical-v3-rocksdb-collections", 3),
    ] {
        let files = fixture(name);
        for o in &files[0].key_group_offsets {
            let bytes = files[0].bytes().unwrap();
            let block = files[0].block(&bytes, o.key_group).unwrap().unwrap();
            assert_eq!(block[..2], [0xff, version], "{name} is in the version its name says");
        }
        check_collections_everywhere(make, files, name);
    }
}

/// Writes what [`fill_collections`] makes, as a canonical snapshot of a
/// backend made by `make`, into `dir` (`keyed.state` and its offsets): how
/// the `canonical-v3-*-collections` fixtures were made.
pub fn write_collection_fixture(make: &impl Fn(KeyGroupRange) -> Backend<u64>, dir: &std::path::Path) {
    let mut b = make(full());
    fill_collections(&mut b);
    std::fs::create_dir_all(dir).unwrap();
    for f in b.snapshot_canonical().unwrap().write().unwrap() {
        let crate::SnapshotContent::Bytes(bytes) = f.content else { panic!("canonical files are in memory") };
        std::fs::write(dir.join(&f.name), bytes).unwrap();
        let lines: String = f.key_group_offsets.iter().map(|o| format!("{} {} {}\n", o.key_group, o.offset, o.len)).collect();
        std::fs::write(dir.join(format!("{}.offsets", f.name)), lines).unwrap();
    }
}

/// A canonical snapshot of a backend made by `make` holding what
/// [`fill_collections`] makes is byte for byte the checked-in fixture
/// `name`: the writer of format version 3 has not changed. For backends
/// that write in a fixed order (RocksDB writes sorted).
pub fn canonical_writer_matches_fixture(make: &impl Fn(KeyGroupRange) -> Backend<u64>, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let mut b = make(full());
    fill_collections(&mut b);
    let files = b.snapshot_canonical().unwrap().write().unwrap();
    let crate::SnapshotContent::Bytes(bytes) = &files[0].content else { panic!("canonical files are in memory") };
    assert!(
        bytes == &std::fs::read(dir.join(crate::canonical::KEYED_STATE_FILE)).unwrap(),
        "the canonical writer's output changed: {name}"
    );
}

/// The native RocksDB files of the release before value formats and
/// schemas (`tests/fixtures/rocksdb-native-v1`: what that release's RocksDB
/// backend snapshot of [`fill_collections`] held), restored at parallelism
/// 1 and 3 by backends made by `make` (RocksDB ones): keys, values, lists,
/// maps and timers are converted to the current format on the way.
pub fn native_rocksdb_fixture_restores(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rocksdb-native-v1");
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let files = names
        .into_iter()
        .map(|name| crate::SnapshotFile {
            content: crate::SnapshotContent::Bytes(std::fs::read(dir.join(&name)).unwrap()),
            shared: name.ends_with(".sst"),
            name,
            key_group_offsets: Vec::new(),
        })
        .collect();
    check_collections_everywhere(make, to_restored(files), "rocksdb-native-v1");
}
