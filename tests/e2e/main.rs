//! End-to-end tests: run jobs (in this process, or the windowed_count example
//! as a child process), kill and restart them, and compare their committed
//! output with a reference computed by a plain fold over the same input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod bad_input;
mod claim;
mod common;
mod control;
mod crash;
mod incremental;
mod lifecycle;
mod rescale;
mod savepoint;
mod setup;
mod sources;
mod tool;
mod windowed_count;
