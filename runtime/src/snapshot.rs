//! What an operator hands over in the synchronous phase, and what it gets back on restore.

use weir_checkpoint::KeyGroupRange;
use weir_state::{RestoredFile, StateSnapshot};

/// The synchronous-phase output of one operator instance.
pub struct OperatorSnapshot {
    /// The operator's id.
    pub operator_id: String,
    /// For keyed operators, the key groups the instance owns.
    pub key_groups: Option<KeyGroupRange>,
    /// Small state stored inside `_metadata` (source positions, sink transactions).
    pub inline: Option<Vec<u8>>,
    /// Keyed state, written in the asynchronous phase.
    pub state: Option<Box<dyn StateSnapshot>>,
}

impl OperatorSnapshot {
    /// A snapshot with only inline state.
    pub fn inline(operator_id: &str, bytes: Vec<u8>) -> Self {
        OperatorSnapshot { operator_id: operator_id.to_string(), key_groups: None, inline: Some(bytes), state: None }
    }
}

/// The state an operator instance gets back when the job restores.
#[derive(Debug, Default, Clone)]
pub struct RestoredState {
    /// The checkpoint it comes from.
    pub checkpoint_id: u64,
    /// Inline state of this instance (same parallelism only).
    pub inline: Option<Vec<u8>>,
    /// Keyed-state files covering this instance's key groups.
    pub files: Vec<RestoredFile>,
    /// At another parallelism: the inline state of every checkpointed
    /// instance, for the operator to redistribute.
    pub rescaled: Option<RescaledInline>,
}

/// The inline state of every instance of an operator that ran at another parallelism.
#[derive(Debug, Default, Clone)]
pub struct RescaledInline {
    /// The parallelism it ran with.
    pub parallelism: u32,
    /// `(instance, state)` of every instance that had inline state.
    pub states: Vec<(u32, Vec<u8>)>,
}
