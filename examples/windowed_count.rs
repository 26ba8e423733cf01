//! Counts events per key in event-time windows: tumbling by default,
//! sliding with `--slide`, sessions with `--session-gap`.
//!
//! ```text
//! cargo run --release --example windowed_count -- --generate 10M --keys 10000 --parallelism 2
//! cargo run --release --example windowed_count -- --input events.csv --output out/ \
//!     --checkpoint-dir /tmp/chk --checkpoint-interval 1s --from-checkpoint latest
//! ```
//!
//! Input lines are `<event_time_ms>,<key>` with an unsigned integer key; a
//! malformed line fails the job with its file and line number (the output
//! committed so far stays). Output lines are `<window_start_ms>,<key>,<count>`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weir::crates::operators::WindowAssigner;
use weir::{parse_count, parse_duration, Event, JobArgs, SessionWindows, SlidingWindows, StreamEnvironment, TumblingWindows};

/// Counts events per key in tumbling event-time windows.
#[derive(Debug, Clone, Parser)]
#[command(name = "windowed_count", version)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,

    /// Read `<event_time_ms>,<key>` lines from a file, or from the files of a directory in name order
    #[arg(long, value_name = "PATH", conflicts_with = "generate")]
    pub input: Option<PathBuf>,

    /// Generate N events instead (suffixes k, M, G): event i has key (i * 2654435761) mod K and time i * 1000 / R ms
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub generate: Option<u64>,

    /// Distinct keys of the generator
    #[arg(long, value_name = "K", default_value = "10000", value_parser = parse_count)]
    pub keys: u64,

    /// Generated events per second of event time (R)
    #[arg(long, value_name = "R", default_value = "1M", value_parser = parse_count)]
    pub event_rate: u64,

    /// Throttle the input to this many events per second (wall clock)
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,

    /// Window size
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub window: Duration,

    /// Sliding windows: a window of --window starts every DURATION (default: tumbling windows)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "session_gap")]
    pub slide: Option<Duration>,

    /// Session windows instead: a key's session ends DURATION after its last event
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub session_gap: Option<Duration>,

    /// How late events may arrive; the watermark trails the newest event time by this much
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    pub out_of_orderness: Duration,

    /// Write results exactly once into files in DIR (visible when the checkpoint covering them completes)
    #[arg(long, value_name = "DIR", conflicts_with = "print")]
    pub output: Option<PathBuf>,

    /// Print results to stdout
    #[arg(long)]
    pub print: bool,
}

/// What a run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub events: u64,
    pub windows_fired: u64,
    pub output_rows: u64,
    pub seconds: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = if self.seconds > 0.0 { self.events as f64 / self.seconds } else { 0.0 };
        write!(
            f,
            "events={} windows_fired={} output_rows={} seconds={:.3} events_per_sec={:.0}",
            self.events, self.windows_fired, self.output_rows, self.seconds, rate
        )
    }
}

/// The generator's key of event `i`.
pub fn generated_key(i: u64, keys: u64) -> u64 {
    ((u128::from(i) * 2_654_435_761) % u128::from(keys.max(1))) as u64
}

/// The generator's event time of event `i`, in ms.
pub fn generated_time(i: u64, event_rate: u64) -> i64 {
    (u128::from(i) * 1000 / u128::from(event_rate.max(1))) as i64
}

/// Parses an input line `<event_time_ms>,<key>`.
pub fn parse_line(line: &str) -> Result<Event<u64>, String> {
    let (ts, key) = line.split_once(',').ok_or("expected <event_time_ms>,<key>")?;
    let ts: i64 = ts.trim().parse().map_err(|_| format!("event time '{}' is not an integer", ts.trim()))?;
    let key: u64 = key.trim().parse().map_err(|_| format!("key '{}' is not an unsigned integer", key.trim()))?;
    Ok(Event::new(ts, key))
}

/// Builds and runs the job.
pub fn run(args: &Args) -> Result<Summary, weir::Error> {
    let env = StreamEnvironment::from_args("windowed_count", &args.job)?;
    let ooo = args.out_of_orderness.as_millis() as i64;
    let events = match (&args.input, args.generate) {
        (Some(path), None) => env.read_lines(path, args.rate, ooo, parse_line),
        (None, Some(n)) => {
            let (keys, event_rate) = (args.keys, args.event_rate);
            if keys == 0 {
                return Err(weir::Error::Args("--keys must be at least 1".into()));
            }
            if event_rate == 0 {
                return Err(weir::Error::Args("--event-rate must be at least 1".into()));
            }
            env.generate(n, args.rate, ooo, move |i| Event::new(generated_time(i, event_rate), generated_key(i, keys)))
        }
        _ => return Err(weir::Error::Args("give exactly one of --input PATH and --generate N".into())),
    };
    let windows: WindowAssigner = match (args.slide, args.session_gap) {
        (Some(slide), _) => SlidingWindows::of(args.window, slide).into(),
        (None, Some(gap)) => SessionWindows::with_gap(gap).into(),
        (None, None) => TumblingWindows::of(args.window).into(),
    };
    let counts = events.uid("source").key_by(|key: &u64| *key).window(windows).count().uid("window-count");
    match (&args.output, args.print) {
        (Some(dir), _) => counts.write_to_files(dir).uid("output"),
        (None, true) => counts.print().uid("output"),
        (None, false) => counts.discard().uid("output"),
    };
    let result = env.execute()?;
    Ok(Summary {
        events: result.counter("events"),
        windows_fired: result.counter("windows_fired"),
        output_rows: result.counter("output_rows"),
        seconds: result.duration.as_secs_f64(),
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
            eprintln!("windowed_count: error: {e}");
            ExitCode::FAILURE
        }
    }
}
