//! Sliding and session windows against tumbling windows on the same
//! stream, with each backend: the `windowed_count` example job, run in-process.
//!
//! ```text
//! cargo bench --bench windows                 # all six runs
//! cargo bench --bench windows -- rocksdb      # runs whose name holds a word
//! WEIR_BENCH_EVENTS=20M cargo bench --bench windows
//! ```
//!
//! The stream is the example's generator: event i has key
//! `(i * 2654435761) mod K` and time `i / 1000` ms (1M events per second of
//! event time), parallelism 2, checkpoints every 10 s, output discarded.
//!
//! * `tumbling`: 1 s windows, K = 10,000 (every key 100 times a window);
//! * `sliding`: 10 s windows every 1 s on the same stream: the same count
//!   of events per key and second, in ten times as many windows (ten
//!   output rows per key and second instead of one);
//! * `session`: session windows with a 50 ms gap, K = 100,000: a key comes
//!   back every 100 ms, so every event opens a session that closes (one
//!   output row per event: the dearest case for sessions).
//!
//! Each line gives events per second; the last lines, per backend, the cost
//! per event of sliding over tumbling (target: at most 2).
//!
//! Environment: `WEIR_BENCH_EVENTS` (default 100M for tumbling and sliding,
//! a tenth of it for sessions), `WEIR_BENCH_REPEATS` (default 1).

use std::collections::BTreeMap;

use clap::Parser;

#[allow(dead_code)]
#[path = "../examples/windowed_count.rs"]
mod windowed_count;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| weir::parse_count(&v).ok()).unwrap_or(default)
}

fn run(name: &str, backend: &str, events: u64, keys: u64, windows: &str) -> Option<f64> {
    let Ok(dir) = tempfile::tempdir() else { panic!("no temporary directory") };
    let line = format!(
        "windowed_count --generate {events} --keys {keys} --parallelism 2 --state-backend {backend} {windows} \
         --checkpoint-dir {}/chk --checkpoint-interval 10s --state-dir {}/state",
        dir.path().display(),
        dir.path().display()
    );
    let args = match windowed_count::Args::try_parse_from(line.split_whitespace()) {
        Ok(a) => a,
        Err(e) => panic!("{name}: {e}"),
    };
    match windowed_count::run(&args) {
        Ok(s) => {
            let rate = s.events as f64 / s.seconds;
            println!(
                "{name:<18} {backend:<8} events={} output_rows={} seconds={:.2} events_per_sec={rate:.0}",
                s.events, s.output_rows, s.seconds
            );
            Some(rate)
        }
        Err(e) => {
            println!("{name:<18} {backend:<8} failed: {e}");
            None
        }
    }
}

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let events = env_count("WEIR_BENCH_EVENTS", 100_000_000);
    let repeats = env_count("WEIR_BENCH_REPEATS", 1).max(1);
    let cases = [
        ("tumbling-1s", events, 10_000, "--window 1s"),
        ("sliding-10s-1s", events, 10_000, "--window 10s --slide 1s"),
        ("session-50ms", events / 10, 100_000, "--session-gap 50ms"),
    ];
    let mut rates: BTreeMap<(String, &str), f64> = BTreeMap::new();
    for backend in ["hashmap", "rocksdb"] {
        for (name, n, keys, windows) in cases {
            let full = format!("{name}-{backend}");
            if !filters.is_empty() && !filters.iter().any(|f| full.contains(f.as_str())) {
                continue;
            }
            let mut best: Option<f64> = None;
            for _ in 0..repeats {
                if let Some(r) = run(name, backend, n, keys, windows) {
                    best = Some(best.map_or(r, |b: f64| b.max(r)));
                }
            }
            if let Some(r) = best {
                rates.insert((backend.to_string(), name), r);
            }
        }
    }
    for backend in ["hashmap", "rocksdb"] {
        if let (Some(t), Some(s)) = (rates.get(&(backend.to_string(), "tumbling-1s")), rates.get(&(backend.to_string(), "sliding-10s-1s")))
        {
            println!("{backend}: sliding 10s/1s costs {:.2}x tumbling 1s per event (target <= 2)", t / s);
        }
    }
}
