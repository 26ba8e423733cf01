//! The Nexmark events: persons, auctions and bids, with the fields the
//! Nexmark specification names (in JSON, `camelCase` as in the spec).

use serde::{Deserialize, Serialize};

/// A person registering on the auction site: a seller or a bidder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// The person's id: `1000, 1001, ...` in the order persons are generated.
    pub id: u64,
    /// First and last name, e.g. `"Peter Shultz"`.
    pub name: String,
    /// A random address `"<name>@<domain>.com"` (up to 6 and 4 random letters,
    /// possibly with inner spaces, as in the reference).
    pub email_address: String,
    /// Four random groups of four digits, e.g. `"0123 4567 8901 2345"`.
    pub credit_card: String,
    /// One of ten US cities.
    pub city: String,
    /// One of six US state codes.
    pub state: String,
    /// Event time in milliseconds since the epoch.
    pub date_time: i64,
    /// Random letters padding the person toward the configured average size.
    pub extra: String,
}

/// An item put up for auction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auction {
    /// The auction's id: `1000, 1001, ...` in the order auctions are generated.
    pub id: u64,
    /// A random name of up to 19 letters and spaces.
    pub item_name: String,
    /// A random description of up to 99 letters and spaces.
    pub description: String,
    /// The initial bid, a log-distributed price in cents.
    pub initial_bid: u64,
    /// The reserve: the initial bid plus another random price.
    pub reserve: u64,
    /// Event time in milliseconds since the epoch.
    pub date_time: i64,
    /// When the auction closes, in milliseconds since the epoch (after `date_time`).
    pub expires: i64,
    /// The id of the selling person.
    pub seller: u64,
    /// The category id, `10 ..= 14`.
    pub category: u64,
    /// Random letters padding the auction toward the configured average size.
    pub extra: String,
}

/// A bid on an auction.
///
/// As in the reference generators, `auction` and `bidder` may be a few ids
/// beyond the last auction and person generated so far (the configured
/// leads; and the hot bidder is the *second* person of its batch of 100,
/// which exists only once that person has been generated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bid {
    /// The id of the auction bid on.
    pub auction: u64,
    /// The id of the bidding person.
    pub bidder: u64,
    /// The price in cents (log-distributed).
    pub price: u64,
    /// The channel the bid came through: a hot one (`"Google"`, `"Facebook"`,
    /// `"Baidu"`, `"Apple"`) or `"channel-<0..9999>"`.
    pub channel: String,
    /// The url of the channel (fixed per channel).
    pub url: String,
    /// Event time in milliseconds since the epoch.
    pub date_time: i64,
    /// Random letters padding the bid toward the configured average size.
    pub extra: String,
}

/// A Nexmark event.
///
/// In JSON (serde) an event is one object: `"kind"` (`"person"`, `"auction"`
/// or `"bid"`) and the fields of the event, e.g.
/// `{"kind":"bid","auction":1000,"bidder":1001,...,"dateTime":1436918400000,"extra":"..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

/// The kind of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A [`Person`].
    Person,
    /// An [`Auction`].
    Auction,
    /// A [`Bid`].
    Bid,
}

impl Event {
    /// The event time (`dateTime`) in milliseconds since the epoch.
    ///
    /// ```
    /// use weir_nexmark::{event, GeneratorConfig};
    ///
    /// let config = GeneratorConfig::default();
    /// assert_eq!(event(&config, 20).timestamp(), config.base_time_ms + 2);
    /// ```
    pub fn timestamp(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// The kind of the event.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Person(_) => EventKind::Person,
            Event::Auction(_) => EventKind::Auction,
            Event::Bid(_) => EventKind::Bid,
        }
    }
}
