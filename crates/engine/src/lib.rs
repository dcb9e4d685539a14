//! The WebAssembly engine behind every way wasmpod runs a workload.
//!
//! This crate owns the wasmtime [`Engine`](wasmtime::Engine), the WASI
//! preview 1, WASI 0.2 and WASI 0.3 linkers, resource limits, the sandbox (what a guest
//! may touch) and the on-disk compile cache. It knows nothing about command
//! lines, containerd or Kubernetes: the `wasmpod` CLI, the local supervisor and
//! the containerd shim all describe a workload as a [`RunSpec`] and hand it to
//! a [`Runtime`].
//!
//! The flow is always the same:
//!
//! 1. build one [`Runtime`] per process from [`EngineOptions`];
//! 2. [`Runtime::load`] the guest's bytes into a [`Program`] (compiled once,
//!    then served from the [`CompileCache`]);
//! 3. [`Runtime::run`] it with a [`RunSpec`] and a [`StopHandle`], and get an
//!    [`ExitStatus`] back.
//!
//! Deny by default: a guest sees no host environment variable, no host file,
//! no socket and no stdin unless the [`RunSpec`] grants it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasmpod_engine::EngineError> {
//! use wasmpod_engine::{EngineOptions, Runtime, RunSpec, StopHandle};
//!
//! let runtime = Runtime::new(EngineOptions::default())?;
//! let bytes = std::fs::read("hello.wasm").map_err(|source| {
//!     wasmpod_engine::EngineError::Read { path: "hello.wasm".into(), source }
//! })?;
//! let program = runtime.load(&bytes)?;
//! let spec = RunSpec::new(vec!["hello.wasm".to_string()]);
//! let status = runtime.run(&program, spec, &StopHandle::new()).await?;
//! std::process::exit(status.code());
//! # }
//! ```

mod cache;
mod cache_write;
mod epoch;
mod error;
mod exit;
pub mod home;
mod host;
mod host_dir;
mod http;
mod limits;
mod options;
mod p3;
mod path_with_query;
mod preopen;
mod program;
mod runtime;
mod runtimes;
mod spec;
mod stop;
mod usage;

pub use cache::{CacheOutcome, CompileCache};
pub use error::{Cause, EngineError, one_line};
pub use exit::ExitStatus;
pub use host_dir::{HostDir, MAX_MODULE_BYTES};
pub use http::{AcceptBackoff, HttpOptions, HttpStats};
pub use limits::{Limits, MAX_HANDLES, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
pub use options::{DEFAULT_MAX_WASM_STACK, EngineOptions, MAX_WASM_STACK_RANGE};
pub use preopen::Preopen;
pub use program::{Program, ProgramKind, WasiVersion, World, to_binary};
pub use runtime::Runtime;
pub use runtimes::Runtimes;
pub use spec::{InputSpec, OutputSpec, RunSpec, Stdio, env_pairs};
pub use stop::{StopHandle, StopReason};
pub use usage::Usage;
