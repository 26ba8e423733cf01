//! Chain tails that send to other tasks: by key group, or straight forward.

use crossbeam_channel::Sender;
use weir_state::{key_group_of, subtask_for_key_group, Key};

use crate::{Barrier, Event, JobError, Keyed, Message, Notification, Operator, OperatorSnapshot};

fn send<T>(tx: &Sender<Message<T>>, msg: Message<T>) -> Result<(), JobError> {
    // A closed channel means the receiving task is gone: the job is failing.
    tx.send(msg).map_err(|_| JobError::Cancelled)
}

/// Routes each event to the instance owning its key's key group.
pub struct KeyGroupPartitioner<T, K, F> {
    key_fn: F,
    max_parallelism: u32,
    outputs: Vec<Sender<Message<Keyed<K, T>>>>,
    buffers: Vec<Vec<Keyed<K, T>>>,
}

impl<T, K: Key, F: Fn(&T) -> K> KeyGroupPartitioner<T, K, F> {
    /// Sends to `outputs` (one per downstream instance).
    pub fn new(key_fn: F, max_parallelism: u32, outputs: Vec<Sender<Message<Keyed<K, T>>>>) -> Self {
        let buffers = outputs.iter().map(|_| Vec::new()).collect();
        KeyGroupPartitioner { key_fn, max_parallelism, outputs, buffers }
    }

    fn flush(&mut self) -> Result<(), JobError> {
        for (tx, buf) in self.outputs.iter().zip(self.buffers.iter_mut()) {
            if !buf.is_empty() {
                let cap = buf.capacity();
                let batch = std::mem::replace(buf, Vec::with_capacity(cap));
                send(tx, Message::Batch(batch))?;
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, make: impl Fn() -> Message<Keyed<K, T>>) -> Result<(), JobError> {
        self.flush()?;
        for tx in &self.outputs {
            send(tx, make())?;
        }
        Ok(())
    }
}

impl<T: Send, K: Key, F: Fn(&T) -> K + Send> Operator<Event<T>> for KeyGroupPartitioner<T, K, F> {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        let p = self.outputs.len() as u32;
        for e in batch.drain(..) {
            let key = (self.key_fn)(&e.value);
            let kg = key_group_of(&key, self.max_parallelism);
            let target = subtask_for_key_group(self.max_parallelism, p, kg) as usize;
            if let Some(buf) = self.buffers.get_mut(target) {
                buf.push(Keyed { kg, key, ts: e.ts, value: e.value });
            }
        }
        self.flush()
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.broadcast(|| Message::Watermark(watermark))
    }
    fn barrier(&mut self, barrier: &Barrier, _snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        let b = *barrier;
        self.broadcast(|| Message::Barrier(b))
    }
    fn checkpoint_complete(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_aborted(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn open(&mut self) -> Result<(), JobError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.broadcast(|| Message::End)
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.broadcast(|| Message::Idle)
    }
}

/// Sends everything to one downstream instance (the one with the same index).
pub struct ForwardOutput<T> {
    output: Sender<Message<T>>,
}

impl<T> ForwardOutput<T> {
    /// Sends to `output`.
    pub fn new(output: Sender<Message<T>>) -> Self {
        ForwardOutput { output }
    }
}

impl<T: Send> Operator<T> for ForwardOutput<T> {
    fn process(&mut self, batch: &mut Vec<T>) -> Result<(), JobError> {
        let cap = batch.capacity();
        send(&self.output, Message::Batch(std::mem::replace(batch, Vec::with_capacity(cap))))
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        send(&self.output, Message::Watermark(watermark))
    }
    fn barrier(&mut self, barrier: &Barrier, _snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        send(&self.output, Message::Barrier(*barrier))
    }
    fn checkpoint_complete(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_aborted(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn open(&mut self) -> Result<(), JobError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), JobError> {
        send(&self.output, Message::End)
    }
    fn idle(&mut self) -> Result<(), JobError> {
        send(&self.output, Message::Idle)
    }
}
