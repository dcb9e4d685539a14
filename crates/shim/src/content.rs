//! Wasm layers from containerd's content store.
//!
//! An image whose module is a layer of its own (the CNCF Wasm artifact, or
//! an image config with `application/wasm`-style layers) has nothing in
//! its rootfs: containerd 1.7.7 and later pull such layers into the
//! content store and give the container an empty snapshot. The shim then
//! asks containerd, over its gRPC API, which image the container was
//! created from, reads that image's manifest, and streams the Wasm layer
//! out of the content store, checking its size and digest.
//!
//! Nothing here runs for a compat image (the module is a file in the
//! rootfs): this path is only taken when `args[0]` is not in the rootfs.
//! The layers are looked up once per container, when it is created, so a
//! later exec uses the image the container was created from even if its
//! tag has moved since.

use std::path::Path;
use std::time::Duration;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::snapshots::StatSnapshotRequest;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::{GetContainerRequest, GetImageRequest, ReadContentRequest};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request};
use tracing::debug;
use wasmpod_oci::manifest::{Descriptor, ImageManifest, Manifest, titled};
use wasmpod_oci::{Digest, media};

/// Largest manifest or index read (the distribution spec's limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;
/// Largest Wasm layer read into memory: the largest module wasmpod runs
/// (SECURITY.md), not a whole tar layer's limit, since the shim holds it.
const MAX_LAYER: u64 = wasmpod_engine::MAX_MODULE_BYTES;
/// How long one call to containerd may take. containerd answers these from
/// its metadata database at once; a containerd that does not answer must
/// not hold a container's creation forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no module came from the content store. Each message reads well
/// after "`args[0]` is not in the container's rootfs, and ".
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ContentError {
    #[error("containerd's address is unknown")]
    NoAddress,
    #[error("containerd cannot tell which image it is: {0}")]
    Containerd(String),
    #[error("container {0} has no image")]
    NoImage(String),
    #[error("{0}")]
    Image(String),
    /// The container's rootfs is not the image's.
    #[error("{0}")]
    Rootfs(String),
    #[error("blob {digest} in containerd's content store {problem}")]
    Blob { digest: String, problem: String },
}

/// The image a container was created from, as containerd recorded it.
#[derive(Debug, Clone)]
pub(crate) struct ContainerImage {
    /// containerd's name for it: the reference it was pulled by.
    pub(crate) name: String,
    /// The manifest or index the name pointed to when asked.
    pub(crate) digest: Digest,
    media_type: String,
    /// The parent of the container's snapshot (its rootfs): the chain ID
    /// of the layers it was made from; `None` without a snapshot, or when
    /// containerd could not say.
    rootfs_parent: Option<Result<String, ContentError>>,
}

/// The Wasm layers of one container's image.
#[derive(Debug, Clone)]
pub(crate) struct WasmLayers {
    image: String,
    layers: Vec<Descriptor>,
    /// A CNCF Wasm artifact (`application/vnd.wasm.config.v0+json`
    /// config): its one Wasm layer is the module, whatever its title (other
    /// tools title it with the file name they were given).
    artifact: bool,
}

/// containerd's API as one shim namespace sees it.
#[derive(Debug)]
pub(crate) struct Store {
    /// containerd's gRPC socket (the shim's `-address`).
    address: String,
    namespace: String,
    /// One connection for the shim's life (it reconnects by itself).
    channel: tokio::sync::OnceCell<Channel>,
}

fn containerd(what: impl std::fmt::Display) -> ContentError {
    ContentError::Containerd(what.to_string())
}

/// Runs one call to containerd with [`CALL_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, ContentError>>,
) -> Result<T, ContentError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| containerd(format!("{what}: no answer in {CALL_TIMEOUT:?}")))?
}

impl Store {
    pub(crate) fn new(address: &str, namespace: &str) -> Option<Self> {
        let address = address.strip_prefix("unix://").unwrap_or(address);
        (!address.is_empty()).then(|| Self {
            address: address.to_string(),
            namespace: namespace.to_string(),
            channel: tokio::sync::OnceCell::new(),
        })
    }

