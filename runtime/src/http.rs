//! The control endpoint (`--control-addr`): the job's status, checkpoints,
//! savepoints and metrics over HTTP with JSON.

use crate::{JobControl, JobError};

/// A running endpoint; it stops when dropped.
pub(crate) struct Endpoint {
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
}

/// Starts the endpoint on `addr` on the job's I/O runtime.
pub(crate) fn serve(_runtime: &tokio::runtime::Runtime, addr: &str, _control: JobControl) -> Result<Endpoint, JobError> {
    Err(JobError::Config(format!("--control-addr {addr}: the control endpoint is not implemented yet")))
}
