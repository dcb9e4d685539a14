//! Wasm images: building them for `push`, and finding the module in them
//! after `pull`.

use std::io::Read;

use tracing::{debug, info};

use crate::manifest::{
    ComponentInfo, ContainerConfig, Descriptor, ImageConfig, ImageIndex, ImageManifest, Manifest,
    RootFs, WasmConfig,
};
use crate::registry::{Progress, RegistryClient};
use crate::store::{ContentStore, ImageRecord};
use crate::{Digest, ImageRef, OciError, media};

/// How `push` packages a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFormat {
    /// The CNCF TAG-Runtime Wasm artifact: a `application/vnd.wasm.config.v0+json`
    /// config and one `application/wasm` layer.
    Artifact,
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

/// Whether bytes are a component (rather than a core module).
fn is_component(wasm: &[u8]) -> bool {
    wasm.get(4..8) == Some(&[0x0d, 0, 1, 0])
}

/// The top-level imports and exports of a component, by name.
fn component_info(wasm: &[u8]) -> Result<ComponentInfo, OciError> {
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| OciError::invalid("component", e.to_string()))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import
                        .map_err(|e| OciError::invalid("component imports", e.to_string()))?;
                    imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export
                        .map_err(|e| OciError::invalid("component exports", e.to_string()))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(ComponentInfo {
        exports,
        imports,
        target: None,
    })
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
        PushFormat::Artifact => {
            let layer = Descriptor::new(media::WASM_LAYER, wasm);
            let component = is_component(wasm);
            let config = WasmConfig {
                created: Some(created),
                author: None,
                architecture: "wasm".into(),
                os: if component { "wasip2" } else { "wasip1" }.into(),
                layer_digests: vec![layer.digest],
                component: if component {
                    Some(component_info(wasm)?)
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

/// Pulls `r` into the store and records it. Returns the record.
pub async fn pull(
    client: &RegistryClient,
    store: &ContentStore,
    r: &ImageRef,
    progress: &dyn Progress,
) -> Result<ImageRecord, OciError> {
    let _in_use = store.use_lock()?;
    let top = client.get_manifest(r).await?;
    debug!(digest = %top.digest, media_type = ?top.media_type, "fetched manifest");
    let top_digest = top.digest;
    let mut fetched = top;
    let mut size = fetched.bytes.len() as u64;
    store.put_blob(&fetched.bytes)?;
    let manifest = loop {
        match Manifest::parse(&fetched.bytes, fetched.media_type.as_deref())
            .map_err(|reason| OciError::invalid(format!("{r}: manifest"), reason))?
        {
            Manifest::Image(m) => break *m,
            Manifest::Index(index) => {
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
    size += manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();

    client
        .fetch_blob(r, &manifest.config, store, progress)
        .await?;
    let config_bytes = store.read_blob(&manifest.config.digest)?;

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
        let wasm = extract_file(store, &manifest.layers, &module_path).map_err(|reason| {
            OciError::NoWasm {
                reference: r.to_string(),
                reason,
            }
        })?;
        if !wasm.starts_with(b"\0asm") {
            return Err(OciError::NoWasm {
                reference: r.to_string(),
                reason: format!(
                    "the entrypoint {module_path} is not a WebAssembly module (native binaries cannot run in wasmpod)"
                ),
            });
        }
        let wasm_digest = store.put_blob(&wasm)?;
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
    Ok(record)
}

fn choose_platform<'a>(r: &ImageRef, index: &'a ImageIndex) -> Result<&'a Descriptor, OciError> {
    let wanted = ["wasi", "wasip1", "wasip2"];
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
            "the image index has no wasi/wasm, wasip1/wasm or wasip2/wasm manifest (it offers {})",
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
    File(Vec<u8>),
    Link(String),
    Deleted,
    Absent,
}

/// Finds the content of `path` in the union of `layers` (bottom first),
/// honouring whiteouts and opaque directories, and following symlinks
/// inside the image.
fn extract_file(
    store: &ContentStore,
    layers: &[Descriptor],
    path: &str,
) -> Result<Vec<u8>, String> {
    let mut target = clean(path);
    for _ in 0..16 {
        let mut outcome = Found::Absent;
        for layer in layers.iter().rev() {
            outcome = scan_layer(store, layer, &target)?;
            if !matches!(outcome, Found::Absent) {
                break;
            }
        }
        match outcome {
            Found::File(bytes) => return Ok(bytes),
            Found::Link(to) => {
                target = if to.starts_with('/') {
                    clean(&to)
                } else {
                    let parent = target.rsplit_once('/').map_or("", |(p, _)| p);
                    resolve_relative(parent, &to)
                };
            }
            Found::Deleted => return Err(format!("{path} was deleted by a later layer")),
            Found::Absent => {
                return Err(format!(
                    "{path} (the image's Entrypoint) is not in the image's layers"
                ));
            }
        }
    }
    Err(format!("{path}: too many levels of symbolic links"))
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

fn scan_layer(store: &ContentStore, layer: &Descriptor, target: &str) -> Result<Found, String> {
    let gz = media::tar_layer_gzipped(&layer.media_type).unwrap_or(false);
    let bytes = store.read_blob(&layer.digest).map_err(|e| e.to_string())?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else {
        Box::new(&bytes[..])
    };
    let mut archive = tar::Archive::new(reader);
    let (dir, base) = target.rsplit_once('/').unwrap_or(("", target));
    let whiteout = clean(&format!("{dir}/.wh.{base}"));
    let ancestors: Vec<String> = {
        let parts: Vec<&str> = target.split('/').collect();
        (1..parts.len()).map(|i| parts[..i].join("/")).collect()
    };
    let mut found = Found::Absent;
    let mut deleted = false;
    let entries = archive
        .entries()
        .map_err(|e| format!("layer {}: {e}", layer.digest))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("layer {}: {e}", layer.digest))?;
        let name = clean(&entry.path().map_err(|e| e.to_string())?.to_string_lossy());
        if name == target {
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut data = Vec::new();
                    entry
                        .read_to_end(&mut data)
                        .map_err(|e| format!("layer {}: {e}", layer.digest))?;
                    found = Found::File(data);
                }
                tar::EntryType::Symlink => {
                    let to = entry
                        .link_name()
                        .map_err(|e| e.to_string())?
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    found = Found::Link(to);
                }
                tar::EntryType::Link => {
                    // A hard link names another path in the same layer.
                    let to = entry
                        .link_name()
                        .map_err(|e| e.to_string())?
                        .map(|l| format!("/{}", l.to_string_lossy()))
                        .unwrap_or_default();
                    found = Found::Link(to);
                }
                other => return Err(format!("{target} is a {other:?}, not a file")),
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
    Ok(match found {
        Found::Absent if deleted => Found::Deleted,
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            extract_file(&store, &layers, "/app/app.wasm").expect("top wins"),
            b"v2"
        );
        assert!(
            extract_file(&store, &layers, "/app/old.wasm")
                .expect_err("whiteout")
                .contains("deleted")
        );
        assert_eq!(
            extract_file(&store, &layers, "/bin/link.wasm").expect("symlink"),
            b"real"
        );
        assert!(
            extract_file(&store, &layers, "/nope.wasm")
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
            extract_file(&store, &with_plain, "/app/app.wasm").expect("plain tar"),
            b"v3"
        );
        let opaque = vec![l1, l2, l3, l4];
        assert!(
            extract_file(&store, &opaque, "/app/app.wasm")
                .expect_err("opaque")
                .contains("deleted")
        );
        assert_eq!(
            extract_file(&store, &opaque, "/app/new.wasm").expect("new"),
            b"new"
        );
    }

    #[test]
    fn builds_artifacts_and_compat_images() {
        let module = wat::parse_str("(module)").expect("wat");
        let art = build(&module, &PushFormat::Artifact).expect("artifact");
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
        let art = build(&component, &PushFormat::Artifact).expect("component artifact");
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
            extract_file(&store, &m.layers, "/bin/app.wasm").expect("extract"),
            module
        );

        for bad in ["", "/", "a/../b", "./x"] {
            assert!(
                build(&module, &PushFormat::Compat { path: bad.into() }).is_err(),
                "{bad}"
            );
        }
        assert!(build(b"not wasm", &PushFormat::Artifact).is_err());
    }
}
