//! An exactly-once file sink with two-phase commit.
//!
//! Records go to a hidden in-progress file under `<dir>/.inprogress/`. At a
//! checkpoint barrier the file is flushed, synced and closed, and recorded in
//! the sink's checkpointed state as *pending* for that checkpoint (phase one).
//! When the checkpoint completes (its `_metadata` is written), pending files
//! are renamed to their final, visible names (phase two). A restore commits
//! the files pending in the restored checkpoint (the process may have died
//! between `_metadata` and the rename) and deletes in-progress files that no
//! checkpoint covers. Committed output is every file in `<dir>` whose name does
//! not begin with `.` or `_`.
//!
//! Without checkpoints, files are committed at the end of input.

use std::fmt::Display;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::debug;
use weir_checkpoint::codec;
use weir_runtime::{Barrier, Counter, Event, JobError, Operator, OperatorSnapshot, SubtaskEnv};

/// Name of the hidden directory holding files not yet committed.
pub const IN_PROGRESS_DIR: &str = ".inprogress";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Pending {
    checkpoint: u64,
    in_progress: String,
    committed: String,
}

/// Writes each record's `Display` as a line, exactly once.
pub struct FileSink<T> {
    id: String,
    dir: PathBuf,
    staging: PathBuf,
    subtask: u32,
    run: String,
    checkpointing: bool,
    current: Option<(String, BufWriter<File>)>,
    seq: u64,
    pending: Vec<Pending>,
    recovered: Option<Vec<Pending>>,
    rows: Counter,
    _t: std::marker::PhantomData<fn(T)>,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl<T> FileSink<T> {
    /// The sink instance described by `env`, writing into `dir`.
    pub fn new(id: &str, dir: &Path, env: &SubtaskEnv) -> Result<Self, JobError> {
        let restored = match env.restored(id, false)? {
            Some(r) => match (r.inline, r.rescaled) {
                (Some(state), _) => Some(state),
                // At another parallelism, old instance s's uncommitted files go to new instance s mod parallelism.
                (None, Some(rescaled)) => {
                    let mut pending: Vec<Pending> = Vec::new();
                    for (s, state) in &rescaled.states {
                        if s % env.parallelism.max(1) == env.subtask {
                            pending.extend(codec::decode::<Vec<Pending>>(state).map_err(|e| JobError::Sink {
                                operator: id.to_string(),
                                message: format!("the checkpointed state of instance {s} does not decode: {e}"),
                            })?);
                        }
                    }
                    Some(codec::encode(&pending)?)
                }
                (None, None) => None,
            },
            None => None,
        };
        Self::with_state(id, dir, env.subtask, env.checkpointing, env.counters.counter("output_rows"), restored)
    }

    /// Instance `subtask` of the sink `id` writing into `dir`, resuming from
    /// its checkpointed state `restored` (what its barrier snapshot held).
    pub fn with_state(
        id: &str,
        dir: &Path,
        subtask: u32,
        checkpointing: bool,
        rows: Counter,
        restored: Option<Vec<u8>>,
    ) -> Result<Self, JobError> {
        let staging = dir.join(IN_PROGRESS_DIR);
        fs::create_dir_all(&staging).map_err(|e| JobError::io(format!("creating output directory {}", staging.display()), e))?;
        let recovered = match restored {
            Some(bytes) => Some(codec::decode::<Vec<Pending>>(&bytes).map_err(|e| JobError::Sink {
                operator: id.to_string(),
                message: format!("the checkpoint's sink state cannot be read: {e}"),
            })?),
            None => Some(Vec::new()),
        };
        let run = format!(
            "{}{:x}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        );
        Ok(FileSink {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            staging,
            subtask,
            run,
            checkpointing,
            current: None,
            seq: 0,
            pending: Vec::new(),
            recovered,
            rows,
            _t: std::marker::PhantomData,
        })
    }

    fn err(&self, message: String) -> JobError {
        JobError::Sink { operator: self.id.clone(), message }
    }

    /// Finishes the commit a crash interrupted and removes what no checkpoint covers.
    /// Runs once, when the task starts working (after every operator restored).
    fn recover(&mut self) -> Result<(), JobError> {
        let Some(recovered) = self.recovered.take() else { return Ok(()) };
        for p in &recovered {
            self.commit_one(p)?;
        }
        if !recovered.is_empty() {
            sync_dir(&self.dir).map_err(|e| JobError::io(format!("syncing {}", self.dir.display()), e))?;
        }
        let prefix = format!("{}-", self.subtask);
        let entries = fs::read_dir(&self.staging).map_err(|e| JobError::io(format!("listing {}", self.staging.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(&prefix) && !name.contains(&self.run) {
                debug!(file = %name, "removing output no checkpoint covers");
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    fn commit_one(&self, p: &Pending) -> Result<(), JobError> {
        let from = self.staging.join(&p.in_progress);
        let to = self.dir.join(&p.committed);
        if from.exists() {
            fs::rename(&from, &to).map_err(|e| JobError::io(format!("committing {} as {}", from.display(), to.display()), e))
        } else if to.exists() {
            Ok(())
        } else {
            Err(self.err(format!(
                "output file {} of checkpoint {} is missing, so it cannot be committed as {}",
                from.display(),
                p.checkpoint,
                to.display()
            )))
        }
    }

    fn close_current(&mut self, checkpoint: Option<u64>) -> Result<(), JobError> {
        let Some((name, mut w)) = self.current.take() else { return Ok(()) };
        let path = self.staging.join(&name);
        w.flush().map_err(|e| JobError::io(format!("writing {}", path.display()), e))?;
        let f = w.into_inner().map_err(|e| JobError::io(format!("writing {}", path.display()), e.into_error()))?;
        f.sync_all().map_err(|e| JobError::io(format!("syncing {}", path.display()), e))?;
        let committed = match checkpoint {
            Some(id) => format!("part-{:04}-{:010}-{}", self.subtask, id, self.seq),
            None => format!("part-{:04}-{}-{}", self.subtask, self.run, self.seq),
        };
        self.seq += 1;
        self.pending.push(Pending { checkpoint: checkpoint.unwrap_or(u64::MAX), in_progress: name, committed });
        Ok(())
    }

    fn commit_until(&mut self, id: u64) -> Result<(), JobError> {
        let (ready, rest): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending).into_iter().partition(|p| p.checkpoint <= id);
        self.pending = rest;
        for p in &ready {
            self.commit_one(p)?;
        }
        if !ready.is_empty() {
            sync_dir(&self.dir).map_err(|e| JobError::io(format!("syncing {}", self.dir.display()), e))?;
        }
        Ok(())
    }
}

impl<T: Display + Send> Operator<Event<T>> for FileSink<T> {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        self.recover()?;
        if self.current.is_none() {
            let name = format!("{}-{}-{}.part", self.subtask, self.run, self.seq);
            let path = self.staging.join(&name);
            let f = File::create(&path).map_err(|e| JobError::io(format!("creating {}", path.display()), e))?;
            self.current = Some((name, BufWriter::with_capacity(1 << 16, f)));
        }
        if let Some((name, w)) = self.current.as_mut() {
            for e in batch.iter() {
                writeln!(w, "{}", e.value).map_err(|err| JobError::io(format!("writing {}/{}", IN_PROGRESS_DIR, name), err))?;
            }
        }
        self.rows.add(batch.len() as u64);
        batch.clear();
        Ok(())
    }
    fn watermark(&mut self, _: i64) -> Result<(), JobError> {
        self.recover()
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.recover()?;
        self.close_current(Some(barrier.id))?;
        snapshots.push(OperatorSnapshot::inline(&self.id, codec::encode(&self.pending)?));
        Ok(())
    }
    fn checkpoint_complete(&mut self, id: u64) -> Result<(), JobError> {
        self.recover()?;
        self.commit_until(id)
    }
    fn checkpoint_aborted(&mut self, _id: u64) -> Result<(), JobError> {
        // Files pending for an aborted checkpoint stay pending: the next
        // checkpoint's state includes them and its completion commits them.
        Ok(())
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.recover()?;
        if !self.checkpointing {
            self.close_current(None)?;
            self.commit_until(u64::MAX)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use weir_runtime::Counters;

    fn sink(dir: &Path, restored: Option<Vec<u8>>) -> FileSink<u32> {
        FileSink::with_state("out", dir, 0, true, Counters::default().counter("rows"), restored).unwrap()
    }

    fn barrier(id: u64) -> Barrier {
        Barrier::checkpoint(id, 0)
    }

    fn committed(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    fn in_progress(dir: &Path) -> usize {
        fs::read_dir(dir.join(IN_PROGRESS_DIR)).unwrap().count()
    }

    #[test]
    fn files_appear_only_when_their_checkpoint_completes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path(), None);
        s.process(&mut vec![Event::new(0, 1), Event::new(0, 2)]).unwrap();
        let mut snaps = Vec::new();
        s.barrier(&barrier(3), &mut snaps).unwrap();
        s.process(&mut vec![Event::new(0, 3)]).unwrap();
        assert!(committed(dir.path()).is_empty(), "nothing is visible before checkpoint 3 completes");
        s.checkpoint_aborted(3).unwrap();
        s.barrier(&barrier(4), &mut snaps).unwrap();
        s.checkpoint_complete(4).unwrap();
        // Checkpoint 3 was aborted, so checkpoint 4 covers (and commits) both files.
        let names = committed(dir.path());
        assert_eq!(names, vec!["part-0000-0000000003-0".to_string(), "part-0000-0000000004-1".to_string()]);
        let text: String = names.iter().map(|n| fs::read_to_string(dir.path().join(n)).unwrap()).collect();
        assert_eq!(text, "1\n2\n3\n");
        assert_eq!(in_progress(dir.path()), 0);
    }

    #[test]
    fn restore_finishes_a_commit_the_crash_interrupted_and_drops_uncovered_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path(), None);
        s.process(&mut vec![Event::new(0, 7)]).unwrap();
        let mut snaps = Vec::new();
        s.barrier(&barrier(5), &mut snaps).unwrap();
        // Written after checkpoint 5: no checkpoint covers it.
        s.process(&mut vec![Event::new(0, 8)]).unwrap();
        // The process dies here: _metadata of checkpoint 5 was written, the sink never heard.
        drop(s);
        let state = snaps.pop().unwrap().inline.unwrap();
        assert!(committed(dir.path()).is_empty());
        assert_eq!(in_progress(dir.path()), 2);

        let mut restored = sink(dir.path(), Some(state.clone()));
        restored.watermark(0).unwrap();
        assert_eq!(committed(dir.path()), vec!["part-0000-0000000005-0".to_string()]);
        assert_eq!(fs::read_to_string(dir.path().join("part-0000-0000000005-0")).unwrap(), "7\n");
        assert_eq!(in_progress(dir.path()), 0, "the output after checkpoint 5 is gone");

        // Restoring the same checkpoint again (a second crash) commits nothing twice.
        let mut again = sink(dir.path(), Some(state));
        again.watermark(0).unwrap();
        assert_eq!(committed(dir.path()), vec!["part-0000-0000000005-0".to_string()]);
    }

    #[test]
    fn a_pending_file_that_vanished_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path(), None);
        s.process(&mut vec![Event::new(0, 7)]).unwrap();
        let mut snaps = Vec::new();
        s.barrier(&barrier(2), &mut snaps).unwrap();
        drop(s);
        for e in fs::read_dir(dir.path().join(IN_PROGRESS_DIR)).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
        let mut restored = sink(dir.path(), snaps.pop().unwrap().inline);
        let err = restored.watermark(0).unwrap_err().to_string();
        assert!(err.contains(".inprogress") && err.contains("checkpoint 2"), "{err}");
    }
}
