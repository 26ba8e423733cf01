//! Exactly-once sinks: the two-phase-commit protocol every transactional
//! sink follows, and the operator that runs one in a job.
//!
//! A sink writes into a *transaction* that nobody downstream can see. At a
//! checkpoint barrier it *pre-commits* the transaction (flushes it and makes
//! it durable) and returns a *handle*, which goes into the checkpoint. When
//! the checkpoint completes, the handle is *committed* (the output becomes
//! visible). A savepoint's barrier pre-commits as well, but its completion
//! commits nothing: the next checkpoint's completion does. After a restore,
//! the handles in the restored checkpoint are committed again (they may have
//! been committed before the crash, so commit is idempotent), and everything
//! no checkpoint covers is aborted.
//!
//! After a change of parallelism, the handles of earlier instance `s` go to
//! new instance `s mod parallelism`, which commits them and cleans up what
//! instance `s` left behind ([`RecoveryScope::owns`]).
//!
//! A sink that keeps its rows in memory until a checkpoint completes, and
//! "publishes" them into a shared vector:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use weir_runtime::{
//!     Barrier, Counters, Event, JobError, Notification, Operator, RecoveryScope, SnapshotKind, TransactionContext,
//!     TwoPhaseCommitOperator, TwoPhaseCommitSink,
//! };
//!
//! /// Committed rows, and the transactions already published (commit is idempotent).
//! #[derive(Default)]
//! struct Table { rows: Vec<String>, published: Vec<u64> }
//!
//! struct TableSink { table: Arc<Mutex<Table>>, staged: Vec<(u64, Vec<String>)> }
//!
//! impl TwoPhaseCommitSink<String> for TableSink {
//!     type Handle = u64;
//!     type Transaction = (u64, Vec<String>);
//!     fn begin(&mut self, ctx: &TransactionContext) -> Result<Self::Transaction, JobError> {
//!         Ok((ctx.seq, Vec::new()))
//!     }
//!     fn write(&mut self, txn: &mut Self::Transaction, batch: &mut Vec<Event<String>>) -> Result<(), JobError> {
//!         txn.1.extend(batch.drain(..).map(|e| e.value));
//!         Ok(())
//!     }
//!     fn pre_commit(&mut self, txn: Self::Transaction, _checkpoint: Option<u64>) -> Result<u64, JobError> {
//!         // A real sink makes the rows durable here (a file, a broker's transaction).
//!         let seq = txn.0;
//!         self.staged.push(txn);
//!         Ok(seq)
//!     }
//!     fn commit(&mut self, handle: &u64) -> Result<(), JobError> {
//!         let mut table = self.table.lock().unwrap();
//!         if table.published.contains(handle) {
//!             return Ok(()); // committed before a crash: not twice
//!         }
//!         if let Some(i) = self.staged.iter().position(|(seq, _)| seq == handle) {
//!             let (_, rows) = self.staged.remove(i);
//!             table.rows.extend(rows);
//!             table.published.push(*handle);
//!         }
//!         Ok(())
//!     }
//!     fn abort(&mut self, _txn: Self::Transaction) -> Result<(), JobError> {
//!         Ok(())
//!     }
//!     fn abort_lingering(&mut self, _scope: &RecoveryScope<'_, u64>) -> Result<(), JobError> {
//!         Ok(())
//!     }
//! }
//!
//! let table = Arc::new(Mutex::new(Table::default()));
//! let sink = TableSink { table: table.clone(), staged: Vec::new() };
//! let mut op = TwoPhaseCommitOperator::new("table", sink, 0, 1, "run-1", true, None).unwrap();
//! op.open().unwrap();
//! op.process(&mut vec![Event::new(0, "a".to_string())]).unwrap();
//! op.barrier(&Barrier::checkpoint(1, 0), &mut Vec::new()).unwrap();
//! assert!(table.lock().unwrap().rows.is_empty(), "nothing is visible before checkpoint 1 completes");
//! op.checkpoint_complete(&Notification { id: 1, kind: SnapshotKind::Checkpoint, is_final: false }).unwrap();
//! assert_eq!(table.lock().unwrap().rows, ["a"]);
//! ```

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use weir_state::codec::{self, ValueFormat};

use crate::{Barrier, Event, JobError, Notification, Operator, OperatorSnapshot, SubtaskEnv};

