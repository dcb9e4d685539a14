//! Running a [`Program`]: the run spec, the sandbox, limits and stopping.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{Instrument, debug, info_span};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::http::HttpHost;
use crate::preopen::WorkDir;
use crate::program::Compiled;
use crate::{CompileCache, EngineError, EngineOptions, Preopen, Program};

/// One per process: the wasmtime engine, its linkers and the compile cache.
pub struct Runtime {
    engine: wasmtime::Engine,
    cache: Option<CompileCache>,
    module_linker: OnceLock<Result<wasmtime::Linker<ModuleHost>, String>>,
    component_linker: OnceLock<Result<wasmtime::component::Linker<ComponentHost>, String>>,
    http_linker: OnceLock<Result<wasmtime::component::Linker<HttpHost>, String>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine. Linkers are built on first use, so a process that
    /// only runs core modules never pays for the WASI 0.2 linker.
    pub fn new(options: EngineOptions) -> Result<Self, EngineError> {
        let config = options.to_config()?;
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| EngineError::Config(EngineError::chain(&e)))?;
        let cache = options
            .cache_dir
            .as_ref()
            .map(|dir| CompileCache::open(dir, &engine))
            .transpose()?;
        Ok(Self {
            engine,
            cache,
            module_linker: OnceLock::new(),
            component_linker: OnceLock::new(),
            http_linker: OnceLock::new(),
        })
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

    /// The compiled code of the guest whose binary form hashes to `digest`
    /// (sha256), straight from the compile cache, or `None` if it has to be
    /// loaded from its bytes with [`Runtime::load`].
    pub fn load_cached(&self, digest: [u8; 32]) -> Option<Program> {
        Program::load_cached(&self.engine, self.cache.as_ref(), digest)
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
            let _ticker = spec
                .limits
                .cpu_millis
                .map(|_| EpochTicker::start(self.engine.clone()));
            let mut stopped = stop.subscribe();
            let work = async {
                match &program.compiled {
                    Compiled::Module(m) => self.run_module(m, spec, stop).await,
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
            Compiled::Component(_) if self.is_http_handler(program) => self.http_linker().map(drop),
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
                .map_err(|e| EngineError::chain(&e))?;
                Ok(linker)
            })
            .as_ref()
            .map_err(|e| EngineError::Config(e.clone()))
    }

    fn component_linker(&self) -> Result<&wasmtime::component::Linker<ComponentHost>, EngineError> {
        self.component_linker
            .get_or_init(|| {
                let mut linker = wasmtime::component::Linker::new(&self.engine);
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                    .map_err(|e| EngineError::chain(&e))?;
                Ok(linker)
            })
            .as_ref()
            .map_err(|e| EngineError::Config(e.clone()))
    }

    pub(crate) fn http_linker(
        &self,
    ) -> Result<&wasmtime::component::Linker<HttpHost>, EngineError> {
        self.http_linker
            .get_or_init(|| {
                let mut linker = wasmtime::component::Linker::new(&self.engine);
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                    .map_err(|e| EngineError::chain(&e))?;
                wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                    .map_err(|e| EngineError::chain(&e))?;
                Ok(linker)
            })
            .as_ref()
            .map_err(|e| EngineError::Config(e.clone()))
    }

    /// Whether `program` is a component that exports
    /// `wasi:http/incoming-handler`, to be served with
    /// [`Runtime::serve_http`] rather than run.
    pub fn is_http_handler(&self, program: &Program) -> bool {
        match &program.compiled {
            Compiled::Module(_) => false,
            Compiled::Component(c) => c
                .component_type()
                .exports(&self.engine)
                .any(|(name, _)| name.starts_with("wasi:http/incoming-handler@")),
        }
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
            .map_err(|e| EngineError::Link(EngineError::chain(&e)))?;
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
            .map_err(|e| EngineError::Link(EngineError::chain(&e)))?;
        let pre = wasmtime_wasi::p2::bindings::CommandPre::new(pre)
            .map_err(|e| EngineError::NotACommand(EngineError::chain(&e)))?;
        let limits = spec.limits.limiter(spec.usage.clone());
        let ctx = spec.wasi_builder()?.build();
        let host = ComponentHost {
            ctx,
            table: guest_table(),
            limits,
        };
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

/// Instantiation failures are host errors, unless the guest was being stopped
/// or ran its own code (a start function) and exited or trapped.
fn instantiate_failure(err: wasmtime::Error, stop: &StopHandle) -> Result<ExitStatus, EngineError> {
    if err.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
        || err.downcast_ref::<Trap>().is_some()
        || stop.reason().is_some()
    {
        return Ok(classify(err, stop));
    }
    Err(EngineError::Instantiate(EngineError::chain(&err)))
}

/// Turns an error out of guest code into the status a user sees.
fn classify(err: wasmtime::Error, stop: &StopHandle) -> ExitStatus {
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return ExitStatus::Exited(exit.0);
    }
    if let (Some(Trap::Interrupt), Some(reason)) = (err.downcast_ref::<Trap>(), stop.reason()) {
        return ExitStatus::Stopped(reason);
    }
    let backtrace = err
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| {
            // wasmtime's header reads as if the trap were an error of ours.
            let text = bt.to_string();
            match text.split_once('\n') {
                Some((_, frames)) => format!("wasm backtrace:\n{frames}"),
                None => text,
            }
        })
        .filter(|bt| bt.lines().count() > 1);
    let message = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => err
            .chain()
            .last()
            .map(|root| root.to_string())
            .unwrap_or_else(|| err.to_string()),
    };
    ExitStatus::Trapped { message, backtrace }
}

