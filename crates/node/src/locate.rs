//! Which containerd config a node uses, by distribution: k3s and RKE2
//! (a `config.toml.tmpl` k3s renders `config.toml` from, since it
//! rewrites `config.toml` on every start), MicroK8s (a template under the
//! snap), or plain containerd (`/etc/containerd/config.toml`).

use std::path::{Path, PathBuf};

use crate::NodeError;
use crate::host_root::HostRoot;

/// Whose containerd this is, which decides the service to restart and
/// the CRI socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Containerd,
    K3s,
    Rke2,
    MicroK8s,
}

impl Flavor {
    /// systemd units that run containerd, in the order they are tried.
    pub fn services(self) -> &'static [&'static str] {
        match self {
            Flavor::Containerd => &["containerd"],
            Flavor::K3s => &["k3s", "k3s-agent"],
            Flavor::Rke2 => &["rke2-server", "rke2-agent"],
            Flavor::MicroK8s => &["snap.microk8s.daemon-containerd"],
        }
    }

    /// The CRI socket this flavour's containerd serves.
    pub fn cri_socket(self) -> &'static str {
        match self {
            Flavor::Containerd => "/run/containerd/containerd.sock",
            Flavor::K3s | Flavor::Rke2 => "/run/k3s/containerd/containerd.sock",
            Flavor::MicroK8s => "/var/snap/microk8s/common/run/containerd.sock",
        }
    }
}

/// The config file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub flavor: Flavor,
    /// For a k3s/RKE2 template that does not exist yet: the rendered
    /// `config.toml` to create it from.
    pub seed: Option<PathBuf>,
}

impl Located {
    /// The config containerd is started with: [`Located::path`], except
    /// that k3s and RKE2 render `config.toml` from `config.toml.tmpl`
    /// and MicroK8s renders `containerd.toml` from
    /// `containerd-template.toml` (each next to its template).
    pub fn daemon_config(&self) -> PathBuf {
        let name = self.path.file_name().and_then(|n| n.to_str());
        match name {
            Some(n) if n.ends_with(".tmpl") => {
                self.path.with_file_name(&n[..n.len() - ".tmpl".len()])
            }
            Some("containerd-template.toml") => self.path.with_file_name("containerd.toml"),
            _ => self.path.clone(),
        }
    }
}

const K3S: &str = "var/lib/rancher/k3s/agent/etc/containerd";
const RKE2: &str = "var/lib/rancher/rke2/agent/etc/containerd";
const MICROK8S: &str = "var/snap/microk8s/current/args/containerd-template.toml";
const PLAIN: &str = "etc/containerd/config.toml";

/// Finds the config under the host's root (`/`, or where it is mounted),
/// or uses `given` as is (plain containerd unless its path says
/// otherwise). Files are looked at beneath the root's handle, so the
/// host's own symlinks mean what they mean on the host.
pub fn locate(host: &HostRoot, given: Option<&Path>) -> Result<Located, NodeError> {
    let root = host.path();
    if let Some(path) = given {
        let s = path.to_string_lossy();
        let flavor = if s.contains("rancher/k3s") {
            Flavor::K3s
        } else if s.contains("rancher/rke2") {
            Flavor::Rke2
        } else if s.contains("microk8s") {
            Flavor::MicroK8s
        } else {
            Flavor::Containerd
        };
        if !host.is_file(path) {
            return Err(NodeError::NoConfig(vec![path.to_path_buf()]));
        }
        return Ok(Located {
            path: path.to_path_buf(),
            flavor,
            seed: None,
        });
    }
    let mut looked = Vec::new();
    for (dir, flavor) in [(K3S, Flavor::K3s), (RKE2, Flavor::Rke2)] {
        let dir = root.join(dir);
        let tmpl = dir.join("config.toml.tmpl");
        let rendered = dir.join("config.toml");
        if host.is_file(&tmpl) {
            return Ok(Located {
                path: tmpl,
                flavor,
                seed: None,
            });
        }
        if host.is_file(&rendered) {
            return Ok(Located {
                path: tmpl,
                flavor,
                seed: Some(rendered),
            });
        }
        looked.push(tmpl);
        looked.push(rendered);
    }
    for (path, flavor) in [(MICROK8S, Flavor::MicroK8s), (PLAIN, Flavor::Containerd)] {
        let path = root.join(path);
        if host.is_file(&path) {
            return Ok(Located {
                path,
                flavor,
                seed: None,
            });
        }
        looked.push(path);
    }
    Err(NodeError::NoConfig(looked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_template_is_created_from_the_rendered_config() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join(K3S);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("config.toml"), "version = 2\n").expect("write");
        let found = locate(&HostRoot::open(root.path()).expect("root"), None).expect("found");
        assert_eq!(found.path, dir.join("config.toml.tmpl"));
        assert_eq!(found.flavor, Flavor::K3s);
        assert_eq!(found.seed, Some(dir.join("config.toml")));
    }

    #[test]
    fn containerd_reads_the_file_rendered_from_a_template() {
        let located = |path: &str, flavor| Located {
            path: PathBuf::from(path),
            flavor,
            seed: None,
        };
        let k3s = located(
            "/host/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl",
            Flavor::K3s,
        );
        assert_eq!(
            k3s.daemon_config(),
            PathBuf::from("/host/var/lib/rancher/k3s/agent/etc/containerd/config.toml")
        );
        let micro = located(
            "/var/snap/microk8s/current/args/containerd-template.toml",
            Flavor::MicroK8s,
        );
        assert_eq!(
            micro.daemon_config(),
            PathBuf::from("/var/snap/microk8s/current/args/containerd.toml")
        );
        let plain = located("/etc/containerd/config.toml", Flavor::Containerd);
        assert_eq!(plain.daemon_config(), plain.path);
    }

    #[test]
    fn microk8s_then_plain_and_a_clear_error_otherwise() {
        let root = tempfile::tempdir().expect("tmp");
        let err =
            locate(&HostRoot::open(root.path()).expect("root"), None).expect_err("nothing there");
        let message = err.to_string();
        for p in [K3S, RKE2, MICROK8S, PLAIN] {
            assert!(message.contains(p), "{message}");
        }
        let plain = root.path().join(PLAIN);
        std::fs::create_dir_all(plain.parent().expect("dir")).expect("mkdir");
        std::fs::write(&plain, "").expect("write");
        assert_eq!(
            locate(&HostRoot::open(root.path()).expect("root"), None)
                .expect("plain")
                .path,
            plain
        );
        let micro = root.path().join(MICROK8S);
        std::fs::create_dir_all(micro.parent().expect("dir")).expect("mkdir");
        std::fs::write(&micro, "").expect("write");
        let found = locate(&HostRoot::open(root.path()).expect("root"), None).expect("microk8s");
        assert_eq!((found.path, found.flavor), (micro, Flavor::MicroK8s));
    }
}
