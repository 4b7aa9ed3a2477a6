//! The one place a DataFusion session is created.
//!
//! DataFusion's configuration API moves between releases, and the same SQL
//! will later run on a Ballista cluster, so every stage asks this module for its
//! session and nothing else in the code base builds one.

use std::sync::Arc;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use fidelis_core::config::EngineConfig;
use fidelis_core::{Error, Result};
use fidelis_storage::Location;

/// The number of partitions DataFusion works with: the config's, else the
/// number of cores.
pub fn target_partitions(engine: &EngineConfig) -> usize {
    engine.target_partitions.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    })
}

/// A session with a bounded, spilling memory pool (a fair share per spilling
/// operator, so a sort and a hash aggregate in one plan both get room), the
/// stores of `locations` registered, and the given parallelism.
pub fn new_session(engine: &EngineConfig, locations: &[&Location]) -> Result<SessionContext> {
    let pool_bytes = engine.memory_limit_mb.saturating_mul(1024 * 1024);
    let mut disk = DiskManagerBuilder::default();
    if let Some(dir) = &engine.spill_dir {
        disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.into()]));
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(pool_bytes)))
        .with_disk_manager_builder(disk)
        .build_arc()
        .map_err(|e| Error::internal_with("cannot start the DataFusion runtime", e))?;
    let config = SessionConfig::new()
        .with_target_partitions(target_partitions(engine))
        .with_batch_size(engine.batch_size)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    for loc in locations {
        ctx.register_object_store(loc.store_url(), Arc::clone(loc.store()));
    }
    Ok(ctx)
}
