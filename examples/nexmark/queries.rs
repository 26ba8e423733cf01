//! The 23 Nexmark queries as weir jobs over the generated stream
//! (`weir_nexmark`). Each returns its output as CSV lines: rows appended
//! once ([`Output::Append`]), or rows that change, as `(key, value)`
//! upserts where the latest value per key is the result ([`Output::Upsert`]).
//!
//! The queries follow the SQL of Flink's nexmark project (q6, which Flink
//! SQL cannot run, follows the Nexmark specification: the average price of
//! a seller's last 10 closed auctions). Windows are in event time unless the
//! query says otherwise (q12).

use std::sync::Arc;
use std::time::Duration;

use weir::{DataStream, Event, StreamEnvironment, TumblingWindows};
use weir_nexmark::{Auction, Bid, GeneratorConfig, Person};

#[path = "stateful.rs"]
mod stateful;

pub use stateful::winning_bids;

/// The query names, `q0` to `q22`.
pub const QUERIES: [&str; 23] = [
    "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10", "q11", "q12", "q13", "q14", "q15", "q16", "q17", "q18", "q19",
    "q20", "q21", "q22",
];

/// The input: `events` events of the stream `config` describes, at most
/// `rate` per second of wall-clock time.
#[derive(Clone, Debug)]
pub struct Input {
    /// How many events.
    pub events: u64,
    /// Throttle (events per second, all instances together).
    pub rate: Option<f64>,
    /// The generator's configuration.
    pub config: GeneratorConfig,
}

/// A query's result stream.
pub enum Output {
    /// One CSV line per result row.
    Append(DataStream<String>),
    /// `(key, value)` CSV fields; the last value of each key is the result.
    Upsert(DataStream<(String, String)>),
}

/// All events, from a source with id `uid` (a query that reads the stream
/// twice, persons and auctions say, has two sources).
pub fn events(env: &StreamEnvironment, input: &Input, uid: &str) -> DataStream<weir_nexmark::Event> {
    let config = input.config.clone();
    env.generate(input.events, input.rate, 0, move |n| {
        let e = weir_nexmark::event(&config, n);
        Event::new(e.timestamp(), e)
    })
    .uid(uid)
}

/// The bids.
pub fn bids(env: &StreamEnvironment, input: &Input) -> DataStream<Bid> {
    events(env, input, "bids").flat_map(|e| match e {
        weir_nexmark::Event::Bid(b) => Some(b),
        _ => None,
    })
}

/// The auctions.
pub fn auctions(env: &StreamEnvironment, input: &Input) -> DataStream<Auction> {
    events(env, input, "auctions").flat_map(|e| match e {
        weir_nexmark::Event::Auction(a) => Some(a),
        _ => None,
    })
}

/// The persons.
pub fn persons(env: &StreamEnvironment, input: &Input) -> DataStream<Person> {
    events(env, input, "persons").flat_map(|e| match e {
        weir_nexmark::Event::Person(p) => Some(p),
        _ => None,
    })
}

/// `cents * 0.908` with three decimals, exactly (q1, q14's dollar-to-euro rate).
pub fn euros(price: u64) -> String {
    let m = u128::from(price) * 908;
    format!("{}.{:03}", m / 1000, m % 1000)
}

/// `yyyy-MM-dd` and `HH:mm` of a time in ms since the epoch, in UTC.
pub fn date_and_minute(ms: i64) -> (String, String) {
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    (Date(ms).to_string(), format!("{:02}:{:02}", minutes / 60, minutes % 60))
}

/// The date (`yyyy-MM-dd`, UTC) of a time in ms, written in place (q15 to
/// q17 show one per row); `+yyyyy-MM-dd` outside years 0 to 9999, and an
/// empty string past chrono's range (about 262,000 years).
pub struct Date(pub i64);

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match chrono::DateTime::from_timestamp_millis(self.0) {
            Some(t) => t.date_naive().fmt(f),
            None => Ok(()),
        }
    }
}

/// The channel id of q21: fixed for the four hot channels, else the
/// `channel_id` parameter of the url; `None` (the row is dropped) without one.
pub fn channel_id(channel: &str, url: &str) -> Option<String> {
    match channel.to_lowercase().as_str() {
        "apple" => return Some("0".into()),
        "google" => return Some("1".into()),
        "facebook" => return Some("2".into()),
        "baidu" => return Some("3".into()),
        _ => {}
    }
    let query = url.split_once('?').map_or(url, |(_, q)| q);
    query.split('&').find_map(|p| p.strip_prefix("channel_id=")).map(str::to_string)
}

