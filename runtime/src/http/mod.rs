//! The control endpoint (`--control-addr`): the job's status, checkpoints,
//! savepoints and metrics over HTTP with JSON.
//!
//! A small HTTP/1.1 server on the job's I/O runtime: one request per
//! connection, answered with `Connection: close`. Requests that wait for a
//! checkpoint or savepoint poll their reply without blocking the runtime.

mod routes;
mod wire;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::{JobControl, JobError};
use routes::Context;
use wire::Response;

/// Connections served at once; more are answered 503 at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a stopping endpoint lets the requests it is answering finish
/// (a stop with a savepoint is answered just as the job ends).
const DRAIN: Duration = Duration::from_secs(3);
/// How often the Prometheus recorder's histograms are drained.
const UPKEEP: Duration = Duration::from_secs(5);

/// A running endpoint; it stops when dropped.
pub(crate) struct Endpoint {
    /// The address it listens on.
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
    upkeep: Option<JoinHandle<()>>,
    /// Connections being served.
    open: Arc<AtomicUsize>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(upkeep) = &self.upkeep {
            upkeep.abort();
        }
        let deadline = Instant::now() + DRAIN;
        while self.open.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        debug!(addr = %self.addr, "control endpoint stopped");
    }
}

/// The process's Prometheus recorder, installed by the first endpoint (a
/// process has one global recorder; later jobs in it share this one).
fn prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new().install_recorder().map_err(|e| match e {
                BuildError::FailedToSetGlobalRecorder(_) => {
                    "metrics are not available: another metrics recorder was installed in this process before the control endpoint"
                        .to_string()
                }
                e => format!("metrics are not available: {e}"),
            })
        })
        .clone()
}

/// Binds `addr` (`IP:PORT` or `HOST:PORT`, exactly as given: a port taken or
/// an address not on this machine is an error, never a fallback).
fn bind(addr: &str) -> Result<std::net::TcpListener, JobError> {
    let candidates: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            JobError::Config(format!("--control-addr {addr}: not an address to listen on ({e}); expected HOST:PORT, e.g. 127.0.0.1:0"))
        })?
        .collect();
    let mut last = None;
    for candidate in &candidates {
        match std::net::TcpListener::bind(candidate) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some((candidate, e)),
        }
    }
    match last {
        Some((candidate, e)) => Err(JobError::io(format!("--control-addr {addr}: cannot listen on {candidate}"), e)),
        None => Err(JobError::Config(format!("--control-addr {addr}: the name resolves to no address"))),
    }
}

/// Starts the endpoint on `addr` on the job's I/O runtime. `savepoint_dir`
/// is where savepoints go when a request names no directory.
pub(crate) fn serve(
    runtime: &tokio::runtime::Runtime,
    addr: &str,
    control: JobControl,
    savepoint_dir: Option<String>,
) -> Result<Endpoint, JobError> {
    let listener = bind(addr)?;
    let local = listener.local_addr().map_err(|e| JobError::io(format!("--control-addr {addr}: reading the bound address"), e))?;
    listener.set_nonblocking(true).map_err(|e| JobError::io(format!("--control-addr {addr}: configuring the socket"), e))?;
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener)
            .map_err(|e| JobError::io(format!("--control-addr {addr}: registering the socket"), e))?
    };
    let metrics = prometheus();
    let upkeep = metrics.as_ref().ok().cloned().map(|handle| {
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(UPKEEP).await;
                handle.run_upkeep();
            }
        })
    });
    if let Err(why) = &metrics {
        warn!("{why}; GET /metrics answers 503");
    }
    if !local.ip().is_loopback() {
        warn!(addr = %local, "the control endpoint has no authentication and listens beyond this machine");
    }
    let ctx = Arc::new(Context { control, savepoint_dir, metrics });
    let open = Arc::new(AtomicUsize::new(0));
    let accept = runtime.spawn(accept_loop(listener, ctx, open.clone()));
    info!("control endpoint listening on {local}");
    Ok(Endpoint { addr: local, accept, upkeep, open })
}

/// Decrements the count of open connections when a connection's task ends, however it ends.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, ctx: Arc<Context>, open: Arc<AtomicUsize>) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, go on.
                warn!(error = %e, "control endpoint: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let guard = Open(open.clone());
        if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            tokio::spawn(async move {
                let _guard = guard;
                let busy = Response::error(503, format!("busy: {MAX_CONNECTIONS} requests are being answered"));
                let _ = wire::write_response(&mut stream, &busy).await;
            });
            continue;
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _guard = guard;
            serve_connection(&ctx, &mut stream, peer).await;
        });
    }
}

async fn serve_connection(ctx: &Context, stream: &mut tokio::net::TcpStream, peer: SocketAddr) {
    let response = match tokio::time::timeout(wire::READ_TIMEOUT, wire::read_request(stream)).await {
        Err(_) => Response::error(408, format!("the request did not arrive within {:?}", wire::READ_TIMEOUT)),
        Ok(Ok(None)) => return,
        Ok(Err(refused)) => refused,
        Ok(Ok(Some(request))) => {
            let response = routes::handle(ctx, &request).await;
            debug!(%peer, method = %request.method, path = %request.path, status = response.status, "control request");
            response
        }
    };
    if let Err(e) = wire::write_response(stream, &response).await {
        debug!(%peer, error = %e, "control endpoint: writing an answer failed");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::{Read, Write};
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::{JobState, JobStatus};

    fn control() -> JobControl {
        let status = JobStatus {
            job_name: "t".into(),
            state: JobState::Running,
            parallelism: 1,
            max_parallelism: 128,
            operators: Vec::new(),
            restored_from: None,
            checkpoints: Vec::new(),
        };
        JobControl::new(status, None, Arc::new(AtomicBool::new(false)))
    }

    fn get(addr: SocketAddr, raw: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_over_tcp_and_stops_when_dropped() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let endpoint = serve(&runtime, "127.0.0.1:0", control(), None).unwrap();
        let addr = endpoint.addr;
        assert_ne!(addr.port(), 0);
        let job = get(addr, "GET /job HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(job.starts_with("HTTP/1.1 200 OK\r\n"), "{job}");
        assert!(job.contains("\"state\": \"running\""), "{job}");
        let bad = get(addr, "POST /stop HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}");
        assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
        // Taken: binding the same address again fails, naming the flag.
        let taken = serve(&runtime, &addr.to_string(), control(), None).err().unwrap().to_string();
        assert!(taken.contains(&format!("--control-addr {addr}")), "{taken}");
        drop(endpoint);
        std::thread::sleep(Duration::from_millis(50));
        assert!(std::net::TcpStream::connect(addr).is_err(), "still listening after the drop");
    }

    #[test]
    fn refuses_addresses_it_cannot_bind() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for addr in ["127.0.0.1", "nonsense", "127.0.0.1:99999", "192.0.2.1:0"] {
            let e = serve(&runtime, addr, control(), None).err().unwrap().to_string();
            assert!(e.contains(&format!("--control-addr {addr}")), "{addr}: {e}");
        }
    }
}
