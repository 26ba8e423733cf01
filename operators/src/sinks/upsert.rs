//! An exactly-once sink of results that change: the latest value per key,
//! kept as a table of files, on the two-phase-commit sink API.
//!
//! A transaction holds, in memory, the latest value of each key written
//! since the last barrier. Pre-commit writes them to a hidden file under
//! `<dir>/.inprogress/` (synced) whose name goes into the checkpoint. When
//! the checkpoint completes, commit applies the file to the table and then
//! removes it: one instance at a time (they are threads of one process),
//! each table file
//! `table-<bucket>` (a key's bucket is a stable hash of it) that the
//! transaction touches is read, updated and replaced by a rename. Applying
//! the same file twice gives the same table, so the commit a restore
//! repeats (the process may have died between `_metadata` and the commit)
//! changes nothing; a missing file means it was applied. A savepoint
//! commits nothing.
//!
//! The table: every line of every `table-*` file is `<key>\t<value>`, one
//! per key, sorted by key within a file. Keys and values are the records'
//! `Display`; a tab or newline in either fails the job naming the record.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use weir_runtime::{Counter, Event, JobError, RecoveryScope, SubtaskEnv, TransactionContext, TwoPhaseCommitOperator, TwoPhaseCommitSink};

use super::file::IN_PROGRESS_DIR;

/// Serializes the commits of every instance (each rewrites whole table files).
static COMMITS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Table files a key can land in.
pub const BUCKETS: u64 = 16;

/// An open transaction: the latest value per key since the last barrier.
pub struct UpsertTransaction {
    name: String,
    latest: BTreeMap<String, String>,
}

/// Writes the latest value per key, exactly once. Run it with [`UpsertFileSink::operator`].
pub struct UpsertFileSink<K, V> {
    id: String,
    dir: PathBuf,
    staging: PathBuf,
    subtask: u32,
    rows: Counter,
    _t: std::marker::PhantomData<fn(K, V)>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> JobError {
    move |e| JobError::io(context, e)
}

/// The table file of `key`: FNV-1a, stable across runs and builds.
fn bucket(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % BUCKETS
}

/// Reads a table (or pending) file of `key\tvalue` lines.
fn read_pairs(path: &Path) -> Result<BTreeMap<String, String>, JobError> {
    let mut out = BTreeMap::new();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(JobError::io(format!("reading {}", path.display()), e)),
    };
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io(format!("reading {}", path.display())))?;
        let (k, v) =
            line.split_once('\t').ok_or_else(|| JobError::Input(format!("{} line {}: expected <key>\\t<value>", path.display(), n + 1)))?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Writes `pairs` to `path` through a synced temporary file and a rename.
