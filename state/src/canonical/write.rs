//! Writing a canonical file (version 3).

use serde::Serialize;

use super::framing::*;
use super::*;
use crate::codec::ValueFormat;
use crate::{KeyGroupOffset, SnapshotContent, SnapshotFile, StateError};

/// Builds a canonical file (version 3) block by block, section by section.
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

    /// Starts the entries of a state, described by `schema` and encoded in
    /// `format`; `sorted` promises strictly increasing keys.
    pub(crate) fn begin_state(&mut self, name: &str, schema: &str, format: ValueFormat, sorted: bool) -> Result<(), StateError> {
        self.end_section()?;
        self.header.clear();
        self.header.push(SECTION_STATE);
        put_varint(&mut self.header, name.len() as u64);
        self.header.extend_from_slice(name.as_bytes());
        put_varint(&mut self.header, schema.len() as u64);
        self.header.extend_from_slice(schema.as_bytes());
        self.header.push(format.number() as u8);
        self.header.push(if sorted { FLAG_SORTED } else { 0 });
        Ok(())
    }

    /// Starts the block's timers.
    pub(crate) fn begin_timers(&mut self) -> Result<(), StateError> {
        self.end_section()?;
        self.header.clear();
        self.header.push(SECTION_TIMERS);
        self.header.push(ValueFormat::CURRENT.number() as u8);
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

    /// Appends the blocks of `other`, whose key groups all follow this
    /// writer's: the two files joined, as if one writer had written both.
    pub(crate) fn append(&mut self, mut other: CanonicalWriter) -> Result<(), StateError> {
        self.end_block()?;
        other.end_block()?;
        let shift = self.out.len() as u64;
        if self.out.is_empty() {
            self.out = other.out;
        } else {
            self.out.extend_from_slice(&other.out);
        }
        self.offsets.extend(other.offsets.into_iter().map(|o| KeyGroupOffset { offset: o.offset + shift, ..o }));
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
