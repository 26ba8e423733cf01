//! Chain tails that send each record to the downstream instances a
//! [`Route`] picks: round robin (`rebalance`), to every instance
//! (broadcast), or by key group into a wrapped record (the keyed side of a
//! broadcast connection). Watermarks, barriers, idleness and the end go to
//! every instance, after the records before them.

use crossbeam_channel::Sender;
use weir_state::{key_group_of, subtask_for_key_group, Key};

use crate::{Barrier, Event, JobError, Keyed, Message, Notification, Operator, OperatorSnapshot};

/// Where a record goes: pushed into the buffers of the instances it is for.
pub trait Route<I, O>: Send {
    /// Routes `record` into `buffers` (one per downstream instance).
    fn route(&mut self, record: I, buffers: &mut [Vec<O>]);
}

/// Each record to the next instance in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl<T: Send> Route<Event<T>, Event<T>> for RoundRobin {
    #[inline]
    fn route(&mut self, record: Event<T>, buffers: &mut [Vec<Event<T>>]) {
        let n = buffers.len().max(1);
        if let Some(b) = buffers.get_mut(self.next % n) {
            b.push(record);
        }
        self.next = (self.next + 1) % n;
    }
}

/// Each record to the next instance in turn, as `wrap` makes it (the
/// input of a broadcast connection that is not keyed).
pub struct RoundRobinInto<W> {
    wrap: W,
    next: usize,
}

impl<W> RoundRobinInto<W> {
    /// Round robin, wrapping each record with `wrap`.
    pub fn new(wrap: W) -> Self {
        RoundRobinInto { wrap, next: 0 }
    }
}

impl<T: Send, O, W: Fn(Event<T>) -> O + Send> Route<Event<T>, O> for RoundRobinInto<W> {
    #[inline]
    fn route(&mut self, record: Event<T>, buffers: &mut [Vec<O>]) {
        let n = buffers.len().max(1);
        if let Some(b) = buffers.get_mut(self.next % n) {
            b.push((self.wrap)(record));
        }
        self.next = (self.next + 1) % n;
    }
}

/// Every record to every instance, as `wrap` makes it.
pub struct Broadcast<W>(pub W);

impl<T: Clone + Send, O, W: Fn(Event<T>) -> O + Send> Route<Event<T>, O> for Broadcast<W> {
    fn route(&mut self, record: Event<T>, buffers: &mut [Vec<O>]) {
        for b in buffers.iter_mut() {
            b.push((self.0)(record.clone()));
        }
    }
}

/// Each record to the instance owning its key's key group, as `wrap` makes
/// the keyed record.
pub struct ByKeyGroup<F, W> {
    /// The record's key.
    pub key_fn: F,
    /// Makes the record sent of the keyed record.
    pub wrap: W,
    /// The job's key groups.
    pub max_parallelism: u32,
}

impl<T, K: Key, O, F: Fn(&T) -> K + Send, W: Fn(Keyed<K, T>) -> O + Send> Route<Event<T>, O> for ByKeyGroup<F, W> {
    #[inline]
    fn route(&mut self, e: Event<T>, buffers: &mut [Vec<O>]) {
        let key = (self.key_fn)(&e.value);
        let kg = key_group_of(&key, self.max_parallelism);
        let target = subtask_for_key_group(self.max_parallelism, buffers.len() as u32, kg) as usize;
        if let Some(b) = buffers.get_mut(target) {
            b.push((self.wrap)(Keyed { kg, key, ts: e.ts, value: e.value }));
        }
    }
}

/// Sends records to other tasks along a [`Route`].
pub struct Exchange<O, R> {
    route: R,
    outputs: Vec<Sender<Message<O>>>,
    buffers: Vec<Vec<O>>,
}

impl<O, R> Exchange<O, R> {
    /// Sends to `outputs` (one per downstream instance) along `route`.
    pub fn new(route: R, outputs: Vec<Sender<Message<O>>>) -> Self {
        let buffers = outputs.iter().map(|_| Vec::new()).collect();
        Exchange { route, outputs, buffers }
    }

    fn flush(&mut self) -> Result<(), JobError> {
        for (tx, buf) in self.outputs.iter().zip(self.buffers.iter_mut()) {
            if !buf.is_empty() {
                let cap = buf.capacity();
                tx.send(Message::Batch(std::mem::replace(buf, Vec::with_capacity(cap)))).map_err(|_| JobError::Cancelled)?;
            }
        }
        Ok(())
    }

    fn send_all(&mut self, make: impl Fn() -> Message<O>) -> Result<(), JobError> {
        self.flush()?;
        for tx in &self.outputs {
            tx.send(make()).map_err(|_| JobError::Cancelled)?;
        }
        Ok(())
    }
}

impl<I, O: Send, R: Route<I, O>> Operator<I> for Exchange<O, R> {
    fn process(&mut self, batch: &mut Vec<I>) -> Result<(), JobError> {
        for r in batch.drain(..) {
            self.route.route(r, &mut self.buffers);
        }
        self.flush()
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.send_all(|| Message::Watermark(watermark))
    }
    fn barrier(&mut self, barrier: &Barrier, _snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        let b = *barrier;
        self.send_all(|| Message::Barrier(b))
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
        self.send_all(|| Message::End)
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.send_all(|| Message::Idle)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_robin_deals_records_out_in_turn_and_control_to_all() {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| crossbeam_channel::unbounded::<Message<Event<u32>>>()).unzip();
        let mut x = Exchange::new(RoundRobin::default(), txs);
        x.process(&mut (0..7).map(|i| Event::new(0, i)).collect()).unwrap();
        x.watermark(5).unwrap();
        for (i, rx) in rxs.iter().enumerate() {
            let Ok(Message::Batch(b)) = rx.try_recv() else { panic!("instance {i} got no batch") };
            let want: Vec<u32> = (0..7).filter(|v| *v as usize % 3 == i).collect();
            assert_eq!(b.into_iter().map(|e| e.value).collect::<Vec<_>>(), want);
            assert!(matches!(rx.try_recv(), Ok(Message::Watermark(5))));
        }
    }

    #[test]
    fn broadcast_sends_every_record_to_every_instance() {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| crossbeam_channel::unbounded::<Message<(u8, u32)>>()).unzip();
        let mut x = Exchange::new(Broadcast(|e: Event<u32>| (1u8, e.value)), txs);
        x.process(&mut vec![Event::new(0, 4), Event::new(0, 9)]).unwrap();
        for rx in &rxs {
            let Ok(Message::Batch(b)) = rx.try_recv() else { panic!("no batch") };
            assert_eq!(b, vec![(1, 4), (1, 9)]);
        }
    }
}
