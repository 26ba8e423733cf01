//! Two inputs keyed the same way: interval and window joins against
//! brute-force references, with inputs arriving at different speeds, at
//! parallelism 1, 2 and 4 with each backend; a co-process function whose
//! state both inputs share; side outputs of a process function.

use std::collections::BTreeMap;
use std::path::Path;

use weir::crates::state::BackendKind;
use weir::{
    Event, JobConfig, KeyedCoProcessFunction, KeyedProcessFunction, OpenContext, OutputTag, ProcessContext, StreamEnvironment,
    TumblingWindows, UserError, ValueState,
};

const KEYS: u64 = 40;
const LEFT: u64 = 6_000;
const RIGHT: u64 = 4_000;

/// Left record `i`: key `i % KEYS` at `2 i` ms. Right record `j`: key
/// `(j * 7) % KEYS` at `3 j` ms.
fn left(i: u64) -> (i64, u64) {
    (2 * i as i64, i)
}
fn right(j: u64) -> (i64, u64) {
    (3 * j as i64, j)
}
fn left_key(i: &u64) -> u64 {
    i % KEYS
}
fn right_key(j: &u64) -> u64 {
    (j * 7) % KEYS
}

fn config(name: &str, p: u32, backend: BackendKind, root: &Path) -> JobConfig {
    let mut c = JobConfig::new(name).with_parallelism(p).with_state_dir(&root.join(format!("state-{name}-{p}")));
    c.backend = backend;
    c
}

/// Counts of each output, for comparing multisets.
fn counted<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// Runs `job` over both inputs (the right one throttled to a tenth of the
/// left's pace, so the left side waits in state) at every parallelism and
/// backend, and compares its output with `reference`.
fn check<O: Ord + Clone + std::fmt::Debug + Send + 'static>(
    name: &str,
    reference: &BTreeMap<O, usize>,
    job: impl Fn(weir::DataStream<u64>, weir::DataStream<u64>) -> weir::DataStream<O>,
) {
    for backend in [BackendKind::HashMap, BackendKind::RocksDb] {
        for p in [1, 2, 4] {
            let dir = tempfile::tempdir().unwrap();
            let env = StreamEnvironment::new(config(name, p, backend, dir.path()));
            let l = env.generate(LEFT, None, 0, |i| {
                let (ts, v) = left(i);
                Event::new(ts, v)
            });
            let r = env.generate(RIGHT, Some(8_000.0), 0, |j| {
                let (ts, v) = right(j);
                Event::new(ts, v)
            });
            let out = job(l, r).collect_to_vec();
            env.execute().unwrap();
            let got = counted(out.lock().unwrap().iter().cloned());
            assert_eq!(&got, reference, "{name}, {backend:?}, parallelism {p}");
        }
    }
}

#[test]
fn an_interval_join_matches_every_pair_within_the_interval() {
    let (lower, upper) = (-5i64, 20i64);
    let mut pairs = Vec::new();
    for i in 0..LEFT {
        for j in 0..RIGHT {
            let ((ta, _), (tb, _)) = (left(i), right(j));
            if left_key(&i) == right_key(&j) && tb - ta >= lower && tb - ta <= upper {
                pairs.push((i, j));
            }
        }
    }
    assert!(pairs.len() > 500, "{} pairs", pairs.len());
    let reference = counted(pairs);
    check("interval-join", &reference, |l, r| l.connect(r).key_by(left_key, right_key).interval_join(lower, upper, |a, b| (*a, *b)));
}

#[test]
fn a_window_join_matches_the_pairs_of_each_window() {
    let size = 50i64;
    let mut pairs = Vec::new();
    for i in 0..LEFT {
        for j in 0..RIGHT {
            let ((ta, _), (tb, _)) = (left(i), right(j));
            if left_key(&i) == right_key(&j) && ta.div_euclid(size) == tb.div_euclid(size) {
                pairs.push((i, j));
            }
        }
    }
    assert!(pairs.len() > 500, "{} pairs", pairs.len());
    let reference = counted(pairs);
    check("window-join", &reference, |l, r| {
        l.connect(r).key_by(left_key, right_key).window_join(TumblingWindows::of_millis(size), |a, b| (*a, *b))
    });
}

/// Per key: the sum of the left values minus the sum of the right values,
/// kept in one state both inputs update, reported at the end.
#[derive(Clone, Default)]
struct Balance(Option<ValueState<i64>>);

