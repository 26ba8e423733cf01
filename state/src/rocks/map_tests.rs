//! Map state through the write cache against a plain model: every
//! operation, with caches from none to roomy, snapshots whose thread runs
//! while the operations go on, and a restore of the last one.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;
use crate::{KeyGroupRange, KeyedStateBackend, MapId};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n
    }
}

type Model = BTreeMap<(u64, i64), BTreeMap<u32, u64>>;

fn entries(b: &mut RocksDbBackend<u64>, m: &MapId<i64, u32, u64>, key: u64, ns: i64) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    b.map_for_each(m, crate::key_group_of(&key, 128), &key, &ns, &mut |uk, v| {
        out.push((uk, v));
        Ok(())
    })
    .unwrap();
    out
}

fn check_all(b: &mut RocksDbBackend<u64>, m: &MapId<i64, u32, u64>, model: &Model, what: &str) {
    for key in 0..8u64 {
        for ns in 0..2i64 {
            let expected: Vec<(u32, u64)> = model.get(&(key, ns)).map(|e| e.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default();
            assert_eq!(entries(b, m, key, ns), expected, "{what}: map of key {key}, namespace {ns}");
        }
    }
}

#[test]
fn map_entries_through_the_cache_agree_with_a_model() {
    // None (write-through), a few entries, some thousands, all of them.
    for cache in [0u64, 4 << 10, 256 << 10, 64 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let range = KeyGroupRange::new(0, 127);
        let config = RocksDbConfig::new(dir.path().join("i"), 64 << 20).with_write_cache(cache);
        let mut b = RocksDbBackend::<u64>::open(&config, range).unwrap();
        let m: MapId<i64, u32, u64> = b.register_map(&"m".into()).unwrap();
        let mut model = Model::new();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ cache);
        let mut last = None;
        for step in 0..30_000u64 {
            let (key, ns, uk) = (rng.below(8), rng.below(2) as i64, rng.below(200) as u32);
            let kg = crate::key_group_of(&key, 128);
            let map = model.entry((key, ns)).or_default();
            match rng.below(1000) {
                0..400 => {
                    b.map_put(&m, kg, &key, &ns, uk, step).unwrap();
                    map.insert(uk, step);
                }
                400..650 => assert_eq!(b.map_get(&m, kg, &key, &ns, &uk).unwrap(), map.get(&uk).copied(), "step {step}: get"),
                650..850 => assert_eq!(b.map_remove(&m, kg, &key, &ns, &uk).unwrap(), map.remove(&uk), "step {step}: remove"),
                850..980 => {
                    let expected: Vec<(u32, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
                    assert_eq!(entries(&mut b, &m, key, ns), expected, "step {step}: scan");
                }
                980..995 => {
                    b.map_clear(&m, kg, &key, &ns).unwrap();
                    map.clear();
                }
                _ => {
                    // A snapshot whose thread writes while the steps go on;
                    // the model as of its barrier is what it must restore.
                    let snapshot = b.snapshot().unwrap();
                    last = Some((snapshot, model.clone()));
                }
            }
        }
        check_all(&mut b, &m, &model, &format!("cache {cache}, at the end"));
        let (snapshot, at_barrier) = last.unwrap();
        let files = crate::conformance::to_restored(snapshot.write().unwrap());
        let mut r =
            RocksDbBackend::<u64>::open(&RocksDbConfig::new(dir.path().join("r"), 64 << 20).with_write_cache(cache), range).unwrap();
        r.restore(files).unwrap();
        let rm: MapId<i64, u32, u64> = r.register_map(&"m".into()).unwrap();
        check_all(&mut r, &rm, &at_barrier, &format!("cache {cache}, restored"));
        check_all(&mut b, &m, &model, &format!("cache {cache}, after the snapshot was written"));
    }
}
