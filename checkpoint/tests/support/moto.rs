//! An S3-compatible server for the tests of the `s3` feature: moto's
//! `moto_server`, on a free port of 127.0.0.1, with one bucket.
//!
//! Shared by the test binaries of weir-checkpoint and of weir (included with
//! `#[path]`), so that it needs nothing beyond the standard library.
//!
//! `moto_server` is looked for in `$WEIR_MOTO_SERVER`, then in the virtualenv
//! that `scripts/setup.sh` installs (`$WEIR_MOTO_VENV`, default
//! `~/.cache/weir/moto-venv`), then on `PATH`. A test that needs it and does
//! not find it, or cannot start it, fails and says what to do: these tests
//! never skip, so that a build with `--features s3` always tests S3.
//!
//! moto keeps its objects in memory: dropping the server kills it and its
//! data is gone. [`MotoServer::pause`] stops it with SIGSTOP (connections
//! are still accepted by the kernel but nothing answers) and
//! [`MotoServer::resume`] lets it go on with its data intact.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every server starts with.
pub const BUCKET: &str = "weir-test";

/// How long moto may take to import and listen (it is slow on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running `moto_server`; killed on drop.
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl MotoServer {
    /// Starts a server on a free loopback port and creates [`BUCKET`].
    /// Panics, saying why and what to do, when that is not possible.
    pub fn start() -> MotoServer {
        let program = moto_program();
        // The port is picked by binding port 0 and given to moto; another
        // process may take it in between, so a server that cannot bind is
        // started again on another port.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let log_dir = tempfile::tempdir().unwrap();
            let log = log_dir.path().join("moto.log");
            let log_file = std::fs::File::create(&log).unwrap();
            let child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_HINT}", program.display()));
            let mut server = MotoServer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log, _log_dir: log_dir };
            match server.wait_until_ready() {
                Ok(()) => {
                    server.create_bucket(BUCKET);
                    return server;
                }
                Err(failure) => last_failure = failure,
            }
        }
        panic!("{} did not start: {last_failure}; {INSTALL_HINT}", program.display());
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The environment that object_store's `AmazonS3Builder::from_env` reads
    /// to reach this server: endpoint, plain HTTP, any credentials, a region.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "weir-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "weir-test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ]
    }

    /// Points `cmd` (a job or the `weir` tool) at this server: removes every
    /// `AWS_*` variable it would inherit, then sets [`MotoServer::env`].
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("AWS_")) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server (SIGSTOP): requests hang until [`MotoServer::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// The server's log (a line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates `bucket`. moto takes unsigned requests, so a bare HTTP PUT does.
    pub fn create_bucket(&self, bucket: &str) {
        let response = self.request(&format!("PUT /{bucket} HTTP/1.1"));
        assert!(response.starts_with("HTTP/1.1 200"), "creating bucket {bucket} on moto at {}: {response}", self.addr);
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {} failed", self.pid());
    }

    /// Sends a request without a body and returns the whole response.
    fn request(&self, request_line: &str) -> String {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "{request_line}\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.addr).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    /// Waits until the server answers HTTP; an error if it exits first or
    /// does not answer within [`START_TIMEOUT`].
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("it exited with {status}; its output:\n{}", self.log()));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                // Listening; an answer to a request tells it is moto.
                let answer = self.request("GET /moto-api/data.json HTTP/1.1");
                if answer.starts_with("HTTP/1.1 200") {
                    return Ok(());
                }
                return Err(format!("something else answers on {}: {}", self.addr, answer.lines().next().unwrap_or("")));
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = self.child.kill();
                return Err(format!("it did not listen on {} within {START_TIMEOUT:?}; its output:\n{}", self.addr, self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INSTALL_HINT: &str = "the tests of the `s3` feature need moto's S3 server: run scripts/setup.sh, which installs it into \
     ~/.cache/weir/moto-venv ($WEIR_MOTO_VENV), or point $WEIR_MOTO_SERVER at a moto_server executable";

/// The `moto_server` to run: `$WEIR_MOTO_SERVER`, the setup script's
/// virtualenv, or the first on `PATH`.
fn moto_program() -> PathBuf {
    if let Some(program) = std::env::var_os("WEIR_MOTO_SERVER") {
        let program = PathBuf::from(program);
        assert!(program.is_file(), "WEIR_MOTO_SERVER={} is not a file; {INSTALL_HINT}", program.display());
        return program;
    }
    let venv = std::env::var_os("WEIR_MOTO_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/weir/moto-venv")));
    if let Some(program) = venv.map(|v| v.join("bin/moto_server")).filter(|p| p.is_file()) {
        return program;
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("moto_server")).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("moto_server not found; {INSTALL_HINT}"))
}
