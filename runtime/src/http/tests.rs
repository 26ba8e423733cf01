//! The endpoint over TCP: binding, the guard, hyper's limits, slow clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::{JobState, JobStatus};

fn control(stop: Arc<AtomicBool>) -> JobControl {
    let status = JobStatus {
        job_name: "t".into(),
        state: JobState::Running,
        parallelism: 1,
        max_parallelism: 128,
        operators: Vec::new(),
        restored_from: None,
        checkpoints: Vec::new(),
        restarts: 0,
        last_failure: None,
        last_restore_ms: None,
    };
    JobControl::new(status, None, stop)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn config(dir: &std::path::Path) -> JobConfig {
    let mut config = JobConfig::new("t");
    config.state_dir = dir.to_path_buf();
    config
}

/// Sends `raw` and reads the whole answer.
fn raw(addr: SocketAddr, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn token(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join(token::TOKEN_FILE)).unwrap().trim().to_string()
}

#[test]
fn serves_over_tcp_guards_and_stops_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let endpoint = serve(&runtime, "127.0.0.1:0", control(stop.clone()), &config(dir.path())).unwrap();
    let addr = endpoint.addr;
    assert_ne!(addr.port(), 0);
    let secret = token(dir.path());
    let job = raw(addr, &format!("GET /job HTTP/1.1\r\nHost: {addr}\r\n\r\n"));
    assert!(job.starts_with("HTTP/1.1 200 OK\r\n"), "{job}");
    assert!(job.to_ascii_lowercase().contains("connection: close\r\n"), "{job}");
    assert!(!job.to_ascii_lowercase().contains("access-control-"), "no CORS header: {job}");
    assert!(job.contains("\"state\": \"running\""), "{job}");
    let local = raw(addr, &format!("GET /job HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", addr.port()));
    assert!(local.starts_with("HTTP/1.1 200 "), "{local}");

    // State changes need the token; a foreign Host or Origin is refused whatever it carries.
    let denied = raw(addr, &format!("POST /stop HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"));
    assert!(denied.starts_with("HTTP/1.1 401 ") && denied.contains("\"error\"") && denied.contains("Bearer"), "{denied}");
    let wrong = raw(addr, &format!("POST /stop HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer x{secret}\r\nContent-Length: 0\r\n\r\n"));
    assert!(wrong.starts_with("HTTP/1.1 401 "), "{wrong}");
    let foreign = raw(addr, &format!("POST /stop HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {secret}\r\n\r\n"));
    assert!(foreign.starts_with("HTTP/1.1 403 ") && foreign.contains("evil.example"), "{foreign}");
    let foreign_get = raw(addr, "GET /job HTTP/1.1\r\nHost: evil.example:80\r\n\r\n");
    assert!(foreign_get.starts_with("HTTP/1.1 403 "), "{foreign_get}");
    let cross =
        raw(addr, &format!("POST /stop HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.example\r\nAuthorization: Bearer {secret}\r\n\r\n"));
    assert!(cross.starts_with("HTTP/1.1 403 ") && cross.contains("cross-origin"), "{cross}");
    assert!(!stop.load(Ordering::Relaxed), "no refused request stopped the job");
    let bad =
        raw(addr, &format!("POST /stop HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nContent-Length: 3\r\n\r\n{{x}}"));
    assert!(bad.starts_with("HTTP/1.1 400 ") && bad.contains("bad request body"), "{bad}");
    let ok = raw(addr, &format!("POST /stop HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\r\n"));
    assert!(ok.starts_with("HTTP/1.1 202 "), "{ok}");
    assert!(stop.load(Ordering::Relaxed));

    // Taken: binding the same address again fails, naming the flag.
    let other = tempfile::tempdir().unwrap();
    let taken = serve(&runtime, &addr.to_string(), control(stop.clone()), &config(other.path())).err().unwrap().to_string();
    assert!(taken.contains(&format!("--control-addr {addr}")), "{taken}");
    drop(endpoint);
    assert!(!dir.path().join(token::TOKEN_FILE).exists(), "the generated token's file is removed");
    std::thread::sleep(Duration::from_millis(50));
    assert!(TcpStream::connect(addr).is_err(), "still listening after the drop");
}

#[test]
fn what_hyper_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let endpoint = serve(&runtime, "127.0.0.1:0", control(Arc::new(AtomicBool::new(false))), &config(dir.path())).unwrap();
    let addr = endpoint.addr;
    let secret = token(dir.path());
    // Not HTTP: hyper answers 400 itself, without a body.
    let answer = raw(addr, "HELLO\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    // Headers larger than the buffer: 431.
    let huge = raw(addr, &format!("GET /job HTTP/1.1\r\nHost: {addr}\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD)));
    assert!(huge.starts_with("HTTP/1.1 431 "), "{huge}");
    // A body larger than the routes take: 413 with the JSON error.
    let declared = raw(
        addr,
        &format!("POST /savepoints HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nContent-Length: 999999\r\n\r\n"),
    );
    assert!(declared.starts_with("HTTP/1.1 413 ") && declared.contains("\"error\""), "{declared}");
}

#[test]
fn slow_clients_do_not_hold_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let endpoint = serve(&runtime, "127.0.0.1:0", control(Arc::new(AtomicBool::new(false))), &config(dir.path())).unwrap();
    let addr = endpoint.addr;
    let secret = token(dir.path());
    // More connections than the bound, each with half a request line.
    let slow: Vec<TcpStream> = (0..MAX_CONNECTIONS + 36)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /jo").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(endpoint.connections.count() <= MAX_CONNECTIONS);
    let started = Instant::now();
    let answer = raw(addr, &format!("POST /checkpoints HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\r\n"));
    assert!(answer.starts_with("HTTP/1.1 409 "), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(1), "answered after {:?}", started.elapsed());
    drop(slow);
}

#[test]
fn refuses_addresses_it_cannot_or_may_not_bind() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    for addr in ["127.0.0.1", "nonsense", "127.0.0.1:99999"] {
        let e = serve(&runtime, addr, control(stop.clone()), &config(dir.path())).err().unwrap().to_string();
        assert!(e.contains(&format!("--control-addr {addr}")), "{addr}: {e}");
    }
    // Beyond loopback only with a token file; nothing is bound without one.
    for addr in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
        let e = serve(&runtime, addr, control(stop.clone()), &config(dir.path())).err().unwrap().to_string();
        assert!(e.contains(&format!("--control-addr {addr}")) && e.contains("--control-token-file"), "{addr}: {e}");
    }
    let mut with_token = config(dir.path());
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    with_token.control_token_file = Some(file);
    let e = serve(&runtime, "192.0.2.1:0", control(stop), &with_token).err().unwrap().to_string();
    assert!(e.contains("cannot listen on 192.0.2.1:0"), "{e}");
    for (host, loopback) in
        [("127.0.0.1", true), ("127.8.0.1", true), ("[::1]", true), ("localhost", true), ("0.0.0.0", false), ("box", false)]
    {
        assert_eq!(is_loopback_host(host), loopback, "{host}");
    }
}
