//! A librdkafka producer that remembers the first failed delivery, and the
//! one way records are sent (waiting while the local queue is full).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientConfig, ClientContext};
use weir_runtime::JobError;

use crate::ProducerRecord;

/// How long a flush, a transaction step or an offset request may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(120);

/// Keeps the first delivery error of a producer.
#[derive(Default, Clone)]
pub(crate) struct Deliveries {
    error: Arc<Mutex<Option<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if let Ok(mut first) = self.error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// A producer of one sink instance (or one of its transactional ids).
pub(crate) struct Sender {
    pub producer: BaseProducer<Deliveries>,
    deliveries: Deliveries,
    operator: String,
}

impl Sender {
    pub fn new(operator: &str, config: &ClientConfig) -> Result<Self, JobError> {
        let deliveries = Deliveries::default();
        let producer = config
            .create_with_context(deliveries.clone())
            .map_err(|e| sink_error(operator, format!("cannot create a Kafka producer: {e}")))?;
        Ok(Sender { producer, deliveries, operator: operator.to_string() })
    }

    pub fn error(&self, message: String) -> JobError {
        sink_error(&self.operator, message)
    }

    /// Sends `record` (whose topic and timestamp are set), waiting while
    /// the producer's queue is full.
    pub fn send(&self, r: &ProducerRecord, default_topic: &str) -> Result<(), JobError> {
        let topic = r.topic.as_deref().unwrap_or(default_topic);
        let mut record: BaseRecord<'_, [u8], [u8], ()> = BaseRecord::with_opaque_to(topic, ());
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        if let Some(ts) = r.timestamp {
            record = record.timestamp(ts);
        }
        if !r.headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
            for (key, value) in &r.headers {
                h = h.insert(Header { key, value: value.as_ref().map(|v| v.as_slice()) });
            }
            record = record.headers(h);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                    self.check()?;
                }
                Err((e, _)) => return Err(self.error(format!("cannot send a record to topic {topic}: {e}"))),
            }
        }
    }

    /// Serves delivery reports.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Fails if a delivery failed.
    pub fn check(&self) -> Result<(), JobError> {
        let first = self.deliveries.error.lock().ok().and_then(|mut e| e.take());
        match first {
            Some(e) => Err(self.error(format!("a record could not be delivered: {e}"))),
            None => Ok(()),
        }
    }

    /// Waits until every record sent is acknowledged.
    pub fn flush(&self) -> Result<(), JobError> {
        self.producer.flush(TIMEOUT).map_err(|e| self.error(format!("cannot flush the Kafka producer: {e}")))?;
        self.check()
    }
}

pub(crate) fn sink_error(operator: &str, message: String) -> JobError {
    JobError::Sink { operator: operator.to_string(), message }
}

/// The consumer group a transactional id records its last committed
/// checkpoint in (as the offset of partition 0 of the sink's topic), inside
/// its transactions: `read_committed` readers of the group see the marker
/// exactly when the transaction's records are visible.
pub(crate) struct Marker {
    consumer: BaseConsumer,
    topic: String,
}

impl Marker {
    pub fn new(operator: &str, bootstrap: &str, group: &str, topic: &str) -> Result<Self, JobError> {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| sink_error(operator, format!("cannot create a Kafka consumer: {e}")))?;
        Ok(Marker { consumer, topic: topic.to_string() })
    }

    fn offsets(&self, checkpoint: u64) -> Result<TopicPartitionList, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, 0, Offset::Offset(i64::try_from(checkpoint).unwrap_or(i64::MAX)))?;
        Ok(tpl)
    }

    /// Adds "checkpoint `checkpoint` committed" to the open transaction of `producer`.
    pub fn write(&self, sender: &Sender, checkpoint: u64) -> Result<(), JobError> {
        let cgm = self.consumer.group_metadata().ok_or_else(|| sender.error("the marker consumer has no group".to_string()))?;
        let offsets = self.offsets(checkpoint).map_err(|e| sender.error(e.to_string()))?;
        sender
            .producer
            .send_offsets_to_transaction(&offsets, &cgm, TIMEOUT)
            .map_err(|e| sender.error(format!("cannot add the commit marker to the transaction: {e}")))
    }

    /// The last checkpoint whose transaction committed (0 if none).
    pub fn read(&self, sender: &Sender) -> Result<u64, JobError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, 0);
        let found =
            self.consumer.committed_offsets(tpl, TIMEOUT).map_err(|e| sender.error(format!("cannot read the commit marker: {e}")))?;
        Ok(match found.find_partition(&self.topic, 0).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => u64::try_from(o).unwrap_or(0),
            _ => 0,
        })
    }
}
