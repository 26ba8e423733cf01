//! The routes of the control endpoint.

use std::time::Duration;

use crossbeam_channel::TryRecvError;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};

use super::dirs::SavepointDirs;
use super::wire::{Request, Response};
use crate::{CheckpointRecord, CheckpointStatus, JobControl, JobState, OperatorStatus, Reply, SavepointFormat};

/// Every route, for the answer to an unknown path.
const ROUTES: &str = "GET / (the job's page), GET /job, GET /checkpoints, POST /checkpoints, POST /savepoints, POST /stop, GET /metrics";

/// The job's page and what it loads, built into the binary.
const PAGE: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/page.js");
const PAGE_CSS: &str = include_str!("page/page.css");

/// What the routes work with.
pub(crate) struct Context {
    pub control: JobControl,
    /// Where savepoints may go.
    pub savepoints: SavepointDirs,
    /// The Prometheus recorder, or why there is none.
    pub metrics: Result<PrometheusHandle, String>,
}

/// Answers `request`.
pub(crate) async fn handle(ctx: &Context, request: &Request) -> Response {
    let path = match request.path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let method = request.method.as_str();
    let allowed = match path {
        "/" | "/page.js" | "/page.css" | "/job" | "/metrics" => "GET",
        "/checkpoints" => "GET, POST",
        "/savepoints" | "/stop" => "POST",
        _ => return Response::error(404, format!("no route {path} (routes: {ROUTES})")),
    };
    if !allowed.split(", ").any(|m| m == method) {
        let mut r = Response::error(405, format!("{path} takes {allowed}, not {method}"));
        r.allow = Some(allowed);
        return r;
    }
    let known: &[&str] = if (path, method) == ("/checkpoints", "POST") { &["full"] } else { &[] };
    if let Some((name, _)) = request.query.iter().find(|(name, _)| !known.contains(&name.as_str())) {
        return Response::error(400, format!("unknown query parameter '{name}' for {method} {path}"));
    }
    match (path, method) {
        ("/", _) => Response::text(200, "text/html; charset=utf-8", PAGE.to_string()),
        ("/page.js", _) => Response::text(200, "text/javascript; charset=utf-8", PAGE_JS.to_string()),
        ("/page.css", _) => Response::text(200, "text/css; charset=utf-8", PAGE_CSS.to_string()),
        ("/job", _) => job(ctx),
        ("/checkpoints", "GET") => checkpoints(ctx),
        ("/checkpoints", _) => trigger_checkpoint(ctx, request).await,
        ("/savepoints", _) => savepoint(ctx, request).await,
        ("/stop", _) => stop(ctx, request).await,
        _ => metrics(ctx),
    }
}

/// `GET /job`.
#[derive(Serialize)]
struct JobView {
    job_name: String,
    state: JobState,
    parallelism: u32,
    max_parallelism: u32,
    operators: Vec<OperatorStatus>,
    restored_from: Option<String>,
    checkpointing: bool,
    savepoint_dir: Option<String>,
    restarts: u32,
    last_failure: Option<String>,
    last_restore_ms: Option<i64>,
}

fn job(ctx: &Context) -> Response {
    let s = ctx.control.status();
    Response::json(
        200,
        &JobView {
            job_name: s.job_name,
            state: s.state,
            parallelism: s.parallelism,
            max_parallelism: s.max_parallelism,
            operators: s.operators,
            restored_from: s.restored_from,
            checkpointing: ctx.control.commands.is_some(),
            savepoint_dir: ctx.savepoints.root.clone(),
            restarts: s.restarts,
            last_failure: s.last_failure,
            last_restore_ms: s.last_restore_ms,
        },
    )
}

/// `GET /checkpoints`.
#[derive(Serialize, Default)]
struct Counts {
    in_progress: usize,
    completed: usize,
    failed: usize,
}

#[derive(Serialize)]
struct History {
    counts: Counts,
    /// Newest first.
    history: Vec<CheckpointRecord>,
}

fn checkpoints(ctx: &Context) -> Response {
    let mut history = ctx.control.status().checkpoints;
    history.reverse();
    let mut counts = Counts::default();
    for r in &history {
        match r.status {
            CheckpointStatus::InProgress => counts.in_progress += 1,
            CheckpointStatus::Completed => counts.completed += 1,
            CheckpointStatus::Failed => counts.failed += 1,
        }
    }
    Response::json(200, &History { counts, history })
}

/// Refuses requests for checkpoints of a job that takes none.
fn needs_checkpoints(ctx: &Context) -> Option<Response> {
    ctx.control.commands.is_none().then(|| Response::error(409, "the job runs without checkpoints (start it with --checkpoint-dir)"))
}