    /// Connects now, so the first call made later does not wait for it.
    pub(crate) async fn connect(&self) -> Result<(), ContentError> {
        self.channel().await.map(drop)
    }

    async fn channel(&self) -> Result<Channel, ContentError> {
        self.channel
            .get_or_try_init(|| {
                bounded(&self.address, async {
                    containerd_client::connect(&self.address)
                        .await
                        .map_err(|e| containerd(format!("{}: {e}", self.address)))
                })
            })
            .await
            .cloned()
    }

    fn request<T>(&self, message: T) -> Result<Request<T>, ContentError> {
        let namespace = self.namespace.parse().map_err(|_| {
            containerd(format!(
                "namespace {:?} cannot be sent to containerd",
                self.namespace
            ))
        })?;
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("containerd-namespace", namespace);
        Ok(request)
    }

    /// The image container `id` was created from: its name, and what the
    /// name points to in containerd's image store now.
    pub(crate) async fn image(&self, id: &str) -> Result<ContainerImage, ContentError> {
        let channel = self.channel().await?;
        let request = self.request(GetContainerRequest { id: id.to_string() })?;
        let container = bounded("GetContainer", async {
            ContainersClient::new(channel.clone())
                .get(request)
                .await
                .map_err(|s| containerd(format!("container {id}: {}", s.message())))
        })
        .await?
        .into_inner()
        .container
        .ok_or_else(|| containerd(format!("container {id}: no record")))?;
        let image = container.image;
        if image.is_empty() {
            return Err(ContentError::NoImage(id.to_string()));
        }
        let get_image = async {
            let request = self.request(GetImageRequest {
                name: image.clone(),
            })?;
            bounded("GetImage", async {
                ImagesClient::new(channel.clone())
                    .get(request)
                    .await
                    .map_err(|s| containerd(format!("image {image}: {}", s.message())))
            })
            .await
        };
        // The snapshot is asked for at the same time: one round trip less
        // on the trust policy's path.
        let snapshot_key = container.snapshot_key;
        let stat_snapshot = async {
            if snapshot_key.is_empty() {
                return Ok(None);
            }
            let request = self.request(StatSnapshotRequest {
                snapshotter: container.snapshotter.clone(),
                key: snapshot_key.clone(),
            })?;
            bounded("Stat snapshot", async {
                SnapshotsClient::new(channel.clone())
                    .stat(request)
                    .await
                    .map_err(|s| containerd(format!("snapshot {snapshot_key}: {}", s.message())))
            })
            .await
            .map(|r| r.into_inner().info.map(|i| i.parent))
        };
        let (target, parent) = tokio::join!(get_image, stat_snapshot);
        let target = target?
            .into_inner()
            .image
            .and_then(|i| i.target)
            .ok_or_else(|| containerd(format!("image {image}: no target")))?;
        let digest = target
            .digest
            .parse()
            .map_err(|e| ContentError::Image(format!("image {image}: target digest: {e}")))?;
        Ok(ContainerImage {
            name: image,
            digest,
            media_type: target.media_type,
            rootfs_parent: parent.transpose(),
        })
    }

    /// The Wasm layers of `image` (the manifest it pointed to when
    /// [`Store::image`] asked, whatever its name points to now).
    pub(crate) async fn wasm_layers(
        &self,
        image: &ContainerImage,
    ) -> Result<WasmLayers, ContentError> {
        let channel = self.channel().await?;
        let manifest = self.platform_manifest(&channel, image).await?;
        Ok(wasm_layers_of(&image.name, &manifest))
    }

