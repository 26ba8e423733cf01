//! Files assigned to instances: each file is read by exactly one instance,
//! which reads its files in name order.
//!
//! Instance `j` of `p` starts with the files whose index in name order has
//! `index mod p == j`. Its position is its *splits*: the files it has not
//! finished, by name, each with the byte offset (and line number) to go on
//! from, and the last file name of the input at the start: files whose
//! names sort after it are new and dealt out on restore, a file added
//! before it is not read (and shifts no position onto another file). At
//! another parallelism the splits of every old instance are dealt out again
//! in file order, split `k` to new instance `k mod parallelism`, as Flink
//! deals out source splits; so every file, and every byte offset in it,
//! goes to exactly one new instance.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use weir_runtime::{Event, JobError};
use weir_state::codec::{self, ValueFormat};

use super::{At, Input};

/// One file still to read, from `offset` on, as checkpointed: by name, so
/// that a file added to the input directory cannot shift it onto another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct NamedSplit {
    /// The file's name in the input directory.
    name: String,
    /// The byte offset of its next line.
    offset: u64,
    /// Lines of the file read so far (for messages).
    line: u64,
}

/// The checkpointed position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Position {
    magic: [u8; 4],
    /// The last file name of the input when the job started: files whose
    /// names sort after it are new, and dealt out on restore.
    last: Option<String>,
    splits: Vec<NamedSplit>,
    pub(super) max_ts: Option<i64>,
}

/// Marks positions written in this format.
const MAGIC: [u8; 4] = *b"wfs3";

/// Decodes a position of this format; `None` if it is not one.
pub(super) fn decode(position: &[u8], format: ValueFormat) -> Option<Position> {
    codec::decode::<Position>(format, position).ok().filter(|p| p.magic == MAGIC)
}

/// One file still to read: its index in the input's files, in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    file: usize,
    offset: u64,
    line: u64,
}

/// An instance reading its files.
pub(super) struct Assigned {
    /// The last file name when the job started (see [`Position::last`]).
    last: Option<String>,
    splits: VecDeque<Split>,
}

/// The splits of the files new since `last` (all of them without one) that
/// instance `subtask` of `parallelism` takes, dealt out by their index.
fn fresh<'a>(names: &'a [String], last: Option<&'a str>, subtask: u32, parallelism: u32) -> impl Iterator<Item = Split> + 'a {
    let p = parallelism.max(1) as usize;
    let first_new = last.map_or(0, |last| names.partition_point(|n| n.as_str() <= last));
    (first_new..names.len()).filter(move |f| f % p == subtask as usize).map(|file| Split { file, offset: 0, line: 0 })
}

/// The splits of `position`, by index in `names`.
fn resolve(position: &Position, index: &HashMap<&str, usize>) -> Result<Vec<Split>, JobError> {
    position
        .splits
        .iter()
        .map(|s| match index.get(s.name.as_str()) {
            Some(&file) => Ok(Split { file, offset: s.offset, line: s.line }),
            None => Err(JobError::Input(format!("the checkpoint's input position is in file {}, which the input no longer has", s.name))),
        })
        .collect()
}

impl Assigned {
    /// Instance `subtask` of `parallelism` at the start, over the files `names`.
    pub(super) fn initial(names: &[String], subtask: u32, parallelism: u32) -> Self {
        Assigned { last: names.last().cloned(), splits: fresh(names, None, subtask, parallelism).collect() }
    }

    /// Resumes from its own position; files new since the job started are
    /// dealt out as at the start.
    pub(super) fn restored(position: Position, names: &[String], subtask: u32, parallelism: u32) -> Result<Self, JobError> {
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let mut splits: VecDeque<Split> = resolve(&position, &index)?.into();
        splits.extend(fresh(names, position.last.as_deref(), subtask, parallelism));
        Ok(Assigned { last: newest(position.last, names), splits })
    }

    /// Instance `subtask` of `parallelism`'s share of what the old instances
    /// had left (and of the files new since the job started), and the
    /// largest event time to go on from: the least of the old instances it
    /// takes splits from (each old instance's remaining lines come after
    /// its largest event time, as its files are in event-time order).
    pub(super) fn rescaled(old: &[Position], names: &[String], subtask: u32, parallelism: u32) -> Result<(Self, Option<i64>), JobError> {
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let last = old.iter().filter_map(|p| p.last.clone()).max();
        let mut all: Vec<(Split, Option<i64>)> = Vec::new();
        for p in old {
            all.extend(resolve(p, &index)?.into_iter().map(|s| (s, p.max_ts)));
        }
        all.extend(fresh(names, last.as_deref(), 0, 1).map(|s| (s, None)));
        all.sort_by_key(|(s, _)| s.file);
        let p = parallelism.max(1) as usize;
        let mine: Vec<(Split, Option<i64>)> =
            all.into_iter().enumerate().filter(|(k, _)| k % p == subtask as usize).map(|(_, s)| s).collect();
        let max_ts = mine.iter().map(|(_, ts)| *ts).min().flatten();
        Ok((Assigned { last: newest(last, names), splits: mine.into_iter().map(|(s, _)| s).collect() }, max_ts))
    }

