//! Schemas on restore: a changed state is refused with both descriptions
//! named, and a declared migration reads the older value type, from native
//! and canonical snapshots alike.

use serde::{Deserialize, Serialize};

use super::{full, to_restored, MAX};
use crate::{
    key_group_of, Backend, KeyGroupRange, KeyedState, KeyedStateBackend, ListState, MapState, RestoredFile, StateDescriptor, StateError,
    StateKind, ValueState,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CartV1 {
    items: u32,
}
crate::state_type!(CartV1, "test.Cart");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cart {
    items: u32,
    note: String,
}
crate::state_type!(Cart, "test.Cart", 2);

fn cart(v: CartV1) -> Cart {
    Cart { items: v.items, note: format!("was {}", v.items) }
}

/// Snapshots of a backend holding a value, a list and a map of `CartV1` for keys 0..100.
fn v1_snapshots(make: &impl Fn(KeyGroupRange) -> Backend<u64>) -> [(&'static str, Vec<RestoredFile>); 2] {
    let mut b = make(full());
    let value: ValueState<CartV1> = ValueState::register(&mut b, "cart").unwrap();
    let list: ListState<CartV1> = ListState::register(&mut b, "carts").unwrap();
    let map: MapState<String, CartV1> = MapState::register(&mut b, "by-shop").unwrap();
    for key in 0u64..100 {
        let mut s = KeyedState::new(&mut b, key_group_of(&key, MAX), &key);
        value.set(&mut s, CartV1 { items: key as u32 }).unwrap();
        list.add(&mut s, CartV1 { items: 1 }).unwrap();
        list.add(&mut s, CartV1 { items: 2 }).unwrap();
        map.put(&mut s, format!("shop-{}", key % 3), CartV1 { items: 3 }).unwrap();
    }
    let native = to_restored(b.snapshot().unwrap().write().unwrap());
    let canonical = to_restored(b.snapshot_canonical().unwrap().write().unwrap());
    [("snapshot", native), ("canonical snapshot", canonical)]
}

/// A state whose value type changed without a migration is refused, naming
/// the state and both schemas, and stays unclaimed; so is a state of another
/// kind or namespace.
pub fn schema_changes_are_refused(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    for (what, files) in v1_snapshots(make) {
        let mut r = make(full());
        r.restore(files).unwrap();
        let err = ValueState::<Cart>::register(&mut r, "cart").expect_err("a new version without a migration must be refused");
        let msg = err.to_string();
        assert!(matches!(err, StateError::IncompatibleState { .. }), "{what}: {msg}");
        assert!(
            msg.contains("'cart'")
                && msg.contains("declares value state, key u64, namespace (), value test.Cart@2")
                && msg.contains("holds value state, key u64, namespace (), value test.Cart,"),
            "{what}: the error names the state and both schemas: {msg}"
        );
        assert!(msg.contains("migrat"), "{what}: the error says how to read it: {msg}");
        let err = r.register_state::<i64, CartV1>(&"cart".into(), StateKind::Value).expect_err("another namespace");
        assert!(err.to_string().contains("namespace i64"), "{what}: {err}");
        let err = ListState::<CartV1>::register(&mut r, "cart").expect_err("another kind");
        assert!(err.to_string().contains("list state"), "{what}: {err}");
        let mut unclaimed = r.unclaimed_restored_states();
        unclaimed.sort();
        assert_eq!(unclaimed, vec!["by-shop", "cart", "carts"], "{what}: refused states stay unclaimed");
        // The declared types that match still read it.
        let value: ValueState<CartV1> = ValueState::register(&mut r, "cart").unwrap();
        let mut s = KeyedState::new(&mut r, key_group_of(&7u64, MAX), &7);
        assert_eq!(value.get(&mut s).unwrap(), Some(CartV1 { items: 7 }), "{what}");
    }
}

/// Value, list and map state of `CartV1` restore as `Cart` through the
/// declared migration; the next snapshot holds `Cart`.
pub fn migrations_read_older_values(make: &impl Fn(KeyGroupRange) -> Backend<u64>) {
    for (what, files) in v1_snapshots(make) {
        let mut r = make(full());
        r.restore(files).unwrap();
        let value: ValueState<Cart> = ValueState::register(&mut r, StateDescriptor::new("cart").migrate_from(cart)).unwrap();
        let list: ListState<Cart> = ListState::register(&mut r, StateDescriptor::new("carts").migrate_from(cart)).unwrap();
        let map: MapState<String, Cart> = MapState::register(&mut r, StateDescriptor::new("by-shop").migrate_from(cart)).unwrap();
        let check = |r: &mut Backend<u64>, value: &ValueState<Cart>, list: &ListState<Cart>, map: &MapState<String, Cart>| {
            for key in 0u64..100 {
                let mut s = KeyedState::new(r, key_group_of(&key, MAX), &key);
                assert_eq!(value.get(&mut s).unwrap(), Some(cart(CartV1 { items: key as u32 })), "{what}: key {key}");
                assert_eq!(list.get(&mut s).unwrap(), vec![cart(CartV1 { items: 1 }), cart(CartV1 { items: 2 })], "{what}");
                assert_eq!(map.get(&mut s, &format!("shop-{}", key % 3)).unwrap(), Some(cart(CartV1 { items: 3 })), "{what}");
            }
        };
        check(&mut r, &value, &list, &map);
        // New values of the new version sit beside the migrated ones.
        let mut s = KeyedState::new(&mut r, key_group_of(&1000u64, MAX), &1000);
        list.add(&mut s, Cart { items: 9, note: "new".into() }).unwrap();
        // The next snapshot is of the new version: it restores without a migration.
        let again = to_restored(r.snapshot().unwrap().write().unwrap());
        let mut r2 = make(full());
        r2.restore(again).unwrap();
        let value: ValueState<Cart> = ValueState::register(&mut r2, "cart").unwrap();
        let list: ListState<Cart> = ListState::register(&mut r2, "carts").unwrap();
        let map: MapState<String, Cart> = MapState::register(&mut r2, "by-shop").unwrap();
        check(&mut r2, &value, &list, &map);
        let mut s = KeyedState::new(&mut r2, key_group_of(&1000u64, MAX), &1000);
        assert_eq!(list.get(&mut s).unwrap(), vec![Cart { items: 9, note: "new".into() }], "{what}");
    }
}
