//! The 23 Nexmark queries of `examples/nexmark` against plain references
//! computed here from the same generated events: every query at
//! parallelism 1, 2 and 4 with each backend, in this process; the stateful
//! ones also killed with SIGKILL at random moments and resumed from
//! `latest`, through the example's exactly-once sinks.

#[path = "../../examples/nexmark/queries.rs"]
#[allow(dead_code)]
mod queries;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use weir::crates::state::BackendKind;
use weir::{JobConfig, StreamEnvironment};
use weir_nexmark::{Auction, Bid, Event, Generator, GeneratorConfig, Person};

use self::queries::{Input, Output};
use crate::common::{argv, committed_lines, example_bin, kill_at_random_moments, Rng};

/// Events of the tests: 60 s of event time at 1 000 events/s, so that
/// there are several 10 s windows and sessions.
const EVENTS: u64 = 60_000;

fn config() -> GeneratorConfig {
    GeneratorConfig { seed: 7, events_per_second: 1_000, max_events: Some(EVENTS), ..GeneratorConfig::default() }
}

/// The events, split by kind.
struct Stream {
    persons: Vec<Person>,
    auctions: Vec<Auction>,
    bids: Vec<Bid>,
}

fn stream() -> Stream {
    let mut s = Stream { persons: vec![], auctions: vec![], bids: vec![] };
    for e in Generator::new(config(), 0..EVENTS).unwrap() {
        match e {
            Event::Person(p) => s.persons.push(p),
            Event::Auction(a) => s.auctions.push(a),
            Event::Bid(b) => s.bids.push(b),
        }
    }
    s
}

/// A query's result: its rows, sorted, or its final table.
#[derive(Debug, PartialEq, Eq)]
enum Rows {
    Lines(Vec<String>),
    Table(BTreeMap<String, String>),
}

fn lines(mut v: Vec<String>) -> Rows {
    v.sort();
    Rows::Lines(v)
}

/// Runs query `q` in this process.
fn run(q: &str, parallelism: u32, backend: BackendKind, root: &Path) -> Rows {
    let mut c =
        JobConfig::new(&format!("nexmark-{q}")).with_parallelism(parallelism).with_state_dir(&root.join(format!("{q}-{parallelism}")));
    c.backend = backend;
    let env = StreamEnvironment::new(c);
    let input = Input { events: EVENTS, rate: None, config: config() };
    match queries::build(&env, q, &input).unwrap() {
        Output::Append(rows) => {
            let got = rows.collect_to_vec();
            env.execute().unwrap();
            let got = got.lock().unwrap().clone();
            lines(got)
        }
        Output::Upsert(rows) => {
            let got = rows.collect_to_vec();
            env.execute().unwrap();
            // A key's updates come from one instance, in order: the last is its value.
            let table = got.lock().unwrap().iter().cloned().collect();
            Rows::Table(table)
        }
    }
}

/// `cents * 0.908` in euros with three decimals, from the digits.
fn euro(price: u64) -> String {
    let thousandths = price * 908;
    let s = format!("{thousandths:04}");
    let (int, frac) = s.split_at(s.len() - 3);
    format!("{int}.{frac}")
}

/// UTC date and `HH:mm` by counting days from 1970, month by month.
fn utc(ms: i64) -> (String, String) {
    let mut days = ms / 86_400_000;
    let (mut y, mut m) = (1970, 1);
    loop {
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
        if days < len {
            break;
        }
        days -= len;
        m += 1;
        if m == 13 {
            m = 1;
            y += 1;
        }
    }
    let minute = (ms % 86_400_000) / 60_000;
    (format!("{y}-{m:02}-{:02}", days + 1), format!("{:02}:{:02}", minute / 60, minute % 60))
}

