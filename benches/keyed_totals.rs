//! Large keyed state with RocksDB: what a checkpoint costs once the state is
//! filled, incremental against full, and how long a restore takes.
//!
//! ```text
//! cargo bench --bench keyed_totals                      # K = 5M keys of 200 bytes (about 1 GB), H = 1% of K
//! WEIR_BENCH_KEYS=1M WEIR_BENCH_EVENTS=5M cargo bench --bench keyed_totals
//! ```
//!
//! Runs the `keyed_totals` example in-process (its own code, included below),
//! parallelism 2, RocksDB, a checkpoint every 2 s, output discarded: once with
//! `--incremental true`, once with `--incremental false`; then restores the
//! incremental run's last checkpoint. Prints every checkpoint, and per run
//! the medians over the checkpoints taken after the fill (the second half of
//! the run's checkpoints, the final one excluded), the longest synchronous
//! phase, and the throughput.
//!
//! Environment: `WEIR_BENCH_KEYS` (K, default 5M), `WEIR_BENCH_EVENTS`
//! (N, default 4 K), `WEIR_BENCH_VALUE_BYTES` (default 200), `WEIR_BENCH_DIR`
//! (where checkpoints and state go; default a temporary directory).

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

fn main() {
    let keys = env_count("WEIR_BENCH_KEYS", 5_000_000);
    let events = env_count("WEIR_BENCH_EVENTS", 4 * keys);
    let value_bytes = env_count("WEIR_BENCH_VALUE_BYTES", 200);
    let hot = (keys / 100).max(1);
    let base = std::env::var("WEIR_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("weir-bench-keyed-totals"));
    let _ = std::fs::remove_dir_all(&base);
    let mut medians = Vec::new();
    for incremental in [true, false] {
        let dir = base.join(if incremental { "incremental" } else { "full" });
        let line = format!(
            "keyed_totals --generate {events} --keys {keys} --hot-keys {hot} --value-bytes {value_bytes} --parallelism 2 \
             --state-backend rocksdb --incremental {incremental} --checkpoint-interval 2s --checkpoint-dir {} --state-dir {}",
            dir.join("chk").display(),
            dir.join("state").display()
        );
        let args = keyed_totals::Args::parse_from(line.split_whitespace());
        let summary = match keyed_totals::run(&args) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench keyed_totals: {e}");
                std::process::exit(1);
            }
        };
        let history = summary.history.clone();
        for c in &history {
            println!(
                "checkpoint incremental={incremental} id={} duration_ms={} sync_ms={} async_ms={} alignment_ms={} bytes_written={} bytes_referenced={}",
                c.id,
                c.duration.as_millis(),
                c.sync.as_millis(),
                c.async_.as_millis(),
                c.alignment.as_millis(),
                c.bytes_written,
                c.bytes_referenced
            );
        }
        let periodic = &history[..history.len().saturating_sub(1)];
        let after_fill = &periodic[periodic.len() / 2..];
        let bytes = median(after_fill.iter().map(|c| c.bytes_written as f64).collect());
        let duration = median(after_fill.iter().map(|c| c.duration.as_secs_f64() * 1000.0).collect());
        let max_sync = history.iter().map(|c| c.sync).max().unwrap_or(Duration::ZERO);
        println!(
            "bench=keyed_totals incremental={incremental} keys={keys} events={events} value_bytes={value_bytes} {summary} checkpoints={} \
             after_fill={} median_bytes_written={bytes:.0} median_duration_ms={duration:.0} max_sync_ms={}",
            history.len(),
            after_fill.len(),
            max_sync.as_millis()
        );
        medians.push((incremental, bytes, duration));
    }
    if let [(_, inc_bytes, inc_ms), (_, full_bytes, full_ms)] = medians.as_slice() {
        println!(
            "bench=keyed_totals incremental_vs_full bytes_ratio={:.3} duration_ratio={:.3}",
            inc_bytes / full_bytes.max(1.0),
            inc_ms / full_ms.max(1.0)
        );
    }
    // Restore the incremental run's newest checkpoint (its sources are at the end: nothing more is read).
    let dir = base.join("incremental");
    let line = format!(
        "keyed_totals --generate {events} --keys {keys} --hot-keys {hot} --value-bytes {value_bytes} --parallelism 2 \
         --state-backend rocksdb --checkpoint-dir {} --state-dir {} --from-checkpoint latest",
        dir.join("chk").display(),
        dir.join("restored-state").display()
    );
    let args = keyed_totals::Args::parse_from(line.split_whitespace());
    match keyed_totals::run(&args) {
        Ok(s) => println!("bench=keyed_totals restore=download restore_ms={}", s.restore_time.map(|t| t.as_millis()).unwrap_or(0)),
        Err(e) => eprintln!("bench keyed_totals: restore: {e}"),
    }
    let _ = std::fs::remove_dir_all(&base);
}
