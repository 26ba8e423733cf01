//! Counts events per key in one-second event-time windows, from a Kafka
//! topic to a Kafka topic, exactly once.
//!
//! ```text
//! scripts/kafka.sh start /tmp/weir-kafka 9092
//! cargo run --release --features kafka --example kafka_windowed_count -- \
//!     --bootstrap-servers 127.0.0.1:9092 --produce 1M --bounded \
//!     --checkpoint-dir /tmp/chk --checkpoint-interval 1s
//! ```
//!
//! Input records have the key as their key (decimal) and `<event_time_ms>,<key>`
//! as their value, at timestamp `<event_time_ms>`; `--produce N` creates the
//! topics and writes N such records first (the generator of the
//! `windowed_count` example). A record that does not parse fails the job
//! with its topic, partition and offset. Output records have the key as
//! their key and `<window_start_ms>,<key>,<count>` as their value, at the
//! window's last millisecond; consumers see them at isolation level
//! `read_committed` once the checkpoint covering them completes.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use weir::kafka::{tools, DeliveryGuarantee, KafkaDeserializer, KafkaRecord, KafkaSinkConfig, KafkaSourceConfig, ProducerRecord};
use weir::{parse_count, parse_duration, JobArgs, StreamEnvironment, TumblingWindows, WindowResult};

/// The delivery guarantee of the output.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Delivery {
    /// A Kafka transaction per checkpoint.
    ExactlyOnce,
    /// Flushed at every checkpoint; written again after a restore.
    AtLeastOnce,
}

/// Counts events per key in event-time windows, from topic to topic.
#[derive(Debug, Clone, Parser)]
#[command(name = "kafka_windowed_count", version)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,

    /// The brokers, host:port[,host:port...]
    #[arg(long, value_name = "SERVERS", default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,

    /// The topic to read
    #[arg(long, value_name = "TOPIC", default_value = "events")]
    pub input_topic: String,

    /// The topic to write
    #[arg(long, value_name = "TOPIC", default_value = "counts")]
    pub output_topic: String,

    /// Create the topics and write N generated events to the input topic first (suffixes k, M, G), with event times from now
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub produce: Option<u64>,

    /// Only create the topics and write --produce events, then exit
    #[arg(long, requires = "produce")]
    pub produce_only: bool,

    /// Partitions of the topics created by --produce
    #[arg(long, value_name = "P", default_value = "4")]
    pub partitions: i32,

    /// Distinct keys of the generated events
    #[arg(long, value_name = "K", default_value = "1000", value_parser = parse_count)]
    pub keys: u64,

    /// Generated events per second of event time
    #[arg(long, value_name = "R", default_value = "100k", value_parser = parse_count)]
    pub event_rate: u64,

    /// Read up to the end of the input topic as it is when the job first starts, then end
    #[arg(long)]
    pub bounded: bool,

    /// The output's delivery guarantee
    #[arg(long, value_enum, default_value = "exactly-once")]
    pub delivery: Delivery,

    /// Window size
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub window: Duration,

    /// How late events may arrive; each partition's watermark trails its newest event time by this much
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_duration)]
    pub out_of_orderness: Duration,

    /// A partition without records for this long stops holding back event time
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub partition_idleness: Option<Duration>,

    /// How often to look for partitions added to the input topic
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub discovery_interval: Duration,

    /// The consumer group the source commits its offsets to when a checkpoint completes (for monitoring)
    #[arg(long, value_name = "GROUP")]
    pub group_id: Option<String>,
}

/// The generator's key of event `i`.
pub fn generated_key(i: u64, keys: u64) -> u64 {
    ((u128::from(i) * 2_654_435_761) % u128::from(keys.max(1))) as u64
}

/// The generator's event time of event `i`, in ms.
pub fn generated_time(i: u64, event_rate: u64) -> i64 {
    (u128::from(i) * 1000 / u128::from(event_rate.max(1))) as i64
}

/// Reads input records `<event_time_ms>,<key>`: the key is the element,
/// the event time is taken from the value.
#[derive(Clone, Copy)]
pub struct Events;

