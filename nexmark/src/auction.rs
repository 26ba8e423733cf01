//! Auctions (the reference's `AuctionGenerator`).

use crate::config::{GeneratorConfig, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, HOT_BATCH, NUM_CATEGORIES};
use crate::model::Auction;
use crate::person::next_base0_person_id;
use crate::price::next_price;
use crate::rng::Rng;
use crate::strings::{next_extra, next_string};

/// The auction of event number `n` (an auction event), stamped `timestamp`.
pub(crate) fn next_auction(config: &GeneratorConfig, n: u64, rng: &mut Rng, timestamp: i64) -> Auction {
    let id = config.last_base0_auction_id(n).unwrap_or(0) + FIRST_AUCTION_ID;
    // A hot seller with probability 1 - 1/hot_sellers_ratio: the first person
    // of the last batch of HOT_BATCH persons.
    let seller = if rng.below(config.hot_sellers_ratio) > 0 {
        config.last_base0_person_id(n) / HOT_BATCH * HOT_BATCH
    } else {
        next_base0_person_id(config, n, rng)
    } + FIRST_PERSON_ID;
    let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES);
    let initial_bid = next_price(rng);
    let expires = timestamp.saturating_add(next_auction_length_ms(config, n, rng, timestamp));
    let item_name = next_string(rng, 20);
    let description = next_string(rng, 100);
    let reserve = initial_bid + next_price(rng);
    let current_size = 8 + item_name.len() as u64 + description.len() as u64 + 8 + 8 + 8 + 8 + 8;
    let extra = next_extra(rng, current_size, config.avg_auction_byte_size);
    Auction { id, item_name, description, initial_bid, reserve, date_time: timestamp, expires, seller, category, extra }
}

/// A random base-0 id of an auction likely to be in flight at event `n`: one
/// of the last `num_in_flight_auctions` auctions or up to `auction_id_lead`
/// ahead of the last one (the reference's `nextBase0AuctionId`).
pub(crate) fn next_base0_auction_id(config: &GeneratorConfig, n: u64, rng: &mut Rng) -> u64 {
    let max = config.last_base0_auction_id(n).unwrap_or(0);
    let min = max.saturating_sub(config.num_in_flight_auctions);
    min + rng.below(max - min + 1 + config.auction_id_lead)
}

/// The auction's length in milliseconds: uniform in `1 ..= 2 * horizon`,
/// where the horizon is the event time until `num_in_flight_auctions` more
/// auctions have been generated (so that about that many are in flight).
fn next_auction_length_ms(config: &GeneratorConfig, n: u64, rng: &mut Rng, timestamp: i64) -> i64 {
    let events_for_auctions = config.num_in_flight_auctions.saturating_mul(config.total_proportion()) / config.auction_proportion;
    let future = config.timestamp_for_event(n.saturating_add(events_for_auctions));
    let horizon = future.saturating_sub(timestamp).max(0) as u64;
    1 + rng.below(horizon.saturating_mul(2).max(1)) as i64
}
