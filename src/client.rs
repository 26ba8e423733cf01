//! A blocking client for a running job's control endpoint
//! (`--control-addr`), as `weir savepoint` uses it; HTTP is ureq's business.
//!
//! ```no_run
//! use weir::client::{read_token_file, ControlClient};
//! let token = read_token_file("/var/weir/checkpoints/_control_token".as_ref()).unwrap();
//! let job = ControlClient::new("http://127.0.0.1:9249").unwrap().with_token(token);
//! let answer = job.post("/savepoints", r#"{"dir": "/savepoints"}"#).unwrap();
//! println!("{}", answer.json().unwrap()["path"]);
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http://HOST:PORT`.
    #[error(
        "'{0}' is not a job's control address: expected http://HOST:PORT (the address the job logs as `control endpoint listening on ...`)"
    )]
    BadUrl(String),
    /// The endpoint could not be reached.
    #[error("cannot reach the job at {addr}: {source}")]
    Connect {
        /// `HOST:PORT`.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Sending the request or reading the answer failed.
    #[error("talking to the job at {addr}: {source}")]
    Io {
        /// `HOST:PORT`.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The answer is not HTTP, or not the JSON expected.
    #[error("the job at {addr} answered something unexpected: {message}")]
    Malformed {
        /// `HOST:PORT`.
        addr: String,
        /// What is wrong with it.
        message: String,
    },
    /// The token file cannot be read, or holds no token.
    #[error("control token file {}: {message}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads a job's control token from `path` (the job's `--control-token-file`,
/// or the `_control_token` it wrote): its first line, trimmed.
pub fn read_token_file(path: &Path) -> Result<String, ClientError> {
    let bad = |message: String| ClientError::Token { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(bad("holds no token".into()));
    }
    Ok(token.to_string())
}

/// A job's control endpoint.
#[derive(Clone)]
pub struct ControlClient {
    addr: String,
    timeout: Duration,
    token: Option<String>,
}

/// Leaves the token out, so that it never ends up in a log.
impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("addr", &self.addr)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// An answer of the endpoint.
#[derive(Debug, Clone)]
pub struct ControlResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body (JSON, or Prometheus text for `/metrics`).
    pub body: String,
    addr: String,
}

impl ControlClient {
    /// A client of the endpoint at `url`: `http://HOST:PORT` (a trailing `/`
    /// is fine) or `HOST:PORT`. Requests wait 10 minutes at most.
    ///
    /// ```
    /// use weir::client::ControlClient;
    /// assert_eq!(ControlClient::new("http://127.0.0.1:9249/").unwrap().addr(), "127.0.0.1:9249");
    /// assert_eq!(ControlClient::new("[::1]:80").unwrap().addr(), "[::1]:80");
    /// assert!(ControlClient::new("https://127.0.0.1:9249").is_err());
    /// assert!(ControlClient::new("http://127.0.0.1").is_err());
    /// assert!(ControlClient::new("http://127.0.0.1:1/job").is_err());
    /// ```
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let bad = || ClientError::BadUrl(url.to_string());
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(_) => return Err(bad()),
            None => url,
        };
        let addr = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || addr.contains('/') || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(ControlClient { addr: addr.to_string(), timeout: Duration::from_secs(600), token: None })
    }

    /// Waits at most `timeout` for an answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `token` with every request (`Authorization: Bearer`); the job
    /// refuses anything but `GET` without it.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<ControlResponse, ClientError> {
        self.request("GET", path, "")
    }

    /// `POST path` with a JSON `body` (may be empty).
    pub fn post(&self, path: &str, body: &str) -> Result<ControlResponse, ClientError> {
        self.request("POST", path, body)
    }

    /// Sends `method path` with `body` and reads the whole answer, whatever its status.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Result<ControlResponse, ClientError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        let mut request = http::Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if !body.is_empty() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let malformed = |message: String| ClientError::Malformed { addr: self.addr.clone(), message };
        let sent = if body.is_empty() { request.body(()).map(|r| agent.run(r)) } else { request.body(body).map(|r| agent.run(r)) };
        let mut response =
            sent.map_err(|e| malformed(format!("cannot make the request {method} {path}: {e}")))?.map_err(|e| self.error(e))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(|e| self.error(e))?;
        Ok(ControlResponse { status, body, addr: self.addr.clone() })
    }

    /// What went wrong, in the terms of [`ClientError`].
    fn error(&self, e: ureq::Error) -> ClientError {
        let addr = self.addr.clone();
        let io = |source| ClientError::Io { addr: self.addr.clone(), source };
        match e {
            ureq::Error::Io(source)
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::NotFound
                ) =>
            {
                ClientError::Connect { addr, source }
            }
            ureq::Error::HostNotFound => {
                ClientError::Connect { addr, source: std::io::Error::new(std::io::ErrorKind::NotFound, "the name resolves to no address") }
            }
            ureq::Error::ConnectionFailed => ClientError::Connect { addr, source: std::io::Error::other("the connection failed") },
            ureq::Error::Timeout(which) => {
                io(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no answer within {:?} ({which})", self.timeout)))
            }
            ureq::Error::Io(source) => io(source),
            other => ClientError::Malformed { addr, message: other.to_string() },
        }
    }
}

impl ControlResponse {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_str(&self.body)
            .map_err(|e| ClientError::Malformed { addr: self.addr.clone(), message: format!("not JSON ({e}): {}", self.body.trim()) })
    }

    /// What went wrong, for a failed request: the body's `error`, or the status and body.
    pub fn error_message(&self) -> String {
        match self.json().ok().as_ref().and_then(|v| v["error"].as_str()) {
            Some(e) => e.to_string(),
            None => format!("HTTP {}: {}", self.status, self.body.trim()),
        }
    }
}
