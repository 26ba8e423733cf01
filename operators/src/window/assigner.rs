//! Window assigners: which windows an event time belongs to. Tumbling and
//! sliding windows are aligned to the epoch and cut into panes; session
//! windows are per key and merge.

use std::time::Duration;

/// A window: event times from `start` (inclusive) to `end` (exclusive), in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// First millisecond.
    pub start: i64,
    /// One past the last millisecond.
    pub end: i64,
}

impl Window {
    /// The last millisecond in the window: its results carry this event time,
    /// and it fires once the watermark reaches it.
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// Tumbling windows of a fixed size: `[k * size, (k + 1) * size)`.
///
/// ```
/// use weir_operators::TumblingWindows;
/// let w = TumblingWindows::of_millis(1000);
/// assert_eq!(w.window_of(2500).start, 2000);
/// assert_eq!(w.window_of(-1).start, -1000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TumblingWindows {
    size_ms: i64,
    processing: bool,
}

impl TumblingWindows {
    /// Windows of `size_ms` milliseconds (at least 1).
    pub fn of_millis(size_ms: i64) -> Self {
        TumblingWindows { size_ms: size_ms.max(1), processing: false }
    }
    /// Windows of `size`.
    pub fn of(size: Duration) -> Self {
        TumblingWindows { size_ms: millis(size), processing: false }
    }
    /// The same windows in processing time: a record belongs to the window
    /// of the wall clock when it arrives, and a window fires when the wall
    /// clock passes its end (whatever the watermark).
    pub fn in_processing_time(mut self) -> Self {
        self.processing = true;
        self
    }
    /// The window holding event time `ts`.
    #[inline]
    pub fn window_of(&self, ts: i64) -> Window {
        let start = ts - ts.rem_euclid(self.size_ms);
        Window { start, end: start + self.size_ms }
    }
}

/// Sliding windows of `size` starting every `slide`: `[k * slide,
/// k * slide + size)`. An event belongs to `size / slide` windows, but is stored once:
/// the operator keeps one accumulator per pane of `gcd(size, slide)` and
/// merges a window's panes when it fires.
///
/// ```
/// use std::time::Duration;
/// use weir_operators::SlidingWindows;
/// let w = SlidingWindows::of(Duration::from_secs(10), Duration::from_secs(1));
/// let windows: Vec<i64> = w.windows_of(12_500).map(|w| w.start).collect();
/// assert_eq!(windows, (3..=12).map(|s| s * 1000).collect::<Vec<_>>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    size_ms: i64,
    slide_ms: i64,
    processing: bool,
}

impl SlidingWindows {
    /// Windows of `size` every `slide` (both at least 1 ms).
    pub fn of(size: Duration, slide: Duration) -> Self {
        Self::of_millis(millis(size), millis(slide))
    }
    /// Windows of `size_ms` every `slide_ms` milliseconds.
    pub fn of_millis(size_ms: i64, slide_ms: i64) -> Self {
        SlidingWindows { size_ms: size_ms.max(1), slide_ms: slide_ms.max(1), processing: false }
    }
    /// The same windows in processing time (see [`TumblingWindows::in_processing_time`]).
    pub fn in_processing_time(mut self) -> Self {
        self.processing = true;
        self
    }
    /// The windows holding `ts`, earliest first.
    pub fn windows_of(&self, ts: i64) -> impl Iterator<Item = Window> {
        let spec = Sliced::from(*self);
        let last = spec.last_window_start(ts);
        let first = spec.first_window_start(ts);
        let (size, slide) = (self.size_ms, self.slide_ms);
        (0..)
            .map(move |i| first + i * slide)
            .take_while(move |s| *s <= last)
            .map(move |start| Window { start, end: start + size })
            .filter(move |w| w.start <= ts && ts < w.end)
    }
}

/// Session windows: a key's events closer than `gap` to each other fall in
/// one window, `[first event, last event + gap)`. A window is per key, and
/// an event between two sessions merges them.
///
/// ```
/// use std::time::Duration;
/// use weir_operators::SessionWindows;
/// let s = SessionWindows::with_gap(Duration::from_secs(30));
/// assert_eq!(s.gap_millis(), 30_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    gap_ms: i64,
    processing: bool,
}

