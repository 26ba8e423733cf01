//! A job that uses most operators at once, on a generated stream of
//! purchases: sliding and session windows, an interval join and broadcast
//! state, all written exactly once into one output directory.
//!
//! ```text
//! cargo run --release --example shop_monitor -- --generate 100k --output out/ \
//!     --checkpoint-dir /tmp/chk --checkpoint-interval 200ms --from-checkpoint latest
//! ```
//!
//! Purchase `i` happens at `i` ms: customer `customer(i)`, amount
//! `amount(i)`. Every 3rd purchase is an order, every 3rd (plus one) a
//! payment of order `order_of(i)`. Output lines, by their first field:
//!
//! * `sliding,<customer % 50>,<window start>,<purchases>`: purchases per
//!   customer group in 1 s windows every 250 ms;
//! * `session,<customer>,<start>,<end>,<purchases>`: a customer's visits
//!   (purchases less than 300 ms apart);
//! * `paid,<order>,<payment>`: a payment 0..=20 ms after its order;
//! * `alert,<customer>,<time>,<amount>`: an amount above the limit for the
//!   customer's tier (customer % 5) in force at its time; limits change
//!   every 100 ms on a broadcast stream.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weir::{
    parse_count, BroadcastContext, Event, JobArgs, KeyedBroadcastProcessFunction, MapState, OpenContext, ProcessContext, SessionWindows,
    SlidingWindows, StreamEnvironment, UserError,
};

/// A job with sliding and session windows, an interval join and broadcast state.
#[derive(Debug, Clone, Parser)]
#[command(name = "shop_monitor", version)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,

    /// Purchases to generate (suffixes k, M)
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub generate: u64,

    /// Throttle the purchases to this many per second (wall clock)
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,

    /// Write the output exactly once into files in DIR
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
}

/// Limit changes: one every 100 ms of event time.
pub const LIMITS: u64 = 600;

/// The customer of purchase `i`: irregular, so that visits vary in length.
pub fn customer(i: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761) >> 7) % 400
}
/// The amount of purchase `i`.
pub fn amount(i: u64) -> u64 {
    (i.wrapping_mul(7_919)) % 1_000
}
/// The order a payment `i` (`i % 3 == 1`) pays.
pub fn order_of(i: u64) -> u64 {
    (i.wrapping_mul(31)) % 97
}
/// Limit change `r`: from `100 r` ms, tier `r % 5` alerts above this.
pub fn limit(r: u64) -> (i64, (u64, u64)) {
    (100 * r as i64, (r % 5, (r * 37) % 1_000 + 200))
}

/// Limits in force: (tier, from) -> limit.
type Limits = BTreeMap<(u64, i64), u64>;

/// Alerts on amounts above their tier's limit in force at their time; an
/// amount waits in state for the watermark, so that the limits up to its
/// time have arrived.
#[derive(Clone, Default)]
struct Alerts(Option<MapState<i64, Vec<u64>>>);

impl KeyedBroadcastProcessFunction<u64, (u64, u64), (u64, u64), Limits, String> for Alerts {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.0 = Some(MapState::register(ctx.backend(), "waiting")?);
        Ok(())
    }
    fn process(&mut self, (_, amount): (u64, u64), _: &Limits, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let waiting = self.0.as_ref().ok_or("not open")?;
        let ts = ctx.timestamp();
        let mut amounts = waiting.get(&mut ctx.state(), &ts)?.unwrap_or_default();
        amounts.push(amount);
        waiting.put(&mut ctx.state(), ts, amounts)?;
        ctx.register_timer(ts)?;
        Ok(())
    }
    fn process_broadcast(
        &mut self,
        (tier, l): (u64, u64),
        limits: &mut Limits,
        ctx: &mut BroadcastContext<'_, String>,
    ) -> Result<(), UserError> {
        limits.insert((tier, ctx.timestamp()), l);
        Ok(())
    }
    fn on_timer(&mut self, ts: i64, limits: &Limits, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let waiting = self.0.as_ref().ok_or("not open")?;
        let c = *ctx.key();
        let limit = limits.range((c % 5, i64::MIN)..=(c % 5, ts)).next_back().map(|(_, l)| *l);
        for a in waiting.remove(&mut ctx.state(), &ts)?.unwrap_or_default() {
            if limit.is_some_and(|l| a > l) {
                ctx.emit(format!("alert,{c},{ts},{a}"));
            }
        }
        Ok(())
    }
}

/// Builds and runs the job; the number of purchases read.
pub fn run(args: &Args) -> Result<u64, weir::Error> {
    let env = StreamEnvironment::from_args("shop_monitor", &args.job)?;
    let purchases = |env: &StreamEnvironment, id: &str| env.generate(args.generate, args.rate, 0, |i| Event::new(i as i64, i)).uid(id);

    let sliding = purchases(&env, "purchases-sliding")
        .key_by(|i: &u64| customer(*i) % 50)
        .window(SlidingWindows::of(Duration::from_secs(1), Duration::from_millis(250)))
        .count()
        .uid("sliding")
        .map(|r| format!("sliding,{},{},{}", r.key, r.window.start, r.value));
    let sessions = purchases(&env, "purchases-sessions")
        .key_by(|i: &u64| customer(*i))
        .window(SessionWindows::with_gap(Duration::from_millis(300)))
        .count()
        .uid("sessions")
        .map(|r| format!("session,{},{},{},{}", r.key, r.window.start, r.window.end, r.value));
    let all = purchases(&env, "purchases-join");
    let orders = all.filter(|i: &u64| i % 3 == 0);
    let payments = purchases(&env, "purchases-payments").filter(|i: &u64| i % 3 == 1);
    let paid = orders
        .connect(payments)
        .key_by(|o: &u64| o % 97, |p: &u64| order_of(*p))
        .interval_join(0, 20, |o, p| format!("paid,{o},{p}"))
        .uid("join");
    let limits = env
        .generate(LIMITS, None, 0, |r| {
            let (ts, l) = limit(r);
            Event::new(ts, l)
        })
        .uid("limits")
        .set_parallelism(1)
        .broadcast();
    let alerts = purchases(&env, "purchases-alerts")
        .map(|i| (customer(i), amount(i)))
        .connect_broadcast(limits)
        .key_by(|p: &(u64, u64)| p.0)
        .process(Alerts::default())
        .uid("alerts");
    sliding.union(sessions).union(paid).union(alerts).write_to_files(&args.output).uid("output");
    let result = env.execute()?;
    Ok(result.counter("events"))
}

#[allow(dead_code)]
fn main() -> ExitCode {
    weir::init_logging();
    let args = Args::parse();
    match run(&args) {
        Ok(events) => {
            println!("events={events}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shop_monitor: error: {e}");
            ExitCode::FAILURE
        }
    }
}
