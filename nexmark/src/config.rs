//! The generator's configuration and the deterministic arithmetic on event
//! numbers: event kinds, ids and timestamps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::EventKind;

/// The first person id: persons are numbered `1000, 1001, ...` (as in the
/// reference generators, so that queries find matches even on small streams).
pub const FIRST_PERSON_ID: u64 = 1000;

/// The first auction id: auctions are numbered `1000, 1001, ...`.
pub const FIRST_AUCTION_ID: u64 = 1000;

/// The first category id: categories are `10 ..= 14`.
pub const FIRST_CATEGORY_ID: u64 = 10;

/// The number of auction categories (kept small so that queries find matches).
pub const NUM_CATEGORIES: u64 = 5;

/// Hot sellers, bidders and auctions are chosen as the first (sellers,
/// auctions) or second (bidders) of the last batch of this many ids.
pub const HOT_BATCH: u64 = 100;

/// The default base time: 2015-07-15T00:00:00Z, the base time of the Beam
/// Nexmark suite, in milliseconds since the epoch.
pub const DEFAULT_BASE_TIME_MS: i64 = 1_436_918_400_000;

/// Parameters of the Nexmark event stream.
///
/// The defaults are the standard Nexmark ones (`NexmarkConfiguration` of the
/// Flink Nexmark project): proportions 1:3:46, average sizes 200/500/100
/// bytes, hot ratios 2 (auctions), 4 (sellers) and 4 (bidders), 100 auctions
/// in flight, 1000 active people, 10 000 events per second of event time.
///
/// Rates and times are *event time*: event number `n` is stamped
/// `base_time_ms + n * 1_000_000 / events_per_second / 1000` (see
/// [`GeneratorConfig::timestamp_for_event`]); how fast events are produced in
/// wall-clock time is up to the caller.
///
/// ```
/// use weir_nexmark::GeneratorConfig;
///
/// let config = GeneratorConfig { seed: 7, max_events: Some(1_000_000), ..GeneratorConfig::default() };
/// assert!(config.validate().is_ok());
/// assert_eq!(config.total_proportion(), 50);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorConfig {
    /// Seed of the random choices; with the same seed (and configuration)
    /// event number `n` is always the same event.
    pub seed: u64,
    /// Event time of event number 0, in milliseconds since the epoch.
    pub base_time_ms: i64,
    /// Events per second of event time, over the whole stream (all instances
    /// together): the inter-event delay is `1_000_000 / events_per_second` µs.
    /// Must be at least 1.
    pub events_per_second: u64,
    /// The stream holds the event numbers `0 .. max_events`; `None` for an
    /// unbounded stream.
    pub max_events: Option<u64>,
    /// Persons out of every `total_proportion()` events. Must be at least 1.
    pub person_proportion: u64,
    /// Auctions out of every `total_proportion()` events. Must be at least 1.
    pub auction_proportion: u64,
    /// Bids out of every `total_proportion()` events.
    pub bid_proportion: u64,
    /// Average size of a person in bytes, which its `extra` field pads toward.
    pub avg_person_byte_size: u64,
    /// Average size of an auction in bytes, which its `extra` field pads toward.
    pub avg_auction_byte_size: u64,
    /// Average size of a bid in bytes, which its `extra` field pads toward.
    pub avg_bid_byte_size: u64,
    /// A bid is for a hot auction with probability `1 - 1 / hot_auction_ratio`.
    /// Must be at least 1.
    pub hot_auction_ratio: u64,
    /// An auction is by a hot seller with probability `1 - 1 / hot_sellers_ratio`.
    /// Must be at least 1.
    pub hot_sellers_ratio: u64,
    /// A bid is by a hot bidder with probability `1 - 1 / hot_bidders_ratio`.
    /// Must be at least 1.
    pub hot_bidders_ratio: u64,
    /// Average number of auctions in flight: sets auction lengths, and a bid
    /// for a non-hot auction is for one of the last this many auctions.
    pub num_in_flight_auctions: u64,
    /// A non-hot seller or bidder is one of the last this many persons.
    /// Must be at least 1.
    pub num_active_people: u64,
    /// A non-hot seller or bidder may be up to this many persons beyond the
    /// last person generated so far (reference: 10; 0 keeps references to
    /// persons that exist, except for the hot bidder, see [`crate::Bid`]).
    pub person_id_lead: u64,
    /// A bid for a non-hot auction may be for up to this many auctions beyond
    /// the last auction generated so far (reference: 10).
    pub auction_id_lead: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            base_time_ms: DEFAULT_BASE_TIME_MS,
            events_per_second: 10_000,
            max_events: None,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
            person_id_lead: 10,
            auction_id_lead: 10,
        }
    }
}