/// The winning bid of each auction: `(auction, best bid)` by price, then
/// earliest, then lowest bidder, among its bids from its start to its expiry.
fn winners(s: &Stream) -> Vec<(&Auction, &Bid)> {
    let mut by_auction: BTreeMap<u64, Vec<&Bid>> = BTreeMap::new();
    for b in &s.bids {
        by_auction.entry(b.auction).or_default().push(b);
    }
    let mut out = Vec::new();
    for a in &s.auctions {
        let in_time = by_auction.get(&a.id).into_iter().flatten().filter(|b| b.date_time >= a.date_time && b.date_time <= a.expires);
        let best = in_time.min_by_key(|b| (std::cmp::Reverse(b.price), b.date_time, b.bidder));
        if let Some(b) = best {
            out.push((a, *b));
        }
    }
    out
}

/// Bids, distinct bidders and distinct auctions, in all and per band.
fn stats<'a>(bids: impl Iterator<Item = &'a Bid>) -> String {
    let band = |p: u64| {
        if p < 10_000 {
            0
        } else if p < 1_000_000 {
            1
        } else {
            2
        }
    };
    let mut n = [0u64; 4];
    let mut bidders: [BTreeSet<u64>; 4] = Default::default();
    let mut auctions: [BTreeSet<u64>; 4] = Default::default();
    for b in bids {
        for slot in [0, 1 + band(b.price)] {
            n[slot] += 1;
            bidders[slot].insert(b.bidder);
            auctions[slot].insert(b.auction);
        }
    }
    let all: Vec<String> = n.iter().map(|x| x.to_string()).chain(bidders.iter().chain(&auctions).map(|s| s.len().to_string())).collect();
    all.join(",")
}

