//! Which shared files a task's next incremental checkpoint may reference
//! instead of uploading them again.
//!
//! The base is always a *confirmed* checkpoint: files uploaded for
//! checkpoint N join the base only when N completes; an aborted checkpoint's
//! files never do.
//!
//! Until the first checkpoint after a restore completes, the restored
//! checkpoint's files are candidates too. A local file matches one when its
//! name, size and checksum are the same (the checksum is computed once, so a
//! file that only shares a name, as after a change of parallelism, is
//! uploaded). A match in the job's own directory is referenced; one from
//! elsewhere (no-claim) is copied into `shared/` inside the store (a hard
//! link on a local file system) rather than uploaded again, so that the job's
//! checkpoints never reference files outside its directory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use weir_checkpoint::CheckpointStorage;

/// A file in the shared directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharedFile {
    /// Path relative to the checkpoint storage's root (`shared/...`).
    pub root_path: String,
    pub size: u64,
    pub checksum: u32,
}

/// Per operator: the backend's file name -> where it is in the shared directory.
pub(crate) type Files = HashMap<String, HashMap<String, SharedFile>>;

/// A restored file that may hold the same bytes as a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Path relative to the restored checkpoint's storage root.
    pub file: SharedFile,
    /// Copy it into `shared/` rather than reference it: it is outside the
    /// job's checkpoint directory, or not in its `shared/` (a savepoint's file).
    pub copy: bool,
}

/// Per operator: the backend's file name -> the restored files of that name
/// (of every checkpointed instance: after a change of parallelism an
/// instance may hold another one's files).
pub(crate) type Candidates = HashMap<String, HashMap<String, Vec<Candidate>>>;

/// What the next checkpoint can do instead of uploading a file.
#[derive(Debug, Clone)]
pub(crate) enum Reuse {
    /// Reference this file of a confirmed checkpoint.
    Confirmed(SharedFile),
    /// One of these restored files, in this storage, may hold the same bytes:
    /// compare checksums.
    Restored(Vec<Candidate>, CheckpointStorage),
}

/// The checkpoint a job restored from.
#[derive(Debug)]
struct RestoredFiles {
    files: Arc<Candidates>,
    /// Where they are.
    storage: CheckpointStorage,
}

/// The shared files of one task.
#[derive(Debug, Default)]
pub(crate) struct SharedFiles {
    /// False with `--incremental false`: every checkpoint uploads everything.
    pub enabled: bool,
    base: Files,
    pending: BTreeMap<u64, Files>,
    restored: Option<RestoredFiles>,
}

impl SharedFiles {
    /// Nothing to reuse yet.
    pub(crate) fn new(enabled: bool) -> Self {
        SharedFiles { enabled, base: Files::new(), pending: BTreeMap::new(), restored: None }
    }

    /// Restored from a checkpoint in `storage` that holds `files`.
    pub(crate) fn with_restored(mut self, files: Arc<Candidates>, storage: CheckpointStorage) -> Self {
        if self.enabled {
            self.restored = Some(RestoredFiles { files, storage });
        }
        self
    }

    /// What may stand in for `operator`'s file `name` of `size` bytes.
    pub(crate) fn reusable(&self, operator: &str, name: &str, size: u64) -> Option<Reuse> {
        if !self.enabled {
            return None;
        }
        if let Some(f) = self.base.get(operator).and_then(|m| m.get(name)).filter(|f| f.size == size) {
            return Some(Reuse::Confirmed(f.clone()));
        }
        let restored = self.restored.as_ref()?;
        let files = restored.files.get(operator)?.get(name)?;
        let same_size: Vec<Candidate> = files.iter().filter(|c| c.file.size == size).cloned().collect();
        (!same_size.is_empty()).then(|| Reuse::Restored(same_size, restored.storage.clone()))
    }

    /// Records that checkpoint `id` holds `file` as `operator`'s `name`.
    pub(crate) fn hold(&mut self, id: u64, operator: &str, name: &str, file: SharedFile) {
        self.pending.entry(id).or_default().entry(operator.to_string()).or_default().insert(name.to_string(), file);
    }

    /// Checkpoint `id` completed: its files are the base from now on, and the
    /// restored checkpoint is no longer needed (no-claim: it may be deleted).
    pub(crate) fn confirm(&mut self, id: u64) {
        if let Some(files) = self.pending.remove(&id) {
            for (operator, held) in files {
                self.base.insert(operator, held);
            }
        }
        self.pending = self.pending.split_off(&(id + 1));
        self.restored = None;
    }

    /// Checkpoint `id` was aborted: its files never join the base.
    pub(crate) fn abort(&mut self, id: u64) {
        self.pending.remove(&id);
    }
}