/// A guest's resource table, holding at most [`MAX_HANDLES`] handles.
pub(crate) fn guest_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_HANDLES);
    table
}

/// `KEY=VALUE` entries, as images and OCI runtime specs carry them, as
/// [`RunSpec::env`] pairs. An entry without `=` is a name with an empty
/// value.
pub fn env_pairs<S: AsRef<str>>(entries: &[S]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            let e = e.as_ref();
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// What a guest may see and how much it may use.
///
/// `RunSpec::new` grants nothing but the arguments: no environment, no
/// files, no network, and stdin/stdout/stderr connected to nothing.
#[derive(Debug, Default)]
pub struct RunSpec {
    /// The guest's argv, including argv\[0\].
    pub args: Vec<String>,
    /// Environment variables, in order. Nothing else from the host's
    /// environment reaches the guest.
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open.
    pub preopens: Vec<Preopen>,
    /// The guest's initial working directory, if any.
    pub cwd: Option<String>,
    /// Memory and time limits.
    pub limits: Limits,
    /// Where the guest's stdio goes.
    pub stdio: Stdio,
    /// Allow TCP and UDP sockets and name lookups (WASI 0.2 guests only;
    /// preview 1 has no socket API). Default: `false`.
    pub network: bool,
    /// Where the run's resource usage is counted, for callers that report
    /// metrics. Default: a fresh counter nobody reads.
    pub usage: Arc<Usage>,
}

impl RunSpec {
    /// A spec that grants nothing but `args`.
    pub fn new(args: Vec<String>) -> Self {
        Self {
            args,
            ..Self::default()
        }
    }

    fn wasi_builder(&mut self) -> Result<WasiCtxBuilder, EngineError> {
        crate::preopen::check_modes(&self.preopens)?;
        let work_dir = crate::preopen::work_dir(&self.preopens, self.cwd.as_deref());
        let mut b = self.shared_wasi_builder(work_dir.as_ref())?;
        match std::mem::take(&mut self.stdio.stdin) {
            InputSpec::Null => {}
            InputSpec::Inherit => {
                b.inherit_stdin();
            }
            InputSpec::File(f) => {
                b.stdin(wasmtime_wasi::cli::InputFile::new(f));
            }
            InputSpec::Reader(r) => {
                b.stdin(wasmtime_wasi::cli::AsyncStdinStream::new(r));
            }
        }
        Ok(b)
    }

    /// Everything but stdin, which only one instance can own: for specs
    /// that serve many instances (one per HTTP request).
    /// `work_dir` is the working directory, opened once by the caller
    /// ([`crate::preopen::work_dir`]).
    pub(crate) fn shared_wasi_builder(
        &self,
        work_dir: Option<&WorkDir>,
    ) -> Result<WasiCtxBuilder, EngineError> {
        let mut b = WasiCtxBuilder::new();
        b.args(&self.args).envs(&self.env);
        if let Some(cwd) = &self.cwd {
            b.initial_cwd(cwd);
        }
        crate::preopen::grant(&mut b, &self.preopens, work_dir)?;
        match &self.stdio.stdout {
            OutputSpec::Null => {}
            OutputSpec::Inherit => {
                b.inherit_stdout();
            }
            OutputSpec::File(f) => {
                b.stdout(wasmtime_wasi::cli::OutputFile::new(clone_file(f)?));
            }
        }
        match &self.stdio.stderr {
            OutputSpec::Null => {}
            OutputSpec::Inherit => {
                b.inherit_stderr();
            }
            OutputSpec::File(f) => {
                b.stderr(wasmtime_wasi::cli::OutputFile::new(clone_file(f)?));
            }
        }
        if self.network {
            // wasmtime-wasi leaves TCP and UDP off by default; inheriting
            // the network only opens the address check.
            b.inherit_network()
                .allow_ip_name_lookup(true)
                .allow_tcp(true)
                .allow_udp(true);
        }
        Ok(b)
    }
}

fn clone_file(f: &std::fs::File) -> Result<std::fs::File, EngineError> {
    f.try_clone().map_err(|source| EngineError::Read {
        path: PathBuf::from("<stdio>"),
        source,
    })
}

/// What one instance uses, readable while it runs (for metrics).
///
/// Linear memory is counted as it is allocated and grown; it drops to zero
/// when the run ends, while the high-water mark stays.
///
/// CPU time is the CPU clock of the threads that ran the instance, counted
/// only while they ran it: [`Runtime::run`] reads the polling thread's clock
/// around every poll of the instance, so time the worker thread spends on
/// other tasks is not counted. Work wasmtime-wasi hands to tokio's blocking
/// pool (some file operations) is not counted either. Instances that share
/// one `Usage` add up. Linux only; elsewhere it stays zero.
#[derive(Debug, Default)]
pub struct Usage {
    memory: std::sync::atomic::AtomicU64,
    peak: std::sync::atomic::AtomicU64,
    cpu: Mutex<CpuTime>,
}

/// CPU time of finished polls, and the polls under way.
#[derive(Debug, Default)]
struct CpuTime {
    done: u64,
    next_key: u64,
    running: Vec<RunningPoll>,
}

/// A poll under way: the polling thread's clock, and its reading when the
/// poll began.
#[derive(Debug)]
struct RunningPoll {
    key: u64,
    clock: ThreadClock,
    start: u64,
}

impl Usage {
    /// Bytes of linear memory the instance has now.
    pub fn memory_bytes(&self) -> u64 {
        self.memory.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most linear memory the instance has had.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Nanoseconds of CPU the instance has used, including the poll under way
    /// (a guest computing without a host call is one long poll). Never
    /// decreases.
    pub fn cpu_nanos(&self) -> u64 {
        // Clocks are read under the lock on both sides, so a poll that ends
        // between two reads never makes the second one smaller.
        let cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let running: u64 = cpu
            .running
            .iter()
            .filter_map(|p| Some(p.clock.now()?.saturating_sub(p.start)))
            .sum();
        cpu.done + running
    }

    /// Adds CPU time used elsewhere, for a caller that keeps the time of
    /// instances whose own `Usage` it drops (a container's deleted execs).
    pub fn add_cpu_nanos(&self, nanos: u64) {
        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        cpu.done = cpu.done.saturating_add(nanos);
    }

    fn poll_started(&self) -> CpuPoll<'_> {
        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((clock, start)) = ThreadClock::current().and_then(|c| Some((c, c.now()?))) else {
            return CpuPoll {
                usage: self,
                key: None,
            };
        };
        let key = cpu.next_key;
        cpu.next_key += 1;
        cpu.running.push(RunningPoll { key, clock, start });
        CpuPoll {
            usage: self,
            key: Some(key),
        }
    }

    fn poll_ended(&self, key: u64) {
        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = cpu.running.iter().position(|p| p.key == key) {
            let p = cpu.running.swap_remove(i);
            // A failed read drops this poll's time rather than inventing one.
            let used = p.clock.now().map_or(0, |end| end.saturating_sub(p.start));
            cpu.done += used;
        }
    }

    fn grew(&self, by: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.memory.fetch_add(by, Relaxed) + by;
        self.peak.fetch_max(now, Relaxed);
    }

    fn released(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self
            .memory
            .fetch_update(Relaxed, Relaxed, |m| Some(m.saturating_sub(bytes)));
    }
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
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let by = desired.saturating_sub(current) as u64;
        if !self.take(by) {
            debug!(current, desired, budget = ?self.budget, "memory growth refused");
            return Ok(false);
        }
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
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let elements = desired.saturating_sub(current) as u64;
        let allowed = self.take(elements.saturating_mul(TABLE_ELEMENT_BYTES));
        if !allowed {
            debug!(current, desired, budget = ?self.budget, "table growth refused");
        }
        Ok(allowed)
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
    /// [`StopReason::Timeout`].
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
        let quota = CPU_PERIOD.as_nanos() as u64 * millis / 1000;
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

/// Where the guest's stdio goes. The default connects everything to nothing.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: InputSpec,
    pub stdout: OutputSpec,
    pub stderr: OutputSpec,
}

impl Stdio {
    /// The caller's own stdin, stdout and stderr, streamed.
    pub fn inherit() -> Self {
        Self {
            stdin: InputSpec::Inherit,
            stdout: OutputSpec::Inherit,
            stderr: OutputSpec::Inherit,
        }
    }
}

/// A source for the guest's stdin.
#[derive(Default)]
pub enum InputSpec {
    /// End of file at once.
    #[default]
    Null,
    /// This process's stdin.
    Inherit,
    /// A file or FIFO.
    File(std::fs::File),
    /// Any async reader (for example one fed by a FIFO that is opened in the
    /// background, so starting the guest never waits for a writer).
    Reader(Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>),
}

impl std::fmt::Debug for InputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Inherit => f.write_str("Inherit"),
            Self::File(file) => f.debug_tuple("File").field(file).finish(),
            Self::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

/// A destination for the guest's stdout or stderr.
#[derive(Debug, Default)]
pub enum OutputSpec {
    /// Discarded.
    #[default]
    Null,
    /// This process's stdout or stderr.
    Inherit,
    /// A file or FIFO.
    File(std::fs::File),
}

/// How a guest's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The guest exited with this WASI exit code (0 when `_start` or
    /// `wasi:cli/run` returned normally, 1 when `run` returned an error).
    Exited(i32),
    /// The guest trapped (or a host call failed fatally on its behalf).
    Trapped {
        /// What happened, e.g. `wasm trap: integer divide by zero`.
        message: String,
        /// The Wasm backtrace, with function names from the name section.
        backtrace: Option<String>,
    },
    /// The guest was stopped from outside.
    Stopped(StopReason),
}

