//! What goes wrong reading a bundle.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file of the bundle, or a mount's source, cannot be read.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is over [`crate::MAX_SPEC_BYTES`].
    #[error("{}: larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// `config.json` is not a runtime spec.
    #[error("invalid runtime spec {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A value of the spec wasmpod cannot take.
    #[error("invalid runtime spec: {0}")]
    Invalid(String),
    /// The entrypoint is a native program.
    #[error(
        "the entrypoint {0} is a native (ELF or script) program; wasmpod runs only WebAssembly (native sidecars are not supported yet)"
    )]
    Native(String),
    /// The entrypoint is in the rootfs but cannot be read.
    #[error("cannot read the Wasm entrypoint {module}")]
    ReadEntrypoint {
        module: String,
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
