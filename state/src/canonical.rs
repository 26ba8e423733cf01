//! The canonical snapshot format: backend-independent and split by key group.
//!
//! One file, `keyed.state`, holds a block per key group (its offset and
//! length are in `_metadata`, so a restore reads only the blocks of its own
//! key groups). A block lists, per state, its name, its declared types and
//! its entries, then the key group's timers:
//!
//! ```text
//! block   = codec(Block { tables: [(name, type, entries)], timers })
//! entries = codec(count: u64) ++ (codec((key, namespace)) ++ codec(value))*
//! timers  = codec(count: u64) ++ (codec(timestamp) ++ codec((key, namespace)))*
//! ```
//!
//! `entries` is exactly `codec(Vec<((K, N), V)>)` and `timers` exactly
//! `codec(Vec<(i64, K, i64)>)`; a backend that stores keys and values
//! already encoded (RocksDB) writes them without decoding them. The hashmap
//! backend's checkpoints are in this format; the RocksDB backend writes it
//! for canonical savepoints. Both backends restore it.

use serde::{Deserialize, Serialize};
use weir_checkpoint::codec;

use crate::{KeyGroupOffset, KeyGroupRange, RestoredFile, SnapshotContent, SnapshotFile, StateError};

/// The name of the canonical file.
pub const KEYED_STATE_FILE: &str = "keyed.state";

/// One key group's block.
#[derive(Serialize, Deserialize)]
pub(crate) struct Block {
    /// `(state name, declared types, entries)`.
    pub tables: Vec<(String, String, Vec<u8>)>,
    /// The key group's timers.
    pub timers: Vec<u8>,
}

/// A list of already encoded elements, written as `codec(Vec<_>)` would.
#[derive(Default)]
pub(crate) struct EncodedList {
    count: u64,
    body: Vec<u8>,
}

impl EncodedList {
    /// Appends one element, given as the concatenation of `parts`.
    pub(crate) fn push(&mut self, parts: &[&[u8]]) {
        self.count += 1;
        for p in parts {
            self.body.extend_from_slice(p);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded list.
    pub(crate) fn finish(self) -> Result<Vec<u8>, StateError> {
        let mut out = codec::encode(&self.count)?;
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// Builds a canonical file block by block.
#[derive(Default)]
pub(crate) struct CanonicalWriter {
    out: Vec<u8>,
    offsets: Vec<KeyGroupOffset>,
}

impl CanonicalWriter {
    /// Appends the block of `key_group` (blocks come in key-group order).
    pub(crate) fn push(&mut self, key_group: u32, block: &Block) -> Result<(), StateError> {
        let start = self.out.len();
        codec::encode_into(block, &mut self.out)?;
        self.offsets.push(KeyGroupOffset { key_group, offset: start as u64, len: (self.out.len() - start) as u64 });
        Ok(())
    }

    /// The file, or none when no key group had anything.
    pub(crate) fn finish(self) -> Vec<SnapshotFile> {
        if self.out.is_empty() {
            return Vec::new();
        }
        vec![SnapshotFile {
            name: KEYED_STATE_FILE.to_string(),
            content: SnapshotContent::Bytes(self.out),
            key_group_offsets: self.offsets,
            shared: false,
        }]
    }
}

/// Calls `f` with every block of `range` in `files` (canonical files only).
pub(crate) fn read_blocks(
    files: &[RestoredFile],
    range: KeyGroupRange,
    mut f: impl FnMut(u32, Block) -> Result<(), StateError>,
) -> Result<(), StateError> {
    for file in files {
        if file.file_name != KEYED_STATE_FILE {
            return Err(StateError::Corrupt(format!(
                "{} is not in the canonical format: the checkpoint holds another state backend's own files",
                file.name
            )));
        }
        let contents = file.bytes()?;
        for kg in range.iter() {
            let Some(bytes) = file.block(&contents, kg)? else { continue };
            let block: Block = codec::decode(bytes).map_err(|e| StateError::Corrupt(format!("{}: key group {kg}: {e}", file.name)))?;
            f(kg, block)?;
        }
    }
    Ok(())
}

/// Whether `files` are in the canonical format.
pub(crate) fn is_canonical(files: &[RestoredFile]) -> bool {
    files.iter().any(|f| f.file_name == KEYED_STATE_FILE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn encoded_list_is_the_codec_of_a_vec() {
        let entries: Vec<((u64, i64), String)> = vec![((1, -2), "a".into()), ((300, 7), "bcd".into())];
        let mut list = EncodedList::default();
        for ((k, n), v) in &entries {
            list.push(&[&codec::encode(&(k, n)).unwrap(), &codec::encode(v).unwrap()]);
        }
        assert_eq!(list.finish().unwrap(), codec::encode(&entries).unwrap());
    }
}
