//! The Nexmark queries of `examples/nexmark`, in this process, with each
//! backend: parallelism 2, checkpoints every 10 s, output discarded.
//!
//! ```text
//! cargo bench --bench nexmark                      # every query, both backends
//! cargo bench --bench nexmark -- q5 q7             # some queries
//! WEIR_BENCH_EVENTS=20M cargo bench --bench nexmark
//! ```
//!
//! Per query and backend: the input events (generated once per source a
//! query reads: the joins read the stream twice and count it once here),
//! wall-clock seconds, events per second, events per second per core
//! (events over the process's CPU seconds, user and system), the
//! checkpoints' duration p50 and p99, the mean bytes written per checkpoint
//! and the state size at the end (the bytes the last checkpoint references).
//!
//! A run that ends in under 5 s is followed by one with enough events for
//! about 6 s (at most 20 times as many): its line is the figure.
//!
//! Environment: `WEIR_BENCH_EVENTS` (default 10M), `WEIR_BENCH_BACKENDS`
//! (default `hashmap,rocksdb`).

use std::time::Duration;

use weir::crates::state::BackendKind;
use weir::{JobConfig, StreamEnvironment};
use weir_nexmark::GeneratorConfig;

#[allow(dead_code)]
#[path = "../examples/nexmark/queries.rs"]
mod queries;

use queries::{Input, Output, QUERIES};

/// The allocator of the `nexmark` example (see there for why and what it measured).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU seconds (user and system) the process has used: /proc/self/stat's
/// fields 14 and 15, in clock ticks of 1/100 s.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count from its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // After the name: state is field 3, so utime (14) is at index 11, stime at 12.
    (fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `q` on `events` events; its wall-clock seconds.
fn run(q: &str, backend: &str, events: u64) -> f64 {
    let Ok(dir) = tempfile::tempdir() else { panic!("no temporary directory") };
    let mut c = JobConfig::new(&format!("nexmark-{q}"))
        .with_parallelism(2)
        .with_state_dir(&dir.path().join("state"))
        .with_checkpoints(&dir.path().join("chk").display().to_string(), Duration::from_secs(10));
    c.backend = if backend == "rocksdb" { BackendKind::RocksDb } else { BackendKind::HashMap };
    let env = StreamEnvironment::new(c);
    let input = Input { events, rate: None, config: GeneratorConfig { max_events: Some(events), ..GeneratorConfig::default() } };
    match queries::build(&env, q, &input) {
        Some(Output::Append(rows)) => rows.discard(),
        Some(Output::Upsert(rows)) => rows.discard(),
        None => panic!("no query {q}"),
    };
    let cpu = cpu_seconds();
    let result = match env.execute() {
        Ok(r) => r,
        Err(e) => panic!("{q} {backend}: {e}"),
    };
    let cpu = cpu_seconds() - cpu;
    let seconds = result.duration.as_secs_f64();
    let history = &result.checkpoints.history;
    let mut durations: Vec<Duration> = history.iter().map(|c| c.duration).collect();
    durations.sort();
    let bytes = history.iter().map(|c| c.bytes_written).sum::<u64>() / history.len().max(1) as u64;
    let state = history.last().map_or(0, |c| c.bytes_referenced);
    println!(
        "{q:<4} {backend:<8} events={events} seconds={seconds:.2} events_per_sec={:.0} per_core={:.0} checkpoints={} \
         p50_ms={} p99_ms={} bytes_per_checkpoint={bytes} state_bytes={state}",
        events as f64 / seconds,
        events as f64 / cpu.max(0.01),
        history.len(),
        percentile(&durations, 0.5).as_millis(),
        percentile(&durations, 0.99).as_millis(),
    );
    seconds
}

fn main() {
    let events = std::env::var("WEIR_BENCH_EVENTS").ok().and_then(|v| weir::parse_count(&v).ok()).unwrap_or(10_000_000);
    let backends = std::env::var("WEIR_BENCH_BACKENDS").unwrap_or_else(|_| "hashmap,rocksdb".into());
    // `cargo bench` passes `--bench`; other arguments name queries.
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    for q in QUERIES.iter().filter(|q| wanted.is_empty() || wanted.iter().any(|w| w == *q)) {
        for backend in backends.split(',') {
            let seconds = run(q, backend, events);
            if seconds < 5.0 {
                // Too short to say much: again, with enough events for about 6 s.
                let more = ((events as f64 * 6.0 / seconds.max(0.1)) as u64).min(events * 20);
                run(q, backend, more);
            }
        }
    }
}
