//! The value format of state: how keys, namespaces, values and operator
//! state are turned into bytes. The only place in weir that names a codec.
//!
//! Every file that holds encoded state says which [`ValueFormat`] it was
//! written in (a canonical block's section, the RocksDB backend's metadata,
//! `_metadata` for inline operator state), and a reader decodes with that
//! format. Writers always use [`ValueFormat::CURRENT`].
//!
//! | format | codec | written by | specification |
//! |---|---|---|---|
//! | 1 | bincode 2.0 over serde, `config::standard()` | weir before value formats had a number | bincode's `docs/spec.md` (read only here) |
//! | 2 | postcard 1.x over serde | weir since | the postcard wire format, stable for all of 1.x |
//!
//! postcard was chosen because its wire format is published and promised
//! stable for the 1.x line, it is maintained, compact (LEB128 varints,
//! zigzag for signed integers) and self-delimiting: an encoded value is never
//! a prefix of another value of the same type, which the RocksDB backend's
//! per-entry keys rely on (`key ++ user key` prefix scans).
//!
//! ```
//! use weir_state::codec::{self, ValueFormat};
//! let bytes = codec::encode(&("user-7".to_string(), 42u64)).unwrap();
//! let back: (String, u64) = codec::decode(ValueFormat::CURRENT, &bytes).unwrap();
//! assert_eq!(back, ("user-7".to_string(), 42));
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encoding or decoding with the value format failed.
///
/// The codec's error is carried as text so that the codec stays an
/// implementation detail of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded.
    #[error("cannot encode state: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
    /// The bytes could not be decoded as the expected type.
    #[error("cannot decode state ({format}): {reason}")]
    Decode {
        /// The format the bytes were read as.
        format: ValueFormat,
        /// The decoder's message.
        reason: String,
    },
    /// [`decode`] read a whole value but bytes were left over.
    #[error("cannot decode state ({format}): {trailing} trailing bytes after a value of {consumed} bytes")]
    TrailingBytes {
        /// The format the bytes were read as.
        format: ValueFormat,
        /// Bytes the value occupied.
        consumed: usize,
        /// Bytes left after it.
        trailing: usize,
    },
    /// A file names a value format this build does not know.
    #[error("value format {0} is unknown to this weir (it reads formats 1 and 2)")]
    Unknown(u32),
}

/// A value format: the codec that encoded a piece of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ValueFormat {
    /// bincode 2.0.1, standard configuration (read only).
    Bincode = 1,
    /// postcard 1.x.
    #[default]
    Postcard = 2,
}

impl ValueFormat {
    /// The format this build writes.
    pub const CURRENT: ValueFormat = ValueFormat::Postcard;
    /// The format of files that do not name one (written before formats had numbers).
    pub const LEGACY: ValueFormat = ValueFormat::Bincode;

    /// The format's number, as files record it.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The format numbered `n`.
    ///
    /// ```
    /// use weir_state::codec::ValueFormat;
    /// assert_eq!(ValueFormat::from_number(2).unwrap(), ValueFormat::Postcard);
    /// assert!(ValueFormat::from_number(9).is_err());
    /// ```
    pub fn from_number(n: u32) -> Result<Self, CodecError> {
        match n {
            1 => Ok(ValueFormat::Bincode),
            2 => Ok(ValueFormat::Postcard),
            other => Err(CodecError::Unknown(other)),
        }
    }
}

impl fmt::Display for ValueFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueFormat::Bincode => f.write_str("value format 1 (bincode)"),
            ValueFormat::Postcard => f.write_str("value format 2 (postcard)"),
        }
    }
}

