//! `--rate`: limits how fast a source instance emits.

use std::time::{Duration, Instant};

/// Paces a source instance to `per_second` events per second.
///
/// ```
/// use weir_operators::Throttle;
/// let mut t = Throttle::new(Some(1_000_000.0));
/// assert!(t.batch_limit(4096) <= 4096);
/// t.wait(10);
/// ```
#[derive(Debug, Clone)]
pub struct Throttle {
    per_second: Option<f64>,
    start: Instant,
    emitted: u64,
}

impl Throttle {
    /// `None` means no limit.
    pub fn new(per_second: Option<f64>) -> Self {
        Throttle { per_second: per_second.filter(|r| *r > 0.0), start: Instant::now(), emitted: 0 }
    }

    /// The batch size to poll: about 10 ms worth of events when throttled.
    pub fn batch_limit(&self, max: usize) -> usize {
        match self.per_second {
            None => max,
            Some(r) => ((r / 100.0) as usize).clamp(1, max),
        }
    }

    /// Records `n` events and sleeps until they are due.
    pub fn wait(&mut self, n: u64) {
        let Some(rate) = self.per_second else { return };
        self.emitted += n;
        let due = Duration::from_secs_f64(self.emitted as f64 / rate);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}
