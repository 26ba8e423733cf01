//! How keyed state is laid out in RocksDB: every key starts with its key
//! group (2 bytes, big-endian), so the entries of a key-group range are one
//! contiguous key range that can be iterated in order and cut out.

use crate::codec;
use serde::Serialize;

use crate::StateError;

/// Bytes of the key-group prefix.
pub(crate) const KG_BYTES: usize = 2;

/// Bytes of the state-index prefix of a cache key (see [`cache_key`]).
pub(crate) const STATE_BYTES: usize = 2;

/// `[state index][kg][codec(key, namespace)]` into `out` (cleared first): the
/// write cache's key, whose tail from [`STATE_BYTES`] on is the RocksDB key.
#[inline]
pub(crate) fn cache_key<K: Serialize, N: Serialize>(out: &mut Vec<u8>, state: usize, kg: u32, key: &K, ns: &N) -> Result<(), StateError> {
    out.clear();
    out.extend_from_slice(&(state as u16).to_be_bytes());
    out.extend_from_slice(&(kg as u16).to_be_bytes());
    codec::encode_into(&(key, ns), out)?;
    Ok(())
}

/// The cache key of `stored`, a key as stored in the column family of state `state`.
#[inline]
pub(crate) fn cache_key_of_stored(out: &mut Vec<u8>, state: usize, stored: &[u8]) {
    out.clear();
    out.extend_from_slice(&(state as u16).to_be_bytes());
    out.extend_from_slice(stored);
}

/// The state index of a cache key.
#[inline]
pub(crate) fn state_of_cache_key(key: &[u8]) -> usize {
    key.get(..STATE_BYTES).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])))
}

/// The timestamp of a stored timer key.
#[inline]
pub(crate) fn timer_ts(key: &[u8]) -> Option<i64> {
    let mut ts = [0u8; 8];
    ts.copy_from_slice(key.get(KG_BYTES..KG_BYTES + 8)?);
    Some(ts_from_ordered(ts))
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

/// `[kg][ordered ts][tail]` into `out` (cleared first), `tail` being an encoded `(key, namespace)`.
#[inline]
pub(crate) fn timer_key_from_tail(out: &mut Vec<u8>, kg: u32, ts: i64, tail: &[u8]) {
    out.clear();
    out.extend_from_slice(&(kg as u16).to_be_bytes());
    out.extend_from_slice(&ordered_ts(ts));
    out.extend_from_slice(tail);
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
