//! From an OCI runtime bundle's `config.json` to what the engine needs.
//!
//! Only the parts of the runtime spec a Wasm container uses are read:
//! `process` (args, env, cwd, terminal), `root`, `mounts`, `annotations`,
//! and from `linux` the memory and CPU limits, cgroup path and network
//! namespace. Everything else (capabilities, seccomp, devices) guards
//! native processes, which wasmpod never starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmpod_engine::{HostDir, Preopen};

use crate::BundleError;

/// The largest `config.json` read: specs that runc, Podman and containerd
/// write are a few KiB.
pub const MAX_SPEC_BYTES: u64 = 4 << 20;

/// The CRI annotation that says what a container is.
pub const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// The CRI annotation that groups a pod's containers.
pub const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
/// The kubelet's annotation with the container's `ports` as JSON; containerd
/// passes it into the spec when the runtime's `container_annotations` list
/// it (`wasmpod node install` does).
pub const CONTAINER_PORTS: &str = "io.kubernetes.container.ports";
/// The env var that sets where a wasi:http component is served, as
/// `HOST:PORT` or a bare port.
pub const HTTP_LISTEN_ENV: &str = "WASMPOD_HTTP_LISTEN";
/// Where a wasi:http component is served when nothing says otherwise.
pub const DEFAULT_HTTP_PORT: u16 = 8080;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Spec {
    #[serde(default)]
    pub process: Option<Process>,
    #[serde(default)]
    pub root: Option<Root>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub linux: Option<Linux>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Process {
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: String,
    /// Whether the process gets a terminal (a pseudo-terminal whose
    /// controller goes to the console socket).
    #[serde(default)]
    pub terminal: bool,
    /// Who the process runs as.
    #[serde(default)]
    pub user: User,
}

/// The uid, gid and supplementary groups a process runs as (root when
/// unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Root {
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mount {
    pub destination: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(default)]
    pub cgroups_path: String,
    #[serde(default)]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub memory: Option<MemoryResources>,
    #[serde(default)]
    pub cpu: Option<CpuResources>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CpuResources {
    /// Microseconds of CPU time per period; none or negative: no limit.
    #[serde(default)]
    pub quota: Option<i64>,
    /// The period in microseconds (100000 when unset).
    #[serde(default)]
    pub period: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemoryResources {
    #[serde(default)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub path: Option<String>,
}

/// The network a container asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network<'a> {
    /// No `network` namespace entry: the host's network (`ctr run
    /// --net-host`, a `hostNetwork` pod).
    Host,
    /// An entry without a path: a new, empty network namespace (plain `ctr
    /// run`).
    New,
    /// An entry with a path: that existing namespace (a CRI pod's, or `ctr
    /// run --with-ns network:PATH`).
    Join(&'a str),
}

/// Reads a spec (or an exec's `Process`) from `path`,
/// refusing one over [`MAX_SPEC_BYTES`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BundleError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| BundleError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BundleError::io(path, e))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(BundleError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_SPEC_BYTES,
        });
    }
    serde_json::from_slice(&bytes).map_err(|source| BundleError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

impl Spec {
    /// Reads `config.json` from a bundle.
    pub fn load(bundle: &Path) -> Result<Self, BundleError> {
        read_json(&bundle.join("config.json"))
    }

    /// Whether this is a pod's sandbox ("pause") container.
    pub fn is_sandbox(&self) -> bool {
        self.annotations.get(CONTAINER_TYPE).map(String::as_str) == Some("sandbox")
    }

    /// The network the container asks for, from its `network` entry in
    /// `linux.namespaces` (read as runc reads it).
    pub fn network(&self) -> Network<'_> {
        let entry = self
            .linux
            .as_ref()
            .and_then(|l| l.namespaces.iter().find(|n| n.kind == "network"));
        match entry {
            None => Network::Host,
            Some(n) => match n.path.as_deref() {
                Some(path) if !path.is_empty() => Network::Join(path),
                _ => Network::New,
            },
        }
    }

    /// Where a wasi:http component in this container is served: the
    /// `WASMPOD_HTTP_LISTEN` env var (`HOST:PORT` or a port), else the first
    /// TCP `containerPort` from the kubelet's ports annotation, else 8080;
    /// on every address of the pod's network namespace.
    pub fn http_listen(&self) -> Result<std::net::SocketAddr, BundleError> {
        let any = |port: u16| std::net::SocketAddr::from(([0, 0, 0, 0], port));
        let env = self.process.as_ref().and_then(|p| {
            p.env.iter().find_map(|e| {
                e.strip_prefix(HTTP_LISTEN_ENV)
                    .and_then(|rest| rest.strip_prefix('='))
            })
        });
        if let Some(value) = env {
            return value
                .parse::<u16>()
                .map(any)
                .or_else(|_| value.parse())
                .map_err(|_| {
                    BundleError::Invalid(format!(
                        "{HTTP_LISTEN_ENV}={value}: use HOST:PORT or a port"
                    ))
                });
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Port {
            container_port: u16,
            #[serde(default)]
            protocol: Option<String>,
        }
        let from_annotation = self
            .annotations
            .get(CONTAINER_PORTS)
            .and_then(|json| serde_json::from_str::<Vec<Port>>(json).ok())
            .and_then(|ports| {
                ports
                    .into_iter()
                    .find(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP"))
            })
            .map(|p| p.container_port);
        Ok(any(from_annotation.unwrap_or(DEFAULT_HTTP_PORT)))
    }

    /// The pod this container belongs to, if CRI created it.
    pub fn sandbox_id(&self) -> Option<&str> {
        self.annotations.get(SANDBOX_ID).map(String::as_str)
    }

    /// The root filesystem on the host.
    pub fn rootfs(&self, bundle: &Path) -> PathBuf {
        match &self.root {
            Some(r) if Path::new(&r.path).is_absolute() => PathBuf::from(&r.path),
            Some(r) => bundle.join(&r.path),
            None => bundle.join("rootfs"),
        }
    }

    /// The memory limit in bytes, if one is set (and positive).
    pub fn memory_limit(&self) -> Option<u64> {
        self.linux
            .as_ref()?
            .resources
            .as_ref()?
            .memory
            .as_ref()?
            .limit
            .and_then(|l| u64::try_from(l).ok())
            .filter(|l| *l > 0)
    }

    /// The CPU limit in thousandths of a CPU (quota over period), if one
    /// is set.
    pub fn cpu_millis(&self) -> Option<u64> {
        let cpu = self.linux.as_ref()?.resources.as_ref()?.cpu.as_ref()?;
        let quota = u64::try_from(cpu.quota?).ok().filter(|q| *q > 0)?;
        let period = cpu.period.filter(|p| *p > 0).unwrap_or(100_000);
        Some((quota.saturating_mul(1000) / period).max(1))
    }

    /// The process, as given or empty.
    pub fn args(&self) -> &[String] {
        self.process.as_ref().map_or(&[], |p| p.args.as_slice())
    }

    /// Environment variables as pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        self.process
            .as_ref()
            .map(|p| wasmpod_engine::env_pairs(&p.env))
            .unwrap_or_default()
    }

    /// The working directory, `/` if unset.
    pub fn cwd(&self) -> String {
        self.process
            .as_ref()
            .map(|p| p.cwd.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    /// What the guest may open: the rootfs at `/` (read-only when the spec
    /// says so), and every bind mount of a directory at its destination
    /// (read-only with the `ro` or `rro` option), each opened once here. File bind
    /// mounts (`/etc/hosts`) and kernel filesystems (`proc`, `sysfs`,
    /// `devpts`, ...) have no WASI equivalent and are left out.
    pub fn preopens(&self, root: &HostDir) -> Result<Vec<Preopen>, BundleError> {
        let mut preopens = vec![Preopen {
            dir: root.clone(),
            guest: "/".into(),
            read_only: self.root.as_ref().is_some_and(|r| r.readonly),
        }];
        for m in &self.mounts {
            let is_bind = m.kind == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind");
            if !is_bind {
                continue;
            }
            let dir = match HostDir::open(&m.source) {
                Ok(dir) => dir,
                // A file, or a source gone: nothing a guest could open.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ENOENT)) => {
                    continue;
                }
                Err(e) => return Err(BundleError::io(&m.source, e)),
            };
            preopens.push(Preopen {
                dir,
                guest: m.destination.clone(),
                // `rro` (recursive read-only, runc 1.1+) is read-only too.
                read_only: m.options.iter().any(|o| o == "ro" || o == "rro"),
            });
        }
        Ok(preopens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_listen_from_env_annotation_or_default() {
        let spec = |env: &str, ann: &str| -> Spec {
            serde_json::from_value(serde_json::json!({
                "process": {"env": [env]},
                "annotations": if ann.is_empty() { serde_json::json!({}) } else { serde_json::json!({CONTAINER_PORTS: ann}) },
            }))
            .expect("spec")
        };
        let addr = |s: Spec| s.http_listen().expect("addr").to_string();
        assert_eq!(addr(spec("A=b", "")), "0.0.0.0:8080");
        assert_eq!(
            addr(spec(
                "A=b",
                r#"[{"name":"dns","containerPort":53,"protocol":"UDP"},{"containerPort":3000,"protocol":"TCP"}]"#
            )),
            "0.0.0.0:3000"
        );
        assert_eq!(
            addr(spec(
                "WASMPOD_HTTP_LISTEN=9000",
                r#"[{"containerPort":3000}]"#
            )),
            "0.0.0.0:9000"
        );
        assert_eq!(
            addr(spec("WASMPOD_HTTP_LISTEN=127.0.0.1:81", "")),
            "127.0.0.1:81"
        );
        let err = spec("WASMPOD_HTTP_LISTEN=nope", "")
            .http_listen()
            .expect_err("bad");
        assert!(
            err.to_string().contains("WASMPOD_HTTP_LISTEN=nope"),
            "{err}"
        );
    }

    #[test]
    fn reads_what_a_wasm_container_needs() {
        let spec: Spec = serde_json::from_str(
            r#"{
            "ociVersion": "1.0.2",
            "process": {"terminal": false, "user": {"uid": 0, "gid": 0},
                        "args": ["/app.wasm", "a"], "env": ["PATH=/bin", "EMPTY=", "X=1=2"], "cwd": "/work"},
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [
              {"destination": "/proc", "type": "proc", "source": "proc"},
              {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]},
              {"destination": "/rw", "type": "none", "source": "/tmp", "options": ["rbind", "rw"]},
              {"destination": "/rro", "type": "bind", "source": "/tmp", "options": ["rbind", "rro"]},
              {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]}
            ],
            "annotations": {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "pod1"},
            "linux": {"cgroupsPath": "/kubepods/pod1/c1", "resources": {"memory": {"limit": 67108864}},
                      "namespaces": [{"type": "network", "path": "/var/run/netns/x"}], "seccomp": {}}
        }"#,
        )
        .expect("spec");
        assert!(!spec.is_sandbox());
        assert_eq!(spec.sandbox_id(), Some("pod1"));
        assert_eq!(spec.memory_limit(), Some(64 << 20));
        assert_eq!(spec.cwd(), "/work");
        assert_eq!(
            spec.env(),
            vec![
                ("PATH".into(), "/bin".into()),
                ("EMPTY".into(), "".into()),
                ("X".into(), "1=2".into())
            ]
        );
        assert_eq!(spec.rootfs(Path::new("/b")), PathBuf::from("/b/rootfs"));
        let root = tempfile::tempdir().expect("tmp");
        let p = spec
            .preopens(&HostDir::open(root.path()).expect("root"))
            .expect("preopens");
        let summary: Vec<(&str, bool)> =
            p.iter().map(|p| (p.guest.as_str(), p.read_only)).collect();
        assert_eq!(
            summary,
            vec![("/", true), ("/data", true), ("/rw", false), ("/rro", true)]
        );

        let sandbox: Spec = serde_json::from_str(
            r#"{"annotations": {"io.kubernetes.cri.container-type": "sandbox"}}"#,
        )
        .expect("sandbox");
        assert!(sandbox.is_sandbox());
        assert_eq!(sandbox.memory_limit(), None);
        assert_eq!(sandbox.cwd(), "/");
        assert_eq!(sandbox.network(), Network::Host);
        assert_eq!(spec.network(), Network::Join("/var/run/netns/x"));
    }

    #[test]
    fn the_network_entry_without_a_path_asks_for_a_new_namespace() {
        let network = |linux: serde_json::Value| {
            let spec: Spec =
                serde_json::from_value(serde_json::json!({ "linux": linux })).expect("spec");
            format!("{:?}", spec.network())
        };
        assert_eq!(network(serde_json::json!({})), "Host");
        assert_eq!(
            network(serde_json::json!({"namespaces": [{"type": "pid"}, {"type": "mount"}]})),
            "Host"
        );
        assert_eq!(
            network(serde_json::json!({"namespaces": [{"type": "pid"}, {"type": "network"}]})),
            "New"
        );
        assert_eq!(
            network(serde_json::json!({"namespaces": [{"type": "network", "path": ""}]})),
            "New"
        );
        assert_eq!(
            network(
                serde_json::json!({"namespaces": [{"type": "network", "path": "/run/netns/p"}]})
            ),
            "Join(\"/run/netns/p\")"
        );
        let no_linux: Spec = serde_json::from_str("{}").expect("spec");
        assert_eq!(no_linux.network(), Network::Host);
    }
}
