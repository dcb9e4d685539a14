//! Wasm images: building them for `push`, and finding the module in them
//! after `pull`.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use tracing::{debug, info, warn};

use crate::limits::{
    MAX_CONFIG_BYTES, MAX_ENTRY_HEADER_BYTES, MAX_INDEX_DEPTH, MAX_LAYER_BYTES, MAX_LAYER_ENTRIES,
    MAX_LAYERS, MAX_MODULE_BYTES,
};
use crate::manifest::{
    ContainerConfig, Descriptor, ImageConfig, ImageIndex, ImageManifest, Manifest, RootFs,
    WasmConfig,
};
use crate::registry::{Progress, RegistryClient};
use crate::store::{ContentStore, ImageRecord, IngestWriter};
use crate::trust::{Admission, Trust, Verdict};
use crate::{Digest, ImageRef, OciError, media};

/// How `push` packages a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFormat {
    /// The CNCF TAG-Runtime Wasm artifact: a `application/vnd.wasm.config.v0+json`
    /// config and one `application/wasm` layer, titled
    /// (`org.opencontainers.image.title`) with `title` so that `oras pull`
    /// saves it under that name.
    Artifact { title: String },
    /// A standard container image: one tar+gzip layer holding the module at
    /// `path`, and a config whose `Entrypoint` is `[path]`, platform
    /// `wasi/wasm`.
    Compat { path: String },
    /// A container image whose module is a layer of its own: a config
    /// whose `Entrypoint` is `[path]` (platform `wasi/wasm`, no filesystem
    /// layers) and one `application/wasm` layer titled with `path`'s file
    /// name. containerd 1.7.7 and later run it through the wasmpod shim,
    /// which reads the layer from containerd's content store.
    WasmLayer { path: String },
}

/// A built image, ready to upload.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub config: (Descriptor, Vec<u8>),
    pub layers: Vec<(Descriptor, Vec<u8>)>,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Packages `wasm` for a registry.
pub fn build(wasm: &[u8], format: &PushFormat) -> Result<BuiltImage, OciError> {
    if !wasm.starts_with(b"\0asm") {
        return Err(OciError::NoWasm {
            reference: "input".into(),
            reason: "not a WebAssembly binary (no \\0asm header)".into(),
        });
    }
    let created = now_rfc3339();
    let (config, layers) = match format {
        PushFormat::Artifact { title } => {
            let layer = Descriptor::new(media::WASM_LAYER, wasm).with_title(plain_name(title)?);
            let component = crate::wasi::is_component(wasm);
            let config = WasmConfig {
                created: Some(created),
                author: None,
                architecture: "wasm".into(),
                os: crate::wasi::wasi_version(wasm)?.os().into(),
                layer_digests: vec![layer.digest],
                component: if component {
                    Some(crate::wasi::component_info(wasm)?)
                } else {
                    None
                },
            };
            let bytes = serde_json::to_vec(&config)
                .map_err(|e| OciError::invalid("config", e.to_string()))?;
            (
                (Descriptor::new(media::WASM_CONFIG_V0, &bytes), bytes),
                vec![(layer, wasm.to_vec())],
            )
        }
        PushFormat::Compat { path } => {
            let (tar, gz) = compat_layer(wasm, path)?;
            let layer = Descriptor::new(media::OCI_LAYER_TAR_GZIP, &gz);
            let config = ImageConfig {
                created: Some(created),
                architecture: "wasm".into(),
                os: "wasi".into(),
                config: Some(ContainerConfig {
                    entrypoint: Some(vec![absolute(path)]),
                    ..ContainerConfig::default()
                }),
                rootfs: Some(RootFs {
                    kind: "layers".into(),
                    diff_ids: vec![Digest::of(&tar)],
                }),
            };
            let bytes = serde_json::to_vec(&config)
                .map_err(|e| OciError::invalid("config", e.to_string()))?;
            (
                (Descriptor::new(media::OCI_CONFIG, &bytes), bytes),
                vec![(layer, gz)],
            )
        }
        PushFormat::WasmLayer { path } => {
            let (config, layer) = wasm_layer_image(wasm, path, created)?;
            (config, vec![layer])
        }
    };
    BuiltImage::new(config, layers)
}

/// A descriptor and the bytes it describes.
type Blob = (Descriptor, Vec<u8>);

/// The config and the one Wasm layer of [`PushFormat::WasmLayer`].
fn wasm_layer_image(wasm: &[u8], path: &str, created: String) -> Result<(Blob, Blob), OciError> {
    let rel = plain_path(path)?;
    let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
    let path = format!("/{rel}");
    let layer = Descriptor::new(media::WASM_LAYER, wasm).with_title(name);
    let config = ImageConfig {
        created: Some(created),
        architecture: "wasm".into(),
        os: "wasi".into(),
        config: Some(ContainerConfig {
            entrypoint: Some(vec![path]),
            ..ContainerConfig::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![],
        }),
    };
    let bytes =
        serde_json::to_vec(&config).map_err(|e| OciError::invalid("config", e.to_string()))?;
    Ok((
        (Descriptor::new(media::OCI_CONFIG, &bytes), bytes),
        (layer, wasm.to_vec()),
    ))
}