    /// Whether the container's rootfs was made from `image`: its snapshot
    /// must sit on the layers `image`'s manifest lists (their chain ID).
    /// This ties a rootfs to the digest the trust policy checked, even if
    /// the image's name was pulled again, to other content, between the
    /// container's creation and its task's.
    ///
    /// `chains` remembers each digest's chain ID (a digest's layers never
    /// change), so a later container of the image reads no manifest.
    pub(crate) async fn check_rootfs(
        &self,
        image: &ContainerImage,
        chains: Option<&Path>,
    ) -> Result<(), ContentError> {
        let parent = match &image.rootfs_parent {
            Some(Ok(parent)) => parent,
            Some(Err(e)) => return Err(e.clone()),
            None => {
                return Err(ContentError::Rootfs(format!(
                    "the container of image {} has no snapshot",
                    image.name
                )));
            }
        };
        let memo = chains.map(|dir| dir.join(image.digest.hex()));
        let remembered = memo
            .as_deref()
            .and_then(read_memo)
            .filter(|c| c.is_empty() || c.parse::<Digest>().is_ok());
        let expected = match remembered {
            Some(chain) => chain,
            None => {
                let channel = self.channel().await?;
                let manifest = self.platform_manifest(&channel, image).await?;
                let config_digest = manifest.config.digest.to_string();
                let config = self
                    .read(&channel, &config_digest, MAX_MANIFEST)
                    .await?
                    .ok_or_else(|| blob_missing(&config_digest))?;
                let chain = chain_id(&config).map_err(|e| {
                    ContentError::Image(format!("image {}: config: {e}", image.name))
                })?;
                if let Some(path) = &memo {
                    remember(path, &chain);
                }
                chain
            }
        };
        if *parent != expected {
            return Err(ContentError::Rootfs(format!(
                "the container's rootfs was not made from {} ({}): its layers are {parent:?}, the image's {expected:?}",
                image.name, image.digest
            )));
        }
        Ok(())
    }

    /// The image manifest of `image`: its target, or the manifest of this
    /// platform (or Wasm's) its index lists.
    async fn platform_manifest(
        &self,
        channel: &Channel,
        image: &ContainerImage,
    ) -> Result<ImageManifest, ContentError> {
        let target_digest = image.digest.to_string();
        let name = &image.name;
        let top = self
            .read(channel, &target_digest, MAX_MANIFEST)
            .await?
            .ok_or_else(|| blob_missing(&target_digest))?;
        let parsed = Manifest::parse(&top, Some(&image.media_type))
            .map_err(|e| ContentError::Image(format!("image {name}: {e}")))?;
        let index = match parsed {
            Manifest::Image(m) => return Ok(*m),
            Manifest::Index(index) => index,
        };
        // containerd fetched the manifest of the platform it pulled for, so
        // the first candidate it has is the one.
        for chosen in candidates(&index.manifests) {
            let digest = chosen.digest.to_string();
            let Some(bytes) = self.read(channel, &digest, MAX_MANIFEST).await? else {
                continue;
            };
            return match Manifest::parse(&bytes, Some(&chosen.media_type)) {
                Ok(Manifest::Image(m)) => Ok(*m),
                Ok(Manifest::Index(_)) => Err(ContentError::Image(format!(
                    "image {name}: an index inside its index"
                ))),
                Err(e) => Err(ContentError::Image(format!("image {name}: {e}"))),
            };
        }
        Err(ContentError::Image(format!(
            "containerd has no Wasm or {} manifest of image {name}",
            std::env::consts::ARCH
        )))
    }

    /// The bytes of `layer` (one of `layers`), checked against its size
    /// and digest.
    pub(crate) async fn read_layer(
        &self,
        layers: &WasmLayers,
        layer: &Descriptor,
    ) -> Result<Vec<u8>, ContentError> {
        let digest = layer.digest.to_string();
        if layer.size > MAX_LAYER {
            return Err(ContentError::Blob {
                digest,
                problem: format!("is {} bytes, more than {MAX_LAYER}", layer.size),
            });
        }
        let channel = self.channel().await?;
        let bytes = self
            .read(&channel, &digest, layer.size)
            .await?
            .ok_or_else(|| blob_missing(&digest))?;
        if bytes.len() as u64 != layer.size {
            return Err(ContentError::Blob {
                digest,
                problem: format!(
                    "has {} bytes; image {} says {}",
                    bytes.len(),
                    layers.image,
                    layer.size
                ),
            });
        }
        debug!(image = %layers.image, digest = %layer.digest, bytes = bytes.len(), "read Wasm layer from containerd");
        Ok(bytes)
    }

