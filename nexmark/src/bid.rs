//! Bids (the reference's `BidGenerator`).

use std::sync::OnceLock;

use crate::auction::next_base0_auction_id;
use crate::config::{GeneratorConfig, FIRST_AUCTION_ID, FIRST_PERSON_ID, HOT_BATCH};
use crate::model::Bid;
use crate::person::next_base0_person_id;
use crate::price::next_price;
use crate::rng::Rng;
use crate::strings::{base_url, next_extra};

/// A bid comes through a hot channel with probability `1 - 1/HOT_CHANNELS_RATIO`.
const HOT_CHANNELS_RATIO: u64 = 2;
/// The hot channels.
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// The other channels are `channel-0 ..= channel-9999`.
const CHANNELS_NUMBER: u64 = 10_000;
/// Seeds of the fixed urls (the same for every generator seed).
const HOT_URL_STREAM: u64 = 0x4E58_484F_5455_524C;
const CHANNEL_URL_STREAM: u64 = 0x4E58_4348_414E_4E4C;

/// The `channel_id` of channel `c` in its url: Java's
/// `Math.abs(Integer.reverse(c))` (so channel 1 gets `-2147483648`).
pub(crate) fn channel_id(c: u32) -> i32 {
    (c as i32).reverse_bits().wrapping_abs()
}

/// The urls of the hot channels.
fn hot_urls() -> &'static [String] {
    static URLS: OnceLock<Vec<String>> = OnceLock::new();
    URLS.get_or_init(|| (0..HOT_CHANNELS.len() as u64).map(|i| base_url(&mut Rng::for_event(HOT_URL_STREAM, i))).collect())
}

/// The `(channel, url)` of the other channels: a random base url, with
/// probability 9/10 followed by `&channel_id=<channel_id(c)>`.
fn channels() -> &'static [(String, String)] {
    static CHANNELS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CHANNELS.get_or_init(|| {
        (0..CHANNELS_NUMBER as u32)
            .map(|c| {
                let mut rng = Rng::for_event(CHANNEL_URL_STREAM, u64::from(c));
                let mut url = base_url(&mut rng);
                if rng.below(10) > 0 {
                    url.push_str(&format!("&channel_id={}", channel_id(c)));
                }
                (format!("channel-{c}"), url)
            })
            .collect()
    })
}

/// The `(channel, url)` of a bid.
fn next_channel_and_url(rng: &mut Rng) -> (String, String) {
    if rng.below(HOT_CHANNELS_RATIO) > 0 {
        let i = rng.index(HOT_CHANNELS.len());
        let channel = HOT_CHANNELS.get(i).copied().unwrap_or_default().to_owned();
        (channel, hot_urls().get(i).cloned().unwrap_or_default())
    } else {
        channels().get(rng.index(CHANNELS_NUMBER as usize)).cloned().unwrap_or_default()
    }
}

/// The bid of event number `n` (a bid event), stamped `timestamp`.
pub(crate) fn next_bid(config: &GeneratorConfig, n: u64, rng: &mut Rng, timestamp: i64) -> Bid {
    // A hot auction with probability 1 - 1/hot_auction_ratio: the first
    // auction of the last batch of HOT_BATCH auctions.
    let auction = if rng.below(config.hot_auction_ratio) > 0 {
        config.last_base0_auction_id(n).unwrap_or(0) / HOT_BATCH * HOT_BATCH
    } else {
        next_base0_auction_id(config, n, rng)
    } + FIRST_AUCTION_ID;
    // A hot bidder with probability 1 - 1/hot_bidders_ratio: the second
    // person of the last batch (so that hot bidders and sellers differ).
    let bidder = if rng.below(config.hot_bidders_ratio) > 0 {
        config.last_base0_person_id(n) / HOT_BATCH * HOT_BATCH + 1
    } else {
        next_base0_person_id(config, n, rng)
    } + FIRST_PERSON_ID;
    let price = next_price(rng);
    let (channel, url) = next_channel_and_url(rng);
    let extra = next_extra(rng, 8 + 8 + 8 + 8, config.avg_bid_byte_size);
    Bid { auction, bidder, price, channel, url, date_time: timestamp, extra }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_are_javas() {
        // Math.abs(Integer.reverse(i)) in Java.
        assert_eq!(channel_id(0), 0);
        assert_eq!(channel_id(1), i32::MIN);
        assert_eq!(channel_id(2), 1 << 30);
        assert_eq!(channel_id(3), 1 << 30);
        assert_eq!(channel_id(9999), 253_493_248);
    }

    #[test]
    fn channels_are_fixed() {
        let table = channels();
        assert_eq!(table.len(), 10_000);
        assert_eq!(table[42].0, "channel-42");
        assert!(table[42].1.starts_with("https://www.nexmark.com/"));
        let with_id = table.iter().filter(|(_, url)| url.contains("&channel_id=")).count();
        assert!((8_700..9_300).contains(&with_id), "{with_id}");
        assert_eq!(hot_urls().len(), 4);
    }
}
