//! `promote`: copy a checkpoint into a self-contained directory (a savepoint).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::text;
use crate::error::CheckpointError;
use crate::manifest::{CheckpointMetadata, METADATA_FILE};
use crate::storage::{CheckpointStorage, Expected};

/// One file [`promote`] copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotedFile {
    /// Full path or URL of the source file.
    pub from: String,
    /// Path in the destination directory, as now recorded in its `_metadata`.
    pub to: String,
    /// Size in bytes.
    pub size: u64,
}

/// What [`promote`] copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteReport {
    /// Full path or URL of the source checkpoint directory.
    pub source: String,
    /// Full path or URL of the destination directory.
    pub destination: String,
    /// The checkpoint's id (unchanged).
    pub checkpoint_id: u64,
    /// Number of state files copied (`_metadata` not counted).
    pub files: usize,
    /// Bytes of state files copied.
    pub bytes: u64,
    /// Whether the files were copied without streaming them through this
    /// process: the store's own copy (source and destination in one object
    /// store) or hard links (two directories of the local file system).
    pub store_side_copy: bool,
    /// Every file copied, in the order of `_metadata`.
    pub copied: Vec<PromotedFile>,
}

impl fmt::Display for PromoteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "promoted checkpoint {} from {} to {}: {}, {}",
            self.checkpoint_id,
            self.source,
            self.destination,
            text::plural(self.files, "file"),
            text::bytes(self.bytes)
        )?;
        for file in &self.copied {
            writeln!(f, "  {} <- {}  {}", file.to, file.from, text::bytes(file.size))?;
        }
        Ok(())
    }
}

/// Copies the checkpoint in `chk_dir` (relative to `src`'s root) into `dest`,
/// whose root becomes a self-contained checkpoint directory: its `_metadata`
/// and every file it references lie inside it, so it restores (see
/// [`open_checkpoint`](crate::open_checkpoint)) wherever it is and after the
/// source is gone.
///
/// Files inside the checkpoint's directory keep their relative paths; files
/// outside it (`../shared/<name>`) go to `<operator>-<subtask>/<name>`.
/// Every file is written first and its size checked, `_metadata` (with the
/// new paths) last. Within one object store the store copies the files;
/// between stores they are streamed and their checksums checked on the way.
///
/// Refuses with [`CheckpointError::DestinationExists`] when `dest` already
/// holds a `_metadata`. A failed promotion leaves files but no `_metadata`:
/// run it again.
///
/// # Example
///
/// ```
/// use weir_checkpoint::{open_checkpoint, tools, CheckpointStorage};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// # rt.block_on(async {
/// let (src, dir) = open_checkpoint(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1/chk-7"))?;
/// let dest = CheckpointStorage::in_memory();
/// let report = tools::promote(&src, &dir, &dest).await?;
/// assert_eq!((report.files, report.bytes), (1, 21));
/// assert!(tools::verify(&dest, "").await?.is_ok());
/// assert!(tools::promote(&src, &dir, &dest).await.is_err(), "never overwrites a checkpoint");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok(())
/// # }
/// ```
pub async fn promote(src: &CheckpointStorage, chk_dir: &str, dest: &CheckpointStorage) -> Result<PromoteReport, CheckpointError> {
    let exists = || CheckpointError::DestinationExists { path: dest.describe(METADATA_FILE) };
    if dest.exists(METADATA_FILE).await? {
        return Err(exists());
    }
    let dir = crate::paths::normalize(chk_dir).ok_or_else(|| CheckpointError::PathEscapesRoot { path: src.describe(chk_dir) })?;
    let meta = src.read_metadata(&dir).await?;
    let plan = plan(&dir, &meta).map_err(|path| CheckpointError::PathEscapesRoot { path: format!("{}/{path}", src.describe(&dir)) })?;
    for copy in &plan.copies {
        src.copy_file(&copy.from, dest, &copy.to, Expected { size: copy.size, checksum: copy.checksum }).await?;
    }
    for copy in &plan.copies {
        let actual = dest.size_of(&copy.to).await?;
        if actual != copy.size {
            return Err(CheckpointError::SizeMismatch { path: dest.describe(&copy.to), expected: copy.size, actual });
        }
    }
    if !dest.put_if_absent(METADATA_FILE, Bytes::from(plan.metadata.to_json()?)).await? {
        return Err(exists());
    }
    let copied: Vec<PromotedFile> =
        plan.copies.iter().map(|c| PromotedFile { from: src.describe(&c.from), to: c.to.clone(), size: c.size }).collect();
    Ok(PromoteReport {
        source: src.describe(&dir),
        destination: dest.describe(""),
        checkpoint_id: meta.checkpoint_id,
        files: copied.len(),
        bytes: copied.iter().map(|c| c.size).sum(),
        store_side_copy: src.same_store(dest) || src.links_to(dest),
        copied,
    })
}

/// One file to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedCopy {
    /// Source path, relative to the source root.
    pub(crate) from: String,
    /// Destination path, relative to the destination directory.
    pub(crate) to: String,
    pub(crate) size: u64,
    pub(crate) checksum: u32,
}

/// The copies and the destination's `_metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) copies: Vec<PlannedCopy>,
    pub(crate) metadata: CheckpointMetadata,
}

