//! The Nexmark queries that keep state: joins (q3, q8, q9, q20), windows
//! (q5, q7, q11) and results that change (q4, q6, q15 to q19).

use std::fmt::{self, Write as _};
use std::time::Duration;

use weir::{
    DataStream, Key, KeyedCoProcessFunction, KeyedProcessFunction, ListState, MapState, OpenContext, ProcessContext, SessionWindows,
    SlidingWindows, StateType, UserError, ValueState,
};
use weir_nexmark::{Auction, Bid, Person};

use super::Date;

const TEN_SECONDS: i64 = 10_000;
const DAY: i64 = 86_400_000;

/// The winning bid of an auction (q9): the highest bid between the
/// auction's start and its expiry, the earliest (then the lowest bidder id)
/// among equal ones; emitted when the auction expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WinningBid {
    /// The auction.
    pub auction: u64,
    /// Its seller.
    pub seller: u64,
    /// Its category.
    pub category: u64,
    /// When it expires.
    pub expires: i64,
    /// The winning bidder.
    pub bidder: u64,
    /// The winning price.
    pub price: u64,
    /// When the winning bid was made.
    pub bid_time: i64,
}

impl fmt::Display for WinningBid {
    /// `auction,seller,category,expires,bidder,price,bid_time`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self;
        write!(f, "{},{},{},{},{},{},{}", w.auction, w.seller, w.category, w.expires, w.bidder, w.price, w.bid_time)
    }
}

/// `(seller, category, start, expires)` of an auction.
type AuctionInfo = (u64, u64, i64, i64);
/// `(price, time, bidder)` of a bid.
type BidInfo = (u64, i64, u64);

/// Whether bid `a` beats bid `b`: higher, then earlier, then the lower bidder.
fn beats(a: &BidInfo, b: &BidInfo) -> bool {
    (a.0, std::cmp::Reverse(a.1), std::cmp::Reverse(a.2)) > (b.0, std::cmp::Reverse(b.1), std::cmp::Reverse(b.2))
}

#[derive(Clone, Default)]
struct Winner {
    auction: Option<ValueState<AuctionInfo>>,
    best: Option<ValueState<BidInfo>>,
    early: Option<ListState<BidInfo>>,
    closed: Option<ValueState<bool>>,
}

impl Winner {
    fn offer(&self, a: &AuctionInfo, bid: BidInfo, ctx: &mut ProcessContext<'_, u64, WinningBid>) -> Result<(), UserError> {
        if bid.1 < a.2 || bid.1 > a.3 {
            return Ok(());
        }
        let best = self.best.as_ref().ok_or("not open")?;
        if best.get(&mut ctx.state())?.is_none_or(|b| beats(&bid, &b)) {
            best.set(&mut ctx.state(), bid)?;
        }
        Ok(())
    }
}

impl KeyedCoProcessFunction<u64, Auction, Bid, WinningBid> for Winner {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.auction = Some(ValueState::register(ctx.backend(), "auction")?);
        self.best = Some(ValueState::register(ctx.backend(), "best")?);
        self.early = Some(ListState::register(ctx.backend(), "early-bids")?);
        self.closed = Some(ValueState::register(ctx.backend(), "closed")?);
        Ok(())
    }
    fn process1(&mut self, a: Auction, ctx: &mut ProcessContext<'_, u64, WinningBid>) -> Result<(), UserError> {
        let info = (a.seller, a.category, a.date_time, a.expires);
        self.auction.as_ref().ok_or("not open")?.set(&mut ctx.state(), info)?;
        let early = self.early.as_ref().ok_or("not open")?;
        for bid in early.get(&mut ctx.state())? {
            self.offer(&info, bid, ctx)?;
        }
        early.clear(&mut ctx.state())?;
        ctx.register_timer(a.expires)?;
        Ok(())
    }
    fn process2(&mut self, b: Bid, ctx: &mut ProcessContext<'_, u64, WinningBid>) -> Result<(), UserError> {
        let bid = (b.price, b.date_time, b.bidder);
        match self.auction.as_ref().ok_or("not open")?.get(&mut ctx.state())? {
            Some(a) => self.offer(&a, bid, ctx),
            // A bid may name an auction a few events ahead of it; one after
            // the auction closed is out of its time range anyway.
            None if self.closed.as_ref().ok_or("not open")?.get(&mut ctx.state())?.is_none() => {
                Ok(self.early.as_ref().ok_or("not open")?.add(&mut ctx.state(), bid)?)
            }
            None => Ok(()),
        }
    }
    fn on_timer(&mut self, _: i64, ctx: &mut ProcessContext<'_, u64, WinningBid>) -> Result<(), UserError> {
        let (auction, best) = (self.auction.as_ref().ok_or("not open")?, self.best.as_ref().ok_or("not open")?);
        let info = auction.get(&mut ctx.state())?;
        if let (Some((seller, category, _, expires)), Some((price, bid_time, bidder))) = (info, best.get(&mut ctx.state())?) {
            let auction = *ctx.key();
            ctx.emit(WinningBid { auction, seller, category, expires, bidder, price, bid_time });
        }
        auction.clear(&mut ctx.state())?;
        best.clear(&mut ctx.state())?;
        self.closed.as_ref().ok_or("not open")?.set(&mut ctx.state(), true)?;
        Ok(())
    }
}

