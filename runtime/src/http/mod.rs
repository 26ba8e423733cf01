//! The control endpoint (`--control-addr`): the job's status, checkpoints,
//! savepoints and metrics over HTTP with JSON.
//!
//! hyper serves HTTP/1.1 on the job's I/O runtime, one request per connection
//! (answers say `Connection: close`). What bounds a client: hyper's header
//! read timeout and buffer size (431 past it), a body size and time limit
//! ([`wire`]), and a bound on open connections in which the oldest connection
//! still sending its request gives way to a new one ([`conns`]). Who may ask
//! what is [`guard`]'s business; where savepoints may go, [`dirs`]'. Requests
//! that wait for a checkpoint or savepoint poll their reply without blocking
//! the runtime.

mod conns;
mod dirs;
mod guard;
mod routes;
pub(crate) mod token;
mod wire;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::{JobConfig, JobControl, JobError};
use conns::{Admitted, Connections};
use dirs::SavepointDirs;
use guard::Guard;
use routes::Context;
use token::ControlToken;
use wire::Response;

/// Connections open at once (each holds at most [`MAX_HEAD`] of buffer).
const MAX_CONNECTIONS: usize = 64;
/// A request line and headers may take this many bytes; more is answered 431.
const MAX_HEAD: usize = 16 << 10;
/// A client has this long to send its request line and headers; then hyper
/// closes the connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping endpoint lets the requests it is answering finish
/// (a stop with a savepoint is answered just as the job ends).
const DRAIN: Duration = Duration::from_secs(3);
/// How often the Prometheus recorder's histograms are drained.
const UPKEEP: Duration = Duration::from_secs(5);

/// A running endpoint; it stops when dropped (and removes a token file it wrote).
pub(crate) struct Endpoint {
    /// The address it listens on.
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
    upkeep: Option<JoinHandle<()>>,
    connections: Arc<Connections>,
    _token: ControlToken,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(upkeep) = &self.upkeep {
            upkeep.abort();
        }
        let deadline = Instant::now() + DRAIN;
        while self.connections.count() > 0 && Instant::now() < deadline {
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

/// Whether `host` (of `HOST:PORT`) is this machine only: 127.0.0.0/8, `::1`
/// or `localhost`. Other names count as beyond it, whatever they resolve to now.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Binds `addr` (`IP:PORT` or `HOST:PORT`, exactly as given: a port taken or
/// an address not on this machine is an error, never a fallback). Beyond
/// loopback only with a token file.
fn bind(addr: &str, has_token_file: bool) -> Result<std::net::TcpListener, JobError> {
    let candidates: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| {
            JobError::Config(format!("--control-addr {addr}: not an address to listen on ({e}); expected HOST:PORT, e.g. 127.0.0.1:0"))
        })?
        .collect();
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    if !has_token_file && (!is_loopback_host(host) || candidates.iter().any(|c| !c.ip().is_loopback())) {
        return Err(JobError::Config(format!(
            "--control-addr {addr} listens beyond this machine: give --control-token-file PATH too \
             (a file holding the token that every request must then carry), or listen on 127.0.0.1"
        )));
    }
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

/// Starts the endpoint on `addr` on the job's I/O runtime, with the token,
/// savepoint directories and token file of `config`.
pub(crate) fn serve(runtime: &tokio::runtime::Runtime, addr: &str, control: JobControl, config: &JobConfig) -> Result<Endpoint, JobError> {
    let listener = bind(addr, config.control_token_file.is_some())?;
    let local = listener.local_addr().map_err(|e| JobError::io(format!("--control-addr {addr}: reading the bound address"), e))?;
    listener.set_nonblocking(true).map_err(|e| JobError::io(format!("--control-addr {addr}: configuring the socket"), e))?;
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener)
            .map_err(|e| JobError::io(format!("--control-addr {addr}: registering the socket"), e))?
    };
    let token = token::prepare(config)?;
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
        tracing::warn!("{why}; GET /metrics answers 503");
    }
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let name = host.parse::<IpAddr>().is_err().then(|| host.trim_start_matches('[').trim_end_matches(']').to_string());
    let guard = Guard { secret: token.secret.clone(), name };
    let savepoints = SavepointDirs { root: config.savepoint_dir.clone(), anywhere: config.savepoint_dirs_anywhere };
    let ctx = Arc::new(Served { routes: Context { control, savepoints, metrics }, guard });
    let connections = Connections::new(MAX_CONNECTIONS);
    let accept = runtime.spawn(accept_loop(listener, ctx, connections.clone()));
    info!("control endpoint listening on {local} (control token in {})", token.file.display());
    Ok(Endpoint { addr: local, accept, upkeep, connections, _token: token })
}

/// What every connection works with.
struct Served {
    routes: Context,
    guard: Guard,
}

async fn accept_loop(listener: tokio::net::TcpListener, ctx: Arc<Served>, connections: Arc<Connections>) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEAD).keep_alive(false);
    let http = Arc::new(http);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, go on.
                tracing::warn!(error = %e, "control endpoint: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(admitted) = connections.admit() else {
            debug!(%peer, "control endpoint: {MAX_CONNECTIONS} requests are being answered; closing a new connection");
            continue;
        };
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(e) => {
                debug!(%peer, error = %e, "control endpoint: a connection without a local address");
                continue;
            }
        };
        let (ctx, http) = (ctx.clone(), http.clone());
        tokio::spawn(async move { serve_connection(&http, ctx, stream, peer, local, admitted).await });
    }
}

async fn serve_connection(
    http: &http1::Builder,
    ctx: Arc<Served>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    mut admitted: Admitted,
) {
    let answering = admitted.answering.clone();
    let service = service_fn(move |request| {
        let (ctx, answering) = (ctx.clone(), answering.clone());
        async move { Ok::<_, Infallible>(answer(&ctx, request, peer, local, &answering).await.into_hyper()) }
    });
    tokio::select! {
        served = http.serve_connection(TokioIo::new(stream), service) => {
            if let Err(e) = served {
                debug!(%peer, error = %e, "control endpoint: connection ended with an error");
            }
        }
        _ = &mut admitted.evicted => debug!(%peer, "control endpoint: closed a connection still sending its request to make room"),
    }
}

/// Checks a request, reads its body and answers it.
async fn answer(
    ctx: &Served,
    request: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    answering: &std::sync::atomic::AtomicBool,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(refused) = ctx.guard.check(&parts.method, &parts.headers, local) {
        debug!(%peer, method = %parts.method, path = %parts.uri.path(), status = refused.status, "control request refused");
        return refused;
    }
    let body = match wire::read_body(&parts.headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    answering.store(true, Ordering::Release);
    let request = wire::request(&parts, body);
    let response = routes::handle(&ctx.routes, &request).await;
    debug!(%peer, method = %request.method, path = %request.path, status = response.status, "control request");
    response
}

#[cfg(test)]
mod tests;
