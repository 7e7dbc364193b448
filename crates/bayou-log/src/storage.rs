//! One of each store, as `bayou serve` hands them to the org and the engine. The embedded
//! backend opens all of them in one data directory; a clustered backend will build the same
//! bundle on its own services.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::embedded::{EmbeddedLog, MemoryCounters, MemoryTokens};
use crate::{EmbeddedOptions, LogError, PositionStore, RecordStore, TokenStore, UsageCounters};

/// Everything Bayou keeps, behind the storage traits.
#[derive(Clone)]
pub struct Storage {
    /// The event log and the org's records, written together atomically.
    pub log: Arc<dyn RecordStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub counters: Arc<dyn UsageCounters>,
    pub positions: Arc<dyn PositionStore>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

impl Storage {
    /// The embedded backend in `dir`: the log, records and committed positions on disk; tokens
    /// (which expire after `token_idle_timeout` without use) and counters in memory.
    pub fn embedded(
        dir: &Path,
        options: EmbeddedOptions,
        token_idle_timeout: Duration,
    ) -> Result<Self, LogError> {
        let log = Arc::new(EmbeddedLog::open(dir, options)?);
        Ok(Self {
            positions: log.clone(),
            log,
            tokens: Arc::new(MemoryTokens::new(token_idle_timeout)),
            counters: Arc::new(MemoryCounters::default()),
        })
    }
}
