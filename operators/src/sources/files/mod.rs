//! Line files as a source: a file, or a directory of files read in name order.

mod assigned;
mod striped;

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_runtime::{Event, JobError, Source, SourceStatus};
use weir_state::ValueFormat;

use self::assigned::Assigned;
use self::striped::Striped;
use crate::Throttle;

/// Turns one line into an event, or says why it cannot.
pub type LineParser<T> = Arc<dyn Fn(&str) -> Result<Event<T>, String> + Send + Sync>;

/// Reads `<path>` (a file, or every file of a directory whose name does not
/// begin with `.` or `_`, in name order) line by line. Each file is read by
/// one instance: instance `j` of `p` reads the files whose index in name
/// order has `index mod p == j`, one after another in name order, so that
/// the input is read once (not scanned by every instance) and each
/// instance's event times keep increasing when the files are each in
/// event-time order and in that order one after another by name. Its
/// position (per file left: byte offset and line) is checkpointed. At
/// another parallelism the files left are dealt out again, each to exactly
/// one instance. Files that sort after those the job started with are read
/// after a restore.
///
/// A line the parser rejects fails the job with an error naming the file and
/// line number; the output committed so far stays as it is.
///
/// A checkpoint of an earlier version, in which every instance scanned
/// every line and kept every `p`-th one, resumes that way.
pub struct FileSource<T> {
    input: Input<T>,
    subtask: u32,
    parallelism: u32,
    out_of_orderness: i64,
    mode: Mode,
    max_ts: Option<i64>,
    throttle: Throttle,
}

/// How the instances share the input.
enum Mode {
    /// Each file to one instance.
    Assigned(Assigned),
    /// Every instance scans every line (resumed from an earlier version).
    Striped(Striped),
}

/// The input files and the reader of the current one.
struct Input<T> {
    files: Vec<PathBuf>,
    /// Their names, which positions refer to them by.
    names: Vec<String>,
    parser: LineParser<T>,
    reader: Option<(usize, BufReader<File>)>,
    line: String,
}

/// A place in the input: file index, byte offset, lines of the file read.
#[derive(Debug, Clone, Copy)]
struct At {
    file: usize,
    offset: u64,
    line: u64,
}

impl<T> Input<T> {
    /// Reads the line of file `at.file` at `at.offset` into `self.line` and
    /// moves `at` past it; false at the end of the file.
    fn read_line(&mut self, at: &mut At) -> Result<bool, JobError> {
        let path = self.files.get(at.file).ok_or_else(|| past_the_input(at.file, self.files.len()))?;
        let reader = match &mut self.reader {
            Some((file, reader)) if *file == at.file => reader,
            slot => {
                let mut f = File::open(path).map_err(|e| JobError::io(format!("opening input {}", path.display()), e))?;
                f.seek(SeekFrom::Start(at.offset)).map_err(|e| JobError::io(format!("seeking in input {}", path.display()), e))?;
                &mut slot.insert((at.file, BufReader::with_capacity(1 << 16, f))).1
            }
        };
        self.line.clear();
        let read = reader.read_line(&mut self.line).map_err(|e| JobError::io(format!("reading input {}", path.display()), e))?;
        if read == 0 {
            self.reader = None;
            return Ok(false);
        }
        at.offset += read as u64;
        at.line += 1;
        Ok(true)
    }

    /// The event of the line just read (at `at`), `None` for a blank line.
    fn parse(&self, at: &At) -> Result<Option<Event<T>>, JobError> {
        let text = self.line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Ok(None);
        }
        match (self.parser)(text) {
            Ok(e) => Ok(Some(e)),
            Err(reason) => Err(JobError::Input(format!(
                "malformed record at {}:{}: {reason}: {text:?}",
                self.files.get(at.file).map(|p| p.display().to_string()).unwrap_or_default(),
                at.line
            ))),
        }
    }
}

/// A checkpoint's position in file `file` (0-based) of an input of `files` files.
fn past_the_input(file: usize, files: usize) -> JobError {
    JobError::Input(format!("the checkpoint's input position is in file #{} but the input has {files} file(s)", file + 1))
}

/// A position that decodes in no format.
fn undecodable() -> JobError {
    JobError::Input("a line-file source position does not decode: written by another version?".into())
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
        let files = list_files(path)?;
        let names: Vec<String> =
            files.iter().map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect();
        Ok(FileSource {
            mode: Mode::Assigned(Assigned::initial(&names, subtask, p)),
            input: Input { files, names, parser, reader: None, line: String::new() },
            subtask,
            parallelism: p,
            out_of_orderness: out_of_orderness_ms,
            max_ts: None,
            throttle: Throttle::new(rate.map(|r| r / f64::from(p))),
        })
    }
}