impl BuiltImage {
    /// An OCI image manifest over a config blob and layer blobs.
    pub fn new(
        config: (Descriptor, Vec<u8>),
        layers: Vec<(Descriptor, Vec<u8>)>,
    ) -> Result<Self, OciError> {
        let manifest = ImageManifest::oci(
            config.0.clone(),
            layers.iter().map(|(d, _)| d.clone()).collect(),
        );
        let manifest = serde_json::to_vec(&manifest)
            .map_err(|e| OciError::invalid("manifest", e.to_string()))?;
        Ok(Self {
            manifest_digest: Digest::of(&manifest),
            manifest,
            config,
            layers,
        })
    }
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// `--path` without its leading `/`, if it is a plain file path: no empty,
/// `.` or `..` components.
fn plain_path(path: &str) -> Result<String, OciError> {
    let rel = absolute(path).trim_start_matches('/').to_string();
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(OciError::invalid(
            "--path",
            format!("{path:?} is not a plain file path"),
        ));
    }
    Ok(rel)
}

/// `title` if it is one plain file name (what `oras pull` may write as a
/// file without leaving its folder).
fn plain_name(title: &str) -> Result<&str, OciError> {
    if title.is_empty() || title == "." || title == ".." || title.contains(['/', '\\', '\0']) {
        return Err(OciError::invalid(
            "layer title",
            format!("{title:?} is not a plain file name"),
        ));
    }
    Ok(title)
}

/// A tar (and its gzip) holding `wasm` at `path`, executable, owned by root.
fn compat_layer(wasm: &[u8], path: &str) -> Result<(Vec<u8>, Vec<u8>), OciError> {
    let rel = plain_path(path)?;
    let io = |e: std::io::Error| OciError::invalid("layer", e.to_string());
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    // Parent directories first, as image tools expect.
    let parts: Vec<&str> = rel.split('/').collect();
    for i in 1..parts.len() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        builder
            .append_data(
                &mut h,
                format!("{}/", parts[..i].join("/")),
                std::io::empty(),
            )
            .map_err(io)?;
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(wasm.len() as u64);
    builder.append_data(&mut h, &rel, wasm).map_err(io)?;
    let tar = builder.into_inner().map_err(io)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).map_err(io)?;
    let gz = gz.finish().map_err(io)?;
    Ok((tar, gz))
}

/// Uploads a built image to `r` (tagged as `r` says). Returns the manifest
/// digest.
pub async fn push(
    client: &RegistryClient,
    r: &ImageRef,
    image: &BuiltImage,
    progress: &dyn Progress,
) -> Result<Digest, OciError> {
    for (desc, bytes) in image.layers.iter().chain(std::iter::once(&image.config)) {
        client
            .push_blob(r, desc, bytes::Bytes::copy_from_slice(bytes), progress)
            .await?;
    }
    client
        .put_manifest(
            r,
            &r.manifest_reference(),
            media::OCI_MANIFEST,
            &image.manifest,
        )
        .await?;
    info!(reference = %r, digest = %image.manifest_digest, "pushed");
    Ok(image.manifest_digest)
}

/// A pulled image, and why the trust policy let it in.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub record: ImageRecord,
    pub verdict: Verdict,
}

/// Pulls `r` into the store and records it, if `trust` lets it in.
///
/// The rule for `r` is applied before anything is fetched, and the digest
/// the reference resolves to is verified (pins, signatures) before any
/// blob is stored: a refused image leaves nothing behind. A pull that
/// fails leaves no record, and sweeps the blobs it fetched (unless another
/// pull or push is running; then the next `rmi` does).
pub async fn pull(
    client: &RegistryClient,
    store: &ContentStore,
    r: &ImageRef,
    trust: &Trust,
    progress: &dyn Progress,
) -> Result<Pulled, OciError> {
    let admission = trust.admit(r)?;
    let result = pull_locked(client, store, r, &admission, progress).await;
    if result.is_err()
        && let Err(e) = store.gc_if_idle()
    {
        warn!(error = %e, "cannot sweep the blobs of a failed pull");
    }
    result
}