/// Where each file of `meta` (held in `dir`, root-relative and normalized)
/// goes in a self-contained copy, and the copy's `_metadata`. Each source file
/// is copied once. Fails with the recorded path of a file outside the root.
pub(crate) fn plan(dir: &str, meta: &CheckpointMetadata) -> Result<Plan, String> {
    let own = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    // Destination paths taken, and the destination of each source path.
    let mut taken: BTreeSet<String> = BTreeSet::from([METADATA_FILE.to_string()]);
    let mut dest_of: BTreeMap<String, String> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut order: Vec<(String, u64, u32)> = Vec::new();
    let mut outside: Vec<(String, String)> = Vec::new(); // (source, preferred destination)
    for op in &meta.operators {
        for st in &op.subtasks {
            for file in &st.files {
                let from = crate::protocol::root_relative(dir, &file.path).ok_or_else(|| file.path.clone())?;
                if !seen.insert(from.clone()) {
                    continue;
                }
                order.push((from.clone(), file.size, file.checksum));
                match from.strip_prefix(&own) {
                    Some(inner) if taken.insert(inner.to_string()) => {
                        dest_of.insert(from.clone(), inner.to_string());
                    }
                    _ => {
                        let name = from.rsplit('/').next().unwrap_or(&from);
                        outside.push((from.clone(), format!("{}-{}/{name}", op.operator_id, st.subtask)));
                    }
                }
            }
        }
    }
    // Files from outside after those inside, so that inside paths never move.
    for (from, preferred) in outside {
        let mut to = preferred.clone();
        let mut n = 2;
        while !taken.insert(to.clone()) {
            let (parent, name) = preferred.rsplit_once('/').unwrap_or(("", &preferred));
            to = format!("{parent}/dup-{n}/{name}");
            n += 1;
        }
        dest_of.insert(from, to);
    }
    let mut metadata = meta.clone();
    for file in metadata.operators.iter_mut().flat_map(|op| op.subtasks.iter_mut()).flat_map(|st| st.files.iter_mut()) {
        let from = crate::protocol::root_relative(dir, &file.path).ok_or_else(|| file.path.clone())?;
        if let Some(to) = dest_of.get(&from) {
            file.path.clone_from(to);
        }
    }
    let copies = order
        .into_iter()
        .filter_map(|(from, size, checksum)| Some(PlannedCopy { to: dest_of.get(&from)?.clone(), from, size, checksum }))
        .collect();
    Ok(Plan { copies, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{OperatorState, StateFile, SubtaskState, FORMAT_VERSION};

    fn file(path: &str) -> StateFile {
        StateFile { path: path.into(), size: path.len() as u64, checksum: 7, key_group_offsets: vec![], inline_state: false }
    }

    fn meta(subtasks: Vec<(u32, Vec<&str>)>) -> CheckpointMetadata {
        CheckpointMetadata {
            history: Vec::new(),
            format_version: FORMAT_VERSION,
            value_format: 2,
            checkpoint_id: 3,
            job_name: "j".into(),
            timestamp_ms: 0,
            max_parallelism: 4,
            operators: vec![OperatorState {
                operator_id: "w".into(),
                parallelism: 2,
                subtasks: subtasks
                    .into_iter()
                    .map(|(subtask, paths)| SubtaskState {
                        subtask,
                        key_groups: None,
                        files: paths.into_iter().map(file).collect(),
                        inline: None,
                    })
                    .collect(),
            }],
        }
    }

    fn paths(m: &CheckpointMetadata) -> Vec<&str> {
        m.files().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn moves_outside_files_into_the_directory() {
        let m = meta(vec![
            (0, vec!["op-w-0.state", "w-0/000001.sst", "../shared/w-0.1.000002.sst"]),
            (1, vec!["../shared/w-1.2.000003.sst", "../chk-1/old"]),
        ]);
        let plan = plan("chk-3", &m).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(
            paths(&plan.metadata),
            vec!["op-w-0.state", "w-0/000001.sst", "w-0/w-0.1.000002.sst", "w-1/w-1.2.000003.sst", "w-1/old"]
        );
        let copies: Vec<(&str, &str)> = plan.copies.iter().map(|c| (c.from.as_str(), c.to.as_str())).collect();
        assert_eq!(
            copies,
            vec![
                ("chk-3/op-w-0.state", "op-w-0.state"),
                ("chk-3/w-0/000001.sst", "w-0/000001.sst"),
                ("shared/w-0.1.000002.sst", "w-0/w-0.1.000002.sst"),
                ("shared/w-1.2.000003.sst", "w-1/w-1.2.000003.sst"),
                ("chk-1/old", "w-1/old"),
            ]
        );
        // Everything else in the document is unchanged.
        let mut back = plan.metadata.clone();
        for (f, orig) in back.operators[0].subtasks.iter_mut().flat_map(|s| s.files.iter_mut()).zip(m.files()) {
            f.path.clone_from(&orig.path);
        }
        assert_eq!(back, m);
    }

    #[test]
    fn names_never_collide_and_shared_references_are_copied_once() {
        let m = meta(vec![(0, vec!["w-0/x", "../shared/x", "../chk-1/w-0/x", "../shared/x", "_metadata"])]);
        let plan = plan("chk-3", &m).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(paths(&plan.metadata), vec!["w-0/x", "w-0/dup-2/x", "w-0/dup-3/x", "w-0/dup-2/x", "w-0/_metadata"]);
        assert_eq!(plan.copies.len(), 4);
        let targets: BTreeSet<&str> = plan.copies.iter().map(|c| c.to.as_str()).collect();
        assert_eq!(targets.len(), 4);
    }

    #[test]
    fn a_checkpoint_at_the_root_and_paths_outside_the_root() {
        let m = meta(vec![(0, vec!["a", "b/c"])]);
        let plan = plan("", &m).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(paths(&plan.metadata), vec!["a", "b/c"]);
        let m = meta(vec![(0, vec!["../../etc/passwd"])]);
        assert_eq!(plan_err("chk-3", &m), "../../etc/passwd");
    }

    fn plan_err(dir: &str, m: &CheckpointMetadata) -> String {
        match plan(dir, m) {
            Ok(p) => panic!("{p:?}"),
            Err(path) => path,
        }
    }
}
