//! Computing events: [`event`] for one event number, [`Generator`] for a
//! range of them.

use crate::auction::next_auction;
use crate::bid::next_bid;
use crate::config::{ConfigError, GeneratorConfig};
use crate::model::{Event, EventKind};
use crate::person::next_person;
use crate::rng::Rng;

/// Event number `n` of the stream `config` describes.
///
/// Pure and independent of every other event: the kind, ids and timestamp
/// follow from `n` alone, and the random choices come from a generator seeded
/// with `(config.seed, n)`. The configuration should be
/// [valid](GeneratorConfig::validate); `config.max_events` is not checked.
///
/// ```
/// use weir_nexmark::{event, Event, GeneratorConfig};
///
/// let config = GeneratorConfig::default();
/// let Event::Person(person) = event(&config, 50) else { panic!() };
/// assert_eq!(person.id, 1001);
/// assert_eq!(person.date_time, config.base_time_ms + 5);
/// assert_eq!(event(&config, 50), event(&config, 50));
/// ```
pub fn event(config: &GeneratorConfig, n: u64) -> Event {
    let mut rng = Rng::for_event(config.seed, n);
    let timestamp = config.timestamp_for_event(n);
    match config.kind_of(n) {
        EventKind::Person => Event::Person(next_person(config, n, &mut rng, timestamp)),
        EventKind::Auction => Event::Auction(next_auction(config, n, &mut rng, timestamp)),
        EventKind::Bid => Event::Bid(next_bid(config, n, &mut rng, timestamp)),
    }
}

/// An iterator over the events numbered `range` (in increasing event
/// number, so with non-decreasing timestamps), up to `config.max_events`.
///
/// Splitting the stream over parallel instances and resuming it are the
/// business of the job's generator source, which calls [`event`] for the
/// numbers each instance owns; this iterator serves whole ranges (a dump,
/// a test's reference).
///
/// ```
/// use weir_nexmark::{Generator, GeneratorConfig};
///
/// let config = GeneratorConfig { max_events: Some(100), ..GeneratorConfig::default() };
/// let mut events = Generator::new(config, 90..200)?;
/// assert_eq!(events.next_event_number(), Some(90));
/// assert_eq!(events.by_ref().count(), 10);
/// assert_eq!(events.next_event_number(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
    range: std::ops::Range<u64>,
}

impl Generator {
    /// A generator of the events numbered `range`; fails if `config` is invalid.
    pub fn new(config: GeneratorConfig, range: std::ops::Range<u64>) -> Result<Generator, ConfigError> {
        config.validate()?;
        Ok(Generator { config, range })
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The number of the next event, `None` at the end of the range or stream.
    pub fn next_event_number(&self) -> Option<u64> {
        Some(self.range.start).filter(|&n| n < self.range.end && self.config.in_stream(n))
    }

    /// The next event with its event number.
    pub fn next_numbered(&mut self) -> Option<(u64, Event)> {
        let n = self.next_event_number()?;
        self.range.start += 1;
        Some((n, event(&self.config, n)))
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.next_numbered().map(|(_, e)| e)
    }
}
