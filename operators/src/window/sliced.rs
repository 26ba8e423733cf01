//! Tumbling and sliding windows: one accumulator per key and pane in keyed
//! state, merged into a window's result when the watermark passes its end.
//!
//! A pane is a slice of `gcd(size, slide)` ms, so a record is stored once
//! whatever the number of windows it belongs to. A window `[s, s + size)` has
//! a timer `(namespace s, time s + size - 1)`. A new pane registers the
//! timer of the earliest window holding it that is not due yet, and a window
//! that fires chains to the next one (`s + slide`) when a pane it read lies
//! in that window too: every window with data fires, and a pane of a 10 s
//! window sliding by 1 s registers one timer rather than ten. The next window
//! gets a timer if it is not due yet; if it is (the watermark jumped), it
//! fires at once, and its own timer, if the same batch holds one, is skipped.
//! Timers fire in time order for a key, so when window `s` fires no earlier
//! window needs the panes `[s, s + slide)` any more: they are removed then,
//! or, with allowed lateness, by a clean-up timer `allowed` ms later. A record
//! within the allowed lateness of a window that has fired fires it again
//! with the record in. The window function's `clear` is called where a
//! window's panes are removed: it will not fire again.

use std::collections::HashSet;

use weir_runtime::{Barrier, Counter, Event, JobError, Keyed, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::{Backend, Key, KeyGroupRange, KeyedStateBackend, StateId, Timer};

use super::late::LateData;
use super::{Aggregate, Sliced, Window, WindowContext, WindowFunction};
use crate::processing_time::ProcessingTimers;
use crate::OpenContext;

const OUT_BATCH: usize = 4096;

/// Runs tumbling or sliding windows of an [`Aggregate`], emitting through a
/// [`WindowFunction`].
pub struct SlicedWindowOperator<K: Key, T, A: Aggregate<T>, F: WindowFunction<K, A::Out>> {
    id: String,
    spec: Sliced,
    agg: A,
    f: F,
    backend: Backend<K>,
    panes: StateId<i64, A::Acc>,
    range: KeyGroupRange,
    watermark: i64,
    fired: Vec<Timer<K>>,
    /// Windows fired by chaining from an earlier one in this batch of
    /// timers: their own timers in the batch are skipped.
    chained: HashSet<(u32, K, i64)>,
    out: Vec<Event<F::Out>>,
    windows_fired: Counter,
    late: LateData<T>,
    /// Windows in processing time keep their timers here.
    processing: Option<ProcessingTimers<K>>,
    next: Box<dyn Operator<Event<F::Out>>>,
}

impl<K: Key, T: Send, A: Aggregate<T>, F: WindowFunction<K, A::Out>> SlicedWindowOperator<K, T, A, F> {
    /// Builds the instance described by `env`, restoring its state if the
    /// job restores. Windows are `size` ms every `slide` ms, in processing
    /// time if `processing`; records up to `allowed_lateness` ms after a
    /// window's end still update it; later ones go to `late` (or are
    /// dropped and counted).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        (size, slide, processing): (i64, i64, bool),
        allowed_lateness: i64,
        agg: A,
        mut f: F,
        env: &SubtaskEnv,
        late: Option<Box<dyn Operator<Event<T>>>>,
        next: Box<dyn Operator<Event<F::Out>>>,
    ) -> Result<Self, JobError> {
        let mut backend: Backend<K> = env.keyed_backend(id)?;
        let panes = backend.register("window-contents").map_err(|e| JobError::state(id, e))?;
        f.open(&mut OpenContext::new(&mut backend, env.subtask))?;
        Ok(SlicedWindowOperator {
            id: id.to_string(),
            spec: super::WindowAssigner::sliced(size, slide),
            agg,
            f,
            backend,
            panes,
            range: env.key_groups,
            watermark: i64::MIN,
            fired: Vec::new(),
            chained: HashSet::new(),
            out: Vec::new(),
            windows_fired: env.counters.counter("windows_fired"),
            late: LateData::new(id, env, if processing { 0 } else { allowed_lateness }, late),
            processing: if processing { Some(ProcessingTimers::restored(id, env)?) } else { None },
            next,
        })
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

    /// Emits window `[start, start + size)` of `key`, taking its only pane
    /// out of state when `take` (tumbling windows without lateness). Returns
    /// whether a pane of the next window (`start + slide`) holds data.
    fn fire(&mut self, kg: u32, key: &K, start: i64, take: bool) -> Result<bool, JobError> {
        let Sliced { size, slide, pane } = self.spec;
        let mut next_has_data = false;
        let acc = if take {
            self.backend.remove(&self.panes, kg, key, &start).map_err(|e| self.state(e))?
        } else {
            let mut acc: Option<A::Acc> = None;
            for p in (start..start + size).step_by(pane as usize) {
                if let Some(a) = self.backend.get(&self.panes, kg, key, &p).map_err(|e| self.state(e))? {
                    next_has_data |= p >= start + slide;
                    match &mut acc {
                        Some(acc) => self.agg.merge(acc, a),
                        None => acc = Some(a),
                    }
                }
            }
            acc
        };
        if let Some(acc) = acc {
            let mut ctx = WindowContext::new(&mut self.backend, kg, key, Window { start, end: start + size }, self.watermark);
            self.f.fire(&mut ctx, self.agg.result(acc), &mut self.out)?;
            if self.out.len() >= OUT_BATCH {
                self.flush()?;
            }
        }
        Ok(next_has_data)
    }

    /// Removes the panes that no window after `[start, ..)` holds.
    fn drop_panes(&mut self, kg: u32, key: &K, start: i64) -> Result<(), JobError> {
        let Sliced { size, slide, pane } = self.spec;
        for p in (start..start + slide.min(size)).step_by(pane as usize) {
            self.backend.remove(&self.panes, kg, key, &p).map_err(|e| self.state(e))?;
        }
        Ok(())
    }

    /// Window `[start, ..)` of `key` is purged: the function clears its state.
    fn clear(&mut self, kg: u32, key: &K, start: i64) -> Result<(), JobError> {
        let window = Window { start, end: start + self.spec.size };
        self.f.clear(&mut WindowContext::new(&mut self.backend, kg, key, window, self.watermark))
    }

    /// Handles a window's timer when timers up to `due` are firing; how
    /// many windows it fired (none for a clean-up after the allowed
    /// lateness, several when it chains to windows already due).
    fn on_timer(&mut self, t: &Timer<K>, due: i64) -> Result<u64, JobError> {
        let Sliced { size, slide, pane } = self.spec;
        let allowed = self.late.allowed;
        let (kg, key) = (t.key_group, &t.key);
        let mut start = t.namespace;
        if allowed > 0 && t.timestamp == start + size - 1 + allowed {
            self.drop_panes(kg, key, start)?;
            self.clear(kg, key, start)?;
            return Ok(0);
        }
        if !self.chained.is_empty() && self.chained.remove(&(kg, key.clone(), start)) {
            return Ok(0); // fired already, chained from the window before
        }
        let tumbling = pane == size && slide == size;
        let mut windows = 0;
        loop {
            let next_has_data = self.fire(kg, key, start, tumbling && allowed == 0)?;
            windows += 1;
            if allowed == 0 {
                if !tumbling {
                    self.drop_panes(kg, key, start)?;
                }
                self.clear(kg, key, start)?;
            } else {
                self.backend.register_timer(kg, key, start, start + size - 1 + allowed).map_err(|e| self.state(e))?;
            }
            if !next_has_data {
                return Ok(windows);
            }
            start += slide;
            if start + size - 1 > due {
                self.register(kg, key, start)?;
                return Ok(windows);
            }
            self.chained.insert((kg, key.clone(), start));
        }
    }

    /// Handles the timers in `self.fired` (all due by `due`), in order, and
    /// sends what they emit. Clean-up timers they register may be due too:
    /// the callers pop again until none is.
    fn fire_timers(&mut self, due: i64) -> Result<(), JobError> {
        let fired = std::mem::take(&mut self.fired);
        let mut windows = 0;
        for t in &fired {
            windows += self.on_timer(t, due)?;
        }
        self.fired = fired;
        self.fired.clear();
        self.chained.clear();
        if windows > 0 {
            self.windows_fired.add(windows);
        }
        self.flush()
    }

    /// Registers the timer of window `[start, start + size)` of `key`.
    #[inline]
    fn register(&mut self, kg: u32, key: &K, start: i64) -> Result<(), JobError> {
        let end = start + self.spec.size;
        match &mut self.processing {
            Some(timers) => timers.register(kg, key.clone(), start, end - 1),
            None => self.backend.register_timer(kg, key, start, end - 1).map_err(|e| JobError::state(&self.id, e))?,
        }
        Ok(())
    }
}

impl<K: Key, T: Send, A: Aggregate<T>, F: WindowFunction<K, A::Out>> Operator<Keyed<K, T>> for SlicedWindowOperator<K, T, A, F> {
    fn process(&mut self, batch: &mut Vec<Keyed<K, T>>) -> Result<(), JobError> {
        let Sliced { size, slide, .. } = self.spec;
        let (allowed, wm) = match self.processing {
            // In processing time the clock only moves on: nothing is late.
            Some(_) => (0, i64::MIN),
            None => (self.late.allowed, self.watermark),
        };
        let now = self.processing.as_ref().map(|_| weir_runtime::processing_time_now());
        for mut r in batch.drain(..) {
            if let Some(now) = now {
                r.ts = now;
            }
            let last = self.spec.last_window_start(r.ts);
            if r.ts - last >= size {
                continue; // between windows (slide > size): in none
            }
            if last + size - 1 <= wm.saturating_sub(allowed) {
                self.late.late(Event { ts: r.ts, value: r.value });
                continue;
            }
            let first = self.spec.first_window_start(r.ts);
            let pane = self.spec.pane_of(r.ts);
            let agg = &self.agg;
            let created = self
                .backend
                .upsert(&self.panes, r.kg, &r.key, &pane, r.value, |v| agg.first(v), |acc, v| agg.add(acc, v))
                .map_err(|e| JobError::state(&self.id, e))?;
            if created {
                // The earliest window of the pane still to fire; it
                // registers the next one when it fires.
                let mut s = first;
                while s <= last && s + size - 1 <= wm {
                    s += slide;
                }
                if s <= last {
                    self.register(r.kg, &r.key, s)?;
                }
            }
            if allowed > 0 && first + size - 1 <= wm {
                // Windows that fired and are still within their lateness
                // fire again. One that fires for the first time here (its
                // first record is late) gets its clean-up timer now.
                let mut s = first;
                while s <= last && s + size - 1 <= wm {
                    if s + size - 1 + allowed > wm {
                        self.fire(r.kg, &r.key, s, false)?;
                        self.late.updated();
                        if created {
                            self.backend.register_timer(r.kg, &r.key, s, s + size - 1 + allowed).map_err(|e| self.state(e))?;
                        }
                    }
                    s += slide;
                }
            }
        }
        self.flush()
    }

    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        loop {
            self.backend.pop_timers(watermark, &mut self.fired).map_err(|e| JobError::state(&self.id, e))?;
            if self.fired.is_empty() {
                break;
            }
            self.fire_timers(watermark)?;
        }
        self.late.watermark(watermark)?;
        self.next.watermark(watermark)
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
    fn processing_time(&mut self, now: i64) -> Result<Option<i64>, JobError> {
        let Some(timers) = &mut self.processing else { return Ok(None) };
        if timers.next().is_some_and(|due| due <= now) {
            // The timers of the milliseconds before `now` fire (a window
            // takes records until its last millisecond has passed); chained
            // windows are fired at once if their last millisecond has
            // passed too, or get timers.
            timers.pop_due(now, &mut self.fired);
            self.fire_timers(now - 1)?;
        }
        Ok(self.processing.as_ref().and_then(|t| t.next()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use weir_runtime::{Counters, Sink, SinkOperator};
    use weir_state::BackendKind;

    use super::*;
    use crate::window::{Count, Results, WindowResult};

    /// `(key, window start, count)` of every window fired.
    type Fired = Arc<Mutex<Vec<(u64, i64, u64)>>>;

    struct Collect(Fired);

    impl Sink<WindowResult<u64, u64>> for Collect {
        fn write(&mut self, batch: &mut Vec<Event<WindowResult<u64, u64>>>) -> Result<(), JobError> {
            self.0.lock().unwrap().extend(batch.drain(..).map(|e| (e.value.key, e.value.window.start, e.value.value)));
            Ok(())
        }
    }

    /// Tumbling processing-time windows of `size` ms counting records.
    fn counting(size: i64, fired: &Fired, dir: &std::path::Path) -> SlicedWindowOperator<u64, u8, Count, Results> {
        let range = KeyGroupRange::new(0, 127);
        let mut backend: Backend<u64> = Backend::new(BackendKind::HashMap, range, dir, 64 << 20).unwrap();
        let panes = backend.register("window-contents").unwrap();
        let counters = Counters::default();
        SlicedWindowOperator {
            id: "windows".into(),
            spec: super::super::WindowAssigner::sliced(size, size),
            agg: Count,
            f: Results,
            backend,
            panes,
            range,
            watermark: i64::MIN,
            fired: Vec::new(),
            chained: HashSet::new(),
            out: Vec::new(),
            windows_fired: counters.counter("windows_fired"),
            late: LateData::counted_in("windows", &counters, 0, None),
            processing: Some(ProcessingTimers::default()),
            next: Box::new(SinkOperator(Collect(fired.clone()))),
        }
    }

    /// A processing-time window takes records until its last millisecond
    /// has passed: called during that millisecond, `processing_time` must
    /// not fire it, or a record of the same millisecond creates the
    /// window's pane again and the window fires twice (a window committed
    /// twice by the Nexmark q12 test).
    #[test]
    fn a_processing_time_window_fires_once_its_last_millisecond_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let fired = Fired::default();
        // Windows of 300 years: the wall clock stays in the first one.
        let size = 10_000_000_000_000;
        let mut op = counting(size, &fired, dir.path());
        let record = || Keyed { kg: 3, key: 7u64, ts: 0, value: 0u8 };
        op.process(&mut vec![record()]).unwrap();
        // The wall clock reads the window's last millisecond...
        let due = op.processing_time(size - 1).unwrap();
        // ... in which another record arrives (in the same window: the wall clock is in it).
        op.process(&mut vec![record()]).unwrap();
        let next = op.processing_time(size).unwrap();
        assert_eq!(*fired.lock().unwrap(), vec![(7, 0, 2)], "the window fires once, with both records");
        assert_eq!((due, next), (Some(size), None), "due once millisecond {} has passed", size - 1);
    }
}
