//! A running containerd as restarting it by pid sees it, read once before
//! anything is decided: what `/proc` says about it and about this process
//! (command line, environment, working directory, namespaces, cgroups,
//! resource limits, OOM score, status text, credentials) as plain data in
//! [`ProcessSnapshot`], which [`crate::restart_plan`] decides on; and the
//! files held open so that its working directory, namespaces and logs
//! outlive it ([`Held`]).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use rustix::thread::LinkNameSpaceType;

use crate::NodeError;
use crate::proc;
use crate::restart_plan::{self, Refusal};

/// A namespace a restarted containerd joins when it is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Cgroup,
    Ipc,
    Uts,
    Net,
    Mnt,
}

/// The namespaces a restarted containerd joins when they are not ours,
/// in `setns` order: the mount namespace last, as it changes what paths
/// mean. Not the PID namespace: with `hostPID` it is already the host's,
/// and entering one applies only to children (nsenter forks for it and
/// would stay behind as containerd's parent, in the installer's cgroup).
pub const NAMESPACES: [Namespace; 5] = [
    Namespace::Cgroup,
    Namespace::Ipc,
    Namespace::Uts,
    Namespace::Net,
    Namespace::Mnt,
];

impl Namespace {
    /// Its name under `/proc/PID/ns/`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cgroup => "cgroup",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::Net => "net",
            Self::Mnt => "mnt",
        }
    }

    pub(crate) fn link_type(self) -> LinkNameSpaceType {
        match self {
            Self::Cgroup => LinkNameSpaceType::ControlGroup,
            Self::Ipc => LinkNameSpaceType::InterProcessCommunication,
            Self::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
            Self::Net => LinkNameSpaceType::Network,
            Self::Mnt => LinkNameSpaceType::Mount,
        }
    }
}

/// How one of its namespaces compares with ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceView {
    /// This kernel has no such namespace.
    Missing,
    /// It is ours.
    Shared,
    /// It is another one (held open in [`Held`]).
    Other,
    /// Ours exists but its own cannot be looked at (why).
    Unseen(String),
}

/// Its `/proc/PID/cgroup` and `/proc/PID/mountinfo`, read from inside its
/// cgroup namespace when it is not ours (both show paths relative to the
/// reader's cgroup namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupTexts {
    pub cgroup: String,
    pub mountinfo: String,
}

/// What `/proc` says about a running containerd (and this process), read
/// before it is stopped. Plain data: decisions take it as input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSnapshot {
    pub pid: i32,
    /// Its `/proc/PID/stat`.
    pub stat: String,
    /// Its command line, program first.
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Where its working directory is, for messages.
    pub cwd: PathBuf,
    /// Each of [`NAMESPACES`], compared with ours.
    pub namespaces: Vec<(Namespace, NamespaceView)>,
    /// `None` when unreadable (or not read: joining its namespaces would
    /// be refused anyway).
    pub cgroups: Option<CgroupTexts>,
    /// Its `/proc/PID/limits`, if readable.
    pub limits: Option<String>,
    /// Its `/proc/PID/oom_score_adj`, trimmed.
    pub oom_score_adj: Option<Vec<u8>>,
    /// Its `/proc/PID/status`: umask, user, capabilities, seccomp.
    pub status: String,
    /// This process's `/proc/self/status`: what a process started from
    /// here inherits.
    pub our_status: String,
    /// Where its program is found, as starting it again would look for
    /// it (through its root and working directory); `None` if nowhere.
    pub program: Option<PathBuf>,
}

/// Files held open from the snapshot on, so that the restarted containerd
/// gets the same working directory, namespaces and log files after the
/// old one is gone.
#[derive(Debug)]
pub struct Held {
    pub cwd: File,
    /// One for each namespace that is [`NamespaceView::Other`].
    pub namespaces: Vec<(Namespace, File)>,
    /// Its stdout and stderr reopened for appending, when they are files.
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

impl Held {
    /// Its cgroup namespace, when that is not ours.
    pub fn cgroup_namespace(&self) -> Option<&File> {
        self.namespaces
            .iter()
            .find(|n| n.0 == Namespace::Cgroup)
            .map(|n| &n.1)
    }
}

pub(crate) fn proc_path(pid: i32, rest: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{rest}"))
}

pub(crate) fn restart_error(pid: i32, what: &'static str) -> impl FnOnce(io::Error) -> NodeError {
    move |source| NodeError::RestartIo { pid, what, source }
}

/// Reads `paths` from inside the cgroup namespace `ns` (ours when
/// `None`): `/proc/PID/cgroup` and the cgroup mounts in mountinfo are
/// shown relative to the reader's cgroup namespace. A thread of its own
/// joins it, and ends after reading (a cgroup namespace is per thread).
pub(crate) fn read_in_cgroupns(ns: Option<&File>, paths: &[PathBuf]) -> io::Result<Vec<String>> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(ns) = ns {
                // Changes only this thread's cgroup namespace.
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(LinkNameSpaceType::ControlGroup),
                )?;
            }
            paths.iter().map(std::fs::read_to_string).collect()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the reading thread panicked")))
    })
}

