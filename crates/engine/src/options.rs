//! Engine settings shared by every front end.
//!
//! The CLI's flags, the shim's runtime options and local mode's defaults all
//! fill in one [`EngineOptions`]; [`EngineOptions::to_config`] is the only
//! place that turns settings into a `wasmtime::Config`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::EngineError;

/// Settings for the one [`Runtime`](crate::Runtime) of a process.
///
/// Every field documents its default, which is what `Default` gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineOptions {
    /// Folder of the compile cache. Default: none, so nothing is cached; the
    /// front ends set it to `$WASMPOD_HOME/cache/compiled`.
    pub cache_dir: Option<PathBuf>,

    /// Use wasmtime's pooling instance allocator: memory, tables and async
    /// stacks for up to [`pooling_max_instances`](Self::pooling_max_instances)
    /// instances are reserved once, so instantiation is a few microseconds.
    /// Pays off when one process starts many instances (the shim, HTTP
    /// services). Default: `false`, because a one-shot `wasmpod run` starts a
    /// single instance and would only pay for the reservation.
    pub pooling: bool,

    /// Instances the pooling allocator reserves room for. Default: 1000.
    pub pooling_max_instances: u32,

    /// Largest linear memory one instance may have under the pooling
    /// allocator, in bytes. Default: 4 GiB (the wasm32 maximum).
    pub pooling_max_memory_bytes: u64,

    /// Compile with Cranelift's optimizer. Default: `true`.
    pub optimize: bool,

    /// Most native stack a guest's WebAssembly may use, in bytes; deeper
    /// recursion traps with "call stack exhausted". Default:
    /// [`DEFAULT_MAX_WASM_STACK`] (8 MiB), what Go's own wasip1 runner gives
    /// wasmtime, so Go-built modules run unchanged. wasmtime's own default
    /// (512 KiB) is too small for them. Must lie in
    /// [`MAX_WASM_STACK_RANGE`].
    pub max_wasm_stack: u64,

    /// Compile guests with epoch checks (at function entries and loop
    /// back-edges), so that a guest computing without ever calling the host
    /// can still be stopped from outside: timeouts, CPU quotas, draining an
    /// HTTP server, a pod's stop. Default: `true`.
    ///
    /// `false` is for a process that runs one guest to completion and is
    /// itself the way to stop it, as a one-shot `wasmpod run` of a command
    /// with no `--timeout` and no `--cpus` is (a signal ends the process,
    /// as with `wasmtime run`): the checks cost about a quarter of the
    /// compile time of a first run and a little of every run. A runtime
    /// built this way refuses to run with a timeout or a CPU quota, and to
    /// serve HTTP, rather than silently not enforcing them. Its compiled
    /// code is cached apart from the interruptible engine's.
    pub interruptible: bool,
}

/// The default [`EngineOptions::max_wasm_stack`]: 8 MiB.
pub const DEFAULT_MAX_WASM_STACK: u64 = 8 << 20;

/// The values [`EngineOptions::max_wasm_stack`] may take: from 64 KiB to
/// 1 GiB.
pub const MAX_WASM_STACK_RANGE: std::ops::RangeInclusive<u64> = (64 << 10)..=(1 << 30);

/// Stack the host's own code (WASI calls, the component model's lifting
/// and lowering) may use above the guest's, on the fiber a guest runs on:
/// wasmtime's defaults (2 MiB fibers for 512 KiB of wasm) leave 1.5 MiB.
const HOST_STACK: u64 = 3 << 19;

/// Bytes of each pooled memory and table reset in place when an instance
/// ends, instead of being handed back to the kernel.
const KEEP_RESIDENT: usize = 1 << 20;

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            pooling: false,
            pooling_max_instances: 1000,
            pooling_max_memory_bytes: 4 << 30,
            optimize: true,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            interruptible: true,
        }
    }
}