/// The plain reference of query `q`.
fn reference(q: &str, s: &Stream) -> Rows {
    let bids = || s.bids.iter();
    match q {
        "q0" => lines(bids().map(|b| format!("{},{},{},{},{}", b.auction, b.bidder, b.price, b.date_time, b.extra)).collect()),
        "q1" => lines(bids().map(|b| format!("{},{},{},{}", b.auction, b.bidder, euro(b.price), b.date_time)).collect()),
        "q2" => lines(bids().filter(|b| b.auction % 123 == 0).map(|b| format!("{},{}", b.auction, b.price)).collect()),
        "q3" => {
            let local: BTreeMap<u64, &Person> =
                s.persons.iter().filter(|p| ["OR", "ID", "CA"].contains(&p.state.as_str())).map(|p| (p.id, p)).collect();
            let rows = s.auctions.iter().filter(|a| a.category == 10).filter_map(|a| local.get(&a.seller).map(|p| (p, a)));
            lines(rows.map(|(p, a)| format!("{},{},{},{}", p.name, p.city, p.state, a.id)).collect())
        }
        "q4" => {
            let mut per: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for (a, b) in winners(s) {
                per.entry(a.category).or_default().push(b.price);
            }
            Rows::Table(per.into_iter().map(|(c, p)| (c.to_string(), (p.iter().sum::<u64>() / p.len() as u64).to_string())).collect())
        }
        "q5" => {
            let mut counts: BTreeMap<(i64, u64), u64> = BTreeMap::new();
            for b in bids() {
                let last = b.date_time.div_euclid(2_000) * 2_000;
                for start in (last - 8_000..=last).step_by(2_000) {
                    *counts.entry((start, b.auction)).or_default() += 1;
                }
            }
            let mut max: BTreeMap<i64, u64> = BTreeMap::new();
            for ((start, _), n) in &counts {
                let m = max.entry(*start).or_default();
                *m = (*m).max(*n);
            }
            lines(counts.iter().filter(|((start, _), n)| max[start] == **n).map(|((start, a), n)| format!("{a},{n},{start}")).collect())
        }
        "q6" => {
            let mut per: BTreeMap<u64, Vec<(i64, u64, u64)>> = BTreeMap::new();
            for (a, b) in winners(s) {
                per.entry(a.seller).or_default().push((a.expires, a.id, b.price));
            }
            let avg = |mut v: Vec<(i64, u64, u64)>| {
                v.sort();
                let last = &v[v.len().saturating_sub(10)..];
                (last.iter().map(|x| x.2).sum::<u64>() / last.len() as u64).to_string()
            };
            Rows::Table(per.into_iter().map(|(seller, v)| (seller.to_string(), avg(v))).collect())
        }
        "q7" => {
            let mut max: BTreeMap<i64, u64> = BTreeMap::new();
            for b in bids() {
                let m = max.entry(b.date_time / 10_000).or_default();
                *m = (*m).max(b.price);
            }
            let top = bids().filter(|b| max[&(b.date_time / 10_000)] == b.price);
            lines(top.map(|b| format!("{},{},{},{}", b.auction, b.price, b.bidder, b.date_time)).collect())
        }
        "q8" => {
            let sellers: BTreeSet<(u64, i64)> = s.auctions.iter().map(|a| (a.seller, a.date_time / 10_000)).collect();
            let new = s.persons.iter().filter(|p| sellers.contains(&(p.id, p.date_time / 10_000)));
            lines(new.map(|p| format!("{},{},{}", p.id, p.name, p.date_time / 10_000 * 10_000)).collect())
        }
        "q9" => lines(
            winners(s)
                .into_iter()
                .map(|(a, b)| format!("{},{},{},{},{},{},{}", a.id, a.seller, a.category, a.expires, b.bidder, b.price, b.date_time))
                .collect(),
        ),
        "q10" => lines(
            bids()
                .map(|b| {
                    let (d, m) = utc(b.date_time);
                    format!("{},{},{},{},{d},{m}", b.auction, b.bidder, b.price, b.date_time)
                })
                .collect(),
        ),
        "q11" => {
            let mut times: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
            for b in bids() {
                times.entry(b.bidder).or_default().push(b.date_time);
            }
            let mut out = Vec::new();
            for (bidder, mut t) in times {
                t.sort_unstable();
                let (mut start, mut last, mut n) = (t[0], t[0], 0);
                for x in t {
                    if x - last >= 10_000 {
                        out.push(format!("{bidder},{n},{start},{}", last + 10_000));
                        (start, n) = (x, 0);
                    }
                    last = x;
                    n += 1;
                }
                out.push(format!("{bidder},{n},{start},{}", last + 10_000));
            }
            lines(out)
        }
        "q13" => lines(
            bids()
                .map(|b| format!("{},{},{},{},side-{}", b.auction, b.bidder, b.price, b.date_time, (b.auction % 10_000) * 7 % 10_000))
                .collect(),
        ),
        "q14" => lines(
            bids()
                .filter(|b| b.price * 908 > 1_000_000_000 && b.price * 908 < 50_000_000_000)
                .map(|b| {
                    let hour = (b.date_time % 86_400_000) / 3_600_000;
                    let kind = if (8..=18).contains(&hour) {
                        "dayTime"
                    } else if hour <= 6 || hour >= 20 {
                        "nightTime"
                    } else {
                        "otherTime"
                    };
                    let c = b.extra.chars().filter(|c| *c == 'c').count();
                    format!("{},{},{},{kind},{},{c}", b.auction, b.bidder, euro(b.price), b.date_time)
                })
                .collect(),
        ),
        "q15" => {
            let days: BTreeSet<String> = bids().map(|b| utc(b.date_time).0).collect();
            Rows::Table(days.into_iter().map(|d| (d.clone(), stats(bids().filter(|b| utc(b.date_time).0 == d)))).collect())
        }
        "q16" => {
            let mut groups: BTreeMap<String, Vec<&Bid>> = BTreeMap::new();
            for b in bids() {
                groups.entry(format!("{},{}", b.channel, utc(b.date_time).0)).or_default().push(b);
            }
            Rows::Table(
                groups
                    .into_iter()
                    .map(|(k, g)| {
                        let minute = g.iter().map(|b| utc(b.date_time).1).max().unwrap();
                        (k, format!("{minute},{}", stats(g.into_iter())))
                    })
                    .collect(),
            )
        }
        "q17" => {
            let mut groups: BTreeMap<(u64, String), Vec<u64>> = BTreeMap::new();
            for b in bids() {
                groups.entry((b.auction, utc(b.date_time).0)).or_default().push(b.price);
            }
            let row = |p: Vec<u64>| {
                let band = |lo: u64, hi: u64| p.iter().filter(|x| **x >= lo && **x < hi).count();
                let sum: u64 = p.iter().sum();
                let (min, max) = (p.iter().min().unwrap(), p.iter().max().unwrap());
                format!(
                    "{},{},{},{},{min},{max},{},{sum}",
                    p.len(),
                    band(0, 10_000),
                    band(10_000, 1_000_000),
                    band(1_000_000, u64::MAX),
                    sum / p.len() as u64
                )
            };
            Rows::Table(groups.into_iter().map(|((a, d), p)| (format!("{a},{d}"), row(p))).collect())
        }
        "q18" => {
            let mut last: BTreeMap<(u64, u64), (i64, u64)> = BTreeMap::new();
            for b in bids() {
                let e = last.entry((b.bidder, b.auction)).or_insert((b.date_time, b.price));
                *e = (*e).max((b.date_time, b.price));
            }
            Rows::Table(last.into_iter().map(|((bd, a), (t, p))| (format!("{bd},{a}"), format!("{p},{t}"))).collect())
        }
        "q19" => {
            let mut prices: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for b in bids() {
                prices.entry(b.auction).or_default().push(b.price);
            }
            Rows::Table(
                prices
                    .into_iter()
                    .map(|(a, mut p)| {
                        p.sort_unstable_by(|x, y| y.cmp(x));
                        p.truncate(10);
                        (a.to_string(), p.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(";"))
                    })
                    .collect(),
            )
        }
        "q20" => {
            let tens: BTreeMap<u64, &Auction> = s.auctions.iter().filter(|a| a.category == 10).map(|a| (a.id, a)).collect();
            let rows = bids().filter_map(|b| tens.get(&b.auction).map(|a| (b, a)));
            lines(
                rows.map(|(b, a)| {
                    format!(
                        "{},{},{},{},{},{},{},{}",
                        b.auction, b.bidder, b.price, b.channel, b.date_time, a.item_name, a.seller, a.category
                    )
                })
                .collect(),
            )
        }
        "q21" => lines(
            bids()
                .filter_map(|b| {
                    let id = match b.channel.to_lowercase().as_str() {
                        "apple" => Some("0".to_string()),
                        "google" => Some("1".to_string()),
                        "facebook" => Some("2".to_string()),
                        "baidu" => Some("3".to_string()),
                        _ => b.url.find("channel_id=").map(|i| b.url[i + 11..].split('&').next().unwrap_or("").to_string()),
                    };
                    id.map(|id| format!("{},{},{},{},{id}", b.auction, b.bidder, b.price, b.channel))
                })
                .collect(),
        ),
        "q22" => lines(
            bids()
                .map(|b| {
                    let d: Vec<&str> = b.url.split('/').skip(3).chain(["", "", ""]).take(3).collect();
                    format!("{},{},{},{},{},{},{}", b.auction, b.bidder, b.price, b.channel, d[0], d[1], d[2])
                })
                .collect(),
        ),
        _ => panic!("no reference for {q}"),
    }
}

