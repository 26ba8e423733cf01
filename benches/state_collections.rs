//! The cost of one `MapState` put, one `MapState` get and one `ListState`
//! add against the number of entries the key already holds (1, 1,000 and
//! 100,000), with each backend, beside the rate of batched puts into a bare
//! RocksDB database of the same key and value sizes on this machine, measured
//! in the same run.
//!
//! ```text
//! cargo bench --bench state_collections
//! WEIR_BENCH_OPS=200k cargo bench --bench state_collections
//! ```
//!
//! For `E` entries per key the backend first holds `K` keys of `E` entries
//! each, `K * E` = 200,000 map entries and as many list elements whatever
//! `E` is (K = 200,000, 200 and 2 for E = 1, 1,000 and 100,000), so that
//! the three sizes differ only in how entries are spread over keys, not in
//! how much the store holds. Then `OPS` operations (default 100k) go
//! round-robin over the keys: puts overwrite an existing user key, gets read
//! one, adds append to the key's list (which grows by OPS / K elements
//! meanwhile). Keys are `u64`, user keys `u64`,
//! values `u64` and list elements 16-byte strings. RocksDB writes skip the
//! write-ahead log, as the backend does. Each line gives ns per operation
//! and operations per second; the last lines the RocksDB baseline and the
//! two ratios the targets are about: the cost at the costliest size over the
//! cost with one entry per key, per operation and backend (target: at most 2), and RocksDB map
//! puts over batched raw puts (target: at least 0.5).

use std::time::Instant;

use weir::crates::state::{
    key_group_of, Backend, BackendKind, HashMapBackend, KeyGroupRange, KeyedState, ListState, MapState, RocksDbBackend, RocksDbConfig,
};

const MAX: u32 = 128;

fn ops() -> u64 {
    std::env::var("WEIR_BENCH_OPS").ok().and_then(|v| weir::parse_count(&v).ok()).unwrap_or(100_000)
}

fn backend(kind: BackendKind, dir: &std::path::Path) -> Backend<u64> {
    let range = KeyGroupRange::new(0, MAX - 1);
    match kind {
        BackendKind::HashMap => HashMapBackend::new(range).into(),
        BackendKind::RocksDb => {
            let Ok(b) = RocksDbBackend::open(&RocksDbConfig::new(dir, 256 << 20), range) else {
                panic!("cannot open RocksDB in {}", dir.display())
            };
            b.into()
        }
    }
}

/// Map entries (and list elements) the backend holds before the timed
/// operations, whatever the number of entries per key.
const TOTAL: u64 = 200_000;

fn keys_for(entries: u64) -> u64 {
    TOTAL / entries
}

