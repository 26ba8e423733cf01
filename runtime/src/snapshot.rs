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
    /// The value format of the inline state (the checkpoint's).
    pub format: weir_state::ValueFormat,
    /// Keyed-state files covering this instance's key groups.
    pub files: Vec<RestoredFile>,
    /// At another parallelism: the inline state of every checkpointed
    /// instance, for the operator to redistribute.
    pub rescaled: Option<RescaledInline>,
}

impl RestoredState {
    /// The inline states this instance takes over, by earlier instance: its
    /// own at the same parallelism; after a change of parallelism, those of
    /// every earlier instance `s` with `s mod parallelism == subtask`, so that
    /// each earlier instance's state goes to exactly one new instance (sinks'
    /// pre-committed transactions). Sources, which split their remaining
    /// work instead, read [`RestoredState::rescaled`] whole.
    ///
    /// ```
    /// use weir_runtime::{RescaledInline, RestoredState};
    /// let r = RestoredState {
    ///     rescaled: Some(RescaledInline { parallelism: 3, states: vec![(0, vec![0]), (1, vec![1]), (2, vec![2])] }),
    ///     ..Default::default()
    /// };
    /// assert_eq!(r.owned_inline(0, 2), vec![(0, vec![0]), (2, vec![2])]);
    /// assert_eq!(r.owned_inline(1, 2), vec![(1, vec![1])]);
    /// ```
    pub fn owned_inline(&self, subtask: u32, parallelism: u32) -> Vec<(u32, Vec<u8>)> {
        match (&self.inline, &self.rescaled) {
            (_, Some(r)) => r.states.iter().filter(|(s, _)| s % parallelism.max(1) == subtask).cloned().collect(),
            (Some(own), None) => vec![(subtask, own.clone())],
            (None, None) => Vec::new(),
        }
    }
}

/// The inline state of every instance of an operator that ran at another parallelism.
#[derive(Debug, Default, Clone)]
pub struct RescaledInline {
    /// The parallelism it ran with.
    pub parallelism: u32,
    /// `(instance, state)` of every instance that had inline state.
    pub states: Vec<(u32, Vec<u8>)>,
}