impl ExitStatus {
    /// The process exit code that stands for this status, following the
    /// shell's conventions: the guest's own code; 134 (SIGABRT) for a trap;
    /// 124 for a timeout (like `timeout(1)`); 128+N for signal N.
    pub fn code(&self) -> i32 {
        match self {
            Self::Exited(code) => *code,
            Self::Trapped { .. } => 134,
            Self::Stopped(StopReason::Timeout(_)) => 124,
            Self::Stopped(StopReason::Signal(n)) => 128 + n,
        }
    }
}

/// Why a guest was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The spec's timeout passed.
    Timeout(Duration),
    /// A signal was delivered to the workload (SIGTERM = 15, SIGINT = 2,
    /// SIGKILL = 9).
    Signal(i32),
}

/// Stops a running guest from another task or thread.
///
/// Cloning shares the handle. Stopping is idempotent: the first reason wins.
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    reason: watch::Sender<Option<StopReason>>,
    /// Set by a SIGKILL stop even after another reason: it ends a drain.
    killed: watch::Sender<bool>,
    engine: OnceLock<wasmtime::Engine>,
}

impl Default for StopHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl StopHandle {
    /// A handle that has not been used.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(StopInner {
                reason: watch::Sender::new(None),
                killed: watch::Sender::new(false),
                engine: OnceLock::new(),
            }),
        }
    }

    /// Stops the guest: a guest running wasm code is interrupted at its next
    /// epoch check (loop back-edges and function entries), one blocked in a
    /// host call is dropped.
    ///
    /// A served HTTP component drains on its first stop; SIGKILL
    /// (`StopReason::Signal(9)`), first or later, ends it at once.
    pub fn stop(&self, reason: StopReason) {
        if reason == StopReason::Signal(libc::SIGKILL) {
            self.inner.killed.send_replace(true);
        }
        let first = self.inner.reason.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
        if first {
            debug!(?reason, "stopping guest");
            if let Some(engine) = self.inner.engine.get() {
                engine.increment_epoch();
            }
        }
    }

    /// Why the guest was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        *self.inner.reason.borrow()
    }

    /// Waits until the handle is used, and returns why.
    pub async fn stopped(&self) -> StopReason {
        let mut rx = self.subscribe();
        wait_stopped(&mut rx).await
    }

    /// Whether the handle was used with SIGKILL.
    pub(crate) fn is_killed(&self) -> bool {
        *self.inner.killed.borrow()
    }

    /// Waits until the handle is used with SIGKILL.
    pub(crate) async fn killed(&self) {
        let mut rx = self.inner.killed.subscribe();
        if rx.wait_for(|k| *k).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub(crate) fn attach(&self, engine: &wasmtime::Engine) {
        let _ = self.inner.engine.set(engine.clone());
        // A stop that raced with attaching must still reach the guest.
        if self.reason().is_some() {
            engine.increment_epoch();
        }
    }

    fn subscribe(&self) -> watch::Receiver<Option<StopReason>> {
        self.inner.reason.subscribe()
    }

    /// Makes `store` check this handle (and the CPU quota, if any)
    /// whenever the engine's epoch moves.
    fn arm<T: 'static>(&self, store: &mut Store<T>, throttle: Option<Arc<Throttle>>) {
        let rx = self.subscribe();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if rx.borrow().is_some() {
                UpdateDeadline::Interrupt
            } else if let Some(t) = &throttle {
                t.deadline()
            } else {
                UpdateDeadline::Continue(1)
            })
        });
    }
}

