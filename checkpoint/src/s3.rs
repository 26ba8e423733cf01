//! The S3 client of `s3://` locations: configured from the environment, with
//! time-outs and retries chosen for checkpoint storage.
//!
//! Everything `object_store`'s `AmazonS3Builder::from_env` reads applies:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` (or
//! `AWS_ENDPOINT`) for an S3-compatible server, `AWS_ALLOW_HTTP=true` for one
//! without TLS, `AWS_CONDITIONAL_PUT`, and the HTTP client's settings such as
//! `AWS_TIMEOUT` and `AWS_CONNECT_TIMEOUT`.
//!
//! The create-only puts of `_metadata` and `_job_lock` send
//! `If-None-Match: *`, object_store's default for S3
//! (`S3ConditionalPut::ETagMatch`), which AWS S3, moto and Cloudflare R2
//! honour; for a server that does not, `AWS_CONDITIONAL_PUT=disabled` makes
//! them a check followed by a put, which is not atomic.
//!
//! A checkpoint must neither hang on a server that stopped answering nor fail
//! because of one slow answer, so unless the environment says otherwise:
//!
//! - a connection not made within [`CONNECT_TIMEOUT`] is given up;
//! - a request not answered in full within [`REQUEST_TIMEOUT`] is given up
//!   (long enough to upload a 64 MiB SST file at about 1 MB/s);
//! - a request that failed that way, or with a 5xx or 429 answer, is sent
//!   again after a back-off of 100 ms doubling up to 15 s, at most
//!   [`MAX_RETRIES`] times and not after [`RETRY_TIMEOUT`] from the first
//!   attempt. A request that was never sent (no connection) is always sent
//!   again; one that timed out only if repeating it is harmless: reads,
//!   listings, deletes and overwriting puts, not the create-only puts of
//!   `_metadata` and `_job_lock` (their failure fails that checkpoint, or
//!   the job's start, and the next checkpoint is taken as usual).
//!
//! An outage shorter than that delays a checkpoint; a longer one fails its
//! uploads, the tasks decline, and the checkpoint is aborted by the
//! coordinator (or by `--checkpoint-timeout` first) while the job runs on.

use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};

/// How long making a connection may take (`AWS_CONNECT_TIMEOUT` overrides it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take, from sending it to the end of the answer
/// (`AWS_TIMEOUT` overrides it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a failed request is sent again.
pub const MAX_RETRIES: usize = 10;

/// No request is sent again later than this after its first attempt.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(180);

/// An S3 client builder: the environment, and this module's time-outs and
/// retries where the environment sets none.
pub(crate) fn builder_from_env() -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_retry(retry_config());
    for (key, default) in [(ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT), (ClientConfigKey::Timeout, REQUEST_TIMEOUT)] {
        if !set_in_env(&key) {
            builder = builder.with_config(AmazonS3ConfigKey::Client(key), format!("{}ms", default.as_millis()));
        }
    }
    builder
}

/// The retry policy of every request (see the module's documentation).
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(15), base: 2.0 },
        max_retries: MAX_RETRIES,
        retry_timeout: RETRY_TIMEOUT,
    }
}

/// Whether the environment sets the client option `key` the way
/// `AmazonS3Builder::from_env` reads it (`AWS_<KEY>`, any case).
fn set_in_env(key: &ClientConfigKey) -> bool {
    let name = format!("aws_{}", key.as_ref());
    std::env::vars_os().any(|(k, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(&name)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults_apply_where_the_environment_sets_nothing() {
        // Tests run in parallel: read the environment, never change it.
        let builder = builder_from_env();
        let timeout = builder.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::Timeout)).unwrap();
        if !set_in_env(&ClientConfigKey::Timeout) {
            assert_eq!(timeout, "60000ms");
        }
        let connect = builder.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout)).unwrap();
        if !set_in_env(&ClientConfigKey::ConnectTimeout) {
            assert_eq!(connect, "5000ms");
        }
        assert_eq!(retry_config().max_retries, MAX_RETRIES);
    }
}
