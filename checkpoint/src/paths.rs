//! Normalization of the `/`-separated relative paths used inside checkpoint storage.

/// Normalizes a relative path: drops empty and `.` segments and resolves `..`.
///
/// Returns `None` if the path is absolute (starts with `/`) or if a `..` would
/// leave the root. The root itself normalizes to the empty string.
pub(crate) fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    join_normalized("", path)
}

/// Joins `base` and `rel` (both relative) and normalizes the result as [`normalize`] does.
pub(crate) fn join_normalized(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || base.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in base.split('/').chain(rel.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// `<dir>/<name>`, or `name` alone for the root (`dir` empty); no normalization.
pub(crate) fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::{join, join_normalized, normalize};

    #[test]
    fn joins_plainly() {
        assert_eq!(join("", "_metadata"), "_metadata");
        assert_eq!(join("chk-1/", "_metadata"), "chk-1/_metadata");
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize("a/b").as_deref(), Some("a/b"));
        assert_eq!(normalize("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("").as_deref(), Some(""));
        assert_eq!(normalize("a/..").as_deref(), Some(""));
        assert_eq!(normalize(".."), None);
        assert_eq!(normalize("a/../.."), None);
        assert_eq!(normalize("/etc/passwd"), None);
    }

    #[test]
    fn joins() {
        assert_eq!(join_normalized("chk-3", "x").as_deref(), Some("chk-3/x"));
        assert_eq!(join_normalized("chk-3", "../shared/x").as_deref(), Some("shared/x"));
        assert_eq!(join_normalized("chk-3", "../../x"), None);
        assert_eq!(join_normalized("chk-3", "/x"), None);
    }
}
