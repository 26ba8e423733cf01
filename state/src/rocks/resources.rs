//! The memory every RocksDB instance of the process shares, sized by
//! `--state-memory`: a quarter for the write caches in front of RocksDB
//! ([`super::cache`]), the rest for one block cache, with the memtables
//! charged to it (up to half of it) through one write buffer manager.
//!
//! Half for the write caches was measured and not kept: windowed_count ran
//! no faster than with a quarter, and large_state (10M new keys) at half its
//! speed, because the smaller block cache no longer held the filter blocks
//! that RocksDB reads for every key the backend's own filter lets through.

use std::sync::{Mutex, OnceLock};

use rocksdb::{Cache, WriteBufferManager};

/// The shared cache and write buffer manager.
#[derive(Clone)]
pub(crate) struct SharedMemory {
    pub cache: Cache,
    pub write_buffers: WriteBufferManager,
    /// Bytes the write caches of all instances may hold together.
    pub write_cache: usize,
}

static SHARED: OnceLock<Mutex<Option<(u64, SharedMemory)>>> = OnceLock::new();

/// The process's shared memory of `budget` bytes (created on first use; a
/// later call with another budget replaces it for instances opened after).
pub(crate) fn shared_memory(budget: u64) -> SharedMemory {
    let slot = SHARED.get_or_init(|| Mutex::new(None));
    let mut guard = match slot.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some((b, m)) = guard.as_ref() {
        if *b == budget {
            return m.clone();
        }
    }
    let budget = budget.max(16 << 20) as usize;
    let write_cache = budget / 4;
    let block_cache = budget - write_cache;
    let cache = Cache::new_lru_cache(block_cache);
    // Memtables are charged to the cache, so cache + memtables stay within the budget.
    let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(block_cache / 2, false, cache.clone());
    let m = SharedMemory { cache, write_buffers, write_cache };
    *guard = Some((budget as u64, m.clone()));
    m
}
