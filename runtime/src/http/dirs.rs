//! Where a savepoint request may write: under the job's `--savepoint-dir`
//! only, unless the job was started with `--savepoint-dirs-anywhere`.
//!
//! Whoever holds the token could otherwise make the job write into any
//! directory its user may write to. The check is lexical (`..` is resolved
//! on the text, links are not followed): the root is the owner's choice, and
//! what lies under it is theirs too.

use super::wire::Response;

/// Where savepoints may go.
#[derive(Debug, Clone, Default)]
pub(crate) struct SavepointDirs {
    /// The job's `--savepoint-dir`: the default, and the root requests stay under.
    pub root: Option<String>,
    /// `--savepoint-dirs-anywhere`: requests may name any directory.
    pub anywhere: bool,
}

impl SavepointDirs {
    /// The directory a savepoint goes to: the request's (`field` of its body)
    /// if it is allowed, or the job's `--savepoint-dir`.
    pub fn resolve(&self, requested: Option<String>, field: &str) -> Result<String, Response> {
        let Some(requested) = requested else {
            return match &self.root {
                Some(root) => Ok(root.clone()),
                None if self.anywhere => {
                    Err(Response::error(400, format!("no savepoint directory: give \"{field}\" or start the job with --savepoint-dir")))
                }
                None => Err(Response::error(400, "no savepoint directory: start the job with --savepoint-dir")),
            };
        };
        if requested.trim().is_empty() {
            return Err(Response::error(400, format!("\"{field}\" is empty")));
        }
        if self.anywhere {
            return Ok(requested);
        }
        let Some(root) = &self.root else {
            return Err(Response::error(
                403,
                format!(
                    "\"{field}\": savepoints go only under the job's --savepoint-dir, and this job has none: \
                     start it with --savepoint-dir DIR (requests may name directories under it) \
                     or with --savepoint-dirs-anywhere"
                ),
            ));
        };
        under(root, &requested).ok_or_else(|| {
            Response::error(
                403,
                format!(
                    "\"{field}\": {requested} is outside the allowed savepoint root {root} \
                     (the job's --savepoint-dir; start the job with --savepoint-dirs-anywhere to allow any directory)"
                ),
            )
        })
    }
}

/// `requested` (absolute, or relative to `root`) with `.` and `..` resolved,
/// if it is `root` or a directory under it.
fn under(root: &str, requested: &str) -> Option<String> {
    let (root_prefix, root_path) = split(root)?;
    let root_segments = normalize(&absolute(&root_path)?)?;
    let joined = match split(requested) {
        Some((prefix, path)) if path.starts_with('/') => (prefix, path),
        // Relative: taken from the root, whatever its kind.
        _ if !requested.contains("://") && !requested.starts_with('/') => {
            (root_prefix.clone(), format!("/{}/{requested}", root_segments.join("/")))
        }
        _ => return None,
    };
    let segments = normalize(&joined.1)?;
    (joined.0 == root_prefix && segments.starts_with(&root_segments)).then(|| format!("{root_prefix}/{}", segments.join("/")))
}

/// A location's store prefix (`""` for local paths and `file://` URLs,
/// `scheme://authority` otherwise) and its path (absolute for URLs).
fn split(location: &str) -> Option<(String, String)> {
    match location.split_once("://") {
        None => Some((String::new(), location.to_string())),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => rest.starts_with('/').then(|| (String::new(), rest.to_string())),
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            Some((format!("{}://{authority}", scheme.to_ascii_lowercase()), format!("/{path}")))
        }
    }
}

/// A local path made absolute from the working directory (as the job takes it).
fn absolute(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(path.to_string());
    }
    std::path::absolute(path).ok().and_then(|p| p.to_str().map(str::to_string))
}

/// The segments of an absolute path with `.`, `..` and empty ones resolved;
/// `None` if `..` climbs above `/`.
fn normalize(path: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s.to_string()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn dirs(root: Option<&str>, anywhere: bool) -> SavepointDirs {
        SavepointDirs { root: root.map(str::to_string), anywhere }
    }

    fn resolve(d: &SavepointDirs, requested: Option<&str>) -> Result<String, (u16, String)> {
        d.resolve(requested.map(str::to_string), "dir").map_err(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
    }

    #[test]
    fn requests_stay_under_the_root() {
        let d = dirs(Some("/data/sp"), false);
        assert_eq!(resolve(&d, None).unwrap(), "/data/sp");
        for (requested, expected) in [
            ("/data/sp", "/data/sp"),
            ("/data/sp/", "/data/sp"),
            ("/data/sp/a/b", "/data/sp/a/b"),
            ("/data/sp/a/../b", "/data/sp/b"),
            ("/data/./sp//c", "/data/sp/c"),
            ("nightly", "/data/sp/nightly"),
            ("a/../b", "/data/sp/b"),
            ("file:///data/sp/x", "/data/sp/x"),
        ] {
            assert_eq!(resolve(&d, Some(requested)).unwrap(), expected, "{requested}");
        }
        for requested in
            ["/data/sp/../other", "/data/spx", "/data", "/", "..", "a/../../x", "/tmp/x", "s3://bucket/data/sp", "/data/sp/../../.."]
        {
            let (status, message) = resolve(&d, Some(requested)).unwrap_err();
            assert_eq!(status, 403, "{requested}");
            assert!(message.contains("/data/sp") && message.contains("--savepoint-dirs-anywhere"), "{message}");
        }
        assert_eq!(resolve(&d, Some(" ")).unwrap_err().0, 400);
    }

    #[test]
    fn roots_of_every_kind() {
        let d = dirs(Some("s3://bucket/sp"), false);
        assert_eq!(resolve(&d, Some("s3://bucket/sp/x")).unwrap(), "s3://bucket/sp/x");
        assert_eq!(resolve(&d, Some("x")).unwrap(), "s3://bucket/sp/x");
        assert_eq!(resolve(&d, Some("s3://other/sp/x")).unwrap_err().0, 403);
        assert_eq!(resolve(&d, Some("/sp/x")).unwrap_err().0, 403);
        let d = dirs(Some("file:///data/sp/"), false);
        assert_eq!(resolve(&d, Some("/data/sp/x")).unwrap(), "/data/sp/x");
        let cwd = std::env::current_dir().unwrap();
        let d = dirs(Some("sp"), false);
        assert_eq!(resolve(&d, Some(&format!("{}/sp/x", cwd.display()))).unwrap(), format!("{}/sp/x", cwd.display()));
    }

    #[test]
    fn anywhere_and_nowhere() {
        let d = dirs(None, true);
        assert_eq!(resolve(&d, Some("/tmp/x")).unwrap(), "/tmp/x");
        assert_eq!(resolve(&d, Some("rel/../x")).unwrap(), "rel/../x", "taken as given");
        assert!(resolve(&d, None).unwrap_err().1.contains("give \\\"dir\\\""));
        let d = dirs(Some("/sp"), true);
        assert_eq!(resolve(&d, Some("/elsewhere")).unwrap(), "/elsewhere");
        let d = dirs(None, false);
        let (status, message) = resolve(&d, Some("/tmp/x")).unwrap_err();
        assert_eq!(status, 403);
        assert!(message.contains("--savepoint-dir DIR") && message.contains("--savepoint-dirs-anywhere"), "{message}");
        let (status, message) = resolve(&d, None).unwrap_err();
        assert_eq!(status, 400);
        assert!(message.contains("--savepoint-dir"), "{message}");
    }
}
