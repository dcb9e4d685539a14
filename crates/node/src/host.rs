//! The host side of the installer: asking containerd its version and
//! restarting it. Behind a trait so install logic is tested without
//! touching the machine's containerd.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Flavor, NodeError};

/// What the installer needs from the machine.
pub trait Host {
    /// The output of `containerd --version`.
    fn containerd_version(&self) -> Result<String, NodeError>;
    /// Restarts containerd; returns how, for the report.
    fn restart_containerd(&self, flavor: Flavor) -> Result<String, NodeError>;
}

/// The real machine.
///
/// When wasmpod runs in a container that shares the host's PID namespace
/// (the installer DaemonSet: `hostPID: true`, privileged), host commands
/// are run in the host's mount namespace through `nsenter -t 1 -m --`,
/// so `systemctl` and `containerd` are the host's.
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

    fn command(program: &str) -> Command {
        if Self::in_container() {
            let mut c = Command::new("nsenter");
            c.args(["-t", "1", "-m", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(mut cmd: Command) -> Result<String, String> {
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

    /// No systemd: SIGTERM the running containerd and start it again with
    /// the command line it was started with, detached. (containerd does
    /// not reload its config on SIGHUP.)
    fn restart_by_pid(&self) -> Result<String, NodeError> {
        let pid = Self::run({
            let mut c = Command::new("pidof");
            c.arg("-s").arg("containerd");
            c
        })
        .map_err(|e| NodeError::Restart(format!("no running containerd found ({e})")))?;
        let pid: i32 = pid
            .trim()
            .parse()
            .map_err(|_| NodeError::Restart(format!("pidof printed {pid:?}")))?;
        let cmdline_path = PathBuf::from(format!("/proc/{pid}/cmdline"));
        let raw = std::fs::read(&cmdline_path).map_err(crate::io("read", &cmdline_path))?;
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| NodeError::Restart(format!("{} is empty", cmdline_path.display())))?;
        Self::run({
            let mut c = Command::new("kill");
            c.args(["-TERM", &pid.to_string()]);
            c
        })
        .map_err(NodeError::Restart)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() {
            if Instant::now() > deadline {
                return Err(NodeError::Restart(format!(
                    "containerd (pid {pid}) did not exit within 30 s of SIGTERM"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| NodeError::Restart(format!("re-exec {program}: {e}")))?;
        Ok(format!(
            "SIGTERM to pid {pid}, then started `{}`",
            argv.join(" ")
        ))
    }
}

impl Host for SystemHost {
    fn containerd_version(&self) -> Result<String, NodeError> {
        let mut c = Self::command("containerd");
        c.arg("--version");
        Self::run(c).map_err(|e| NodeError::Restart(format!("containerd --version: {e}")))
    }

    fn restart_containerd(&self, flavor: Flavor) -> Result<String, NodeError> {
        if !self.systemd() {
            return self.restart_by_pid();
        }
        let services = flavor.services();
        let active = services.iter().find(|s| {
            let mut c = Self::command("systemctl");
            c.args(["is-active", "--quiet", s]);
            Self::run(c).is_ok()
        });
        let service = active.or(services.first()).copied().unwrap_or("containerd");
        let mut c = Self::command("systemctl");
        c.args(["restart", service]);
        Self::run(c).map_err(NodeError::Restart)?;
        Ok(format!("systemctl restart {service}"))
    }
}
