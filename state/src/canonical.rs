//! The canonical snapshot format: backend-independent and split by key group.
//!
//! One file per operator instance, `keyed.state`, holds a block per key group
//! that has state; `_metadata` lists each block's offset and length
//! ([`crate::KeyGroupOffset`]), so a restore reads only the blocks of its own
//! key groups. The hashmap backend's checkpoints are in this format; the
//! RocksDB backend writes it for canonical savepoints. Both backends restore
//! it, at any parallelism.
//!
//! # Version 2 (written since 2026-11)
//!
//! Every block starts with the byte `0xFF` (which no version-1 block starts
//! with) and the version, `2`, followed by sections until the block ends:
//!
//! ```text
//! block    = 0xFF 0x02 section*
//! section  = 0x01 str(name) str(types) flags:u8 chunks     a state's entries
//!          | 0x02 chunks                                   the key group's timers
//! str      = varint(len) bytes                             UTF-8
//! flags    = bit 0: the entries are in strictly increasing order of their key bytes
//! chunks   = chunk* u32(0)
//! chunk    = u32(raw_len) u32(stored_len) u32(crc32c of stored) stored
//! ```
//!
//! Integers `u32(..)` are little endian, `varint` is unsigned LEB128. A
//! chunk's `stored` bytes are `raw_len` bytes compressed in the LZ4 block
//! format when `stored_len < raw_len`, or the raw bytes themselves when
//! `stored_len == raw_len` (compression did not pay); `raw_len` is never 0,
//! so `u32(0)` ends the list. Writers cut chunks at about 64 KiB of raw bytes
//! and only between records. The raw bytes of a state section's chunks,
//! taken together, are its entries; those of a timer section, its timers:
//!
//! ```text
//! entry = varint(len) codec((key, namespace))  varint(len) codec(value)
//! timer = ts:8 bytes                           varint(len) codec((key, namespace))
//! ```
//!
//! `codec` is [`weir_checkpoint::codec`]; `ts` is the timer's timestamp as a
//! big-endian `u64` with the sign bit flipped, so that timers sort by time
//! as bytes. `types` is the state's declared `(namespace, value)` types as
//! `std::any::type_name` spells them: a restore compares it with the job's
//! declared types by name, before it reads any entry, and a backend that
//! stores keys and values encoded (RocksDB) copies the entries' bytes without
//! decoding them. The RocksDB backend writes every section sorted (its keys
//! are `key group ++ codec((key, namespace))`, so a restore streams them into
//! one SST file per state); the hashmap backend writes its entries in hash
//! order, and a RocksDB restore sorts such a section itself.
//!
//! # Version 1 (read only)
//!
//! A block is `codec(Block { tables: [(name, types, entries)], timers })`:
//!
//! ```text
//! entries = codec(count: u64) ++ (codec((key, namespace)) ++ codec(value))*
//! timers  = codec(count: u64) ++ (codec(timestamp) ++ codec((key, namespace)))*
//! ```
//!
//! that is `codec(Vec<((K, N), V)>)` and `codec(Vec<(i64, K, i64)>)`: the
//! entries are not framed, so only a reader that knows the types can tell
//! where one ends. Older hashmap checkpoints are in this format.

use std::fmt::Display;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_checkpoint::codec;

use crate::{KeyGroupOffset, KeyGroupRange, RestoredFile, SnapshotContent, SnapshotFile, StateError};

/// The name of the canonical file.
pub const KEYED_STATE_FILE: &str = "keyed.state";

/// The format version snapshots are written in.
pub const FORMAT_VERSION: u8 = 2;

/// The first byte of a block of version 2 or later (never that of a version-1 block).
const MARKER: u8 = 0xFF;
const SECTION_STATE: u8 = 1;
const SECTION_TIMERS: u8 = 2;
const FLAG_SORTED: u8 = 1;
const CHUNK_HEADER: usize = 12;
/// Raw bytes after which a writer starts a new chunk.
const CHUNK_BYTES: usize = 64 << 10;

/// One key group's block in version 1.
#[derive(Serialize, Deserialize)]
pub(crate) struct Block {
    /// `(state name, declared types, entries)`.
    pub tables: Vec<(String, String, Vec<u8>)>,
    /// The key group's timers.
    pub timers: Vec<u8>,
}

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
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint from the start of `bytes`: its value and the bytes it took.
#[inline]
fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
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
fn take_framed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, used) = get_varint(bytes)?;
    let rest = &bytes[used..];
    let len = usize::try_from(len).ok().filter(|&l| l <= rest.len())?;
    Some(rest.split_at(len))
}

