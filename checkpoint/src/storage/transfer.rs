//! Streaming reads and copies of whole files: checksums without holding a
//! file in memory, and copies between storages (used by the tools).

use std::path::PathBuf;

use bytes::Bytes;
use futures::StreamExt;
use object_store::{GetOptions, ObjectStoreExt, WriteMultipart};

use super::CheckpointStorage;
use crate::error::CheckpointError;
use crate::manifest::StateFile;

/// Files up to this size are copied with one get and one put; larger ones are
/// streamed in parts.
const STREAM_ABOVE: u64 = 8 << 20;

/// Parts in flight at once while streaming a large file.
const PARTS_IN_FLIGHT: usize = 4;

/// Bytes read at a time while checking a local file.
const READ_BUFFER: usize = 1 << 20;

/// What a file should be: its size and CRC-32C, as recorded in `_metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Size in bytes.
    pub size: u64,
    /// CRC-32C, see [`checksum`](crate::checksum).
    pub checksum: u32,
}

impl CheckpointStorage {
    /// Size and CRC-32C of the object at `rel_path`, read as a stream (a
    /// file of a local directory is read directly, a megabyte at a time).
    pub(crate) async fn size_and_checksum(&self, rel_path: &str) -> Result<(u64, u32), CheckpointError> {
        let location = self.object_path(rel_path, false)?;
        if let Some(path) = self.local_file(&location) {
            match tokio::task::spawn_blocking(move || check_file(&path)).await {
                Ok(Ok(check)) => return Ok((check.size, check.crc)),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(CheckpointError::Missing { path: self.describe(rel_path) })
                }
                // Read it as an object below, which names the error.
                Ok(Err(_)) | Err(_) => {}
            }
        }
        let result = self.store.get_opts(&location, GetOptions::default()).await.map_err(|e| self.store_error(rel_path, e))?;
        let mut stream = result.into_stream();
        let mut check = Check::default();
        while let Some(chunk) = stream.next().await {
            check.add(&chunk.map_err(|e| self.store_error(rel_path, e))?);
        }
        Ok((check.size, check.crc))
    }

    /// Copies the object at `from` (relative to this root) to `to` (relative
    /// to `dest`'s root).
    ///
    /// In one object store this is the store's own copy, and between two
    /// directories of the local file system a hard link: the bytes are not
    /// checked (check the size afterwards). Between stores the bytes stream
    /// through this process and are checked against `expected` before the
    /// destination object becomes visible; a mismatch names the source file.
    ///
    /// ```
    /// use weir_checkpoint::{checksum, CheckpointStorage, Expected};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// # rt.block_on(async {
    /// let (src, dest) = (CheckpointStorage::in_memory(), CheckpointStorage::in_memory());
    /// src.put("shared/a.sst", "abc".into()).await?;
    /// let expected = Expected { size: 3, checksum: checksum(b"abc") };
    /// src.copy_file("shared/a.sst", &dest, "shared/b.sst", expected).await?;
    /// assert_eq!(dest.get("shared/b.sst").await?, "abc");
    /// # Ok::<(), weir_checkpoint::CheckpointError>(())
    /// # })?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn copy_file(&self, from: &str, dest: &CheckpointStorage, to: &str, expected: Expected) -> Result<(), CheckpointError> {
        let from_path = self.object_path(from, false)?;
        let to_path = dest.object_path(to, false)?;
        if self.same_store(dest) {
            return self.store.copy(&from_path, &to_path).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => CheckpointError::Missing { path: self.describe(from) },
                source => CheckpointError::Store { path: format!("{} -> {}", self.describe(from), dest.describe(to)), source },
            });
        }
        if let (Some(src), Some(dst)) = (self.local_file(&from_path), dest.local_file(&to_path)) {
            match tokio::task::spawn_blocking(move || hard_link(&src, &dst)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(CheckpointError::Missing { path: self.describe(from) })
                }
                // Another file system, or links not supported: stream the bytes.
                Ok(Err(_)) | Err(_) => {}
            }
        }
        let result = self.store.get_opts(&from_path, GetOptions::default()).await.map_err(|e| self.store_error(from, e))?;
        let mut stream = result.into_stream();
        let mut check = Check::default();
        if expected.size <= STREAM_ABOVE {
            let mut bytes = Vec::with_capacity(usize::try_from(expected.size).unwrap_or(0));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.store_error(from, e))?;
                check.add(&chunk);
                bytes.extend_from_slice(&chunk);
            }
            check.against(expected, &self.describe(from))?;
            return dest.put(to, Bytes::from(bytes)).await;
        }
        let upload = dest.store.put_multipart(&to_path).await.map_err(|e| dest.store_error(to, e))?;
        let mut writer = WriteMultipart::new(upload);
        let streamed: Result<(), CheckpointError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.store_error(from, e))?;
                check.add(&chunk);
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(|e| dest.store_error(to, e))?;
                writer.write(&chunk);
            }
            check.against(expected, &self.describe(from))
        }
        .await;
        match streamed {
            Ok(()) => writer.finish().await.map(|_| ()).map_err(|e| dest.store_error(to, e)),
            Err(e) => {
                // Best effort: the upload never becomes visible either way.
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

impl CheckpointStorage {
    /// The file of the local file system behind `file` of the `_metadata` in
    /// `checkpoint_dir`, read through once to check its size and checksum;
    /// `None` when this storage is not a local directory.
    ///
    /// A restore hard-links such a file instead of copying it, when it is
    /// one that is never written again once created.
    ///
    /// ```
    /// use weir_checkpoint::{checksum, CheckpointStorage, StateFile};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// # rt.block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let storage = CheckpointStorage::open(&dir.path().display().to_string())?;
    /// storage.put("shared/a.sst", "abc".into()).await?;
    /// let file = StateFile { path: "../shared/a.sst".into(), size: 3, checksum: checksum(b"abc"), key_group_offsets: vec![], inline_state: false };
    /// let path = storage.local_state_file("chk-1", &file).await?;
    /// assert_eq!(path, Some(dir.path().join("shared").join("a.sst")));
    /// let damaged = StateFile { checksum: checksum(b"abd"), ..file.clone() };
    /// assert!(storage.local_state_file("chk-1", &damaged).await.is_err());
    /// assert_eq!(CheckpointStorage::in_memory().local_state_file("chk-1", &file).await?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn local_state_file(&self, checkpoint_dir: &str, file: &StateFile) -> Result<Option<PathBuf>, CheckpointError> {
        let rel = self.resolve(checkpoint_dir, &file.path)?;
        let Some(path) = self.local_file(&self.object_path(&rel, false)?) else {
            return Ok(None);
        };
        let (size, crc) = self.size_and_checksum(&rel).await?;
        Check { size, crc }.against(Expected { size: file.size, checksum: file.checksum }, &self.describe(&rel))?;
        Ok(Some(path))
    }

    /// The file behind `location` when this storage is a local directory.
    fn local_file(&self, location: &object_store::path::Path) -> Option<std::path::PathBuf> {
        let mut path = self.local_dir.clone()?;
        for part in location.parts() {
            path.push(part.as_ref());
        }
        Some(path)
    }
}

/// Links `to` to the file at `from`, creating `to`'s directory, and makes the
/// new directory entries durable.
fn hard_link(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    let parent = to.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    let created = !parent.exists();
    std::fs::create_dir_all(parent)?;
    std::fs::hard_link(from, to)?;
    std::fs::File::open(parent)?.sync_all()?;
    if let (true, Some(grandparent)) = (created, parent.parent()) {
        std::fs::File::open(grandparent)?.sync_all()?;
    }
    Ok(())
}

/// Size and CRC-32C of the local file at `path`.
fn check_file(path: &std::path::Path) -> std::io::Result<Check> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut check = Check::default();
    loop {
        match std::io::Read::read(&mut file, &mut buf)? {
            0 => return Ok(check),
            n => check.add(&buf[..n]),
        }
    }
}

/// Size and CRC-32C of bytes seen so far.
#[derive(Default)]
struct Check {
    size: u64,
    crc: u32,
}

impl Check {
    fn add(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.crc = crc32c::crc32c_append(self.crc, chunk);
    }

    fn against(&self, expected: Expected, path: &str) -> Result<(), CheckpointError> {
        if self.size != expected.size {
            return Err(CheckpointError::SizeMismatch { path: path.to_string(), expected: expected.size, actual: self.size });
        }
        if self.crc != expected.checksum {
            return Err(CheckpointError::ChecksumMismatch { path: path.to_string(), expected: expected.checksum, actual: self.crc });
        }
        Ok(())
    }
}
