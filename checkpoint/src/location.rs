//! Where checkpoints are stored, as given by the user: a path, `file://` or `s3://`.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::error::CheckpointError;

/// A parsed checkpoint location.
///
/// Accepted forms:
/// - a plain path, relative (to the current directory) or absolute;
/// - `file:///absolute/path`;
/// - `s3://bucket/prefix`, only when weir is built with the `s3` feature
///   (credentials, region and endpoint come from the usual `AWS_*` environment
///   variables; time-outs and retries are described in the `s3` module).
///
/// It displays as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointLocation {
    /// A directory on the local file system.
    Local {
        /// The directory, made absolute (not canonicalized).
        dir: PathBuf,
        /// The location as the user gave it.
        given: String,
    },
    /// A prefix in an S3 (or S3-compatible) bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing `/`; may be empty.
        prefix: String,
        /// The location as the user gave it.
        given: String,
    },
}

/// What [`CheckpointLocation::open_store`] returns: the store, the root prefix
/// inside it, and the text that names the root in messages.
pub(crate) struct OpenedStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) root: Path,
    pub(crate) base: String,
    /// The directory, when the store is the local file system rooted there.
    pub(crate) local_dir: Option<std::path::PathBuf>,
}

impl CheckpointLocation {
    /// Parses what the user passed as a checkpoint location.
    pub fn parse(location: &str) -> Result<Self, CheckpointError> {
        let invalid = |reason: &str| CheckpointError::InvalidLocation { location: location.to_string(), reason: reason.to_string() };
        let trimmed = location.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty location"));
        }
        let given = location.to_string();
        match trimmed.split_once("://") {
            None => {
                let dir = std::path::absolute(trimmed).map_err(|e| invalid(&format!("cannot make the path absolute: {e}")))?;
                Ok(CheckpointLocation::Local { dir, given })
            }
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "file" => {
                    let url = url::Url::parse(trimmed).map_err(|e| invalid(&format!("not a valid file:// URL: {e}")))?;
                    let dir = url
                        .to_file_path()
                        .map_err(|()| invalid("a file:// URL needs an absolute path and no host, e.g. file:///var/weir/checkpoints"))?;
                    Ok(CheckpointLocation::Local { dir, given })
                }
                "s3" => parse_s3(rest, given).map_err(|reason| invalid(&reason)),
                other => Err(invalid(&format!("unsupported scheme `{other}://`; use a path, file:// or s3://"))),
            },
        }
    }

    /// The location as the user gave it.
    pub fn as_given(&self) -> &str {
        match self {
            CheckpointLocation::Local { given, .. } | CheckpointLocation::S3 { given, .. } => given,
        }
    }

    /// The parent location and the last path segment, for a location that
    /// names one checkpoint or savepoint directory. A trailing `/_metadata` is
    /// dropped first. Local paths are canonicalized, so they must exist.
    pub(crate) fn split_last(&self) -> Result<(CheckpointLocation, String), CheckpointError> {
        let not_a_checkpoint = || CheckpointError::NotACheckpoint { path: self.as_given().to_string() };
        match self {
            CheckpointLocation::Local { dir, given } => {
                let mut dir = std::fs::canonicalize(dir).map_err(|_| CheckpointError::Missing { path: dir.display().to_string() })?;
                if dir.file_name().is_some_and(|n| n == crate::METADATA_FILE) && dir.is_file() {
                    dir.pop();
                }
                let name = dir.file_name().and_then(|n| n.to_str()).map(str::to_string).ok_or_else(not_a_checkpoint)?;
                let parent = dir.parent().ok_or_else(not_a_checkpoint)?.to_path_buf();
                Ok((CheckpointLocation::Local { dir: parent, given: given.clone() }, name))
            }
            CheckpointLocation::S3 { bucket, prefix, given } => {
                let prefix = if prefix == crate::METADATA_FILE { "" } else { prefix.strip_suffix("/_metadata").unwrap_or(prefix) };
                let (parent, name) = match prefix.rsplit_once('/') {
                    Some((parent, name)) => (parent, name),
                    None => ("", prefix),
                };
                if name.is_empty() {
                    return Err(not_a_checkpoint());
                }
                Ok((CheckpointLocation::S3 { bucket: bucket.clone(), prefix: parent.to_string(), given: given.clone() }, name.to_string()))
            }
        }
    }

    /// Opens the object store for this location. With `create`, a missing
    /// local directory is created (with its parents).
    pub(crate) fn open_store(&self, create: bool) -> Result<OpenedStore, CheckpointError> {
        match self {
            CheckpointLocation::Local { dir, given } => open_local(dir, given, create),
            CheckpointLocation::S3 { bucket, prefix, given } => open_s3(bucket, prefix, given),
        }
    }
}

impl std::fmt::Display for CheckpointLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_given())
    }
}

