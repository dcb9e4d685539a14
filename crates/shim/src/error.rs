//! The shim's error type. `From<ShimError> for ttrpc::Error` (in `task.rs`)
//! is the one place errors become gRPC codes.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{0}: already exists")]
    AlreadyExists(String),
    #[error("invalid runtime spec: {0}")]
    InvalidSpec(String),
    #[error("cannot load the Wasm entrypoint {0}")]
    Module(String),
    #[error(
        "the entrypoint {0} is a native (ELF or script) program; wasmpod runs only WebAssembly (native sidecars are not supported yet)"
    )]
    Native(String),
    /// Start of a process that was started before.
    #[error("{0} was already started")]
    AlreadyStarted(String),
    /// A call that needs a process that has not exited: start of one
    /// killed before it started, exec in a container whose init exited.
    #[error("{0} has exited")]
    Exited(String),
    /// Delete of a process that is running.
    #[error("{0} is still running; kill it first")]
    StillRunning(String),
    #[error("{0} is not supported by the wasmpod shim")]
    Unsupported(String),
    #[error("{0}")]
    Engine(String),
    #[error("cannot mount the rootfs: {0}")]
    Mount(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ShimError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