/// Appends `varint(len) codec(value)`, encoding in place (the length is
/// patched in front; it takes one byte below 128 bytes of encoding).
#[inline]
fn encode_framed<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), StateError> {
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

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn too_large(what: &str, len: usize) -> StateError {
    StateError::Io(std::io::Error::other(format!("cannot write {what} of {len} bytes into a canonical snapshot: more than 4 GiB")))
}

/// Builds a canonical file (version 2) block by block, section by section.
///
/// A block is started with [`CanonicalWriter::begin_block`], a section with
/// [`CanonicalWriter::begin_state`] or [`CanonicalWriter::begin_timers`];
/// blocks and sections without any entry leave nothing in the file.
#[derive(Default)]
pub(crate) struct CanonicalWriter {
    out: Vec<u8>,
    offsets: Vec<KeyGroupOffset>,
    /// The open block's key group and start, and whether its first bytes are written.
    block: Option<(u32, usize, bool)>,
    /// The header of the open section (written with its first record).
    header: Vec<u8>,
    section_written: bool,
    /// Raw records of the open chunk.
    raw: Vec<u8>,
    compressed: Vec<u8>,
}

impl CanonicalWriter {
    /// Starts the block of `key_group` (blocks come in key-group order).
    pub(crate) fn begin_block(&mut self, key_group: u32) -> Result<(), StateError> {
        self.end_block()?;
        self.block = Some((key_group, self.out.len(), false));
        Ok(())
    }

    /// Starts the entries of a state; `sorted` promises strictly increasing keys.
    pub(crate) fn begin_state(&mut self, name: &str, type_name: &str, sorted: bool) -> Result<(), StateError> {
        self.end_section()?;
        self.header.clear();
        self.header.push(SECTION_STATE);
        put_varint(&mut self.header, name.len() as u64);
        self.header.extend_from_slice(name.as_bytes());
        put_varint(&mut self.header, type_name.len() as u64);
        self.header.extend_from_slice(type_name.as_bytes());
        self.header.push(if sorted { FLAG_SORTED } else { 0 });
        Ok(())
    }

    /// Starts the block's timers.
    pub(crate) fn begin_timers(&mut self) -> Result<(), StateError> {
        self.end_section()?;
        self.header.clear();
        self.header.push(SECTION_TIMERS);
        Ok(())
    }

    /// Adds an entry: `codec((key, namespace))` and `codec(value)`.
    #[inline]
    pub(crate) fn push_entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.open_section();
        put_varint(&mut self.raw, key.len() as u64);
        self.raw.extend_from_slice(key);
        put_varint(&mut self.raw, value.len() as u64);
        self.raw.extend_from_slice(value);
        if self.raw.len() >= CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Adds an entry, encoding `key` (a `(key, namespace)`) and `value` in place.
    #[inline]
    pub(crate) fn push_encoded<A: Serialize + ?Sized, B: Serialize + ?Sized>(&mut self, key: &A, value: &B) -> Result<(), StateError> {
        self.open_section();
        let start = self.raw.len();
        let result = encode_framed(&mut self.raw, key).and_then(|_| encode_framed(&mut self.raw, value));
        if result.is_err() {
            self.raw.truncate(start);
        }
        result?;
        if self.raw.len() >= CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Adds a timer: its timestamp as [`ts_bytes`] and `codec((key, namespace))`.
    #[inline]
    pub(crate) fn push_timer(&mut self, ts: [u8; 8], key_and_namespace: &[u8]) -> Result<(), StateError> {
        self.open_section();
        self.raw.extend_from_slice(&ts);
        put_varint(&mut self.raw, key_and_namespace.len() as u64);
        self.raw.extend_from_slice(key_and_namespace);
        if self.raw.len() >= CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(())
    }

    #[inline]
    fn open_section(&mut self) {
        if self.section_written {
            return;
        }
        if let Some((_, _, started)) = &mut self.block {
            if !*started {
                self.out.extend_from_slice(&[MARKER, FORMAT_VERSION]);
                *started = true;
            }
        }
        self.out.extend_from_slice(&self.header);
        self.section_written = true;
    }

    fn flush_chunk(&mut self) -> Result<(), StateError> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let raw_len = u32::try_from(self.raw.len()).map_err(|_| too_large("an entry", self.raw.len()))?;
        self.compressed.resize(lz4_flex::block::get_maximum_output_size(self.raw.len()), 0);
        let stored: &[u8] = match lz4_flex::block::compress_into(&self.raw, &mut self.compressed) {
            Ok(n) if n < self.raw.len() => &self.compressed[..n],
            _ => &self.raw,
        };
        self.out.reserve(CHUNK_HEADER + stored.len());
        self.out.extend_from_slice(&raw_len.to_le_bytes());
        self.out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&crc32c::crc32c(stored).to_le_bytes());
        self.out.extend_from_slice(stored);
        self.raw.clear();
        Ok(())
    }

    fn end_section(&mut self) -> Result<(), StateError> {
        if self.section_written {
            self.flush_chunk()?;
            self.out.extend_from_slice(&0u32.to_le_bytes());
            self.section_written = false;
        }
        self.header.clear();
        Ok(())
    }

    /// Ends the open block, if any.
    pub(crate) fn end_block(&mut self) -> Result<(), StateError> {
        self.end_section()?;
        if let Some((key_group, start, true)) = self.block.take() {
            self.offsets.push(KeyGroupOffset { key_group, offset: start as u64, len: (self.out.len() - start) as u64 });
        }
        Ok(())
    }

    /// The file, or none when no key group had anything.
    pub(crate) fn finish(mut self) -> Result<Vec<SnapshotFile>, StateError> {
        self.end_block()?;
        if self.out.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![SnapshotFile {
            name: KEYED_STATE_FILE.to_string(),
            content: SnapshotContent::Bytes(self.out),
            key_group_offsets: self.offsets,
            shared: false,
        }])
    }
}

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