/// `POST /checkpoints[?full=true]`.
async fn trigger_checkpoint(ctx: &Context, request: &Request) -> Response {
    let full = match request.query.iter().rev().find(|(name, _)| name == "full").map(|(_, v)| v.as_str()) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => return Response::error(400, format!("full={other}: expected true or false")),
    };
    if let Some(refused) = needs_checkpoints(ctx) {
        return refused;
    }
    settled(ctx.control.checkpoint(full)).await
}

/// The body of `POST /savepoints`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a JSON object with \"dir\" and \"format\"")]
struct SavepointRequest {
    dir: Option<String>,
    format: Option<String>,
}

/// The body of `POST /stop`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a JSON object with \"savepoint_dir\", \"savepoint\" and \"format\"")]
struct StopRequest {
    /// Stop with a savepoint into this directory.
    savepoint_dir: Option<String>,
    /// Stop with a savepoint into the job's `--savepoint-dir`.
    savepoint: Option<bool>,
    format: Option<String>,
}

/// Parses a JSON body; an empty one is the default.
fn body<T: for<'de> Deserialize<'de> + Default>(request: &Request) -> Result<T, Response> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&request.body).map_err(|e| Response::error(400, format!("bad request body: {e}")))
}

fn format(format: Option<&str>) -> Result<SavepointFormat, Response> {
    format.map_or(Ok(SavepointFormat::Canonical), |f| f.parse().map_err(|e: String| Response::error(400, e)))
}

