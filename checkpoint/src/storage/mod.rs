//! The job's checkpoint directory, reached through `object_store`.
//!
//! [`CheckpointStorage`] addresses objects by paths relative to its root
//! (`chk-3/op-0.state`, `shared/abc.sst`). This module holds the object-level
//! operations; `checkpoints` adds the checkpoint-level ones (state files with
//! checksums, `_metadata`, listing, cleanup) and `restore` opens a checkpoint
//! copied anywhere.

mod checkpoints;
mod restore;
mod transfer;

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, PutMode, PutOptions, PutPayload};

use crate::error::CheckpointError;
use crate::location::CheckpointLocation;

pub use checkpoints::CheckpointListing;
pub use restore::open_checkpoint;
pub use transfer::Expected;

/// The job's checkpoint directory: an object store and a root prefix in it.
///
/// Cheap to clone; clones share the store.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    root: Path,
    /// Names the root in messages: a directory path or URL.
    base: String,
    /// The directory, when the store is the local file system rooted there
    /// (copies between two such storages are hard links).
    local_dir: Option<std::path::PathBuf>,
}

impl CheckpointStorage {
    /// Opens the checkpoint directory at `location` (a path, `file://` URL or
    /// `s3://` URL, see [`CheckpointLocation`]); a missing local directory is created.
    pub fn open(location: &str) -> Result<Self, CheckpointError> {
        Self::open_location(&CheckpointLocation::parse(location)?)
    }

    /// Opens an already parsed location; a missing local directory is created.
    pub fn open_location(location: &CheckpointLocation) -> Result<Self, CheckpointError> {
        Self::open_location_with(location, true)
    }

    pub(crate) fn open_location_with(location: &CheckpointLocation, create: bool) -> Result<Self, CheckpointError> {
        let opened = location.open_store(create)?;
        Ok(CheckpointStorage { store: opened.store, root: opened.root, base: opened.base, local_dir: opened.local_dir })
    }

    /// A fresh, empty storage in memory (for tests).
    pub fn in_memory() -> Self {
        CheckpointStorage { store: Arc::new(InMemory::new()), root: Path::default(), base: "memory://".to_string(), local_dir: None }
    }

    /// Storage rooted at `root` (a `/`-separated prefix, may be empty) inside `store`.
    pub fn from_store(store: Arc<dyn ObjectStore>, root: &str) -> Self {
        let root = Path::from(root);
        let base = if root.as_ref().is_empty() { store.to_string() } else { format!("{store}/{root}") };
        CheckpointStorage { store, root, base, local_dir: None }
    }

    /// Name of the directory of checkpoint `id`, relative to the root: `chk-<id>`.
    pub fn checkpoint_dir(id: u64) -> String {
        crate::manifest::checkpoint_dir_name(id)
    }