/// `fd` of `pid` reopened for appending, when it is a regular file (a
/// log an init script redirected to).
fn reopen_output(pid: i32, fd: u32) -> Option<File> {
    let path = proc_path(pid, &format!("fd/{fd}"));
    if !std::fs::metadata(&path).ok()?.is_file() {
        return None;
    }
    std::fs::OpenOptions::new().append(true).open(path).ok()
}

impl ProcessSnapshot {
    /// Reads containerd `pid` out of `/proc`, and holds what must outlive
    /// it. Fails when it cannot be read (it exited, or is exiting).
    pub fn read(pid: i32) -> Result<(Self, Held), NodeError> {
        let stat = std::fs::read_to_string(proc_path(pid, "stat"))
            .map_err(restart_error(pid, "read its stat"))?;
        let cmdline = proc_path(pid, "cmdline");
        let argv = proc::split_nul(&std::fs::read(&cmdline).map_err(crate::io("read", &cmdline))?);
        // An exiting process has nothing more to read.
        restart_plan::alive(pid, &stat, &argv).map_err(Refusal::into_error)?;
        let environ = proc_path(pid, "environ");
        let env =
            proc::parse_environ(&std::fs::read(&environ).map_err(crate::io("read", &environ))?);
        let cwd_link = proc_path(pid, "cwd");
        let cwd_file = File::open(&cwd_link).map_err(crate::io("open", &cwd_link))?;
        let cwd = std::fs::read_link(&cwd_link).unwrap_or_default();

        let mut namespaces = Vec::new();
        let mut namespace_files = Vec::new();
        for ns in NAMESPACES {
            let name = ns.name();
            let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
            let theirs_path = proc_path(pid, &format!("ns/{name}"));
            let view = match (ours, std::fs::metadata(&theirs_path)) {
                (Err(_), _) => NamespaceView::Missing,
                (Ok(ours), Ok(theirs))
                    if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) =>
                {
                    NamespaceView::Shared
                }
                (Ok(_), Ok(_)) => {
                    let file = File::open(&theirs_path).map_err(crate::io("open", &theirs_path))?;
                    namespace_files.push((ns, file));
                    NamespaceView::Other
                }
                (Ok(_), Err(e)) => NamespaceView::Unseen(e.to_string()),
            };
            namespaces.push((ns, view));
        }
        let our_status = std::fs::read_to_string("/proc/self/status")
            .map_err(restart_error(pid, "read this process's status"))?;
        let held = Held {
            cwd: cwd_file,
            namespaces: namespace_files,
            stdout: reopen_output(pid, 1),
            stderr: reopen_output(pid, 2),
        };

        // Not read when the restart would be refused for the namespaces.
        let cgroups = (held.namespaces.is_empty()
            || restart_plan::may_join_namespaces(&our_status))
        .then(|| read_cgroups(pid, held.cgroup_namespace()))
        .flatten();
        let limits = std::fs::read_to_string(proc_path(pid, "limits")).ok();
        let oom_score_adj = std::fs::read(proc_path(pid, "oom_score_adj"))
            .ok()
            .map(|v| v.trim_ascii().to_vec());
        let status = std::fs::read_to_string(proc_path(pid, "status"))
            .map_err(restart_error(pid, "read its status"))?;
        let program = proc::find_program(
            &proc_path(pid, "root"),
            &proc_path(pid, "cwd"),
            argv.first().map(OsString::as_os_str).unwrap_or_default(),
            &env,
        );
        let snapshot = Self {
            pid,
            stat,
            argv,
            env,
            cwd,
            namespaces,
            cgroups,
            limits,
            oom_score_adj,
            status,
            our_status,
            program,
        };
        Ok((snapshot, held))
    }

    /// Its command line, for messages.
    pub fn shown(&self) -> String {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Its cgroup texts, from its cgroup namespace `ns` (else from ours).
fn read_cgroups(pid: i32, ns: Option<&File>) -> Option<CgroupTexts> {
    let paths = [proc_path(pid, "cgroup"), proc_path(pid, "mountinfo")];
    let texts = read_in_cgroupns(ns, &paths).or_else(|e| {
        tracing::warn!(pid, error = %e, "cannot read containerd's cgroups from its cgroup namespace; reading them from ours");
        read_in_cgroupns(None, &paths)
    });
    match texts {
        Ok(texts) => match <[String; 2]>::try_from(texts) {
            Ok([cgroup, mountinfo]) => Some(CgroupTexts { cgroup, mountinfo }),
            Err(_) => None,
        },
        Err(e) => {
            tracing::warn!(pid, error = %e, "cannot read containerd's cgroups; the restarted one stays in ours");
            None
        }
    }
}
