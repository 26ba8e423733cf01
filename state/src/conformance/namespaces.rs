//! State handles under a namespace (as window functions keep per-window
//! state under the window's `(start, end)`): each namespace of a key is
//! its own entry, clearing one leaves the others, and snapshots, canonical
//! snapshots and rescaled restores carry the namespace with the key.

use std::collections::BTreeMap;

use super::{full, to_restored, MAX};
use crate::{
    key_group_of, key_group_range_for_subtask, Backend, KeyGroupRange, KeyedState, KeyedStateBackend, ListState, MapState, ReducingState,
    RestoredFile, StateError, ValueState,
};

/// A window-like namespace: `(start, end)`.
type Win = (i64, i64);

/// The namespaced handles of [`fill_namespaced`], registered in `b`.
struct Handles {
    fired: ValueState<u64, Win>,
    seen: ListState<u64, Win>,
    pages: MapState<String, u64, Win>,
    max: ReducingState<u64, fn(u64, u64) -> u64, Win>,
    total: ValueState<u64>,
}

fn handles(b: &mut Backend<u64>) -> Result<Handles, StateError> {
    Ok(Handles {
        fired: ValueState::register(b, "fired")?,
        seen: ListState::register(b, "seen")?,
        pages: MapState::register(b, "pages")?,
        max: ReducingState::register(b, "max", (|a: u64, b: u64| a.max(b)) as fn(u64, u64) -> u64)?,
        total: ValueState::register(b, "total")?,
    })
}

/// The windows of `key`: three, one of them with a negative start.
fn windows(key: u64) -> [Win; 3] {
    let k = key as i64;
    [(-10, 0), (k * 10, k * 10 + 10), (k * 10 + 5, k * 10 + 15)]
}

/// What key `key` holds in window number `i` of [`windows`]: (fired, seen, pages, max).
fn expected(key: u64, i: u64) -> (u64, Vec<u64>, BTreeMap<String, u64>, u64) {
    let seen: Vec<u64> = (0..=i).map(|j| key * 100 + j).collect();
    let pages = (0..i).map(|j| (format!("/{j}"), key + j)).collect();
    (key + i, seen.clone(), pages, seen.iter().copied().max().unwrap_or(0))
}

/// Writes every handle of every window of keys `0..300`, and a plain
/// keyed total per key; the first window of every third key is cleared again.
fn fill_namespaced(b: &mut Backend<u64>) {
    let h = handles(b).unwrap();
    for key in 0u64..300 {
        let kg = key_group_of(&key, MAX);
        for (i, w) in windows(key).iter().enumerate() {
            let mut s = KeyedState::with_namespace(b, kg, &key, w);
            let (fired, seen, pages, _) = expected(key, i as u64);
            h.fired.set(&mut s, fired).unwrap();
            for v in seen {
                h.seen.add(&mut s, v).unwrap();
                h.max.add(&mut s, v).unwrap();
            }
            for (k, v) in pages {
                h.pages.put(&mut s, k, v).unwrap();
            }
        }
        h.total.set(&mut KeyedState::new(b, kg, &key), key * 7).unwrap();
        if key % 3 == 0 {
            let first = windows(key)[0];
            let mut s = KeyedState::with_namespace(b, kg, &key, &first);
            h.fired.clear(&mut s).unwrap();
            h.seen.clear(&mut s).unwrap();
            h.pages.clear(&mut s).unwrap();
            h.max.clear(&mut s).unwrap();
        }
    }
}

/// Checks what [`fill_namespaced`] wrote, restored from `files` at
/// parallelism 1 and 3 into backends made by `make`.
fn check_namespaced(make: &impl Fn(KeyGroupRange) -> Backend<u64>, files: Vec<RestoredFile>, what: &str) {
    for parallelism in [1u32, 3] {
        let mut keys = 0;
        for subtask in 0..parallelism {
            let range = key_group_range_for_subtask(MAX, parallelism, subtask);
            let mut r = make(range);
            r.restore(files.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
            let h = handles(&mut r).unwrap_or_else(|e| panic!("{what}: {e}"));
            for key in (0u64..300).filter(|k| range.contains(key_group_of(k, MAX))) {
                let kg = key_group_of(&key, MAX);
                for (i, w) in windows(key).iter().enumerate() {
                    let mut s = KeyedState::with_namespace(&mut r, kg, &key, w);
                    let got = (
                        h.fired.get(&mut s).unwrap(),
                        h.seen.get(&mut s).unwrap(),
                        h.pages.entries(&mut s).unwrap().into_iter().collect::<BTreeMap<_, _>>(),
                        h.max.get(&mut s).unwrap(),
                    );
                    let want = if i == 0 && key % 3 == 0 {
                        (None, Vec::new(), BTreeMap::new(), None)
                    } else {
                        let (fired, seen, pages, max) = expected(key, i as u64);
                        (Some(fired), seen, pages, Some(max))
                    };
                    assert_eq!(got, want, "{what}, parallelism {parallelism}: key {key}, window {w:?}");
                }
                assert_eq!(h.total.get(&mut KeyedState::new(&mut r, kg, &key)).unwrap(), Some(key * 7), "{what}: key {key}'s total");
                keys += 1;
            }
        }
        assert_eq!(keys, 300, "{what} at parallelism {parallelism}: every key once");
    }
}

/// Namespaced handles: namespaces are independent entries, and survive
/// native and canonical snapshots restored at parallelism 1 and 3.
pub fn namespaced_handles(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = make(full());
    let h = handles(&mut b).unwrap();
    let (w1, w2) = ((0i64, 10i64), (10i64, 20i64));
    h.fired.set(&mut KeyedState::with_namespace(&mut b, 0, &1, &w1), 1).unwrap();
    assert_eq!(h.fired.get(&mut KeyedState::with_namespace(&mut b, 0, &1, &w2)).unwrap(), None, "another namespace");
    assert_eq!(h.total.get(&mut KeyedState::new(&mut b, 0, &1)).unwrap(), None, "plain keyed state is apart");
    // The same name with another namespace type is another schema: refused.
    assert!(matches!(ValueState::<u64, i64>::register(&mut b, "fired"), Err(StateError::TypeConflict { .. })));
    h.fired.clear(&mut KeyedState::with_namespace(&mut b, 0, &1, &w1)).unwrap();

    fill_namespaced(&mut b);
    check_namespaced(make, to_restored(b.snapshot().unwrap().write().unwrap()), "snapshot");
    check_namespaced(make, to_restored(b.snapshot_canonical().unwrap().write().unwrap()), "canonical snapshot");
}

/// Namespaced state moves between backends through a canonical snapshot:
/// written by a backend made by `from`, restored by ones made by `to`.
pub fn namespaced_across(from: &impl Fn(KeyGroupRange) -> Backend<u64>, to: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    let mut b = from(full());
    fill_namespaced(&mut b);
    check_namespaced(to, to_restored(b.snapshot_canonical().unwrap().write().unwrap()), "canonical snapshot across backends");
}