/// What a sink knows when it opens a transaction.
#[derive(Debug, Clone)]
pub struct TransactionContext<'a> {
    /// The sink instance.
    pub subtask: u32,
    /// Identifies this run of the job (a new one at every start and restore):
    /// names derived from it are never those of an earlier run.
    pub run: &'a str,
    /// Numbers the instance's transactions within the run, from 0.
    pub seq: u64,
}

/// What [`TwoPhaseCommitSink::abort_lingering`] may clean up after a restore.
#[derive(Debug, Clone)]
pub struct RecoveryScope<'a, H> {
    /// This instance.
    pub subtask: u32,
    /// Instances of the sink now.
    pub parallelism: u32,
    /// This run's id: what it writes is not lingering.
    pub run: &'a str,
    /// The restored checkpoint's handles that this instance committed.
    pub committed: &'a [H],
    /// The instances of the restored checkpoint whose state this instance
    /// took over (its own at the same parallelism); empty on a fresh start.
    pub earlier_instances: &'a [u32],
}

impl<H> RecoveryScope<'_, H> {
    /// Whether leftovers of instance `old_subtask` of an earlier run (at any
    /// parallelism) are this instance's to clean up: those of `s` go to
    /// instance `s mod parallelism`, as do its handles.
    ///
    /// ```
    /// let scope = weir_runtime::RecoveryScope::<u64> { subtask: 1, parallelism: 2, run: "r", committed: &[], earlier_instances: &[1, 3] };
    /// assert!(scope.owns(1) && scope.owns(3) && !scope.owns(2));
    /// ```
    pub fn owns(&self, old_subtask: u32) -> bool {
        old_subtask % self.parallelism.max(1) == self.subtask
    }
}

/// A sink with exactly-once output through two-phase commit. Run it with
/// [`TwoPhaseCommitOperator`]; see the [module docs](self) for the protocol
/// and an example.
pub trait TwoPhaseCommitSink<T>: Send {
    /// A pre-committed transaction, as stored in checkpoints and handed back
    /// to [`commit`](TwoPhaseCommitSink::commit) after a restore.
    type Handle: Serialize + DeserializeOwned + Clone + Debug + Send;
    /// An open transaction.
    type Transaction: Send;

    /// Opens a transaction (when the first record after a barrier arrives).
    fn begin(&mut self, ctx: &TransactionContext) -> Result<Self::Transaction, JobError>;
    /// Writes (and drains) a batch into the open transaction.
    fn write(&mut self, txn: &mut Self::Transaction, batch: &mut Vec<Event<T>>) -> Result<(), JobError>;
    /// Flushes the transaction and makes it durable, so that committing the
    /// returned handle later cannot lose data. `checkpoint` is the barrier's
    /// snapshot id (checkpoint or savepoint), `None` at the end of a job that
    /// takes no checkpoints.
    fn pre_commit(&mut self, txn: Self::Transaction, checkpoint: Option<u64>) -> Result<Self::Handle, JobError>;
    /// Makes a pre-committed transaction visible. Idempotent: after a crash
    /// it is called again for handles that may already be committed.
    fn commit(&mut self, handle: &Self::Handle) -> Result<(), JobError>;
    /// Drops an open transaction that no checkpoint will cover.
    fn abort(&mut self, txn: Self::Transaction) -> Result<(), JobError>;
    /// At start, after the restored handles were committed: aborts what
    /// earlier runs of the instances in `scope` left that no checkpoint covers.
    fn abort_lingering(&mut self, scope: &RecoveryScope<'_, Self::Handle>) -> Result<(), JobError>;
}

/// The checkpointed state of a sink instance: pre-committed transactions
/// not committed yet, with the snapshot whose barrier pre-committed them.
#[derive(Serialize, Deserialize)]
struct Pending<H> {
    pending: Vec<(u64, H)>,
}

/// Runs a [`TwoPhaseCommitSink`] at the end of a chain.
pub struct TwoPhaseCommitOperator<T, S: TwoPhaseCommitSink<T>> {
    id: String,
    sink: S,
    subtask: u32,
    parallelism: u32,
    run: String,
    checkpointing: bool,
    seq: u64,
    open: Option<S::Transaction>,
    pending: Vec<(u64, S::Handle)>,
    /// Restored handles, committed by `open`.
    restored: Vec<S::Handle>,
    /// The instances of the restored checkpoint this instance took over.
    earlier: Vec<u32>,
    _t: std::marker::PhantomData<fn(T)>,
}

/// Checkpointed sink states an instance takes over: their value format, and
/// `(earlier instance, state)` of each.
pub type Restored = (ValueFormat, Vec<(u32, Vec<u8>)>);

impl<T, S: TwoPhaseCommitSink<T>> TwoPhaseCommitOperator<T, S> {
    /// The sink instance described by `env`, with its share of the restored state.
    pub fn from_env(id: &str, sink: S, env: &SubtaskEnv) -> Result<Self, JobError> {
        let restored = env.restored(id, false)?.map(|r| (r.format, r.owned_inline(env.subtask, env.parallelism)));
        Self::new(id, sink, env.subtask, env.parallelism, &env.run_id, env.checkpointing, restored)
    }