/// The side input of q13: a value for each key `auction mod 10 000`.
pub fn side_input_value(key: u64) -> String {
    format!("side-{}", key * 7 % 10_000)
}

/// The job of query `name` on `input`; `None` for an unknown name.
pub fn build(env: &StreamEnvironment, name: &str, input: &Input) -> Option<Output> {
    let ten_s = TumblingWindows::of(Duration::from_secs(10));
    Some(match name {
        "q0" => Output::Append(bids(env, input).map(|b| format!("{},{},{},{},{}", b.auction, b.bidder, b.price, b.date_time, b.extra))),
        "q1" => Output::Append(bids(env, input).map(|b| format!("{},{},{},{}", b.auction, b.bidder, euros(b.price), b.date_time))),
        "q2" => Output::Append(bids(env, input).filter(|b| b.auction % 123 == 0).map(|b| format!("{},{}", b.auction, b.price))),
        "q3" => Output::Append(stateful::q3(persons(env, input), auctions(env, input))),
        "q4" => Output::Upsert(stateful::q4(winning_bids(auctions(env, input), bids(env, input)))),
        "q5" => Output::Append(stateful::q5(bids(env, input))),
        "q6" => Output::Upsert(stateful::q6(winning_bids(auctions(env, input), bids(env, input)))),
        "q7" => Output::Append(stateful::q7(bids(env, input))),
        "q8" => Output::Append(stateful::q8(persons(env, input), auctions(env, input))),
        "q9" => Output::Append(winning_bids(auctions(env, input), bids(env, input)).map(|w| w.to_string())),
        "q10" => Output::Append(bids(env, input).map(|b| {
            let (date, minute) = date_and_minute(b.date_time);
            format!("{},{},{},{},{date},{minute}", b.auction, b.bidder, b.price, b.date_time)
        })),
        "q11" => Output::Append(stateful::q11(bids(env, input))),
        "q12" => Output::Append(
            bids(env, input)
                .key_by(|b: &Bid| b.bidder)
                .window(ten_s.in_processing_time())
                .count()
                .uid("q12")
                .map(|r| format!("{},{},{}", r.key, r.value, r.window.start)),
        ),
        "q13" => {
            let table: Arc<Vec<String>> = Arc::new((0..10_000).map(side_input_value).collect());
            Output::Append(bids(env, input).map(move |b| {
                let value = &table[(b.auction % 10_000) as usize];
                format!("{},{},{},{},{value}", b.auction, b.bidder, b.price, b.date_time)
            }))
        }
        "q14" => Output::Append(bids(env, input).flat_map(|b| {
            let euro_millis = u128::from(b.price) * 908;
            (euro_millis > 1_000_000 * 1000 && euro_millis < 50_000_000 * 1000).then(|| {
                let hour = b.date_time.rem_euclid(86_400_000) / 3_600_000;
                let kind = match hour {
                    8..=18 => "dayTime",
                    0..=6 | 20..=23 => "nightTime",
                    _ => "otherTime",
                };
                let c = b.extra.matches('c').count();
                format!("{},{},{},{kind},{},{c}", b.auction, b.bidder, euros(b.price), b.date_time)
            })
        })),
        "q15" => Output::Upsert(stateful::q15(bids(env, input))),
        "q16" => Output::Upsert(stateful::q16(bids(env, input))),
        "q17" => Output::Upsert(stateful::q17(bids(env, input))),
        "q18" => Output::Upsert(stateful::q18(bids(env, input))),
        "q19" => Output::Upsert(stateful::q19(bids(env, input))),
        "q20" => Output::Append(stateful::q20(auctions(env, input), bids(env, input))),
        "q21" => {
            Output::Append(bids(env, input).flat_map(|b| {
                channel_id(&b.channel, &b.url).map(|id| format!("{},{},{},{},{id}", b.auction, b.bidder, b.price, b.channel))
            }))
        }
        "q22" => Output::Append(bids(env, input).map(|b| {
            let parts: Vec<&str> = b.url.split('/').collect();
            let dir = |i: usize| parts.get(i).copied().unwrap_or("");
            format!("{},{},{},{},{},{},{}", b.auction, b.bidder, b.price, b.channel, dir(3), dir(4), dir(5))
        })),
        _ => return None,
    })
}