/// The winning bid of every auction that had one (q9; q4 and q6 build on it).
pub fn winning_bids(auctions: DataStream<Auction>, bids: DataStream<Bid>) -> DataStream<WinningBid> {
    auctions.connect(bids).key_by(|a: &Auction| a.id, |b: &Bid| b.auction).process(Winner::default()).uid("winning-bids")
}

/// A running value per key, emitted as an upsert whenever it changes.
#[derive(Clone)]
struct Running<K, V: StateType, T> {
    name: &'static str,
    state: Option<ValueState<V>>,
    /// Folds a record into the state (`None` when there is none yet);
    /// returns the new state and the value to emit, if any.
    fold: fn(Option<V>, T) -> (V, Option<String>),
    /// The key as the output shows it.
    show: fn(&K) -> String,
}

impl<K: Key, V: StateType, T: Send + 'static> KeyedProcessFunction<K, T, (String, String)> for Running<K, V, T> {
    fn open(&mut self, ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        self.state = Some(ValueState::register(ctx.backend(), self.name)?);
        Ok(())
    }
    fn process(&mut self, value: T, ctx: &mut ProcessContext<'_, K, (String, String)>) -> Result<(), UserError> {
        let state = self.state.as_ref().ok_or("not open")?;
        let (next, out) = (self.fold)(state.get(&mut ctx.state())?, value);
        state.set(&mut ctx.state(), next)?;
        if let Some(out) = out {
            let key = (self.show)(ctx.key());
            ctx.emit((key, out));
        }
        Ok(())
    }
}

fn running<K, V: StateType, T>(
    name: &'static str,
    show: fn(&K) -> String,
    fold: fn(Option<V>, T) -> (V, Option<String>),
) -> Running<K, V, T> {
    Running { name, state: None, fold, show }
}

/// q4: the average winning price per category.
pub fn q4(winning: DataStream<WinningBid>) -> DataStream<(String, String)> {
    let avg = running::<u64, (u64, u64), WinningBid>("sum-count", u64::to_string, |s, w| {
        let (sum, count) = s.unwrap_or((0, 0));
        let next = (sum + w.price, count + 1);
        (next, Some((next.0 / next.1).to_string()))
    });
    winning.key_by(|w: &WinningBid| w.category).process(avg).uid("q4")
}

/// q6: the average winning price of each seller's last 10 closed auctions.
pub fn q6(winning: DataStream<WinningBid>) -> DataStream<(String, String)> {
    let last10 = running::<u64, Vec<(i64, u64, u64)>, WinningBid>("last-10", u64::to_string, |s, w| {
        let mut last = s.unwrap_or_default();
        last.push((w.expires, w.auction, w.price));
        last.sort_unstable();
        if last.len() > 10 {
            last.remove(0);
        }
        let avg = last.iter().map(|x| x.2).sum::<u64>() / last.len() as u64;
        (last, Some(avg.to_string()))
    });
    winning.key_by(|w: &WinningBid| w.seller).process(last10).uid("q6")
}

/// `(seller-side record seen, name, city, state)` of q3's persons.
type Seller = (bool, String, String, String);

#[derive(Clone, Default)]
struct LocalItems {
    person: Option<ValueState<Seller>>,
    waiting: Option<ListState<u64>>,
}