/// Appends to a `Vec` without a copy: postcard's output for [`encode_into`].
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();
    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // Varints and small integers come here a few bytes at a time: a
        // byte loop beats a call to `memmove` for those (state keys are
        // encoded once per state access).
        if data.len() <= 16 {
            self.0.reserve(data.len());
            for &b in data {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }
    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }
    #[inline]
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Encodes `value` in the current format into a new buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` in the current format to `out`.
///
/// On error `out` is left as it was before the call.
#[inline]
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let before = out.len();
    match postcard::serialize_with_flavor(value, Append(out)) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(before);
            Err(CodecError::Encode { reason: e.to_string() })
        }
    }
}

/// Decodes one value in `format` that must occupy all of `bytes`.
#[inline]
pub fn decode<T: DeserializeOwned>(format: ValueFormat, bytes: &[u8]) -> Result<T, CodecError> {
    let (value, consumed) = decode_prefix(format, bytes)?;
    if consumed != bytes.len() {
        return Err(CodecError::TrailingBytes { format, consumed, trailing: bytes.len() - consumed });
    }
    Ok(value)
}

/// Decodes one value in `format` from the start of `bytes`, returning it
/// and the number of bytes it occupied.
#[inline]
pub fn decode_prefix<T: DeserializeOwned>(format: ValueFormat, bytes: &[u8]) -> Result<(T, usize), CodecError> {
    match format {
        ValueFormat::Postcard => postcard::take_from_bytes(bytes)
            .map(|(v, rest)| (v, bytes.len() - rest.len()))
            .map_err(|e| CodecError::Decode { format, reason: e.to_string() }),
        ValueFormat::Bincode => bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(|e| CodecError::Decode { format, reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        key: String,
        count: u64,
        delta: i32,
        window: Option<(i64, i64)>,
        map: BTreeMap<u32, Vec<u8>>,
    }

    fn sample() -> Sample {
        Sample {
            key: "user-7".into(),
            count: 300,
            delta: -2,
            window: Some((-1000, 5000)),
            map: [(1, vec![1, 2, 3]), (9, vec![])].into_iter().collect(),
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample()).unwrap();
        assert_eq!(decode::<Sample>(ValueFormat::CURRENT, &bytes).unwrap(), sample());
    }

    /// The bytes of format 2 as postcard's specification gives them, written
    /// out by hand: if this fails, format 2 changed and old files no longer read.
    #[test]
    fn format_2_bytes_follow_the_postcard_specification() {
        let bytes = encode(&sample()).unwrap();
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            6, b'u', b's', b'e', b'r', b'-', b'7', // string: varint length, UTF-8
            0xac, 0x02,                            // u64 300 as LEB128
            3,                                     // i32 -2 zigzag-encoded
            1, 0xcf, 0x0f, 0x90, 0x4e,             // Some((-1000, 5000)): zigzag varints
            2, 1, 3, 1, 2, 3, 9, 0,                // map of two: key, then a byte list
        ];
        assert_eq!(bytes, expected);
    }

    /// Format 1 stays readable: bytes as bincode 2.0.1's standard configuration wrote them.
    #[test]
    fn format_1_still_decodes() {
        let written: Vec<u8> =
            vec![6, b'u', b's', b'e', b'r', b'-', b'7', 251, 0x2c, 0x01, 3, 1, 251, 0xcf, 0x07, 251, 0x10, 0x27, 2, 1, 3, 1, 2, 3, 9, 0];
        let decoded: Sample = decode(ValueFormat::Bincode, &written).unwrap();
        assert_eq!(decoded, sample());
    }

    #[test]
    fn encode_into_appends() {
        let mut out = vec![0xff];
        encode_into(&7u32, &mut out).unwrap();
        encode_into(&"x", &mut out).unwrap();
        assert_eq!(out[0], 0xff);
        let (n, used) = decode_prefix::<u32>(ValueFormat::CURRENT, &out[1..]).unwrap();
        assert_eq!(n, 7);
        let s: String = decode(ValueFormat::CURRENT, &out[1 + used..]).unwrap();
        assert_eq!(s, "x");
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        let mut bytes = encode(&5u64).unwrap();
        bytes.push(0);
        let err = decode::<u64>(ValueFormat::CURRENT, &bytes).unwrap_err();
        assert_eq!(err, CodecError::TrailingBytes { format: ValueFormat::CURRENT, consumed: 1, trailing: 1 });
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = encode(&sample()).unwrap();
        let err = decode::<Sample>(ValueFormat::CURRENT, &bytes[..bytes.len() - 2]).unwrap_err();
        assert!(matches!(err, CodecError::Decode { .. }), "{err}");
    }
}