impl SessionWindows {
    /// Sessions that end `gap` after their last event.
    pub fn with_gap(gap: Duration) -> Self {
        SessionWindows { gap_ms: millis(gap), processing: false }
    }
    /// Sessions that end `gap_ms` milliseconds after their last event.
    pub fn with_gap_millis(gap_ms: i64) -> Self {
        SessionWindows { gap_ms: gap_ms.max(1), processing: false }
    }
    /// The same sessions in processing time: a record's time is the wall
    /// clock when it arrives, and a session closes `gap` of wall-clock time
    /// after its last record (whatever the watermark).
    pub fn in_processing_time(mut self) -> Self {
        self.processing = true;
        self
    }
    /// The gap in milliseconds.
    pub fn gap_millis(&self) -> i64 {
        self.gap_ms
    }
}

/// Windows of a fixed size every fixed slide, kept as panes (tumbling
/// windows are the case `slide == size`, one pane per window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sliced {
    pub(crate) size: i64,
    pub(crate) slide: i64,
    pub(crate) pane: i64,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Sliced {
    #[inline]
    pub(crate) fn pane_of(&self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.pane)
    }
    /// Start of the last (latest) window holding `ts`.
    #[inline]
    pub(crate) fn last_window_start(&self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.slide)
    }
    /// Start of the first (earliest) window holding `ts`.
    #[inline]
    pub(crate) fn first_window_start(&self, ts: i64) -> i64 {
        let last = self.last_window_start(ts);
        last - ((self.size - 1 - (ts - last)) / self.slide) * self.slide
    }
}

impl From<SlidingWindows> for Sliced {
    fn from(w: SlidingWindows) -> Self {
        Sliced { size: w.size_ms, slide: w.slide_ms, pane: gcd(w.size_ms, w.slide_ms) }
    }
}

impl From<TumblingWindows> for Sliced {
    fn from(w: TumblingWindows) -> Self {
        Sliced { size: w.size_ms, slide: w.size_ms, pane: w.size_ms }
    }
}

/// What a window operator is built from: any of the assigners.
#[derive(Debug, Clone)]
pub enum WindowAssigner {
    /// Fixed-size windows every fixed slide (tumbling and sliding).
    Sliced {
        /// Window size, ms.
        size: i64,
        /// Distance between window starts, ms.
        slide: i64,
        /// In processing time rather than event time.
        processing: bool,
    },
    /// Per-key session windows with this gap, ms.
    Session {
        /// The gap that ends a session, ms.
        gap: i64,
        /// In processing time rather than event time.
        processing: bool,
    },
    /// One window per key, fired by a trigger.
    Global(super::GlobalWindows),
}

impl From<super::GlobalWindows> for WindowAssigner {
    fn from(w: super::GlobalWindows) -> Self {
        WindowAssigner::Global(w)
    }
}

impl From<TumblingWindows> for WindowAssigner {
    fn from(w: TumblingWindows) -> Self {
        WindowAssigner::Sliced { size: w.size_ms, slide: w.size_ms, processing: w.processing }
    }
}

impl From<SlidingWindows> for WindowAssigner {
    fn from(w: SlidingWindows) -> Self {
        WindowAssigner::Sliced { size: w.size_ms, slide: w.slide_ms, processing: w.processing }
    }
}

impl From<SessionWindows> for WindowAssigner {
    fn from(w: SessionWindows) -> Self {
        WindowAssigner::Session { gap: w.gap_ms, processing: w.processing }
    }
}

impl WindowAssigner {
    pub(crate) fn sliced(size: i64, slide: i64) -> Sliced {
        Sliced::from(SlidingWindows::of_millis(size, slide))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every window holding `ts`, by brute force over window starts.
    fn brute(size: i64, slide: i64, ts: i64) -> Vec<i64> {
        (-100..100).map(|k| k * slide).filter(|s| *s <= ts && ts < s + size).collect()
    }

    #[test]
    fn sliding_windows_hold_what_brute_force_finds() {
        for (size, slide) in [(10, 1), (10, 3), (6, 4), (5, 5), (4, 6)] {
            let w = SlidingWindows::of_millis(size, slide);
            for ts in -40..40 {
                let got: Vec<i64> = w.windows_of(ts).map(|w| w.start).collect();
                assert_eq!(got, brute(size, slide, ts), "size {size} slide {slide} ts {ts}");
                let s = Sliced::from(w);
                let pane = s.pane_of(ts);
                assert!(pane <= ts && ts < pane + s.pane);
                for win in &got {
                    assert!(*win <= pane && pane + s.pane <= win + size, "a pane lies inside each window of its events");
                }
            }
        }
    }
}