impl EngineOptions {
    /// The wasmtime configuration these options stand for.
    ///
    /// Fixed choices, not options:
    /// - epoch interruption follows [`interruptible`](Self::interruptible);
    /// - copy-on-write memory initialisation is on (wasmtime's default);
    /// - backtrace details (DWARF file and line) are off, so the settings do
    ///   not depend on `WASMTIME_BACKTRACE_DETAILS`; function names from the
    ///   name section are always shown;
    /// - the component model and its async ABI are on, so WASI 0.2 and
    ///   WASI 0.3 components both compile (the async ABI's optional extras,
    ///   stackful tasks, threads and error contexts, stay off: no WASI 0.3
    ///   guest we know of needs them).
    pub fn to_config(&self) -> Result<wasmtime::Config, EngineError> {
        if !MAX_WASM_STACK_RANGE.contains(&self.max_wasm_stack) {
            return Err(EngineError::MaxWasmStack {
                bytes: self.max_wasm_stack,
            });
        }
        // In range, so these fit in a usize on every 64-bit host.
        let wasm_stack =
            usize::try_from(self.max_wasm_stack).map_err(|_| EngineError::MaxWasmStack {
                bytes: self.max_wasm_stack,
            })?;
        let fiber_stack = usize::try_from(self.max_wasm_stack + HOST_STACK).map_err(|_| {
            EngineError::MaxWasmStack {
                bytes: self.max_wasm_stack,
            }
        })?;
        let mut config = wasmtime::Config::new();
        config
            .max_wasm_stack(wasm_stack)
            .async_stack_size(fiber_stack)
            .epoch_interruption(self.interruptible)
            .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(64))
            .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable)
            .memory_init_cow(true)
            .wasm_component_model(true)
            .wasm_component_model_async(true)
            .cranelift_opt_level(if self.optimize {
                wasmtime::OptLevel::Speed
            } else {
                wasmtime::OptLevel::None
            });
        if self.pooling {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_core_instances(self.pooling_max_instances)
                .total_memories(self.pooling_max_instances)
                .total_tables(self.pooling_max_instances)
                .total_component_instances(self.pooling_max_instances)
                // One fiber stack per running instance. Left at wasmtime's
                // default (1000), the stack pool alone took 2 ms to set up
                // (a guard page, so two mappings, per stack) in every shim.
                .total_stacks(self.pooling_max_instances)
                .max_memory_size(
                    usize::try_from(self.pooling_max_memory_bytes)
                        .map_err(|_| EngineError::Config("pooling memory size too large".into()))?,
                )
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT)
                // Not PAGEMAP_SCAN: wasmtime 48's scan resets only pages
                // that are resident, so a written page swapped out would
                // reach the slot's next instance (wasmtime PR 14357).
                .pagemap_scan(wasmtime::Enabled::No);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::EngineOptions;

    #[test]
    fn defaults_build_a_config() {
        let options = EngineOptions::default();
        assert!(!options.pooling);
        assert!(options.optimize);
        wasmtime::Engine::new(&options.to_config().expect("config")).expect("engine");
    }

    #[test]
    fn the_wasm_stack_is_bounded() {
        for bytes in [0, (64 << 10) - 1, (1 << 30) + 1] {
            let options = EngineOptions {
                max_wasm_stack: bytes,
                ..EngineOptions::default()
            };
            let err = options.to_config().expect_err("out of range");
            assert_eq!(
                err.to_string(),
                format!("max wasm stack {bytes} bytes is outside 64 KiB to 1 GiB")
            );
        }
        for bytes in [64 << 10, 1 << 30] {
            let options = EngineOptions {
                max_wasm_stack: bytes,
                pooling: true,
                pooling_max_instances: 2,
                ..EngineOptions::default()
            };
            wasmtime::Engine::new(&options.to_config().expect("config")).expect("engine");
        }
    }

    #[test]
    fn deserialises_with_defaults_and_rejects_unknown_fields() {
        let o: EngineOptions = serde_json::from_str(r#"{"pooling": true}"#).expect("parse");
        assert!(o.pooling);
        assert_eq!(o.pooling_max_instances, 1000);
        assert_eq!(o.cache_dir, None);
        let err = serde_json::from_str::<EngineOptions>(r#"{"pool": true}"#).expect_err("unknown");
        assert!(err.to_string().contains("unknown field `pool`"), "{err}");
    }
}
