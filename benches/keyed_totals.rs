//! Large keyed state with RocksDB, run in-process through the `keyed_totals`
//! example's own code (included below), parallelism 2, output discarded.
//!
//! ```text
//! cargo bench --bench keyed_totals                   # all three parts
//! cargo bench --bench keyed_totals -- checkpoints    # incremental vs full, restores
//! cargo bench --bench keyed_totals -- large_state    # Flink's large_state job: N = K = 10M
//! cargo bench --bench keyed_totals -- memory         # resident memory against --state-memory
//! cargo bench --bench keyed_totals -- savepoints     # full checkpoint vs native and canonical savepoints, restores at 2 and 3
//! ```
//!
//! * `checkpoints`: K = 5M keys of 200 bytes (about 1 GB of values), H = 1 %
//!   of K, N = 12 K events, a checkpoint every 2 s; once with `--incremental
//!   true`, once with `--incremental false`. Prints every checkpoint, and per
//!   run the medians over the checkpoints taken after the fill (the second
//!   half of the periodic ones), the longest synchronous phase and the
//!   throughput. Then restores the incremental run's newest checkpoint twice:
//!   into an empty state directory (download) and into the run's own
//!   (local recovery).
//! * `large_state`: every key once (N = K = 10M, `--value-bytes 24`: a count
//!   and a time, no padding), RocksDB with incremental checkpoints every 2 s,
//!   `WEIR_BENCH_REPEATS` runs (3): the job Flink's peer calls large_state.
//! * `memory`: the `checkpoints` job (incremental) with `--state-memory
//!   256MiB`, sampling the process's resident memory every 50 ms.
//! * `savepoints`: the `checkpoints` job (incremental, a checkpoint every
//!   2 s); `WEIR_BENCH_FILL_SECS` (35) after the start, with the state
//!   filled, a full checkpoint, a native savepoint and a canonical savepoint
//!   one after the other while the job runs, then a stop. Then a restore
//!   from each at parallelism 2 and 3 (`restore_ms`). Then two no-claim
//!   restores of the full checkpoint into a new checkpoint directory, each
//!   taking one checkpoint at once: incremental (restored files still in use
//!   are copied inside the store) and `--incremental false` (everything
//!   uploaded again).
//!
//! Environment: `WEIR_BENCH_KEYS` (K of `checkpoints` and `memory`, default
//! 5M), `WEIR_BENCH_EVENTS` (their N, default 12 K), `WEIR_BENCH_VALUE_BYTES`
//! (200), `WEIR_BENCH_LARGE_KEYS` (10M), `WEIR_BENCH_REPEATS` (3),
//! `WEIR_BENCH_STATE_MEMORY` (256MiB), `WEIR_BENCH_DIR` (where checkpoints and
//! state go; default a directory under the system's temporary directory),
//! `RUST_LOG` (if set, the engine logs: `weir_state=debug` times each step
//! of every RocksDB snapshot).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

#[allow(dead_code)]
#[path = "../examples/keyed_totals.rs"]
mod keyed_totals;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| weir::parse_count(&v).ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(line: &str) -> keyed_totals::Summary {
    let args = keyed_totals::Args::parse_from(line.split_whitespace());
    match keyed_totals::run(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench keyed_totals: {e}");
            std::process::exit(1);
        }
    }
}

struct Sizes {
    keys: u64,
    events: u64,
    value_bytes: u64,
}

impl Sizes {
    fn from_env() -> Self {
        let keys = env_count("WEIR_BENCH_KEYS", 5_000_000);
        Sizes { keys, events: env_count("WEIR_BENCH_EVENTS", 12 * keys), value_bytes: env_count("WEIR_BENCH_VALUE_BYTES", 200) }
    }

    fn job(&self, dir: &Path, extra: &str) -> String {
        format!(
            "keyed_totals --generate {} --keys {} --hot-keys {} --value-bytes {} --parallelism 2 --state-backend rocksdb \
             --checkpoint-dir {} --state-dir {} {extra}",
            self.events,
            self.keys,
            (self.keys / 100).max(1),
            self.value_bytes,
            dir.join("chk").display(),
            dir.join("state").display()
        )
    }
}