/// [`pull`], holding the store's use lock.
async fn pull_locked(
    client: &RegistryClient,
    store: &ContentStore,
    r: &ImageRef,
    admission: &Admission<'_>,
    progress: &dyn Progress,
) -> Result<Pulled, OciError> {
    let _in_use = store.use_lock()?;
    let top = client.get_manifest(r).await?;
    debug!(digest = %top.digest, media_type = ?top.media_type, "fetched manifest");
    // Signatures are over the digest the reference resolves to (an index's
    // own, for a multi-platform image), as cosign signs it.
    let verdict = admission.verify(client, r, &top.digest).await?;
    let top_digest = top.digest;
    let mut fetched = top;
    let mut size = fetched.bytes.len() as u64;
    store.put_blob(&fetched.bytes)?;
    let mut indexes = 0usize;
    let manifest = loop {
        match Manifest::parse(&fetched.bytes, fetched.media_type.as_deref())
            .map_err(|reason| OciError::invalid(format!("{r}: manifest"), reason))?
        {
            Manifest::Image(m) => break *m,
            Manifest::Index(index) => {
                indexes += 1;
                if indexes > MAX_INDEX_DEPTH {
                    return Err(OciError::LimitExceeded {
                        what: format!("{r}: image index {}", fetched.digest),
                        limit: format!(
                            "the limit of {MAX_INDEX_DEPTH} image indexes from a reference to its manifest"
                        ),
                    });
                }
                let chosen = choose_platform(r, &index)?;
                fetched = client.get_manifest_by_digest(r, chosen.digest).await?;
                size += fetched.bytes.len() as u64;
                store.put_blob(&fetched.bytes)?;
                if fetched.digest == top_digest {
                    return Err(OciError::invalid(
                        format!("{r}: image index"),
                        "refers to itself",
                    ));
                }
            }
        }
    };
    let manifest_digest = fetched.digest;
    if manifest.layers.len() > MAX_LAYERS {
        return Err(OciError::LimitExceeded {
            what: format!(
                "{r}: manifest {manifest_digest} ({} layers)",
                manifest.layers.len()
            ),
            limit: format!("the limit of {MAX_LAYERS} layers for an image"),
        });
    }
    size = manifest
        .layers
        .iter()
        .fold(size.saturating_add(manifest.config.size), |n, l| {
            n.saturating_add(l.size)
        });

    if manifest.config.size > MAX_CONFIG_BYTES {
        return Err(OciError::LimitExceeded {
            what: format!(
                "{r}: config {} ({} bytes)",
                manifest.config.digest, manifest.config.size
            ),
            limit: format!("the limit for an image config ({MAX_CONFIG_BYTES} bytes)"),
        });
    }
    client
        .fetch_blob(r, &manifest.config, store, progress)
        .await?;
    let config_bytes = store.read_blob_max(
        &manifest.config.digest,
        MAX_CONFIG_BYTES,
        "the limit for an image config",
    )?;

    let wasm_layers: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| media::WASM_LAYERS.contains(&l.media_type.as_str()))
        .collect();
    let is_wasm_config = matches!(
        manifest.config.media_type.as_str(),
        media::WASM_CONFIG_V0 | media::WASM_CONFIG_V1
    );
    let record_base = |wasm: Digest, format: &str| ImageRecord {
        name: r.name(),
        tag: r.tag().map(str::to_string),
        digest: top_digest,
        manifest: manifest_digest,
        wasm,
        format: format.into(),
        size,
        created: None,
        entrypoint: vec![],
        cmd: vec![],
        env: vec![],
        working_dir: None,
    };

    let record = if is_wasm_config || !wasm_layers.is_empty() {
        // A container image config beside the Wasm layers (an image for
        // containerd's shims) says how to run the module, and which layer
        // it is when there are several.
        let runtime = if is_wasm_config {
            None
        } else if [media::OCI_CONFIG, media::DOCKER_CONFIG]
            .contains(&manifest.config.media_type.as_str())
        {
            let config: ImageConfig = serde_json::from_slice(&config_bytes)
                .map_err(|e| OciError::invalid(format!("{r}: image config"), e.to_string()))?;
            Some(config.config.unwrap_or_default())
        } else {
            return Err(OciError::UnsupportedMediaType {
                media_type: manifest.config.media_type.clone(),
                what: format!("{r}: the config beside its Wasm layers"),
            });
        };
        let layer = match wasm_layers.as_slice() {
            [one] => *one,
            [] => {
                let media_types: Vec<&str> = manifest
                    .layers
                    .iter()
                    .map(|l| l.media_type.as_str())
                    .collect();
                return Err(OciError::UnsupportedMediaType {
                    media_type: media_types.join(", "),
                    what: format!("{r} has a Wasm config but no Wasm layer"),
                });
            }
            several => {
                let titled = runtime
                    .as_ref()
                    .and_then(|c| c.entrypoint.as_ref().or(c.cmd.as_ref()))
                    .and_then(|argv| argv.first())
                    .and_then(|entry| crate::manifest::titled(several.iter().copied(), entry));
                match titled {
                    Some(layer) => layer,
                    None => {
                        return Err(OciError::NoWasm {
                            reference: r.to_string(),
                            reason: format!(
                                "{} Wasm layers, and none is titled (org.opencontainers.image.title) with the entrypoint's file name",
                                several.len()
                            ),
                        });
                    }
                }
            }
        };
        if layer.size > MAX_MODULE_BYTES {
            return Err(OciError::LimitExceeded {
                what: format!("{r}: Wasm layer {} ({} bytes)", layer.digest, layer.size),
                limit: format!("the limit for a module ({MAX_MODULE_BYTES} bytes)"),
            });
        }
        client.fetch_blob(r, layer, store, progress).await?;
        let mut record = record_base(layer.digest, "artifact");
        record.created = serde_json::from_slice::<serde_json::Value>(&config_bytes)
            .ok()
            .and_then(|v| {
                v.get("created")
                    .and_then(|c| c.as_str())
                    .map(str::to_string)
            });
        if let Some(runtime) = runtime {
            record.entrypoint = runtime.entrypoint.unwrap_or_default();
            record.cmd = runtime.cmd.unwrap_or_default();
            record.env = runtime.env.unwrap_or_default();
            record.working_dir = runtime.working_dir.filter(|w| !w.is_empty());
        }
        record
    } else {
        if ![media::OCI_CONFIG, media::DOCKER_CONFIG].contains(&manifest.config.media_type.as_str())
        {
            return Err(OciError::UnsupportedMediaType {
                media_type: manifest.config.media_type.clone(),
                what: format!("{r}: not a Wasm artifact or container image config"),
            });
        }
        for layer in &manifest.layers {
            if media::tar_layer_gzipped(&layer.media_type).is_none() {
                return Err(OciError::UnsupportedMediaType {
                    media_type: layer.media_type.clone(),
                    what: format!(
                        "{r}: layer {} is neither Wasm nor a tar filesystem layer",
                        layer.digest
                    ),
                });
            }
            if layer.size > MAX_LAYER_BYTES {
                return Err(OciError::LimitExceeded {
                    what: format!("{r}: layer {} ({} bytes)", layer.digest, layer.size),
                    limit: format!("the limit for one layer ({MAX_LAYER_BYTES} bytes)"),
                });
            }
        }
        for layer in &manifest.layers {
            client.fetch_blob(r, layer, store, progress).await?;
        }
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| OciError::invalid(format!("{r}: image config"), e.to_string()))?;
        let runtime = config.config.clone().unwrap_or_default();
        let mut argv: Vec<String> = runtime.entrypoint.clone().unwrap_or_default();
        argv.extend(runtime.cmd.clone().unwrap_or_default());
        let Some(module_path) = argv.first().cloned() else {
            return Err(OciError::NoWasm {
                reference: r.to_string(),
                reason: "the image config has no Entrypoint or Cmd naming the module".into(),
            });
        };
        let wasm = extract_file(store, &manifest.layers, &module_path).map_err(|e| match e {
            ExtractError::NoWasm(reason) => OciError::NoWasm {
                reference: r.to_string(),
                reason,
            },
            ExtractError::Oci(OciError::LimitExceeded { what, limit }) => OciError::LimitExceeded {
                what: format!("{r}: {what}"),
                limit,
            },
            ExtractError::Oci(e) => e,
        })?;
        if wasm.head != b"\0asm" {
            return Err(OciError::NoWasm {
                reference: r.to_string(),
                reason: format!(
                    "the entrypoint {module_path} is not a WebAssembly module (native binaries cannot run in wasmpod)"
                ),
            });
        }
        let wasm_digest = wasm.writer.commit()?;
        let mut record = record_base(wasm_digest, "compat");
        record.created = config.created.clone();
        record.entrypoint = runtime.entrypoint.clone().unwrap_or_default();
        record.cmd = runtime.cmd.clone().unwrap_or_default();
        record.env = runtime.env.unwrap_or_default();
        record.working_dir = runtime.working_dir.filter(|w| !w.is_empty());
        record
    };
    store.record(record.clone())?;
    info!(reference = %r, digest = %record.digest, format = %record.format, "pulled");
    Ok(Pulled { record, verdict })
}

