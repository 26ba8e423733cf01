//! Savepoints taken from a running job through its `JobControl`: canonical
//! and native, while running and when a stop takes one before its final checkpoint, and
//! restores from them into the same and the other backend. The rescale
//! matrix: {canonical, native} x {hashmap, rocksdb} x parallelism
//! {1 -> 3, 3 -> 2, 2 -> 4} (from a checkpoint: `rescale.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir::crates::runtime::{CheckpointRecord, JobControl, OnStart, SavepointFormat};
use weir::crates::state::BackendKind;
use weir::{Event, JobConfig, RestoreFrom, StreamEnvironment, TumblingWindows};

use crate::common::{committed_lines, generated, generated_reference};

const N: u64 = 120_000; // 6 s at the first run's 20 000 events/s: time for three savepoints on a busy machine
const KEYS: u64 = 50;
const RATE: u64 = 10_000; // event time: 10 000 events per second, 1 s windows
const WINDOW_MS: i64 = 1000;

/// windowed_count over the generated events into `out`, throttled to `throttle` events/s.
fn run(config: JobConfig, out: &Path, throttle: f64) -> weir::JobResult {
    let env = StreamEnvironment::new(config);
    env.generate(N, Some(throttle), 0, |i| {
        let (ts, key) = generated(i, KEYS, RATE);
        Event::new(ts, key)
    })
    .uid("source")
    .key_by(|k: &u64| *k)
    .window(TumblingWindows::of(Duration::from_millis(WINDOW_MS as u64)))
    .count()
    .uid("window-count")
    .map(|r| r.to_string())
    .write_to_files(out)
    .uid("output");
    env.execute().unwrap()
}

fn config(root: &Path, backend: BackendKind, name: &str, parallelism: u32) -> JobConfig {
    let mut c = JobConfig::new("savepoint-test")
        .with_parallelism(parallelism)
        .with_checkpoints(root.join(format!("chk-{name}")).to_str().unwrap(), Duration::from_secs(3600))
        .with_state_dir(&root.join(format!("state-{name}")));
    c.backend = backend;
    c
}

/// Runs at `parallelism` until a stop-with-savepoint in `format` completes mid-stream; returns the savepoint's path.
fn stop_with_savepoint(root: &Path, backend: BackendKind, format: SavepointFormat, parallelism: u32, out: &Path) -> String {
    let replies: Arc<Mutex<Vec<Result<CheckpointRecord, String>>>> = Arc::default();
    let mut c = config(root, backend, "first", parallelism);
    let sp_dir = root.join("savepoints").to_str().unwrap().to_string();
    let r = replies.clone();
    c.on_start = Some(OnStart(Arc::new(move |control: JobControl| {
        let (r, sp_dir) = (r.clone(), sp_dir.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            // One savepoint of each format while running, then stop with one.
            for f in [SavepointFormat::Canonical, SavepointFormat::Native] {
                let reply = control.savepoint(&sp_dir, f, false).recv().unwrap_or_else(|e| Err(e.to_string()));
                r.lock().unwrap().push(reply);
            }
            let reply = control.savepoint(&sp_dir, format, true).recv().unwrap_or_else(|e| Err(e.to_string()));
            r.lock().unwrap().push(reply);
        });
    })));
    let result = run(c, out, 20_000.0);
    let replies = replies.lock().unwrap().clone();
    assert_eq!(replies.len(), 3, "three savepoints answered: {replies:?}");
    let mut paths = Vec::new();
    for reply in replies {
        let record = reply.expect("every savepoint completes");
        let path = record.path.clone().expect("a completed savepoint has a path");
        assert!(Path::new(&path).join("_metadata").is_file(), "{path} holds _metadata");
        paths.push(path);
    }
    assert!(result.counter("events") < N, "the job stopped before the end of its input");
    // A savepoint is self-contained: every file it references is inside it.
    for p in &paths {
        let meta = std::fs::read_to_string(Path::new(p).join("_metadata")).unwrap();
        assert!(!meta.contains("../"), "savepoint {p} references nothing outside itself");
    }
    paths.pop().unwrap_or_default()
}

fn check_restore(root: &Path, backend: BackendKind, parallelism: u32, savepoint: &str, out: &Path) {
    let mut c = config(root, backend, "second", parallelism);
    c.restore = Some(RestoreFrom::Path(savepoint.to_string()));
    run(c, out, 1e9);
    assert_eq!(
        committed_lines(out),
        generated_reference(N, KEYS, RATE, WINDOW_MS),
        "stop with savepoint, restore at parallelism {parallelism} with {backend:?}: every window exactly once"
    );
    // weir never deletes a savepoint.
    assert!(Path::new(savepoint).join("_metadata").is_file());
}

/// Hashmap at parallelism 2 -> RocksDB at 3.
#[test]
fn canonical_savepoint_moves_hashmap_state_into_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sp = stop_with_savepoint(dir.path(), BackendKind::HashMap, SavepointFormat::Canonical, 2, &out);
    check_restore(dir.path(), BackendKind::RocksDb, 3, &sp, &out);
}

/// RocksDB at parallelism 2 -> hashmap at 1.
#[test]
fn canonical_savepoint_moves_rocksdb_state_into_hashmap() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sp = stop_with_savepoint(dir.path(), BackendKind::RocksDb, SavepointFormat::Canonical, 2, &out);
    check_restore(dir.path(), BackendKind::HashMap, 1, &sp, &out);
}

/// RocksDB at parallelism 2 -> RocksDB at 4.
#[test]
fn native_rocksdb_savepoint_restores_into_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sp = stop_with_savepoint(dir.path(), BackendKind::RocksDb, SavepointFormat::Native, 2, &out);
    check_restore(dir.path(), BackendKind::RocksDb, 4, &sp, &out);
}

/// A stop with a savepoint in `format` at each `from`, a restore at `to`, with `backend` both times.
fn rescale_matrix(format: SavepointFormat, backend: BackendKind) {
    for (from, to) in [(1, 3), (3, 2), (2, 4)] {
        eprintln!("{format:?} savepoint, {backend:?}: parallelism {from} -> {to}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let sp = stop_with_savepoint(dir.path(), backend, format, from, &out);
        check_restore(dir.path(), backend, to, &sp, &out);
    }
}

#[test]
fn canonical_savepoint_rescale_matrix_hashmap() {
    rescale_matrix(SavepointFormat::Canonical, BackendKind::HashMap);
}

#[test]
fn canonical_savepoint_rescale_matrix_rocksdb() {
    rescale_matrix(SavepointFormat::Canonical, BackendKind::RocksDb);
}

#[test]
fn native_savepoint_rescale_matrix_hashmap() {
    rescale_matrix(SavepointFormat::Native, BackendKind::HashMap);
}

#[test]
fn native_savepoint_rescale_matrix_rocksdb() {
    rescale_matrix(SavepointFormat::Native, BackendKind::RocksDb);
}