    /// A user-readable full path or URL for `rel_path` (relative to the root).
    pub fn describe(&self, rel_path: &str) -> String {
        let rel = rel_path.trim_start_matches('/');
        if rel.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base.trim_end_matches('/'), rel)
        }
    }

    /// Writes `bytes` at `rel_path`, atomically: readers see the whole object
    /// or none. On local storage the write is durable when this returns.
    pub async fn put(&self, rel_path: &str, bytes: Bytes) -> Result<(), CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        self.store.put_opts(&location, PutPayload::from(bytes), PutOptions::default()).await.map_err(|e| self.store_error(rel_path, e))?;
        Ok(())
    }

    /// Writes `bytes` at `rel_path` unless an object exists there; returns
    /// whether it wrote. Atomic where the store supports conditional puts (the
    /// local file system, memory, S3); elsewhere a check followed by a put.
    pub(crate) async fn put_if_absent(&self, rel_path: &str, bytes: Bytes) -> Result<bool, CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&location, PutPayload::from(bytes.clone()), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. }) => {
                if self.exists(rel_path).await? {
                    return Ok(false);
                }
                self.put(rel_path, bytes).await?;
                Ok(true)
            }
            Err(e) => Err(self.store_error(rel_path, e)),
        }
    }

    /// Size in bytes of the object at `rel_path`, without reading it.
    pub async fn size_of(&self, rel_path: &str) -> Result<u64, CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        let options = GetOptions::default().with_head(true);
        let result = self.store.get_opts(&location, options).await.map_err(|e| self.store_error(rel_path, e))?;
        Ok(result.meta.size)
    }

    /// Whether both storages reach the same object store (clones of one
    /// storage, or storages made by [`CheckpointStorage::from_store`] with one store).
    pub(crate) fn same_store(&self, other: &CheckpointStorage) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }

    /// Whether copies from this storage to `other` are hard links: both are
    /// directories of the local file system.
    pub(crate) fn links_to(&self, other: &CheckpointStorage) -> bool {
        self.local_dir.is_some() && other.local_dir.is_some()
    }

    /// Reads the whole object at `rel_path`.
    pub async fn get(&self, rel_path: &str) -> Result<Bytes, CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        let result = self.store.get_opts(&location, GetOptions::default()).await.map_err(|e| self.store_error(rel_path, e))?;
        result.bytes().await.map_err(|e| self.store_error(rel_path, e))
    }

    /// Whether an object exists at `rel_path`.
    pub async fn exists(&self, rel_path: &str) -> Result<bool, CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        let options = GetOptions::default().with_head(true);
        match self.store.get_opts(&location, options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_error(rel_path, e)),
        }
    }

    /// Deletes the object at `rel_path`; a missing object is not an error.
    pub async fn delete(&self, rel_path: &str) -> Result<(), CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        self.delete_locations(vec![location]).await
    }

    /// Deletes every object under the directory `dir_rel` (not the root itself).
    pub async fn delete_prefix(&self, dir_rel: &str) -> Result<(), CheckpointError> {
        let prefix = self.object_path(dir_rel, false)?;
        let locations: Vec<Path> =
            self.store.list(Some(&prefix)).map_ok(|meta| meta.location).try_collect().await.map_err(|e| self.store_error(dir_rel, e))?;
        self.delete_locations(locations).await
    }

    /// Every object under `dir_rel` (the whole root for `""`), as root-relative
    /// paths with their sizes, sorted by path.
    pub async fn list_files(&self, dir_rel: &str) -> Result<Vec<(String, u64)>, CheckpointError> {
        let prefix = self.object_path(dir_rel, true)?;
        let metas: Vec<object_store::ObjectMeta> = match self.store.list(Some(&prefix)).try_collect().await {
            Ok(metas) => metas,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.store_error(dir_rel, e)),
        };
        let mut files: Vec<(String, u64)> = metas.into_iter().filter_map(|m| Some((self.root_relative(&m.location)?, m.size))).collect();
        files.sort();
        Ok(files)
    }

    async fn delete_locations(&self, locations: Vec<Path>) -> Result<(), CheckpointError> {
        if locations.is_empty() {
            return Ok(());
        }
        let input = futures::stream::iter(locations.into_iter().map(Ok)).boxed();
        let results: Vec<object_store::Result<Path>> = self.store.delete_stream(input).collect().await;
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.store_error_at_path(e)),
            }
        }
        Ok(())
    }

    /// The object store path of `rel_path`, normalized; `allow_root` permits
    /// the empty path (the root itself).
    fn object_path(&self, rel_path: &str, allow_root: bool) -> Result<Path, CheckpointError> {
        let invalid = |reason: &str| CheckpointError::InvalidPath { path: self.describe(rel_path), reason: reason.to_string() };
        let normalized =
            crate::paths::normalize(rel_path).ok_or_else(|| CheckpointError::PathEscapesRoot { path: self.describe(rel_path) })?;
        if normalized.is_empty() && !allow_root {
            return Err(invalid("empty path (the storage root itself)"));
        }
        if normalized.split('/').any(is_staging_name) {
            return Err(invalid("names ending in `#<digits>` are reserved by the storage layer"));
        }
        let rel = Path::parse(&normalized).map_err(|e| invalid(&e.to_string()))?;
        Ok(self.root.parts().chain(rel.parts()).collect())
    }

    /// The root-relative form of an object store path (`None` if outside the root).
    fn root_relative(&self, location: &Path) -> Option<String> {
        let parts: Vec<String> = location.prefix_match(&self.root)?.map(|p| p.as_ref().to_string()).collect();
        Some(parts.join("/"))
    }

    fn store_error(&self, rel_path: &str, e: object_store::Error) -> CheckpointError {
        match e {
            object_store::Error::NotFound { .. } => CheckpointError::Missing { path: self.describe(rel_path) },
            source => CheckpointError::Store { path: self.describe(rel_path), source },
        }
    }

    fn store_error_at_path(&self, e: object_store::Error) -> CheckpointError {
        CheckpointError::Store { path: self.base.clone(), source: e }
    }
}

/// The local file system stages writes as `<name>#<n>`; such names are not ours to use.
fn is_staging_name(segment: &str) -> bool {
    match segment.rsplit_once('#') {
        Some((_, suffix)) => !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}