fn check(qs: &[&str]) {
    let s = stream();
    let dir = tempfile::tempdir().unwrap();
    for q in qs {
        let expected = reference(q, &s);
        match &expected {
            Rows::Lines(l) => assert!(!l.is_empty(), "{q}: the reference is empty"),
            Rows::Table(t) => assert!(!t.is_empty(), "{q}: the reference is empty"),
        }
        for parallelism in [1, 2, 4] {
            for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
                let got = run(q, parallelism, backend, dir.path());
                assert!(
                    got == expected,
                    "{q} at parallelism {parallelism} with {backend:?} differs from the reference: {}",
                    diff(&got, &expected)
                );
            }
        }
    }
}

/// The first differences of two results.
fn diff(got: &Rows, expected: &Rows) -> String {
    match (got, expected) {
        (Rows::Lines(g), Rows::Lines(e)) => {
            let missing: Vec<_> = e.iter().filter(|l| g.binary_search(l).is_err()).take(3).collect();
            let extra: Vec<_> = g.iter().filter(|l| e.binary_search(l).is_err()).take(3).collect();
            format!("{} rows, expected {}; missing {missing:?}; unexpected {extra:?}", g.len(), e.len())
        }
        (Rows::Table(g), Rows::Table(e)) => {
            let wrong: Vec<_> = e.iter().filter(|(k, v)| g.get(*k) != Some(v)).take(3).map(|(k, v)| (k, v, g.get(k))).collect();
            format!("{} keys, expected {}; (key, expected, got): {wrong:?}", g.len(), e.len())
        }
        _ => "of another kind".into(),
    }
}

