//! Line files as a source: a file, or a directory of files read in name order.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weir_checkpoint::codec;
use weir_runtime::{Event, JobError, Source, SourceStatus};

use crate::Throttle;

/// Turns one line into an event, or says why it cannot.
pub type LineParser<T> = Arc<dyn Fn(&str) -> Result<Event<T>, String> + Send + Sync>;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
struct Position {
    file: usize,
    offset: u64,
    line_in_file: u64,
    global_line: u64,
    max_ts: Option<i64>,
}

/// Reads `<path>` (a file, or every file of a directory whose name does not
/// begin with `.` or `_`, in name order) line by line. Instance `j` of `p`
/// takes the lines whose index over all files has `index mod p == j`, so each
/// instance's events stay in the files' order. Its position (file, byte offset,
/// line) is checkpointed.
///
/// A line the parser rejects fails the job with an error naming the file and
/// line number; the output committed so far stays as it is.
pub struct FileSource<T> {
    files: Vec<PathBuf>,
    parser: LineParser<T>,
    subtask: u64,
    parallelism: u64,
    out_of_orderness: i64,
    pos: Position,
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
        let p = u64::from(parallelism.max(1));
        Ok(FileSource {
            files: list_files(path)?,
            parser,
            subtask: u64::from(subtask),
            parallelism: p,
            out_of_orderness: out_of_orderness_ms,
            pos: Position { file: 0, offset: 0, line_in_file: 0, global_line: 0, max_ts: None },
            reader: None,
            line: String::new(),
            throttle: Throttle::new(rate.map(|r| r / p as f64)),
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
            let mine = self.pos.global_line % self.parallelism == self.subtask;
            self.pos.global_line += 1;
            let text = self.line.trim_end_matches(['\n', '\r']);
            if !mine || text.trim().is_empty() {
                continue;
            }
            match (self.parser)(text) {
                Ok(e) => {
                    self.pos.max_ts = Some(self.pos.max_ts.map_or(e.ts, |m| m.max(e.ts)));
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
        self.pos.max_ts.map(|t| t.saturating_sub(self.out_of_orderness).saturating_sub(1))
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        Ok(codec::encode(&self.pos)?)
    }

    fn restore(&mut self, position: &[u8]) -> Result<(), JobError> {
        let pos: Position = codec::decode(position)?;
        if pos.file > self.files.len() {
            return Err(JobError::Input(format!(
                "the checkpoint's input position is in file #{} but the input has {} file(s)",
                pos.file + 1,
                self.files.len()
            )));
        }
        self.pos = pos;
        self.reader = None;
        Ok(())
    }
}