    /// Appends up to `limit` events; true once its files are read.
    pub(super) fn poll<T>(
        &mut self,
        input: &mut Input<T>,
        out: &mut Vec<Event<T>>,
        limit: usize,
        max_ts: &mut Option<i64>,
    ) -> Result<bool, JobError> {
        let mut n = 0;
        while n < limit {
            let Some(split) = self.splits.front_mut() else { return Ok(true) };
            let mut at = At { file: split.file, offset: split.offset, line: split.line };
            let more = input.read_line(&mut at)?;
            (split.offset, split.line) = (at.offset, at.line);
            if !more {
                self.splits.pop_front();
                continue;
            }
            if let Some(e) = input.parse(&at)? {
                *max_ts = Some(max_ts.map_or(e.ts, |m| m.max(e.ts)));
                out.push(e);
                n += 1;
            }
        }
        Ok(false)
    }

    /// The position to resume from.
    pub(super) fn snapshot(&self, names: &[String], max_ts: Option<i64>) -> Result<Vec<u8>, JobError> {
        let splits = self
            .splits
            .iter()
            .map(|s| NamedSplit { name: names.get(s.file).cloned().unwrap_or_default(), offset: s.offset, line: s.line })
            .collect();
        Ok(codec::encode(&Position { magic: MAGIC, last: self.last.clone(), splits, max_ts })?)
    }
}

/// The later of the last name known and the input's last name now.
fn newest(last: Option<String>, names: &[String]) -> Option<String> {
    last.max(names.last().cloned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::tests::{input, parser, read};
    use super::super::FileSource;
    use weir_runtime::Source;

    #[test]
    fn each_file_is_read_by_one_instance() {
        let dir = input();
        // a.txt (0..40) goes to instance 0, b.txt (40..100) to instance 1, none to instance 2.
        let mut mine = Vec::new();
        for s in 0..3 {
            let mut source = FileSource::new(dir.path(), s, 3, 0, None, parser()).unwrap();
            mine.push(read(&mut source, usize::MAX));
        }
        assert_eq!(mine, vec![(0..40).collect::<Vec<_>>(), (40..100).collect(), vec![]]);
    }

    #[test]
    fn files_added_after_the_start_are_read_after_a_restore() {
        let dir = input();
        let mut s = FileSource::new(dir.path(), 0, 1, 0, None, parser()).unwrap();
        assert_eq!(read(&mut s, 5), vec![0, 1, 2, 3, 4]);
        let position = s.snapshot().unwrap();
        std::fs::write(dir.path().join("c.txt"), "100\n101\n").unwrap();
        let mut s = FileSource::new(dir.path(), 0, 1, 0, None, parser()).unwrap();
        s.restore(&position, weir_state::ValueFormat::CURRENT).unwrap();
        assert_eq!(read(&mut s, usize::MAX), (5..102).collect::<Vec<_>>());
        // Rescaled, the new file goes to one instance too.
        let mut seen = Vec::new();
        for k in 0..2 {
            let mut s = FileSource::new(dir.path(), k, 2, 0, None, parser()).unwrap();
            s.restore_rescaled(1, &[(0, position.clone())], weir_state::ValueFormat::CURRENT).unwrap();
            seen.extend(read(&mut s, usize::MAX));
        }
        seen.sort_unstable();
        assert_eq!(seen, (5..102).collect::<Vec<_>>());
    }

    #[test]
    fn a_position_in_a_file_the_input_no_longer_has_is_refused() {
        let dir = input();
        let mut s = FileSource::new(dir.path(), 1, 2, 0, None, parser()).unwrap();
        let position = s.snapshot().unwrap();
        std::fs::remove_file(dir.path().join("b.txt")).unwrap();
        let mut s = FileSource::new(dir.path(), 1, 2, 0, None, parser()).unwrap();
        let err = s.restore(&position, weir_state::ValueFormat::CURRENT).unwrap_err().to_string();
        assert!(err.contains("in file b.txt, which the input no longer has"), "{err}");
    }

    #[test]
    fn a_file_added_before_the_others_does_not_shift_their_positions() {
        let dir = input();
        let mut s = FileSource::new(dir.path(), 0, 1, 0, None, parser()).unwrap();
        assert_eq!(read(&mut s, 45), (0..45).collect::<Vec<_>>());
        let position = s.snapshot().unwrap();
        // Sorts first: not new (it is before the last name the job started with), so not read.
        std::fs::write(dir.path().join("0.txt"), "999\n").unwrap();
        let mut s = FileSource::new(dir.path(), 0, 1, 0, None, parser()).unwrap();
        s.restore(&position, weir_state::ValueFormat::CURRENT).unwrap();
        assert_eq!(read(&mut s, usize::MAX), (45..100).collect::<Vec<_>>());
    }
}