impl KeyedCoProcessFunction<u64, Person, Auction, String> for LocalItems {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.person = Some(ValueState::register(ctx.backend(), "person")?);
        self.waiting = Some(ListState::register(ctx.backend(), "waiting-auctions")?);
        Ok(())
    }
    fn process1(&mut self, p: Person, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let local = ["OR", "ID", "CA"].contains(&p.state.as_str());
        self.person.as_ref().ok_or("not open")?.set(&mut ctx.state(), (local, p.name.clone(), p.city.clone(), p.state.clone()))?;
        let waiting = self.waiting.as_ref().ok_or("not open")?;
        for id in waiting.get(&mut ctx.state())? {
            if local {
                ctx.emit(format!("{},{},{},{id}", p.name, p.city, p.state));
            }
        }
        waiting.clear(&mut ctx.state())?;
        Ok(())
    }
    fn process2(&mut self, a: Auction, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        if a.category != 10 {
            return Ok(());
        }
        match self.person.as_ref().ok_or("not open")?.get(&mut ctx.state())? {
            Some((true, name, city, state)) => ctx.emit(format!("{name},{city},{state},{}", a.id)),
            Some(_) => {}
            None => self.waiting.as_ref().ok_or("not open")?.add(&mut ctx.state(), a.id)?,
        }
        Ok(())
    }
}

/// q3: the auctions of category 10 of sellers in Oregon, Idaho or California.
pub fn q3(persons: DataStream<Person>, auctions: DataStream<Auction>) -> DataStream<String> {
    persons.connect(auctions).key_by(|p: &Person| p.id, |a: &Auction| a.seller).process(LocalItems::default()).uid("q3")
}

/// Keeps, per key, the records with the highest score and emits them as
/// CSV lines once the watermark passes the key's time `end(key)`.
#[derive(Clone)]
struct MaxAtEnd {
    best: Option<ValueState<(u64, Vec<String>)>>,
    end: fn(i64) -> i64,
}

impl KeyedProcessFunction<i64, (u64, String), String> for MaxAtEnd {
    fn open(&mut self, ctx: &mut OpenContext<'_, i64>) -> Result<(), UserError> {
        self.best = Some(ValueState::register(ctx.backend(), "best")?);
        Ok(())
    }
    fn process(&mut self, (score, line): (u64, String), ctx: &mut ProcessContext<'_, i64, String>) -> Result<(), UserError> {
        let best = self.best.as_ref().ok_or("not open")?;
        let next = match best.get(&mut ctx.state())? {
            Some((s, mut lines)) if s == score => {
                lines.push(line);
                (s, lines)
            }
            Some((s, lines)) if s > score => (s, lines),
            _ => (score, vec![line]),
        };
        best.set(&mut ctx.state(), next)?;
        let end = (self.end)(*ctx.key());
        ctx.register_timer(end)?;
        Ok(())
    }
    fn on_timer(&mut self, _: i64, ctx: &mut ProcessContext<'_, i64, String>) -> Result<(), UserError> {
        let best = self.best.as_ref().ok_or("not open")?;
        for line in best.get(&mut ctx.state())?.map(|(_, l)| l).unwrap_or_default() {
            ctx.emit(line);
        }
        best.clear(&mut ctx.state())?;
        Ok(())
    }
}

/// q5: per sliding window (10 s every 2 s), the auctions with the most bids:
/// `auction,bids,window_start`.
pub fn q5(bids: DataStream<Bid>) -> DataStream<String> {
    bids.key_by(|b: &Bid| b.auction)
        .window(SlidingWindows::of(Duration::from_secs(10), Duration::from_secs(2)))
        .count()
        .uid("q5-counts")
        .map(|r| (r.window.start, (r.value, format!("{},{},{}", r.key, r.value, r.window.start))))
        .key_by(|(start, _): &(i64, (u64, String))| *start)
        .process(Unpair(MaxAtEnd { best: None, end: |start| start + TEN_SECONDS - 1 }))
        .uid("q5")
}

/// Drops the key from `(key, value)` records before `f` sees them.
#[derive(Clone)]
struct Unpair<F>(F);

impl<F: KeyedProcessFunction<i64, (u64, String), String>> KeyedProcessFunction<i64, (i64, (u64, String)), String> for Unpair<F> {
    fn open(&mut self, ctx: &mut OpenContext<'_, i64>) -> Result<(), UserError> {
        self.0.open(ctx)
    }
    fn process(&mut self, (_, v): (i64, (u64, String)), ctx: &mut ProcessContext<'_, i64, String>) -> Result<(), UserError> {
        self.0.process(v, ctx)
    }
    fn on_timer(&mut self, ts: i64, ctx: &mut ProcessContext<'_, i64, String>) -> Result<(), UserError> {
        self.0.on_timer(ts, ctx)
    }
}

