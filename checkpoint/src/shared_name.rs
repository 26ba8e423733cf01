//! Names of files in the `shared/` directory: who wrote them, and when.
//!
//! An incremental checkpoint uploads a file that later checkpoints may
//! reference into `<checkpoint-dir>/shared/` under a name that is unique and
//! says where it came from:
//!
//! ```text
//! <operator>-<subtask>.<checkpoint>.<file>
//! window-count-0.12.000042.sst
//! ```
//!
//! `<operator>` is the operator's id, `<subtask>` the index of the instance,
//! `<checkpoint>` the id of the checkpoint that first uploaded the file, and
//! `<file>` the state backend's own name of it. This module is the one place
//! that forms and parses such names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The parts of a shared file's name, `<operator>-<subtask>.<checkpoint>.<file>`.
///
/// # Example
///
/// ```
/// use weir_checkpoint::SharedFileName;
///
/// let name = SharedFileName::new("window-count", 0, 12, "000042.sst");
/// assert_eq!(name.to_string(), "window-count-0.12.000042.sst");
/// assert_eq!(SharedFileName::parse("window-count-0.12.000042.sst"), Some(name.clone()));
/// // Knowing operator and subtask (from `_metadata`) removes any ambiguity.
/// assert_eq!(SharedFileName::parse_for("window-count", 0, "shared/window-count-0.12.000042.sst"), Some(name));
/// assert_eq!(SharedFileName::parse("000042.sst"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharedFileName {
    /// The operator's id.
    pub operator: String,
    /// Index of the operator's instance.
    pub subtask: u32,
    /// The checkpoint that first uploaded (wrote) the file.
    pub checkpoint: u64,
    /// The state backend's own name of the file.
    pub file: String,
}

impl SharedFileName {
    /// The name of `operator`'s instance `subtask`'s file `file`, first uploaded for `checkpoint`.
    pub fn new(operator: &str, subtask: u32, checkpoint: u64, file: &str) -> Self {
        SharedFileName { operator: operator.to_string(), subtask, checkpoint, file: file.to_string() }
    }

    /// Parses the last segment of `path` (a bare name or a `/`-separated path)
    /// as a shared file name; `None` if it does not have that form.
    ///
    /// Operator ids may contain `-` and `.`: the name is split at the last
    /// `-<digits>.<digits>.` in it (backend file names such as `000042.sst`
    /// contain none). Use [`SharedFileName::parse_for`] when the operator and
    /// subtask are known.
    pub fn parse(path: &str) -> Option<Self> {
        let name = last_segment(path);
        name.match_indices('-').rev().find_map(|(dash, _)| {
            let operator = &name[..dash];
            let (subtask, checkpoint, file) = parse_tail(&name[dash + 1..])?;
            (!operator.is_empty()).then(|| SharedFileName::new(operator, subtask, checkpoint, file))
        })
    }

    /// Parses the last segment of `path` as a shared file name of `operator`'s
    /// instance `subtask`; `None` if it is not one.
    pub fn parse_for(operator: &str, subtask: u32, path: &str) -> Option<Self> {
        let rest = last_segment(path).strip_prefix(operator)?.strip_prefix('-')?;
        let (found_subtask, checkpoint, file) = parse_tail(rest)?;
        (found_subtask == subtask).then(|| SharedFileName::new(operator, subtask, checkpoint, file))
    }
}

impl fmt::Display for SharedFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}.{}.{}", self.operator, self.subtask, self.checkpoint, self.file)
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `<subtask>.<checkpoint>.<file>` with both numbers in plain decimal and a non-empty file.
fn parse_tail(tail: &str) -> Option<(u32, u64, &str)> {
    let (subtask, rest) = tail.split_once('.')?;
    let (checkpoint, file) = rest.split_once('.')?;
    if file.is_empty() || !is_decimal(subtask) || !is_decimal(checkpoint) {
        return None;
    }
    Some((subtask.parse().ok()?, checkpoint.parse().ok()?, file))
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::SharedFileName;

    fn parts(name: &str) -> Option<(String, u32, u64, String)> {
        SharedFileName::parse(name).map(|n| (n.operator, n.subtask, n.checkpoint, n.file))
    }

    #[test]
    fn round_trips() {
        for (op, st, chk, file) in
            [("op", 0, 1, "a.sst"), ("window-count", 3, 120, "000042.sst"), ("a.b-c", 1, 7, "x"), ("op-1.2", 4, 5, "y.sst")]
        {
            let name = SharedFileName::new(op, st, chk, file);
            assert_eq!(SharedFileName::parse(&name.to_string()), Some(name.clone()), "{name}");
            assert_eq!(SharedFileName::parse_for(op, st, &format!("../shared/{name}")), Some(name.clone()));
        }
    }

    #[test]
    fn splits_at_the_last_subtask_and_checkpoint() {
        assert_eq!(parts("window-count-0.12.000042.sst"), Some(("window-count".into(), 0, 12, "000042.sst".into())));
        assert_eq!(parts("shared/op-2.3.f"), Some(("op".into(), 2, 3, "f".into())));
        // The file part may contain dots.
        assert_eq!(parts("op-2.3.f.sst.bak"), Some(("op".into(), 2, 3, "f.sst.bak".into())));
    }

    #[test]
    fn rejects_other_names() {
        for name in ["", "a.sst", "op-0.sst", "op-0.1.", "-0.1.f", "op-x.1.f", "op-0.y.f", "op-0..f", "op-+1.2.f", "op-99999999999.1.f"] {
            assert_eq!(SharedFileName::parse(name), None, "{name:?}");
        }
    }

    #[test]
    fn parse_for_checks_operator_and_subtask() {
        assert_eq!(SharedFileName::parse_for("op", 1, "op-1.3.f").map(|n| n.checkpoint), Some(3));
        assert_eq!(SharedFileName::parse_for("op", 2, "op-1.3.f"), None);
        assert_eq!(SharedFileName::parse_for("other", 1, "op-1.3.f"), None);
        assert_eq!(SharedFileName::parse_for("o", 1, "op-1.3.f"), None);
        // An operator id that looks like a shared name itself is no problem with context.
        assert_eq!(SharedFileName::parse_for("a-1.2.b", 0, "a-1.2.b-0.9.f").map(|n| n.checkpoint), Some(9));
    }
}
