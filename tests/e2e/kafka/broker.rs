//! A real Apache Kafka broker for the tests: `scripts/kafka.sh` (which
//! fetches Kafka from Maven Central once, into `~/.cache/weir`) starts one
//! KRaft node on a free loopback port with its data in a temporary
//! directory; dropping the [`Broker`] kills it. The broker is also killed
//! when the test process dies (`WEIR_KAFKA_WATCH_PID`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Broker {
    dir: tempfile::TempDir,
    port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh")
}

fn run(args: &[&str]) {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("WEIR_KAFKA_WATCH_PID", std::process::id().to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/kafka.sh: {e}"));
    assert!(
        out.status.success(),
        "scripts/kafka.sh {} failed ({}); run scripts/setup.sh to fetch Kafka:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Broker {
    /// Starts a broker on a free port.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let b = Broker { dir, port };
        b.up();
        b
    }

    /// Starts the broker again (same port, same data) after [`Broker::stop`].
    pub fn up(&self) {
        run(&["start", self.dir.path().to_str().unwrap(), &self.port.to_string()]);
    }

    /// Stops the broker cleanly; its data stays.
    pub fn stop(&self) {
        run(&["stop", self.dir.path().to_str().unwrap()]);
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["kill", self.dir.path().to_str().unwrap_or("")]).output();
    }
}