/// q7: the highest bids of each 10 s window: `auction,price,bidder,dateTime`.
pub fn q7(bids: DataStream<Bid>) -> DataStream<String> {
    bids.map(|b| {
        let window = b.date_time.div_euclid(TEN_SECONDS);
        (window, (b.price, format!("{},{},{},{}", b.auction, b.price, b.bidder, b.date_time)))
    })
    .key_by(|(w, _): &(i64, (u64, String))| *w)
    .process(Unpair(MaxAtEnd { best: None, end: |w| (w + 1) * TEN_SECONDS - 1 }))
    .uid("q7")
}

#[derive(Clone, Default)]
struct NewUsers {
    name: Option<ValueState<String>>,
    /// 1: the person has an auction in the window; 2: emitted.
    seen: Option<ValueState<u8>>,
}

impl NewUsers {
    fn emit_once(&self, ctx: &mut ProcessContext<'_, (u64, i64), String>) -> Result<(), UserError> {
        let (name, seen) = (self.name.as_ref().ok_or("not open")?, self.seen.as_ref().ok_or("not open")?);
        if let (Some(n), Some(1)) = (name.get(&mut ctx.state())?, seen.get(&mut ctx.state())?) {
            let (id, window) = *ctx.key();
            ctx.emit(format!("{id},{n},{}", window * TEN_SECONDS));
            seen.set(&mut ctx.state(), 2)?;
        }
        let window = ctx.key().1;
        ctx.register_timer((window + 1) * TEN_SECONDS - 1)?;
        Ok(())
    }
}

impl KeyedCoProcessFunction<(u64, i64), Person, Auction, String> for NewUsers {
    fn open(&mut self, ctx: &mut OpenContext<'_, (u64, i64)>) -> Result<(), UserError> {
        self.name = Some(ValueState::register(ctx.backend(), "name")?);
        self.seen = Some(ValueState::register(ctx.backend(), "seen")?);
        Ok(())
    }
    fn process1(&mut self, p: Person, ctx: &mut ProcessContext<'_, (u64, i64), String>) -> Result<(), UserError> {
        self.name.as_ref().ok_or("not open")?.set(&mut ctx.state(), p.name)?;
        self.emit_once(ctx)
    }
    fn process2(&mut self, _: Auction, ctx: &mut ProcessContext<'_, (u64, i64), String>) -> Result<(), UserError> {
        let seen = self.seen.as_ref().ok_or("not open")?;
        if seen.get(&mut ctx.state())?.is_none() {
            seen.set(&mut ctx.state(), 1)?;
        }
        self.emit_once(ctx)
    }
    fn on_timer(&mut self, _: i64, ctx: &mut ProcessContext<'_, (u64, i64), String>) -> Result<(), UserError> {
        self.name.as_ref().ok_or("not open")?.clear(&mut ctx.state())?;
        self.seen.as_ref().ok_or("not open")?.clear(&mut ctx.state())?;
        Ok(())
    }
}

/// q8: persons who opened an auction in the 10 s window they registered in:
/// `id,name,window_start`.
pub fn q8(persons: DataStream<Person>, auctions: DataStream<Auction>) -> DataStream<String> {
    persons
        .connect(auctions)
        .key_by(|p: &Person| (p.id, p.date_time.div_euclid(TEN_SECONDS)), |a: &Auction| (a.seller, a.date_time.div_euclid(TEN_SECONDS)))
        .process(NewUsers::default())
        .uid("q8")
}

/// q11: each bidder's sessions (bids less than 10 s apart): `bidder,bids,start,end`.
pub fn q11(bids: DataStream<Bid>) -> DataStream<String> {
    bids.key_by(|b: &Bid| b.bidder)
        .window(SessionWindows::with_gap(Duration::from_secs(10)))
        .count()
        .uid("q11")
        .map(|r| format!("{},{},{},{}", r.key, r.value, r.window.start, r.window.end))
}

/// The price band of q15 to q17: below 10 000, below 1 000 000, or above.
fn band(price: u64) -> usize {
    match price {
        0..10_000 => 0,
        10_000..1_000_000 => 1,
        _ => 2,
    }
}