/// A configuration field out of its range (see [`GeneratorConfig::validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
}

impl ConfigError {
    /// The name of the offending field of [`GeneratorConfig`].
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nexmark generator config: `{}` must be at least 1", self.field)
    }
}

impl std::error::Error for ConfigError {}

impl GeneratorConfig {
    /// Checks the fields that must be at least 1. Generating events with an
    /// invalid configuration gives unspecified events or panics (division by
    /// zero); [`crate::Generator::new`] checks it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("events_per_second", self.events_per_second),
            ("person_proportion", self.person_proportion),
            ("auction_proportion", self.auction_proportion),
            ("hot_auction_ratio", self.hot_auction_ratio),
            ("hot_sellers_ratio", self.hot_sellers_ratio),
            ("hot_bidders_ratio", self.hot_bidders_ratio),
            ("num_active_people", self.num_active_people),
        ];
        match at_least_one.iter().find(|(_, value)| *value == 0) {
            Some((field, _)) => Err(ConfigError { field }),
            None => Ok(()),
        }
    }

    /// Events in one cycle of the mix: `person + auction + bid` proportions (50).
    pub fn total_proportion(&self) -> u64 {
        self.person_proportion + self.auction_proportion + self.bid_proportion
    }

    /// Whether event number `n` is in the stream (below `max_events`).
    pub fn in_stream(&self, n: u64) -> bool {
        self.max_events.is_none_or(|max| n < max)
    }

    /// The kind of event number `n`: in each cycle of `total_proportion()`
    /// events the first `person_proportion` are persons, the next
    /// `auction_proportion` auctions and the rest bids.
    ///
    /// ```
    /// use weir_nexmark::{EventKind, GeneratorConfig};
    ///
    /// let config = GeneratorConfig::default();
    /// assert_eq!(config.kind_of(0), EventKind::Person);
    /// assert_eq!(config.kind_of(3), EventKind::Auction);
    /// assert_eq!(config.kind_of(4), EventKind::Bid);
    /// assert_eq!(config.kind_of(50), EventKind::Person);
    /// ```
    pub fn kind_of(&self, n: u64) -> EventKind {
        let offset = n % self.total_proportion();
        if offset < self.person_proportion {
            EventKind::Person
        } else if offset < self.person_proportion + self.auction_proportion {
            EventKind::Auction
        } else {
            EventKind::Bid
        }
    }

    /// Event time of event number `n` in milliseconds since the epoch:
    /// `base_time_ms + trunc(n * inter_event_delay_us) / 1000`, computed in
    /// `f64` exactly as the Java reference computes it.
    ///
    /// ```
    /// use weir_nexmark::GeneratorConfig;
    ///
    /// let config = GeneratorConfig { base_time_ms: 0, ..GeneratorConfig::default() };
    /// // 10 000 events/s: 100 µs apart, 10 events per millisecond.
    /// assert_eq!(config.timestamp_for_event(12_345), 1_234);
    /// ```
    pub fn timestamp_for_event(&self, n: u64) -> i64 {
        let delay_us = 1_000_000.0 / self.events_per_second as f64;
        // `as` truncates toward zero and saturates, like Java's `(long)`.
        let offset_us = (n as f64 * delay_us) as i64;
        self.base_time_ms.saturating_add(offset_us / 1000)
    }

    /// Number of persons generated by events `0 ..= n`, i.e. one more than
    /// the base-0 id of the last person at or before `n`.
    fn persons_through(&self, n: u64) -> u64 {
        let total = self.total_proportion();
        (n / total) * self.person_proportion + (n % total + 1).min(self.person_proportion)
    }

    /// Number of auctions generated by events `0 ..= n`.
    fn auctions_through(&self, n: u64) -> u64 {
        let total = self.total_proportion();
        let in_cycle = (n % total + 1).saturating_sub(self.person_proportion).min(self.auction_proportion);
        (n / total) * self.auction_proportion + in_cycle
    }

    /// Base-0 id of the last person at or before event `n` (the reference's
    /// `lastBase0PersonId`): the person's own id if `n` is a person.
    pub(crate) fn last_base0_person_id(&self, n: u64) -> u64 {
        self.persons_through(n).saturating_sub(1)
    }

    /// Base-0 id of the last auction at or before event `n` (the reference's
    /// `lastBase0AuctionId`), `None` before the first auction.
    pub(crate) fn last_base0_auction_id(&self, n: u64) -> Option<u64> {
        self.auctions_through(n).checked_sub(1)
    }

    /// Id of the last person generated at or before event `n`: the id of the
    /// person event `n` generates if it is a person.
    ///
    /// ```
    /// use weir_nexmark::GeneratorConfig;
    ///
    /// let config = GeneratorConfig::default();
    /// assert_eq!(config.last_person_id(0), 1000);
    /// assert_eq!(config.last_person_id(49), 1000);
    /// assert_eq!(config.last_person_id(50), 1001);
    /// ```
    pub fn last_person_id(&self, n: u64) -> u64 {
        self.last_base0_person_id(n) + FIRST_PERSON_ID
    }

    /// Id of the last auction generated at or before event `n` (`None` for
    /// event 0, which precedes every auction).
    ///
    /// ```
    /// use weir_nexmark::GeneratorConfig;
    ///
    /// let config = GeneratorConfig::default();
    /// assert_eq!(config.last_auction_id(0), None);
    /// assert_eq!(config.last_auction_id(1), Some(1000));
    /// assert_eq!(config.last_auction_id(49), Some(1002));
    /// assert_eq!(config.last_auction_id(51), Some(1003));
    /// ```
    pub fn last_auction_id(&self, n: u64) -> Option<u64> {
        self.last_base0_auction_id(n).map(|id| id + FIRST_AUCTION_ID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's `lastBase0PersonId`, transcribed with signed arithmetic.
    fn reference_last_person(c: &GeneratorConfig, n: i64) -> i64 {
        let total = c.total_proportion() as i64;
        let (epoch, mut offset) = (n / total, n % total);
        if offset >= c.person_proportion as i64 {
            offset = c.person_proportion as i64 - 1;
        }
        epoch * c.person_proportion as i64 + offset
    }

    /// The reference's `lastBase0AuctionId` (it is -1 before the first auction).
    fn reference_last_auction(c: &GeneratorConfig, n: i64) -> i64 {
        let (p, a) = (c.person_proportion as i64, c.auction_proportion as i64);
        let total = c.total_proportion() as i64;
        let (mut epoch, mut offset) = (n / total, n % total);
        if offset < p {
            epoch -= 1;
            offset = a - 1;
        } else if offset >= p + a {
            offset = a - 1;
        } else {
            offset -= p;
        }
        epoch * a + offset
    }

    #[test]
    fn id_arithmetic_matches_the_reference() {
        let configs = [
            GeneratorConfig::default(),
            GeneratorConfig { person_proportion: 3, auction_proportion: 2, bid_proportion: 0, ..GeneratorConfig::default() },
        ];
        for c in &configs {
            for n in 0..10_000u64 {
                assert_eq!(c.last_base0_person_id(n) as i64, reference_last_person(c, n as i64), "person, n = {n}");
                let expected = reference_last_auction(c, n as i64);
                assert_eq!(c.last_base0_auction_id(n).map_or(-1, |id| id as i64), expected, "auction, n = {n}");
            }
        }
    }

    #[test]
    fn timestamps_match_the_java_formula() {
        let c = GeneratorConfig { base_time_ms: 1000, events_per_second: 7, ..GeneratorConfig::default() };
        // Java: 1000 + (long) (1000 * 142857.14285714287) / 1000 = 1000 + 142857.
        assert_eq!(c.timestamp_for_event(1000), 1000 + 142_857);
        assert_eq!(c.timestamp_for_event(0), 1000);
        let c = GeneratorConfig { base_time_ms: 0, events_per_second: 10_000, ..GeneratorConfig::default() };
        assert_eq!(c.timestamp_for_event(9), 0);
        assert_eq!(c.timestamp_for_event(10), 1);
        assert_eq!(c.timestamp_for_event(u64::MAX), i64::MAX / 1000);
    }

    #[test]
    fn validate_names_the_field() {
        let c = GeneratorConfig { hot_bidders_ratio: 0, ..GeneratorConfig::default() };
        assert_eq!(c.validate().map_err(|e| e.field()), Err("hot_bidders_ratio"));
        assert!(GeneratorConfig::default().validate().is_ok());
    }
}
