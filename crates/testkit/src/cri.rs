//! A CRI v1 client, speaking gRPC to containerd's socket exactly as the
//! kubelet does (RuntimeService and ImageService), and what a CRI-enabled
//! containerd needs around it: a sandbox (pause) image built here and
//! imported, and a CNI network (bridge + host-local) of its own.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use tonic::transport::{Channel, Endpoint, Uri};

use api::image_service_client::ImageServiceClient;
use api::runtime_service_client::RuntimeServiceClient;
pub use k8s_cri::v1 as api;

/// The two CRI services on one connection.
#[derive(Clone)]
pub struct Cri {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    /// Connects to the CRI server on the Unix socket `socket`.
    pub async fn connect(socket: &str) -> Self {
        let socket = socket.to_string();
        // The URI is a placeholder: the connector ignores it.
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }))
            .await
            .expect("connect to the CRI socket");
        Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }
}

impl Cri {
    /// Stops and removes every pod sandbox (and so its containers and
    /// network namespace); errors are ignored, as in a cleanup.
    pub async fn remove_all_pods(&mut self) {
        let pods = self
            .runtime
            .list_pod_sandbox(api::ListPodSandboxRequest::default())
            .await
            .map(|r| r.into_inner().items)
            .unwrap_or_default();
        for pod in pods {
            let _ = self
                .runtime
                .stop_pod_sandbox(api::StopPodSandboxRequest {
                    pod_sandbox_id: pod.id.clone(),
                })
                .await;
            let _ = self
                .runtime
                .remove_pod_sandbox(api::RemovePodSandboxRequest {
                    pod_sandbox_id: pod.id,
                })
                .await;
        }
    }
}

/// A CNI network of its own for one containerd: a bridge with a unique
/// name and a /24 of 10.250.0.0/16, addresses from host-local with its
/// state under `dir`. The bridge is deleted on drop.
pub struct CniNetwork {
    pub bridge: String,
    pub subnet_prefix: String,
}

static NETWORKS: AtomicU32 = AtomicU32::new(0);

impl CniNetwork {
    /// Writes the network's conflist into `conf_dir`.
    pub fn create(conf_dir: &Path, state_dir: &Path) -> Self {
        // Unique across the tests of this process and, through the pid,
        // across test processes running at once.
        let n = (std::process::id() * 7 + NETWORKS.fetch_add(1, Ordering::Relaxed)) % 250 + 1;
        let bridge = format!("wpbr{}x{}", std::process::id() % 100_000, n);
        let subnet_prefix = format!("10.250.{n}");
        std::fs::create_dir_all(conf_dir).expect("cni conf dir");
        let conf = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": bridge,
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": format!("{subnet_prefix}.0/24")}]],
                    "dataDir": state_dir.join("ipam").display().to_string(),
                }
            }]
        });
        std::fs::write(
            conf_dir.join("10-wasmpod-test.conflist"),
            serde_json::to_vec_pretty(&conf).expect("json"),
        )
        .expect("write cni conflist");
        Self {
            bridge,
            subnet_prefix,
        }
    }
}

impl Drop for CniNetwork {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        b.append_data(&mut h, path.trim_start_matches('/'), *data)
            .expect("tar");
    }
    b.into_inner().expect("tar")
}

/// An OCI image layout as a tar (what `ctr images import` reads) holding one
/// linux/amd64 image named `name`, with one uncompressed layer of `files`
/// (path, content, mode) and `entrypoint`.
pub fn oci_archive(name: &str, files: &[(&str, &[u8], u32)], entrypoint: &[&str]) -> Vec<u8> {
    let layer = tar_of(files);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": {"Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    }))
    .expect("json");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": sha256(&layer),
            "size": layer.len(),
        }],
    }))
    .expect("json");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&manifest),
            "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    }))
    .expect("json");
    let blob = |data: &[u8]| format!("blobs/sha256/{}", &sha256(data)["sha256:".len()..]);
    let (c, l, m) = (blob(&config), blob(&layer), blob(&manifest));
    tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644),
        ("index.json", &index, 0o644),
        (&c, &config, 0o644),
        (&l, &layer, 0o644),
        (&m, &manifest, 0o644),
    ])
}