/// Bids, distinct bidders and distinct auctions, in all and per price band
/// (q15), and the latest minute of the day (q16), per key.
#[derive(Clone)]
struct Stats<K> {
    /// Twelve counts, then (q16) the latest minute of the day plus one.
    counts: Option<ValueState<Vec<u64>>>,
    /// Bits 0 to 2: the bands a bidder bid in; bit 3: seen at all.
    bidders: Option<MapState<u64, u8>>,
    auctions: Option<MapState<u64, u8>>,
    /// The key as the output shows it.
    show: fn(&K) -> String,
    /// Whether the output leads with the minute (q16).
    minute: bool,
}

impl<K: Key> KeyedProcessFunction<K, Bid, (String, String)> for Stats<K> {
    fn open(&mut self, ctx: &mut OpenContext<'_, K>) -> Result<(), UserError> {
        self.counts = Some(ValueState::register(ctx.backend(), "counts")?);
        self.bidders = Some(MapState::register(ctx.backend(), "bidders")?);
        self.auctions = Some(MapState::register(ctx.backend(), "auctions")?);
        Ok(())
    }
    fn process(&mut self, b: Bid, ctx: &mut ProcessContext<'_, K, (String, String)>) -> Result<(), UserError> {
        let counts = self.counts.as_ref().ok_or("not open")?;
        let mut c = counts.get(&mut ctx.state())?.unwrap_or_else(|| vec![0; 13]);
        let r = band(b.price);
        c[0] += 1;
        c[1 + r] += 1;
        for (map, at, id) in [(&self.bidders, 4, b.bidder), (&self.auctions, 8, b.auction)] {
            let map = map.as_ref().ok_or("not open")?;
            let mask = map.get(&mut ctx.state(), &id)?.unwrap_or(0);
            if mask & 8 == 0 {
                c[at] += 1;
            }
            if mask & (1 << r) == 0 {
                c[at + 1 + r] += 1;
            }
            if mask | 8 | (1 << r) != mask {
                map.put(&mut ctx.state(), id, mask | 8 | (1 << r))?;
            }
        }
        let minute = (b.date_time.rem_euclid(DAY) / 60_000) as u64 + 1;
        c[12] = c[12].max(minute);
        // Written in place: q15 and q16 emit a row per bid.
        let mut shown = String::with_capacity(96);
        if self.minute {
            let m = c[12] - 1;
            write!(shown, "{:02}:{:02},", m / 60, m % 60).map_err(|e| e.to_string())?;
        }
        for (i, n) in c[..12].iter().enumerate() {
            if i > 0 {
                shown.push(',');
            }
            write!(shown, "{n}").map_err(|e| e.to_string())?;
        }
        counts.set(&mut ctx.state(), c)?;
        let key = (self.show)(ctx.key());
        ctx.emit((key, shown));
        Ok(())
    }
}

/// The day number of a time (days since the epoch).
fn day(ms: i64) -> i64 {
    ms.div_euclid(DAY)
}

/// q15: per day: bids, distinct bidders and distinct auctions, in all and per
/// price band (`total,band1,band2,band3` three times).
pub fn q15(bids: DataStream<Bid>) -> DataStream<(String, String)> {
    let stats = Stats { counts: None, bidders: None, auctions: None, show: |d: &i64| Date(d * DAY).to_string(), minute: false };
    bids.key_by(|b: &Bid| day(b.date_time)).process(stats).uid("q15")
}

/// q16: as q15 per channel and day (key `channel,day`), with the latest minute first.
pub fn q16(bids: DataStream<Bid>) -> DataStream<(String, String)> {
    let show = |(channel, d): &(String, i64)| format!("{channel},{}", Date(d * DAY));
    let stats = Stats { counts: None, bidders: None, auctions: None, show, minute: true };
    bids.key_by(|b: &Bid| (b.channel.clone(), day(b.date_time))).process(stats).uid("q16")
}

