//! The [`Runtime`]: one wasmtime engine per process, its linkers, and
//! running a [`Program`] to an [`ExitStatus`].
//!
//! What a run may use is the [`RunSpec`] (`spec.rs`), enforced by the
//! store's limiter (`limits.rs`); stopping is `stop.rs`, the epoch thread
//! `epoch.rs`, counting `usage.rs`. Serving HTTP components is `http.rs`
//! and running WASI 0.3 commands `p3.rs`; this module hands them their
//! linker (and the server the epoch ticker). The store data of components
//! is `host.rs`.

use std::sync::{Arc, OnceLock};

use tracing::{Instrument, debug, info_span};
use wasmtime::Store;
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::epoch::EpochTicker;
use crate::exit::{ExitStatus, classify, instantiate_failure};
use crate::host::ComponentHost;
use crate::http::{HttpOptions, HttpStats, ServeArgs};
use crate::limits::{Limiter, MAX_HANDLES};
use crate::program::{Compiled, WasiVersion, World};
use crate::spec::RunSpec;
use crate::stop::{StopHandle, TimeoutGuard, wait_stopped};
use crate::usage::count_cpu;
use crate::{CompileCache, EngineError, EngineOptions, Program};

/// One per process: the wasmtime engine, its linkers and the compile cache.
pub struct Runtime {
    engine: wasmtime::Engine,
    cache: Option<CompileCache>,
    module_linker: OnceLock<Result<wasmtime::Linker<ModuleHost>, LinkerError>>,
    /// WASI 0.2 only, for WASI 0.2 commands.
    component_linker: OnceLock<Result<wasmtime::component::Linker<ComponentHost>, LinkerError>>,
    /// WASI 0.2 and 0.3 with `wasi:http` 0.2 and 0.3, for HTTP services and
    /// WASI 0.3 commands (which may import `wasi:http/types@0.3`, and
    /// always import some 0.2 interfaces).
    http_linker: OnceLock<Result<wasmtime::component::Linker<ComponentHost>, LinkerError>>,
    /// The one epoch thread of `engine`, for the CPU-limited runs and the
    /// HTTP servers under way.
    ticker: EpochTicker,
    /// Whether guests are compiled with epoch checks
    /// ([`EngineOptions::interruptible`]).
    interruptible: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Why a linker could not be built, shared by every later use of it.
type LinkerError = Arc<dyn std::error::Error + Send + Sync>;

impl Runtime {
    /// Builds the engine. Linkers are built on first use, so a process that
    /// only runs core modules never pays for the WASI 0.2 linker.
    pub fn new(options: EngineOptions) -> Result<Self, EngineError> {
        let config = options.to_config()?;
        let engine = wasmtime::Engine::new(&config).map_err(|e| EngineError::Config(e.into()))?;
        let cache = options
            .cache_dir
            .as_ref()
            .map(|dir| CompileCache::open(dir, &engine))
            .transpose()?;
        Ok(Self {
            ticker: EpochTicker::new(engine.clone()),
            engine,
            cache,
            module_linker: OnceLock::new(),
            component_linker: OnceLock::new(),
            http_linker: OnceLock::new(),
            interruptible: options.interruptible,
        })
    }

    /// `Ok` when this runtime can stop a running guest from outside, which
    /// `what` needs.
    fn require_interruptible(&self, what: &'static str) -> Result<(), EngineError> {
        if self.interruptible {
            Ok(())
        } else {
            Err(EngineError::NotInterruptible { what })
        }
    }

