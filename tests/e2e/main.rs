//! End-to-end tests: run jobs (in this process, or the windowed_count example
//! as a child process), kill and restart them, and compare their committed
//! output with a reference computed by a plain fold over the same input.
//! With the `s3` feature, also on `s3://` checkpoint directories (moto's S3
//! server on a loopback port).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod bad_input;
mod claim;
mod common;
mod control;
mod crash;
mod incremental;
mod joins;
#[cfg(feature = "kafka")]
mod kafka;
mod lifecycle;
mod migration;
#[cfg(feature = "s3")]
#[path = "../../checkpoint/tests/support/moto.rs"]
mod moto;
mod nexmark;
mod page;
mod processing_time;
mod protection;
mod rescale;
mod restart;
#[cfg(feature = "s3")]
mod s3;
mod savepoint;
mod setup;
mod sources;
mod tool;
mod topology;
mod window_state;
mod windowed_count;
mod windows;