/// q17: per auction and day (key `auction,day`): bids in all and per price
/// band, minimum, maximum, average and sum of the prices.
pub fn q17(bids: DataStream<Bid>) -> DataStream<(String, String)> {
    // bids, per band (3), min, max, sum
    let stats = running::<(u64, i64), Vec<u64>, Bid>("stats", day_key, |s, b| {
        let mut c = s.unwrap_or_else(|| vec![0, 0, 0, 0, u64::MAX, 0, 0]);
        c[0] += 1;
        c[1 + band(b.price)] += 1;
        c[4] = c[4].min(b.price);
        c[5] = c[5].max(b.price);
        c[6] += b.price;
        let shown = format!("{},{},{},{},{},{},{},{}", c[0], c[1], c[2], c[3], c[4], c[5], c[6] / c[0], c[6]);
        (c, Some(shown))
    });
    bids.key_by(|b: &Bid| (b.auction, day(b.date_time))).process(stats).uid("q17")
}

/// A key of `(id, day number)` shows as `id,yyyy-MM-dd` (q17's key).
pub fn day_key(&(id, day): &(u64, i64)) -> String {
    format!("{id},{}", Date(day * DAY))
}

/// q18: each bidder's last bid on each auction (key `bidder,auction`):
/// `price,dateTime` (the highest of equally late ones).
pub fn q18(bids: DataStream<Bid>) -> DataStream<(String, String)> {
    let last = running::<(u64, u64), (i64, u64), Bid>(
        "last-bid",
        |(bidder, auction)| format!("{bidder},{auction}"),
        |s, b| match s {
            Some(cur) if cur >= (b.date_time, b.price) => (cur, None),
            _ => ((b.date_time, b.price), Some(format!("{},{}", b.price, b.date_time))),
        },
    );
    bids.key_by(|b: &Bid| (b.bidder, b.auction)).process(last).uid("q18")
}

/// q19: the ten highest prices bid on each auction, highest first, `;`-separated.
pub fn q19(bids: DataStream<Bid>) -> DataStream<(String, String)> {
    let top = running::<u64, Vec<u64>, Bid>("top-10", u64::to_string, |s, b| {
        let mut top = s.unwrap_or_default();
        if top.len() == 10 && top.last().is_some_and(|l| *l >= b.price) {
            return (top, None);
        }
        let at = top.partition_point(|p| *p >= b.price);
        top.insert(at, b.price);
        top.truncate(10);
        let shown = top.iter().map(u64::to_string).collect::<Vec<_>>().join(";");
        (top, Some(shown))
    });
    bids.key_by(|b: &Bid| b.auction).process(top).uid("q19")
}

/// `(item name, seller, category)` of q20's auctions.
type Item = (String, u64, u64);
/// `(bidder, price, channel, time)` of q20's bids.
type Offer = (u64, u64, String, i64);

#[derive(Clone, Default)]
struct Expand {
    auction: Option<ValueState<Item>>,
    early: Option<ListState<Offer>>,
}

fn expanded(auction: u64, (bidder, price, channel, time): &Offer, (name, seller, category): &Item) -> String {
    format!("{auction},{bidder},{price},{channel},{time},{name},{seller},{category}")
}

impl KeyedCoProcessFunction<u64, Auction, Bid, String> for Expand {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.auction = Some(ValueState::register(ctx.backend(), "auction")?);
        self.early = Some(ListState::register(ctx.backend(), "early-bids")?);
        Ok(())
    }
    fn process1(&mut self, a: Auction, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let item = (a.item_name, a.seller, a.category);
        let early = self.early.as_ref().ok_or("not open")?;
        for offer in early.get(&mut ctx.state())? {
            if item.2 == 10 {
                ctx.emit(expanded(a.id, &offer, &item));
            }
        }
        early.clear(&mut ctx.state())?;
        self.auction.as_ref().ok_or("not open")?.set(&mut ctx.state(), item)?;
        Ok(())
    }
    fn process2(&mut self, b: Bid, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let offer = (b.bidder, b.price, b.channel, b.date_time);
        match self.auction.as_ref().ok_or("not open")?.get(&mut ctx.state())? {
            Some(item) if item.2 == 10 => ctx.emit(expanded(b.auction, &offer, &item)),
            Some(_) => {}
            None => self.early.as_ref().ok_or("not open")?.add(&mut ctx.state(), offer)?,
        }
        Ok(())
    }
}

/// q20: bids on auctions of category 10, with the auction's item, seller
/// and category: `auction,bidder,price,channel,dateTime,itemName,seller,category`.
pub fn q20(auctions: DataStream<Auction>, bids: DataStream<Bid>) -> DataStream<String> {
    auctions.connect(bids).key_by(|a: &Auction| a.id, |b: &Bid| b.auction).process(Expand::default()).uid("q20")
}
