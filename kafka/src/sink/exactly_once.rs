//! Exactly-once output through Kafka transactions.
//!
//! Each instance writes through a few transactional producers, with ids
//! `<prefix>-<instance>-<slot>`: a transaction is opened on a free slot
//! when the first record after a barrier arrives, flushed at the next
//! barrier (pre-commit) and committed when that checkpoint completes; its
//! slot is then free again. Two slots are in use when records after a
//! barrier arrive before the checkpoint completes.
//!
//! Every transaction also commits, as the offset of partition 0 of the
//! sink's topic in the consumer group named after its transactional id,
//! the id of the checkpoint it belongs to (the *marker*). The marker is
//! visible exactly when the transaction's records are.
//!
//! A transaction that a checkpoint covers may be left uncommitted by a
//! crash between the checkpoint's completion and the commit. librdkafka
//! cannot commit another process's transaction (a new producer with the same
//! id aborts it), so the checkpoint keeps the transaction's records as well
//! as its id: after a restore, the id is taken over (which fences a process
//! still running with it and aborts its open transaction), and if its
//! marker shows the checkpoint did not commit, the records are written
//! again in a new transaction with the marker. Readers at isolation level
//! `read_committed` see each record once either way. Then every other id
//! of the instances taken over is taken over too, aborting what they left
//! open.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::info;
use weir_runtime::{Event, JobError, RecoveryScope, TransactionContext, TwoPhaseCommitSink};
use weir_state::codec::{self, ValueFormat};

use super::producer::{sink_error, Marker, Sender, TIMEOUT};
use super::record_of;
use crate::{KafkaSerializer, KafkaSinkConfig, ProducerRecord};
use rdkafka::producer::Producer;

/// Transactional ids per instance: more pre-committed transactions than
/// this at once (checkpoints that keep failing) fail the job.
pub const SLOTS: usize = 4;

/// A pre-committed transaction, as kept in checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaTransactionHandle {
    /// Its transactional id.
    pub transactional_id: String,
    /// The checkpoint (or savepoint) whose barrier pre-committed it.
    pub checkpoint: u64,
    /// Its records (postcard-encoded [`ProducerRecord`]s one after
    /// another), written again if the transaction was lost.
    pub records: serde_bytes::ByteBuf,
}

impl KafkaTransactionHandle {
    /// Its records.
    pub fn records(&self) -> Result<Vec<ProducerRecord>, String> {
        let mut out = Vec::new();
        let mut rest: &[u8] = &self.records;
        while !rest.is_empty() {
            let (r, used) = codec::decode_prefix::<ProducerRecord>(ValueFormat::Postcard, rest).map_err(|e| e.to_string())?;
            out.push(r);
            rest = &rest[used..];
        }
        Ok(out)
    }
}

/// An open transaction.
pub struct KafkaTransaction {
    slot: usize,
    /// Its records so far, encoded as in [`KafkaTransactionHandle::records`].
    log: Vec<u8>,
}

/// A transactional id of this instance, once used in this run.
struct Slot {
    id: String,
    sender: Sender,
    marker: Marker,
    busy: bool,
}

/// The exactly-once Kafka sink of one instance; run it with
/// `TwoPhaseCommitOperator` (the facade's `sink_to_kafka` does).
pub struct KafkaTransactionalSink<T> {
    operator: String,
    config: Arc<KafkaSinkConfig>,
    prefix: String,
    subtask: u32,
    serializer: Box<dyn KafkaSerializer<T>>,
    slots: Vec<Slot>,
    /// The newest checkpoint among the restored transactions: a new slot's
    /// marker starts there, not lower.
    restored_up_to: u64,
}

/// A producer with transactional id `id`, initialised: earlier producers
/// with the id are fenced, and a transaction they left open is aborted.
fn fence(operator: &str, config: &KafkaSinkConfig, id: &str) -> Result<Sender, JobError> {
    let sender = Sender::new(operator, &config.producer_config(Some(id)))?;
    sender
        .producer
        .init_transactions(TIMEOUT)
        .map_err(|e| sink_error(operator, format!("cannot initialise transactional id {id}: {e}")))?;
    Ok(sender)
}

/// The transactional id of `slot` of instance `subtask`.
fn transactional_id(prefix: &str, subtask: u32, slot: usize) -> String {
    format!("{prefix}-{subtask}-{slot}")
}

impl<T> KafkaTransactionalSink<T> {
    /// The sink instance `subtask` of operator `operator`, with
    /// transactional ids beginning with `prefix`.
    pub fn new(operator: &str, config: Arc<KafkaSinkConfig>, prefix: &str, subtask: u32, serializer: Box<dyn KafkaSerializer<T>>) -> Self {
        KafkaTransactionalSink {
            operator: operator.to_string(),
            config,
            prefix: prefix.to_string(),
            subtask,
            serializer,
            slots: Vec::new(),
            restored_up_to: 0,
        }
    }

    fn error(&self, message: String) -> JobError {
        sink_error(&self.operator, message)
    }

    /// A producer that owns `id` from now on: earlier producers with it are
    /// fenced and their open transaction aborted.
    fn take_over(&self, id: &str) -> Result<(Sender, Marker), JobError> {
        let sender = fence(&self.operator, &self.config, id)?;
        let marker = Marker::new(&self.operator, &self.config.bootstrap_servers, id, &self.config.topic)?;
        Ok((sender, marker))
    }

    /// Runs `f` in a transaction of `sender` that also commits `marker` = `checkpoint`.
    fn transaction(&self, sender: &Sender, marker: &Marker, checkpoint: u64, records: &[ProducerRecord]) -> Result<(), JobError> {
        sender.producer.begin_transaction().map_err(|e| self.error(format!("cannot begin a transaction: {e}")))?;
        for r in records {
            sender.send(r, &self.config.topic)?;
        }
        sender.flush()?;
        marker.write(sender, checkpoint)?;
        sender.producer.commit_transaction(TIMEOUT).map_err(|e| self.error(format!("cannot commit a transaction: {e}")))
    }

