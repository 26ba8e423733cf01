//! Broadcast state: a stream sent to every instance of an operator whose
//! other input is keyed. Every instance keeps the same broadcast state,
//! which the broadcast side changes and the keyed side reads; checkpoints
//! store each instance's copy, and a restore at any parallelism takes the
//! first (they are equal).

use weir_runtime::{Barrier, Event, JobError, Keyed, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::codec;
use weir_state::{Backend, Key, KeyGroupRange, KeyedStateBackend, StateType, Timer};

use crate::co_process::Either;
use crate::process::{OpenContext, ProcessContext};
use crate::side::SideOutputs;
use crate::UserError;

/// What the broadcast side sees when it handles a record: its time, and
/// where its output goes.
pub struct BroadcastContext<'a, O> {
    timestamp: i64,
    out: &'a mut Vec<Event<O>>,
}

impl<'a, O> BroadcastContext<'a, O> {
    pub(crate) fn new(timestamp: i64, out: &'a mut Vec<Event<O>>) -> Self {
        BroadcastContext { timestamp, out }
    }
}

impl<O> BroadcastContext<'_, O> {
    /// The record's event time.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
    /// Emits a record at the current timestamp.
    pub fn emit(&mut self, value: O) {
        self.out.push(Event { ts: self.timestamp, value });
    }
}

