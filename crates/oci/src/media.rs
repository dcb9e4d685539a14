//! Media types wasmpod writes and reads.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// OCI image config (compat images).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config (compat images).
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// CNCF TAG-Runtime Wasm artifact config.
pub const WASM_CONFIG_V0: &str = "application/vnd.wasm.config.v0+json";
/// CNCF TAG-Runtime Wasm artifact layer.
pub const WASM_LAYER: &str = "application/wasm";
/// Older Wasm config (wasm-to-oci, Krustlet, Spin).
pub const WASM_CONFIG_V1: &str = "application/vnd.wasm.config.v1+json";
/// Older Wasm layer (wasm-to-oci, Krustlet, Spin).
pub const WASM_CONTENT_LAYER_V1: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// Component layer used by wasmtime tooling and accepted by runwasi.
pub const BYTECODEALLIANCE_COMPONENT_LAYER: &str =
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";

/// Filesystem layers of container images.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Layer media types that hold a Wasm binary directly.
pub const WASM_LAYERS: &[&str] = &[
    WASM_LAYER,
    WASM_CONTENT_LAYER_V1,
    BYTECODEALLIANCE_COMPONENT_LAYER,
];

/// Whether a filesystem layer is gzip-compressed, or `None` if the media
/// type is not a filesystem layer at all.
pub fn tar_layer_gzipped(media_type: &str) -> Option<bool> {
    match media_type {
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => Some(false),
        OCI_LAYER_TAR_GZIP | DOCKER_LAYER_TAR_GZIP => Some(true),
        _ => None,
    }
}

/// Manifest media types we ask registries for, most preferred first.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