async fn wait_stopped(rx: &mut watch::Receiver<Option<StopReason>>) -> StopReason {
    let reason = rx.wait_for(Option::is_some).await.ok().and_then(|r| *r);
    match reason {
        Some(r) => r,
        // The sender lives in the handle we borrow, so this cannot close
        // while we wait; never resolve if it somehow does.
        None => std::future::pending().await,
    }
}

/// Stops a guest after a deadline, from a thread of its own, so a guest that
/// never yields is still stopped. Dropping the guard cancels it.
struct TimeoutGuard {
    _cancel: std::sync::mpsc::Sender<()>,
}

impl TimeoutGuard {
    fn start(stop: StopHandle, after: Duration) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-timeout".into())
            .spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                    stop.stop(StopReason::Timeout(after));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the timeout thread; no timeout applies");
        }
        Self { _cancel: tx }
    }
}

/// Moves the engine's epoch every 10 ms while alive, so request deadlines
/// and CPU quotas reach guests that compute without yielding. A thread, not
/// a task: a runtime whose workers are all busy in guests still ticks.
pub(crate) struct EpochTicker {
    _stop: std::sync::mpsc::Sender<()>,
}

impl EpochTicker {
    pub(crate) fn start(engine: wasmtime::Engine) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-epoch".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(Duration::from_millis(10))
                {
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the epoch thread; deadlines and CPU limits only apply to guests that yield");
        }
        Self { _stop: tx }
    }
}

