//! Reading canonical blocks of either version without knowing the types:
//! sections, chunks, entries and timers.

use std::fmt::Display;

use super::framing::*;
use super::*;
use crate::StateError;

/// Which block is being read, for messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'a> {
    /// The file's path in the checkpoint.
    pub file: &'a str,
    pub key_group: u32,
}

impl At<'_> {
    /// A [`StateError::Corrupt`] naming the file and the key group.
    pub(crate) fn corrupt(&self, what: impl Display) -> StateError {
        StateError::Corrupt(format!("{}: key group {}: {what}", self.file, self.key_group))
    }
}

/// A block, parsed as far as its version allows without knowing the types.
pub(crate) enum Parsed<'a> {
    V1(Block),
    V2(Vec<Section<'a>>),
}

/// A section of a version-2 or version-3 block, with the value format of its entries.
pub(crate) enum Section<'a> {
    State { name: &'a str, type_name: &'a str, format: ValueFormat, sorted: bool, chunks: Chunks<'a> },
    Timers(ValueFormat, Chunks<'a>),
}

/// Parses the block of `at` (its chunks' headers are checked, their contents are not read yet).
pub(crate) fn parse_block<'a>(at: At<'_>, bytes: &'a [u8]) -> Result<Parsed<'a>, StateError> {
    match bytes {
        [MARKER, FORMAT_VERSION, rest @ ..] => parse_sections(at, rest, None).map(Parsed::V2),
        [MARKER, 2, rest @ ..] => parse_sections(at, rest, Some(ValueFormat::LEGACY)).map(Parsed::V2),
        [MARKER, version, ..] => Err(at.corrupt(format!(
            "the block is in canonical format version {version}, which this weir does not know (it reads versions 1 to {FORMAT_VERSION})"
        ))),
        [MARKER] => Err(at.corrupt("the block is cut short after its first byte")),
        _ => codec::decode(ValueFormat::LEGACY, bytes).map(Parsed::V1).map_err(|e| at.corrupt(format!("version-1 block: {e}"))),
    }
}

/// The sections of a block; `implied` is the value format of a version-2
/// block (its sections do not name one).
fn parse_sections<'a>(at: At<'_>, mut rest: &'a [u8], implied: Option<ValueFormat>) -> Result<Vec<Section<'a>>, StateError> {
    let mut sections = Vec::new();
    let format_of = |rest: &'a [u8], what: &str| -> Result<(ValueFormat, &'a [u8]), StateError> {
        if let Some(f) = implied {
            return Ok((f, rest));
        }
        let (&n, after) = rest.split_first().ok_or_else(|| at.corrupt(format!("{what}: cut short")))?;
        let format = ValueFormat::from_number(u32::from(n)).map_err(|e| at.corrupt(format!("{what}: {e}")))?;
        Ok((format, after))
    };
    while let Some((&kind, after)) = rest.split_first() {
        rest = after;
        match kind {
            SECTION_STATE => {
                let text = |rest: &'a [u8], what: &str| -> Result<(&'a str, &'a [u8]), StateError> {
                    let (bytes, rest) = take_framed(rest).ok_or_else(|| at.corrupt(format!("a state's {what} is cut short")))?;
                    let s = std::str::from_utf8(bytes).map_err(|_| at.corrupt(format!("a state's {what} is not UTF-8")))?;
                    Ok((s, rest))
                };
                let (name, after) = text(rest, "name")?;
                let (type_name, after) = text(after, "types")?;
                let (format, after) = format_of(after, &format!("state '{name}'"))?;
                let (&flags, after) = after.split_first().ok_or_else(|| at.corrupt(format!("state '{name}': cut short")))?;
                let (chunks, after) = split_chunks(after).map_err(|e| at.corrupt(format!("state '{name}': {e}")))?;
                sections.push(Section::State { name, type_name, format, sorted: flags & FLAG_SORTED != 0, chunks });
                rest = after;
            }
            SECTION_TIMERS => {
                let (format, after) = format_of(rest, "timers")?;
                let (chunks, after) = split_chunks(after).map_err(|e| at.corrupt(format!("timers: {e}")))?;
                sections.push(Section::Timers(format, chunks));
                rest = after;
            }
            other => return Err(at.corrupt(format!("unknown section kind {other}"))),
        }
    }
    Ok(sections)
}

/// Splits a chunk list (up to and including its end mark) from the start of `bytes`.
fn split_chunks(bytes: &[u8]) -> Result<(Chunks<'_>, &[u8]), String> {
    let mut pos = 0;
    loop {
        let raw_len = u32_at(bytes, pos).ok_or("the chunk list is cut short")?;
        if raw_len == 0 {
            return Ok((Chunks { bytes: &bytes[..pos] }, &bytes[pos + 4..]));
        }
        let stored = u32_at(bytes, pos + 4).ok_or("a chunk header is cut short")? as usize;
        pos = (pos + CHUNK_HEADER).checked_add(stored).filter(|&end| end <= bytes.len()).ok_or("a chunk is cut short")?;
    }
}

