//! Session windows: per key, the sessions still open, each `[first record,
//! last record + gap)` with its accumulator, kept as one small list in keyed
//! state. A record opens `[ts, ts + gap)` and merges every session it
//! overlaps (and their accumulators) into one; the merged session's timer
//! replaces theirs. A session fires when the watermark passes its end, and
//! is removed then, or `allowed` ms later by a clean-up timer; a record
//! merging into a session that fired but is within its lateness fires it
//! again.
//!
//! The window function's `clear` is called for a session when it is
//! removed, and for each session that a record merges into a larger one
//! (whose window is another): per-window state is not merged.

use weir_runtime::{Barrier, Counter, Event, JobError, Keyed, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::{Backend, Key, KeyGroupRange, KeyedStateBackend, StateId, Timer};

use super::late::LateData;
use super::{Aggregate, Window, WindowContext, WindowFunction};
use crate::processing_time::ProcessingTimers;
use crate::OpenContext;

/// A key's open sessions: `(start, end, accumulator)`.
type Sessions<A> = Vec<(i64, i64, A)>;

/// Runs session windows of an [`Aggregate`], emitting through a [`WindowFunction`].
pub struct SessionWindowOperator<K: Key, T, A: Aggregate<T>, F: WindowFunction<K, A::Out>> {
    id: String,
    gap: i64,
    agg: A,
    f: F,
    backend: Backend<K>,
    sessions: StateId<i64, Sessions<A::Acc>>,
    range: KeyGroupRange,
    watermark: i64,
    fired: Vec<Timer<K>>,
    out: Vec<Event<F::Out>>,
    windows_fired: Counter,
    late: LateData<T>,
    /// Sessions in processing time keep their timers here.
    processing: Option<ProcessingTimers<K>>,
    next: Box<dyn Operator<Event<F::Out>>>,
}

impl<K: Key, T: Send, A: Aggregate<T>, F: WindowFunction<K, A::Out>> SessionWindowOperator<K, T, A, F> {
    /// Builds the instance described by `env`, restoring its state if the
    /// job restores. Sessions end `gap` ms after their last record (of
    /// wall-clock time if `processing`); records up to `allowed_lateness` ms
    /// after a session's end still update it; later ones go to `late` (or
    /// are dropped and counted).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        (gap, processing): (i64, bool),
        allowed_lateness: i64,
        agg: A,
        mut f: F,
        env: &SubtaskEnv,
        late: Option<Box<dyn Operator<Event<T>>>>,
        next: Box<dyn Operator<Event<F::Out>>>,
    ) -> Result<Self, JobError> {
        let mut backend: Backend<K> = env.keyed_backend(id)?;
        let sessions = backend.register("session-windows").map_err(|e| JobError::state(id, e))?;
        f.open(&mut OpenContext::new(&mut backend, env.subtask))?;
        Ok(SessionWindowOperator {
            id: id.to_string(),
            gap: gap.max(1),
            agg,
            f,
            backend,
            sessions,
            range: env.key_groups,
            watermark: i64::MIN,
            fired: Vec::new(),
            out: Vec::new(),
            windows_fired: env.counters.counter("windows_fired"),
            late: LateData::new(id, env, if processing { 0 } else { allowed_lateness }, late),
            processing: if processing { Some(ProcessingTimers::restored(id, env)?) } else { None },
            next,
        })
    }

    fn register_timer(&mut self, kg: u32, key: &K, start: i64, ts: i64) -> Result<(), JobError> {
        match &mut self.processing {
            Some(timers) => timers.register(kg, key.clone(), start, ts),
            None => self.backend.register_timer(kg, key, start, ts).map_err(|e| JobError::state(&self.id, e))?,
        }
        Ok(())
    }

    fn delete_timer(&mut self, kg: u32, key: &K, start: i64, ts: i64) -> Result<(), JobError> {
        match &mut self.processing {
            Some(timers) => timers.delete(kg, key, start, ts),
            None => self.backend.delete_timer(kg, key, start, ts).map_err(|e| JobError::state(&self.id, e))?,
        }
        Ok(())
    }

    fn fire_timers(&mut self) -> Result<(), JobError> {
        let fired = std::mem::take(&mut self.fired);
        let mut windows = 0;
        for t in &fired {
            windows += u64::from(self.on_timer(t)?);
        }
        self.fired = fired;
        self.fired.clear();
        if windows > 0 {
            self.windows_fired.add(windows);
        }
        self.flush()
    }

    fn state(&self, e: weir_state::StateError) -> JobError {
        JobError::state(&self.id, e)
    }

    fn flush(&mut self) -> Result<(), JobError> {
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Puts back the sessions of `key`, taken out of state with
    /// [`Self::take`], unless none is left.
    fn store(&mut self, kg: u32, key: &K, sessions: Sessions<A::Acc>) -> Result<(), JobError> {
        if !sessions.is_empty() {
            self.backend.put(&self.sessions, kg, key, &0, sessions).map_err(|e| self.state(e))?;
        }
        Ok(())
    }

    /// Takes the sessions of `key` out of state (a move, where a read would
    /// copy the list in the hashmap backend); [`Self::store`] puts them back.
    fn take(&mut self, kg: u32, key: &K) -> Result<Sessions<A::Acc>, JobError> {
        Ok(self.backend.remove(&self.sessions, kg, key, &0).map_err(|e| self.state(e))?.unwrap_or_default())
    }

    fn emit(&mut self, kg: u32, key: &K, start: i64, end: i64, acc: A::Acc) -> Result<(), JobError> {
        let mut ctx = WindowContext::new(&mut self.backend, kg, key, Window { start, end }, self.watermark);
        self.f.fire(&mut ctx, self.agg.result(acc), &mut self.out)
    }

    /// Session `[start, end)` of `key` is gone: the function clears its state.
    fn clear(&mut self, kg: u32, key: &K, start: i64, end: i64) -> Result<(), JobError> {
        self.f.clear(&mut WindowContext::new(&mut self.backend, kg, key, Window { start, end }, self.watermark))
    }

    fn add(&mut self, mut r: Keyed<K, T>) -> Result<(), JobError> {
        let (wm, allowed) = match self.processing {
            // In processing time the clock only moves on: nothing is late,
            // and a session in state has not fired.
            Some(_) => {
                r.ts = weir_runtime::processing_time_now();
                (i64::MIN, 0)
            }
            None => (self.watermark, self.late.allowed),
        };
        let mut sessions = self.take(r.kg, &r.key)?;
        let (mut start, mut end) = (r.ts, r.ts.saturating_add(self.gap));
        let mut end_of_merged = end;
        for (s, e, _) in &sessions {
            if *s < end && r.ts < *e {
                start = start.min(*s);
                end_of_merged = end_of_merged.max(*e);
            }
        }
        end = end_of_merged;
        if end - 1 <= wm.saturating_sub(allowed) {
            self.late.late(Event { ts: r.ts, value: r.value });
            return self.store(r.kg, &r.key, sessions);
        }
        let mut acc = self.agg.first(r.value);
        let mut i = 0;
        while i < sessions.len() {
            let (s, e, _) = sessions[i];
            if s < r.ts.saturating_add(self.gap) && r.ts < e {
                let (s, e, a) = sessions.swap_remove(i);
                self.agg.merge(&mut acc, a);
                if e - 1 > wm {
                    self.delete_timer(r.kg, &r.key, s, e - 1)?;
                } else if allowed > 0 {
                    self.delete_timer(r.kg, &r.key, s, e - 1 + allowed)?;
                }
                if (s, e) != (start, end) {
                    self.clear(r.kg, &r.key, s, e)?;
                }
            } else {
                i += 1;
            }
        }
        if end - 1 > wm {
            self.register_timer(r.kg, &r.key, start, end - 1)?;
        } else {
            // Fired already, within its lateness: fire again, clean up later.
            self.emit(r.kg, &r.key, start, end, acc.clone())?;
            self.late.updated();
            self.backend.register_timer(r.kg, &r.key, start, end - 1 + allowed).map_err(|e| self.state(e))?;
        }
        sessions.push((start, end, acc));
        self.store(r.kg, &r.key, sessions)
    }

    /// Handles a session's timer; whether it fired the session.
    fn on_timer(&mut self, t: &Timer<K>) -> Result<bool, JobError> {
        let allowed = self.late.allowed;
        let mut sessions = self.take(t.key_group, &t.key)?;
        let Some(i) = sessions.iter().position(|(s, _, _)| *s == t.namespace) else {
            self.store(t.key_group, &t.key, sessions)?;
            return Ok(false);
        };
        let (start, end) = (sessions[i].0, sessions[i].1);
        let fired = end - 1 == t.timestamp;
        if fired {
            if allowed == 0 {
                let (_, _, acc) = sessions.swap_remove(i);
                self.emit(t.key_group, &t.key, start, end, acc)?;
                self.clear(t.key_group, &t.key, start, end)?;
            } else {
                let acc = sessions[i].2.clone();
                self.emit(t.key_group, &t.key, start, end, acc)?;
                self.backend.register_timer(t.key_group, &t.key, start, end - 1 + allowed).map_err(|e| self.state(e))?;
            }
        } else if end - 1 + allowed == t.timestamp {
            sessions.swap_remove(i);
            self.clear(t.key_group, &t.key, start, end)?;
        }
        self.store(t.key_group, &t.key, sessions)?;
        Ok(fired)
    }
}

impl<K: Key, T: Send, A: Aggregate<T>, F: WindowFunction<K, A::Out>> Operator<Keyed<K, T>> for SessionWindowOperator<K, T, A, F> {
    fn process(&mut self, batch: &mut Vec<Keyed<K, T>>) -> Result<(), JobError> {
        for r in batch.drain(..) {
            self.add(r)?;
        }
        self.flush()
    }

    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        self.backend.pop_timers(watermark, &mut self.fired).map_err(|e| JobError::state(&self.id, e))?;
        self.fire_timers()?;
        self.late.watermark(watermark)?;
        self.next.watermark(watermark)
    }

    fn processing_time(&mut self, now: i64) -> Result<Option<i64>, JobError> {
        let Some(timers) = &mut self.processing else { return Ok(None) };
        if timers.next().is_some_and(|due| due <= now) {
            timers.pop_due(now, &mut self.fired);
            self.fire_timers()?;
        }
        Ok(self.processing.as_ref().and_then(|t| t.next()))
    }

    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        let state = barrier.snapshot(&mut self.backend).map_err(|e| JobError::state(&self.id, e))?;
        let inline = match &self.processing {
            Some(timers) => timers.snapshot()?,
            None => None,
        };
        snapshots.push(OperatorSnapshot { operator_id: self.id.clone(), key_groups: Some(self.range), inline, state: Some(state) });
        self.late.barrier(barrier, snapshots)?;
        self.next.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.late.checkpoint_complete(n)?;
        self.next.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.late.checkpoint_aborted(n)?;
        self.next.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.late.open()?;
        self.next.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.late.finish()?;
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.late.idle()?;
        self.next.idle()
    }
}