    /// The wasmtime engine, for callers that need to share it.
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Compiles `bytes` (binary module, binary component, or WebAssembly
    /// text), or loads the result of an earlier compile from the cache.
    pub fn load(&self, bytes: &[u8]) -> Result<Program, EngineError> {
        Program::load(&self.engine, self.cache.as_ref(), bytes)
    }

    /// Compiles `bytes` without the compile cache, for guests whose bytes
    /// may change at every use (a probe's module in a writable volume):
    /// each version would otherwise add a cache entry.
    pub fn load_uncached(&self, bytes: &[u8]) -> Result<Program, EngineError> {
        Program::load(&self.engine, None, bytes)
    }

    /// The compiled code of the guest whose binary form hashes to `digest`
    /// (sha256), straight from the compile cache, or `None` if it has to be
    /// loaded from its bytes with [`Runtime::load`].
    pub fn load_cached(&self, digest: [u8; 32]) -> Option<Program> {
        Program::load_cached(&self.engine, self.cache.as_ref(), digest)
    }

    /// Waits until the compile cache entries of the programs this runtime
    /// compiled are on disk. [`Runtime::load`] returns as soon as a guest
    /// is compiled and writes its entry on a thread beside the guest; a
    /// process that exits without dropping its runtime, or that gives up
    /// the credentials the cache folder needs, calls this first. Dropping
    /// the runtime calls it too.
    pub fn finish_cache_writes(&self) {
        if let Some(cache) = &self.cache {
            cache.finish_writes();
        }
    }

    /// Runs `program` to completion, or until `stop` is used or the spec's
    /// timeout passes. Host failures are errors; everything the guest does
    /// (exit, trap, being stopped) is an [`ExitStatus`].
    pub async fn run(
        &self,
        program: &Program,
        spec: RunSpec,
        stop: &StopHandle,
    ) -> Result<ExitStatus, EngineError> {
        let span = info_span!("run", digest = %program.digest(), argv0 = spec.args.first().map(String::as_str).unwrap_or(""));
        if spec.limits.timeout.is_some() {
            self.require_interruptible("a timeout")?;
        }
        if spec.limits.cpu_millis.is_some() {
            self.require_interruptible("a CPU quota")?;
        }
        let usage = spec.usage.clone();
        let run = async {
            stop.attach(&self.engine);
            if let Some(reason) = stop.reason() {
                return Ok(ExitStatus::Stopped(reason));
            }
            let _timer = spec
                .limits
                .timeout
                .map(|t| TimeoutGuard::start(stop.clone(), t));
            // A CPU limit is checked at epoch ticks, so the epoch must move.
            let _ticker = spec.limits.cpu_millis.map(|_| self.ticker.hold());
            let mut stopped = stop.subscribe();
            let work = async {
                match &program.compiled {
                    Compiled::Module(m) => self.run_module(m, spec, stop).await,
                    Compiled::Component(c) if program.wasi() == WasiVersion::P3 => {
                        crate::p3::run_command(self.http_linker()?, c, spec, stop).await
                    }
                    Compiled::Component(c) => self.run_component(c, spec, stop).await,
                }
            };
            // A guest spinning in wasm is interrupted through the epoch and
            // finishes `work` with a trap. A guest blocked in a host call
            // (reading stdin, sleeping) never reaches an epoch check, so the
            // second branch drops it instead.
            tokio::select! {
                biased;
                status = work => status,
                reason = wait_stopped(&mut stopped) => Ok(ExitStatus::Stopped(reason)),
            }
        }
        .instrument(span);
        // Guest code and host calls run inside the polls of this future (on
        // a wasmtime fiber, but on the polling thread): counting here, once,
        // covers the whole instance.
        count_cpu(&usage, run).await
    }

    /// Builds the linker `program` runs with, if it is not built yet, so
    /// that its first run does not wait for it. A caller that knows what it
    /// will run (the shim, between a container's create and start) calls
    /// this off the path that waits; [`Runtime::run`] builds it anyway.
    pub fn prepare_linker(&self, program: &Program) -> Result<(), EngineError> {
        match &program.compiled {
            Compiled::Module(_) => self.module_linker().map(drop),
            Compiled::Component(_)
                if program.world() == World::HttpService || program.wasi() == WasiVersion::P3 =>
            {
                self.http_linker().map(drop)
            }
            Compiled::Component(_) => self.component_linker().map(drop),
        }
    }

    fn module_linker(&self) -> Result<&wasmtime::Linker<ModuleHost>, EngineError> {
        self.module_linker
            .get_or_init(|| {
                let mut linker = wasmtime::Linker::new(&self.engine);
                wasmtime_wasi::p1::add_to_linker_async(&mut linker, |h: &mut ModuleHost| {
                    &mut h.wasi
                })
                .map_err(|e| LinkerError::from(e.into_boxed_dyn_error()))?;
                Ok(linker)
            })
            .as_ref()
            .map_err(|e| EngineError::Config(Box::new(Arc::clone(e))))
    }

    fn component_linker(&self) -> Result<&wasmtime::component::Linker<ComponentHost>, EngineError> {
        self.component_linker
            .get_or_init(|| {
                let mut linker = wasmtime::component::Linker::new(&self.engine);
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                    .map_err(|e| LinkerError::from(e.into_boxed_dyn_error()))?;
                Ok(linker)
            })
            .as_ref()
            .map_err(|e| EngineError::Config(Box::new(Arc::clone(e))))
    }

    fn http_linker(&self) -> Result<&wasmtime::component::Linker<ComponentHost>, EngineError> {
        self.http_linker
            .get_or_init(|| {
                let mut linker = wasmtime::component::Linker::<ComponentHost>::new(&self.engine);
                let boxed = |e: wasmtime::Error| LinkerError::from(e.into_boxed_dyn_error());
                wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(boxed)?;
                wasmtime_wasi::p3::add_to_linker(&mut linker).map_err(boxed)?;
                wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                    .map_err(boxed)?;
                wasmtime_wasi_http::p3::add_to_linker(&mut linker).map_err(boxed)?;
                crate::path_with_query::shadow(&mut linker, |h| &mut h.raw_paths).map_err(boxed)?;
                Ok(linker)
            })
            .as_ref()
            .map_err(|e| EngineError::Config(Box::new(Arc::clone(e))))
    }

    /// Serves `program`, a component exporting
    /// `wasi:http/incoming-handler`, on `listener` until `stop` is used
    /// (then drains: the first stop closes the listener and lets requests
    /// in flight finish; SIGKILL ends them). The spec's stdin is ignored;
    /// its `args` are what the guest sees.
    pub async fn serve_http(
        &self,
        program: &Program,
        spec: RunSpec,
        listener: tokio::net::TcpListener,
        options: HttpOptions,
        stats: Arc<HttpStats>,
        stop: &StopHandle,
    ) -> Result<ExitStatus, EngineError> {
        self.require_interruptible("serving HTTP")?;
        let args = ServeArgs {
            linker: self.http_linker()?,
            ticker: &self.ticker,
            listener,
            options,
            stats,
        };
        crate::http::serve(program, spec, args, stop).await
    }

    /// Binds `addr` and serves `program` there with `options`, until
    /// `stop` is used (see [`Runtime::serve_http`]): what a runtime that
    /// serves a container's component on its port does.
    pub async fn serve_http_at(
        &self,
        program: &Program,
        spec: RunSpec,
        addr: std::net::SocketAddr,
        options: HttpOptions,
        stop: &StopHandle,
    ) -> Result<ExitStatus, EngineError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EngineError::Listen { addr, source })?;
        tracing::info!(%addr, "serving wasi:http");
        self.serve_http(program, spec, listener, options, Default::default(), stop)
            .await
    }