    /// Reads a whole blob: `None` if containerd does not have it; an error
    /// for more than `limit` bytes or content that does not hash to
    /// `digest`.
    async fn read(
        &self,
        channel: &Channel,
        digest: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ContentError> {
        let mut blob = Blob::new(digest, limit)?;
        let request = self.request(ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        })?;
        bounded(&format!("read {digest}"), async move {
            let mut stream = match ContentClient::new(channel.clone()).read(request).await {
                Ok(response) => response.into_inner(),
                Err(s) if s.code() == Code::NotFound => return Ok(None),
                Err(s) => return Err(blob.failed(s.message())),
            };
            loop {
                match stream.message().await {
                    Ok(Some(chunk)) => blob.push(&chunk.data)?,
                    Ok(None) => return blob.finish().map(Some),
                    Err(s) if s.code() == Code::NotFound => return Ok(None),
                    Err(s) => return Err(blob.failed(s.message())),
                }
            }
        })
        .await
    }
}

/// The chain ID of an image config's layers (`rootfs.diff_ids`), as
/// containerd names the snapshot a container's rootfs sits on: the first
/// layer's diff ID, then `sha256(chain + " " + next)` for each next one.
/// No layers (a Wasm artifact's config) is the empty string.
fn chain_id(config: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        rootfs: Option<RootFs>,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<Digest>,
    }
    let config: Config = serde_json::from_slice(config)?;
    let mut chain = String::new();
    for diff in config.rootfs.map(|r| r.diff_ids).unwrap_or_default() {
        chain = if chain.is_empty() {
            diff.to_string()
        } else {
            Digest::of(format!("{chain} {diff}").as_bytes()).to_string()
        };
    }
    Ok(chain)
}

/// A remembered chain ID: a regular file (not followed if a link, not
/// waited on if a FIFO) of at most a digest's length.
fn read_memo(path: &Path) -> Option<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_MEMO + 1).read_to_string(&mut text).ok()?;
    (text.len() as u64 <= MAX_MEMO).then_some(text)
}

/// A chain ID's length: `sha256:` and 64 hex digits.
const MAX_MEMO: u64 = 71;

