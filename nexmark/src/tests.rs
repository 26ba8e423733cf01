//! Tests of the whole stream: determinism, the mix, ids, references, times,
//! sizes, pieces and JSON.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::*;

fn config(max_events: u64) -> GeneratorConfig {
    GeneratorConfig { seed: 17, max_events: Some(max_events), ..GeneratorConfig::default() }
}

fn all_events(config: &GeneratorConfig) -> Vec<Event> {
    Generator::new(config.clone(), 0..u64::MAX).unwrap().collect()
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let c = config(2_000);
    let events = all_events(&c);
    assert_eq!(events, all_events(&c));
    assert!((0..2_000).all(|n| event(&c, n) == events[n as usize]));
    let other = GeneratorConfig { seed: 18, ..c };
    let differ = all_events(&other).iter().zip(&events).filter(|(a, b)| a != b).count();
    assert!(differ > 1_900, "{differ}");
}

#[test]
fn every_fifty_events_hold_one_person_three_auctions_and_46_bids() {
    let c = config(0);
    for start in [0u64, 50, 1_234, 987_654_321] {
        let mut counts = BTreeMap::new();
        for n in start..start + 50 {
            let kind = event(&c, n).kind();
            assert_eq!(kind, c.kind_of(n));
            *counts.entry(kind).or_insert(0) += 1;
        }
        assert_eq!(counts[&EventKind::Person], 1);
        assert_eq!(counts[&EventKind::Auction], 3);
        assert_eq!(counts[&EventKind::Bid], 46);
    }
    // As the Java reference: rem = n % 50; person if rem < 1, auction if rem < 4.
    assert_eq!(event(&c, 100).kind(), EventKind::Person);
    assert_eq!(event(&c, 103).kind(), EventKind::Auction);
    assert_eq!(event(&c, 104).kind(), EventKind::Bid);
}

#[test]
fn person_and_auction_ids_start_at_1000_and_count_up() {
    let events = all_events(&config(10_000));
    let persons: Vec<u64> = events.iter().filter_map(|e| if let Event::Person(p) = e { Some(p.id) } else { None }).collect();
    let auctions: Vec<u64> = events.iter().filter_map(|e| if let Event::Auction(a) = e { Some(a.id) } else { None }).collect();
    assert_eq!(persons, (1000..1200).collect::<Vec<_>>());
    assert_eq!(auctions, (1000..1600).collect::<Vec<_>>());
    // The Java reference's id arithmetic for a few event numbers.
    let c = config(0);
    let id = |n| match event(&c, n) {
        Event::Person(p) => p.id,
        Event::Auction(a) => a.id,
        Event::Bid(_) => 0,
    };
    assert_eq!([id(0), id(1), id(2), id(3), id(50), id(51), id(5_003)], [1000, 1000, 1001, 1002, 1001, 1003, 1302]);
}

/// Checks the references of bids and auctions against the ids generated so
/// far, allowing the configured leads (and the hot bidder, the second
/// person of the batch of 100, which the reference may name one person early).
fn check_references(c: &GeneratorConfig) {
    for (n, e) in (0..20_000u64).zip(Generator::new(c.clone(), 0..u64::MAX).unwrap()) {
        let last_person = c.last_person_id(n);
        match e {
            Event::Auction(a) => {
                assert!(a.seller >= FIRST_PERSON_ID && a.seller <= last_person + c.person_id_lead, "n = {n}: {a:?}");
            }
            Event::Bid(b) => {
                let last_auction = c.last_auction_id(n).unwrap();
                assert!(b.auction >= FIRST_AUCTION_ID && b.auction <= last_auction + c.auction_id_lead, "n = {n}: {b:?}");
                let hot_bidder = (last_person - FIRST_PERSON_ID) / HOT_BATCH * HOT_BATCH + 1 + FIRST_PERSON_ID;
                assert!(b.bidder >= FIRST_PERSON_ID, "n = {n}: {b:?}");
                assert!(b.bidder <= last_person + c.person_id_lead || b.bidder == hot_bidder, "n = {n}: {b:?}");
                if b.bidder > last_person + c.person_id_lead {
                    assert_eq!(b.bidder, last_person + 1, "only the hot bidder may be early");
                }
            }
            Event::Person(_) => {}
        }
    }
}

#[test]
fn bids_and_auctions_reference_generated_ids() {
    check_references(&config(20_000));
    check_references(&GeneratorConfig { person_id_lead: 0, auction_id_lead: 0, ..config(20_000) });
}

#[test]
fn hot_auctions_sellers_and_bidders_are_the_references() {
    let c = config(0);
    // Bids 15_004 ..= 15_049: last auction base-0 902 (hot: 900), last person
    // base-0 300 (hot bidder 301, the next person, as in the reference).
    let mut auctions = BTreeMap::new();
    let mut bidders = BTreeMap::new();
    let mut sellers = BTreeMap::new();
    for n in 15_004..15_050 {
        if let Event::Bid(b) = event(&c, n) {
            *auctions.entry(b.auction).or_insert(0) += 1;
            *bidders.entry(b.bidder).or_insert(0) += 1;
        }
    }
    for cycle in 0..200u64 {
        for n in [cycle * 50 + 1, cycle * 50 + 2, cycle * 50 + 3] {
            if let Event::Auction(a) = event(&c, n) {
                let hot = (c.last_person_id(n) - 1000) / 100 * 100 + 1000;
                *sellers.entry(a.seller == hot).or_insert(0) += 1;
            }
        }
    }
    let most = |m: &BTreeMap<u64, i32>| m.iter().max_by_key(|(_, &k)| k).map(|(&id, _)| id).unwrap();
    assert_eq!(most(&auctions), 1900);
    assert_eq!(most(&bidders), 1301);
    // P(hot seller) = 3/4 (plus a little from the non-hot draw).
    let share = f64::from(sellers[&true]) / 600.0;
    assert!((0.70..0.82).contains(&share), "{share}");
}