    /// Whether `program` is a component that exports
    /// `wasi:http/incoming-handler@0.2` or `wasi:http/handler@0.3`, to be
    /// served with [`Runtime::serve_http`] rather than run.
    pub fn is_http_handler(&self, program: &Program) -> bool {
        program.world() == World::HttpService
    }

    async fn run_module(
        &self,
        module: &wasmtime::Module,
        mut spec: RunSpec,
        stop: &StopHandle,
    ) -> Result<ExitStatus, EngineError> {
        let pre = self
            .module_linker()?
            .instantiate_pre(module)
            .map_err(|e| EngineError::Link(e.into()))?;
        let limits = spec.limits.limiter(spec.usage.clone());
        let throttle = spec.limits.throttle(&spec.usage);
        let mut wasi = spec.wasi_builder()?.build_p1();
        WasiView::ctx(&mut wasi).table.set_max_capacity(MAX_HANDLES);
        let mut store = Store::new(&self.engine, ModuleHost { wasi, limits });
        store.limiter(|h| &mut h.limits);
        stop.arm(&mut store, throttle);

        let instance = match pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => return instantiate_failure(e, stop),
        };
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|_| EngineError::NoEntryPoint)?;
        debug!("calling _start");
        Ok(match start.call_async(&mut store, ()).await {
            Ok(()) => ExitStatus::Exited(0),
            Err(e) => classify(e, stop),
        })
    }

    async fn run_component(
        &self,
        component: &wasmtime::component::Component,
        mut spec: RunSpec,
        stop: &StopHandle,
    ) -> Result<ExitStatus, EngineError> {
        let pre = self
            .component_linker()?
            .instantiate_pre(component)
            .map_err(|e| EngineError::Link(e.into()))?;
        let pre = wasmtime_wasi::p2::bindings::CommandPre::new(pre)
            .map_err(|e| EngineError::NotACommand(e.into()))?;
        let limits = spec.limits.limiter(spec.usage.clone());
        let host = ComponentHost::new(spec.wasi_builder()?.build(), spec.network, limits);
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limits);
        stop.arm(&mut store, spec.limits.throttle(&spec.usage));

        let command = match pre.instantiate_async(&mut store).await {
            Ok(c) => c,
            Err(e) => return instantiate_failure(e, stop),
        };
        debug!("calling wasi:cli/run");
        Ok(match command.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => ExitStatus::Exited(0),
            Ok(Err(())) => ExitStatus::Exited(1),
            Err(e) => classify(e, stop),
        })
    }
}

impl Drop for Runtime {
    /// A compiled guest's cache entry is written in the background; it
    /// must be whole on disk before the process that compiled it goes.
    fn drop(&mut self) {
        self.finish_cache_writes();
    }
}

struct ModuleHost {
    wasi: WasiP1Ctx,
    limits: Limiter,
}
