//! How keyed state is laid out in RocksDB: every key starts with its key
//! group (2 bytes, big-endian), so the entries of a key-group range are one
//! contiguous key range that can be iterated in order and cut out.

use serde::Serialize;
use weir_checkpoint::codec;

use crate::StateError;

/// Bytes of the key-group prefix.
pub(crate) const KG_BYTES: usize = 2;

/// `[kg][codec(key, namespace)]` into `out` (cleared first).
#[inline]
pub(crate) fn state_key<K: Serialize, N: Serialize>(out: &mut Vec<u8>, kg: u32, key: &K, ns: &N) -> Result<(), StateError> {
    out.clear();
    out.extend_from_slice(&(kg as u16).to_be_bytes());
    codec::encode_into(&(key, ns), out)?;
    Ok(())
}

/// Timestamps ordered as unsigned big-endian bytes: flip the sign bit.
#[inline]
pub(crate) fn ordered_ts(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

#[inline]
pub(crate) fn ts_from_ordered(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// `[kg][ordered ts][codec(key, namespace)]` into `out` (cleared first).
#[inline]
pub(crate) fn timer_key<K: Serialize>(out: &mut Vec<u8>, kg: u32, ts: i64, key: &K, ns: i64) -> Result<(), StateError> {
    out.clear();
    out.extend_from_slice(&(kg as u16).to_be_bytes());
    out.extend_from_slice(&ordered_ts(ts));
    codec::encode_into(&(key, ns), out)?;
    Ok(())
}

/// The key group of a stored key.
#[inline]
pub(crate) fn key_group_of_stored(key: &[u8]) -> Option<u32> {
    key.get(..KG_BYTES).map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_bytes() {
        let ts = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in ts.windows(2) {
            assert!(ordered_ts(w[0]) < ordered_ts(w[1]));
            assert_eq!(ts_from_ordered(ordered_ts(w[0])), w[0]);
        }
    }
}
