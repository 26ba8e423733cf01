//! The split of line files before files were assigned to instances, kept to
//! resume from checkpoints that hold it: every instance scans every line and
//! keeps those whose index over all files is in its stripes (see
//! [`Stripes`]). A job restored from such a checkpoint goes on this way.

use serde::{Deserialize, Serialize};
use weir_runtime::{Event, JobError};
use weir_state::codec::{self, ValueFormat};

use super::{At, Input};
use crate::sources::{Stripe, Stripes};

/// Where an instance's scan of the input is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Cursor {
    file: usize,
    offset: u64,
    line_in_file: u64,
    /// The index, over all files, of the next line.
    global_line: u64,
}

/// The checkpointed position: the stripes of line indices the instance owns
/// (each stripe's `next` is the first line it has not looked at), where its
/// scan is, and its largest event time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Position {
    magic: [u8; 4],
    stripes: Vec<Stripe>,
    cursor: Cursor,
    pub(super) max_ts: Option<i64>,
}

/// Marks positions written in this format.
const MAGIC: [u8; 4] = *b"wfs2";

/// The position format before stripes: one cursor, the instance's own lines.
#[derive(Deserialize)]
struct CursorOnly {
    file: usize,
    offset: u64,
    line_in_file: u64,
    global_line: u64,
    max_ts: Option<i64>,
}

/// Decodes a position of instance `subtask` of `parallelism` in this
/// format or the one before it; `None` if it is in neither.
pub(super) fn decode(position: &[u8], subtask: u32, parallelism: u32, format: ValueFormat) -> Option<Position> {
    if let Ok(p) = codec::decode::<Position>(format, position) {
        if p.magic == MAGIC {
            return Some(p);
        }
    }
    codec::decode::<CursorOnly>(format, position).ok().map(|c| Position {
        magic: MAGIC,
        stripes: Stripes::initial(subtask, parallelism).into_vec(),
        cursor: Cursor { file: c.file, offset: c.offset, line_in_file: c.line_in_file, global_line: c.global_line },
        max_ts: c.max_ts,
    })
}

/// An instance reading its stripes of lines.
pub(super) struct Striped {
    stripes: Vec<Stripe>,
    pos: Cursor,
}

impl Striped {
    /// Resumes from its own position.
    pub(super) fn restored(position: Position, files: usize) -> Result<Self, JobError> {
        check(&position.cursor, files)?;
        Ok(Striped { stripes: position.stripes, pos: position.cursor })
    }

    /// Instance `subtask` of `parallelism`'s share of the lines the old
    /// instances had left: their stripes dealt out again, scanned from the
    /// furthest old cursor that is not past any of this instance's lines.
    pub(super) fn rescaled(old: &[Position], subtask: u32, parallelism: u32, files: usize) -> Result<Self, JobError> {
        for p in old {
            check(&p.cursor, files)?;
        }
        let stripes = Stripes::rescaled(old.iter().map(|p| p.stripes.as_slice()), subtask, parallelism).into_vec();
        let first = stripes.iter().map(|s| s.next).min();
        let pos = match first {
            Some(first) => old.iter().map(|p| p.cursor).filter(|c| c.global_line <= first).max_by_key(|c| c.global_line),
            None => None,
        }
        .unwrap_or(Cursor { file: files, offset: 0, line_in_file: 0, global_line: u64::MAX });
        Ok(Striped { stripes, pos })
    }

    /// Appends up to `limit` events; true once every line was looked at.
    pub(super) fn poll<T>(
        &mut self,
        input: &mut Input<T>,
        out: &mut Vec<Event<T>>,
        limit: usize,
        max_ts: &mut Option<i64>,
    ) -> Result<bool, JobError> {
        let mut n = 0;
        while n < limit {
            if self.pos.file >= input.files.len() {
                return Ok(true);
            }
            let mut at = At { file: self.pos.file, offset: self.pos.offset, line: self.pos.line_in_file };
            let more = input.read_line(&mut at)?;
            (self.pos.offset, self.pos.line_in_file) = (at.offset, at.line);
            if !more {
                self.pos.file += 1;
                self.pos.offset = 0;
                self.pos.line_in_file = 0;
                continue;
            }
            let line = self.pos.global_line;
            self.pos.global_line += 1;
            if !self.stripes.iter().any(|s| line >= s.next && line % s.modulus == s.residue) {
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
    pub(super) fn snapshot(&self, max_ts: Option<i64>) -> Result<Vec<u8>, JobError> {
        // Every line before the cursor has been looked at.
        let line = self.pos.global_line;
        let stripes = self.stripes.iter().map(|s| Stripe { next: s.next.max(line), ..*s }).collect();
        Ok(codec::encode(&Position { magic: MAGIC, stripes, cursor: self.pos, max_ts })?)
    }
}

/// Refuses a position past the input's files.
fn check(cursor: &Cursor, files: usize) -> Result<(), JobError> {
    if cursor.file > files {
        return Err(super::past_the_input(cursor.file, files));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::tests::{input, parser, read};
    use super::super::FileSource;
    use super::*;
    use weir_runtime::Source;

    /// The position of an instance of the striped split that has read nothing.
    fn striped(stripes: Vec<Stripe>) -> Vec<u8> {
        let cursor = Cursor { file: 0, offset: 0, line_in_file: 0, global_line: 0 };
        codec::encode(&Position { magic: MAGIC, stripes, cursor, max_ts: None }).unwrap()
    }

    #[test]
    fn a_position_of_the_format_before_stripes_still_restores() {
        #[derive(Serialize)]
        struct CursorOnly(usize, u64, u64, u64, Option<i64>);
        let dir = input();
        // Instance 1 of 2 had read lines 0..10 of a.txt ("0\n".."9\n" are 20 bytes).
        let old = codec::encode(&CursorOnly(0, 20, 10, 10, Some(9))).unwrap();
        let mut s = FileSource::new(dir.path(), 1, 2, 0, None, parser()).unwrap();
        s.restore(&old, weir_state::ValueFormat::CURRENT).unwrap();
        assert_eq!(read(&mut s, 3), vec![11, 13, 15]);
        assert!(s.restore(b"garbage", weir_state::ValueFormat::CURRENT).unwrap_err().to_string().contains("does not decode"));
    }

    #[test]
    fn striped_positions_resume_striped_at_any_parallelism() {
        let dir = input();
        // Two old instances that had read nothing: every line once, at 3.
        let old: Vec<(u32, Vec<u8>)> = (0..2).map(|s| (s, striped(Stripes::initial(s, 2).into_vec()))).collect();
        let mut seen = Vec::new();
        for s in 0..3 {
            let mut source = FileSource::new(dir.path(), s, 3, 0, None, parser()).unwrap();
            source.restore_rescaled(2, &old, weir_state::ValueFormat::CURRENT).unwrap();
            let mine = read(&mut source, usize::MAX);
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
            seen.extend(mine);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        // Restored at the same parallelism, an instance keeps its stripe.
        let mut source = FileSource::new(dir.path(), 1, 2, 0, None, parser()).unwrap();
        source.restore(&old[1].1, weir_state::ValueFormat::CURRENT).unwrap();
        assert_eq!(read(&mut source, 3), vec![1, 3, 5]);
    }
}
