//! The control token: the secret that state-changing requests carry as
//! `Authorization: Bearer <token>`.
//!
//! It comes from `--control-token-file`, or is generated at start and written,
//! readable by the job's user only, where a client that knows the job's
//! checkpoint directory finds it: `<checkpoint-dir>/_control_token`, next to
//! the directory's lock, when the checkpoint directory is local; otherwise
//! `<state-dir>/_control_token`. Any local process could otherwise stop the job
//! or write savepoints wherever the job's user may write; with the token only
//! those that can read the file (or were given it) can.

use std::io::Write;
use std::path::{Path, PathBuf};

use weir_checkpoint::CheckpointLocation;

use crate::{JobConfig, JobError};

/// The name of a generated token's file.
pub const TOKEN_FILE: &str = "_control_token";

/// Random bytes in a generated token (hex-encoded in the file).
const TOKEN_BYTES: usize = 32;

/// The token of a running endpoint and where it is (not `Debug`: it holds the token).
pub(crate) struct ControlToken {
    /// The secret.
    pub secret: String,
    /// The file that holds it.
    pub file: PathBuf,
    /// Written by this job (and removed when the endpoint stops).
    pub generated: bool,
}

impl Drop for ControlToken {
    fn drop(&mut self) {
        if self.generated {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// Where a job that was given no `--control-token-file` writes its token.
pub fn default_token_file(checkpoint_location: Option<&str>, state_dir: &Path) -> PathBuf {
    match checkpoint_location.and_then(|l| CheckpointLocation::parse(l).ok()) {
        Some(CheckpointLocation::Local { dir, .. }) => dir.join(TOKEN_FILE),
        _ => state_dir.join(TOKEN_FILE),
    }
}

/// The job's token: read from `--control-token-file`, or generated and written
/// to [`default_token_file`].
pub(crate) fn prepare(config: &JobConfig) -> Result<ControlToken, JobError> {
    if let Some(file) = &config.control_token_file {
        let secret = read_token_file(file)?;
        return Ok(ControlToken { secret, file: file.clone(), generated: false });
    }
    let file = default_token_file(config.checkpoint.as_ref().map(|c| c.location.as_str()), &config.state_dir);
    let secret = generate()?;
    write_owner_only(&file, &secret)?;
    Ok(ControlToken { secret, file, generated: true })
}

/// Reads a token file: its first line, without surrounding white space.
fn read_token_file(file: &Path) -> Result<String, JobError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| JobError::io(format!("--control-token-file {}: reading it", file.display()), e))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(JobError::Config(format!(
            "--control-token-file {}: the file holds no token (its first line is empty)",
            file.display()
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(JobError::Config(format!(
            "--control-token-file {}: a token is printable ASCII without spaces (it travels in an HTTP header)",
            file.display()
        )));
    }
    Ok(token)
}

/// 32 random bytes from the operating system, as 64 hex digits.
fn generate() -> Result<String, JobError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        JobError::io("generating the control token", std::io::Error::other(format!("no random bytes from the system: {e}")))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `token` to a new file at `path` that only its owner may read
/// (0600 from its creation on: there is no moment at which others could open it).
fn write_owner_only(path: &Path, token: &str) -> Result<(), JobError> {
    let io = |e| JobError::io(format!("writing the control token to {}", path.display()), e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // A file left by a job that was killed: replaced, never reused (its
    // permissions or its owner might not be ours).
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{token}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(io)
}

/// Whether `given` equals `secret`, in a time that does not depend on where
/// they first differ.
pub(crate) fn matches(given: &str, secret: &str) -> bool {
    let (a, b) = (given.as_bytes(), secret.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn generated_tokens_are_private_random_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = JobConfig::new("t");
        config.state_dir = dir.path().join("state");
        let token = prepare(&config).unwrap();
        assert_eq!(token.file, dir.path().join("state").join(TOKEN_FILE));
        assert_eq!(token.secret.len(), 64);
        assert!(token.secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(std::fs::read_to_string(&token.file).unwrap().trim(), token.secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&token.file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let other = prepare(&config).unwrap();
        assert_ne!(other.secret, token.secret);
        let file = other.file.clone();
        drop(other);
        assert!(!file.exists(), "a generated token's file is removed with it");
    }

    #[test]
    fn token_files_and_default_places() {
        let dir = tempfile::tempdir().unwrap();
        let chk = dir.path().join("chk");
        assert_eq!(default_token_file(Some(chk.to_str().unwrap()), dir.path()), chk.join(TOKEN_FILE));
        assert_eq!(default_token_file(Some(&format!("file://{}", chk.display())), dir.path()), chk.join(TOKEN_FILE));
        assert_eq!(default_token_file(Some("s3://bucket/x"), dir.path()), dir.path().join(TOKEN_FILE));
        assert_eq!(default_token_file(None, dir.path()), dir.path().join(TOKEN_FILE));

        let file = dir.path().join("token");
        let mut config = JobConfig::new("t");
        config.control_token_file = Some(file.clone());
        assert!(prepare(&config).err().unwrap().to_string().contains("--control-token-file"));
        std::fs::write(&file, "\n").unwrap();
        assert!(prepare(&config).err().unwrap().to_string().contains("holds no token"));
        std::fs::write(&file, "  s3cret \nignored\n").unwrap();
        let token = prepare(&config).unwrap();
        assert_eq!(token.secret, "s3cret");
        drop(token);
        assert!(file.exists(), "a given token file is the user's own");
    }

    #[test]
    fn compares_tokens() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abd", "abc"));
        assert!(!matches("ab", "abc"));
        assert!(!matches("", "abc"));
    }
}
