//! What a task factory knows about the instance it builds.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use weir_checkpoint::KeyGroupRange;
use weir_state::BackendKind;

use crate::restore::Restore;
use crate::{Counters, JobError, RestoredState};

/// The instance being built: its index, the job's settings, and restored state.
#[derive(Clone)]
pub struct SubtaskEnv {
    /// This instance's index.
    pub subtask: u32,
    /// Instances of the vertex.
    pub parallelism: u32,
    /// Key groups of the job.
    pub max_parallelism: u32,
    /// Key groups this instance owns (for keyed operators).
    pub key_groups: KeyGroupRange,
    /// The keyed-state backend to use.
    pub backend: BackendKind,
    /// The job's local working directory (`--state-dir`).
    pub state_dir: std::path::PathBuf,
    /// RocksDB block cache and write buffers for the whole process, in bytes.
    pub state_memory: u64,
    /// Whether checkpoints are taken (sinks commit on checkpoints, else at the end).
    pub checkpointing: bool,
    /// Counters reported in the job result.
    pub counters: Counters,
    /// Set when the job is asked to stop (SIGINT, SIGTERM): sources stop reading.
    pub stop: Arc<AtomicBool>,
    /// Identifies this run of the job, new at every start: sinks name what
    /// they write with it, so that no name of an earlier run is reused.
    pub run_id: String,
    pub(crate) restore: Option<Arc<Restore>>,
}

impl SubtaskEnv {
    /// A new, empty keyed-state backend for `operator_id` on this instance
    /// (a RocksDB backend keeps its files in `<state_dir>/<operator_id>-<subtask>`,
    /// where a later restore on this machine finds them for local recovery).
    pub fn new_backend<K: weir_state::Key>(&self, operator_id: &str) -> Result<weir_state::Backend<K>, JobError> {
        let dir = instance_dir(&self.state_dir, operator_id, self.subtask);
        weir_state::Backend::new(self.backend, self.key_groups, &dir, self.state_memory).map_err(|e| JobError::state(operator_id, e))
    }

    /// The keyed-state backend of `operator_id` on this instance: empty, or
    /// holding the instance's key groups of the restored state when the job
    /// restores (a RocksDB backend opens the database the restore prepared
    /// for it, once).
    pub fn keyed_backend<K: weir_state::Key>(&self, operator_id: &str) -> Result<weir_state::Backend<K>, JobError> {
        let Some(restored) = self.restored(operator_id, true)? else { return self.new_backend(operator_id) };
        let dir = instance_dir(&self.state_dir, operator_id, self.subtask);
        weir_state::Backend::restored(self.backend, self.key_groups, &dir, self.state_memory, restored.files)
            .map_err(|e| JobError::state(operator_id, e))
    }

    /// The restored state of `operator_id` for this instance, if the job restores.
    pub fn restored(&self, operator_id: &str, keyed: bool) -> Result<Option<RestoredState>, JobError> {
        match &self.restore {
            None => Ok(None),
            Some(r) => r.state_for(operator_id, self, keyed),
        }
    }
}

/// The local directory of instance `subtask` of `operator_id` under `state_dir`.
pub(crate) fn instance_dir(state_dir: &std::path::Path, operator_id: &str, subtask: u32) -> std::path::PathBuf {
    state_dir.join(format!("{operator_id}-{subtask}"))
}