impl KeyedCoProcessFunction<u64, u64, u64, (u64, i64)> for Balance {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.0 = Some(ValueState::register(ctx.backend(), "balance")?);
        Ok(())
    }
    fn process1(&mut self, v: u64, ctx: &mut ProcessContext<'_, u64, (u64, i64)>) -> Result<(), UserError> {
        let s = self.0.as_ref().ok_or("not open")?;
        s.update(&mut ctx.state(), || 0, |b| *b += v as i64)?;
        ctx.register_timer(i64::MAX - 1)?;
        Ok(())
    }
    fn process2(&mut self, v: u64, ctx: &mut ProcessContext<'_, u64, (u64, i64)>) -> Result<(), UserError> {
        let s = self.0.as_ref().ok_or("not open")?;
        s.update(&mut ctx.state(), || 0, |b| *b -= v as i64)?;
        ctx.register_timer(i64::MAX - 1)?;
        Ok(())
    }
    fn on_timer(&mut self, _: i64, ctx: &mut ProcessContext<'_, u64, (u64, i64)>) -> Result<(), UserError> {
        let s = self.0.as_ref().ok_or("not open")?;
        let key = *ctx.key();
        if let Some(b) = s.get(&mut ctx.state())? {
            ctx.emit((key, b));
        }
        Ok(())
    }
}

#[test]
fn a_co_process_function_shares_state_across_both_inputs() {
    let mut balance: BTreeMap<u64, i64> = BTreeMap::new();
    for i in 0..LEFT {
        *balance.entry(left_key(&i)).or_insert(0) += i as i64;
    }
    for j in 0..RIGHT {
        *balance.entry(right_key(&j)).or_insert(0) -= j as i64;
    }
    let reference = counted(balance);
    check("co-process", &reference, |l, r| l.connect(r).key_by(left_key, right_key).process(Balance::default()));
}

/// Passes even values on and sends odd ones to a side output, tens to another.
#[derive(Clone)]
struct Split {
    odd: OutputTag<u64>,
    tens: OutputTag<String>,
}

impl KeyedProcessFunction<u64, u64, u64> for Split {
    fn process(&mut self, v: u64, ctx: &mut ProcessContext<'_, u64, u64>) -> Result<(), UserError> {
        if v % 2 == 0 {
            ctx.emit(v);
        } else {
            ctx.output(&self.odd, v);
        }
        if v % 10 == 0 {
            ctx.output(&self.tens, format!("ten:{v}"));
        }
        Ok(())
    }
}

#[test]
fn a_process_function_sends_to_side_outputs() {
    for p in [1, 3] {
        let env = StreamEnvironment::new(JobConfig::new("side").with_parallelism(p));
        let (odd, tens) = (OutputTag::<u64>::new("odd"), OutputTag::<String>::new("tens"));
        let main = env
            .generate(1_000, None, 0, |i| Event::new(i as i64, i))
            .key_by(|v: &u64| v % 7)
            .process(Split { odd: odd.clone(), tens: tens.clone() });
        let odd_out = main.side_output(&odd).collect_to_vec();
        let tens_out = main.side_output(&tens).collect_to_vec();
        let main_out = main.collect_to_vec();
        env.execute().unwrap();
        let mut evens = main_out.lock().unwrap().clone();
        let mut odds = odd_out.lock().unwrap().clone();
        let mut tens_v = tens_out.lock().unwrap().clone();
        evens.sort_unstable();
        odds.sort_unstable();
        tens_v.sort();
        assert_eq!(evens, (0..1_000).filter(|v| v % 2 == 0).collect::<Vec<_>>());
        assert_eq!(odds, (0..1_000).filter(|v| v % 2 == 1).collect::<Vec<_>>());
        let mut expected: Vec<String> = (0..1_000).filter(|v| v % 10 == 0).map(|v| format!("ten:{v}")).collect();
        expected.sort();
        assert_eq!(tens_v, expected);
    }
}

#[test]
fn taking_a_side_output_twice_or_one_the_operator_lacks_is_refused() {
    let env = StreamEnvironment::new(JobConfig::new("side-twice"));
    let tag = OutputTag::<u64>::new("odd");
    let main = env.from_collection(vec![(0, 1u64)]).key_by(|v: &u64| *v).process(Split { odd: tag.clone(), tens: OutputTag::new("tens") });
    main.side_output(&tag).discard();
    main.side_output(&tag).discard();
    main.discard();
    let err = env.execute().expect_err("refused").to_string();
    assert!(err.contains("'odd'") && err.contains("twice"), "{err}");

    let env = StreamEnvironment::new(JobConfig::new("side-missing"));
    let counts = env.from_collection(vec![(0, 1u64)]).key_by(|v: &u64| *v).window(TumblingWindows::of_millis(10)).count();
    counts.side_output(&OutputTag::<u64>::new("nothing")).discard();
    counts.discard();
    let err = env.execute().expect_err("refused").to_string();
    assert!(err.contains("no side output 'nothing'"), "{err}");
}
