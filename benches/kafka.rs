//! Topic to job to topic throughput on a real Kafka broker, with the output
//! exactly once (a transaction per checkpoint) and at least once, parallelism 2.
//!
//! ```text
//! cargo bench --features kafka --bench kafka                # starts a broker (scripts/kafka.sh), writes the input
//! cargo bench --features kafka --bench kafka -- copy        # runs whose name holds a word
//! WEIR_KAFKA_BOOTSTRAP=127.0.0.1:9092 WEIR_KAFKA_INPUT=events cargo bench --features kafka --bench kafka
//! ```
//!
//! The input is the `kafka_windowed_count` example's: N records in 4
//! partitions, key `(i * 2654435761) mod 10000` in decimal, value
//! `<event_time_ms>,<key>`, 1M events per second of event time. Jobs:
//!
//! * `copy`: every record written unchanged (key and value) to the output
//!   topic: the sink carries the whole input;
//! * `windowed_count`: the example's job, a count per key in 1 s tumbling
//!   windows (one output record per key and second).
//!
//! Each reads the input topic from the start to its end (`bounded`), with a
//! checkpoint every 10 s, and writes to a fresh output topic; the time is
//! from the job's start to its end, the final checkpoint (and commit)
//! included. The copy's output is counted at `read_committed` afterwards.
//!
//! Environment: `WEIR_BENCH_EVENTS` (default 5M, when the bench writes the
//! input), `WEIR_KAFKA_BOOTSTRAP` and `WEIR_KAFKA_INPUT` (a broker and an
//! input topic written by someone else, as `benches/side_by_side_kafka.sh`
//! does).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use weir::kafka::{tools, DeliveryGuarantee, KafkaRecord, KafkaSinkConfig, KafkaSourceConfig, ProducerRecord};
use weir::{JobConfig, StreamEnvironment};

#[allow(dead_code)]
#[path = "../examples/kafka_windowed_count.rs"]
mod kafka_windowed_count;

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| weir::parse_count(&v).ok()).unwrap_or(default)
}

/// A broker this bench started, stopped on drop.
struct OwnBroker(tempfile::TempDir);

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.0.path()).status();
    }
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh")
}

fn start_broker() -> (OwnBroker, String) {
    let Ok(dir) = tempfile::tempdir() else { panic!("no temporary directory") };
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(19092);
    let ok = Command::new("bash")
        .arg(script())
        .arg("start")
        .arg(dir.path())
        .arg(port.to_string())
        .env("WEIR_KAFKA_WATCH_PID", std::process::id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "scripts/kafka.sh could not start a broker (run scripts/setup.sh)");
    (OwnBroker(dir), format!("127.0.0.1:{port}"))
}

/// Copies key and value.
fn raw(r: &KafkaRecord<'_>) -> Result<(Vec<u8>, Vec<u8>), String> {
    Ok((r.key.unwrap_or_default().to_vec(), r.value.unwrap_or_default().to_vec()))
}

fn copy(bootstrap: &str, input: &str, output: &str, guarantee: DeliveryGuarantee) -> (u64, f64) {
    let Ok(dir) = tempfile::tempdir() else { panic!("no temporary directory") };
    let config = JobConfig::new("kafka-bench")
        .with_parallelism(2)
        .with_checkpoints(&format!("{}/chk", dir.path().display()), std::time::Duration::from_secs(10))
        .with_state_dir(&dir.path().join("state"));
    let env = StreamEnvironment::new(config);
    let sink = KafkaSinkConfig::new(bootstrap, output).guarantee(guarantee).transactional_id_prefix(output);
    env.from_kafka(KafkaSourceConfig::new(bootstrap, &[input]).bounded(), raw).sink_to_kafka(sink, |(k, v): &(Vec<u8>, Vec<u8>)| {
        ProducerRecord { key: Some(k.clone()), value: Some(v.clone()), ..Default::default() }
    });
    let started = Instant::now();
    let result = match env.execute() {
        Ok(r) => r,
        Err(e) => panic!("copy: {e}"),
    };
    (result.counter("events"), started.elapsed().as_secs_f64())
}

fn windowed(bootstrap: &str, input: &str, output: &str, delivery: &str) -> (u64, f64) {
    let Ok(dir) = tempfile::tempdir() else { panic!("no temporary directory") };
    let line = format!(
        "kafka_windowed_count --bootstrap-servers {bootstrap} --input-topic {input} --output-topic {output} --bounded \
         --delivery {delivery} --parallelism 2 --checkpoint-dir {}/chk --checkpoint-interval 10s --state-dir {}/state",
        dir.path().display(),
        dir.path().display()
    );
    let args = match <kafka_windowed_count::Args as clap::Parser>::try_parse_from(line.split_whitespace()) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let started = Instant::now();
    match kafka_windowed_count::run(&args) {
        Ok((events, _)) => (events, started.elapsed().as_secs_f64()),
        Err(e) => panic!("windowed_count: {e}"),
    }
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let (_broker, bootstrap) = match std::env::var("WEIR_KAFKA_BOOTSTRAP") {
        Ok(b) => (None, b),
        Err(_) => {
            let (b, addr) = start_broker();
            (Some(b), addr)
        }
    };
    let input = match std::env::var("WEIR_KAFKA_INPUT") {
        Ok(t) => t,
        Err(_) => {
            let n = env_count("WEIR_BENCH_EVENTS", 5_000_000);
            let line = format!(
                "kafka_windowed_count --bootstrap-servers {bootstrap} --input-topic bench-in --output-topic bench-unused \
                 --produce {n} --produce-only --keys 10000 --event-rate 1000000"
            );
            let args = match <kafka_windowed_count::Args as clap::Parser>::try_parse_from(line.split_whitespace()) {
                Ok(a) => a,
                Err(e) => panic!("{e}"),
            };
            let t = Instant::now();
            if let Err(e) = kafka_windowed_count::run(&args) {
                panic!("writing the input: {e}");
            }
            eprintln!("wrote {n} input records in {:.1} s", t.elapsed().as_secs_f64());
            "bench-in".to_string()
        }
    };
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let runs: [(&str, &str, DeliveryGuarantee); 4] = [
        ("copy", "exactly-once", DeliveryGuarantee::ExactlyOnce),
        ("copy", "at-least-once", DeliveryGuarantee::AtLeastOnce),
        ("windowed_count", "exactly-once", DeliveryGuarantee::ExactlyOnce),
        ("windowed_count", "at-least-once", DeliveryGuarantee::AtLeastOnce),
    ];
    for (job, delivery, guarantee) in runs {
        let name = format!("{job} {delivery}");
        if !wanted(&name) {
            continue;
        }
        let output = format!("bench-out-{job}-{delivery}-{stamp}");
        if let Err(e) = tools::create_topic(&bootstrap, &output, 4) {
            panic!("creating {output}: {e}");
        }
        let (events, seconds) =
            if job == "copy" { copy(&bootstrap, &input, &output, guarantee) } else { windowed(&bootstrap, &input, &output, delivery) };
        let mut line = format!("weir {job} {delivery} events={events} seconds={seconds:.2} events_per_sec={:.0}", events as f64 / seconds);
        if job == "copy" {
            let written = tools::read_all(&bootstrap, &output, "read_committed").map(|r| r.len()).unwrap_or(0);
            line.push_str(&format!(" output_read_committed={written}"));
        }
        println!("{line}");
    }
}
