//! Who may do what through a job's control endpoint: the token for requests
//! that change anything, the Host and Origin checks, the savepoint root, and
//! binds beyond loopback.

use std::io::Write;
use std::time::{Duration, Instant};

use weir::client::ControlClient;

use crate::common::*;
use crate::control::{assert_error, assert_savepoint, job_args, raw_request, Job};

#[test]
fn the_endpoint_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let (out, chk, root) = (dir.path().join("out"), dir.path().join("chk"), dir.path().join("sp-root"));
    let token_file = dir.path().join("my-token");
    std::fs::write(&token_file, "a-token-of-my-own\n").unwrap();
    let mut args = job_args(100_000_000, 20_000, &out, &chk, "hashmap");
    args.extend(["--savepoint-dir".to_string(), root.display().to_string()]);
    args.extend(["--control-token-file".to_string(), token_file.display().to_string()]);
    let job = Job::start(dir.path(), &args);
    assert_eq!(job.token_file, token_file, "the log names the given token file");
    assert!(!chk.join("_control_token").exists(), "no token is generated when one is given");
    let addr = job.client.addr().to_string();

    // Without the token: 401 with a JSON error, and nothing happens.
    let anonymous = ControlClient::new(&job.url()).unwrap();
    for (path, body) in [("/checkpoints", ""), ("/savepoints", r#"{"dir": "nightly"}"#), ("/stop", "")] {
        let r = anonymous.post(path, body).unwrap();
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(r.error_message().contains("Authorization: Bearer"), "{}", r.body);
    }
    let r = ControlClient::new(&job.url()).unwrap().with_token("a-token-of-someone-else").post("/stop", "").unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    let r = anonymous.get("/job").unwrap();
    assert_eq!(r.status, 200, "GET stays open on loopback: {}", r.body);
    assert_eq!(r.json().unwrap()["state"], "running");
    assert_eq!(job.get("/checkpoints").1["counts"]["completed"], 0);

    // A foreign Host, whatever the route and token: 403. No CORS headers, ever.
    let token = "a-token-of-my-own";
    for request in [
        "GET /job HTTP/1.1\r\nHost: evil.example\r\n\r\n".to_string(),
        format!("POST /stop HTTP/1.1\r\nHost: evil.example:{}\r\nAuthorization: Bearer {token}\r\n\r\n", addr.rsplit(':').next().unwrap()),
    ] {
        let answer = raw_request(&addr, request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 403 ") && answer.contains("is not this endpoint"), "{answer}");
        assert!(!answer.to_ascii_lowercase().contains("access-control-"), "{answer}");
    }
    // A cross-origin POST, even with the token: refused.
    let cross = format!(
        "POST /stop HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.example\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    );
    let answer = raw_request(&addr, cross.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 403 ") && answer.contains("cross-origin"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("access-control-"), "{answer}");
    // The endpoint's own origin is fine.
    let own = format!("GET /job HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n\r\n");
    assert!(raw_request(&addr, own.as_bytes()).starts_with("HTTP/1.1 200 "));

    // Savepoints outside the root: 403 naming it, and nothing written.
    let elsewhere = dir.path().join("elsewhere");
    let escape = format!("{}/../escape", root.display());
    for requested in [elsewhere.display().to_string(), escape.clone(), "../escape".to_string()] {
        let response = job.post("/savepoints", &format!(r#"{{"dir": "{requested}"}}"#));
        assert_error(response, 403, &format!("outside the allowed savepoint root {}", root.display()));
    }
    let response = job.post("/stop", &format!(r#"{{"savepoint_dir": "{}"}}"#, elsewhere.display()));
    assert_error(response, 403, "--savepoint-dirs-anywhere");
    let [flag, file] = job.token_args();
    let o = weir_tool(&["savepoint", "--job", &job.url(), "--dir", elsewhere.to_str().unwrap(), &flag, &file]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("outside the allowed savepoint root"), "{}", stderr(&o));
    assert!(!elsewhere.exists() && !dir.path().join("escape").exists(), "a refused savepoint wrote something");
    // A subdirectory of the root is fine, named relative to it.
    let (status, record) = job.post("/savepoints", r#"{"dir": "nightly"}"#);
    assert_eq!(status, 200, "{record}");
    assert_savepoint(record["path"].as_str().unwrap(), &root.join("nightly"));

    // Slow clients: connections that send part of a request line and then
    // nothing neither hold the endpoint nor keep it from answering.
    let slow: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /sto").unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let (status, running) = job.get("/job");
    let took = started.elapsed();
    assert_eq!((status, running["state"].as_str()), (200, Some("running")));
    eprintln!("answered after {took:?} with {} slow connections open", slow.len());
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    drop(slow);

    // None of it stopped the job; the token does.
    let (status, _) = job.post("/stop", "");
    assert_eq!(status, 202);
    let (status, _, log) = job.wait();
    assert!(status.success(), "{log}");
    assert!(token_file.exists(), "a given token file is left alone");
}

#[test]
fn listening_beyond_loopback_needs_a_token_file() {
    let dir = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let started = Instant::now();
        let chk = dir.path().join("chk");
        let o = run_windowed_count(&[
            "--generate",
            "100M",
            "--rate",
            "1000",
            "--checkpoint-dir",
            chk.to_str().unwrap(),
            "--control-addr",
            addr,
        ]);
        assert!(!o.status.success(), "{addr}: {}", stderr(&o));
        assert!(started.elapsed() < Duration::from_secs(30), "{addr}: the job ran");
        let err = stderr(&o);
        assert!(err.contains(addr) && err.contains("--control-token-file"), "{addr}: {err}");
        assert!(!err.contains("control endpoint listening"), "{addr}: {err}");
    }
}