/// Runs `n` operations of `op` and returns ns per operation.
fn timed(n: u64, mut op: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        op(i);
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

fn element(i: u64) -> String {
    format!("element-{i:08}")
}

/// `(map put, map get, list add)` ns per operation with `entries` entries per key.
fn measure(kind: BackendKind, entries: u64, root: &std::path::Path) -> (f64, f64, f64) {
    let n = ops();
    let keys = keys_for(entries);
    let dir = root.join(format!("{kind}-{entries}"));
    let mut b = backend(kind, &dir);
    let (Ok(map), Ok(list)) = (MapState::<u64, u64>::register(&mut b, "map"), ListState::<String>::register(&mut b, "list")) else {
        panic!("registering the states failed")
    };
    let kgs: Vec<u32> = (0..keys).map(|k| key_group_of(&k, MAX)).collect();
    for k in 0..keys {
        let mut s = KeyedState::new(&mut b, kgs[k as usize], &k);
        for e in 0..entries {
            map.put(&mut s, e, e).ok();
            list.add(&mut s, element(e)).ok();
        }
    }
    let pick = |i: u64| (i % keys, (i.wrapping_mul(2_654_435_761) >> 7) % entries);
    let put = timed(n, |i| {
        let (k, e) = pick(i);
        let mut s = KeyedState::new(&mut b, kgs[k as usize], &k);
        map.put(&mut s, e, i).ok();
    });
    let mut found = 0u64;
    let get = timed(n, |i| {
        let (k, e) = pick(i);
        let mut s = KeyedState::new(&mut b, kgs[k as usize], &k);
        found += u64::from(matches!(map.get(&mut s, &e), Ok(Some(_))));
    });
    assert_eq!(found, n, "every get finds its entry");
    let add = timed(n, |i| {
        let k = i % keys;
        let mut s = KeyedState::new(&mut b, kgs[k as usize], &k);
        list.add(&mut s, element(i)).ok();
    });
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
    (put, get, add)
}

/// ns per put of `n` puts into a bare RocksDB database (no write-ahead log)
/// that already holds [`TOTAL`] entries, in write batches of 1,000, each put
/// overwriting one of them, with keys and values the size of the map entries
/// above (a 2-byte key group, a key and a user key; an 8-byte value).
fn raw_batched_puts(root: &std::path::Path) -> f64 {
    let n = ops();
    let dir = root.join("raw");
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    let Ok(db) = rocksdb::DB::open(&opts, &dir) else { panic!("cannot open RocksDB in {}", dir.display()) };
    let mut write = rocksdb::WriteOptions::default();
    write.disable_wal(true);
    let key = |e: u64| {
        let mut key = Vec::with_capacity(16);
        key.extend_from_slice(&((e % 128) as u16).to_be_bytes());
        key.extend_from_slice(&(e / 1000).to_be_bytes()[5..]);
        key.extend_from_slice(&(e % 1000).to_be_bytes()[6..]);
        key
    };
    let write_all = |entries: &mut dyn Iterator<Item = (u64, u64)>| {
        let mut batch = rocksdb::WriteBatch::default();
        for (e, v) in entries {
            batch.put(key(e), v.to_le_bytes());
            if batch.len() == 1000 {
                db.write_opt(std::mem::take(&mut batch), &write).ok();
            }
        }
        db.write_opt(batch, &write).ok();
    };
    write_all(&mut (0..TOTAL).map(|e| (e, e)));
    let started = Instant::now();
    write_all(&mut (0..n).map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % TOTAL, i)));
    let ns = started.elapsed().as_nanos() as f64 / n as f64;
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    ns
}

fn rate(ns: f64) -> f64 {
    1e9 / ns
}

fn main() {
    let Ok(root) = tempfile::tempdir() else { panic!("no temporary directory") };
    println!("ops={} (per operation and size)", ops());
    println!("{:<8} {:>8} {:>14} {:>14} {:>14}", "backend", "entries", "map_put_ns", "map_get_ns", "list_add_ns");
    let mut rocks_put = 0.0;
    for kind in [BackendKind::HashMap, BackendKind::RocksDb] {
        let mut rows = Vec::new();
        for entries in [1u64, 1_000, 100_000] {
            let (put, get, add) = measure(kind, entries, root.path());
            println!("{:<8} {:>8} {:>14.0} {:>14.0} {:>14.0}", kind.to_string(), entries, put, get, add);
            rows.push((put, get, add));
        }
        // The target is about growth: the cost at each size over the cost
        // with one entry per key (at most 2).
        let growth = |f: fn(&(f64, f64, f64)) -> f64| rows.iter().map(f).fold(0.0, f64::max) / f(&rows[0]);
        println!(
            "{kind} growth (costliest size / 1 entry per key): map_put {:.2}x map_get {:.2}x list_add {:.2}x (target <= 2); \
             100k / 1k entries: {:.2}x {:.2}x {:.2}x",
            growth(|r| r.0),
            growth(|r| r.1),
            growth(|r| r.2),
            rows[2].0 / rows[1].0,
            rows[2].1 / rows[1].1,
            rows[2].2 / rows[1].2
        );
        if kind == BackendKind::RocksDb {
            rocks_put = rows.iter().map(|r| r.0).fold(0.0, f64::max);
        }
    }
    let raw = raw_batched_puts(root.path());
    println!("rocksdb raw batched puts: {raw:.0} ns/put, {:.0} puts/s", rate(raw));
    println!(
        "rocksdb map puts (slowest size) vs raw batched puts: {:.0} vs {:.0} puts/s = {:.2} (target >= 0.5)",
        rate(rocks_put),
        rate(raw),
        rate(rocks_put) / rate(raw)
    );
}