fn replace(path: &Path, pairs: &BTreeMap<String, String>) -> Result<(), JobError> {
    let tmp = path.with_extension("tmp");
    let f = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    let mut w = BufWriter::new(f);
    for (k, v) in pairs {
        writeln!(w, "{k}\t{v}").map_err(io(format!("writing {}", tmp.display())))?;
    }
    let f = w.into_inner().map_err(|e| JobError::io(format!("writing {}", tmp.display()), e.into_error()))?;
    f.sync_all().map_err(io(format!("syncing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(io(format!("renaming {} to {}", tmp.display(), path.display())))
}

/// The committed table in `dir`: the latest value of every key.
pub fn read_table(dir: &Path) -> Result<BTreeMap<String, String>, JobError> {
    let mut out = BTreeMap::new();
    for b in 0..BUCKETS {
        out.extend(read_pairs(&dir.join(format!("table-{b:02}")))?);
    }
    Ok(out)
}

impl<K, V> UpsertFileSink<K, V> {
    /// Instance `subtask` of the sink `id` keeping its table in `dir`.
    pub fn new(id: &str, dir: &Path, subtask: u32, rows: Counter) -> Result<Self, JobError> {
        let staging = dir.join(IN_PROGRESS_DIR);
        fs::create_dir_all(&staging).map_err(io(format!("creating output directory {}", staging.display())))?;
        Ok(UpsertFileSink { id: id.to_string(), dir: dir.to_path_buf(), staging, subtask, rows, _t: std::marker::PhantomData })
    }

    /// The sink instance described by `env`, keeping its table in `dir`,
    /// as an operator with its share of the restored transactions.
    pub fn operator(id: &str, dir: &Path, env: &SubtaskEnv) -> Result<TwoPhaseCommitOperator<(K, V), Self>, JobError>
    where
        K: Display + Send,
        V: Display + Send,
    {
        let sink = Self::new(id, dir, env.subtask, env.counters.counter("output_rows"))?;
        TwoPhaseCommitOperator::from_env(id, sink, env)
    }

    fn text(&self, what: &str, value: String) -> Result<String, JobError> {
        if value.contains(['\t', '\n', '\r']) {
            return Err(JobError::Sink { operator: self.id.clone(), message: format!("{what} {value:?} holds a tab or a line break") });
        }
        Ok(value)
    }
}

impl<K: Display + Send, V: Display + Send> TwoPhaseCommitSink<(K, V)> for UpsertFileSink<K, V> {
    type Handle = String;
    type Transaction = UpsertTransaction;

    fn begin(&mut self, ctx: &TransactionContext) -> Result<UpsertTransaction, JobError> {
        Ok(UpsertTransaction { name: format!("{}-{}-{}.upserts", self.subtask, ctx.run, ctx.seq), latest: BTreeMap::new() })
    }

    fn write(&mut self, txn: &mut UpsertTransaction, batch: &mut Vec<Event<(K, V)>>) -> Result<(), JobError> {
        self.rows.add(batch.len() as u64);
        for e in batch.drain(..) {
            let (k, v) = e.value;
            let (k, v) = (self.text("key", k.to_string())?, self.text("value", v.to_string())?);
            txn.latest.insert(k, v);
        }
        Ok(())
    }

    fn pre_commit(&mut self, txn: UpsertTransaction, _checkpoint: Option<u64>) -> Result<String, JobError> {
        replace(&self.staging.join(&txn.name), &txn.latest)?;
        Ok(txn.name)
    }

    fn commit(&mut self, name: &String) -> Result<(), JobError> {
        let pending = self.staging.join(name);
        if !pending.exists() {
            return Ok(()); // applied before a crash
        }
        // The instances of a job are threads of one process: one commit at a time.
        let lock = COMMITS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut by_bucket: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
        for (k, v) in read_pairs(&pending)? {
            by_bucket.entry(bucket(&k)).or_default().push((k, v));
        }
        for (b, pairs) in by_bucket {
            let path = self.dir.join(format!("table-{b:02}"));
            let mut table = read_pairs(&path)?;
            table.extend(pairs);
            replace(&path, &table)?;
        }
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(format!("syncing {}", self.dir.display())))?;
        fs::remove_file(&pending).map_err(io(format!("removing {}", pending.display())))?;
        drop(lock);
        Ok(())
    }

    fn abort(&mut self, _txn: UpsertTransaction) -> Result<(), JobError> {
        Ok(()) // nothing was written yet
    }

    fn abort_lingering(&mut self, scope: &RecoveryScope<'_, String>) -> Result<(), JobError> {
        let entries = fs::read_dir(&self.staging).map_err(io(format!("listing {}", self.staging.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".upserts") else { continue };
            let Some((subtask, rest)) = stem.split_once('-') else { continue };
            let Some((run, _)) = rest.rsplit_once('-') else { continue };
            let Ok(subtask) = subtask.parse::<u32>() else { continue };
            if run != scope.run && scope.owns(subtask) && !scope.committed.contains(&name) {
                fs::remove_file(entry.path()).map_err(io(format!("removing {}", entry.path().display())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_commit_applied_twice_leaves_the_same_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink =
            UpsertFileSink::<u64, u64>::new("upserts", dir.path(), 0, weir_runtime::Counters::default().counter("rows")).unwrap();
        let ctx = TransactionContext { subtask: 0, run: "r1", seq: 1 };
        let mut txn = sink.begin(&ctx).unwrap();
        sink.write(&mut txn, &mut vec![Event::new(0, (1, 10)), Event::new(0, (2, 20)), Event::new(0, (1, 11))]).unwrap();
        let h = sink.pre_commit(txn, Some(1)).unwrap();
        assert!(read_table(dir.path()).unwrap().is_empty(), "nothing is visible before the commit");
        sink.commit(&h).unwrap();
        sink.commit(&h).unwrap();
        let table = read_table(dir.path()).unwrap();
        assert_eq!(table.into_iter().collect::<Vec<_>>(), vec![("1".into(), "11".into()), ("2".into(), "20".into())]);
    }

    #[test]
    fn a_key_with_a_tab_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let rows = weir_runtime::Counters::default().counter("rows");
        let mut sink = UpsertFileSink::<String, u64>::new("upserts", dir.path(), 0, rows).unwrap();
        let mut txn = sink.begin(&TransactionContext { subtask: 0, run: "r1", seq: 0 }).unwrap();
        let err = sink.write(&mut txn, &mut vec![Event::new(0, ("a\tb".to_string(), 1))]).unwrap_err().to_string();
        assert!(err.contains("upserts") && err.contains("a\\tb") && err.contains("tab"), "{err}");
    }
}
