//! `wasmpod node`: puts wasmpod on a Kubernetes node and takes it off
//! again. It owns the binary copy, the containerd CRI config edit (the
//! `wasmpod` runtime handler), finding that config (plain containerd,
//! k3s, RKE2, MicroK8s), installing the node's trust policy for the shim,
//! restarting containerd and checking through CRI that the handler is
//! live, and labelling the node.
//!
//! It does not run workloads (the shim does) and does not talk to
//! containerd's own API; the host side (commands, signals) sits behind
//! [`Host`] so the install logic is tested without a node.

pub mod change;
pub mod config;
pub mod cri;
mod elf;
pub mod files;
pub mod host;
pub mod host_root;
pub mod image;
pub mod install;
pub mod label;
pub mod locate;
pub mod policy;
pub mod proc;
pub mod process_snapshot;
pub mod redact;
mod restart_by_pid;
mod restart_by_systemd;
pub mod restart_plan;

pub use config::{
    ConfigError, ConfigVersion, HANDLER, POD_ANNOTATIONS, PORTS_ANNOTATION, RUNTIME_TYPE,
};
pub use host::{Host, SystemHost, host_path};
pub use install::{InstallOptions, Plan, StatusReport, install, status, uninstall};
pub use locate::{Flavor, Located};

use std::path::PathBuf;

/// Everything that can go wrong on the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{path}")]
    Config {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no containerd config found; looked at {}", list(.0))]
    NoConfig(Vec<PathBuf>),
    #[error("the shim binary is not next to wasmpod: {0} does not exist")]
    NoShim(PathBuf),
    #[error(
        "{0} declares no version and `containerd --version` did not say which one containerd reads ({1}); add `version = 2` (containerd 1.x) or `version = 3` (containerd 2.x)"
    )]
    UnknownVersion(PathBuf, String),
    /// A command of the restart (`containerd --version`, `systemctl
    /// restart`) failed; the text is the command and what it printed.
    #[error("restarting containerd: {0}")]
    Restart(String),
    /// The running containerd was left as it was: restarting it could not
    /// bring back the same one.
    #[error("restarting containerd")]
    RestartRefused(#[from] crate::restart_plan::Refusal),
    #[error(
        "restarting containerd: none of the systemd units {} is active; restart containerd yourself",
        .0.join(", ")
    )]
    NoActiveUnit(Vec<String>),
    #[error(
        "restarting containerd: without systemd, {flavor}'s containerd is restarted through its own service ({services}), not by pid; restart it, then run `wasmpod node status`"
    )]
    NotByPid { flavor: String, services: String },
    #[error("restarting containerd: containerd (pid {pid}) exited before it was stopped")]
    ExitedBeforeStop { pid: i32 },
    #[error(
        "restarting containerd: containerd (pid {pid}): a trial run of `{program} --version`, set up as the restart would be, failed; it was left running: restart it yourself"
    )]
    TrialRunFailed {
        pid: i32,
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// Reading or signalling the containerd being restarted failed.
    #[error("restarting containerd: containerd (pid {pid}): {what}")]
    RestartIo {
        pid: i32,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "restarting containerd: containerd (pid {pid}) stopped, but starting `{program}` again failed"
    )]
    StartAgain {
        pid: i32,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("CRI at {socket}: {message}")]
    Cri { socket: PathBuf, message: String },
    #[error("labelling the node: {0}")]
    Label(String),
    #[error("building the installer image: {0}")]
    Image(String),
    /// A binary for the installer image still carries its debug info
    /// (most of a release build's size); the image takes what we ship.
    #[error(
        "building the installer image: {} carries {} MiB of debug info; build the shipped binaries with `make dist` and run `dist/wasmpod node image` from the target dir (or `objcopy --strip-debug` both binaries into one folder)",
        path.display(),
        bytes.div_ceil(1 << 20)
    )]
    DebugInfo { path: PathBuf, bytes: u64 },
    /// The node policy, or a key file it names, is one the shim would
    /// refuse (invalid TOML, contradicting rules, a key that is not a
    /// P-256 public key, a file over the trust limits).
    #[error(transparent)]
    Trust(#[from] wasmpod_oci::OciError),
    /// The node policy (or a file it names, or the record of what install
    /// wrote, or a file in the way) cannot be installed or removed as it
    /// is; `path` names that file and `reason` says why.
    #[error("{}: {reason}", path.display())]
    Policy { path: PathBuf, reason: String },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `e` and its causes on one line (`a: b: c`), for reports and for
/// errors built from another crate's (tonic's transport error alone says
/// only "transport error").
pub(crate) fn error_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(&format!(": {c}"));
        cause = c.source();
    }
    line
}

pub(crate) fn io(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> NodeError {
    let path = path.into();
    move |source| NodeError::Io { what, path, source }
}
