//! Preparing the restored RocksDB databases of every keyed operator instance
//! before the tasks are built. The instances' restores are independent, so
//! their expensive part (placing the files, keeping one checkpointed
//! instance's files cut down to the range, copying the others' entries in;
//! for canonical files, building SST files of their entries) runs for all
//! of them at once, up to two per core; each backend then takes what was
//! prepared for it over when its operator restores (see
//! [`weir_state::prepare_rocksdb_restore`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use tracing::info;
use weir_state::{BackendKind, KeyGroupRange, RestoredFile, RocksDbConfig};

use crate::restore::Restore;
use crate::upload::lock;
use crate::{JobConfig, JobError};

/// One keyed operator instance to prepare.
struct Instance {
    operator: String,
    subtask: u32,
    range: KeyGroupRange,
    files: Vec<RestoredFile>,
}

/// Prepares the RocksDB database of every instance of the `keyed` operators
/// (id -> parallelism) that `restore` holds state for (native RocksDB
/// files, or canonical ones turned into SST files), in parallel. Does
/// nothing for the hashmap backend.
pub(crate) fn prepare_restores(restore: &Restore, keyed: &BTreeMap<String, u32>, config: &JobConfig) -> Result<(), JobError> {
    if config.backend != BackendKind::RocksDb {
        return Ok(());
    }
    let mut instances = Vec::new();
    for (operator, &parallelism) in keyed {
        for subtask in 0..parallelism {
            let range = weir_state::key_group_range_for_subtask(config.max_parallelism, parallelism, subtask);
            let files = restore.keyed_files(operator, range)?;
            if !files.is_empty() {
                instances.push(Instance { operator: operator.clone(), subtask, range, files });
            }
        }
    }
    if instances.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    // Every instance at once (up to two per core, so that one instance's
    // file reads overlap another's work), a canonical restore of each on its
    // share of the cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = instances.len().min(2 * cores);
    let per_instance = (cores / instances.len()).max(1);
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<JobError>> = Mutex::new(None);
    let prepared = AtomicUsize::new(0);
    let work = || loop {
        if lock(&failed).is_some() {
            break;
        }
        let Some(instance) = instances.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
        let dir = crate::env::instance_dir(&config.state_dir, &instance.operator, instance.subtask);
        match weir_state::prepare_rocksdb_restore(
            &RocksDbConfig::new(dir, config.state_memory),
            instance.range,
            &instance.files,
            per_instance,
        ) {
            Ok(Some(_)) => {
                prepared.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(e) => {
                lock(&failed).get_or_insert(JobError::state(&instance.operator, e));
            }
        }
    };
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..threads {
            match std::thread::Builder::new().name(format!("weir-restore-{i}")).spawn_scoped(scope, work) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    lock(&failed).get_or_insert(JobError::io("starting a restore thread", e));
                }
            }
        }
        for h in handles {
            if h.join().is_err() {
                lock(&failed).get_or_insert(JobError::Panic("weir-restore".into(), "preparing a restored RocksDB database".into()));
            }
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    info!(
        instances = prepared.load(Ordering::Relaxed),
        threads,
        ms = started.elapsed().as_millis() as u64,
        "prepared the restored RocksDB databases in parallel"
    );
    Ok(())
}
