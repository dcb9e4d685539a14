//! The crate's error type.

use std::path::PathBuf;

use crate::Digest;

/// Everything that can go wrong with references, registries and the store.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),

    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),

    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Served or stored bytes do not hash to the digest they were named by.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },

    /// A blob ended early or ran past its declared size.
    #[error("blob {digest} has the wrong size: declared {declared} bytes, {reason}")]
    SizeMismatch {
        digest: Digest,
        declared: u64,
        reason: String,
    },

    /// A manifest larger than we accept.
    #[error("manifest for {reference} is larger than {limit} bytes; refusing it")]
    ManifestTooLarge { reference: String, limit: u64 },

    /// Content over one of the limits in [`crate::limits`]. `what` names
    /// the reference and blob; `limit` says which limit, with its value.
    #[error("{what} exceeds {limit}; refusing it")]
    LimitExceeded { what: String, limit: String },

    /// Content whose media type wasmpod cannot run or store.
    #[error("unsupported media type {media_type}: {what}")]
    UnsupportedMediaType { media_type: String, what: String },

    /// An image that holds no runnable Wasm.
    #[error("{reference}: {reason}")]
    NoWasm { reference: String, reason: String },

    /// The registry does not have the tag or digest.
    #[error("{reference}: not found in the registry (no such repository, tag or digest)")]
    NotFound { reference: String },

    /// The registry wants credentials we do not have, or rejected ours.
    #[error("{registry}: {reason}")]
    Unauthorized { registry: String, reason: String },

    /// Any other unexpected answer from the registry.
    #[error("{registry}: {method} {url} answered {status}: {body}")]
    Registry {
        registry: String,
        method: String,
        url: String,
        status: u16,
        body: String,
    },

    /// The registry could not be reached. The source is the last attempt's
    /// failure.
    #[error("{registry}: cannot reach the registry after {attempts} attempts")]
    Unreachable {
        registry: String,
        attempts: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The HTTP client could not be set up (its TLS backend, for example).
    #[error("cannot set up the HTTP client")]
    HttpClient(#[source] reqwest::Error),

    /// A malformed document (manifest, config, credential file).
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },

    /// A trust policy file that cannot be used: not TOML, an unknown
    /// field, rules that contradict each other.
    #[error("invalid policy {}", path.display())]
    Policy {
        path: PathBuf,
        #[source]
        source: crate::trust::PolicyError,
    },

    /// A key file that cannot be used.
    #[error("invalid key file {}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: crate::trust::KeyError,
    },

    /// The trust policy refuses an image: denied, not pinned, or without
    /// a valid signature by an allowed key. `rule` names the rule (or
    /// `--verify-key`), `reason` what is missing.
    #[error("{reference}: refused by {rule}: {reason}")]
    NotTrusted {
        reference: String,
        rule: String,
        reason: String,
    },

    /// A reference not in the local store.
    #[error("{reference}: no such image in the local store (run `wasmpod pull {reference}`)")]
    ImageNotFound { reference: String },
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
