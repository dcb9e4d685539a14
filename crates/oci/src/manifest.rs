//! The JSON documents of the OCI image and distribution specs, as far as
//! wasmpod reads and writes them. Unknown fields are kept out of the way
//! (ignored on read); what we write is exactly what the specs ask for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// A pointer to content: media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// An OCI 1.1 artifact's type, on the descriptors of a referrers list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The annotation that names a layer's file (a Wasm layer's module name).
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

impl Descriptor {
    pub fn new(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_string(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            platform: None,
            annotations: None,
            artifact_type: None,
        }
    }

    /// This descriptor with its [`TITLE_ANNOTATION`] set to `title`.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(TITLE_ANNOTATION.to_string(), title.into());
        self
    }

    /// Its [`TITLE_ANNOTATION`], if any.
    pub fn title(&self) -> Option<&str> {
        self.annotations
            .as_ref()?
            .get(TITLE_ANNOTATION)
            .map(String::as_str)
    }
}

/// Of `layers`, the one titled with the file name of `path` (a module's
/// path, as an entrypoint or `args[0]` names it).
pub fn titled<'a>(
    layers: impl IntoIterator<Item = &'a Descriptor>,
    path: &str,
) -> Option<&'a Descriptor> {
    let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
    layers.into_iter().find(|l| l.title() == Some(name))
}

/// An image's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Whether this platform runs Wasm: `wasm` on `wasi`, `wasip1` or
    /// `wasip2`.
    pub fn is_wasm(&self) -> bool {
        self.architecture == "wasm" && matches!(self.os.as_str(), "wasi" | "wasip1" | "wasip2")
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The image an OCI 1.1 artifact (a signature bundle) refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
}

impl ImageManifest {
    /// An OCI image manifest with `config` and `layers` and nothing else.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(crate::media::OCI_MANIFEST.into()),
            artifact_type: None,
            config,
            layers,
            annotations: None,
            subject: None,
        }
    }
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// The config of the CNCF TAG-Runtime Wasm artifact
/// (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

/// The `component` block of a [`WasmConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentInfo {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// An OCI/Docker image config, the parts a compat image needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
}

/// The runtime part of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContainerConfig {
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
}

/// The layer chain of an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

/// Any manifest-like document a registry may serve for a reference.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(ImageIndex),
}

impl Manifest {
    /// Parses `bytes` served with `content_type` (which registries sometimes
    /// omit; then the document's own `mediaType` or shape decides).
    ///
    /// Refuses documents over [`MAX_MANIFEST_BYTES`](crate::limits::MAX_MANIFEST_BYTES)
    /// (nesting is bounded by the JSON parser's recursion limit).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, String> {
        let limit = crate::limits::MAX_MANIFEST_BYTES;
        if bytes.len() as u64 > limit {
            return Err(format!(
                "manifest is {} bytes, over the limit of {limit}",
                bytes.len()
            ));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| format!("manifest is not valid JSON: {e}"))?;
        let media_type = content_type
            .filter(|c| !c.is_empty() && *c != "application/json")
            .map(str::to_string)
            .or(probe.media_type);
        let is_index = match media_type.as_deref() {
            Some(crate::media::OCI_INDEX | crate::media::DOCKER_MANIFEST_LIST) => true,
            Some(crate::media::OCI_MANIFEST | crate::media::DOCKER_MANIFEST) => false,
            Some(other) => return Err(format!("unsupported manifest media type {other}")),
            None => probe.manifests.is_some(),
        };
        if is_index {
            serde_json::from_slice(bytes)
                .map(Manifest::Index)
                .map_err(|e| format!("invalid image index: {e}"))
        } else {
            serde_json::from_slice(bytes)
                .map(|m| Manifest::Image(Box::new(m)))
                .map_err(|e| format!("invalid image manifest: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_found_by_the_file_name_of_a_path() {
        let a = Descriptor::new(crate::media::WASM_LAYER, b"a").with_title("app.wasm");
        let b = Descriptor::new(crate::media::WASM_LAYER, b"b");
        assert_eq!(a.title(), Some("app.wasm"));
        assert_eq!(b.title(), None);
        let layers = [b, a.clone()];
        assert_eq!(titled(&layers, "/bin/app.wasm"), Some(&a));
        assert_eq!(titled(&layers, "app.wasm"), Some(&a));
        assert_eq!(titled(&layers, "/bin/other.wasm"), None);
        assert_eq!(titled(&layers, "/bin/"), None);
    }

    #[test]
    fn parses_manifests_and_indexes() {
        let d = Digest::of(b"x");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{d}","size":1}},
            "layers":[{{"mediaType":"application/wasm","digest":"{d}","size":1}}],"extra":1}}"#
        );
        assert!(matches!(
            Manifest::parse(m.as_bytes(), None),
            Ok(Manifest::Image(_))
        ));
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":"{d}","size":1,"platform":{{"architecture":"wasm","os":"wasip1"}}}}]}}"#
        );
        match Manifest::parse(
            i.as_bytes(),
            Some("application/vnd.oci.image.index.v1+json"),
        ) {
            Ok(Manifest::Index(idx)) => {
                assert!(
                    idx.manifests[0]
                        .platform
                        .as_ref()
                        .is_some_and(Platform::is_wasm)
                )
            }
            other => panic!("{other:?}"),
        }
        let e = Manifest::parse(
            b"{}",
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        )
        .expect_err("schema 1");
        assert!(e.contains("unsupported manifest media type application/vnd.docker.distribution.manifest.v1+prettyjws"), "{e}");
        assert!(Manifest::parse(b"not json", None).is_err());
    }
}
