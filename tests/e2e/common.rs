//! Helpers shared by the end-to-end tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every keyed-state backend; the process tests run with each.
pub const BACKENDS: [&str; 2] = ["hashmap", "rocksdb"];

/// Every file under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Copies every file under `from` to the same place under `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let target = to.join(&rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), target).unwrap();
    }
}

/// An example binary that `cargo test` builds next to the tests.
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "{} is missing: run the tests with `cargo test`, which builds the examples", bin.display());
    bin
}

/// The windowed_count example binary.
pub fn windowed_count_bin() -> PathBuf {
    example_bin("windowed_count")
}

/// Runs the `weir` tool with `args`.
pub fn weir_tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir")).args(args).output().unwrap()
}

/// Splits a command line at white space.
pub fn argv(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

/// Runs windowed_count with `args` to its end.
pub fn run_windowed_count<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(windowed_count_bin()).args(args).env("RUST_LOG", "info").output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Event `i` of the generator: (event time ms, key).
pub fn generated(i: u64, keys: u64, event_rate: u64) -> (i64, u64) {
    ((u128::from(i) * 1000 / u128::from(event_rate)) as i64, ((u128::from(i) * 2_654_435_761) % u128::from(keys)) as u64)
}

/// The windowed count of `events`, as sorted output lines `<window_start>,<key>,<count>`.
pub fn reference(events: impl IntoIterator<Item = (i64, u64)>, window_ms: i64) -> Vec<String> {
    let mut counts: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for (ts, key) in events {
        *counts.entry((ts - ts.rem_euclid(window_ms), key)).or_default() += 1;
    }
    let mut lines: Vec<String> = counts.into_iter().map(|((w, k), c)| format!("{w},{k},{c}")).collect();
    lines.sort();
    lines
}

pub fn generated_reference(n: u64, keys: u64, event_rate: u64, window_ms: i64) -> Vec<String> {
    reference((0..n).map(|i| generated(i, keys, event_rate)), window_ms)
}

/// Every line of the committed output in `dir` (files not beginning with `.` or `_`), sorted.
pub fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return lines };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.starts_with('_') || !e.path().is_file() {
            continue;
        }
        lines.extend(std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_string));
    }
    lines.sort();
    lines
}

/// Root-relative paths of every file `chk-<id>/_metadata` references, and the `_metadata` itself.
pub fn referenced_files(chk: &Path, id: u64) -> std::collections::BTreeSet<String> {
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(chk.join(format!("chk-{id}/_metadata"))).unwrap()).unwrap();
    let mut out = std::collections::BTreeSet::from([format!("chk-{id}/_metadata")]);
    for op in meta["operators"].as_array().unwrap() {
        for st in op["subtasks"].as_array().unwrap() {
            for f in st["files"].as_array().unwrap() {
                let path = f["path"].as_str().unwrap();
                out.insert(match path.strip_prefix("../") {
                    Some(rest) => rest.to_string(),
                    None => format!("chk-{id}/{path}"),
                });
            }
        }
    }
    out
}

/// Checkpoint directories (`chk-N`) under `dir` that have a `_metadata`, sorted by id.
pub fn complete_checkpoints(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("_metadata").exists())
                .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("chk-").and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// A small deterministic random number generator (xorshift), seeded from the
/// environment (`WEIR_TEST_SEED`) or the clock; the seed is printed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Self {
        let seed = std::env::var("WEIR_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        eprintln!("random seed: WEIR_TEST_SEED={seed}");
        Rng(seed)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Starts a job with `spawn(rng)` again and again, killing it with SIGKILL
/// after a random wait in `wait_ms` (from, span) up to `max_kills` times,
/// until a run ends by itself. Returns the number of kills; fails if no run
/// ended or a run that ended failed.
pub fn kill_at_random_moments(
    rng: &mut Rng,
    max_kills: u32,
    wait_ms: (u64, u64),
    what: &str,
    mut spawn: impl FnMut(&mut Rng) -> std::process::Child,
) -> u32 {
    let mut kills = 0;
    for attempt in 0..20 {
        let mut child = spawn(rng);
        if kills < max_kills {
            let wait = std::time::Duration::from_millis(wait_ms.0 + rng.below(wait_ms.1));
            let started = std::time::Instant::now();
            while started.elapsed() < wait && child.try_wait().unwrap().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "{what}: attempt {attempt} failed: {status}");
        return kills;
    }
    panic!("{what}: the job never ran to its end");
}