    /// A free slot, opening a new one if none is.
    fn free_slot(&mut self) -> Result<usize, JobError> {
        if let Some(i) = self.slots.iter().position(|s| !s.busy) {
            return Ok(i);
        }
        if self.slots.len() >= SLOTS {
            return Err(self.error(format!("{SLOTS} transactions are pre-committed and not committed: checkpoints are not completing")));
        }
        let id = transactional_id(&self.prefix, self.subtask, self.slots.len());
        let (sender, marker) = self.take_over(&id)?;
        // A marker left by another job with this id would say that this
        // job's first checkpoints are committed: start it at 0, or after a
        // restore at the restored checkpoint's transactions, which are
        // committed by now. Lower, a second restore of the same checkpoint
        // would take them for lost and write their records again.
        self.transaction(&sender, &marker, self.restored_up_to, &[])?;
        self.slots.push(Slot { id, sender, marker, busy: false });
        Ok(self.slots.len() - 1)
    }
}

impl<T: Send> TwoPhaseCommitSink<T> for KafkaTransactionalSink<T> {
    type Handle = KafkaTransactionHandle;
    type Transaction = KafkaTransaction;

    fn begin(&mut self, _ctx: &TransactionContext) -> Result<KafkaTransaction, JobError> {
        let slot = self.free_slot()?;
        let s = &mut self.slots[slot];
        s.sender.producer.begin_transaction().map_err(|e| sink_error(&self.operator, format!("cannot begin a transaction: {e}")))?;
        s.busy = true;
        Ok(KafkaTransaction { slot, log: Vec::new() })
    }

    fn write(&mut self, txn: &mut KafkaTransaction, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        let s = &self.slots[txn.slot];
        for e in batch.drain(..) {
            let r = record_of(self.serializer.as_mut(), &e);
            s.sender.send(&r, &self.config.topic)?;
            codec::encode_into(&r, &mut txn.log)
                .map_err(|e| sink_error(&self.operator, format!("cannot keep a record for recovery: {e}")))?;
        }
        s.sender.poll();
        Ok(())
    }

    fn pre_commit(&mut self, txn: KafkaTransaction, checkpoint: Option<u64>) -> Result<KafkaTransactionHandle, JobError> {
        let s = &self.slots[txn.slot];
        s.sender.flush()?;
        let checkpoint = checkpoint.unwrap_or(0);
        if checkpoint > 0 {
            s.marker.write(&s.sender, checkpoint)?;
        }
        // Without checkpoints the transaction commits at once: nothing to keep.
        let records = serde_bytes::ByteBuf::from(if checkpoint > 0 { txn.log } else { Vec::new() });
        Ok(KafkaTransactionHandle { transactional_id: s.id.clone(), checkpoint, records })
    }

    fn commit(&mut self, handle: &KafkaTransactionHandle) -> Result<(), JobError> {
        if let Some(s) = self.slots.iter_mut().find(|s| s.id == handle.transactional_id && s.busy) {
            s.sender
                .producer
                .commit_transaction(TIMEOUT)
                .map_err(|e| sink_error(&self.operator, format!("cannot commit a transaction: {e}")))?;
            s.busy = false;
            return Ok(());
        }
        // A handle restored from a checkpoint: commit it unless it was.
        self.restored_up_to = self.restored_up_to.max(handle.checkpoint);
        let (sender, marker) = self.take_over(&handle.transactional_id)?;
        let committed = marker.read(&sender)?;
        if committed >= handle.checkpoint {
            info!(id = %handle.transactional_id, checkpoint = handle.checkpoint, "the transaction of the restored checkpoint was committed");
            return Ok(());
        }
        let records = handle
            .records()
            .map_err(|e| self.error(format!("the records of transaction {} cannot be read: {e}", handle.transactional_id)))?;
        info!(
            id = %handle.transactional_id,
            checkpoint = handle.checkpoint,
            records = records.len(),
            "the transaction of the restored checkpoint was not committed: writing its records again"
        );
        self.transaction(&sender, &marker, handle.checkpoint, &records)
    }

    fn abort(&mut self, txn: KafkaTransaction) -> Result<(), JobError> {
        let s = &mut self.slots[txn.slot];
        s.sender.producer.abort_transaction(TIMEOUT).map_err(|e| sink_error(&self.operator, format!("cannot abort a transaction: {e}")))?;
        s.busy = false;
        Ok(())
    }

    fn abort_lingering(&mut self, scope: &RecoveryScope<'_, KafkaTransactionHandle>) -> Result<(), JobError> {
        let mut instances: Vec<u32> = scope.earlier_instances.to_vec();
        instances.push(self.subtask);
        instances.sort_unstable();
        instances.dedup();
        let prefix = &self.prefix;
        let live = &self.slots;
        let ids: Vec<String> = instances
            .iter()
            .flat_map(|s| (0..SLOTS).map(move |slot| transactional_id(prefix, *s, slot)))
            .filter(|id| !live.iter().any(|l| l.id == *id))
            .collect();
        // Taking an id over aborts what an earlier run left open; each takes
        // a round trip or more to the transaction coordinator: all at once.
        let (operator, config) = (&self.operator, &self.config);
        std::thread::scope(|scope| {
            let handles: Vec<_> = ids.iter().map(|id| scope.spawn(move || fence(operator, config, id).map(drop))).collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or_else(|_| Err(sink_error(operator, "a thread aborting a transaction panicked".into()))))
        })
    }
}