#[cfg(feature = "s3")]
const S3_ENABLED: bool = true;
#[cfg(not(feature = "s3"))]
const S3_ENABLED: bool = false;

fn parse_s3(rest: &str, given: String) -> Result<CheckpointLocation, String> {
    if !S3_ENABLED {
        return Err("s3:// needs weir built with the `s3` feature".into());
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("an s3:// location needs a bucket, e.g. s3://my-bucket/checkpoints".into());
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
        return Err("the key prefix may not contain `.`, `..` or empty segments".into());
    }
    Ok(CheckpointLocation::S3 { bucket: bucket.to_string(), prefix: prefix.to_string(), given })
}

fn open_local(dir: &FsPath, given: &str, create: bool) -> Result<OpenedStore, CheckpointError> {
    if create {
        std::fs::create_dir_all(dir).map_err(|e| CheckpointError::InvalidLocation {
            location: given.to_string(),
            reason: format!("cannot create directory {}: {e}", dir.display()),
        })?;
    }
    // `with_fsync`: a successful put is durable (file and directory entry);
    // `with_automatic_cleanup`: deleting the last file of `chk-N` removes the
    // directory too (never the root).
    let store = LocalFileSystem::new_with_prefix(dir)
        .map_err(|source| CheckpointError::Store { path: dir.display().to_string(), source })?
        .with_fsync(true)
        .with_automatic_cleanup(true);
    Ok(OpenedStore { store: Arc::new(store), root: Path::default(), base: dir.display().to_string(), local_dir: Some(dir.to_path_buf()) })
}

#[cfg(feature = "s3")]
fn open_s3(bucket: &str, prefix: &str, given: &str) -> Result<OpenedStore, CheckpointError> {
    let store = crate::s3::builder_from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|source| CheckpointError::Store { path: given.to_string(), source })?;
    let root = Path::parse(prefix).map_err(|e| CheckpointError::InvalidLocation { location: given.to_string(), reason: e.to_string() })?;
    let base = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
    Ok(OpenedStore { store: Arc::new(store), root, base, local_dir: None })
}

#[cfg(not(feature = "s3"))]
fn open_s3(_bucket: &str, _prefix: &str, given: &str) -> Result<OpenedStore, CheckpointError> {
    Err(CheckpointError::InvalidLocation { location: given.to_string(), reason: "s3:// needs weir built with the `s3` feature".into() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn plain_paths_become_absolute() {
        let loc = CheckpointLocation::parse("some/dir").unwrap();
        match &loc {
            CheckpointLocation::Local { dir, .. } => {
                assert!(dir.is_absolute());
                assert!(dir.ends_with("some/dir"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(loc.to_string(), "some/dir");
        let loc = CheckpointLocation::parse("/var/weir").unwrap();
        assert_eq!(loc, CheckpointLocation::Local { dir: PathBuf::from("/var/weir"), given: "/var/weir".into() });
    }

    #[test]
    fn file_urls() {
        let loc = CheckpointLocation::parse("file:///var/weir%20x/chk").unwrap();
        assert_eq!(loc, CheckpointLocation::Local { dir: PathBuf::from("/var/weir x/chk"), given: "file:///var/weir%20x/chk".into() });
        assert_eq!(loc.to_string(), "file:///var/weir%20x/chk");
        let err = CheckpointLocation::parse("file://host/x").unwrap_err();
        assert!(err.to_string().contains("absolute path"), "{err}");
    }

    #[test]
    fn bad_locations() {
        let err = CheckpointLocation::parse("  ").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = CheckpointLocation::parse("gs://bucket/x").unwrap_err();
        assert!(err.to_string().contains("unsupported scheme `gs://`"), "{err}");
    }

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_needs_the_feature() {
        let err = CheckpointLocation::parse("s3://bucket/prefix").unwrap_err();
        assert!(err.to_string().contains("s3:// needs weir built with the `s3` feature"), "{err}");
    }

    #[cfg(feature = "s3")]
    #[test]
    fn s3_locations() {
        let loc = CheckpointLocation::parse("s3://bucket/a/b/").unwrap();
        assert_eq!(loc, CheckpointLocation::S3 { bucket: "bucket".into(), prefix: "a/b".into(), given: "s3://bucket/a/b/".into() });
        let (parent, name) = loc.split_last().unwrap();
        assert_eq!(name, "b");
        assert!(matches!(parent, CheckpointLocation::S3 { ref prefix, .. } if prefix == "a"));
        let loc = CheckpointLocation::parse("s3://bucket/chk-3/_metadata").unwrap();
        let (parent, name) = loc.split_last().unwrap();
        assert_eq!(name, "chk-3");
        assert!(matches!(parent, CheckpointLocation::S3 { ref prefix, .. } if prefix.is_empty()));
        assert!(CheckpointLocation::parse("s3:///x").is_err());
        assert!(CheckpointLocation::parse("s3://b/a/../x").is_err());
    }
}