fn checkpoints(base: &Path) {
    let sizes = Sizes::from_env();
    let mut medians = Vec::new();
    for incremental in [true, false] {
        let dir = base.join(if incremental { "incremental" } else { "full" });
        let summary = run(&sizes.job(&dir, &format!("--incremental {incremental} --checkpoint-interval 2s")));
        for c in &summary.history {
            println!(
                "checkpoint incremental={incremental} id={} duration_ms={} sync_ms={} async_ms={} alignment_ms={} start_delay_ms={} bytes_written={} bytes_referenced={}",
                c.id,
                c.duration.as_millis(),
                c.sync.as_millis(),
                c.async_.as_millis(),
                c.alignment.as_millis(),
                c.start_delay.as_millis(),
                c.bytes_written,
                c.bytes_referenced
            );
        }
        // The second half of the periodic checkpoints: with N = 12 K the fill
        // (the first K events) is over well before the run's middle.
        let periodic = &summary.history[..summary.history.len().saturating_sub(1)];
        let after_fill: Vec<_> = periodic[periodic.len() / 2..].iter().collect();
        let bytes: Vec<f64> = after_fill.iter().map(|c| c.bytes_written as f64).collect();
        let mean_bytes = bytes.iter().sum::<f64>() / bytes.len().max(1) as f64;
        let bytes = median(bytes);
        let duration = median(after_fill.iter().map(|c| c.duration.as_secs_f64() * 1000.0).collect());
        let max_sync = summary.history.iter().map(|c| c.sync).max().unwrap_or(Duration::ZERO);
        let max_sync_after_fill = after_fill.iter().map(|c| c.sync).max().unwrap_or(Duration::ZERO);
        println!(
            "bench=keyed_totals incremental={incremental} keys={} value_bytes={} {summary} checkpoints={} after_fill={} \
             median_bytes_written={bytes:.0} mean_bytes_written={mean_bytes:.0} median_duration_ms={duration:.0} max_sync_ms={} \
             max_sync_after_fill_ms={}",
            sizes.keys,
            sizes.value_bytes,
            summary.history.len(),
            after_fill.len(),
            max_sync.as_millis(),
            max_sync_after_fill.as_millis()
        );
        medians.push((bytes, duration));
    }
    if let [(inc_bytes, inc_ms), (full_bytes, full_ms)] = medians.as_slice() {
        println!(
            "bench=keyed_totals incremental_vs_full bytes_ratio={:.3} duration_ratio={:.3}",
            inc_bytes / full_bytes.max(1.0),
            inc_ms / full_ms.max(1.0)
        );
    }
    // Restore the incremental run's newest checkpoint (its sources are at the
    // end: nothing more is read), first into an empty state directory, then
    // into the one the run left behind.
    let dir = base.join("incremental");
    for (how, state_dir) in [("download", dir.join("restored-state")), ("local", dir.join("state"))] {
        let line = format!(
            "keyed_totals --generate {} --keys {} --hot-keys 1 --value-bytes {} --parallelism 2 --state-backend rocksdb \
             --checkpoint-dir {} --state-dir {} --from-checkpoint latest",
            sizes.events,
            sizes.keys,
            sizes.value_bytes,
            dir.join("chk").display(),
            state_dir.display()
        );
        let s = run(&line);
        let fetch = s.restore_fetch.unwrap_or_default();
        println!(
            "bench=keyed_totals restore={how} restore_ms={} downloaded_files={} downloaded_bytes={} linked_files={} linked_bytes={} local_files={} local_bytes={}",
            s.restore_time.map(|t| t.as_millis()).unwrap_or(0),
            fetch.downloaded_files,
            fetch.downloaded_bytes,
            fetch.linked_files,
            fetch.linked_bytes,
            fetch.local_files,
            fetch.local_bytes
        );
    }
}

