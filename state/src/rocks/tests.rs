#![allow(clippy::unwrap_used)]
use super::*;

fn conformance_with(write_cache: Option<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    crate::conformance::run_all(|range| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut config = RocksDbConfig::new(dir.path().join(format!("instance-{i}")), 64 << 20);
        config.write_cache_bytes = write_cache;
        crate::Backend::from(RocksDbBackend::<u64>::open(&config, range).unwrap())
    });
}

#[test]
fn conformance() {
    conformance_with(None);
}

#[test]
fn canonical_snapshots_move_between_backends() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let rocks = |range| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::Backend::from(RocksDbBackend::<u64>::open(&RocksDbConfig::new(dir.path().join(format!("i-{i}")), 64 << 20), range).unwrap())
    };
    let hashmap = |range| crate::Backend::from(crate::HashMapBackend::<u64>::new(range));
    crate::conformance::canonical_across(&hashmap, &rocks);
    crate::conformance::canonical_across(&rocks, &hashmap);
}

#[test]
fn conformance_writing_through() {
    conformance_with(Some(0));
}

#[test]
fn conformance_with_a_small_write_cache() {
    // A few entries fit: the cache is written out and emptied again and again.
    conformance_with(Some(2048));
}