#[test]
fn nexmark_stateless_queries_match_the_reference() {
    check(&["q0", "q1", "q2", "q10", "q13", "q14", "q21", "q22"]);
}

#[test]
fn nexmark_join_queries_match_the_reference() {
    check(&["q3", "q8", "q9", "q20"]);
}

#[test]
fn nexmark_window_queries_match_the_reference() {
    check(&["q5", "q7", "q11"]);
}

/// q12 counts in processing-time windows, which fire when the wall clock
/// passes their end (and not at the end of input, as in Flink): input
/// throttled to last 12 s closes at least one 10 s window; the counts of the
/// windows that closed never exceed a bidder's bids.
#[test]
fn nexmark_q12_counts_each_bidders_bids_in_processing_time_windows() {
    let s = stream();
    let mut bids: BTreeMap<u64, u64> = BTreeMap::new();
    for b in &s.bids {
        *bids.entry(b.bidder).or_default() += 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = JobConfig::new("nexmark-q12").with_parallelism(2).with_state_dir(dir.path());
    c.backend = BackendKind::RocksDb;
    let env = StreamEnvironment::new(c);
    let input = Input { events: EVENTS, rate: Some(EVENTS as f64 / 12.0), config: config() };
    let Output::Append(rows) = queries::build(&env, "q12", &input).unwrap() else { panic!("q12 appends rows") };
    let rows = rows.collect_to_vec();
    env.execute().unwrap();
    let rows = rows.lock().unwrap().clone();
    let mut counted: BTreeMap<u64, u64> = BTreeMap::new();
    for r in &rows {
        let f: Vec<u64> = r.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(f[2] % 10_000, 0, "window start {r}");
        *counted.entry(f[0]).or_default() += f[1];
    }
    assert!(!counted.is_empty(), "no processing-time window closed in 12 s");
    for (bidder, n) in &counted {
        assert!(bids.get(bidder).is_some_and(|all| n <= all), "bidder {bidder}: {n} counted, {:?} bids", bids.get(bidder));
    }
}

#[test]
fn nexmark_queries_whose_results_change_match_the_reference() {
    check(&["q4", "q6", "q15", "q16", "q17", "q18", "q19"]);
}

/// The example run for `q` into `out`, killed at random moments and resumed
/// from `latest` until it ends; its exactly-once output.
fn killed_at_random_moments(q: &str, backend: &str, rate: u64, rng: &mut Rng) -> (Rows, u32) {
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let kills = kill_at_random_moments(rng, 3, (300, 600), q, |rng| {
        Command::new(example_bin("nexmark"))
            .args(argv(&format!(
                "--query {q} --events {EVENTS} --seed 7 --events-per-second 1000 --rate {rate} --parallelism 2 --output {} \
                 --checkpoint-dir {} --checkpoint-interval {}ms --from-checkpoint latest --state-backend {backend}",
                out.display(),
                chk.display(),
                100 + rng.below(101)
            )))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    let rows = if ["q4", "q6", "q15", "q16", "q17", "q18", "q19"].contains(&q) {
        Rows::Table(weir::crates::operators::sinks::read_table(&out).unwrap())
    } else {
        lines(committed_lines(&out))
    };
    (rows, kills)
}

#[test]
fn nexmark_stateful_queries_survive_sigkill_at_random_moments() {
    let s = stream();
    let mut rng = Rng::from_env();
    let stateful = ["q3", "q4", "q5", "q6", "q7", "q8", "q9", "q11", "q15", "q16", "q17", "q18", "q19", "q20"];
    for (i, q) in stateful.iter().enumerate() {
        let backend = crate::common::BACKENDS[i % 2];
        let (got, kills) = killed_at_random_moments(q, backend, 40_000, &mut rng);
        assert!(kills >= 1, "{q}: the job was never killed");
        let expected = reference(q, &s);
        assert!(got == expected, "{q} with {backend} after {kills} kills differs from the reference: {}", diff(&got, &expected));
    }
}

/// q12 (processing-time windows) killed at random moments: its rows depend
/// on the wall clock, but each bidder's window is committed at most once and
/// counts no more bids than the bidder made. The input lasts about 12 s of
/// wall-clock time, so that 10 s windows close.
#[test]
fn nexmark_q12_survives_sigkill_without_counting_a_window_twice() {
    let s = stream();
    let mut bids: BTreeMap<u64, u64> = BTreeMap::new();
    for b in &s.bids {
        *bids.entry(b.bidder).or_default() += 1;
    }
    let (got, kills) = killed_at_random_moments("q12", "rocksdb", EVENTS / 12, &mut Rng::from_env());
    assert!(kills >= 1, "q12: the job was never killed");
    let Rows::Lines(rows) = got else { panic!("q12 appends rows") };
    let mut windows = BTreeSet::new();
    let mut counted: BTreeMap<u64, u64> = BTreeMap::new();
    for r in &rows {
        let f: Vec<u64> = r.split(',').map(|x| x.parse().unwrap()).collect();
        assert!(windows.insert((f[0], f[2])), "bidder {} window {} committed twice", f[0], f[2]);
        *counted.entry(f[0]).or_default() += f[1];
    }
    assert!(!counted.is_empty(), "no processing-time window closed");
    for (bidder, n) in &counted {
        assert!(bids.get(bidder).is_some_and(|all| n <= all), "bidder {bidder}: {n} counted, {:?} bids", bids.get(bidder));
    }
}

/// `--dump-events` writes the stream as JSON lines with the specification's
/// field names: the same events the queries read.
#[test]
fn nexmark_dump_events_writes_the_stream_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let out = Command::new(example_bin("nexmark"))
        .args(argv(&format!("--events 500 --seed 7 --events-per-second 1000 --dump-events {}", file.display())))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected: Vec<Event> = Generator::new(GeneratorConfig { max_events: Some(500), ..config() }, 0..500).unwrap().collect();
    assert_eq!(lines.len(), 500);
    for (line, e) in lines.iter().zip(&expected) {
        match e {
            Event::Person(p) => assert_eq!(
                (line["kind"].as_str(), line["id"].as_u64(), line["emailAddress"].as_str()),
                (Some("person"), Some(p.id), Some(p.email_address.as_str()))
            ),
            Event::Auction(a) => assert_eq!(
                (line["kind"].as_str(), line["id"].as_u64(), line["initialBid"].as_u64()),
                (Some("auction"), Some(a.id), Some(a.initial_bid))
            ),
            Event::Bid(b) => assert_eq!(
                (line["kind"].as_str(), line["auction"].as_u64(), line["dateTime"].as_i64()),
                (Some("bid"), Some(b.auction), Some(b.date_time))
            ),
        }
    }
    let bad = Command::new(example_bin("nexmark")).args(argv("--query q99 --events 10")).output().unwrap();
    assert!(!bad.status.success() && crate::common::stderr(&bad).contains("unknown query \"q99\""), "{}", crate::common::stderr(&bad));
}
