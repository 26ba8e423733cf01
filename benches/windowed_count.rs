//! Throughput of the `windowed_count` example job, run in-process.
//!
//! ```text
//! cargo bench --bench windowed_count            # both cases, 3 runs each
//! cargo bench --bench windowed_count -- 1m      # only the 1 000 000-key case
//! WEIR_BENCH_EVENTS_10K=100M WEIR_BENCH_REPEATS=1 cargo bench --bench windowed_count -- 10k
//! ```
//!
//! Every run calls `windowed_count::run` (the example's own code, included
//! below) with: the generator (`--generate N --keys K --event-rate 1M`), 1 s
//! tumbling windows, parallelism 2, the hashmap backend, checkpoints every
//! 10 s into a fresh temporary directory, output discarded.
//!
//! Environment:
//! * `WEIR_BENCH_EVENTS_10K` - N of the 10 000-key case (default 700M)
//! * `WEIR_BENCH_EVENTS_1M`  - N of the 1 000 000-key case (default 81M)
//! * `WEIR_BENCH_REPEATS`    - runs per case (default 3)
//! * `WEIR_BENCH_PARALLELISM`, `WEIR_BENCH_CHECKPOINT_INTERVAL` - 2 and 10s
//! * `WEIR_BENCH_BACKEND`    - `hashmap` (default) or `rocksdb`
//! * `RUST_LOG`              - if set, the engine logs (e.g. `info` shows each completed checkpoint)
//!
//! Arguments: words select the cases whose name contains one of them
//! (`10k`, `1m`); flags (`--bench` from cargo) are ignored.
//!
//! The defaults make a run last about 15 s on a 2-core machine, so that at
//! least one periodic checkpoint happens besides the final one. With the
//! event rate R = 1M, window w holds events w*R..(w+1)*R: with K = 10k each
//! window holds every key 100 times, with K = 1M every key once. N is a
//! multiple of 1M (full windows); for 1M keys it is an odd multiple, so that
//! Flink's `seq` source (two contiguous splits) produces the same windows.

use std::process::ExitCode;

use clap::Parser;

#[allow(dead_code)]
#[path = "../examples/windowed_count.rs"]
mod windowed_count;

struct Case {
    name: &'static str,
    keys: u64,
    events_env: &'static str,
    default_events: u64,
}

const CASES: [Case; 2] = [
    Case { name: "10k", keys: 10_000, events_env: "WEIR_BENCH_EVENTS_10K", default_events: 700_000_000 },
    Case { name: "1m", keys: 1_000_000, events_env: "WEIR_BENCH_EVENTS_1M", default_events: 81_000_000 },
];

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
}

fn env_count(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => weir::parse_count(&v).map_err(|e| format!("{name}={v}: {e}")),
        _ => Ok(default),
    }
}

/// The checkpoints left in `dir` (`chk-N`), highest id first.
fn checkpoints_in(dir: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("chk-")).and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn run_case(case: &Case, repeats: u32, parallelism: &str, interval: &str, backend: &str) -> Result<(), String> {
    let events = env_count(case.events_env, case.default_events)?;
    let mut rates = Vec::new();
    for run in 1..=repeats {
        let dir = tempfile::Builder::new()
            .prefix("weir-bench-windowed-count-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let chk_dir = dir.path().join("checkpoints");
        let state_dir = dir.path().join("state");
        let args = windowed_count::Args::parse_from([
            "windowed_count".to_string(),
            "--generate".into(),
            events.to_string(),
            "--keys".into(),
            case.keys.to_string(),
            "--event-rate".into(),
            "1M".into(),
            "--window".into(),
            "1s".into(),
            "--parallelism".into(),
            parallelism.to_string(),
            "--state-backend".into(),
            backend.to_string(),
            "--state-dir".into(),
            state_dir.display().to_string(),
            "--checkpoint-dir".into(),
            chk_dir.display().to_string(),
            "--checkpoint-interval".into(),
            interval.to_string(),
        ]);
        let summary = windowed_count::run(&args).map_err(|e| format!("keys={} run {run}: {e}", case.keys))?;
        let chks = checkpoints_in(&chk_dir);
        let last = chks.first().map_or_else(|| "none".to_string(), |id| id.to_string());
        let rate = if summary.seconds > 0.0 { summary.events as f64 / summary.seconds } else { 0.0 };
        println!(
            "bench=windowed_count keys={} run={run}/{repeats} backend={backend} parallelism={parallelism} checkpoint_interval={interval} last_checkpoint={last} {summary}",
            case.keys
        );
        if summary.events != events {
            return Err(format!("keys={} run {run}: the job emitted {} events, expected {events}", case.keys, summary.events));
        }
        rates.push(rate);
        // `dir` is deleted here, before the next run.
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    let best = rates.last().copied().unwrap_or(0.0);
    println!(
        "bench=windowed_count keys={} events={events} backend={backend} parallelism={parallelism} runs={} best_events_per_sec={best:.0} median_events_per_sec={:.0}",
        case.keys,
        rates.len(),
        median(&rates)
    );
    Ok(())
}

fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        weir::init_logging();
    }
    // `cargo bench` passes `--bench`; ignore every flag, keep words as filters.
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).map(|a| a.to_lowercase()).collect();
    let repeats = match env_count("WEIR_BENCH_REPEATS", 3) {
        Ok(r) if r >= 1 => r as u32,
        Ok(_) => {
            eprintln!("windowed_count bench: WEIR_BENCH_REPEATS must be at least 1");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("windowed_count bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let parallelism = env_or("WEIR_BENCH_PARALLELISM", "2");
    let interval = env_or("WEIR_BENCH_CHECKPOINT_INTERVAL", "10s");
    let backend = env_or("WEIR_BENCH_BACKEND", "hashmap");
    let selected: Vec<&Case> = CASES
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str()) || c.keys.to_string() == *f))
        .collect();
    if selected.is_empty() {
        eprintln!("windowed_count bench: no case matches {filters:?} (cases: 10k, 1m)");
        return ExitCode::FAILURE;
    }
    for case in selected {
        if let Err(e) = run_case(case, repeats, &parallelism, &interval, &backend) {
            eprintln!("windowed_count bench: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