fn choose_platform<'a>(r: &ImageRef, index: &'a ImageIndex) -> Result<&'a Descriptor, OciError> {
    let wanted = ["wasi", "wasip1", "wasip2", "wasip3"];
    for os in wanted {
        if let Some(d) = index.manifests.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.architecture == "wasm" && p.os == os)
        }) {
            return Ok(d);
        }
    }
    let offered: Vec<String> = index
        .manifests
        .iter()
        .map(|d| match &d.platform {
            Some(p) => format!("{}/{}", p.os, p.architecture),
            None => "unknown".into(),
        })
        .collect();
    Err(OciError::NoWasm {
        reference: r.to_string(),
        reason: format!(
            "the image index has no wasi/wasm, wasip1/wasm, wasip2/wasm or wasip3/wasm manifest (it offers {})",
            offered.join(", ")
        ),
    })
}

/// Normalizes a path inside an image: no leading `/` or `./`, no `.`.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// What one layer says about a path.
enum Found {
    /// A regular file, streamed into the store but not committed, with its
    /// first bytes (to tell Wasm from anything else).
    File(Box<IngestWriter>, Vec<u8>),
    Link(String),
    Deleted,
    Absent,
}

/// Why a file could not be taken from an image's layers.
#[derive(Debug)]
enum ExtractError {
    /// The image does not hold the file as a module (absent, deleted, not a
    /// regular file, a broken layer): becomes [`OciError::NoWasm`].
    NoWasm(String),
    /// A limit, the store, or a blob that fails its digest.
    Oci(OciError),
}

impl From<OciError> for ExtractError {
    fn from(e: OciError) -> Self {
        Self::Oci(e)
    }
}

/// A module extracted into the store's temp folder, not yet committed.
struct Extracted {
    writer: IngestWriter,
    head: Vec<u8>,
}

/// Most bytes of tar stream read across all layer scans of one extraction
/// (symbolic links make it scan the layers again).
const MAX_EXTRACT_BYTES: u64 = 4 * MAX_LAYER_BYTES;

/// Finds the content of `path` in the union of `layers` (bottom first),
/// honouring whiteouts and opaque directories, and following symlinks
/// inside the image. The file is streamed into the store's temp folder,
/// never held in memory; every limit of [`crate::limits`] on layers applies.
fn extract_file(
    store: &ContentStore,
    layers: &[Descriptor],
    path: &str,
) -> Result<Extracted, ExtractError> {
    let mut target = clean(path);
    let mut read_so_far = 0u64;
    let mut files = LayerFiles::new(store);
    for _ in 0..16 {
        let mut outcome = Found::Absent;
        // A layer listed twice says the same twice: the top copy answers.
        let mut seen = std::collections::HashSet::new();
        for layer in layers.iter().rev() {
            if !seen.insert(layer.digest) {
                continue;
            }
            let budget = MAX_EXTRACT_BYTES.saturating_sub(read_so_far);
            let (found, read) = scan_layer(&mut files, layer, &target, budget)?;
            read_so_far += read;
            outcome = found;
            if !matches!(outcome, Found::Absent) {
                break;
            }
        }
        match outcome {
            Found::File(writer, head) => {
                return Ok(Extracted {
                    writer: *writer,
                    head,
                });
            }
            Found::Link(to) => {
                target = if to.starts_with('/') {
                    clean(&to)
                } else {
                    let parent = target.rsplit_once('/').map_or("", |(p, _)| p);
                    resolve_relative(parent, &to)
                };
            }
            Found::Deleted => {
                return Err(ExtractError::NoWasm(format!(
                    "{path} was deleted by a later layer"
                )));
            }
            Found::Absent => {
                return Err(ExtractError::NoWasm(format!(
                    "{path} (the image's Entrypoint) is not in the image's layers"
                )));
            }
        }
    }
    Err(ExtractError::NoWasm(format!(
        "{path}: too many levels of symbolic links"
    )))
}

