//! The 23 Nexmark queries on the generated Nexmark stream, exactly once.
//!
//! ```text
//! cargo run --release --example nexmark -- --query q5 --events 10M --output out/ \
//!     --checkpoint-dir /tmp/chk --checkpoint-interval 10s --from-checkpoint latest
//! cargo run --release --example nexmark -- --dump-events events.jsonl --events 1000
//! ```
//!
//! Queries whose rows never change write them with the exactly-once file
//! sink; those whose results change (q4, q6, q15 to q19) write `key,value`
//! upserts with the upsert sink, whose files hold the latest value of each
//! key. Without `--output` the rows are counted and dropped (a benchmark).
//! The README lists the queries, their columns and how each is expressed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use weir::{parse_count, JobArgs, StreamEnvironment};
use weir_nexmark::GeneratorConfig;

#[path = "queries.rs"]
pub mod queries;

use queries::{Input, Output};

/// The allocator of this program: a Nexmark bid carries three strings that
/// are allocated on the source's thread and freed on the thread of the
/// operator that consumes it. glibc's `free` of memory from another thread's
/// arena takes that arena's lock and consolidates it; mimalloc frees it into
/// a per-thread list. Measured with q16 on RocksDB, 10M events: 227-232 k
/// events/s per core against 195-210 k with glibc's allocator, in alternating runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nexmark queries q0 to q22 on a generated stream.
#[derive(Debug, Clone, Parser)]
#[command(name = "nexmark", version)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,

    /// The query to run: q0 to q22
    #[arg(long, value_name = "QUERY", default_value = "q0")]
    pub query: String,

    /// Events to generate (suffixes k, M)
    #[arg(long, value_name = "N", value_parser = parse_count, default_value = "1M")]
    pub events: u64,

    /// Throttle the events to this many per second (wall clock)
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,

    /// The generator's seed
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Events per second of event time: the spacing of the events' times
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub events_per_second: u64,

    /// Write the query's rows exactly once into files in DIR
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Write the events as JSON lines into FILE and run no query
    #[arg(long, value_name = "FILE")]
    pub dump_events: Option<PathBuf>,
}

/// The input the flags describe.
pub fn input(args: &Args) -> Input {
    let config = GeneratorConfig {
        seed: args.seed,
        events_per_second: args.events_per_second,
        max_events: Some(args.events),
        ..GeneratorConfig::default()
    };
    Input { events: args.events, rate: args.rate, config }
}

/// Builds and runs the job; the number of events read.
pub fn run(args: &Args) -> Result<u64, weir::Error> {
    let env = StreamEnvironment::from_args(&format!("nexmark-{}", args.query), &args.job)?;
    let Some(output) = queries::build(&env, &args.query, &input(args)) else {
        return Err(weir::Error::Args(format!("unknown query {:?}: choose one of q0 to q22", args.query)));
    };
    match (output, &args.output) {
        (Output::Append(rows), Some(dir)) => rows.write_to_files(dir).uid("output"),
        (Output::Upsert(rows), Some(dir)) => rows.write_upserts_to_files(dir).uid("output"),
        (Output::Append(rows), None) => rows.discard(),
        (Output::Upsert(rows), None) => rows.discard(),
    };
    Ok(env.execute()?.counter("events"))
}

fn dump(args: &Args, file: &PathBuf) -> Result<(), String> {
    let input = input(args);
    let events = weir_nexmark::Generator::new(input.config, 0..input.events).map_err(|e| e.to_string())?;
    let out = std::fs::File::create(file).map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    let mut out = std::io::BufWriter::new(out);
    weir_nexmark::write_json_lines(&mut out, events).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    std::io::Write::flush(&mut out).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

#[allow(dead_code)]
fn main() -> ExitCode {
    weir::init_logging();
    let args = Args::parse();
    if let Some(file) = &args.dump_events {
        return match dump(&args, file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nexmark: error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(events) => {
            println!("events={events}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nexmark: error: {e}");
            ExitCode::FAILURE
        }
    }
}
