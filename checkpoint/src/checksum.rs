//! Checksums of checkpoint files.

/// CRC-32C (Castagnoli) of `bytes`, as recorded in [`StateFile::checksum`](crate::StateFile::checksum).
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
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
