//! The shim's error type. `From<ShimError> for ttrpc::Error` (in `task.rs`)
//! is the one place errors become gRPC codes; the message containerd keeps
//! is the error and its causes on one line.

use std::path::PathBuf;

use wasmpod_engine::EngineError;

use crate::content::ContentError;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{0}: already exists")]
    AlreadyExists(String),
    #[error("invalid runtime spec: {0}")]
    InvalidSpec(String),
    /// The entrypoint is neither in the rootfs nor a Wasm layer of the
    /// container's image; `reason` says why the image did not have it.
    #[error(
        "cannot load the Wasm entrypoint {module}: not in the container's rootfs, and {reason}"
    )]
    ModuleNotFound {
        module: String,
        reason: ContentError,
    },
    /// The node's trust policy refuses the container's image, or cannot
    /// decide (which refuses it too).
    #[error("node trust policy {}", path.display())]
    NotAdmitted {
        path: PathBuf,
        #[source]
        source: Box<crate::admission::AdmissionError>,
    },
    /// The entrypoint does not compile, or is no program wasmpod runs.
    #[error("cannot load the Wasm entrypoint {module}")]
    LoadModule {
        module: String,
        #[source]
        source: EngineError,
    },
    /// The bundle: its spec, its mounts or its entrypoint.
    #[error(transparent)]
    Bundle(#[from] wasmpod_bundle::BundleError),
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
    /// A pod annotation wasmpod reads has a value it cannot take.
    #[error("invalid annotation {name}")]
    Annotation {
        name: &'static str,
        #[source]
        source: wasmpod_engine::Cause,
    },
    /// A blocking step the shim ran off its async threads panicked or
    /// was cancelled.
    #[error("a background task of the shim failed")]
    Task(#[from] tokio::task::JoinError),
    /// The container's metrics could not be encoded for containerd.
    #[error("cannot encode the container's metrics")]
    Metrics(#[source] containerd_shim::Error),
    #[error("cannot mount the rootfs {}", rootfs.display())]
    Mount {
        rootfs: PathBuf,
        #[source]
        source: containerd_shim::Error,
    },
    #[error("{}", path.display())]
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