fn resolve_relative(parent: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = parent.split('/').filter(|c| !c.is_empty()).collect();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Which limit a [`Counted`] reader ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    /// The whole stream: [`MAX_LAYER_BYTES`], or what is left of
    /// [`MAX_EXTRACT_BYTES`].
    Total,
    /// One entry's headers: [`MAX_ENTRY_HEADER_BYTES`].
    Headers,
}

/// The bytes a [`Counted`] reader may still hand out.
#[derive(Debug)]
struct Budget {
    total_left: Cell<u64>,
    phase_left: Cell<u64>,
    used: Cell<u64>,
    hit: Cell<Option<Hit>>,
}

/// A reader over a layer's tar stream (after gzip) that stops with an
/// error, and notes which limit, once it would pass its [`Budget`]. The tar
/// reader cannot read past it, whatever the headers say.
struct Counted<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let b = &self.budget;
        let left = b.total_left.get().min(b.phase_left.get());
        // One byte past what is left tells "ends at the limit" from "goes
        // past it".
        let want = buf
            .len()
            .min(usize::try_from(left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        let n64 = n as u64;
        if n64 > b.total_left.get() {
            b.hit.set(Some(Hit::Total));
            return Err(std::io::Error::other("layer limit reached"));
        }
        if n64 > b.phase_left.get() {
            b.hit.set(Some(Hit::Headers));
            return Err(std::io::Error::other("entry header limit reached"));
        }
        b.total_left.set(b.total_left.get() - n64);
        b.phase_left.set(b.phase_left.get() - n64);
        b.used.set(b.used.get() + n64);
        Ok(n)
    }
}

/// The layer blobs of one extraction, each verified against its digest
/// once, when first opened, and read again through the same descriptor:
/// a symlink makes the layers be scanned again, and hashing a whole
/// layer for each scan of a few KiB of it would cost far more than the
/// limits on what is read allow.
struct LayerFiles<'a> {
    store: &'a ContentStore,
    open: std::collections::HashMap<Digest, std::fs::File>,
}

impl<'a> LayerFiles<'a> {
    fn new(store: &'a ContentStore) -> Self {
        Self {
            store,
            open: std::collections::HashMap::new(),
        }
    }

    /// `digest`'s blob from its start.
    fn open(&mut self, digest: &Digest) -> Result<std::fs::File, OciError> {
        use std::io::{Seek as _, SeekFrom};
        let file = match self.open.entry(*digest) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.store.open_blob(digest)?.0)
            }
        };
        let io = |e| OciError::io(self.store.blob_path(digest), e);
        let mut clone = file.try_clone().map_err(io)?;
        clone.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok(clone)
    }
}

/// `size` rounded up to whole 512-byte tar blocks.
fn tar_blocks(size: u64) -> u64 {
    size.div_ceil(512).saturating_mul(512)
}