impl KafkaDeserializer<(i64, u64)> for Events {
    fn deserialize(&mut self, r: &KafkaRecord<'_>) -> Result<(i64, u64), String> {
        let value = r.value.ok_or("the record has no value")?;
        let text = std::str::from_utf8(value).map_err(|_| "the value is not UTF-8".to_string())?;
        let (ts, key) = text.split_once(',').ok_or("expected <event_time_ms>,<key>")?;
        let ts = ts.trim().parse().map_err(|_| format!("event time '{}' is not an integer", ts.trim()))?;
        let key = key.trim().parse().map_err(|_| format!("key '{}' is not an unsigned integer", key.trim()))?;
        Ok((ts, key))
    }
    fn event_time(&mut self, _: &KafkaRecord<'_>, (ts, _): &(i64, u64)) -> i64 {
        *ts
    }
}

/// Creates the topics and writes `n` generated events, event `i` to
/// partition `i mod partitions` (so that each partition's event time keeps
/// increasing).
pub fn produce(args: &Args, n: u64) -> Result<u64, String> {
    tools::create_topic(&args.bootstrap_servers, &args.input_topic, args.partitions)?;
    tools::create_topic(&args.bootstrap_servers, &args.output_topic, args.partitions)?;
    let (keys, rate, parts) = (args.keys, args.event_rate, args.partitions.max(1) as u64);
    // Event times from now on (a whole second): a broker deletes records
    // whose timestamps are older than its retention (7 days by default).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let base = now - now % 1000;
    let records = (0..n).map(|i| {
        let (ts, key) = (base + generated_time(i, rate), generated_key(i, keys));
        tools::Record {
            partition: Some((i % parts) as i32),
            timestamp: ts,
            key: key.to_string().into_bytes(),
            value: format!("{ts},{key}").into_bytes(),
        }
    });
    tools::produce(&args.bootstrap_servers, &args.input_topic, records)
}

/// Builds and runs the job; returns the events read and the seconds taken.
pub fn run(args: &Args) -> Result<(u64, f64), weir::Error> {
    if let Some(n) = args.produce {
        produce(args, n).map_err(|e| weir::Error::Args(format!("cannot write the input: {e}")))?;
        if args.produce_only {
            return Ok((0, 0.0));
        }
    }
    let env = StreamEnvironment::from_args("kafka_windowed_count", &args.job)?;
    let mut source = KafkaSourceConfig::new(&args.bootstrap_servers, &[&args.input_topic])
        .out_of_orderness(args.out_of_orderness)
        .discover_partitions_every(Some(args.discovery_interval));
    if args.bounded {
        source = source.bounded();
    }
    if let Some(d) = args.partition_idleness {
        source = source.partition_idleness(d);
    }
    if let Some(g) = &args.group_id {
        source = source.group_id(g);
    }
    let guarantee = match args.delivery {
        Delivery::ExactlyOnce => DeliveryGuarantee::ExactlyOnce,
        Delivery::AtLeastOnce => DeliveryGuarantee::AtLeastOnce,
    };
    // Two jobs writing at once must not share transactional ids (each would
    // fence the other): name them after the output topic.
    let sink = KafkaSinkConfig::new(&args.bootstrap_servers, &args.output_topic)
        .guarantee(guarantee)
        .transactional_id_prefix(&format!("kafka_windowed_count-{}", args.output_topic));
    env.from_kafka(source, Events)
        .uid("source")
        .key_by(|(_, key): &(i64, u64)| *key)
        .window(TumblingWindows::of(args.window))
        .count()
        .uid("window-count")
        .sink_to_kafka(sink, |r: &WindowResult<u64, u64>| ProducerRecord::value(r.to_string()).with_key(r.key.to_string()))
        .uid("output");
    let result = env.execute()?;
    Ok((result.counter("events"), result.duration.as_secs_f64()))
}

#[allow(dead_code)]
fn main() -> ExitCode {
    weir::init_logging();
    let args = Args::parse();
    match run(&args) {
        Ok((events, seconds)) => {
            let rate = if seconds > 0.0 { events as f64 / seconds } else { 0.0 };
            println!("events={events} seconds={seconds:.3} events_per_sec={rate:.0}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kafka_windowed_count: error: {e}");
            ExitCode::FAILURE
        }
    }
}