/// Writes a digest's chain ID to `path` (temp file and rename); a memo
/// that cannot be written costs a manifest read next time, nothing more.
fn remember(path: &Path, chain: &str) {
    let written = (|| -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, chain.as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    if let Err(e) = written {
        debug!(path = %path.display(), error = %e, "cannot remember a chain ID");
    }
}

fn blob_missing(digest: &str) -> ContentError {
    ContentError::Blob {
        digest: digest.to_string(),
        problem: "is missing".into(),
    }
}

/// A blob arriving in chunks, hashed as it comes and held to a size.
struct Blob {
    digest: String,
    expected: Digest,
    limit: u64,
    hasher: wasmpod_oci::Hasher,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(digest: &str, limit: u64) -> Result<Self, ContentError> {
        let expected = digest.parse().map_err(|e| ContentError::Blob {
            digest: digest.to_string(),
            problem: format!("has an unusable digest: {e}"),
        })?;
        Ok(Self {
            digest: digest.to_string(),
            expected,
            limit,
            hasher: wasmpod_oci::Hasher::default(),
            // Room for what is expected, not for what a limit allows.
            bytes: Vec::with_capacity(usize::try_from(limit.min(MAX_MANIFEST)).unwrap_or(0)),
        })
    }

    fn failed(&self, message: &str) -> ContentError {
        ContentError::Blob {
            digest: self.digest.clone(),
            problem: format!("cannot be read: {message}"),
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), ContentError> {
        if self.bytes.len() as u64 + chunk.len() as u64 > self.limit {
            return Err(ContentError::Blob {
                digest: self.digest.clone(),
                problem: format!("is larger than {} bytes", self.limit),
            });
        }
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, ContentError> {
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(ContentError::Blob {
                digest: self.digest,
                problem: format!("hashes to {actual}"),
            });
        }
        Ok(self.bytes)
    }
}

impl WasmLayers {
    /// The layer for `args0`: the one titled with its file name, else the
    /// image's only layer when it has no title (as in the CNCF artifact,
    /// where the pod names the module).
    pub(crate) fn select(&self, args0: &str) -> Result<&Descriptor, ContentError> {
        match (titled(&self.layers, args0), self.layers.as_slice()) {
            (Some(layer), _) => Ok(layer),
            (None, [only]) if only.title().is_none() || self.artifact => Ok(only),
            (None, []) => Err(ContentError::Image(format!(
                "image {} has no Wasm layer ({})",
                self.image,
                media::WASM_LAYERS.join(", ")
            ))),
            (None, layers) => Err(ContentError::Image(format!(
                "image {} has no Wasm layer titled {} (its Wasm layers: {})",
                self.image,
                args0.rsplit('/').next().unwrap_or(args0),
                layers
                    .iter()
                    .map(|l| l.title().unwrap_or("untitled"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

fn wasm_layers_of(image: &str, manifest: &ImageManifest) -> WasmLayers {
    WasmLayers {
        image: image.to_string(),
        artifact: manifest.config.media_type == media::WASM_CONFIG_V0,
        layers: manifest
            .layers
            .iter()
            .filter(|l| media::WASM_LAYERS.contains(&l.media_type.as_str()))
            .cloned()
            .collect(),
    }
}

/// From an index, the manifests to look for: the Wasm platforms', then
/// this host's.
fn candidates(manifests: &[Descriptor]) -> Vec<&Descriptor> {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let wasm = manifests
        .iter()
        .filter(|m| m.platform.as_ref().is_some_and(|p| p.is_wasm()));
    let host = manifests.iter().filter(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == host_arch)
    });
    wasm.chain(host).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_are_containerds_snapshot_parents() {
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let config = |ids: &[&str]| {
            let ids: Vec<String> = ids.iter().map(|h| format!("\"sha256:{h}\"")).collect();
            format!(
                r#"{{"architecture":"amd64","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
                ids.join(",")
            )
        };
        // The values `sha256sum` gives for "sha256:a… sha256:b…", and so on.
        assert_eq!(
            chain_id(config(&[&a]).as_bytes()).expect("one"),
            format!("sha256:{a}")
        );
        assert_eq!(
            chain_id(config(&[&a, &b]).as_bytes()).expect("two"),
            "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c"
        );
        assert_eq!(
            chain_id(config(&[&a, &b, &c]).as_bytes()).expect("three"),
            "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588"
        );
        // A Wasm artifact's config has no layers: the empty parent.
        assert_eq!(
            chain_id(br#"{"architecture":"wasm","os":"wasip1"}"#).expect("none"),
            ""
        );
        assert!(chain_id(br#"{"rootfs":{"diff_ids":["md5:x"]}}"#).is_err());
    }

    fn layer(media_type: &str, title: Option<&str>) -> Descriptor {
        let d = Descriptor::new(media_type, media_type.as_bytes());
        match title {
            Some(t) => d.with_title(t),
            None => d,
        }
    }

    #[test]
    fn selects_the_titled_layer_or_the_only_untitled_one() {
        let config = Descriptor::new(media::OCI_CONFIG, b"{}");
        let one = ImageManifest::oci(config.clone(), vec![layer(media::WASM_LAYER, None)]);
        let layers = wasm_layers_of("r/one", &one);
        assert_eq!(
            layers.select("/anything.wasm").expect("only").media_type,
            media::WASM_LAYER
        );
        // A titled only layer answers to its title alone.
        let titled = ImageManifest::oci(
            config.clone(),
            vec![layer(media::WASM_LAYER, Some("app.wasm"))],
        );
        let layers = wasm_layers_of("r/titled", &titled);
        assert!(layers.select("/app.wasm").is_ok());
        assert_eq!(
            layers.select("/typo.wasm").expect_err("typo").to_string(),
            "image r/titled has no Wasm layer titled typo.wasm (its Wasm layers: app.wasm)"
        );
        // A Wasm artifact's one layer is the module whatever its title:
        // oras titles it with the file name it was given.
        let artifact = ImageManifest::oci(
            Descriptor::new(media::WASM_CONFIG_V0, b"{}"),
            vec![layer(media::WASM_LAYER, Some("module.wasm"))],
        );
        let layers = wasm_layers_of("r/artifact", &artifact);
        assert!(layers.select("/app.wasm").is_ok());

        let two = ImageManifest::oci(
            config.clone(),
            vec![
                layer(media::OCI_LAYER_TAR_GZIP, Some("fs")),
                layer(media::WASM_LAYER, Some("app.wasm")),
                layer(media::BYTECODEALLIANCE_COMPONENT_LAYER, Some("tool.wasm")),
            ],
        );
        let layers = wasm_layers_of("r/two", &two);
        assert_eq!(
            layers.select("/bin/tool.wasm").expect("titled").media_type,
            media::BYTECODEALLIANCE_COMPONENT_LAYER
        );
        let e = layers.select("/nope.wasm").expect_err("no such title");
        assert_eq!(
            e.to_string(),
            "image r/two has no Wasm layer titled nope.wasm (its Wasm layers: app.wasm, tool.wasm)"
        );

        let none = ImageManifest::oci(config, vec![layer(media::OCI_LAYER_TAR, None)]);
        let e = wasm_layers_of("r/none", &none)
            .select("/a.wasm")
            .expect_err("no wasm layer")
            .to_string();
        assert!(
            e.starts_with("image r/none has no Wasm layer (application/wasm, "),
            "{e}"
        );
    }

    #[test]
    fn an_index_tries_the_wasm_platforms_then_the_host() {
        let platform = |os: &str, architecture: &str| {
            Some(wasmpod_oci::manifest::Platform {
                architecture: architecture.into(),
                os: os.into(),
                variant: None,
            })
        };
        let mut linux = layer(media::OCI_MANIFEST, Some("linux"));
        linux.platform = platform("linux", "amd64");
        let mut arm = layer(media::OCI_MANIFEST, Some("arm"));
        arm.platform = platform("linux", "s390x");
        let mut wasm = layer(media::OCI_MANIFEST, Some("wasm"));
        wasm.platform = platform("wasip1", "wasm");
        let all = [linux, arm, wasm];
        let order: Vec<_> = candidates(&all)
            .into_iter()
            .filter_map(Descriptor::title)
            .collect();
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(order, ["wasm", "linux"]);
        } else {
            assert_eq!(order[0], "wasm");
        }
        assert!(candidates(&[]).is_empty());
    }

    #[test]
    fn blobs_are_held_to_their_digest_and_size() {
        let data = b"\0asm\x01\0\0\0 module bytes";
        let digest = Digest::of(data).to_string();
        let mut blob = Blob::new(&digest, data.len() as u64).expect("digest");
        blob.push(&data[..5]).expect("first chunk");
        blob.push(&data[5..]).expect("second chunk");
        assert_eq!(blob.finish().expect("verified"), data);

        // One byte over the limit is refused as it arrives.
        let mut blob = Blob::new(&digest, data.len() as u64 - 1).expect("digest");
        let e = blob.push(data).expect_err("too large");
        assert_eq!(
            e.to_string(),
            format!(
                "blob {digest} in containerd's content store is larger than {} bytes",
                data.len() - 1
            )
        );

        // Other bytes under the same digest are refused at the end.
        let mut blob = Blob::new(&digest, 1024).expect("digest");
        blob.push(b"something else").expect("chunk");
        let e = blob.finish().expect_err("wrong content").to_string();
        assert!(
            e.starts_with(&format!(
                "blob {digest} in containerd's content store hashes to sha256:"
            )),
            "{e}"
        );

        assert!(Blob::new("md5:abc", 10).is_err());
    }

    #[test]
    fn addresses_and_namespaces() {
        assert!(Store::new("", "ns").is_none());
        let s = Store::new("unix:///run/c.sock", "k8s.io").expect("store");
        assert_eq!(s.address, "/run/c.sock");
        assert!(s.request(()).is_ok());
        let bad = Store::new("/run/c.sock", "bad\nnamespace").expect("store");
        assert!(
            bad.request(())
                .expect_err("not a header value")
                .to_string()
                .contains("cannot be sent to containerd")
        );
    }
}
