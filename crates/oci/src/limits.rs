//! Every size and count wasmpod accepts from a registry or reads back from
//! its store, in one place.
//!
//! Registry content is untrusted: a small gzip layer can expand to
//! gigabytes, and a manifest can name a config of any size. Each limit is
//! checked before the bytes are fetched or expanded where the declared size
//! allows it, and again while they stream, so exceeding one costs at most
//! the limit in disk and a bounded amount of memory. Exceeding one is
//! [`OciError::LimitExceeded`](crate::OciError::LimitExceeded), naming the
//! blob and the limit, and nothing is recorded.

/// Largest manifest or image index (the distribution spec's recommended
/// limit), both as served and as read back from the store.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Largest image config blob (OCI, Docker or Wasm artifact config).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Largest Wasm module or component: a Wasm layer, or the file a compat
/// image's entrypoint names inside its tar layers.
pub const MAX_MODULE_BYTES: u64 = 256 << 20;

/// Largest tar layer of a compat image, both as a blob (compressed) and
/// expanded (every byte of the tar stream that is read while looking for the
/// module).
pub const MAX_LAYER_BYTES: u64 = 1 << 30;

/// Most entries (files, directories, links, whiteouts) in one tar layer.
pub const MAX_LAYER_ENTRIES: u64 = 100_000;

/// Most bytes of tar headers, long names and pax extensions for one entry.
/// The tar reader holds these in memory, so they get a limit of their own.
pub const MAX_ENTRY_HEADER_BYTES: u64 = 1 << 20;

/// Most layers in an image manifest (overlay filesystems stop at 128).
pub const MAX_LAYERS: usize = 128;

/// Most image indexes followed from a reference to its image manifest
/// (an index may point at another index).
pub const MAX_INDEX_DEPTH: usize = 4;

/// Largest token-service answer to a bearer challenge.
pub const MAX_TOKEN_RESPONSE_BYTES: u64 = 1 << 20;

/// Most bytes of an error answer read to quote it in a message.
pub const MAX_ERROR_BODY_BYTES: u64 = 64 << 10;

/// Largest `images.json`, the store's list of references.
pub const MAX_IMAGES_FILE_BYTES: u64 = 64 << 20;

/// Largest blob [`ContentStore::read_blob`](crate::ContentStore::read_blob)
/// reads into memory: a module, manifest or config, never a whole layer.
pub const MAX_READ_BLOB_BYTES: u64 = MAX_MODULE_BYTES;
