//! A job's state type changes between runs: a job keeps a struct per key,
//! is stopped with a savepoint, and its next version, whose struct has
//! gained a field, restores it through a declared migration and goes on.
//! Without the migration the restore is refused, naming the state and both
//! schemas.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir::crates::runtime::{CheckpointRecord, JobControl, OnStart, SavepointFormat};
use weir::crates::state::BackendKind;
use weir::{
    state_type, Event, JobConfig, KeyedProcessFunction, OpenContext, ProcessContext, RestoreFrom, StateDescriptor, StreamEnvironment,
    UserError, ValueState,
};

const N: u64 = 60_000; // 3 s at the first run's 20 000 events/s
const KEYS: u64 = 20;

/// The first version of the job's state: items and their sum per key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CartV1 {
    items: u64,
    sum: u64,
}
state_type!(CartV1, "shop.Cart");

/// The second version: a field more, which the migration sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cart {
    items: u64,
    sum: u64,
    carried_over: bool,
}
state_type!(Cart, "shop.Cart", 2);

/// Version 1 of the job: counts and sums per key.
#[derive(Clone, Default)]
struct KeepV1(Option<ValueState<CartV1>>);

impl KeyedProcessFunction<u64, u64, String> for KeepV1 {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        self.0 = Some(ValueState::register(ctx.backend(), "cart")?);
        Ok(())
    }
    fn process(&mut self, value: u64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let cart = self.0.as_ref().ok_or("process before open")?;
        cart.update(
            &mut ctx.state(),
            || CartV1 { items: 0, sum: 0 },
            |c| {
                c.items += 1;
                c.sum += value;
            },
        )?;
        // Reports each key once all input is read.
        ctx.register_timer(N as i64)?;
        Ok(())
    }
}

/// Version 2 of the job: the same, on `Cart`, reporting each key's cart at the end.
#[derive(Clone)]
struct KeepV2 {
    migrate: bool,
    cart: Option<ValueState<Cart>>,
}

impl KeyedProcessFunction<u64, u64, String> for KeepV2 {
    fn open(&mut self, ctx: &mut OpenContext<'_, u64>) -> Result<(), UserError> {
        let mut state = StateDescriptor::new("cart");
        if self.migrate {
            state = state.migrate_from(|old: CartV1| Cart { items: old.items, sum: old.sum, carried_over: true });
        }
        self.cart = Some(ValueState::register(ctx.backend(), state)?);
        Ok(())
    }
    fn process(&mut self, value: u64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let cart = self.cart.as_ref().ok_or("process before open")?;
        cart.update(
            &mut ctx.state(),
            || Cart { items: 0, sum: 0, carried_over: false },
            |c| {
                c.items += 1;
                c.sum += value;
            },
        )?;
        ctx.register_timer(N as i64)?;
        Ok(())
    }
    fn on_timer(&mut self, _: i64, ctx: &mut ProcessContext<'_, u64, String>) -> Result<(), UserError> {
        let cart = self.cart.as_ref().ok_or("timer before open")?;
        let key = *ctx.key();
        if let Some(c) = cart.get(&mut ctx.state())? {
            ctx.emit(format!("key={key} items={} sum={} carried_over={}", c.items, c.sum, c.carried_over));
        }
        Ok(())
    }
}

fn config(root: &Path, backend: BackendKind, name: &str) -> JobConfig {
    let mut c = JobConfig::new("migration-test")
        .with_parallelism(2)
        .with_checkpoints(root.join(format!("chk-{name}")).to_str().unwrap(), Duration::from_secs(3600))
        .with_state_dir(&root.join(format!("state-{name}")));
    c.backend = backend;
    c
}

/// Runs version 1 until a stop with a savepoint in `format`; its path.
fn stop_v1_with_savepoint(root: &Path, backend: BackendKind, format: SavepointFormat) -> String {
    let reply: Arc<Mutex<Option<Result<CheckpointRecord, String>>>> = Arc::default();
    let mut c = config(root, backend, "v1");
    let sp_dir = root.join("savepoints").to_str().unwrap().to_string();
    let r = reply.clone();
    c.on_start = Some(OnStart(Arc::new(move |control: JobControl| {
        let (r, sp_dir) = (r.clone(), sp_dir.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1000));
            let answer = control.savepoint(&sp_dir, format, true).recv().unwrap_or_else(|e| Err(e.to_string()));
            *r.lock().unwrap() = Some(answer);
        });
    })));
    let env = StreamEnvironment::new(c);
    env.generate(N, Some(20_000.0), 0, |i| Event::new(i as i64, i))
        .uid("source")
        .key_by(|v: &u64| v % KEYS)
        .process(KeepV1::default())
        .uid("carts")
        .discard();
    let result = env.execute().unwrap();
    assert!(result.counter("events") < N, "the first run stopped before the end of its input");
    let record = reply.lock().unwrap().take().expect("the savepoint was answered").expect("the savepoint completed");
    record.path.expect("a completed savepoint has a path")
}

/// Runs version 2 from `savepoint`; its reports, sorted.
fn run_v2(root: &Path, backend: BackendKind, savepoint: &str, migrate: bool) -> Result<Vec<String>, weir::Error> {
    let mut c = config(root, backend, if migrate { "v2" } else { "v2-refused" });
    c.restore = Some(RestoreFrom::Path(savepoint.to_string()));
    let env = StreamEnvironment::new(c);
    let out = env
        .generate(N, None, 0, |i| Event::new(i as i64, i))
        .uid("source")
        .key_by(|v: &u64| v % KEYS)
        .process(KeepV2 { migrate, cart: None })
        .uid("carts")
        .collect_to_vec();
    env.execute()?;
    let mut v = out.lock().unwrap().clone();
    v.sort();
    Ok(v)
}

/// Every key's items and sum over all events, all carried over from the first run.
fn reference() -> Vec<String> {
    let mut v: Vec<String> = (0..KEYS)
        .map(|k| {
            let values: Vec<u64> = (0..N).filter(|i| i % KEYS == k).collect();
            format!("key={k} items={} sum={} carried_over=true", values.len(), values.iter().sum::<u64>())
        })
        .collect();
    v.sort();
    v
}

fn check(backend: BackendKind, format: SavepointFormat) {
    let dir = tempfile::tempdir().unwrap();
    let savepoint = stop_v1_with_savepoint(dir.path(), backend, format);
    let msg = run_v2(dir.path(), backend, &savepoint, false).expect_err("a changed state type without a migration is refused").to_string();
    assert!(
        msg.contains("carts") && msg.contains("'cart'") && msg.contains("value shop.Cart@2") && msg.contains("value shop.Cart,"),
        "the error names the operator, the state and both schemas: {msg}"
    );
    assert_eq!(run_v2(dir.path(), backend, &savepoint, true).unwrap(), reference(), "{backend:?}, {format:?} savepoint");
}

#[test]
fn a_canonical_savepoint_of_hashmap_state_restores_through_a_migration() {
    check(BackendKind::HashMap, SavepointFormat::Canonical);
}

#[test]
fn a_native_savepoint_of_rocksdb_state_restores_through_a_migration() {
    check(BackendKind::RocksDb, SavepointFormat::Native);
}

#[test]
fn a_canonical_savepoint_of_rocksdb_state_restores_through_a_migration() {
    check(BackendKind::RocksDb, SavepointFormat::Canonical);
}