#[test]
fn timestamps_follow_the_rate() {
    let c = GeneratorConfig { base_time_ms: 1_000, ..config(100_000) };
    let events = all_events(&c);
    assert!(events.windows(2).all(|w| w[0].timestamp() <= w[1].timestamp()));
    assert_eq!(events[0].timestamp(), 1_000);
    // 10 000 events/s: exactly 100 events in every 10 ms.
    let mut per_10ms = BTreeMap::new();
    for e in &events {
        *per_10ms.entry((e.timestamp() - 1_000) / 10).or_insert(0) += 1;
    }
    assert_eq!(per_10ms.len(), 1_000);
    assert!(per_10ms.values().all(|&k| k == 100));
    let slow = GeneratorConfig { events_per_second: 1_000, ..c };
    assert_eq!(event(&slow, 3_000).timestamp(), 4_000);
}

#[test]
fn auctions_expire_within_twice_the_in_flight_horizon() {
    let c = config(0);
    for n in (0..50_000u64).filter(|&n| c.kind_of(n) == EventKind::Auction) {
        let Event::Auction(a) = event(&c, n) else { unreachable!() };
        // 100 in-flight auctions = 100 * 50 / 3 = 1666 events later.
        let horizon = c.timestamp_for_event(n + 1_666) - a.date_time;
        assert!(a.expires > a.date_time && a.expires <= a.date_time + 2 * horizon, "n = {n}: {a:?}");
    }
}

#[test]
fn fields_have_the_reference_shapes() {
    for e in all_events(&config(5_000)) {
        match e {
            Event::Person(p) => {
                assert!(p.name.split(' ').count() == 2, "{p:?}");
                assert!(p.email_address.ends_with(".com") && p.email_address.contains('@'), "{p:?}");
                assert!(p.credit_card.len() == 19 && p.credit_card.split(' ').all(|g| g.len() == 4), "{p:?}");
                assert!(p.state.len() == 2 && !p.city.is_empty(), "{p:?}");
            }
            Event::Auction(a) => {
                assert!((10..15).contains(&a.category), "{a:?}");
                assert!(a.initial_bid >= 100 && a.reserve > a.initial_bid, "{a:?}");
                assert!(a.item_name.len() < 20 && a.description.len() < 100, "{a:?}");
            }
            Event::Bid(b) => {
                assert!((100..=100_000_000).contains(&b.price), "{b:?}");
                assert!(b.url.starts_with("https://www.nexmark.com/"), "{b:?}");
                let hot = ["Google", "Facebook", "Baidu", "Apple"].contains(&b.channel.as_str());
                assert!(hot || b.channel.starts_with("channel-"), "{b:?}");
            }
        }
    }
}

#[test]
fn event_sizes_average_the_configured_sizes() {
    let c = config(200_000);
    let (mut sums, mut counts) = ([0u64; 3], [0u64; 3]);
    for e in all_events(&c) {
        // The sizes as the reference counts them: 8 bytes per number.
        let (slot, size) = match &e {
            Event::Person(p) => {
                (0, 8 + p.name.len() + p.email_address.len() + p.credit_card.len() + p.city.len() + p.state.len() + p.extra.len())
            }
            Event::Auction(a) => (1, 8 + a.item_name.len() + a.description.len() + 40 + a.extra.len()),
            Event::Bid(b) => (2, 32 + b.extra.len()),
        };
        sums[slot] += size as u64;
        counts[slot] += 1;
    }
    for (slot, target) in [(0, 200.0), (1, 500.0), (2, 100.0)] {
        let mean = sums[slot] as f64 / counts[slot] as f64;
        assert!((mean - target).abs() < target * 0.01, "kind {slot}: mean {mean}, target {target}");
    }
}

#[test]
fn events_computed_out_of_order_or_in_pieces_are_the_same() {
    let c = config(3_000);
    let whole = all_events(&c);
    let pieces: Vec<Event> =
        [0..1000, 1000..1001, 1001..u64::MAX].into_iter().flat_map(|r| Generator::new(c.clone(), r).unwrap()).collect();
    assert_eq!(pieces, whole);
    for n in (0..3_000u64).rev().step_by(7) {
        assert_eq!(event(&c, n), whole[n as usize]);
    }
}

#[test]
fn json_lines_parse_back_with_the_spec_field_names() {
    let events = all_events(&config(200));
    let mut out = Vec::new();
    write_json_lines(&mut out, &events).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), events.len());
    for (line, e) in lines.iter().zip(&events) {
        assert_eq!(&serde_json::from_str::<Event>(line).unwrap(), e);
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected: Vec<&str> = match e {
            Event::Person(_) => vec!["kind", "id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"],
            Event::Auction(_) => {
                vec!["kind", "id", "itemName", "description", "initialBid", "reserve", "dateTime", "expires", "seller", "category", "extra"]
            }
            Event::Bid(_) => vec!["kind", "auction", "bidder", "price", "channel", "url", "dateTime", "extra"],
        };
        expected.sort_unstable();
        assert_eq!(keys, expected);
        let kind = value["kind"].as_str().unwrap();
        assert_eq!(kind, serde_json::to_value(e.kind()).unwrap().as_str().unwrap());
        assert_eq!(value["dateTime"].as_i64().unwrap(), e.timestamp());
    }
}