    /// Instance `subtask` of `parallelism` of the sink `id`, in run `run`;
    /// `restored` holds the checkpointed states this instance takes over
    /// (its own, or several earlier instances' after a change of parallelism),
    /// encoded in the value format it names.
    pub fn new(
        id: &str,
        sink: S,
        subtask: u32,
        parallelism: u32,
        run: &str,
        checkpointing: bool,
        restored: Option<Restored>,
    ) -> Result<Self, JobError> {
        let mut handles = Vec::new();
        let (format, restored) = restored.unwrap_or_default();
        let earlier = restored.iter().map(|(s, _)| *s).collect();
        for (s, bytes) in restored {
            let state: Pending<S::Handle> = codec::decode(format, &bytes).map_err(|e| JobError::Sink {
                operator: id.to_string(),
                message: format!("the checkpointed transactions of instance {s} cannot be read: {e}"),
            })?;
            handles.extend(state.pending.into_iter().map(|(_, h)| h));
        }
        Ok(TwoPhaseCommitOperator {
            id: id.to_string(),
            sink,
            subtask,
            parallelism,
            run: run.to_string(),
            checkpointing,
            seq: 0,
            open: None,
            pending: Vec::new(),
            restored: handles,
            earlier,
            _t: std::marker::PhantomData,
        })
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    fn pre_commit(&mut self, checkpoint: Option<u64>) -> Result<Option<S::Handle>, JobError> {
        match self.open.take() {
            Some(txn) => Ok(Some(self.sink.pre_commit(txn, checkpoint)?)),
            None => Ok(None),
        }
    }
}

impl<T: Send, S: TwoPhaseCommitSink<T>> Operator<Event<T>> for TwoPhaseCommitOperator<T, S> {
    fn open(&mut self) -> Result<(), JobError> {
        for handle in &self.restored {
            self.sink.commit(handle)?;
        }
        let scope = RecoveryScope {
            subtask: self.subtask,
            parallelism: self.parallelism,
            run: &self.run,
            committed: &self.restored,
            earlier_instances: &self.earlier,
        };
        self.sink.abort_lingering(&scope)?;
        self.restored.clear();
        Ok(())
    }
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        if batch.is_empty() {
            return Ok(());
        }
        let txn = match &mut self.open {
            Some(txn) => txn,
            None => {
                let ctx = TransactionContext { subtask: self.subtask, run: &self.run, seq: self.seq };
                self.seq += 1;
                let txn = self.sink.begin(&ctx)?;
                crate::fail::point("sink-began");
                self.open.insert(txn)
            }
        };
        self.sink.write(txn, batch)
    }
    fn watermark(&mut self, _: i64) -> Result<(), JobError> {
        Ok(())
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        if let Some(handle) = self.pre_commit(Some(barrier.id))? {
            self.pending.push((barrier.id, handle));
        }
        let state = Pending { pending: self.pending.clone() };
        snapshots.push(OperatorSnapshot::inline(&self.id, codec::encode(&state)?));
        Ok(())
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        if !n.commits() {
            return Ok(());
        }
        let mut committed = false;
        while self.pending.first().is_some_and(|(id, _)| *id <= n.id) {
            let (_, handle) = self.pending.remove(0);
            self.sink.commit(&handle)?;
            committed = true;
        }
        if committed {
            crate::fail::point("sink-committed");
        }
        Ok(())
    }
    fn checkpoint_aborted(&mut self, _: &Notification) -> Result<(), JobError> {
        // What was pre-committed for an aborted snapshot stays pending: the
        // next checkpoint holds it too, and its completion commits it.
        Ok(())
    }
    fn finish(&mut self) -> Result<(), JobError> {
        if self.checkpointing {
            // The final barrier came last: anything open holds no record a
            // checkpoint covers.
            if let Some(txn) = self.open.take() {
                self.sink.abort(txn)?;
            }
            return Ok(());
        }
        if let Some(handle) = self.pre_commit(None)? {
            self.sink.commit(&handle)?;
        }
        Ok(())
    }
}
