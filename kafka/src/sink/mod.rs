//! The Kafka sink, at least once (a flush at every barrier) or exactly once
//! (a Kafka transaction per checkpoint on the two-phase-commit sink API).

mod exactly_once;
mod producer;

pub use exactly_once::{KafkaTransaction, KafkaTransactionHandle, KafkaTransactionalSink};

use std::sync::Arc;

use weir_runtime::{Barrier, Event, JobError, Notification, Operator, OperatorSnapshot};

use self::producer::Sender;
use crate::{KafkaSerializer, KafkaSinkConfig};

/// Writes every record at least once: records are sent as they come and
/// the producer is flushed (every record acknowledged by the brokers) before
/// a barrier passes, so a completed checkpoint covers everything before it;
/// records after it may be written again after a restore.
pub struct KafkaAtLeastOnceSink<T> {
    config: Arc<KafkaSinkConfig>,
    sender: Sender,
    serializer: Box<dyn KafkaSerializer<T>>,
    /// Batches sent: delivery reports are served every 16.
    batches: u64,
}

impl<T> KafkaAtLeastOnceSink<T> {
    /// The sink instance of operator `id`.
    pub fn new(id: &str, config: Arc<KafkaSinkConfig>, serializer: Box<dyn KafkaSerializer<T>>) -> Result<Self, JobError> {
        let sender = Sender::new(id, &config.producer_config(None))?;
        Ok(KafkaAtLeastOnceSink { config, sender, serializer, batches: 0 })
    }
}

/// Serializes an element, with the element's event time where the
/// serializer set no timestamp.
pub(crate) fn record_of<T>(serializer: &mut dyn KafkaSerializer<T>, e: &Event<T>) -> crate::ProducerRecord {
    let mut r = serializer.serialize(&e.value);
    if r.timestamp.is_none() && e.ts > 0 {
        r.timestamp = Some(e.ts);
    }
    r
}

impl<T: Send> Operator<Event<T>> for KafkaAtLeastOnceSink<T> {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        for e in batch.drain(..) {
            let r = record_of(self.serializer.as_mut(), &e);
            self.sender.send(&r, &self.config.topic)?;
        }
        self.batches += 1;
        if self.batches % 16 == 0 {
            self.sender.poll();
            self.sender.check()?;
        }
        Ok(())
    }
    fn open(&mut self) -> Result<(), JobError> {
        Ok(())
    }
    fn watermark(&mut self, _: i64) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_complete(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_aborted(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn barrier(&mut self, _: &Barrier, _: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.sender.flush()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.sender.flush()
    }
}