/// The name a shared file of `operator`'s instance `subtask` gets, first
/// uploaded for `checkpoint`: unique, and the backend's own name at the end.
pub(crate) fn shared_name(operator: &str, subtask: u32, checkpoint: u64, name: &str) -> String {
    format!("{operator}-{subtask}.{checkpoint}.{name}")
}

/// The backend's own name of a shared file of `operator`, whichever instance
/// uploaded it: an instance restored at another parallelism keeps the files
/// of another instance, and its checkpoints reference them as they are.
pub(crate) fn local_name<'a>(operator: &str, shared: &'a str) -> Option<&'a str> {
    let file = shared.rsplit('/').next()?;
    let rest = file.strip_prefix(operator)?.strip_prefix('-')?;
    let (subtask, rest) = rest.split_once('.')?;
    let (checkpoint, name) = rest.split_once('.')?;
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (number(subtask) && number(checkpoint) && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The confirmed file `reusable` names, if any.
    fn confirmed(s: &SharedFiles, name: &str, size: u64) -> Option<SharedFile> {
        match s.reusable("op", name, size) {
            Some(Reuse::Confirmed(f)) => Some(f),
            None => None,
            other => panic!("{other:?}"),
        }
    }

    fn f(p: &str) -> SharedFile {
        SharedFile { root_path: p.into(), size: 10, checksum: 1 }
    }

    #[test]
    fn only_confirmed_checkpoints_form_the_base() {
        let mut s = SharedFiles::new(true);
        s.hold(1, "op", "1.sst", f("shared/a"));
        assert_eq!(confirmed(&s, "1.sst", 10), None, "not before checkpoint 1 completes");
        s.confirm(1);
        assert_eq!(confirmed(&s, "1.sst", 10), Some(f("shared/a")));
        assert_eq!(confirmed(&s, "1.sst", 11), None, "another size is another file");
        s.hold(2, "op", "2.sst", f("shared/b"));
        s.abort(2);
        s.confirm(2);
        assert_eq!(confirmed(&s, "2.sst", 10), None, "an aborted checkpoint's files never join");
        assert_eq!(confirmed(&s, "1.sst", 10), Some(f("shared/a")));
        s.hold(3, "op", "3.sst", f("shared/c"));
        s.confirm(3);
        assert_eq!(confirmed(&s, "1.sst", 10), None, "the base is exactly the newest confirmed checkpoint");
        assert_eq!(confirmed(&s, "3.sst", 10), Some(f("shared/c")));
    }

    #[test]
    fn disabled_never_reuses() {
        let restored: Candidates = [("op".to_string(), [("0.sst".to_string(), vec![c("shared/r", 10)])].into())].into();
        let mut s = SharedFiles::new(false).with_restored(Arc::new(restored), CheckpointStorage::in_memory());
        assert_eq!(confirmed(&s, "0.sst", 10), None);
        s.hold(1, "op", "1.sst", f("shared/a"));
        s.confirm(1);
        assert_eq!(confirmed(&s, "1.sst", 10), None);
    }

    fn c(path: &str, size: u64) -> Candidate {
        Candidate { file: SharedFile { root_path: path.into(), size, checksum: 1 }, copy: true }
    }

    #[test]
    fn restored_files_are_candidates_until_the_first_checkpoint_completes() {
        let restored: Candidates = [("op".to_string(), [("0.sst".to_string(), vec![c("shared/r", 10), c("shared/r2", 11)])].into())].into();
        let mut s = SharedFiles::new(true).with_restored(Arc::new(restored), CheckpointStorage::in_memory());
        let restored = |size| match s.reusable("op", "0.sst", size) {
            Some(Reuse::Restored(candidates, _)) => candidates,
            other => panic!("{other:?}"),
        };
        assert_eq!(restored(10), vec![c("shared/r", 10)], "only those of the same size");
        assert_eq!(restored(11), vec![c("shared/r2", 11)]);
        assert_eq!(confirmed(&s, "0.sst", 12), None);
        assert!(s.reusable("other-op", "0.sst", 10).is_none());
        s.hold(1, "op", "0.sst", f("shared/copied"));
        assert!(s.reusable("op", "0.sst", 10).is_some(), "checkpoint 1 may still fail");
        s.confirm(1);
        assert_eq!(confirmed(&s, "0.sst", 10), Some(f("shared/copied")));
        assert_eq!(confirmed(&s, "0.sst", 11), None, "the restored checkpoint is let go");
    }

    #[test]
    fn names_round_trip() {
        let n = shared_name("window-count", 1, 7, "000012.sst");
        assert_eq!(local_name("window-count", &format!("../shared/{n}")), Some("000012.sst"));
        assert_eq!(local_name("window", &format!("../shared/{n}")), None, "another operator's file");
        assert_eq!(local_name("window-count", "../shared/window-count-1.x.000012.sst"), None);
        assert_eq!(local_name("window-count", "chk-3/window-count-1/MANIFEST-000005"), None);
    }
}