fn large_state(base: &Path) {
    let keys = env_count("WEIR_BENCH_LARGE_KEYS", 10_000_000);
    let repeats = env_count("WEIR_BENCH_REPEATS", 3).max(1);
    let mut rates = Vec::new();
    for r in 1..=repeats {
        let dir = base.join(format!("large-{r}"));
        let s = run(&format!(
            "keyed_totals --generate {keys} --keys {keys} --value-bytes 24 --parallelism 2 --state-backend rocksdb \
             --incremental true --checkpoint-interval 2s --checkpoint-dir {} --state-dir {}",
            dir.join("chk").display(),
            dir.join("state").display()
        ));
        let rate = s.events as f64 / s.seconds.max(1e-9);
        println!("bench=keyed_totals large_state run={r}/{repeats} keys={keys} {s} checkpoints={}", s.history.len());
        rates.push(rate);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("bench=keyed_totals large_state keys={keys} runs={repeats} median_events_per_sec={:.0}", median(rates));
}

/// The process's resident memory, from `/proc/self/status`.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn memory(base: &Path) {
    let sizes = Sizes::from_env();
    let budget = std::env::var("WEIR_BENCH_STATE_MEMORY").unwrap_or_else(|_| "256MiB".into());
    let before = rss_bytes().unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let (peak, done, samples) = (peak.clone(), done.clone(), samples.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                    if let Ok(mut s) = samples.lock() {
                        s.push(rss as f64);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let dir = base.join("memory");
    let s = run(&sizes.job(&dir, &format!("--incremental true --checkpoint-interval 2s --state-memory {budget}")));
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let on_disk = dir_size(&dir.join("state"));
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let mb = |b: f64| b / (1024.0 * 1024.0);
    println!(
        "bench=keyed_totals memory state_memory={budget} keys={} value_bytes={} raw_state_mb={:.0} state_dir_mb_at_end={:.0} \
         rss_before_mb={:.0} median_rss_mb={:.0} peak_rss_mb={:.0} {s}",
        sizes.keys,
        sizes.value_bytes,
        mb((sizes.keys * sizes.value_bytes) as f64),
        mb(on_disk as f64),
        mb(before as f64),
        mb(median(samples)),
        mb(peak.load(Ordering::Relaxed) as f64)
    );
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Once the state is filled: a full checkpoint, a native and a canonical
/// savepoint, one after the other while the job runs; then restores from
/// each at parallelism 2 and 3.
fn savepoints(base: &Path) {
    use weir::crates::runtime::{CheckpointRecord, SavepointFormat};
    let sizes = Sizes { events: 1_000 * env_count("WEIR_BENCH_KEYS", 5_000_000), ..Sizes::from_env() };
    let dir = base.join("savepoints");
    let sp_root = dir.join("sp").display().to_string();
    let fill_wait = Duration::from_secs(env_count("WEIR_BENCH_FILL_SECS", 35));
    type Outcomes = Vec<(&'static str, Result<CheckpointRecord, String>)>;
    type Step<'a> = (&'static str, Box<dyn Fn() -> weir::crates::runtime::Reply<CheckpointRecord> + 'a>);
    let results: Arc<std::sync::Mutex<Outcomes>> = Arc::default();
    let args = keyed_totals::Args::parse_from(sizes.job(&dir, "--incremental true --checkpoint-interval 2s").split_whitespace());
    let r = results.clone();
    let summary = keyed_totals::run_with(&args, move |control| {
        let (r, sp_root) = (r.clone(), sp_root.clone());
        std::thread::spawn(move || {
            std::thread::sleep(fill_wait);
            let steps: [Step; 3] = [
                ("full_checkpoint", Box::new(|| control.checkpoint(true))),
                ("native_savepoint", Box::new(|| control.savepoint(&sp_root, SavepointFormat::Native, false))),
                ("canonical_savepoint", Box::new(|| control.savepoint(&sp_root, SavepointFormat::Canonical, false))),
            ];
            for (name, step) in steps {
                let reply = step().recv().unwrap_or_else(|e| Err(e.to_string()));
                if let Ok(mut r) = r.lock() {
                    r.push((name, reply));
                }
            }
            control.stop();
        });
    });
    let Ok(summary) = summary else {
        eprintln!("bench keyed_totals: savepoints: the job failed");
        std::process::exit(1);
    };
    println!("bench=keyed_totals savepoints job {summary}");
    let results = results.lock().map(|r| r.clone()).unwrap_or_default();
    let mut paths = Vec::new();
    for (name, result) in results {
        match result {
            Ok(rec) => {
                println!(
                    "bench=keyed_totals {name} duration_ms={} sync_ms={} async_ms={} bytes_written={} full_size={}",
                    rec.duration_ms, rec.sync_ms, rec.async_ms, rec.bytes_written, rec.full_size
                );
                if let Some(p) = rec.path {
                    paths.push((name, p));
                }
            }
            Err(e) => println!("bench=keyed_totals {name} failed: {e}"),
        }
    }
    // Restores: sources are past --generate 1, so the job ends right after restoring.
    for (name, path) in &paths {
        for parallelism in [2, 3] {
            let state_dir = dir.join(format!("restore-{name}-{parallelism}"));
            let s = run(&format!(
                "keyed_totals --generate 1 --keys {} --hot-keys 1 --value-bytes {} --parallelism {parallelism} --state-backend rocksdb \
                 --state-dir {} --from-checkpoint {path}",
                sizes.keys,
                sizes.value_bytes,
                state_dir.display()
            ));
            println!(
                "bench=keyed_totals restore_from={name} parallelism={parallelism} restore_ms={}",
                s.restore_time.map(|t| t.as_millis()).unwrap_or(0)
            );
            let _ = std::fs::remove_dir_all(&state_dir);
        }
    }
    if let Some((_, path)) = paths.iter().find(|(name, _)| *name == "full_checkpoint") {
        first_checkpoint_after_no_claim(&dir, &sizes, path);
    }
}

/// Restores `path` into a job with a checkpoint directory of its own
/// (no-claim) and takes one checkpoint at once: incremental, the restored
/// files it still holds are copied inside the store (hard links here); with
/// `--incremental false` everything is uploaded again, as Flink's no-claim
/// mode does.
fn first_checkpoint_after_no_claim(dir: &Path, sizes: &Sizes, path: &str) {
    for (how, incremental) in [("copy", true), ("upload", false)] {
        let job_dir = dir.join(format!("no-claim-{how}"));
        let extra = format!("--checkpoint-interval 1h --incremental {incremental} --from-checkpoint {path}");
        let args = keyed_totals::Args::parse_from(sizes.job(&job_dir, &extra).split_whitespace());
        let record: Arc<std::sync::Mutex<Option<Result<weir::crates::runtime::CheckpointRecord, String>>>> = Arc::default();
        let r = record.clone();
        let summary = keyed_totals::run_with(&args, move |control| {
            let r = r.clone();
            std::thread::spawn(move || {
                let reply = control.checkpoint(false).recv().unwrap_or_else(|e| Err(e.to_string()));
                if let Ok(mut r) = r.lock() {
                    *r = Some(reply);
                }
                control.stop();
            });
        });
        if summary.is_err() {
            eprintln!("bench keyed_totals: no-claim {how}: the job failed");
            std::process::exit(1);
        }
        match record.lock().ok().and_then(|mut r| r.take()) {
            Some(Ok(rec)) => println!(
                "bench=keyed_totals first_checkpoint_after_no_claim={how} duration_ms={} sync_ms={} async_ms={} bytes_written={} full_size={}",
                rec.duration_ms, rec.sync_ms, rec.async_ms, rec.bytes_written, rec.full_size
            ),
            other => println!("bench=keyed_totals first_checkpoint_after_no_claim={how} failed: {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&job_dir);
    }
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        weir::init_logging();
    }
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |part: &str| filters.is_empty() || filters.iter().any(|f| part.contains(f.as_str()));
    let base = std::env::var("WEIR_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("weir-bench-keyed-totals"));
    type Part = fn(&Path);
    for (name, part) in [("checkpoints", checkpoints as Part), ("large_state", large_state), ("memory", memory), ("savepoints", savepoints)]
    {
        if wants(name) {
            let _ = std::fs::remove_dir_all(&base);
            part(&base);
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}
