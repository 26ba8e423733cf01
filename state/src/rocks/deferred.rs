//! A snapshot's synchronous phase, kept short: the worker takes the write
//! cache's changes out (copies of the changed entries) and goes on, while a
//! thread of the snapshot writes them into RocksDB and creates RocksDB's
//! checkpoint (hard links).
//!
//! Until that thread is done, the backend neither changes RocksDB nor reads
//! timers from it: each such step first waits for the thread
//! ([`RocksDbBackend::settle`]), so the checkpoint holds exactly the state
//! at the barrier. Reading entries needs no wait: the changes stay in the
//! cache as written entries, and the cache drops entries only after a write,
//! which waits. A failure of the thread fails every later step of the
//! backend, as if the synchronous phase had failed.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rocksdb::{Options, WriteOptions, DB};

use super::ingest::Writes;
use super::{cf_of, db_err, RocksDbBackend};
use crate::{Key, StateError};

/// How long the worker waits for a snapshot's thread before it goes on.
///
/// Writing the changes and creating the checkpoint is work for the CPU: when
/// the operators keep every core busy, a thread of its own gets a share of a
/// core and takes several times as long as the worker would. So the worker
/// first waits (and leaves the core to the thread) for up to this long from
/// the start of the synchronous phase: in the common case the snapshot is
/// then as quick as if the worker wrote it, and when compactions slow the
/// writing down, the pause stays bounded.
pub(super) const SYNC_WAIT: Duration = Duration::from_millis(50);

/// What a snapshot writes into RocksDB before its checkpoint, and where the checkpoint goes.
pub(super) struct CheckpointJob {
    pub db: Arc<DB>,
    pub writes: Writes,
    /// Every column family (all are flushed first).
    pub column_families: Vec<String>,
    pub options: Options,
    pub write: WriteOptions,
    pub dir: PathBuf,
}

impl CheckpointJob {
    /// Writes the changes, flushes the memtables and creates the checkpoint
    /// in `dir`. The changes are handed back, so that freeing them (the
    /// timers are a hash set per key group and time) can wait until the outcome is told;
    /// the handle on the database is gone by then.
    pub(super) fn run(mut self) -> (Result<PathBuf, StateError>, Writes) {
        let result = self.checkpoint();
        let CheckpointJob { writes, db, .. } = self;
        drop(db);
        (result, writes)
    }

    fn checkpoint(&mut self) -> Result<PathBuf, StateError> {
        let started = Instant::now();
        self.writes.apply(&self.db, &self.options, &self.write)?;
        let written = started.elapsed();
        let mut cfs: Vec<&rocksdb::ColumnFamily> = Vec::new();
        for name in &self.column_families {
            cfs.push(cf_of(&self.db, name)?);
        }
        let mut flush = rocksdb::FlushOptions::default();
        flush.set_wait(true);
        self.db.flush_cfs_opt(&cfs, &flush).map_err(|e| db_err("flushing memtables", e))?;
        let flushed = started.elapsed();
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)?;
        }
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(&self.dir))
            .map_err(|e| db_err("creating a checkpoint", e))?;
        tracing::debug!(
            changes = self.writes.len(),
            write_ms = written.as_millis() as u64,
            flush_ms = (flushed - written).as_millis() as u64,
            checkpoint_ms = (started.elapsed() - flushed).as_millis() as u64,
            "RocksDB snapshot written"
        );
        Ok(self.dir.clone())
    }
}

/// The outcome of a job, once its thread is done.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    done: Condvar,
}

#[derive(Default)]
struct SlotState {
    outcome: Option<Result<PathBuf, (std::io::ErrorKind, String)>>,
    /// Nobody will read the checkpoint (the snapshot was dropped): remove it once made.
    discarded: bool,
}

/// A checkpoint job running on a thread of its own.
#[derive(Clone)]
pub(super) struct InFlight(Arc<Slot>);

impl InFlight {
    /// Starts `job` on a new thread (or runs it here when no thread can be started).
    pub(super) fn start(job: CheckpointJob) -> InFlight {
        let slot = Arc::new(Slot::default());
        let job = Arc::new(Mutex::new(Some(job)));
        let (s, j) = (slot.clone(), job.clone());
        let started = std::thread::Builder::new().name("rocksdb-snapshot".into()).spawn(move || {
            let taken = j.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(job) = taken {
                let (result, changes) = job.run();
                finish(&s, result);
                drop(changes);
            }
        });
        if started.is_err() {
            let taken = job.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(job) = taken {
                finish(&slot, job.run().0);
            }
        }
        InFlight(slot)
    }

    /// Waits for the job: the checkpoint's directory, or why it failed.
    pub(super) fn wait(&self) -> Result<PathBuf, StateError> {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &state.outcome {
                Some(Ok(dir)) => return Ok(dir.clone()),
                Some(Err((kind, message))) => return Err(StateError::Io(std::io::Error::new(*kind, message.clone()))),
                None => state = self.0.done.wait(state).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }

    /// Waits for the job until `deadline` at the latest; whether it is done.
    pub(super) fn wait_until(&self, deadline: Instant) -> bool {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.outcome.is_none() {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else { return false };
            state = self.0.done.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// Removes the checkpoint once made, without waiting for it.
    pub(super) fn discard(&self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.discarded = true;
        if let Some(Ok(dir)) = &state.outcome {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn finish(slot: &Slot, result: Result<PathBuf, StateError>) {
    let outcome = result.map_err(|e| match e {
        StateError::Io(io) => (io.kind(), format!("snapshot: {io}")),
        other => (std::io::ErrorKind::Other, format!("snapshot: {other}")),
    });
    let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
    if let (true, Ok(dir)) = (state.discarded, &outcome) {
        let _ = std::fs::remove_dir_all(dir);
    }
    state.outcome = Some(outcome);
    slot.done.notify_all();
}

impl<K: Key> RocksDbBackend<K> {
    /// Waits until no snapshot thread uses the database; fails when the last one failed.
    pub(super) fn settle(&mut self) -> Result<(), StateError> {
        if let Some(in_flight) = &self.in_flight {
            in_flight.wait()?;
            self.in_flight = None;
        }
        Ok(())
    }

    /// Takes the cache's changes out and names the checkpoint's directory:
    /// what a snapshot's synchronous phase must do on the worker.
    pub(super) fn checkpoint_job(&mut self) -> Result<CheckpointJob, StateError> {
        self.settle()?;
        let writes = self.take_writes();
        self.snapshots += 1;
        let snapshots = self.config.dir.join("snapshots");
        std::fs::create_dir_all(&snapshots)?;
        let column_families = ["default", super::TIMERS_CF, super::META_CF]
            .iter()
            .map(|s| s.to_string())
            .chain(self.states.iter().map(|s| s.0.clone()))
            .collect();
        Ok(CheckpointJob {
            db: self.db.clone(),
            writes,
            column_families,
            options: self.cf_options.clone(),
            write: super::write_options(),
            dir: snapshots.join(format!("{:08}", self.snapshots)),
        })
    }
}

impl<K: Key> Drop for RocksDbBackend<K> {
    fn drop(&mut self) {
        // A snapshot's thread holds the database open: let it finish, so that
        // the directory is free for whoever opens it next.
        let _ = self.settle();
    }
}
