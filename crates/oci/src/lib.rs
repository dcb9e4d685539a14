//! OCI images for Wasm: references, the registry protocol, media types and
//! the content-addressed local store.
//!
//! This crate knows nothing about running Wasm. It moves bytes between
//! registries and `$WASMPOD_HOME/store`, verifies every one of them, and
//! tells its caller which blob is the module to run ([`ImageRecord::wasm`]).
//!
//! - [`ImageRef`]: docker-style references, normalized.
//! - [`RegistryClient`]: the OCI distribution protocol.
//! - [`ContentStore`]: blobs by digest, and the images we know.
//! - [`image::pull`] / [`image::push`] / [`image::build`]: whole images.
//! - [`trust`]: signatures and the policy that says which images may run.

pub mod auth;
mod digest;
mod error;
pub mod image;
pub mod limits;
pub mod manifest;
pub mod media;
mod reference;
pub mod registry;
pub mod store;
pub mod trust;
pub mod wasi;

pub use digest::{Digest, DigestError, Hasher};
pub use error::OciError;
pub use reference::{ImageRef, ReferenceError, canonical_registry, is_loopback_host};
pub use registry::{ClientOptions, NoProgress, Progress, RegistryClient};
pub use store::{ContentStore, ImageRecord};
