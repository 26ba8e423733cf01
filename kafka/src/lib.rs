//! Apache Kafka for weir: a source whose splits are the partitions of its
//! topics, and a sink that writes at least once or exactly once.
//!
//! **Source.** Each partition is read by one instance ([`owner`]); the
//! offset of the next record of each partition is in every checkpoint, so a
//! restore (at any parallelism: partitions are dealt out again) resumes
//! exactly there. Partitions added while the job runs are found and read
//! from their earliest offset. A fresh start begins where [`StartFrom`]
//! says. When a checkpoint completes, its offsets are committed to the
//! consumer group (if one is named), for lag monitoring only. Watermarks
//! are kept per partition and combined per instance, with idleness
//! ([`PartitionWatermarks`]). A record the deserializer refuses fails the
//! job with its topic, partition and offset, or becomes a [`BadRecord`].
//!
//! **Sink.** [`DeliveryGuarantee::AtLeastOnce`] flushes the producer at
//! each barrier. [`DeliveryGuarantee::ExactlyOnce`] writes each
//! checkpoint's records in a Kafka transaction that commits when the
//! checkpoint completes ([`KafkaTransactionalSink`] explains recovery).
//!
//! The client is librdkafka (through the `rdkafka` crate, built from
//! source): it implements the whole protocol, idempotence and transactions
//! included, and underlies most Kafka clients outside the JVM.
#![deny(missing_docs)]

mod assign;
mod config;
mod record;
mod sink;
mod source;
pub mod tools;
mod watermarks;

use std::sync::Arc;

pub use assign::{owner, owns, TopicPartition};
pub use config::{DeliveryGuarantee, KafkaSinkConfig, KafkaSourceConfig, StartFrom};
pub use record::{BadRecord, KafkaDeserializer, KafkaRecord, KafkaSerializer, ProducerRecord};
pub use sink::{KafkaAtLeastOnceSink, KafkaTransaction, KafkaTransactionHandle, KafkaTransactionalSink};
pub use source::KafkaSource;
pub use watermarks::PartitionWatermarks;

use weir_runtime::JobError;

/// Deserializes a record into an element (made by `wrap`) and its event time.
fn decoder<T: 'static, O: 'static>(mut deserializer: impl KafkaDeserializer<T> + 'static, wrap: fn(T) -> O) -> source::Decode<O> {
    Box::new(move |r: &KafkaRecord<'_>| {
        let v = deserializer.deserialize(r)?;
        let ts = deserializer.event_time(r, &v);
        Ok((wrap(v), ts))
    })
}

impl<T: Send + 'static> KafkaSource<T> {
    /// Instance `subtask` of `parallelism` of a source reading with
    /// `deserializer`; a record it refuses fails the job.
    pub fn create(
        config: Arc<KafkaSourceConfig>,
        deserializer: impl KafkaDeserializer<T> + 'static,
        subtask: u32,
        parallelism: u32,
    ) -> Result<Self, JobError> {
        KafkaSource::new(config, decoder(deserializer, |v| v), None, subtask, parallelism)
    }
}

impl<T: Send + 'static> KafkaSource<Result<T, BadRecord>> {
    /// As [`KafkaSource::create`], but a record the deserializer refuses
    /// becomes an `Err` element instead of failing the job.
    pub fn keeping_bad_records(
        config: Arc<KafkaSourceConfig>,
        deserializer: impl KafkaDeserializer<T> + 'static,
        subtask: u32,
        parallelism: u32,
    ) -> Result<Self, JobError> {
        KafkaSource::new(config, decoder(deserializer, Ok), Some(Arc::new(Err)), subtask, parallelism)
    }
}
