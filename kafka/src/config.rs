//! What a Kafka source or sink is told: brokers, topics, where to start,
//! delivery guarantee, and any librdkafka property on top.

use std::time::Duration;

use rdkafka::ClientConfig;

/// Where a fresh start (no checkpoint) begins to read each partition. A
/// restore always resumes from the checkpointed offsets; partitions added
/// after the checkpoint, or while the job runs, are read from the earliest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The earliest offset still in the partition.
    #[default]
    Earliest,
    /// The end of the partition: only records written from now on.
    Latest,
    /// The first record with a timestamp at or after this one (ms).
    Timestamp(i64),
    /// The offsets committed by the source's consumer group (the earliest
    /// where the group has none).
    GroupOffsets,
}

/// The configuration of a Kafka source, shared by its instances.
#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    pub(crate) bootstrap_servers: String,
    pub(crate) topics: Vec<String>,
    pub(crate) group_id: Option<String>,
    pub(crate) start: StartFrom,
    pub(crate) bounded: bool,
    pub(crate) out_of_orderness_ms: i64,
    pub(crate) idleness: Option<Duration>,
    pub(crate) discovery_interval: Option<Duration>,
    pub(crate) properties: Vec<(String, String)>,
}

impl KafkaSourceConfig {
    /// Reads `topics` from the cluster at `bootstrap_servers`
    /// (`host:port[,host:port...]`): from the earliest offsets, unbounded,
    /// without out-of-orderness, looking for new partitions every 30 s, at
    /// isolation level `read_committed`.
    pub fn new(bootstrap_servers: &str, topics: &[&str]) -> Self {
        KafkaSourceConfig {
            bootstrap_servers: bootstrap_servers.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            group_id: None,
            start: StartFrom::Earliest,
            bounded: false,
            out_of_orderness_ms: 0,
            idleness: None,
            discovery_interval: Some(Duration::from_secs(30)),
            properties: Vec::new(),
        }
    }
    /// The consumer group whose offsets are committed when a checkpoint
    /// completes, so that lag tools show how far the job has read (the job
    /// itself resumes from its checkpoints, never from the group).
    pub fn group_id(mut self, group: &str) -> Self {
        self.group_id = Some(group.to_string());
        self
    }
    /// Where a fresh start begins.
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }
    /// Reads up to the end offsets the partitions have when the job first
    /// starts (kept in checkpoints), then ends: a bounded job over a topic.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }
    /// Watermarks trail each partition's highest timestamp by this much.
    pub fn out_of_orderness(mut self, d: Duration) -> Self {
        self.out_of_orderness_ms = d.as_millis() as i64;
        self
    }
    /// A partition without records for this long no longer holds back the
    /// instance's watermark, until its next record.
    pub fn partition_idleness(mut self, d: Duration) -> Self {
        self.idleness = Some(d);
        self
    }
    /// How often to look for partitions added to the topics (`None`: never).
    pub fn discover_partitions_every(mut self, every: Option<Duration>) -> Self {
        self.discovery_interval = every;
        self
    }
    /// Sets a librdkafka consumer property (`security.protocol`,
    /// `fetch.max.bytes`, ...). The source sets `enable.auto.commit` itself.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    pub(crate) fn consumer_config(&self, subtask: u32) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", self.group_id.clone().unwrap_or_else(|| format!("weir-source-{subtask}")))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            // librdkafka stops fetching a partition whose local queue is
            // full and waits 1 s by default before it looks again: long
            // enough to starve a source that drains the queue in
            // milliseconds.
            .set("fetch.queue.backoff.ms", "5")
            // Larger fetches: fewer round trips per record.
            .set("max.partition.fetch.bytes", "8388608")
            .set("client.id", format!("weir-source-{subtask}"));
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// What the sink promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryGuarantee {
    /// Every record at least once: the producer is flushed at each barrier,
    /// and records after the restored checkpoint may be written again.
    AtLeastOnce,
    /// Every record exactly once, for consumers at isolation level
    /// `read_committed`: a Kafka transaction per checkpoint, committed when
    /// the checkpoint completes.
    #[default]
    ExactlyOnce,
}

/// The configuration of a Kafka sink, shared by its instances.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    pub(crate) bootstrap_servers: String,
    pub(crate) topic: String,
    pub(crate) guarantee: DeliveryGuarantee,
    pub(crate) transactional_id_prefix: Option<String>,
    pub(crate) transaction_timeout: Duration,
    pub(crate) properties: Vec<(String, String)>,
}

impl KafkaSinkConfig {
    /// Writes to `topic` (unless a record names another) on the cluster at
    /// `bootstrap_servers`, exactly once.
    pub fn new(bootstrap_servers: &str, topic: &str) -> Self {
        KafkaSinkConfig {
            bootstrap_servers: bootstrap_servers.to_string(),
            topic: topic.to_string(),
            guarantee: DeliveryGuarantee::ExactlyOnce,
            transactional_id_prefix: None,
            transaction_timeout: Duration::from_secs(600),
            properties: Vec::new(),
        }
    }
    /// The delivery guarantee.
    pub fn guarantee(mut self, g: DeliveryGuarantee) -> Self {
        self.guarantee = g;
        self
    }
    /// The prefix of the sink's transactional ids (default: the job's name
    /// and the sink's operator id). Two jobs writing at the same time must
    /// not share one: each would fence the other's transactions.
    pub fn transactional_id_prefix(mut self, prefix: &str) -> Self {
        self.transactional_id_prefix = Some(prefix.to_string());
        self
    }
    /// How long a transaction may stay open before the broker aborts it
    /// (`transaction.timeout.ms`; at most the broker's
    /// `transaction.max.timeout.ms`). Longer than the checkpoint interval
    /// plus the longest outage to ride out.
    pub fn transaction_timeout(mut self, d: Duration) -> Self {
        self.transaction_timeout = d;
        self
    }
    /// The delivery guarantee.
    pub fn delivery_guarantee(&self) -> DeliveryGuarantee {
        self.guarantee
    }
    /// The transactional id prefix, if one was set.
    pub fn transactional_prefix(&self) -> Option<&str> {
        self.transactional_id_prefix.as_deref()
    }
    /// Sets a librdkafka producer property (`linger.ms`, `compression.type`, ...).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    pub(crate) fn producer_config(&self, transactional_id: Option<&str>) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "10")
            .set("batch.num.messages", "100000")
            .set("message.timeout.ms", "120000")
            .set("queue.buffering.max.messages", "1000000");
        if let Some(id) = transactional_id {
            c.set("transactional.id", id).set("transaction.timeout.ms", self.transaction_timeout.as_millis().to_string());
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}
