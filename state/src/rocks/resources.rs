//! The memory every RocksDB instance of the process shares: one block cache,
//! with the memtables charged to it through one write buffer manager, sized by
//! `--state-memory`.

use std::sync::{Mutex, OnceLock};

use rocksdb::{Cache, WriteBufferManager};

/// The shared cache and write buffer manager.
#[derive(Clone)]
pub(crate) struct SharedMemory {
    pub cache: Cache,
    pub write_buffers: WriteBufferManager,
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
    let cache = Cache::new_lru_cache(budget);
    // Memtables are charged to the cache, so cache + memtables stay within the budget.
    let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(budget / 2, false, cache.clone());
    let m = SharedMemory { cache, write_buffers };
    *guard = Some((budget as u64, m.clone()));
    m
}
