//! Framing shared by the canonical writer and reader: varints, framed
//! codec values, sortable timestamps, little-endian lengths.

use crate::codec;
use serde::Serialize;

use crate::StateError;

/// A timestamp as 8 bytes that sort like the timestamps.
#[inline]
pub(crate) fn ts_bytes(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// The timestamp of [`ts_bytes`].
#[inline]
pub(crate) fn ts_from_bytes(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

#[inline]
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint from the start of `bytes`: its value and the bytes it took.
#[inline]
pub(super) fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Splits a `varint(len) bytes` from the start of `bytes`: the bytes and what follows.
#[inline]
pub(super) fn take_framed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = get_varint(bytes)?;
    let rest = &bytes[used..];
    let len = usize::try_from(len).ok().filter(|&l| l <= rest.len())?;
    Some(rest.split_at(len))
}

/// Appends `varint(len) codec(value)`, encoding in place (the length is
/// patched in front; it takes one byte below 128 bytes of encoding).
#[inline]
pub(super) fn encode_framed<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), StateError> {
    let at = out.len();
    out.push(0);
    codec::encode_into(value, out)?;
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        put_varint(&mut prefix, len as u64);
        out.splice(at..at + 1, prefix);
    }
    Ok(())
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(super) fn too_large(what: &str, len: usize) -> StateError {
    StateError::Io(std::io::Error::other(format!("cannot write {what} of {len} bytes into a canonical snapshot: more than 4 GiB")))
}
