//! Wasm layers from containerd's content store.
//!
//! An image whose module is a layer of its own (the CNCF Wasm artifact, or
//! an image config with `application/wasm`-style layers) has nothing in
//! its rootfs: containerd 1.7.7 and later pull such layers into the
//! content store and give the container an empty snapshot. The shim then
//! asks containerd, over its gRPC API, which image the container was
//! created from, reads that image's manifest, and streams the Wasm layer
//! out of the content store, checking its digest.
//!
//! Nothing here runs for a compat image (the module is a file in the
//! rootfs): this path is only taken when `args[0]` is not in the rootfs.

use std::path::Path;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{GetContainerRequest, GetImageRequest, ReadContentRequest};
use containerd_client::tonic::Request;
use containerd_client::tonic::transport::Channel;
use tracing::debug;
use wasmpod_oci::manifest::{Descriptor, ImageManifest, Manifest};
use wasmpod_oci::{Digest, media};

/// The annotation that names a layer's file.
const TITLE: &str = "org.opencontainers.image.title";
/// Largest manifest or index read (the distribution spec's limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;
/// Largest Wasm layer read into memory.
const MAX_LAYER: u64 = 1 << 30;

/// The Wasm layers of one container's image.
#[derive(Debug, Clone)]
pub(crate) struct WasmLayers {
    image: String,
    layers: Vec<Descriptor>,
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

/// Why no module came from the content store, worded to follow
/// "`args[0]` is not in the container's rootfs, and ".
pub(crate) type Reason = String;

fn unavailable(what: impl std::fmt::Display) -> Reason {
    format!("containerd cannot tell which image it is: {what}")
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

    async fn channel(&self) -> Result<Channel, Reason> {
        self.channel
            .get_or_try_init(|| async {
                containerd_client::connect(&self.address)
                    .await
                    .map_err(|e| unavailable(format!("{}: {e}", self.address)))
            })
            .await
            .cloned()
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(ns) = self.namespace.parse() {
            request.metadata_mut().insert("containerd-namespace", ns);
        }
        request
    }

    /// The Wasm layers of the image container `id` was created from. An
    /// image without any is an error that names the image.
    pub(crate) async fn wasm_layers(&self, id: &str) -> Result<WasmLayers, Reason> {
        let channel = self.channel().await?;
        let container = ContainersClient::new(channel.clone())
            .get(self.request(GetContainerRequest { id: id.to_string() }))
            .await
            .map_err(|s| unavailable(format!("container {id}: {}", s.message())))?
            .into_inner()
            .container
            .ok_or_else(|| unavailable(format!("container {id}: no record")))?;
        let image = container.image;
        if image.is_empty() {
            return Err(format!("container {id} has no image"));
        }
        let target = ImagesClient::new(channel.clone())
            .get(self.request(GetImageRequest {
                name: image.clone(),
            }))
            .await
            .map_err(|s| unavailable(format!("image {image}: {}", s.message())))?
            .into_inner()
            .image
            .and_then(|i| i.target)
            .ok_or_else(|| unavailable(format!("image {image}: no target")))?;
        let mut content = ContentClient::new(channel);
        let mut digest = target.digest;
        let mut media_type = Some(target.media_type);
        // An index names the manifest to use; one level is all the specs use.
        for _ in 0..2 {
            let bytes = self.read(&mut content, &digest, MAX_MANIFEST).await?;
            let parsed = Manifest::parse(&bytes, media_type.as_deref())
                .map_err(|e| unavailable(format!("image {image}: {e}")))?;
            match parsed {
                Manifest::Image(m) => return Ok(wasm_layers_of(&image, &m)),
                Manifest::Index(index) => {
                    let chosen = choose_manifest(&index.manifests).ok_or_else(|| {
                        format!(
                            "the index of image {image} has no Wasm or {} manifest",
                            std::env::consts::ARCH
                        )
                    })?;
                    digest = chosen.digest.to_string();
                    media_type = Some(chosen.media_type.clone());
                }
            }
        }
        Err(unavailable(format!("image {image}: nested indexes")))
    }

    /// The bytes of `layer` (one of `layers`), checked against its size
    /// and digest.
    pub(crate) async fn read_layer(
        &self,
        layers: &WasmLayers,
        layer: &Descriptor,
    ) -> Result<Vec<u8>, Reason> {
        let channel = self.channel().await?;
        let bytes = self
            .read(
                &mut ContentClient::new(channel),
                &layer.digest.to_string(),
                MAX_LAYER,
            )
            .await?;
        if bytes.len() as u64 != layer.size {
            return Err(format!(
                "layer {} of image {} has {} bytes, its descriptor says {}",
                layer.digest,
                layers.image,
                bytes.len(),
                layer.size
            ));
        }
        debug!(image = %layers.image, digest = %layer.digest, bytes = bytes.len(), "read Wasm layer from containerd");
        Ok(bytes)
    }

    /// Reads a whole blob, refusing more than `limit` bytes and content
    /// that does not hash to `digest`.
    async fn read(
        &self,
        content: &mut ContentClient<Channel>,
        digest: &str,
        limit: u64,
    ) -> Result<Vec<u8>, Reason> {
        let expected: Digest = digest
            .parse()
            .map_err(|e| unavailable(format!("blob digest: {e}")))?;
        let mut stream = content
            .read(self.request(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(|s| unavailable(format!("blob {digest}: {}", s.message())))?
            .into_inner();
        let mut bytes = Vec::new();
        let mut hasher = wasmpod_oci::Hasher::default();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| unavailable(format!("blob {digest}: {}", s.message())))?
        {
            if bytes.len() as u64 + chunk.data.len() as u64 > limit {
                return Err(format!(
                    "blob {digest} in containerd's content store is larger than {limit} bytes"
                ));
            }
            hasher.update(&chunk.data);
            bytes.extend_from_slice(&chunk.data);
        }
        let actual = hasher.finish();
        if actual != expected {
            return Err(format!(
                "blob {digest} in containerd's content store hashes to {actual}"
            ));
        }
        Ok(bytes)
    }
}

impl WasmLayers {
    /// The layer for `args0`: the one titled with its file name, else the
    /// only one.
    pub(crate) fn select(&self, args0: &str) -> Result<&Descriptor, Reason> {
        let name = Path::new(args0)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(args0);
        let titled = self.layers.iter().find(|l| title(l) == Some(name));
        match (titled, self.layers.as_slice()) {
            (Some(layer), _) => Ok(layer),
            (None, [only]) => Ok(only),
            (None, []) => Err(format!(
                "image {} has no Wasm layer ({})",
                self.image,
                media::WASM_LAYERS.join(", ")
            )),
            (None, layers) => Err(format!(
                "image {} has no Wasm layer titled {name} (its Wasm layers: {})",
                self.image,
                layers
                    .iter()
                    .map(|l| title(l).unwrap_or("untitled"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

fn title(layer: &Descriptor) -> Option<&str> {
    layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(TITLE))
        .map(String::as_str)
}

fn wasm_layers_of(image: &str, manifest: &ImageManifest) -> WasmLayers {
    WasmLayers {
        image: image.to_string(),
        layers: manifest
            .layers
            .iter()
            .filter(|l| media::WASM_LAYERS.contains(&l.media_type.as_str()))
            .cloned()
            .collect(),
    }
}

/// From an index: a Wasm platform's manifest, else this host's.
fn choose_manifest(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    manifests
        .iter()
        .find(|m| m.platform.as_ref().is_some_and(|p| p.is_wasm()))
        .or_else(|| {
            manifests.iter().find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == host_arch)
            })
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn layer(media_type: &str, title: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(media_type, media_type.as_bytes());
        d.annotations = title.map(|t| BTreeMap::from([(TITLE.to_string(), t.to_string())]));
        d
    }

    #[test]
    fn selects_the_titled_layer_or_the_only_one() {
        let config = Descriptor::new(media::OCI_CONFIG, b"{}");
        let one = ImageManifest::oci(config.clone(), vec![layer(media::WASM_LAYER, None)]);
        let layers = wasm_layers_of("r/one", &one);
        assert_eq!(
            layers.select("/anything.wasm").expect("only").media_type,
            media::WASM_LAYER
        );

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
            e,
            "image r/two has no Wasm layer titled nope.wasm (its Wasm layers: app.wasm, tool.wasm)"
        );

        let none = ImageManifest::oci(config, vec![layer(media::OCI_LAYER_TAR, None)]);
        let e = wasm_layers_of("r/none", &none)
            .select("/a.wasm")
            .expect_err("no wasm layer");
        assert!(
            e.starts_with("image r/none has no Wasm layer (application/wasm, "),
            "{e}"
        );
    }

    #[test]
    fn an_index_prefers_the_wasm_platform() {
        let mut linux = layer(media::OCI_MANIFEST, None);
        linux.platform = Some(wasmpod_oci::manifest::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        });
        let mut wasm = layer(media::OCI_MANIFEST, Some("w"));
        wasm.platform = Some(wasmpod_oci::manifest::Platform {
            architecture: "wasm".into(),
            os: "wasip1".into(),
            variant: None,
        });
        let both = [linux.clone(), wasm];
        assert_eq!(choose_manifest(&both).and_then(title), Some("w"));
        assert!(choose_manifest(&[]).is_none());
    }

    #[test]
    fn addresses() {
        assert!(Store::new("", "ns").is_none());
        let s = Store::new("unix:///run/c.sock", "k8s.io").expect("store");
        assert_eq!(s.address, "/run/c.sock");
    }
}
