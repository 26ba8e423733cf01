//! Line files as a source: a file, or a directory of files read in name order.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weir_checkpoint::codec;
use weir_runtime::{Event, JobError, Source, SourceStatus};

use super::{Stripe, Stripes};
use crate::Throttle;

/// Turns one line into an event, or says why it cannot.
pub type LineParser<T> = Arc<dyn Fn(&str) -> Result<Event<T>, String> + Send + Sync>;

/// Where an instance's scan of the input is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Cursor {
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
struct Position {
    magic: [u8; 4],
    stripes: Vec<Stripe>,
    cursor: Cursor,
    max_ts: Option<i64>,
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

/// Decodes a checkpointed position of instance `subtask` of `parallelism`.
fn decode_position(position: &[u8], subtask: u32, parallelism: u32) -> Result<Position, JobError> {
    if let Ok(p) = codec::decode::<Position>(position) {
        if p.magic == MAGIC {
            return Ok(p);
        }
    }
    match codec::decode::<CursorOnly>(position) {
        Ok(c) => Ok(Position {
            magic: MAGIC,
            stripes: Stripes::initial(subtask, parallelism).into_vec(),
            cursor: Cursor { file: c.file, offset: c.offset, line_in_file: c.line_in_file, global_line: c.global_line },
            max_ts: c.max_ts,
        }),
        Err(e) => Err(JobError::Input(format!("a line-file source position does not decode ({e}): written by another version?"))),
    }
}

/// Reads `<path>` (a file, or every file of a directory whose name does not
/// begin with `.` or `_`, in name order) line by line. Instance `j` of `p`
/// takes the lines whose index over all files has `index mod p == j`, so each
/// instance's events stay in the files' order. Its position (file, byte offset,
/// line) is checkpointed. At another parallelism the lines still to read are
/// dealt out again as [`Stripes`], and each instance still reads them in order.
///
/// A line the parser rejects fails the job with an error naming the file and
/// line number; the output committed so far stays as it is.
pub struct FileSource<T> {
    files: Vec<PathBuf>,
    parser: LineParser<T>,
    subtask: u32,
    parallelism: u32,
    out_of_orderness: i64,
    stripes: Vec<Stripe>,
    pos: Cursor,
    max_ts: Option<i64>,
    reader: Option<BufReader<File>>,
    line: String,
    throttle: Throttle,
}

/// The input files under `path`, in name order.
fn list_files(path: &Path) -> Result<Vec<PathBuf>, JobError> {
    let meta = std::fs::metadata(path).map_err(|e| JobError::io(format!("input {}", path.display()), e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let dir = std::fs::read_dir(path).map_err(|e| JobError::io(format!("listing input directory {}", path.display()), e))?;
    for entry in dir {
        let entry = entry.map_err(|e| JobError::io(format!("listing input directory {}", path.display()), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

impl<T> FileSource<T> {
    /// Instance `subtask` of `parallelism` reading `path`.
    pub fn new(
        path: &Path,
        subtask: u32,
        parallelism: u32,
        out_of_orderness_ms: i64,
        rate: Option<f64>,
        parser: LineParser<T>,
    ) -> Result<Self, JobError> {
        let p = parallelism.max(1);
        Ok(FileSource {
            files: list_files(path)?,
            parser,
            subtask,
            parallelism: p,
            out_of_orderness: out_of_orderness_ms,
            stripes: Stripes::initial(subtask, p).into_vec(),
            pos: Cursor { file: 0, offset: 0, line_in_file: 0, global_line: 0 },
            max_ts: None,
            reader: None,
            line: String::new(),
            throttle: Throttle::new(rate.map(|r| r / f64::from(p))),
        })
    }

    fn open_current(&mut self) -> Result<bool, JobError> {
        if self.reader.is_some() {
            return Ok(true);
        }
        let Some(path) = self.files.get(self.pos.file) else { return Ok(false) };
        let mut f = File::open(path).map_err(|e| JobError::io(format!("opening input {}", path.display()), e))?;
        f.seek(SeekFrom::Start(self.pos.offset)).map_err(|e| JobError::io(format!("seeking in input {}", path.display()), e))?;
        self.reader = Some(BufReader::with_capacity(1 << 16, f));
        Ok(true)
    }
}

impl<T: Send> Source<T> for FileSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        let limit = self.throttle.batch_limit(max);
        let mut n = 0;
        while n < limit {
            if !self.open_current()? {
                self.throttle.wait(n as u64);
                return Ok(SourceStatus::Exhausted);
            }
            let Some(reader) = self.reader.as_mut() else { break };
            self.line.clear();
            let read = reader
                .read_line(&mut self.line)
                .map_err(|e| JobError::io(format!("reading input {}", self.files[self.pos.file].display()), e))?;
            if read == 0 {
                self.reader = None;
                self.pos.file += 1;
                self.pos.offset = 0;
                self.pos.line_in_file = 0;
                continue;
            }
            self.pos.offset += read as u64;
            self.pos.line_in_file += 1;
            let line = self.pos.global_line;
            let mine = self.stripes.iter().any(|s| line >= s.next && line % s.modulus == s.residue);
            self.pos.global_line += 1;
            let text = self.line.trim_end_matches(['\n', '\r']);
            if !mine || text.trim().is_empty() {
                continue;
            }
            match (self.parser)(text) {
                Ok(e) => {
                    self.max_ts = Some(self.max_ts.map_or(e.ts, |m| m.max(e.ts)));
                    out.push(e);
                    n += 1;
                }
                Err(reason) => {
                    return Err(JobError::Input(format!(
                        "malformed record at {}:{}: {reason}: {text:?}",
                        self.files[self.pos.file].display(),
                        self.pos.line_in_file
                    )))
                }
            }
        }
        self.throttle.wait(n as u64);
        Ok(SourceStatus::More)
    }

    fn watermark(&self) -> Option<i64> {
        self.max_ts.map(|t| t.saturating_sub(self.out_of_orderness).saturating_sub(1))
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        // Every line before the cursor has been looked at.
        let line = self.pos.global_line;
        let stripes = self.stripes.iter().map(|s| Stripe { next: s.next.max(line), ..*s }).collect();
        Ok(codec::encode(&Position { magic: MAGIC, stripes, cursor: self.pos, max_ts: self.max_ts })?)
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), JobError> {
        let pos = decode_position(position, self.subtask, self.parallelism)?;
        self.check(&pos.cursor)?;
        (self.stripes, self.pos, self.max_ts) = (pos.stripes, pos.cursor, pos.max_ts);
        self.reader = None;
        Ok(())
    }

    fn restore_rescaled(&mut self, parallelism: u32, positions: &[(u32, Vec<u8>)]) -> Result<(), JobError> {
        let old: Vec<Position> =
            positions.iter().map(|(subtask, p)| decode_position(p, *subtask, parallelism)).collect::<Result<_, _>>()?;
        for p in &old {
            self.check(&p.cursor)?;
        }
        self.stripes = Stripes::rescaled(old.iter().map(|p| p.stripes.as_slice()), self.subtask, self.parallelism).into_vec();
        // Scan from the furthest old cursor that is not past any of this instance's lines.
        let first = self.stripes.iter().map(|s| s.next).min();
        self.pos = match first {
            Some(first) => old.iter().map(|p| p.cursor).filter(|c| c.global_line <= first).max_by_key(|c| c.global_line),
            None => None,
        }
        .unwrap_or(Cursor { file: self.files.len(), offset: 0, line_in_file: 0, global_line: u64::MAX });
        // The watermark restarts from the least advanced old instance.
        self.max_ts = old.iter().map(|p| p.max_ts).min().flatten();
        self.reader = None;
        Ok(())
    }
}

impl<T> FileSource<T> {
    /// Refuses a position past the input's files.
    fn check(&self, cursor: &Cursor) -> Result<(), JobError> {
        if cursor.file > self.files.len() {
            return Err(JobError::Input(format!(
                "the checkpoint's input position is in file #{} but the input has {} file(s)",
                cursor.file + 1,
                self.files.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parser() -> LineParser<u64> {
        Arc::new(|line: &str| line.parse::<u64>().map(|v| Event::new(v as i64, v)).map_err(|e| e.to_string()))
    }

    fn read(s: &mut FileSource<u64>, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        while out.len() < max {
            let mut batch = Vec::new();
            let status = s.poll(&mut batch, (max - out.len()).min(4)).unwrap();
            out.extend(batch.into_iter().map(|e| e.value));
            if matches!(status, SourceStatus::Exhausted) {
                break;
            }
        }
        out
    }

    /// Two files of lines `0..40` and `40..100`.
    fn input() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let lines = |r: std::ops::Range<u64>| r.map(|i| format!("{i}\n")).collect::<String>();
        std::fs::write(dir.path().join("a.txt"), lines(0..40)).unwrap();
        std::fs::write(dir.path().join("b.txt"), lines(40..100)).unwrap();
        dir
    }

    #[test]
    fn every_line_once_across_changes_of_parallelism() {
        let dir = input();
        for (p1, p2, p3) in [(1, 3, 2), (3, 2, 4), (2, 4, 1)] {
            let mut seen = Vec::new();
            let mut gen: Vec<FileSource<u64>> = (0..p1).map(|s| FileSource::new(dir.path(), s, p1, 0, None, parser()).unwrap()).collect();
            let mut old_p = p1;
            for p in [p2, p3] {
                for (k, s) in gen.iter_mut().enumerate() {
                    seen.extend(read(s, 5 + 3 * k));
                }
                let positions: Vec<(u32, Vec<u8>)> = gen.iter_mut().enumerate().map(|(i, s)| (i as u32, s.snapshot().unwrap())).collect();
                gen = (0..p)
                    .map(|s| {
                        let mut source = FileSource::new(dir.path(), s, p, 0, None, parser()).unwrap();
                        source.restore_rescaled(old_p, &positions).unwrap();
                        source
                    })
                    .collect();
                old_p = p;
            }
            for s in gen.iter_mut() {
                let rest = read(s, usize::MAX);
                assert!(rest.windows(2).all(|w| w[0] < w[1]), "an instance reads in order: {rest:?}");
                seen.extend(rest);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..100).collect::<Vec<_>>(), "{p1} -> {p2} -> {p3}: every line exactly once");
        }
    }

    #[test]
    fn a_position_of_the_format_before_stripes_still_restores() {
        #[derive(Serialize)]
        struct CursorOnly(usize, u64, u64, u64, Option<i64>);
        let dir = input();
        // Instance 1 of 2 had read lines 0..10 of a.txt ("0\n".."9\n" are 20 bytes).
        let old = codec::encode(&CursorOnly(0, 20, 10, 10, Some(9))).unwrap();
        let mut s = FileSource::new(dir.path(), 1, 2, 0, None, parser()).unwrap();
        s.restore(&old).unwrap();
        assert_eq!(read(&mut s, 3), vec![11, 13, 15]);
        assert!(s.restore(b"garbage").unwrap_err().to_string().contains("does not decode"));
    }
}
