//! Small blocking helpers around the brokers, for examples, benchmarks and
//! tests: create a topic, add partitions, write records, read what is
//! committed. Jobs use the source and sink instead.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A record read back: partition, offset, timestamp, key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (ms).
    pub timestamp: Option<i64>,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create()
}

fn one(results: Vec<rdkafka::admin::TopicResult>, ok_if: RDKafkaErrorCode) -> Result<(), String> {
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, code)) if code == ok_if => {}
            Err((topic, code)) => return Err(format!("topic {topic}: {code}")),
        }
    }
    Ok(())
}

/// Creates `topic` with `partitions` partitions (replication factor 1),
/// unless it exists.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let admin = admin(bootstrap).map_err(|e| e.to_string())?;
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics([&new], &opts)).map_err(|e| e.to_string())?;
    one(results, RDKafkaErrorCode::TopicAlreadyExists)
}

/// Grows `topic` to `partitions` partitions.
pub fn add_partitions(bootstrap: &str, topic: &str, partitions: usize) -> Result<(), String> {
    let admin = admin(bootstrap).map_err(|e| e.to_string())?;
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let new = NewPartitions::new(topic, partitions);
    let results = futures::executor::block_on(admin.create_partitions([&new], &opts)).map_err(|e| e.to_string())?;
    one(results, RDKafkaErrorCode::NoError)
}

/// A record to write with [`produce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its partition (by the key's hash if `None`).
    pub partition: Option<i32>,
    /// Its timestamp (ms; librdkafka writes the current time for 0).
    pub timestamp: i64,
    /// Its key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// Writes `records` to `topic` and waits until every one is acknowledged.
pub fn produce(bootstrap: &str, topic: &str, records: impl IntoIterator<Item = Record>) -> Result<u64, String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("acks", "all")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .map_err(|e| e.to_string())?;
    let mut n = 0;
    for rec in records {
        let mut r = BaseRecord::to(topic).key(rec.key.as_slice()).payload(rec.value.as_slice()).timestamp(rec.timestamp);
        if let Some(p) = rec.partition {
            r = r.partition(p);
        }
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e.to_string()),
            }
        }
        n += 1;
        if n % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(TIMEOUT).map_err(|e| e.to_string())?;
    Ok(n)
}

/// Reads every record of `topic` visible at isolation level `level`
/// (`read_committed` or `read_uncommitted`), up to the partitions' end
/// offsets now, in partition and offset order.
pub fn read_all(bootstrap: &str, topic: &str, level: &str) -> Result<Vec<ReadRecord>, String> {
    let consumer: BaseConsumer<crate::source::SourceContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "weir-tools-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", level)
        .create_with_context(crate::source::SourceContext)
        .map_err(|e| e.to_string())?;
    let md = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(|e| e.to_string())?;
    let partitions: Vec<i32> =
        md.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning).map_err(|e| e.to_string())?;
        let (_, high) = consumer.fetch_watermarks(topic, *p, TIMEOUT).map_err(|e| e.to_string())?;
        ends.insert(*p, high);
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut done: BTreeMap<i32, bool> = ends.iter().map(|(p, end)| (*p, *end == 0)).collect();
    let deadline = Instant::now() + TIMEOUT;
    while done.values().any(|d| !d) {
        if Instant::now() > deadline {
            return Err(format!("reading {topic} took longer than {TIMEOUT:?}"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // At isolation read_committed the end is the last stable offset.
                done.insert(p, true);
            }
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(m)) => {
                let p = m.partition();
                if ends.get(&p).is_some_and(|end| m.offset() + 1 >= *end) {
                    done.insert(p, true);
                }
                out.push(ReadRecord {
                    partition: p,
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                });
            }
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}