impl<T: Send> Source<T> for FileSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        let limit = self.throttle.batch_limit(max);
        let before = out.len();
        let done = match &mut self.mode {
            Mode::Assigned(a) => a.poll(&mut self.input, out, limit, &mut self.max_ts)?,
            Mode::Striped(s) => s.poll(&mut self.input, out, limit, &mut self.max_ts)?,
        };
        self.throttle.wait((out.len() - before) as u64);
        Ok(if done { SourceStatus::Exhausted } else { SourceStatus::More })
    }

    fn watermark(&self) -> Option<i64> {
        self.max_ts.map(|t| t.saturating_sub(self.out_of_orderness).saturating_sub(1))
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        match &self.mode {
            Mode::Assigned(a) => a.snapshot(&self.input.names, self.max_ts),
            Mode::Striped(s) => s.snapshot(self.max_ts),
        }
    }

    fn restore(&mut self, position: &[u8], format: ValueFormat) -> Result<(), JobError> {
        let files = self.input.files.len();
        (self.mode, self.max_ts) = if let Some(p) = assigned::decode(position, format) {
            let max_ts = p.max_ts;
            (Mode::Assigned(Assigned::restored(p, &self.input.names, self.subtask, self.parallelism)?), max_ts)
        } else if let Some(p) = striped::decode(position, self.subtask, self.parallelism, format) {
            let max_ts = p.max_ts;
            (Mode::Striped(Striped::restored(p, files)?), max_ts)
        } else {
            return Err(undecodable());
        };
        self.input.reader = None;
        Ok(())
    }

    fn restore_rescaled(&mut self, parallelism: u32, positions: &[(u32, Vec<u8>)], format: ValueFormat) -> Result<(), JobError> {
        let files = self.input.files.len();
        let (subtask, p) = (self.subtask, self.parallelism);
        let assigned: Option<Vec<_>> = positions.iter().map(|(_, pos)| assigned::decode(pos, format)).collect();
        (self.mode, self.max_ts) = if let Some(old) = assigned {
            let (a, max_ts) = Assigned::rescaled(&old, &self.input.names, subtask, p)?;
            (Mode::Assigned(a), max_ts)
        } else {
            let old: Vec<_> = positions
                .iter()
                .map(|(s, pos)| striped::decode(pos, *s, parallelism, format).ok_or_else(undecodable))
                .collect::<Result<_, _>>()?;
            // The watermark restarts from the least advanced old instance.
            let max_ts = old.iter().map(|o| o.max_ts).min().flatten();
            (Mode::Striped(Striped::rescaled(&old, subtask, p, files)?), max_ts)
        };
        self.input.reader = None;
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn parser() -> LineParser<u64> {
        Arc::new(|line: &str| line.parse::<u64>().map(|v| Event::new(v as i64, v)).map_err(|e| e.to_string()))
    }

    pub(crate) fn read(s: &mut FileSource<u64>, max: usize) -> Vec<u64> {
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
    pub(crate) fn input() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let lines = |r: std::ops::Range<u64>| r.map(|i| format!("{i}\n")).collect::<String>();
        std::fs::write(dir.path().join("a.txt"), lines(0..40)).unwrap();
        std::fs::write(dir.path().join("b.txt"), lines(40..100)).unwrap();
        dir
    }

    /// Five files of 20 lines each, `0..100` in name order.
    fn five_files() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in 0..5u64 {
            let lines: String = (f * 20..f * 20 + 20).map(|i| format!("{i}\n")).collect();
            std::fs::write(dir.path().join(format!("part-{f}.txt")), lines).unwrap();
        }
        dir
    }

    #[test]
    fn every_line_once_across_changes_of_parallelism() {
        for dir in [input(), five_files()] {
            for (p1, p2, p3) in [(1, 3, 2), (3, 2, 4), (2, 4, 1), (4, 1, 3)] {
                let mut seen = Vec::new();
                let mut gen: Vec<FileSource<u64>> =
                    (0..p1).map(|s| FileSource::new(dir.path(), s, p1, 0, None, parser()).unwrap()).collect();
                let mut old_p = p1;
                for p in [p2, p3] {
                    for (k, s) in gen.iter_mut().enumerate() {
                        seen.extend(read(s, 5 + 3 * k));
                    }
                    let positions: Vec<(u32, Vec<u8>)> =
                        gen.iter_mut().enumerate().map(|(i, s)| (i as u32, s.snapshot().unwrap())).collect();
                    gen = (0..p)
                        .map(|s| {
                            let mut source = FileSource::new(dir.path(), s, p, 0, None, parser()).unwrap();
                            source.restore_rescaled(old_p, &positions, weir_state::ValueFormat::CURRENT).unwrap();
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
    }

    #[test]
    fn the_watermark_of_a_rescaled_instance_is_never_ahead_of_its_lines() {
        let dir = five_files();
        // Instance 0 of 2 read part-0 and some of part-2; instance 1 all of part-1.
        let mut old: Vec<FileSource<u64>> = (0..2).map(|s| FileSource::new(dir.path(), s, 2, 0, None, parser()).unwrap()).collect();
        read(&mut old[0], 25);
        read(&mut old[1], 20);
        let positions: Vec<(u32, Vec<u8>)> = old.iter_mut().enumerate().map(|(i, s)| (i as u32, s.snapshot().unwrap())).collect();
        for s in 0..3 {
            let mut source = FileSource::new(dir.path(), s, 3, 0, None, parser()).unwrap();
            source.restore_rescaled(2, &positions, weir_state::ValueFormat::CURRENT).unwrap();
            let wm = source.watermark();
            let first = read(&mut source, 1);
            if let (Some(wm), Some(first)) = (wm, first.first()) {
                assert!(wm < *first as i64, "instance {s}: watermark {wm} is past its next line {first}");
            }
        }
    }

    #[test]
    fn a_malformed_line_names_its_file_and_line() {
        let dir = input();
        std::fs::write(dir.path().join("b.txt"), "40\n\nx41\n").unwrap();
        let mut s = FileSource::new(dir.path(), 1, 2, 0, None, parser()).unwrap();
        let mut batch = Vec::new();
        let err = s.poll(&mut batch, 10).unwrap_err().to_string();
        assert!(err.contains("b.txt:3: invalid digit"), "{err}");
        assert!(err.contains("\"x41\""), "{err}");
    }
}
