//! The standard Nexmark event generator: the stream of persons, auctions and
//! bids of an online auction site that the Nexmark benchmark queries read.
//!
//! # Model
//!
//! The stream is a sequence of events numbered `0, 1, 2, ...`, and event
//! number `n` is a pure function of the configuration and `n`
//! ([`event`]), so any instance can compute any event without the others.
//! The rules are those of the reference generators (Beam/Flink Nexmark's
//! `NexmarkGenerator`, and nexmark-rs):
//!
//! - **Kinds**: in every cycle of 50 events (the proportions 1:3:46) event
//!   `n % 50 == 0` is a person, `1..=3` are auctions and `4..=49` bids
//!   ([`GeneratorConfig::kind_of`]).
//! - **Ids**: persons and auctions are numbered from 1000 in the order they
//!   occur, so the id of a person or auction follows from its event number
//!   (the last base-0 person/auction id at `n`, plus 1000;
//!   [`GeneratorConfig::last_person_id`], [`GeneratorConfig::last_auction_id`]).
//! - **Time**: event `n` is stamped `base_time_ms + trunc(n * 10^6 /
//!   events_per_second) / 1000` (event time, not wall-clock time;
//!   [`GeneratorConfig::timestamp_for_event`]); 10 000 events per second by
//!   default, i.e. 10 events per millisecond.
//! - **Persons**: a first and last name from short lists, a random email
//!   address, a credit card number of four 4-digit groups, one of ten US
//!   cities and one of six states.
//! - **Auctions**: a seller that with probability `1 - 1/hot_sellers_ratio`
//!   (3/4) is a hot seller (the first person of the last batch of 100) and
//!   otherwise one of the last 1000 active persons (or up to 10 ahead); a
//!   category `10..=14`; an initial bid drawn from the log-uniform price
//!   distribution (1 to 1 000 000 dollars, in cents) and a reserve of the
//!   initial bid plus another price; `expires` up to twice the event time in
//!   which `num_in_flight_auctions` (100) more auctions are generated, so
//!   about that many auctions are open at any time.
//! - **Bids**: an auction that with probability `1 - 1/hot_auction_ratio`
//!   (1/2) is hot (the first of the last batch of 100 auctions) and otherwise
//!   one of the last 100 auctions (or up to 10 ahead); a bidder that with
//!   probability `1 - 1/hot_bidders_ratio` (3/4) is hot (the second person of
//!   the last batch of 100) and otherwise an active person; a price; a
//!   channel that half the time is one of four hot channels (`Google`,
//!   `Facebook`, `Baidu`, `Apple`, each with a fixed url) and otherwise one
//!   of `channel-0 ..= channel-9999`, whose fixed url ends, for 9 in 10
//!   channels, with `&channel_id=<Math.abs(Integer.reverse(c))>`.
//! - **Sizes**: each event's `extra` field is random letters padding it to
//!   ±20 % around the average size (person 200, auction 500, bid 100 bytes),
//!   counting 8 bytes per number and the lengths of the strings.
//!
//! Values drawn at random (names, prices, which non-hot person, ...) differ
//! from the Java generator's for the same event number, because the random
//! number generator differs (a per-event SplitMix64 here); the deterministic
//! parts (kinds, ids, timestamps, hot ids, channel ids) are the same. Two
//! deliberate deviations: Flink's `BidGenerator` adds the first person id
//! twice to bidders (ids from 2000), which Beam and nexmark-rs do not, and
//! which is not done here; and Java draws the channel urls from an unseeded
//! generator, while here they are fixed.
//!
//! # Splitting
//!
//! Because event `n` depends on nothing else, a job splits the stream by
//! event number (weir's generator source gives instance `i` of `p` the
//! numbers `n mod p == i`, checkpoints how far each got and deals the rest
//! out again on a rescale); [`Generator`] iterates over a range of numbers.
//!
//! ```
//! use weir_nexmark::{write_json_lines, Event, Generator, GeneratorConfig};
//!
//! let config = GeneratorConfig { seed: 42, max_events: Some(1000), ..GeneratorConfig::default() };
//! let mut a = Generator::new(config.clone(), 0..500)?;
//! let b = Generator::new(config, 500..u64::MAX)?;
//! let first = a.next();
//! assert!(matches!(first, Some(Event::Person(ref p)) if p.id == 1000));
//! let mut out = Vec::new();
//! write_json_lines(&mut out, a.chain(b))?;
//! assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 999);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod auction;
mod bid;
mod config;
mod generator;
mod json;
mod model;
mod person;
mod price;
mod rng;
mod strings;

#[cfg(test)]
mod tests;

pub use config::{
    ConfigError, GeneratorConfig, DEFAULT_BASE_TIME_MS, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, HOT_BATCH, NUM_CATEGORIES,
};
pub use generator::{event, Generator};
pub use json::write_json_lines;
pub use model::{Auction, Bid, Event, EventKind, Person};
