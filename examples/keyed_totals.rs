//! Keeps a running count and the last event time per key, in value state
//! padded to `--value-bytes`, and emits `<key>,<count>` on every update.
//!
//! ```text
//! cargo run --release --example keyed_totals -- --generate 20M --keys 5M --hot-keys 50k \
//!     --value-bytes 200 --state-backend rocksdb --checkpoint-dir /tmp/kt-chk --checkpoint-interval 2s
//! ```
//!
//! Its generator makes event `i < K` with key `i` (filling the state with
//! every key once) and event `i >= K` with key `(i * 2654435761) mod H`, so
//! after the fill only `H` keys change.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde::{Deserialize, Serialize};
use weir::{parse_count, Event, JobArgs, KeyedProcessFunction, OpenContext, ProcessContext, StreamEnvironment, UserError, ValueState};

/// Keeps a running count per key in (padded) value state.
#[derive(Debug, Clone, Parser)]
#[command(name = "keyed_totals", version)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,

    /// Generate N events (suffixes k, M, G)
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub generate: u64,

    /// Keys filled first: event i < K has key i
    #[arg(long, value_name = "K", default_value = "1M", value_parser = parse_count)]
    pub keys: u64,

    /// Keys that change after the fill: event i >= K has key (i * 2654435761) mod H
    #[arg(long, value_name = "H", default_value = "10k", value_parser = parse_count)]
    pub hot_keys: u64,

    /// Bytes of each key's value in state
    #[arg(long, value_name = "B", default_value = "100", value_parser = parse_count)]
    pub value_bytes: u64,

    /// Generated events per second of event time
    #[arg(long, value_name = "R", default_value = "1M", value_parser = parse_count)]
    pub event_rate: u64,

    /// Throttle the input to this many events per second (wall clock)
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,

    /// Write the updates exactly once into files in DIR
    #[arg(long, value_name = "DIR", conflicts_with = "upsert_output")]
    pub output: Option<PathBuf>,

    /// Keep each key's latest count, exactly once, as a table in DIR (`table-*` files of `<key>\t<count>`)
    #[arg(long, value_name = "DIR")]
    pub upsert_output: Option<PathBuf>,
}

/// A key's total.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Total {
    pub count: u64,
    pub last_event_ms: i64,
    /// Makes the value `--value-bytes` long.
    pub padding: Vec<u8>,
}
weir::state_type!(Total, "keyed_totals.Total");

/// Updates each key's total.
#[derive(Clone)]
pub struct Totals {
    padding: usize,
    total: Option<ValueState<Total>>,
}

impl KeyedProcessFunction<u64, u64, (u64, u64)> for Totals {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.total = Some(ValueState::register(ctx.backend(), "total")?);
        Ok(())
    }

    fn process(&mut self, _key: u64, ctx: &mut ProcessContext<'_, u64, (u64, u64)>) -> Result<(), UserError> {
        let total = self.total.as_ref().ok_or("process called before open")?;
        let ts = ctx.timestamp();
        let padding = self.padding;
        let mut count = 0;
        total.update(
            &mut ctx.state(),
            || Total { count: 0, last_event_ms: ts, padding: vec![0; padding] },
            |t| {
                t.count += 1;
                t.last_event_ms = ts;
                count = t.count;
            },
        )?;
        let key = *ctx.key();
        ctx.emit((key, count));
        Ok(())
    }
}

/// The generator's key of event `i`.
pub fn generated_key(i: u64, keys: u64, hot_keys: u64) -> u64 {
    if i < keys {
        i
    } else {
        ((u128::from(i) * 2_654_435_761) % u128::from(hot_keys.max(1))) as u64
    }
}

/// What a run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub events: u64,
    pub output_rows: u64,
    pub seconds: f64,
    /// Every checkpoint the run completed.
    pub history: Vec<weir::crates::runtime::CheckpointStats>,
    /// How long the restore took, if the run restored.
    pub restore_time: Option<std::time::Duration>,
    /// How the restore got its files (downloaded or local recovery).
    pub restore_fetch: Option<weir::crates::runtime::FetchStats>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = if self.seconds > 0.0 { self.events as f64 / self.seconds } else { 0.0 };
        // The same line as windowed_count's: no windows here.
        write!(
            f,
            "events={} windows_fired=0 output_rows={} seconds={:.3} events_per_sec={:.0}",
            self.events, self.output_rows, self.seconds, rate
        )
    }
}

/// Builds and runs the job.
pub fn run(args: &Args) -> Result<Summary, weir::Error> {
    run_with(args, |_| {})
}

/// Builds and runs the job; `on_start` gets its handle once it runs.
pub fn run_with(args: &Args, on_start: impl Fn(weir::crates::runtime::JobControl) + Send + Sync + 'static) -> Result<Summary, weir::Error> {
    if args.keys == 0 || args.hot_keys == 0 || args.event_rate == 0 {
        return Err(weir::Error::Args("--keys, --hot-keys and --event-rate must be at least 1".into()));
    }
    let mut env = StreamEnvironment::from_args("keyed_totals", &args.job)?;
    env.on_start(on_start);
    let (keys, hot, rate) = (args.keys, args.hot_keys, args.event_rate);
    let padding = (args.value_bytes as usize).saturating_sub(24);
    let updates = env
        .generate(args.generate, args.rate, 0, move |i| {
            Event::new((u128::from(i) * 1000 / u128::from(rate)) as i64, generated_key(i, keys, hot))
        })
        .uid("source")
        .key_by(|k: &u64| *k)
        .process(Totals { padding, total: None })
        .uid("totals");
    match (&args.output, &args.upsert_output) {
        (Some(dir), _) => updates.map(|(key, count)| format!("{key},{count}")).write_to_files(dir).uid("output"),
        (None, Some(dir)) => updates.write_upserts_to_files(dir).uid("output"),
        (None, None) => updates.discard().uid("output"),
    };
    let result = env.execute()?;
    Ok(Summary {
        events: result.counter("events"),
        output_rows: result.counter("output_rows"),
        seconds: result.duration.as_secs_f64(),
        history: result.checkpoints.history,
        restore_time: result.restore_time,
        restore_fetch: result.restore_fetch,
    })
}

#[allow(dead_code)]
fn main() -> ExitCode {
    weir::init_logging();
    let args = Args::parse();
    match run(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyed_totals: error: {e}");
            ExitCode::FAILURE
        }
    }
}
