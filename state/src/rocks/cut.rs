//! Cutting a database down to a key-group range: every key begins with its
//! key group (2 bytes, big-endian, see [`super::keys`]), so the key groups
//! below and above the range are two contiguous key ranges, each removed
//! with one range deletion per column family. The meta column family holds
//! no keyed entries and is left as it is.

use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};

use super::{db_err, META_CF};
use crate::{KeyGroupRange, StateError};

/// The smallest stored key of key group `kg`.
pub(crate) fn key_group_start(kg: u32) -> Result<[u8; 2], StateError> {
    u16::try_from(kg)
        .map(u16::to_be_bytes)
        .map_err(|_| StateError::Corrupt(format!("key group {kg} does not fit the RocksDB backend's 2-byte key-group prefix")))
}

/// Removes from every column family of `db` but the meta one the entries of
/// the key groups of `from` (the key groups the database holds) outside
/// `keep` (`keep.end` is inclusive). Returns the number of range deletions.
pub(crate) fn cut_to(db: &DB, cfs: &[String], from: KeyGroupRange, keep: KeyGroupRange) -> Result<usize, StateError> {
    let below = from.start < keep.start;
    let above = from.end > keep.end;
    if !below && !above {
        return Ok(0);
    }
    let mut batch = WriteBatch::default();
    let mut deletions = 0;
    for name in cfs.iter().filter(|c| c.as_str() != META_CF) {
        let cf = db.cf_handle(name).ok_or_else(|| StateError::Corrupt(format!("column family {name} is missing")))?;
        if below {
            // [the first key, the first key of `keep.start`)
            batch.delete_range_cf(cf, [].as_slice(), key_group_start(keep.start)?.as_slice());
            deletions += 1;
        }
        if above {
            // [the first key of `keep.end + 1`, the first key of key group 0xFFFF),
            // then the keys of key group 0xFFFF one by one (no 2-byte bound lies above them).
            let first = key_group_start(keep.end + 1)?;
            let last_group = [0xFF_u8, 0xFF];
            if first < last_group {
                batch.delete_range_cf(cf, first.as_slice(), last_group.as_slice());
                deletions += 1;
            }
            for item in db.iterator_cf(cf, IteratorMode::From(&last_group, Direction::Forward)) {
                let (k, _) = item.map_err(|e| db_err(&format!("reading {name} past the range"), e))?;
                batch.delete_cf(cf, k);
            }
        }
    }
    db.write_opt(batch, &WriteOptions::default()).map_err(|e| db_err("removing the key groups outside the range", e))?;
    Ok(deletions)
}
