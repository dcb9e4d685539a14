//! What a guest may hold: the memory and table budget, the fixed caps on
//! instances, memories, tables and handles, and the CPU quota.
//!
//! [`Limits`] is the caller's request; the store's [`Limiter`] enforces the
//! budget and the caps, and [`Throttle`] pauses a guest over its CPU quota
//! at epoch ticks. Usage is counted in [`Usage`]; stopping is `stop.rs`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::debug;
use wasmtime::UpdateDeadline;
use wasmtime::component::ResourceTable;

use crate::usage::Usage;

/// A guest's resource table, holding at most [`MAX_HANDLES`] handles.
pub(crate) fn guest_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    table
}

/// Most linear memories, tables and core instances one store may hold,
/// whatever the memory limit: a component is several core instances, each
/// with its memories and tables, and every one costs the host a mapping.
pub const MAX_INSTANCES: usize = 100;
/// See [`MAX_INSTANCES`].
pub const MAX_MEMORIES: usize = 100;
/// See [`MAX_INSTANCES`].
pub const MAX_TABLES: usize = 100;
/// Most handles (open files and directories, streams, sockets, and the
/// like) one guest may hold at once, so that no guest can take the
/// descriptors of the process that runs it and its neighbours.
pub const MAX_HANDLES: usize = 1024;
/// What one table element costs the host: a pointer (funcref) or less.
const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;

/// The store's resource limiter: one budget for everything the guest
/// allocates (every linear memory and every table, by element size), the
/// counts above, and usage accounting.
pub(crate) struct Limiter {
    /// Most bytes of memories and tables together, if limited.
    budget: Option<u64>,
    /// Bytes of memories and tables the store holds now.
    used: u64,
    usage: Arc<Usage>,
    /// This store's share of `usage`'s memory, released when the store is
    /// dropped (the run ended), so instances sharing a `Usage` (one per
    /// HTTP request) each take back only their own.
    own: u64,
}

impl Drop for Limiter {
    fn drop(&mut self) {
        self.usage.released(self.own);
    }
}

impl Limiter {
    /// Takes `bytes` more from the budget, if they fit.
    fn take(&mut self, bytes: u64) -> bool {
        let total = self.used.saturating_add(bytes);
        if self.budget.is_some_and(|b| total > b) {
            return false;
        }
        self.used = total;
        true
    }

    /// Admits growth from `current` to `desired` units of `unit_bytes` each
    /// (a memory's bytes, a table's elements): within the item's own
    /// `maximum` and the store's budget. The bytes taken, if admitted.
    fn admit(
        &mut self,
        what: &str,
        (current, desired, maximum): (usize, usize, Option<usize>),
        unit_bytes: u64,
    ) -> Option<u64> {
        if maximum.is_some_and(|m| desired > m) {
            return None;
        }
        let bytes = (desired.saturating_sub(current) as u64).saturating_mul(unit_bytes);
        if !self.take(bytes) {
            debug!(what, current, desired, budget = ?self.budget, "growth refused");
            return None;
        }
        Some(bytes)
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let Some(by) = self.admit("memory", (current, desired, maximum), 1) else {
            return Ok(false);
        };
        self.own += by;
        self.usage.grew(by);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // The guest sees -1 from memory.grow; a failure of the host's own
        // allocation is only logged.
        debug!(error = %error, "memory growth failed");
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = (current, desired, maximum);
        Ok(self.admit("table", grown, TABLE_ELEMENT_BYTES).is_some())
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        debug!(error = %error, "table growth failed");
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Resource limits for one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes the guest may allocate: every linear memory of every
    /// core instance of the store, and its tables (by element size), count
    /// against one budget. Growing past it fails inside the guest
    /// (`memory.grow` and `table.grow` return -1), it does not trap; an
    /// instance whose initial memories and tables exceed it does not start.
    pub memory: Option<u64>,
    /// Wall-clock time after which the guest is stopped with
    /// [`StopReason::Timeout`](crate::StopReason::Timeout).
    pub timeout: Option<Duration>,
    /// CPU the guest may use, in thousandths of a CPU (Kubernetes `500m` is
    /// 500; `2` CPUs is 2000): in every 100 ms period, a guest that has
    /// used its share is paused until the period ends, as the kernel's CFS
    /// quota does. Instances sharing one [`Usage`] share the quota.
    pub cpu_millis: Option<u64>,
}

impl Limits {
    pub(crate) fn limiter(&self, usage: Arc<Usage>) -> Limiter {
        Limiter {
            budget: self.memory,
            used: 0,
            usage,
            own: 0,
        }
    }

    /// The CPU throttle for instances counted in `usage`, if a CPU limit is
    /// set.
    pub(crate) fn throttle(&self, usage: &Arc<Usage>) -> Option<Arc<Throttle>> {
        let millis = self.cpu_millis?;
        // Saturating: a limit past what any machine has never throttles.
        let quota = (CPU_PERIOD.as_nanos() as u64).saturating_mul(millis) / 1000;
        Some(Arc::new(Throttle {
            usage: usage.clone(),
            quota,
            period: Mutex::new((std::time::Instant::now(), usage.cpu_nanos())),
        }))
    }
}

/// The CFS-style accounting period of a CPU limit.
const CPU_PERIOD: Duration = Duration::from_millis(100);

/// A CPU quota per [`CPU_PERIOD`], checked at every epoch tick.
pub(crate) struct Throttle {
    usage: Arc<Usage>,
    /// Nanoseconds of CPU allowed per period.
    quota: u64,
    /// When the current period began, and the CPU count then.
    period: Mutex<(std::time::Instant, u64)>,
}

impl Throttle {
    /// How long to pause now, if the period's quota is used up.
    pub(crate) fn over_quota(&self) -> Option<Duration> {
        let now = std::time::Instant::now();
        let used = self.usage.cpu_nanos();
        let mut period = self.period.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= period.0 + CPU_PERIOD {
            *period = (now, used);
            return None;
        }
        (used.saturating_sub(period.1) >= self.quota)
            .then(|| (period.0 + CPU_PERIOD).saturating_duration_since(now))
    }

    /// The epoch callback's answer: pause (yielding to the executor) until
    /// the period ends, or go on.
    pub(crate) fn deadline(&self) -> UpdateDeadline {
        match self.over_quota() {
            Some(wait) => UpdateDeadline::YieldCustom(1, Box::pin(tokio::time::sleep(wait))),
            None => UpdateDeadline::Continue(1),
        }
    }
}