/// `POST /savepoints`.
async fn savepoint(ctx: &Context, request: &Request) -> Response {
    let prepared = body::<SavepointRequest>(request).and_then(|b| {
        // The format first: a request that could never succeed says why before where.
        let format = format(b.format.as_deref())?;
        Ok((ctx.savepoints.resolve(b.dir, "dir")?, format))
    });
    let (dir, format) = match prepared {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(refused) = needs_checkpoints(ctx) {
        return refused;
    }
    settled(ctx.control.savepoint(&dir, format, false)).await
}

#[derive(Serialize)]
struct Stopping {
    state: JobState,
}

/// `POST /stop`.
async fn stop(ctx: &Context, request: &Request) -> Response {
    let b = match body::<StopRequest>(request) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let with_savepoint = b.savepoint_dir.is_some() || b.savepoint == Some(true);
    if !with_savepoint {
        if b.format.is_some() {
            return Response::error(400, "\"format\" is for a stop with a savepoint: give \"savepoint_dir\" or \"savepoint\": true");
        }
        ctx.control.stop();
        return Response::json(202, &Stopping { state: JobState::Stopping });
    }
    let prepared = format(b.format.as_deref()).and_then(|f| Ok((ctx.savepoints.resolve(b.savepoint_dir, "savepoint_dir")?, f)));
    let (dir, format) = match prepared {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(refused) = needs_checkpoints(ctx) {
        return refused;
    }
    settled(ctx.control.savepoint(&dir, format, true)).await
}

/// `GET /metrics`.
fn metrics(ctx: &Context) -> Response {
    match &ctx.metrics {
        Ok(handle) => Response::text(200, "text/plain; version=0.0.4; charset=utf-8", handle.render()),
        Err(why) => Response::error(503, why),
    }
}

/// Waits, without blocking a thread of the runtime, for `reply`.
async fn wait(reply: Reply<CheckpointRecord>) -> Result<CheckpointRecord, String> {
    loop {
        match reply.try_recv() {
            Ok(result) => return result,
            Err(TryRecvError::Empty) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(TryRecvError::Disconnected) => return Err("the job ended before the request was answered".into()),
        }
    }
}

/// The answer once `reply` is settled: the record, or 500 with the reason.
async fn settled(reply: Reply<CheckpointRecord>) -> Response {
    match wait(reply).await {
        Ok(record) if record.status == CheckpointStatus::Completed => Response::json(200, &record),
        Ok(record) => {
            let why = record.failure.clone().unwrap_or_else(|| format!("checkpoint {} did not complete", record.id));
            Response::error(500, why)
        }
        Err(why) => Response::error(500, why),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;
    use crate::job_control::Command;
    use crate::JobStatus;

    fn status() -> JobStatus {
        JobStatus {
            job_name: "t".into(),
            state: JobState::Running,
            parallelism: 2,
            max_parallelism: 128,
            operators: vec![OperatorStatus { id: "source".into(), parallelism: 2 }],
            restored_from: None,
            checkpoints: Vec::new(),
            restarts: 0,
            last_failure: None,
            last_restore_ms: None,
        }
    }

    fn record(id: u64, status: CheckpointStatus) -> CheckpointRecord {
        CheckpointRecord {
            id,
            kind: crate::SnapshotKind::Checkpoint,
            status,
            trigger_time_ms: 1,
            duration_ms: 2,
            sync_ms: 0,
            async_ms: 1,
            alignment_ms: 0,
            start_delay_ms: 0,
            bytes_written: 10,
            full_size: 20,
            path: Some(format!("/c/chk-{id}")),
            failure: (status == CheckpointStatus::Failed).then(|| "disk full".into()),
        }
    }

    /// A context whose coordinator answers every command with `answer`, and the commands it got.
    fn context(
        savepoint_dir: Option<&str>,
        answer: impl Fn(&Command) -> Result<CheckpointRecord, String> + Send + 'static,
    ) -> (Context, Arc<AtomicBool>, std::sync::mpsc::Receiver<String>) {
        let (tx, rx) = crossbeam_channel::unbounded::<Command>();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for command in rx {
                let result = answer(&command);
                let _ = seen_tx.send(format!("{command:?}").split(", reply").next().unwrap_or_default().to_string());
                match command {
                    Command::Checkpoint { reply, .. } | Command::Savepoint { reply, .. } => {
                        let _ = reply.send(result);
                    }
                }
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let control = JobControl::new(status(), Some(tx), stop.clone());
        let savepoints = SavepointDirs { root: savepoint_dir.map(str::to_string), anywhere: true };
        let ctx = Context { control, savepoints, metrics: Err("no metrics here".into()) };
        (ctx, stop, seen_rx)
    }

    fn request(method: &str, target: &str, body: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect::<Vec<_>>();
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn call(ctx: &Context, method: &str, target: &str, body: &str) -> (u16, serde_json::Value) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let r = rt.block_on(handle(ctx, &request(method, target, body)));
        let value = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::String(String::from_utf8_lossy(&r.body).into()));
        (r.status, value)
    }

    #[test]
    fn job_and_history() {
        let (ctx, _, _) = context(Some("/sp"), |_| Err("x".into()));
        ctx.control.update(|s| s.checkpoints = vec![record(1, CheckpointStatus::Completed), record(2, CheckpointStatus::InProgress)]);
        let (status, job) = call(&ctx, "GET", "/job", "");
        assert_eq!(status, 200);
        assert_eq!(job["state"], "running");
        assert_eq!(job["parallelism"], 2);
        assert_eq!(job["operators"][0]["id"], "source");
        assert_eq!(job["savepoint_dir"], "/sp");
        assert_eq!(job["checkpointing"], true);
        let (status, h) = call(&ctx, "GET", "/checkpoints/", "");
        assert_eq!(status, 200);
        assert_eq!(h["counts"]["completed"], 1);
        assert_eq!(h["counts"]["in_progress"], 1);
        assert_eq!(h["history"][0]["id"], 2, "newest first");
        assert_eq!(h["history"][1]["kind"], "checkpoint");
        assert_eq!(h["history"][1]["full_size"], 20);
    }

    #[test]
    fn triggers_checkpoints_and_savepoints() {
        let (ctx, stop, seen) = context(Some("/sp"), |c| match c {
            Command::Checkpoint { full: true, .. } => Ok(record(3, CheckpointStatus::Completed)),
            Command::Checkpoint { .. } => Ok(record(4, CheckpointStatus::Failed)),
            Command::Savepoint { dir, .. } if dir == "/bad" => Err("cannot write /bad".into()),
            Command::Savepoint { .. } => Ok(record(5, CheckpointStatus::Completed)),
        });
        let (status, r) = call(&ctx, "POST", "/checkpoints?full=true", "");
        assert_eq!((status, r["id"].as_u64()), (200, Some(3)));
        assert!(seen.recv().unwrap().contains("full: true"));
        let (status, r) = call(&ctx, "POST", "/checkpoints", "");
        assert_eq!((status, r["error"].as_str()), (500, Some("disk full")));
        let _ = seen.recv();
        let (status, r) = call(&ctx, "POST", "/savepoints", "");
        assert_eq!((status, r["path"].as_str()), (200, Some("/c/chk-5")));
        assert!(seen.recv().unwrap().contains("\"/sp\""));
        let (status, _) = call(&ctx, "POST", "/savepoints", r#"{"dir": "/x", "format": "native"}"#);
        assert_eq!(status, 200);
        let got = seen.recv().unwrap();
        assert!(got.contains("\"/x\"") && got.contains("Native") && got.contains("stop: false"), "{got}");
        let (status, r) = call(&ctx, "POST", "/savepoints", r#"{"dir": "/bad"}"#);
        assert_eq!((status, r["error"].as_str()), (500, Some("cannot write /bad")));
        let _ = seen.recv();
        assert!(!stop.load(std::sync::atomic::Ordering::Relaxed));
        let (status, r) = call(&ctx, "POST", "/stop", r#"{"savepoint_dir": "/y"}"#);
        assert_eq!((status, r["id"].as_u64()), (200, Some(5)));
        assert!(seen.recv().unwrap().contains("stop: true"));
        assert!(stop.load(std::sync::atomic::Ordering::Relaxed));
        assert_eq!(ctx.control.status().state, JobState::Stopping);
    }

    #[test]
    fn savepoints_stay_under_the_root() {
        let (mut ctx, stop, seen) = context(Some("/sp"), |_| Ok(record(5, CheckpointStatus::Completed)));
        ctx.savepoints.anywhere = false;
        for (target, body) in
            [("/savepoints", r#"{"dir": "/etc"}"#), ("/savepoints", r#"{"dir": "/sp/../etc"}"#), ("/stop", r#"{"savepoint_dir": "/tmp"}"#)]
        {
            let (status, r) = call(&ctx, "POST", target, body);
            assert_eq!(status, 403, "{body}: {r}");
            assert!(r["error"].as_str().unwrap().contains("root /sp"), "{r}");
        }
        assert!(seen.try_recv().is_err(), "nothing reached the coordinator");
        assert!(!stop.load(std::sync::atomic::Ordering::Relaxed));
        let (status, _) = call(&ctx, "POST", "/savepoints", r#"{"dir": "nightly"}"#);
        assert_eq!(status, 200);
        assert!(seen.recv().unwrap().contains("\"/sp/nightly\""));
    }

    #[test]
    fn plain_stop() {
        let (ctx, stop, _) = context(None, |_| Err("x".into()));
        let (status, r) = call(&ctx, "POST", "/stop", "");
        assert_eq!((status, r["state"].as_str()), (202, Some("stopping")));
        assert!(stop.load(std::sync::atomic::Ordering::Relaxed));
    }

    #[test]
    fn bad_requests() {
        let (ctx, stop, _) = context(None, |_| Err("x".into()));
        let cases = [
            ("GET", "/nope", "", 404, "no route /nope"),
            ("GET", "/index.html", "", 404, "routes: GET / (the job's page), GET /job"),
            ("DELETE", "/checkpoints", "", 405, "GET, POST"),
            ("POST", "/job", "", 405, "takes GET"),
            ("GET", "/stop", "", 405, "takes POST"),
            ("GET", "/job?verbose=1", "", 400, "unknown query parameter 'verbose'"),
            ("POST", "/checkpoints?full=maybe", "", 400, "full=maybe"),
            ("POST", "/savepoints", "{", 400, "bad request body"),
            ("POST", "/savepoints", "\"x\"", 400, "expected a JSON object"),
            ("POST", "/savepoints", r#"{"dir": "/d", "format": "zip"}"#, 400, "unknown savepoint format 'zip'"),
            ("POST", "/savepoints", r#"{"dir": "/d", "fmt": "native"}"#, 400, "unknown field `fmt`"),
            ("POST", "/savepoints", r#"{"dir": 5}"#, 400, "invalid type"),
            ("POST", "/savepoints", "", 400, "no savepoint directory"),
            ("POST", "/savepoints", r#"{"dir": ""}"#, 400, "\"dir\" is empty"),
            ("POST", "/stop", r#"{"savepoint": true}"#, 400, "no savepoint directory"),
            ("POST", "/stop", r#"{"format": "native"}"#, 400, "\"format\" is for a stop with a savepoint"),
            ("GET", "/metrics", "", 503, "no metrics here"),
        ];
        for (method, target, body, want, message) in cases {
            let (status, r) = call(&ctx, method, target, body);
            let error = r["error"].as_str().unwrap_or_default();
            assert_eq!(status, want, "{method} {target} {body}: {r}");
            assert!(error.contains(message), "{method} {target} {body}: {error}");
        }
        assert!(!stop.load(std::sync::atomic::Ordering::Relaxed), "no bad request stopped the job");
    }

    #[test]
    fn without_checkpoints() {
        let control = JobControl::new(status(), None, Arc::new(AtomicBool::new(false)));
        let savepoints = SavepointDirs { root: Some("/sp".into()), anywhere: false };
        let ctx = Context { control, savepoints, metrics: Err("none".into()) };
        for (method, target) in [("POST", "/checkpoints"), ("POST", "/savepoints")] {
            let (status, r) = call(&ctx, method, target, "");
            assert_eq!(status, 409, "{target}");
            assert!(r["error"].as_str().unwrap().contains("--checkpoint-dir"));
        }
        let (status, job) = call(&ctx, "GET", "/job", "");
        assert_eq!((status, job["checkpointing"].as_bool()), (200, Some(false)));
    }
}
