//! Kafka sources and sinks on the builder (feature `kafka`).

use std::sync::Arc;

use weir_kafka::{
    BadRecord, DeliveryGuarantee, KafkaAtLeastOnceSink, KafkaDeserializer, KafkaSerializer, KafkaSinkConfig, KafkaSource,
    KafkaSourceConfig, KafkaTransactionalSink,
};
use weir_operators::{Context, OutputTag, ProcessFunction, UserError};
use weir_runtime::TwoPhaseCommitOperator;

use crate::{DataStream, SinkHandle, StreamEnvironment};

impl StreamEnvironment {
    /// A stream of the records of Kafka topics, each turned into an element
    /// by `deserializer`, at the record's timestamp. A record it refuses
    /// fails the job, naming the record's topic, partition and offset.
    ///
    /// ```no_run
    /// use weir::kafka::{KafkaRecord, KafkaSourceConfig};
    /// use weir::{JobConfig, StreamEnvironment};
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("read"));
    /// let words = env.from_kafka(KafkaSourceConfig::new("127.0.0.1:9092", &["words"]), |r: &KafkaRecord<'_>| {
    ///     String::from_utf8(r.value.unwrap_or_default().to_vec()).map_err(|e| e.to_string())
    /// });
    /// words.print();
    /// env.execute().unwrap();
    /// ```
    pub fn from_kafka<T, D>(&self, config: KafkaSourceConfig, deserializer: D) -> DataStream<T>
    where
        T: Send + 'static,
        D: KafkaDeserializer<T> + Clone + 'static,
    {
        let config = Arc::new(config);
        self.source(move |env| Ok(Box::new(KafkaSource::create(config.clone(), deserializer.clone(), env.subtask, env.parallelism)?)))
    }

    /// As [`StreamEnvironment::from_kafka`], but a record the deserializer
    /// refuses goes to the side output `bad` (read it with
    /// [`DataStream::side_output`]) instead of failing the job.
    pub fn from_kafka_keeping_bad_records<T, D>(
        &self,
        config: KafkaSourceConfig,
        deserializer: D,
        bad: &OutputTag<BadRecord>,
    ) -> DataStream<T>
    where
        T: Send + 'static,
        D: KafkaDeserializer<T> + Clone + 'static,
    {
        let config = Arc::new(config);
        let all = self.source(move |env| {
            Ok(Box::new(KafkaSource::keeping_bad_records(config.clone(), deserializer.clone(), env.subtask, env.parallelism)?))
        });
        all.process(SplitBadRecords { bad: bad.clone() })
    }
}

/// Sends refused records to their side output.
#[derive(Clone)]
struct SplitBadRecords {
    bad: OutputTag<BadRecord>,
}

impl<T: Send + 'static> ProcessFunction<Result<T, BadRecord>, T> for SplitBadRecords {
    fn process(&mut self, value: Result<T, BadRecord>, ctx: &mut Context<'_, T>) -> Result<(), UserError> {
        match value {
            Ok(v) => ctx.emit(v),
            Err(bad) => ctx.output(&self.bad, bad),
        }
        Ok(())
    }
}

impl<T: Send + 'static> DataStream<T> {
    /// Ends the stream in a Kafka sink writing the record `serializer` makes
    /// of each element, at least or exactly once as `config` says. Exactly
    /// once, the transactional ids begin with the configured prefix or, by
    /// default, `<job name>-<sink operator id>`.
    ///
    /// ```no_run
    /// use weir::kafka::{KafkaSinkConfig, ProducerRecord};
    /// use weir::{JobConfig, StreamEnvironment};
    ///
    /// let env = StreamEnvironment::new(JobConfig::new("write"));
    /// env.from_collection(vec![(0, 1u64), (1, 2)])
    ///     .sink_to_kafka(KafkaSinkConfig::new("127.0.0.1:9092", "numbers"), |n: &u64| ProducerRecord::value(n.to_string()));
    /// env.execute().unwrap();
    /// ```
    pub fn sink_to_kafka<S: KafkaSerializer<T> + Clone + 'static>(self, config: KafkaSinkConfig, serializer: S) -> SinkHandle {
        let config = Arc::new(config);
        let job = self.builder.borrow().job_name.clone();
        self.sink("kafka-sink", move |id, env| match config.delivery_guarantee() {
            DeliveryGuarantee::AtLeastOnce => Ok(Box::new(KafkaAtLeastOnceSink::new(id, config.clone(), Box::new(serializer.clone()))?)),
            DeliveryGuarantee::ExactlyOnce => {
                let prefix = config.transactional_prefix().map_or_else(|| format!("{job}-{id}"), str::to_string);
                let sink = KafkaTransactionalSink::new(id, config.clone(), &prefix, env.subtask, Box::new(serializer.clone()));
                Ok(Box::new(TwoPhaseCommitOperator::from_env(id, sink, env)?))
            }
        })
    }
}
