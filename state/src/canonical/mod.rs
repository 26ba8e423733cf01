//! The canonical snapshot format: backend-independent and split by key group.
//!
//! One file per operator instance, `keyed.state`, holds a block per key group
//! that has state; `_metadata` lists each block's offset and length
//! ([`crate::KeyGroupOffset`]), so a restore reads only the blocks of its own
//! key groups. The hashmap backend's checkpoints are in this format; the
//! RocksDB backend writes it for canonical savepoints. Both backends restore
//! it, at any parallelism.
//!
//! # Version 3 (written since 2026-12)
//!
//! Every block starts with the byte `0xFF` (which no version-1 block starts
//! with) and the version, `3`, followed by sections until the block ends:
//!
//! ```text
//! block    = 0xFF 0x03 section*
//! section  = 0x01 str(name) str(schema) format:u8 flags:u8 chunks   a state's entries
//!          | 0x02 format:u8 chunks                                 the key group's timers
//! str      = varint(len) bytes                             UTF-8
//! format   = the value format of the section's encoded keys and values
//!            (crate::codec::ValueFormat: 1 bincode, 2 postcard)
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
//! entry = varint(len) key_bytes                varint(len) value_bytes
//! timer = ts:8 bytes                           varint(len) codec((key, namespace))
//! ```
//!
//! What `key_bytes` and `value_bytes` hold depends on the state's kind
//! (value and reducing: `codec((key, namespace))` and `codec(value)`; list:
//! the same key and every element's `codec(element)` one after another; map:
//! `codec((key, namespace)) codec(user key)` and `codec(value)`), see
//! [`crate::convert`]. `codec` is [`crate::codec`] in the section's format;
//! `ts` is the timer's timestamp as a big-endian `u64` with the sign bit
//! flipped, so that timers sort by time as bytes. `schema` is the state's
//! [`crate::Schema`] as JSON (kind, and the stable tags of its types): a
//! restore compares it with the job's declared schema before it reads any
//! entry, and a backend that stores keys and values encoded (RocksDB) copies
//! the entries' bytes without decoding them when both match and the format is
//! the current one. The RocksDB backend writes every section sorted (its keys
//! are `key group ++ key_bytes`, so a restore streams them into one SST file
//! per state); the hashmap backend writes its entries in hash order, and a
//! RocksDB restore sorts such a section itself.
//!
//! # Version 2 (read only)
//!
//! As version 3, with `0xFF 0x02` at the start of a block and without the
//! `format` bytes: everything is in value format 1 (bincode), and `schema` is
//! the Rust type name of the stored `(namespace, value)` (lists and maps
//! stored whole per key: `Vec<element>`, `HashMap<user key, value>`).
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

use crate::codec::{self, ValueFormat};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{KeyGroupRange, RestoredFile, StateError};

/// The name of the canonical file.
pub const KEYED_STATE_FILE: &str = "keyed.state";

/// The format version snapshots are written in.
pub const FORMAT_VERSION: u8 = 3;

/// The first byte of a block of version 2 or later (never that of a version-1 block).
const MARKER: u8 = 0xFF;
const SECTION_STATE: u8 = 1;
const SECTION_TIMERS: u8 = 2;
const FLAG_SORTED: u8 = 1;
const CHUNK_HEADER: usize = 12;
/// Raw bytes after which a writer starts a new chunk.
const CHUNK_BYTES: usize = 64 << 10;

mod framing;
mod read;
mod write;

pub(crate) use framing::{ts_bytes, ts_from_bytes};
pub(crate) use read::*;
pub(crate) use write::CanonicalWriter;

/// One key group's block in version 1.
#[derive(Serialize, Deserialize)]
pub(crate) struct Block {
    /// `(state name, declared types, entries)`.
    pub tables: Vec<(String, String, Vec<u8>)>,
    /// The key group's timers.
    pub timers: Vec<u8>,
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
    /// Version 1: `codec(Vec<((K, N), V)>)` in value format 1.
    V1(Vec<u8>),
    /// Version 2 or 3: the raw bytes of the section's chunks, and their value format.
    Framed(Vec<u8>, ValueFormat),
}

#[cfg(test)]
mod tests;