/// Runs `fut`, counting the CPU time of every poll into `usage`.
pub(crate) async fn count_cpu<F: Future>(usage: &Usage, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let _poll = usage.poll_started();
        fut.as_mut().poll(cx)
    })
    .await
}

/// One poll being counted; ends the count when dropped, even by a panic.
struct CpuPoll<'a> {
    usage: &'a Usage,
    key: Option<u64>,
}

impl Drop for CpuPoll<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.usage.poll_ended(key);
        }
    }
}

/// A thread's CPU clock, which any thread of the process can read.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
struct ThreadClock(libc::clockid_t);

#[cfg(target_os = "linux")]
impl ThreadClock {
    /// The calling thread's clock.
    fn current() -> Option<Self> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `pthread_self()` is the calling thread, alive during the
        // call, and `id` is valid for the one write.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
        (rc == 0).then_some(Self(id))
    }

    /// Nanoseconds of CPU the thread has used. Usage reads it only while the
    /// thread is inside a poll, so the thread is alive.
    fn now(self) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for the one write; any clock id is sound to
        // pass (an unknown one fails with EINVAL).
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u64::try_from(ts.tv_nsec).ok()?;
        (rc == 0).then(|| secs * 1_000_000_000 + nanos)
    }
}

/// Elsewhere instance CPU time is not counted.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy)]
struct ThreadClock;

#[cfg(not(target_os = "linux"))]
impl ThreadClock {
    fn current() -> Option<Self> {
        None
    }

    fn now(self) -> Option<u64> {
        None
    }
}

struct ModuleHost {
    wasi: WasiP1Ctx,
    limits: Limiter,
}

struct ComponentHost {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: Limiter,
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_entries_split_at_the_first_equals() {
        assert_eq!(
            super::env_pairs(&["A=1", "B=x=y", "C", "D="]),
            [("A", "1"), ("B", "x=y"), ("C", ""), ("D", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
