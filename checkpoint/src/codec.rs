//! The binary codec for state: the only place in weir where `bincode` is used.
//!
//! All functions use `bincode::config::standard()` (little endian, variable-length
//! integers) through bincode's serde integration, so any `serde` type can be
//! stored. Keeping the codec behind these four functions lets the format be
//! changed in one place.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encoding or decoding with the binary codec failed.
///
/// The bincode error is carried as text so that bincode stays an implementation
/// detail of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded.
    #[error("cannot encode state: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
    /// The bytes could not be decoded as the expected type.
    #[error("cannot decode state: {reason}")]
    Decode {
        /// The decoder's message.
        reason: String,
    },
    /// [`decode`] read a whole value but bytes were left over.
    #[error("cannot decode state: {trailing} trailing bytes after a value of {consumed} bytes")]
    TrailingBytes {
        /// Bytes the value occupied.
        consumed: usize,
        /// Bytes left after it.
        trailing: usize,
    },
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes `value` into a new buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out`.
///
/// On error `out` is left as it was before the call.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let before = out.len();
    match bincode::serde::encode_into_std_write(value, out, config()) {
        Ok(_) => Ok(()),
        Err(e) => {
            out.truncate(before);
            Err(CodecError::Encode { reason: e.to_string() })
        }
    }
}

/// Decodes one value that must occupy all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, consumed) = decode_prefix(bytes)?;
    if consumed != bytes.len() {
        return Err(CodecError::TrailingBytes { consumed, trailing: bytes.len() - consumed });
    }
    Ok(value)
}

/// Decodes one value from the start of `bytes`, returning it and the number of
/// bytes it occupied.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    bincode::serde::decode_from_slice(bytes, config()).map_err(|e| CodecError::Decode { reason: e.to_string() })
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
        window: Option<(i64, i64)>,
        map: BTreeMap<u32, Vec<u8>>,
    }

    fn sample() -> Sample {
        Sample {
            key: "user-7".into(),
            count: 42,
            window: Some((-1000, 5000)),
            map: [(1, vec![1, 2, 3]), (9, vec![])].into_iter().collect(),
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample()).unwrap();
        assert_eq!(decode::<Sample>(&bytes).unwrap(), sample());
    }

    #[test]
    fn unsized_values_encode() {
        let a = encode("abc").unwrap();
        let b = encode(&[1u8, 2, 3][..]).unwrap();
        assert_eq!(decode::<String>(&a).unwrap(), "abc");
        assert_eq!(decode::<Vec<u8>>(&b).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn encode_into_appends() {
        let mut out = vec![0xff];
        encode_into(&7u32, &mut out).unwrap();
        encode_into(&"x", &mut out).unwrap();
        assert_eq!(out[0], 0xff);
        let (n, used) = decode_prefix::<u32>(&out[1..]).unwrap();
        assert_eq!(n, 7);
        let s: String = decode(&out[1 + used..]).unwrap();
        assert_eq!(s, "x");
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        let mut bytes = encode(&5u64).unwrap();
        bytes.push(0);
        let err = decode::<u64>(&bytes).unwrap_err();
        assert_eq!(err, CodecError::TrailingBytes { consumed: 1, trailing: 1 });
    }

    #[test]
    fn decode_prefix_reports_consumed() {
        let mut bytes = encode(&"hello").unwrap();
        let len = bytes.len();
        bytes.extend_from_slice(b"rest");
        let (s, used) = decode_prefix::<String>(&bytes).unwrap();
        assert_eq!((s.as_str(), used), ("hello", len));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = encode(&sample()).unwrap();
        let err = decode::<Sample>(&bytes[..bytes.len() - 2]).unwrap_err();
        assert!(matches!(err, CodecError::Decode { .. }), "{err}");
    }
}