/// A section of a version-2 block.
pub(crate) enum Section<'a> {
    State { name: &'a str, type_name: &'a str, sorted: bool, chunks: Chunks<'a> },
    Timers(Chunks<'a>),
}

/// Parses the block of `at` (its chunks' headers are checked, their contents are not read yet).
pub(crate) fn parse_block<'a>(at: At<'_>, bytes: &'a [u8]) -> Result<Parsed<'a>, StateError> {
    match bytes {
        [MARKER, FORMAT_VERSION, rest @ ..] => parse_sections(at, rest).map(Parsed::V2),
        [MARKER, version, ..] => Err(at.corrupt(format!(
            "the block is in canonical format version {version}, which this weir does not know (it reads versions 1 to {FORMAT_VERSION})"
        ))),
        [MARKER] => Err(at.corrupt("the block is cut short after its first byte")),
        _ => codec::decode(bytes).map(Parsed::V1).map_err(|e| at.corrupt(format!("version-1 block: {e}"))),
    }
}

fn parse_sections<'a>(at: At<'_>, mut rest: &'a [u8]) -> Result<Vec<Section<'a>>, StateError> {
    let mut sections = Vec::new();
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
                let (&flags, after) = after.split_first().ok_or_else(|| at.corrupt(format!("state '{name}': cut short")))?;
                let (chunks, after) = split_chunks(after).map_err(|e| at.corrupt(format!("state '{name}': {e}")))?;
                sections.push(Section::State { name, type_name, sorted: flags & FLAG_SORTED != 0, chunks });
                rest = after;
            }
            SECTION_TIMERS => {
                let (chunks, after) = split_chunks(rest).map_err(|e| at.corrupt(format!("timers: {e}")))?;
                sections.push(Section::Timers(chunks));
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

/// The canonical files of a restore, read from disk.
pub(crate) struct Loaded<'f> {
    files: Vec<(&'f RestoredFile, Bytes)>,
}

/// Reads the canonical files that hold blocks of `range`.
pub(crate) fn load(files: &[RestoredFile], range: KeyGroupRange) -> Result<Loaded<'_>, StateError> {
    let mut loaded = Vec::new();
    for file in files {
        if file.file_name != KEYED_STATE_FILE {
            return Err(StateError::Corrupt(format!(
                "{} is not in the canonical format: the checkpoint holds another state backend's own files",
                file.name
            )));
        }
        if file.key_group_offsets.iter().any(|o| range.contains(o.key_group)) {
            loaded.push((file, file.bytes()?));
        }
    }
    Ok(Loaded { files: loaded })
}

impl Loaded<'_> {
    /// Calls `f` with every block of `range`, in key-group order.
    pub(crate) fn blocks(
        &self,
        range: KeyGroupRange,
        mut f: impl FnMut(At<'_>, &[u8]) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        for key_group in range.iter() {
            for (file, contents) in &self.files {
                if let Some(bytes) = file.block(contents, key_group)? {
                    f(At { file: &file.name, key_group }, bytes)?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `files` are in the canonical format.
pub(crate) fn is_canonical(files: &[RestoredFile]) -> bool {
    files.iter().any(|f| f.file_name == KEYED_STATE_FILE)
}

/// A state's entries restored from one block, kept until the job declares the state's types.
pub(crate) enum RestoredEntries {
    /// Version 1: `codec(Vec<((K, N), V)>)`.
    V1(Vec<u8>),
    /// Version 2: the raw bytes of the section's chunks.
    V2(Vec<u8>),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at() -> At<'static> {
        At { file: "op-0/keyed.state", key_group: 7 }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(get_varint(&out), Some((v, out.len())));
        }
        assert_eq!(get_varint(&[0x80, 0x80]), None, "cut short");
        assert_eq!(get_varint(&[0xff; 11]), None, "too long");
    }

    #[test]
    fn timestamps_sort_as_bytes() {
        let ts = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in ts.windows(2) {
            assert!(ts_bytes(w[0]) < ts_bytes(w[1]));
            assert_eq!(ts_from_bytes(ts_bytes(w[0])), w[0]);
        }
    }

    fn written(entries: usize) -> (Vec<u8>, Vec<KeyGroupOffset>) {
        let mut w = CanonicalWriter::default();
        w.begin_block(3).unwrap();
        w.begin_state("empty", "(), u8", true).unwrap();
        w.begin_state("v", "(), alloc::string::String", true).unwrap();
        for i in 0..entries as u32 {
            w.push_entry(&i.to_be_bytes(), format!("value-{i}-{}", "x".repeat(40)).as_bytes()).unwrap();
        }
        w.begin_timers().unwrap();
        w.push_timer(ts_bytes(-5), b"k").unwrap();
        w.begin_block(4).unwrap();
        w.begin_block(9).unwrap();
        w.begin_timers().unwrap();
        w.push_timer(ts_bytes(8), b"").unwrap();
        let mut files = w.finish().unwrap();
        let f = files.pop().unwrap();
        let SnapshotContent::Bytes(bytes) = f.content else { panic!("bytes") };
        (bytes, f.key_group_offsets)
    }

    #[test]
    fn blocks_round_trip_in_chunks() {
        let (bytes, offsets) = written(5000);
        assert_eq!(offsets.iter().map(|o| o.key_group).collect::<Vec<_>>(), vec![3, 9], "empty blocks leave nothing");
        let block = &bytes[offsets[0].offset as usize..(offsets[0].offset + offsets[0].len) as usize];
        assert!(block.len() < 5000 * 40 / 4, "compressed: {} bytes", block.len());
        let Parsed::V2(sections) = parse_block(at(), block).unwrap() else { panic!("v2") };
        assert_eq!(sections.len(), 2, "the empty state is left out");
        let Section::State { name, type_name, sorted, chunks } = &sections[0] else { panic!("state") };
        assert_eq!((*name, *type_name, *sorted), ("v", "(), alloc::string::String", true));
        let mut buf = Vec::new();
        let (mut n, mut pieces) = (0u32, 0);
        chunks
            .for_each(at(), &mut buf, |raw| {
                pieces += 1;
                for e in entries(raw) {
                    let (k, v) = e.unwrap();
                    assert_eq!(k, n.to_be_bytes());
                    assert!(v.starts_with(format!("value-{n}-").as_bytes()));
                    n += 1;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 5000);
        assert!(pieces > 1, "cut into chunks");
        let Section::Timers(t) = &sections[1] else { panic!("timers") };
        let mut all = Vec::new();
        t.decompress_all(at(), &mut all).unwrap();
        assert_eq!(
            timers(&all).map(|t| t.unwrap()).map(|(ts, k)| (ts_from_bytes(ts), k.to_vec())).collect::<Vec<_>>(),
            vec![(-5, b"k".to_vec())]
        );
    }

    #[test]
    fn damage_is_named_never_a_panic() {
        let (bytes, offsets) = written(300);
        let block = bytes[offsets[0].offset as usize..(offsets[0].offset + offsets[0].len) as usize].to_vec();
        // Every single-byte change and every cut is either an error naming the
        // file and key group, or (in a length or flag that still parses) a block.
        for i in 0..block.len() {
            for damaged in [
                {
                    let mut b = block.clone();
                    b[i] ^= 0x41;
                    b
                },
                block[..i].to_vec(),
            ] {
                let result = parse_block(at(), &damaged).and_then(|p| match p {
                    Parsed::V1(_) => Ok(()),
                    Parsed::V2(sections) => {
                        let mut buf = Vec::new();
                        for s in sections {
                            let (Section::State { chunks, .. } | Section::Timers(chunks)) = s;
                            chunks.decompress_all(at(), &mut buf)?;
                        }
                        Ok(())
                    }
                });
                if let Err(e) = result {
                    let msg = e.to_string();
                    assert!(matches!(e, StateError::Corrupt(_)) && msg.contains("op-0/keyed.state: key group 7"), "{msg}");
                }
            }
        }
        let mut later = block.clone();
        later[1] = 3;
        let msg = parse_block(at(), &later).err().unwrap().to_string();
        assert!(msg.contains("version 3"), "{msg}");
    }

    #[test]
    fn entries_and_timers_report_cuts() {
        let mut raw = Vec::new();
        put_varint(&mut raw, 3);
        raw.extend_from_slice(b"ab");
        assert!(entries(&raw).next().unwrap().is_err());
        assert!(timers(&raw).next().unwrap().is_err());
    }
}
