//! The control endpoint (`--control-addr`) of a running windowed_count: job
//! status, checkpoints on request and their history, metrics, savepoints
//! (through the endpoint and `weir savepoint`), stop with a savepoint and a
//! restore from it, the answers to bad requests, and the endpoint's
//! protection: the token, Host and Origin checks, the savepoint root, binds
//! beyond loopback, slow clients.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::client::{ControlClient, ControlResponse};

use crate::common::*;

const KEYS: u64 = 50;
const EVENT_RATE: u64 = 10_000;

/// A windowed_count child process with its control endpoint.
pub(crate) struct Job {
    pub(crate) child: Child,
    /// A client that sends the job's token.
    pub(crate) client: ControlClient,
    /// The file the job wrote its token to, as its log names it.
    pub(crate) token_file: PathBuf,
    pub(crate) stderr: PathBuf,
    stdout: PathBuf,
}

impl Job {
    /// Starts windowed_count with `args` and `--control-addr 127.0.0.1:0`, and
    /// reads the endpoint's address from its log.
    pub(crate) fn start(dir: &Path, args: &[String]) -> Job {
        Self::start_with_env(dir, args, &[])
    }

    /// As [`Job::start`], with `envs` set for the job.
    pub(crate) fn start_with_env(dir: &Path, args: &[String], envs: &[(&str, &str)]) -> Job {
        let stderr = dir.join("job.stderr");
        let stdout = dir.join("job.stdout");
        let child = Command::new(windowed_count_bin())
            .args(args)
            .args(["--control-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut job = Job { child, client: ControlClient::new("127.0.0.1:1").unwrap(), token_file: PathBuf::new(), stderr, stdout };
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(&job.stderr).unwrap_or_default();
            if let Some(rest) = log.split("control endpoint listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                let file = rest.split("(control token in ").nth(1).and_then(|r| r.split(')').next()).unwrap();
                job.token_file = PathBuf::from(file);
                let token = weir::client::read_token_file(&job.token_file).unwrap();
                job.client =
                    ControlClient::new(&format!("http://{addr}")).unwrap().with_timeout(Duration::from_secs(120)).with_token(token);
                break;
            }
            assert!(job.child.try_wait().unwrap().is_none(), "the job ended before its endpoint listened: {log}");
            assert!(started.elapsed() < Duration::from_secs(60), "no endpoint address in the log: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Wait until every task runs.
        while job.get("/job").1["state"] != "running" {
            assert!(started.elapsed() < Duration::from_secs(60), "the job never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        job
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.client.addr())
    }

    /// `--token-file` and the job's token file, for `weir savepoint`.
    pub(crate) fn token_args(&self) -> [String; 2] {
        ["--token-file".to_string(), self.token_file.display().to_string()]
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: &str) -> (u16, Value, ControlResponse) {
        let r = self.client.request(method, path, body).unwrap();
        let json = if path == "/metrics" && r.status == 200 { Value::Null } else { r.json().unwrap() };
        (r.status, json, r)
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let (status, json, _) = self.call("GET", path, "");
        (status, json)
    }

    pub(crate) fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let (status, json, _) = self.call("POST", path, body);
        (status, json)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the process to end by itself.
    pub(crate) fn wait(mut self) -> (std::process::ExitStatus, String, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, std::fs::read_to_string(&self.stdout).unwrap_or_default(), self.log());
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the job did not end: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn job_args(n: u64, rate: u64, out: &Path, chk: &Path, backend: &str) -> Vec<String> {
    argv(&format!(
        "--generate {n} --keys {KEYS} --event-rate {EVENT_RATE} --rate {rate} --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval 1h --state-backend {backend}",
        out.display(),
        chk.display()
    ))
}

fn assert_completed(record: &Value, kind: &str) {
    assert_eq!(record["status"], "completed", "{record}");
    assert_eq!(record["kind"], kind, "{record}");
    assert!(record["id"].as_u64().unwrap() > 0, "{record}");
    assert!(record["trigger_time_ms"].as_u64().unwrap() > 1_600_000_000_000, "{record}");
    assert!(record["full_size"].as_u64().unwrap() > 0, "{record}");
    assert!(record["bytes_written"].as_u64().unwrap() > 0, "{record}");
    for field in ["duration_ms", "sync_ms", "async_ms", "alignment_ms", "start_delay_ms"] {
        assert!(record[field].is_u64(), "{field}: {record}");
    }
    // The barriers reached every task before the checkpoint completed.
    assert!(record["start_delay_ms"].as_u64() <= record["duration_ms"].as_u64(), "{record}");
}

/// Sends `raw` bytes to `addr` and reads the whole answer.
pub(crate) fn raw_request(addr: &str, raw: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

pub(crate) fn assert_error(response: (u16, Value), status: u16, contains: &str) {
    assert_eq!(response.0, status, "{}", response.1);
    let error = response.1["error"].as_str().unwrap_or_else(|| panic!("no error field: {}", response.1));
    assert!(error.contains(contains), "'{error}' does not say '{contains}'");
}

/// A savepoint directory with its `_metadata`.
pub(crate) fn assert_savepoint(path: &str, under: &Path) {
    let path = Path::new(path);
    assert!(path.starts_with(under), "{} is not under {}", path.display(), under.display());
    assert!(path.join("_metadata").is_file(), "{} has no _metadata", path.display());
}

#[test]
fn status_checkpoints_metrics_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (out, chk) = (dir.path().join("out"), dir.path().join("chk"));
    let job = Job::start(dir.path(), &job_args(100_000_000, 20_000, &out, &chk, "hashmap"));

    let (status, status_json) = job.get("/job");
    assert_eq!(status, 200);
    assert_eq!(status_json["state"], "running");
    assert_eq!(status_json["parallelism"], 2);
    assert_eq!(status_json["job_name"], "windowed_count");
    let operators = status_json["operators"].as_array().unwrap();
    assert!(!operators.is_empty(), "{status_json}");
    assert!(operators.iter().all(|o| o["parallelism"] == 2 && o["id"].is_string()), "{status_json}");

    // A checkpoint now (the interval is an hour), and a full one.
    let (status, first) = job.post("/checkpoints", "");
    assert_eq!(status, 200, "{first}");
    assert_completed(&first, "checkpoint");
    assert!(Path::new(first["path"].as_str().unwrap()).join("_metadata").is_file(), "{first}");
    let (status, full) = job.post("/checkpoints?full=true", "");
    assert_eq!(status, 200, "{full}");
    assert_completed(&full, "full_checkpoint");
    assert!(full["id"].as_u64() > first["id"].as_u64());

    let (status, history) = job.get("/checkpoints");
    assert_eq!(status, 200);
    assert!(history["counts"]["completed"].as_u64().unwrap() >= 2, "{history}");
    let records = history["history"].as_array().unwrap();
    for wanted in [&first, &full] {
        let listed = records.iter().find(|r| r["id"] == wanted["id"]).unwrap_or_else(|| panic!("{} not listed: {history}", wanted["id"]));
        assert_completed(listed, wanted["kind"].as_str().unwrap());
        assert_eq!(listed["full_size"], wanted["full_size"]);
    }

    let (status, _, metrics) = job.call("GET", "/metrics", "");
    assert_eq!(status, 200);
    for name in ["weir_records_in_total", "weir_records_out_total", "weir_checkpoints_completed_total"] {
        assert!(metrics.body.contains(name), "{name} missing from /metrics:\n{}", metrics.body);
    }

    // Bad requests.
    assert_error(job.get("/nope"), 404, "no route /nope");
    let (status, _, r) = job.call("DELETE", "/checkpoints", "");
    assert_eq!((status, r.error_message().contains("GET, POST")), (405, true), "{}", r.body);
    assert_error(job.post("/job", ""), 405, "/job takes GET");
    assert_error(job.get("/savepoints"), 405, "takes POST");
    assert_error(job.post("/checkpoints?full=perhaps", ""), 400, "full=perhaps");
    assert_error(job.post("/savepoints", "{\"dir\": "), 400, "bad request body");
    assert_error(job.post("/savepoints", r#"{"dir": "/tmp/x", "format": "zip"}"#), 400, "unknown savepoint format 'zip'");
    assert_error(job.post("/savepoints", r#"{"directory": "/tmp/x"}"#), 400, "unknown field `directory`");
    assert_error(job.post("/savepoints", ""), 400, "--savepoint-dir");
    // Without --savepoint-dir, a request may not name a directory either: 403 saying how to allow it.
    let elsewhere = dir.path().join("elsewhere");
    let response = job.post("/savepoints", &format!(r#"{{"dir": "{}"}}"#, elsewhere.display()));
    assert_error(
        response,
        403,
        "start it with --savepoint-dir DIR (requests may name directories under it) or with --savepoint-dirs-anywhere",
    );
    assert!(!elsewhere.exists());
    assert_error(job.post("/stop", r#"{"savepoint": true}"#), 400, "--savepoint-dir");
    // Not HTTP at all: hyper answers 400 itself, with no body.
    let answer = raw_request(job.client.addr(), b"HELLO\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    // Headers past hyper's buffer: 431; a body past the routes' bound: 413 with the JSON error.
    let huge = format!("GET /job HTTP/1.1\r\nHost: {}\r\nX: {}\r\n\r\n", job.client.addr(), "a".repeat(64 << 10));
    let answer = raw_request(job.client.addr(), huge.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    let token = weir::client::read_token_file(&job.token_file).unwrap();
    let large = format!(
        "POST /savepoints HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Length: 999999\r\n\r\n",
        job.client.addr()
    );
    let answer = raw_request(job.client.addr(), large.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413 ") && answer.contains("at most"), "{answer}");
    // `weir savepoint` with nowhere to put the savepoint: the job's message, exit 1
    // (the token read from the job's checkpoint directory).
    let o = weir_tool(&["savepoint", "--job", &job.url(), "--checkpoint-dir", chk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--savepoint-dir"), "{}", stderr(&o));
    // None of it disturbed the job.
    assert_eq!(job.get("/job").1["state"], "running");

    // The job wrote its token next to its checkpoint directory's lock, for its owner only.
    let token_file = chk.join("_control_token");
    assert_eq!(job.token_file, token_file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Stop: the job takes its final checkpoint and exits 0.
    let (status, stopping) = job.post("/stop", "");
    assert_eq!((status, stopping["state"].as_str()), (202, Some("stopping")), "{stopping}");
    let (status, summary, log) = job.wait();
    assert!(status.success(), "{log}");
    assert!(summary.starts_with("events="), "{summary}");
    assert!(!token_file.exists(), "the generated token is removed when the job ends");
}

/// How a test stops its job with a savepoint.
#[derive(Clone, Copy, Debug)]
enum StopWith {
    Endpoint,
    Tool,
}

fn savepoints_stop_and_restore(backend: &str, stop_with: StopWith) {
    const N: u64 = 400_000;
    let dir = tempfile::tempdir().unwrap();
    let (out, chk, sp) = (dir.path().join("out"), dir.path().join("chk"), dir.path().join("savepoints"));
    let mut args = job_args(N, 20_000, &out, &chk, backend);
    // Every savepoint below goes under the temporary directory.
    args.extend(["--savepoint-dir".to_string(), dir.path().display().to_string()]);
    let job = Job::start(dir.path(), &args);

    // Canonical and native savepoints through the endpoint.
    let body = format!(r#"{{"dir": "{}", "format": "canonical"}}"#, sp.display());
    let (status, canonical) = job.post("/savepoints", &body);
    assert_eq!(status, 200, "{canonical}");
    assert_completed(&canonical, "savepoint");
    assert_eq!(canonical["format"], "canonical");
    assert_savepoint(canonical["path"].as_str().unwrap(), &sp);
    let body = format!(r#"{{"dir": "{}", "format": "native"}}"#, sp.display());
    let (status, native) = job.post("/savepoints", &body);
    assert_eq!(status, 200, "{native}");
    assert_completed(&native, "savepoint");
    assert_eq!(native["format"], "native");
    assert_savepoint(native["path"].as_str().unwrap(), &sp);
    assert_ne!(canonical["path"], native["path"]);

    // And through `weir savepoint`, which prints the path.
    let tool_dir = dir.path().join("by-tool");
    let [flag, file] = job.token_args();
    let o = weir_tool(&["savepoint", "--job", &job.url(), "--dir", tool_dir.to_str().unwrap(), "--native", &flag, &file]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o).trim().to_string();
    assert_savepoint(&printed, &tool_dir);
    let (_, history) = job.get("/checkpoints");
    let listed = history["history"].as_array().unwrap().iter().find(|r| r["path"] == printed.as_str()).cloned();
    assert_eq!(listed.map(|r| r["format"].clone()), Some(Value::from("native")), "{history}");

    // Stop with a savepoint: the answer comes when it is complete, and the process exits 0.
    let last = dir.path().join("final");
    let path = match stop_with {
        StopWith::Endpoint => {
            let (status, record) = job.post("/stop", &format!(r#"{{"savepoint_dir": "{}"}}"#, last.display()));
            assert_eq!(status, 200, "{record}");
            assert_completed(&record, "savepoint");
            record["path"].as_str().unwrap().to_string()
        }
        StopWith::Tool => {
            let [flag, file] = job.token_args();
            let o = weir_tool(&["savepoint", "--job", &job.url(), "--dir", last.to_str().unwrap(), "--stop", &flag, &file]);
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o).trim().to_string()
        }
    };
    assert_savepoint(&path, &last);
    let (status, summary, log) = job.wait();
    assert!(status.success(), "{log}");
    let events: u64 = summary.split_whitespace().next().unwrap().trim_start_matches("events=").parse().unwrap();
    assert!(events < N, "the job ran to its end before it was stopped: {summary}");

    // Restored from the final savepoint, the job finishes the input: together
    // the two runs committed exactly the reference.
    let mut args = job_args(N, 20_000, &out, &chk, backend);
    let rate = args.iter().position(|a| a == "--rate").unwrap();
    args.drain(rate..rate + 2);
    args.extend(["--from-checkpoint".to_string(), path.clone()]);
    let o = run_windowed_count(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("restoring"), "{}", stderr(&o));
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000), "{backend}, {stop_with:?}");
}

#[test]
fn savepoints_and_stop_with_savepoint_through_the_endpoint_hashmap() {
    savepoints_stop_and_restore("hashmap", StopWith::Endpoint);
}

#[test]
fn savepoints_and_stop_with_savepoint_through_the_tool_rocksdb() {
    savepoints_stop_and_restore("rocksdb", StopWith::Tool);
}

#[test]
fn a_bad_control_addr_fails_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().to_string();
    for addr in ["127.0.0.1", "not an address", "127.0.0.1:http", taken.as_str(), "192.0.2.1:0"] {
        let started = Instant::now();
        let o = run_windowed_count(&[
            "--generate",
            "100M",
            "--rate",
            "1000",
            "--checkpoint-dir",
            dir.path().join("chk").to_str().unwrap(),
            "--control-addr",
            addr,
        ]);
        assert!(!o.status.success(), "{addr}: {}", stderr(&o));
        assert!(started.elapsed() < Duration::from_secs(30), "{addr}: the job ran");
        let err = stderr(&o);
        assert!(err.contains("--control-addr") && err.contains(addr), "{addr}: {err}");
    }
}

#[test]
fn weir_savepoint_usage_and_unreachable_jobs() {
    let o = weir_tool(&["savepoint", "--job", "https://127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("http://HOST:PORT"), "{}", stderr(&o));
    let o = weir_tool(&["savepoint", "--dir", "/tmp"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let o = weir_tool(&["savepoint", "--job", &format!("http://{free}"), "--dir", "/tmp/x", "--token-file", token.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot reach the job"), "{}", stderr(&o));
    // Without the token, or with a file that is not there.
    let o = weir_tool(&["savepoint", "--job", &format!("http://{free}")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--token-file") && stderr(&o).contains("--checkpoint-dir"), "{}", stderr(&o));
    let missing = dir.path().join("nothing");
    let o = weir_tool(&["savepoint", "--job", &format!("http://{free}"), "--token-file", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("control token file"), "{}", stderr(&o));
}