/// Looks for `target` in one layer. Returns what the layer says about it
/// and how many bytes of tar stream were read. Reads at most `budget`
/// bytes (and at most [`MAX_LAYER_BYTES`]).
fn scan_layer(
    files: &mut LayerFiles<'_>,
    layer: &Descriptor,
    target: &str,
    budget: u64,
) -> Result<(Found, u64), ExtractError> {
    let gz = media::tar_layer_gzipped(&layer.media_type).unwrap_or(false);
    let file = files.open(&layer.digest)?;
    let file = std::io::BufReader::new(file);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let total = budget.min(MAX_LAYER_BYTES);
    let budget = Rc::new(Budget {
        total_left: Cell::new(total),
        phase_left: Cell::new(MAX_ENTRY_HEADER_BYTES),
        used: Cell::new(0),
        hit: Cell::new(None),
    });
    let digest = layer.digest;
    let limit_error = |hit: Hit| {
        ExtractError::Oci(match hit {
            Hit::Total if total < MAX_LAYER_BYTES => OciError::LimitExceeded {
                what: format!("looking for {target}, layer {digest}"),
                limit: format!(
                    "the limit on expanded layer bytes read for one image ({MAX_EXTRACT_BYTES} bytes)"
                ),
            },
            Hit::Total => OciError::LimitExceeded {
                what: format!("layer {digest} (expanded)"),
                limit: format!("the limit for one layer ({MAX_LAYER_BYTES} bytes)"),
            },
            Hit::Headers => OciError::LimitExceeded {
                what: format!("layer {digest}: the headers of one entry"),
                limit: format!(
                    "the limit for one entry's headers, long names and pax extensions ({MAX_ENTRY_HEADER_BYTES} bytes)"
                ),
            },
        })
    };
    let broken = |budget: &Budget, e: std::io::Error| match budget.hit.get() {
        Some(hit) => limit_error(hit),
        None => ExtractError::NoWasm(format!("layer {digest}: {e}")),
    };
    let mut archive = tar::Archive::new(Counted {
        inner: reader,
        budget: budget.clone(),
    });
    let (dir, base) = target.rsplit_once('/').unwrap_or(("", target));
    let whiteout = clean(&format!("{dir}/.wh.{base}"));
    let ancestors: Vec<String> = {
        let parts: Vec<&str> = target.split('/').collect();
        (1..parts.len()).map(|i| parts[..i].join("/")).collect()
    };
    let mut found = Found::Absent;
    let mut deleted = false;
    let mut entries = archive.entries().map_err(|e| broken(&budget, e))?;
    let mut count = 0u64;
    // What the tar reader may read before the next entry: the rest of this
    // entry's data (it skips what we did not read) and the next headers.
    let mut pending = 0u64;
    loop {
        budget
            .phase_left
            .set(MAX_ENTRY_HEADER_BYTES.saturating_add(pending));
        let Some(entry) = entries.next() else { break };
        let mut entry = entry.map_err(|e| broken(&budget, e))?;
        count += 1;
        if count > MAX_LAYER_ENTRIES {
            return Err(ExtractError::Oci(OciError::LimitExceeded {
                what: format!("layer {digest}"),
                limit: format!("the limit of {MAX_LAYER_ENTRIES} entries for one layer"),
            }));
        }
        let size = entry.size();
        pending = tar_blocks(size);
        let name = clean(
            &entry
                .path()
                .map_err(|e| ExtractError::NoWasm(format!("layer {digest}: {e}")))?
                .to_string_lossy(),
        );
        let is_file = matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        );
        if name == target && is_file && size > MAX_MODULE_BYTES {
            return Err(ExtractError::Oci(OciError::LimitExceeded {
                what: format!("layer {digest}: {target} ({size} bytes)"),
                limit: format!("the limit for a module ({MAX_MODULE_BYTES} bytes)"),
            }));
        }
        // The headers say how much this entry holds: refuse before
        // expanding it if the layer would pass its limit.
        if budget.used.get().saturating_add(pending) > total {
            return Err(limit_error(Hit::Total));
        }
        if name == target {
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    budget.phase_left.set(u64::MAX);
                    let mut writer = files.store.ingest()?;
                    let mut head = Vec::with_capacity(4);
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = match entry.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(broken(&budget, e)),
                        };
                        if head.len() < 4 {
                            let take = (4 - head.len()).min(n);
                            head.extend_from_slice(&buf[..take]);
                        }
                        writer.write(&buf[..n])?;
                        if writer.written() > MAX_MODULE_BYTES {
                            return Err(ExtractError::Oci(OciError::LimitExceeded {
                                what: format!("layer {digest}: {target}"),
                                limit: format!("the limit for a module ({MAX_MODULE_BYTES} bytes)"),
                            }));
                        }
                    }
                    pending = tar_blocks(size).saturating_sub(writer.written());
                    found = Found::File(Box::new(writer), head);
                }
                tar::EntryType::Symlink => {
                    let to = entry
                        .link_name()
                        .map_err(|e| ExtractError::NoWasm(e.to_string()))?
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    found = Found::Link(to);
                }
                tar::EntryType::Link => {
                    // A hard link names another path in the same layer.
                    let to = entry
                        .link_name()
                        .map_err(|e| ExtractError::NoWasm(e.to_string()))?
                        .map(|l| format!("/{}", l.to_string_lossy()))
                        .unwrap_or_default();
                    found = Found::Link(to);
                }
                other => {
                    return Err(ExtractError::NoWasm(format!(
                        "{target} is a {other:?}, not a file"
                    )));
                }
            }
        } else if name == whiteout
            || ancestors.iter().any(|a| {
                let (d, b) = a.rsplit_once('/').unwrap_or(("", a));
                name == clean(&format!("{d}/.wh.{b}"))
                    || name == clean(&format!("{a}/.wh..wh..opq"))
            })
        {
            deleted = true;
        }
    }
    let found = match found {
        Found::Absent if deleted => Found::Deleted,
        other => other,
    };
    Ok((found, budget.used.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> PushFormat {
        PushFormat::Artifact {
            title: "app.wasm".into(),
        }
    }

    fn tar_gz(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_ustar();
            match data {
                Some(d) => {
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, *d).expect("append");
                }
                None => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, "real.wasm").expect("link");
                }
            }
        }
        let tar = b.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).expect("gz");
        gz.finish().expect("finish")
    }

    /// [`extract_file`], committed and read back; errors as text.
    fn extract(store: &ContentStore, layers: &[Descriptor], path: &str) -> Result<Vec<u8>, String> {
        match extract_file(store, layers, path) {
            Ok(x) => {
                let d = x.writer.commit().map_err(|e| e.to_string())?;
                store.read_blob(&d).map_err(|e| e.to_string())
            }
            Err(ExtractError::NoWasm(reason)) => Err(reason),
            Err(ExtractError::Oci(e)) => Err(e.to_string()),
        }
    }

    fn layer(store: &ContentStore, bytes: &[u8]) -> Descriptor {
        store.put_blob(bytes).expect("put");
        Descriptor::new(media::OCI_LAYER_TAR_GZIP, bytes)
    }

    #[test]
    fn union_of_layers_with_whiteouts_and_links() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        let l1 = layer(
            &store,
            &tar_gz(&[
                ("app/app.wasm", Some(b"v1")),
                ("app/old.wasm", Some(b"old")),
            ]),
        );
        let l2 = layer(
            &store,
            &tar_gz(&[
                ("./app/app.wasm", Some(b"v2")),
                ("app/.wh.old.wasm", Some(b"")),
            ]),
        );
        let l3 = layer(
            &store,
            &tar_gz(&[("bin/real.wasm", Some(b"real")), ("bin/link.wasm", None)]),
        );
        let l4 = layer(
            &store,
            &tar_gz(&[
                ("app/.wh..wh..opq", Some(b"")),
                ("app/new.wasm", Some(b"new")),
            ]),
        );
        let layers = vec![l1.clone(), l2.clone(), l3.clone()];
        assert_eq!(
            extract(&store, &layers, "/app/app.wasm").expect("top wins"),
            b"v2"
        );
        assert!(
            extract(&store, &layers, "/app/old.wasm")
                .expect_err("whiteout")
                .contains("deleted")
        );
        assert_eq!(
            extract(&store, &layers, "/bin/link.wasm").expect("symlink"),
            b"real"
        );
        assert!(
            extract(&store, &layers, "/nope.wasm")
                .expect_err("absent")
                .contains("not in the image")
        );
        // An uncompressed tar layer (OCI `tar` media type) on top.
        let plain_tar = {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_ustar();
            h.set_size(2);
            h.set_mode(0o644);
            b.append_data(&mut h, "app/app.wasm", &b"v3"[..])
                .expect("append");
            b.into_inner().expect("tar")
        };
        store.put_blob(&plain_tar).expect("put");
        let l5 = Descriptor::new(media::OCI_LAYER_TAR, &plain_tar);
        let with_plain = vec![l1.clone(), l2.clone(), l5];
        assert_eq!(
            extract(&store, &with_plain, "/app/app.wasm").expect("plain tar"),
            b"v3"
        );
        let opaque = vec![l1, l2, l3, l4];
        assert!(
            extract(&store, &opaque, "/app/app.wasm")
                .expect_err("opaque")
                .contains("deleted")
        );
        assert_eq!(
            extract(&store, &opaque, "/app/new.wasm").expect("new"),
            b"new"
        );
    }

    fn temp_files(store: &ContentStore) -> usize {
        std::fs::read_dir(store.root().join("tmp"))
            .expect("tmp")
            .count()
    }

    fn blobs(store: &ContentStore) -> usize {
        std::fs::read_dir(store.root().join("blobs/sha256"))
            .expect("blobs")
            .count()
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, bytes).expect("gz");
        gz.finish().expect("finish")
    }

    /// A tar header for `path`, of `entry_type`, declaring `size` bytes.
    fn header(path: &str, entry_type: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).expect("path");
        h.set_entry_type(entry_type);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    #[test]
    fn a_module_declared_over_the_limit_is_refused_before_it_is_expanded() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        // The header claims more than a module may be; the stream ends
        // right after it, so nothing but the header check can stop it
        // without reading.
        let mut tar = header("app.wasm", tar::EntryType::Regular, MAX_MODULE_BYTES + 1)
            .as_bytes()
            .to_vec();
        tar.extend_from_slice(b"\0asm\x01\0\0\0");
        let l = layer(&store, &gz(&tar));
        let before = blobs(&store);
        let e = extract(&store, std::slice::from_ref(&l), "/app.wasm").expect_err("too big");
        assert_eq!(
            e,
            format!(
                "layer {}: app.wasm ({} bytes) exceeds the limit for a module (268435456 bytes); refusing it",
                l.digest,
                MAX_MODULE_BYTES + 1
            )
        );
        assert_eq!(blobs(&store), before, "nothing new in the store");
        assert_eq!(temp_files(&store), 0);
    }

    #[test]
    fn a_layer_declaring_more_than_the_limit_is_refused_before_it_is_expanded() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        // A filler entry claims the whole layer limit; the module after it
        // is never reached, and the filler is never expanded.
        let tar = header("filler", tar::EntryType::Regular, MAX_LAYER_BYTES)
            .as_bytes()
            .to_vec();
        let l = layer(&store, &gz(&tar));
        let e = extract(&store, std::slice::from_ref(&l), "/app.wasm").expect_err("too big");
        assert_eq!(
            e,
            format!(
                "layer {} (expanded) exceeds the limit for one layer (1073741824 bytes); refusing it",
                l.digest
            )
        );
        assert_eq!(temp_files(&store), 0);
    }

    /// A layer is hashed once per extraction, however often symlinks make
    /// it be scanned again or the manifest lists it, and is read again
    /// through the descriptor that was verified: a blob replaced on disk
    /// since is not what the next scan reads.
    #[test]
    fn a_layer_is_verified_once_and_read_through_the_same_descriptor() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        let l = layer(&store, &tar_gz(&[("a", None), ("app.wasm", Some(b"wasm"))]));
        let mut files = LayerFiles::new(&store);
        let mut first = Vec::new();
        files
            .open(&l.digest)
            .expect("verified")
            .read_to_end(&mut first)
            .expect("read");
        let path = store.blob_path(&l.digest);
        let swap = dir.path().join("swap");
        std::fs::write(&swap, b"something else").expect("write");
        std::fs::rename(&swap, &path).expect("replace");
        for _ in 0..3 {
            let mut again = Vec::new();
            files
                .open(&l.digest)
                .expect("the verified descriptor")
                .read_to_end(&mut again)
                .expect("read");
            assert_eq!(again, first);
        }
        // A fresh extraction verifies again, and refuses the swapped blob.
        assert!(LayerFiles::new(&store).open(&l.digest).is_err());
    }

    #[test]
    fn a_layer_listed_many_times_is_scanned_once_a_pass() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        let l = layer(&store, &tar_gz(&[("app.wasm", Some(b"wasm"))]));
        let layers = vec![l; 127];
        assert_eq!(
            extract(&store, &layers, "/app.wasm").expect("found"),
            b"wasm"
        );
    }

    #[test]
    fn entries_that_add_up_past_the_budget_stop_the_scan() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        // Five real 1000-byte files against a budget of 4096 bytes of tar
        // stream: each alone fits, together they do not.
        let data = [0u8; 1000];
        let files: Vec<(String, Option<&[u8]>)> =
            (0..5).map(|i| (format!("f{i}"), Some(&data[..]))).collect();
        let files: Vec<(&str, Option<&[u8]>)> =
            files.iter().map(|(p, d)| (p.as_str(), *d)).collect();
        let l = layer(&store, &tar_gz(&files));
        let e = match scan_layer(&mut LayerFiles::new(&store), &l, "app.wasm", 4096) {
            Err(ExtractError::Oci(e)) => e.to_string(),
            Err(ExtractError::NoWasm(r)) => panic!("{r}"),
            Ok(_) => panic!("the scan passed its budget"),
        };
        assert!(
            e.contains("exceeds the limit on expanded layer bytes read for one image"),
            "{e}"
        );
        // With room enough, the same layer scans.
        assert!(matches!(
            scan_layer(&mut LayerFiles::new(&store), &l, "app.wasm", 1 << 20),
            Ok((Found::Absent, _))
        ));
    }

    #[test]
    fn a_long_name_past_the_header_limit_is_refused_without_holding_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        let long = usize::try_from(MAX_ENTRY_HEADER_BYTES).expect("usize") * 2;
        let mut tar = header("././@LongLink", tar::EntryType::GNULongName, long as u64)
            .as_bytes()
            .to_vec();
        tar.extend(std::iter::repeat_n(b'a', long));
        tar.extend_from_slice(header("x", tar::EntryType::Regular, 0).as_bytes());
        tar.extend_from_slice(&[0u8; 1024]);
        let l = layer(&store, &gz(&tar));
        let e = extract(&store, std::slice::from_ref(&l), "/app.wasm").expect_err("long name");
        assert!(
            e.contains("the headers of one entry exceeds the limit for one entry's headers"),
            "{e}"
        );
    }

    #[test]
    fn a_layer_with_too_many_entries_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        let mut tar = Vec::new();
        for _ in 0..=MAX_LAYER_ENTRIES {
            tar.extend_from_slice(header("d/", tar::EntryType::Directory, 0).as_bytes());
        }
        store.put_blob(&tar).expect("put");
        let l = Descriptor::new(media::OCI_LAYER_TAR, &tar);
        let e = extract(&store, std::slice::from_ref(&l), "/app.wasm").expect_err("entries");
        assert_eq!(
            e,
            format!(
                "layer {} exceeds the limit of 100000 entries for one layer; refusing it",
                l.digest
            )
        );
    }

    /// A budget of `total` bytes in all and no limit per phase.
    fn total_budget(total: u64) -> Rc<Budget> {
        Rc::new(Budget {
            total_left: Cell::new(total),
            phase_left: Cell::new(u64::MAX),
            used: Cell::new(0),
            hit: Cell::new(None),
        })
    }

    #[test]
    fn a_stream_that_runs_past_its_budget_stops_with_the_limit_noted() {
        let budget = total_budget(10);
        let mut r = Counted {
            inner: &[7u8; 100][..],
            budget: budget.clone(),
        };
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert!(out.len() <= 10, "{}", out.len());
        assert_eq!(budget.hit.get(), Some(Hit::Total));
        // Exactly at the limit is not past it.
        let budget = total_budget(100);
        let mut r = Counted {
            inner: &[7u8; 100][..],
            budget: budget.clone(),
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("at the limit");
        assert_eq!((out.len(), budget.hit.get()), (100, None));
    }

    #[test]
    fn builds_artifacts_and_compat_images() {
        let module = wat::parse_str("(module)").expect("wat");
        let art = build(&module, &artifact()).expect("artifact");
        let m: ImageManifest = serde_json::from_slice(&art.manifest).expect("manifest");
        assert_eq!(m.config.media_type, media::WASM_CONFIG_V0);
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.layers[0].media_type, media::WASM_LAYER);
        assert_eq!(m.layers[0].digest, Digest::of(&module));
        let c: WasmConfig = serde_json::from_slice(&art.config.1).expect("config");
        assert_eq!((c.architecture.as_str(), c.os.as_str()), ("wasm", "wasip1"));
        assert_eq!(c.layer_digests, vec![Digest::of(&module)]);
        assert!(c.component.is_none());

        let component = wat::parse_str(
            r#"(component (import "wasi:cli/environment@0.2.0" (instance)) (export "probe" (instance 0)))"#,
        )
        .expect("wat");
        let art = build(&component, &artifact()).expect("component artifact");
        let c: WasmConfig = serde_json::from_slice(&art.config.1).expect("config");
        assert_eq!(c.os, "wasip2");
        let info = c.component.expect("component");
        assert_eq!(info.imports, vec!["wasi:cli/environment@0.2.0"]);
        assert_eq!(info.exports, vec!["probe"]);

        let compat = build(
            &module,
            &PushFormat::Compat {
                path: "bin/app.wasm".into(),
            },
        )
        .expect("compat");
        let m: ImageManifest = serde_json::from_slice(&compat.manifest).expect("manifest");
        assert_eq!(m.config.media_type, media::OCI_CONFIG);
        assert_eq!(m.layers[0].media_type, media::OCI_LAYER_TAR_GZIP);
        let cfg: ImageConfig = serde_json::from_slice(&compat.config.1).expect("config");
        assert_eq!(
            (cfg.architecture.as_str(), cfg.os.as_str()),
            ("wasm", "wasi")
        );
        assert_eq!(
            cfg.config.and_then(|c| c.entrypoint),
            Some(vec!["/bin/app.wasm".to_string()])
        );

        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path()).expect("store");
        store.put_blob(&compat.layers[0].1).expect("put");
        assert_eq!(
            extract(&store, &m.layers, "/bin/app.wasm").expect("extract"),
            module
        );

        for bad in ["", "/", "a/../b", "./x"] {
            assert!(
                build(&module, &PushFormat::Compat { path: bad.into() }).is_err(),
                "{bad}"
            );
        }
        assert!(build(b"not wasm", &artifact()).is_err());
    }
}
