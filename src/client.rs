//! A small blocking HTTP/1.1 client for a running job's control endpoint
//! (`--control-addr`), as `weir savepoint` uses it.
//!
//! ```no_run
//! use weir::client::ControlClient;
//! let job = ControlClient::new("http://127.0.0.1:9249").unwrap();
//! let answer = job.post("/savepoints", r#"{"dir": "/savepoints"}"#).unwrap();
//! println!("{}", answer.json().unwrap()["path"]);
//! ```

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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
}

/// A job's control endpoint.
#[derive(Debug, Clone)]
pub struct ControlClient {
    addr: String,
    timeout: Duration,
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
        Ok(ControlClient { addr: addr.to_string(), timeout: Duration::from_secs(600) })
    }

    /// Waits at most `timeout` for an answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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

    /// Sends `method path` with `body` and reads the whole answer.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Result<ControlResponse, ClientError> {
        let connect = |source| ClientError::Connect { addr: self.addr.clone(), source };
        let io = |source| ClientError::Io { addr: self.addr.clone(), source };
        let mut last = None;
        let mut stream = None;
        for candidate in self.addr.to_socket_addrs().map_err(connect)? {
            match TcpStream::connect_timeout(&candidate, Duration::from_secs(10)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(connect(e)),
            (None, None) => return Err(connect(std::io::Error::new(std::io::ErrorKind::NotFound, "the name resolves to no address"))),
        };
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(Duration::from_secs(10))).map_err(io)?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                io(std::io::Error::new(e.kind(), format!("no answer within {:?}", self.timeout)))
            }
            _ => io(e),
        })?;
        self.parse(&raw)
    }

    fn parse(&self, raw: &[u8]) -> Result<ControlResponse, ClientError> {
        let malformed = |message: &str| ClientError::Malformed { addr: self.addr.clone(), message: message.to_string() };
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| malformed("no end of headers"))?;
        let status_line = head.lines().next().unwrap_or_default();
        let status = match status_line.split(' ').collect::<Vec<_>>().as_slice() {
            [version, code, ..] if version.starts_with("HTTP/1.") => code.parse().map_err(|_| malformed(status_line))?,
            _ => return Err(malformed(status_line)),
        };
        Ok(ControlResponse { status, body: body.to_string(), addr: self.addr.clone() })
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
