//! An exactly-once file sink, built on the two-phase-commit sink API.
//!
//! A transaction is a hidden in-progress file under `<dir>/.inprogress/`,
//! named after the instance, the run and the transaction's number. At a
//! barrier the file is flushed, synced and closed (pre-commit) and its handle
//! (in-progress name, final name) goes into the checkpoint. When a checkpoint
//! completes, the file is renamed to its final, visible name (commit); a
//! savepoint's completion commits nothing. A restore commits the handles of
//! the restored checkpoint (the process may have died between `_metadata` and
//! the rename) and deletes the in-progress files of earlier runs that no
//! checkpoint covers. Committed output is every file in `<dir>` whose name
//! does not begin with `.` or `_`.
//!
//! Final names are `part-<instance>-<checkpoint>-<run>-<n>`: the run's id
//! makes them unique, so a replayed checkpoint never reuses the name of a
//! file committed before a crash. Without checkpoints, files are committed at
//! the end of input as `part-<instance>-<run>-<n>`.

use std::fmt::Display;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::debug;
use weir_runtime::{Counter, Event, JobError, RecoveryScope, SubtaskEnv, TransactionContext, TwoPhaseCommitOperator, TwoPhaseCommitSink};

/// Name of the hidden directory holding files not yet committed.
pub const IN_PROGRESS_DIR: &str = ".inprogress";

/// A pre-committed file: where it waits, and the name it gets when committed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileHandle {
    /// Its name under `.inprogress/`.
    pub in_progress: String,
    /// Its final name.
    pub committed: String,
}

/// An open file.
pub struct FileTransaction {
    name: String,
    run: String,
    seq: u64,
    writer: BufWriter<File>,
}

/// Writes each record's `Display` as a line, exactly once. Run it with
/// [`FileSink::operator`].
pub struct FileSink<T> {
    id: String,
    dir: PathBuf,
    staging: PathBuf,
    subtask: u32,
    rows: Counter,
    _t: std::marker::PhantomData<fn(T)>,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The instance and run of an in-progress file name `<instance>-<run>-<n>.part`.
fn owner(name: &str) -> Option<(u32, &str)> {
    let stem = name.strip_suffix(".part")?;
    let (subtask, rest) = stem.split_once('-')?;
    let (run, _) = rest.rsplit_once('-')?;
    Some((subtask.parse().ok()?, run))
}

impl<T> FileSink<T> {
    /// Instance `subtask` of the sink `id` writing into `dir`.
    pub fn new(id: &str, dir: &Path, subtask: u32, rows: Counter) -> Result<Self, JobError> {
        let staging = dir.join(IN_PROGRESS_DIR);
        fs::create_dir_all(&staging).map_err(|e| JobError::io(format!("creating output directory {}", staging.display()), e))?;
        Ok(FileSink { id: id.to_string(), dir: dir.to_path_buf(), staging, subtask, rows, _t: std::marker::PhantomData })
    }

    /// The sink instance described by `env`, writing into `dir`, as an
    /// operator with its share of the restored transactions.
    pub fn operator(id: &str, dir: &Path, env: &SubtaskEnv) -> Result<TwoPhaseCommitOperator<T, Self>, JobError>
    where
        T: Display + Send,
    {
        let sink = Self::new(id, dir, env.subtask, env.counters.counter("output_rows"))?;
        TwoPhaseCommitOperator::from_env(id, sink, env)
    }

    fn err(&self, message: String) -> JobError {
        JobError::Sink { operator: self.id.clone(), message }
    }
}

impl<T: Display + Send> TwoPhaseCommitSink<T> for FileSink<T> {
    type Handle = FileHandle;
    type Transaction = FileTransaction;

    fn begin(&mut self, ctx: &TransactionContext) -> Result<FileTransaction, JobError> {
        let name = format!("{}-{}-{}.part", self.subtask, ctx.run, ctx.seq);
        let path = self.staging.join(&name);
        let f = File::create(&path).map_err(|e| JobError::io(format!("creating {}", path.display()), e))?;
        Ok(FileTransaction { name, run: ctx.run.to_string(), seq: ctx.seq, writer: BufWriter::with_capacity(1 << 16, f) })
    }

    fn write(&mut self, txn: &mut FileTransaction, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        for e in batch.iter() {
            writeln!(txn.writer, "{}", e.value).map_err(|err| JobError::io(format!("writing {}/{}", IN_PROGRESS_DIR, txn.name), err))?;
        }
        self.rows.add(batch.len() as u64);
        batch.clear();
        Ok(())
    }

    fn pre_commit(&mut self, txn: FileTransaction, checkpoint: Option<u64>) -> Result<FileHandle, JobError> {
        let path = self.staging.join(&txn.name);
        let f = txn.writer.into_inner().map_err(|e| JobError::io(format!("writing {}", path.display()), e.into_error()))?;
        f.sync_all().map_err(|e| JobError::io(format!("syncing {}", path.display()), e))?;
        let committed = match checkpoint {
            Some(id) => format!("part-{:04}-{:010}-{}-{}", self.subtask, id, txn.run, txn.seq),
            None => format!("part-{:04}-{}-{}", self.subtask, txn.run, txn.seq),
        };
        Ok(FileHandle { in_progress: txn.name, committed })
    }

    fn commit(&mut self, h: &FileHandle) -> Result<(), JobError> {
        let from = self.staging.join(&h.in_progress);
        let to = self.dir.join(&h.committed);
        match (from.exists(), to.exists()) {
            (true, false) => {
                fs::rename(&from, &to).map_err(|e| JobError::io(format!("committing {} as {}", from.display(), to.display()), e))?;
                sync_dir(&self.dir).map_err(|e| JobError::io(format!("syncing {}", self.dir.display()), e))
            }
            // Committed before a crash (final names are never reused).
            (true, true) => fs::remove_file(&from).map_err(|e| JobError::io(format!("removing {}", from.display()), e)),
            (false, true) => Ok(()),
            (false, false) => Err(self.err(format!(
                "output file {} is missing, so it cannot be committed as {}; the output directory was changed outside the job",
                from.display(),
                to.display()
            ))),
        }
    }

    fn abort(&mut self, txn: FileTransaction) -> Result<(), JobError> {
        let path = self.staging.join(&txn.name);
        drop(txn.writer);
        fs::remove_file(&path).map_err(|e| JobError::io(format!("removing {}", path.display()), e))
    }

    fn abort_lingering(&mut self, scope: &RecoveryScope<'_, FileHandle>) -> Result<(), JobError> {
        let entries = fs::read_dir(&self.staging).map_err(|e| JobError::io(format!("listing {}", self.staging.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some((subtask, run)) = owner(&name) else { continue };
            if run != scope.run && scope.owns(subtask) {
                debug!(file = %name, "removing output no checkpoint covers");
                fs::remove_file(entry.path()).map_err(|e| JobError::io(format!("removing {}", entry.path().display()), e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
