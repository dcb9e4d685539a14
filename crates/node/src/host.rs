//! The host side of the installer: asking containerd its version and
//! restarting it, through systemd ([`crate::restart_by_systemd`]) or,
//! without it, by pid ([`crate::restart_by_pid`]). Behind a trait so
//! install logic is tested without touching the machine's containerd.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::proc;
use crate::{Flavor, NodeError};

/// What the installer needs from the machine.
pub trait Host {
    /// The output of `containerd --version`.
    fn containerd_version(&self) -> Result<String, NodeError>;
    /// Restarts containerd; returns how, for the report. `config` is the
    /// config containerd is started with (the file install changed, or
    /// the one k3s, RKE2 or MicroK8s renders from the changed template)
    /// as a host path: `/etc/containerd/config.toml`, not under the
    /// host-root mount (see [`host_path`]). It tells which containerd to
    /// restart when several run.
    fn restart_containerd(&self, flavor: Flavor, config: &Path) -> Result<String, NodeError>;
}

/// `path` as seen from here, as the host sees it: without the host-root
/// prefix (`/host/etc/x` with root `/host` is `/etc/x`). A path outside
/// the host root is returned as is (made absolute).
pub fn host_path(root: &Path, path: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let path = proc::normalize(&absolute(path));
    match path.strip_prefix(proc::normalize(&absolute(root))) {
        Ok(rest) => Path::new("/").join(rest),
        Err(_) => path,
    }
}

/// The real machine.
///
/// When wasmpod runs in a container that shares the host's PID namespace
/// (the installer DaemonSet: `hostPID: true`, privileged), host commands
/// are run in the host's mount namespace through `nsenter -t 1 -m --`,
/// so `systemctl` and `containerd` are the host's. Without systemd, a
/// containerd is restarted in the namespaces, cgroups and environment of
/// the one it replaces, whatever ours are.
#[derive(Debug, Default)]
pub struct SystemHost {
    /// The host's root as seen from here (`/`, or a hostPath mount).
    pub root: PathBuf,
}

impl SystemHost {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn in_container() -> bool {
        let ns = |p: &str| std::fs::read_link(p).ok();
        match (ns("/proc/self/ns/mnt"), ns("/proc/1/ns/mnt")) {
            (Some(me), Some(init)) => me != init,
            _ => false,
        }
    }

    pub(crate) fn command(program: &str) -> Command {
        if Self::in_container() {
            let mut c = Command::new("nsenter");
            c.args(["-t", "1", "-m", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }

    pub(crate) fn run(mut cmd: Command) -> Result<String, String> {
        let shown = format!("{cmd:?}");
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{shown}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "{shown}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn systemd(&self) -> bool {
        self.root.join("run/systemd/system").is_dir()
    }
}

impl Host for SystemHost {
    fn containerd_version(&self) -> Result<String, NodeError> {
        let mut c = Self::command("containerd");
        c.arg("--version");
        Self::run(c).map_err(|e| NodeError::Restart(format!("containerd --version: {e}")))
    }

    fn restart_containerd(&self, flavor: Flavor, config: &Path) -> Result<String, NodeError> {
        let services = flavor.services();
        if !self.systemd() {
            // k3s and RKE2 run containerd as their own child and exit when
            // it does; MicroK8s is a snap. Stopping that containerd by pid
            // would take the node agent down with it.
            if flavor != Flavor::Containerd {
                return Err(NodeError::NotByPid {
                    flavor: format!("{flavor:?}"),
                    services: services.join(" or "),
                });
            }
            return crate::restart_by_pid::restart(&self.root, config);
        }
        crate::restart_by_systemd::restart(services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_drop_the_host_root() {
        let host = |root: &str, path: &str| host_path(Path::new(root), Path::new(path));
        assert_eq!(
            host("/host", "/host/etc/containerd/config.toml"),
            PathBuf::from("/etc/containerd/config.toml")
        );
        assert_eq!(host("/", "/etc/x.toml"), PathBuf::from("/etc/x.toml"));
        assert_eq!(
            host("/host/", "/host/a/../b.toml"),
            PathBuf::from("/b.toml")
        );
        assert_eq!(
            host("/host", "/hostile/x.toml"),
            PathBuf::from("/hostile/x.toml")
        );
        let relative = host("/", "x.toml");
        assert!(
            relative.is_absolute() && relative.ends_with("x.toml"),
            "{relative:?}"
        );
    }
}
