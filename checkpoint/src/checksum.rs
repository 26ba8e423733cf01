//! Checksums of checkpoint files.

/// CRC-32C (Castagnoli) of `bytes`, as recorded in [`StateFile::checksum`](crate::StateFile::checksum).
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// CRC-32C of the local file at `path`, read in pieces.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f");
/// std::fs::write(&path, b"123456789")?;
/// assert_eq!(weir_checkpoint::checksum_file(&path)?, weir_checkpoint::checksum(b"123456789"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn checksum_file(path: &std::path::Path) -> std::io::Result<u32> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let (mut buf, mut crc) = (vec![0u8; 1 << 20], 0u32);
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(crc),
            n => crc = crc32c::crc32c_append(crc, &buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn known_values() {
        assert_eq!(checksum(b""), 0);
        // Standard CRC-32C check value.
        assert_eq!(checksum(b"123456789"), 0xe306_9283);
    }
}
