//! How the backend opens RocksDB: table, cache and write-buffer options
//! shared by the process, the merge operator of list state on every column
//! family, and writes without a write-ahead log.

use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, DBCompressionType, Options, WriteOptions};

use super::{collections, resources};

/// How the backend writes: without a write-ahead log (a checkpoint flushes first).
pub(crate) fn write_options() -> WriteOptions {
    let mut write = WriteOptions::default();
    write.disable_wal(true);
    write
}

pub(crate) fn db_options(memory: u64) -> Options {
    db_options_with(&resources::shared_memory(memory))
}

pub(crate) fn db_options_with(shared: &resources::SharedMemory) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&shared.cache);
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_block_based_table_factory(&table);
    opts.set_write_buffer_manager(&shared.write_buffers);
    // The write cache's changes arrive as SST files in level 0. RocksDB's
    // checkpoint flushes first, and a flush waits while one more level-0
    // file would slow writes down: keep that point well above the level-0
    // compaction trigger, so a snapshot never waits for a compaction.
    //
    // The trigger stays at RocksDB's 4 files. At 8, q16 on RocksDB (which
    // only writes and reads points) ran 231-259 k events/s per core against
    // 194-224 k, but the interval join of `shop_monitor` (a scan of a map
    // per record, merging every level-0 file) took twice as long.
    opts.set_level_zero_slowdown_writes_trigger(48);
    opts.set_level_zero_stop_writes_trigger(64);
    // A bloom filter over the memtable's whole keys: a point read of a key
    // that is not there (a map entry or pane not yet written, the common
    // case of distinct counts and windows) skips the skip list's search,
    // which otherwise dominates such reads.
    opts.set_memtable_prefix_bloom_ratio(0.1);
    opts.set_memtable_whole_key_filtering(true);
    // Memtables of 8 MiB rather than 64: an entry written on its own (a
    // list's append, a timer's removal; map entries did too before they went
    // through the write cache) is a skip-list insert at a random place,
    // whose cost grows with the list's height and its misses in the CPU's
    // caches (q16 on RocksDB, map entries written directly: 26% of its time
    // in the insert with 64 MiB, 17% with 8 MiB). Snapshots flush less, too.
    opts.set_write_buffer_size(8 << 20);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_max_background_jobs(2);
    opts.set_max_open_files(256);
    with_merge(&mut opts);
    opts
}

/// Sets the merge operator of list state ([`collections::append_merge`]):
/// every database and column family the backend opens, read-only ones
/// included, has it, since list entries may be stored as merge operands.
pub(crate) fn with_merge(opts: &mut Options) {
    opts.set_merge_operator_associative(collections::MERGE_NAME, collections::append_merge);
}

/// Descriptors of the column families `names`, each with `opts` (and so the merge operator).
pub(crate) fn descriptors(opts: &Options, names: &[String]) -> Vec<ColumnFamilyDescriptor> {
    names
        .iter()
        .map(|name| {
            let mut o = opts.clone();
            with_merge(&mut o);
            ColumnFamilyDescriptor::new(name, o)
        })
        .collect()
}
