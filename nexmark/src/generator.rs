//! Computing events: [`event`] for one event number, [`Generator`] for the
//! events of a [`Split`].

use crate::auction::next_auction;
use crate::bid::next_bid;
use crate::config::{ConfigError, GeneratorConfig};
use crate::model::{Event, EventKind};
use crate::person::next_person;
use crate::rng::Rng;
use crate::split::Split;

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

/// An iterator over the events of a [`Split`] (in increasing event number,
/// so with non-decreasing timestamps), up to `config.max_events`.
///
/// Its checkpointable state is [`Generator::split`]; resume with
/// `Generator::new(config, split)`.
///
/// ```
/// use weir_nexmark::{Generator, GeneratorConfig, Split};
///
/// let config = GeneratorConfig { max_events: Some(100), ..GeneratorConfig::default() };
/// let mut instance = Generator::new(config, Split::new(1, 2)?)?;
/// assert_eq!(instance.next_event_number(), Some(1));
/// assert_eq!(instance.by_ref().count(), 50);
/// assert_eq!(instance.next_event_number(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
    split: Split,
}

impl Generator {
    /// A generator of the events of `split`; fails if `config` is invalid.
    pub fn new(config: GeneratorConfig, split: Split) -> Result<Generator, ConfigError> {
        config.validate()?;
        Ok(Generator { config, split })
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The event numbers still to produce: the state to checkpoint.
    pub fn split(&self) -> &Split {
        &self.split
    }

    /// The number of the next event, `None` at the end of the stream.
    pub fn next_event_number(&self) -> Option<u64> {
        self.split.position().filter(|&n| self.config.in_stream(n))
    }

    /// The timestamp of the next event: no later event of this generator is
    /// earlier (a watermark bound). `None` at the end of the stream.
    pub fn next_timestamp(&self) -> Option<i64> {
        self.next_event_number().map(|n| self.config.timestamp_for_event(n))
    }

    /// The next event with its event number.
    pub fn next_numbered(&mut self) -> Option<(u64, Event)> {
        let n = self.next_event_number()?;
        self.split.advance();
        Some((n, event(&self.config, n)))
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.next_numbered().map(|(_, e)| e)
    }
}