/// The chunks of a section (headers checked for length only).
#[derive(Clone, Copy)]
pub(crate) struct Chunks<'a> {
    bytes: &'a [u8],
}

impl<'a> Chunks<'a> {
    /// Calls `f` with each chunk's raw bytes in turn (decompressed into `buf`,
    /// which is only ever grown, or the stored bytes when they are raw).
    pub(crate) fn for_each(
        &self,
        at: At<'_>,
        buf: &mut Vec<u8>,
        mut f: impl FnMut(&[u8]) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut rest = self.bytes;
        while !rest.is_empty() {
            let (raw_len, stored, after) = split_chunk(at, rest)?;
            rest = after;
            if stored.len() == raw_len {
                f(stored)?;
                continue;
            }
            if buf.len() < raw_len {
                buf.resize(raw_len, 0);
            }
            decompress(at, stored, &mut buf[..raw_len])?;
            f(&buf[..raw_len])?;
        }
        Ok(())
    }

    /// Appends the raw bytes of every chunk to `out`.
    pub(crate) fn decompress_all(&self, at: At<'_>, out: &mut Vec<u8>) -> Result<(), StateError> {
        let mut rest = self.bytes;
        while !rest.is_empty() {
            let (raw_len, stored, after) = split_chunk(at, rest)?;
            rest = after;
            if stored.len() == raw_len {
                out.extend_from_slice(stored);
            } else {
                let start = out.len();
                out.resize(start + raw_len, 0);
                decompress(at, stored, &mut out[start..])?;
            }
        }
        Ok(())
    }
}

/// The chunk at the start of `bytes`, checked: its raw length, its stored bytes, and what follows it.
fn split_chunk<'a>(at: At<'_>, bytes: &'a [u8]) -> Result<(usize, &'a [u8], &'a [u8]), StateError> {
    let (Some(raw_len), Some(stored_len), Some(crc)) = (u32_at(bytes, 0), u32_at(bytes, 4), u32_at(bytes, 8)) else {
        return Err(at.corrupt("a chunk header is cut short"));
    };
    let (raw_len, stored_len) = (raw_len as usize, stored_len as usize);
    let stored = bytes.get(CHUNK_HEADER..CHUNK_HEADER + stored_len).ok_or_else(|| at.corrupt("a chunk is cut short"))?;
    if crc32c::crc32c(stored) != crc {
        return Err(at.corrupt("a chunk's checksum does not match its bytes"));
    }
    // LZ4 expands at most 255 times: a larger claim is damage, not a reason to allocate.
    if stored_len > raw_len || raw_len > stored_len.saturating_mul(255).saturating_add(16) {
        return Err(at.corrupt(format!("a chunk claims {raw_len} raw bytes stored in {stored_len}")));
    }
    Ok((raw_len, stored, &bytes[CHUNK_HEADER + stored_len..]))
}

/// Decompresses `stored` into exactly `out`.
fn decompress(at: At<'_>, stored: &[u8], out: &mut [u8]) -> Result<(), StateError> {
    match lz4_flex::block::decompress_into(stored, out) {
        Ok(n) if n == out.len() => Ok(()),
        Ok(n) => Err(at.corrupt(format!("a chunk decompresses to {n} bytes, not the {} it claims", out.len()))),
        Err(e) => Err(at.corrupt(format!("a chunk does not decompress: {e}"))),
    }
}

/// The entries in raw chunk bytes: `(codec((key, namespace)), codec(value))`.
pub(crate) fn entries(raw: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), &'static str>> + '_ {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some((key, after)) = take_framed(rest) else {
            rest = &[];
            return Some(Err("an entry's key is cut short"));
        };
        let Some((value, after)) = take_framed(after) else {
            rest = &[];
            return Some(Err("an entry's value is cut short"));
        };
        rest = after;
        Some(Ok((key, value)))
    })
}

/// The timers in raw chunk bytes: `(ts_bytes, codec((key, namespace)))`.
pub(crate) fn timers(raw: &[u8]) -> impl Iterator<Item = Result<([u8; 8], &[u8]), &'static str>> + '_ {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = rest.split_first_chunk::<8>().and_then(|(ts, after)| take_framed(after).map(|(tail, after)| (*ts, tail, after)));
        let Some((ts, tail, after)) = parsed else {
            rest = &[];
            return Some(Err("a timer is cut short"));
        };
        rest = after;
        Some(Ok((ts, tail)))
    })
}
