//! Which shared files a task's next incremental checkpoint may reference
//! instead of uploading them again.
//!
//! The base is always a *confirmed* checkpoint: files uploaded for
//! checkpoint N join the base only when N completes; an aborted checkpoint's
//! files never do.

use std::collections::{BTreeMap, HashMap};

/// A file in the shared directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharedFile {
    /// Path relative to the checkpoint storage's root (`shared/...`).
    pub root_path: String,
    pub size: u64,
    pub checksum: u32,
}

/// Per operator: the backend's file name -> where it is in the shared directory.
type Files = HashMap<String, HashMap<String, SharedFile>>;

/// The shared files of one task.
#[derive(Debug, Default)]
pub(crate) struct SharedFiles {
    /// False with `--incremental false`: every checkpoint uploads everything.
    pub enabled: bool,
    base: Files,
    pending: BTreeMap<u64, Files>,
}

impl SharedFiles {
    pub(crate) fn new(enabled: bool, restored: Files) -> Self {
        SharedFiles { enabled, base: if enabled { restored } else { Files::new() }, pending: BTreeMap::new() }
    }

    /// The confirmed upload of `operator`'s file `name` of `size` bytes, if any.
    pub(crate) fn reusable(&self, operator: &str, name: &str, size: u64) -> Option<SharedFile> {
        if !self.enabled {
            return None;
        }
        self.base.get(operator).and_then(|m| m.get(name)).filter(|f| f.size == size).cloned()
    }

    /// Records that checkpoint `id` holds `file` as `operator`'s `name`.
    pub(crate) fn hold(&mut self, id: u64, operator: &str, name: &str, file: SharedFile) {
        self.pending.entry(id).or_default().entry(operator.to_string()).or_default().insert(name.to_string(), file);
    }

    /// Checkpoint `id` completed: its files are the base from now on.
    pub(crate) fn confirm(&mut self, id: u64) {
        if let Some(files) = self.pending.remove(&id) {
            for (operator, held) in files {
                self.base.insert(operator, held);
            }
        }
        self.pending = self.pending.split_off(&(id + 1));
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

    fn f(p: &str) -> SharedFile {
        SharedFile { root_path: p.into(), size: 10, checksum: 1 }
    }

    #[test]
    fn only_confirmed_checkpoints_form_the_base() {
        let mut s = SharedFiles::new(true, Files::new());
        s.hold(1, "op", "1.sst", f("shared/a"));
        assert_eq!(s.reusable("op", "1.sst", 10), None, "not before checkpoint 1 completes");
        s.confirm(1);
        assert_eq!(s.reusable("op", "1.sst", 10), Some(f("shared/a")));
        assert_eq!(s.reusable("op", "1.sst", 11), None, "another size is another file");
        s.hold(2, "op", "2.sst", f("shared/b"));
        s.abort(2);
        s.confirm(2);
        assert_eq!(s.reusable("op", "2.sst", 10), None, "an aborted checkpoint's files never join");
        assert_eq!(s.reusable("op", "1.sst", 10), Some(f("shared/a")));
        s.hold(3, "op", "3.sst", f("shared/c"));
        s.confirm(3);
        assert_eq!(s.reusable("op", "1.sst", 10), None, "the base is exactly the newest confirmed checkpoint");
        assert_eq!(s.reusable("op", "3.sst", 10), Some(f("shared/c")));
    }

    #[test]
    fn disabled_never_reuses() {
        let mut s = SharedFiles::new(false, Files::new());
        s.hold(1, "op", "1.sst", f("shared/a"));
        s.confirm(1);
        assert_eq!(s.reusable("op", "1.sst", 10), None);
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
