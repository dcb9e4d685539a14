//! The engine's error type.
//!
//! Everything here is a *host-side* failure: the workload could not be
//! started. A guest that runs and then exits, traps or is stopped is not an
//! error but an [`ExitStatus`](crate::ExitStatus).

use std::path::PathBuf;

/// A cause from a lower layer (wasmtime, the WAT parser), kept whole so
/// that its own chain reaches `source()`.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why the engine could not load or start a workload.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The wasmtime configuration was rejected.
    #[error("invalid engine configuration")]
    Config(#[source] Cause),

    /// [`EngineOptions::max_wasm_stack`](crate::EngineOptions::max_wasm_stack)
    /// is outside [`MAX_WASM_STACK_RANGE`](crate::MAX_WASM_STACK_RANGE).
    #[error("max wasm stack {bytes} bytes is outside 64 KiB to 1 GiB")]
    MaxWasmStack { bytes: u64 },

    /// A timeout, a CPU quota or an HTTP server was asked of a runtime
    /// built without [`EngineOptions::interruptible`](crate::EngineOptions::interruptible),
    /// which could not enforce it.
    #[error("{what} needs an engine that can interrupt guests (interruptible)")]
    NotInterruptible { what: &'static str },

    /// A wasi:http component's address cannot be listened on.
    #[error("cannot listen on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// A file the workload needs could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are neither a WebAssembly binary nor WebAssembly text.
    #[error("not a WebAssembly module or component ({reason})")]
    NotWasm { reason: String },

    /// The bytes look like WebAssembly but do not validate or compile
    /// (truncated, corrupt, or using features the engine does not enable).
    #[error("invalid WebAssembly")]
    Compile(#[source] Cause),

    /// The guest imports something the host does not provide. The message
    /// names the import's module and field.
    #[error("cannot link the guest")]
    Link(#[source] Cause),

    /// The guest could not be instantiated, for example because its initial
    /// memory is larger than the memory limit.
    #[error("cannot instantiate the guest")]
    Instantiate(#[source] Cause),

    /// A core module without a `_start` export: a library ("reactor"), not a
    /// command.
    #[error("the module exports no `_start` function, so it is not a WASI command")]
    NoEntryPoint,

    /// A component that does not export `wasi:cli/run`.
    #[error("the component does not export `wasi:cli/run`")]
    NotACommand(#[source] Cause),

    /// A program served over HTTP that does not export
    /// `wasi:http/incoming-handler`.
    #[error("the program does not export `wasi:http/incoming-handler`")]
    NotHttp(#[source] Cause),

    /// A directory to preopen could not be opened.
    #[error("volume {}", host.display())]
    Volume {
        host: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A read-only volume is, or lies inside, a read-write one, through
    /// which the guest could write to it.
    #[error(
        "read-only volume {} is inside the read-write volume {}, so it could be written through that one; grant the parent read-only or mount a sibling",
        read_only.display(),
        read_write.display()
    )]
    VolumeOverlap {
        read_only: PathBuf,
        read_write: PathBuf,
    },

    /// The compile cache folder could be written by someone else, whose
    /// bytes would then run as native code in this process.
    #[error("compile cache {}: {reason}; it must belong to this user or root and be writable by no one else (chmod go-w)", path.display())]
    UnsafeCache { path: PathBuf, reason: String },

    /// The compile cache directory could not be created.
    #[error("compile cache {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An error and its causes on one line, `outer: cause: root`, for front
/// ends that can show only one line (a console event, the message
/// containerd and the kubelet keep). The CLI prints causes on lines of
/// their own instead.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}