/// Per-key logic over a keyed input with broadcast state `S` that a second,
/// broadcast input keeps up to date, like Flink's
/// `KeyedBroadcastProcessFunction`.
///
/// ```
/// use std::collections::BTreeMap;
/// use weir_operators::{BroadcastContext, KeyedBroadcastProcessFunction, ProcessContext, UserError};
///
/// /// Tags each reading with its sensor's threshold, broadcast as (sensor, threshold).
/// #[derive(Clone)]
/// struct Alert;
/// impl KeyedBroadcastProcessFunction<u64, u64, (u64, u64), BTreeMap<u64, u64>, (u64, u64)> for Alert {
///     fn process(&mut self, reading: u64, limits: &BTreeMap<u64, u64>, ctx: &mut ProcessContext<'_, u64, (u64, u64)>) -> Result<(), UserError> {
///         let sensor = *ctx.key();
///         if limits.get(&sensor).is_some_and(|limit| reading > *limit) {
///             ctx.emit((sensor, reading));
///         }
///         Ok(())
///     }
///     fn process_broadcast(&mut self, (sensor, limit): (u64, u64), limits: &mut BTreeMap<u64, u64>, _: &mut BroadcastContext<'_, (u64, u64)>) -> Result<(), UserError> {
///         limits.insert(sensor, limit);
///         Ok(())
///     }
/// }
/// ```
pub trait KeyedBroadcastProcessFunction<K: Key, A, B, S, O>: Send {
    /// Declares keyed state. Called once per instance.
    fn open(&mut self, _ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        Ok(())
    }
    /// Handles a record of the keyed input, reading the broadcast state.
    fn process(&mut self, value: A, broadcast: &S, ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError>;
    /// Handles a record of the broadcast input (every instance gets it),
    /// changing the broadcast state. Every instance must change it the same way.
    fn process_broadcast(&mut self, value: B, broadcast: &mut S, ctx: &mut BroadcastContext<'_, O>) -> Result<(), UserError>;
    /// Handles a timer of the current key.
    fn on_timer(&mut self, _timestamp: i64, _broadcast: &S, _ctx: &mut ProcessContext<'_, K, O>) -> Result<(), UserError> {
        Ok(())
    }
}

/// Runs a [`KeyedBroadcastProcessFunction`] over the keyed records
/// (`Left`) and the broadcast records (`Right`).
pub struct KeyedBroadcastOperator<K: Key, A, B, S, O, F> {
    id: String,
    f: F,
    broadcast: S,
    backend: Backend<K>,
    range: KeyGroupRange,
    watermark: i64,
    out: Vec<Event<O>>,
    timers: Vec<Timer<K>>,
    side: SideOutputs,
    next: Box<dyn Operator<Event<O>>>,
    _in: std::marker::PhantomData<fn(A, B)>,
}

impl<K: Key, A, B, S: StateType + Default, O: Send, F: KeyedBroadcastProcessFunction<K, A, B, S, O>>
    KeyedBroadcastOperator<K, A, B, S, O, F>
{
    /// Builds the instance described by `env`, restoring its keyed state
    /// and its broadcast state if the job restores.
    pub fn new(id: &str, mut f: F, env: &SubtaskEnv, side: SideOutputs, next: Box<dyn Operator<Event<O>>>) -> Result<Self, JobError> {
        let mut backend: Backend<K> = env.keyed_backend(id)?;
        f.open(&mut OpenContext::new(&mut backend, env.subtask))
            .map_err(|e| JobError::Operator { operator: id.to_string(), message: e.to_string() })?;
        let broadcast = crate::broadcast_process::restored_broadcast(id, env)?;
        Ok(KeyedBroadcastOperator {
            id: id.to_string(),
            f,
            broadcast,
            backend,
            range: env.key_groups,
            watermark: i64::MIN,
            out: Vec::new(),
            timers: Vec::new(),
            side,
            next,
            _in: std::marker::PhantomData,
        })
    }

    fn user(&self, e: UserError) -> JobError {
        JobError::Operator { operator: self.id.clone(), message: e.to_string() }
    }

    fn flush(&mut self) -> Result<(), JobError> {
        self.side.flush()?;
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

impl<K, A, B, S, O, F> Operator<Either<Keyed<K, A>, Event<B>>> for KeyedBroadcastOperator<K, A, B, S, O, F>
where
    K: Key,
    A: Send,
    B: Send,
    S: StateType + Default,
    O: Send,
    F: KeyedBroadcastProcessFunction<K, A, B, S, O>,
{
    fn process(&mut self, batch: &mut Vec<Either<Keyed<K, A>, Event<B>>>) -> Result<(), JobError> {
        for r in batch.drain(..) {
            let done = match r {
                Either::Left(r) => {
                    let mut ctx = ProcessContext::new(&mut self.backend, r.kg, &r.key, r.ts, self.watermark, &mut self.out, &mut self.side);
                    self.f.process(r.value, &self.broadcast, &mut ctx)
                }
                Either::Right(b) => {
                    let mut ctx = BroadcastContext { timestamp: b.ts, out: &mut self.out };
                    self.f.process_broadcast(b.value, &mut self.broadcast, &mut ctx)
                }
            };
            if let Err(e) = done {
                return Err(self.user(e));
            }
        }
        self.flush()
    }

    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        self.backend.pop_timers(watermark, &mut self.timers).map_err(|e| JobError::state(&self.id, e))?;
        let timers = std::mem::take(&mut self.timers);
        for t in &timers {
            let mut ctx =
                ProcessContext::new(&mut self.backend, t.key_group, &t.key, t.timestamp, watermark, &mut self.out, &mut self.side);
            if let Err(e) = self.f.on_timer(t.timestamp, &self.broadcast, &mut ctx) {
                return Err(self.user(e));
            }
        }
        self.timers = timers;
        self.timers.clear();
        self.flush()?;
        self.side.watermark(watermark)?;
        self.next.watermark(watermark)
    }

    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        let state = barrier.snapshot(&mut self.backend).map_err(|e| JobError::state(&self.id, e))?;
        let inline = codec::encode(&self.broadcast)?;
        snapshots.push(OperatorSnapshot {
            operator_id: self.id.clone(),
            key_groups: Some(self.range),
            inline: Some(inline),
            state: Some(state),
        });
        self.side.barrier(barrier, snapshots)?;
        self.next.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.checkpoint_complete(n)?;
        self.next.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.checkpoint_aborted(n)?;
        self.next.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.side.open()?;
        self.next.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.side.finish()?;
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.side.idle()?;
        self.next.idle()
    }
}
