//! The host side of the installer: asking containerd its version and
//! restarting it. Behind a trait so install logic is tested without
//! touching the machine's containerd.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::{self, Candidate, CgroupEntry};
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

    /// A host path as seen from here.
    fn under_root(&self, host: &Path) -> PathBuf {
        self.root.join(host.strip_prefix("/").unwrap_or(host))
    }

    /// Every running containerd (a process whose comm is `containerd`),
    /// with the config it reads and whether that is `config` (a host
    /// path): the same file when both can be looked at (through
    /// `/proc/PID/root`, so a containerd in another mount namespace, a
    /// test one in a container, does not match by name alone), else the
    /// same path.
    fn containerds(&self, config: &Path) -> Result<Vec<Candidate>, NodeError> {
        let target = proc::normalize(config);
        let target_id = file_id(&self.under_root(&target));
        let entries = std::fs::read_dir("/proc").map_err(crate::io("list", "/proc"))?;
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            // Any of these fails when the process has just exited.
            let comm = std::fs::read_to_string(proc_path(pid, "comm")).unwrap_or_default();
            if comm.trim_end_matches('\n') != "containerd" {
                continue;
            }
            let argv =
                proc::split_nul(&std::fs::read(proc_path(pid, "cmdline")).unwrap_or_default());
            if argv.is_empty() {
                continue; // a zombie
            }
            let cwd = std::fs::read_link(proc_path(pid, "cwd")).ok();
            let config = proc::config_of(&argv, cwd.as_deref());
            let its_id = config
                .is_absolute()
                .then(|| {
                    let mut seen = proc_path(pid, "root").into_os_string();
                    seen.push(config.as_os_str());
                    file_id(Path::new(&seen))
                })
                .flatten();
            let matches = match (target_id, its_id) {
                (Some(a), Some(b)) => a == b,
                _ => config == target,
            };
            tracing::debug!(pid, config = %config.display(), matches, "containerd process");
            found.push(Candidate {
                pid,
                config,
                matches,
            });
        }
        found.sort_by_key(|c| c.pid);
        Ok(found)
    }

    /// The pid of the containerd to restart for `config`.
    fn choose_containerd(&self, config: &Path) -> Result<i32, NodeError> {
        let candidates = self.containerds(config)?;
        let (i, sure) = proc::choose(&candidates, config).map_err(NodeError::Restart)?;
        let chosen = &candidates[i];
        if !sure {
            tracing::warn!(
                pid = chosen.pid,
                its_config = %chosen.config.display(),
                config = %config.display(),
                "no containerd reads the installed config; restarting the only one running"
            );
        }
        Ok(chosen.pid)
    }

    /// No systemd: SIGTERM the running containerd and start it again as
    /// it ran, detached. (containerd does not reload its config on
    /// SIGHUP.)
    fn restart_by_pid(&self, config: &Path) -> Result<String, NodeError> {
        let pid = self.choose_containerd(config)?;
        let restarted = restart_process(pid)?;
        // Not waited for: it outlives this process (reparented to init).
        drop(restarted.child);
        Ok(restarted.message)
    }
}

fn proc_path(pid: i32, rest: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{rest}"))
}

/// Which file a path is, following symlinks.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `pid` is still the process that started at `start_time` and
/// has not exited (a zombie has).
fn running(pid: i32, start_time: u64) -> bool {
    let stat = std::fs::read_to_string(proc_path(pid, "stat")).unwrap_or_default();
    matches!(proc::parse_stat(&stat), Some((state, t)) if t == start_time && !matches!(state, 'Z' | 'X' | 'x'))
}

/// The namespaces a restarted containerd joins when they are not ours,
/// in `setns` order: the mount namespace last, as it changes what paths
/// mean. Not the PID namespace: with `hostPID` it is already the host's,
/// and entering one applies only to children (nsenter forks for it and
/// would stay behind as containerd's parent, in the installer's cgroup).
const NAMESPACES: [(&str, libc::c_int); 5] = [
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("mnt", libc::CLONE_NEWNS),
];

/// Resource limits, by number: 0 to 15 are the same set on every Linux.
const RLIMITS: libc::c_int = 16;

/// The kernel's `struct rlimit64`, for `prlimit64`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Rlimit64 {
    cur: u64,
    max: u64,
}

/// A containerd as it runs, read before it is stopped: what starting it
/// again in the same place takes. The files are held open so its working
/// directory and namespaces outlive it.
struct Snapshot {
    pid: i32,
    start_time: u64,
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: File,
    cwd_shown: PathBuf,
    /// Its namespaces that are not ours.
    namespaces: Vec<(&'static str, libc::c_int, File)>,
    /// Its cgroups as its cgroup namespace names them, each with the
    /// `cgroup.procs` file (in its mount namespace) that joins it.
    cgroups: Vec<(CgroupEntry, Option<CString>)>,
    rlimits: Vec<(libc::c_int, Rlimit64)>,
    oom_score_adj: Option<Vec<u8>>,
    umask: Option<libc::mode_t>,
    /// Its `/proc/PID/status`: umask, user, capabilities, seccomp.
    status: String,
    /// Its stdout and stderr reopened for appending, when they are files.
    stdout: Option<File>,
    stderr: Option<File>,
}

/// What [`restart_process`] started.
struct Restarted {
    child: Child,
    message: String,
}

fn restart_error(pid: i32, what: &str) -> impl FnOnce(io::Error) -> NodeError {
    let what = format!("containerd (pid {pid}): {what}");
    move |e| NodeError::Restart(format!("{what}: {e}"))
}

/// Reads `paths` from inside the cgroup namespace `ns` (ours when
/// `None`): `/proc/PID/cgroup` and the cgroup mounts in mountinfo are
/// shown relative to the reader's cgroup namespace. A thread of its own
/// joins it, and ends after reading (a cgroup namespace is per thread).
#[allow(unsafe_code)]
fn read_in_cgroupns(ns: Option<&File>, paths: &[PathBuf]) -> io::Result<Vec<String>> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(ns) = ns {
                // SAFETY: setns takes a file descriptor and a flag and
                // changes only this thread's cgroup namespace.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWCGROUP) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            paths.iter().map(std::fs::read_to_string).collect()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the reading thread panicked")))
    })
}

/// Whether this process holds the capabilities (by number) in `caps`.
fn has_capabilities(caps: &[u32]) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = proc::status_field(&status, "CapEff")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .unwrap_or(0);
    caps.iter().all(|c| effective & (1 << c) != 0)
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

impl Snapshot {
    #[allow(unsafe_code)]
    fn take(pid: i32) -> Result<Self, NodeError> {
        let stat = std::fs::read_to_string(proc_path(pid, "stat"))
            .map_err(restart_error(pid, "read its stat"))?;
        let (_, start_time) = proc::parse_stat(&stat).ok_or_else(|| {
            NodeError::Restart(format!("containerd (pid {pid}): unreadable stat {stat:?}"))
        })?;
        let cmdline = proc_path(pid, "cmdline");
        let argv = proc::split_nul(&std::fs::read(&cmdline).map_err(crate::io("read", &cmdline))?);
        if argv.is_empty() {
            return Err(NodeError::Restart(format!(
                "{} is empty: containerd (pid {pid}) is exiting",
                cmdline.display()
            )));
        }
        let environ = proc_path(pid, "environ");
        let env =
            proc::parse_environ(&std::fs::read(&environ).map_err(crate::io("read", &environ))?);
        let cwd_link = proc_path(pid, "cwd");
        let cwd = File::open(&cwd_link).map_err(crate::io("open", &cwd_link))?;
        let cwd_shown = std::fs::read_link(&cwd_link).unwrap_or_default();

        let mut namespaces = Vec::new();
        for (name, flag) in NAMESPACES {
            let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
            let theirs_path = proc_path(pid, &format!("ns/{name}"));
            match (ours, std::fs::metadata(&theirs_path)) {
                // Not in this kernel.
                (Err(_), _) => {}
                (Ok(ours), Ok(theirs))
                    if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) => {}
                (Ok(_), Ok(_)) => {
                    let file = File::open(&theirs_path).map_err(crate::io("open", &theirs_path))?;
                    namespaces.push((name, flag, file));
                }
                (Ok(_), Err(e)) => tracing::warn!(
                    pid,
                    namespace = name,
                    error = %e,
                    "cannot see containerd's namespace; starting it in ours"
                ),
            }
        }
        // CAP_SYS_ADMIN (21) to join namespaces, CAP_SYS_CHROOT (18) for
        // the mount one. Checked before containerd is stopped.
        if !namespaces.is_empty() && !has_capabilities(&[21, 18]) {
            return Err(NodeError::Restart(format!(
                "containerd (pid {pid}) runs in other namespaces ({}) and joining them takes CAP_SYS_ADMIN and CAP_SYS_CHROOT (a privileged pod)",
                namespaces
                    .iter()
                    .map(|n| n.0)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }

        let cgroup_ns = namespaces
            .iter()
            .find(|n| n.1 == libc::CLONE_NEWCGROUP)
            .map(|n| &n.2);
        let paths = [proc_path(pid, "cgroup"), proc_path(pid, "mountinfo")];
        let texts = read_in_cgroupns(cgroup_ns, &paths).or_else(|e| {
            tracing::warn!(pid, error = %e, "cannot read containerd's cgroups from its cgroup namespace; reading them from ours");
            read_in_cgroupns(None, &paths)
        });
        let cgroups = match texts.as_deref() {
            Ok([cgroup, mountinfo]) => {
                let mounts = proc::parse_mountinfo(mountinfo);
                proc::parse_cgroup(cgroup)
                    .into_iter()
                    .map(|entry| {
                        let file = proc::cgroup_procs_file(&entry, &mounts);
                        if file.is_none() && entry.path != "/" {
                            tracing::warn!(
                                pid,
                                hierarchy = %entry.hierarchy(),
                                cgroup = %entry.path,
                                "no mount of containerd's cgroup hierarchy; the restarted one will not join it"
                            );
                        }
                        let file = file.and_then(|f| CString::new(f.into_os_string().into_vec()).ok());
                        (entry, file)
                    })
                    .collect()
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::warn!(pid, error = %e, "cannot read containerd's cgroups; the restarted one stays in ours");
                Vec::new()
            }
        };

        let rlimits = (0..RLIMITS)
            .filter_map(|resource| {
                let mut limit = Rlimit64::default();
                // SAFETY: prlimit64 reads into `limit`, which outlives the
                // call; the new-limit pointer is null.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_prlimit64,
                        pid,
                        resource,
                        std::ptr::null::<Rlimit64>(),
                        &mut limit as *mut Rlimit64,
                    )
                };
                (rc == 0).then_some((resource, limit))
            })
            .collect::<Vec<_>>();
        if rlimits.is_empty() {
            tracing::warn!(
                pid,
                "cannot read containerd's resource limits; the restarted one has ours"
            );
        }
        let oom_score_adj = std::fs::read(proc_path(pid, "oom_score_adj"))
            .ok()
            .map(|v| v.trim_ascii().to_vec());
        let status = std::fs::read_to_string(proc_path(pid, "status"))
            .map_err(restart_error(pid, "read its status"))?;
        let umask = proc::status_field(&status, "Umask")
            .and_then(|v| libc::mode_t::from_str_radix(v, 8).ok());

        Ok(Self {
            pid,
            start_time,
            argv,
            env,
            cwd,
            cwd_shown,
            namespaces,
            cgroups,
            rlimits,
            oom_score_adj,
            umask,
            status,
            stdout: reopen_output(pid, 1),
            stderr: reopen_output(pid, 2),
        })
    }

    fn shown(&self) -> String {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The command that starts containerd again: the same argv and
    /// environment (nothing of ours), in a session of its own, in its
    /// namespaces, working directory, cgroups, resource limits, OOM score
    /// and umask, all set in the child before the exec, so containerd
    /// never runs anywhere else (in particular not in the installer pod's
    /// cgroup, which the kubelet kills with the pod).
    fn command(&self) -> io::Result<Command> {
        self.command_with(self.argv.get(1..).unwrap_or_default())
    }

    /// [`Snapshot::command`] with other arguments: a trial run.
    #[allow(unsafe_code)]
    fn command_with(&self, args: &[OsString]) -> io::Result<Command> {
        let program = self
            .argv
            .first()
            .ok_or_else(|| io::Error::other("empty command line"))?;
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let output = |f: &Option<File>| -> io::Result<Stdio> {
            Ok(match f {
                Some(f) => f.try_clone()?.into(),
                None => Stdio::null(),
            })
        };
        c.stdout(output(&self.stdout)?)
            .stderr(output(&self.stderr)?);

        let namespaces = self
            .namespaces
            .iter()
            .map(|(_, flag, f)| Ok((*flag, f.try_clone()?)))
            .collect::<io::Result<Vec<_>>>()?;
        let cwd = self.cwd.try_clone()?;
        let cgroup_files: Vec<CString> = self.cgroups.iter().filter_map(|c| c.1.clone()).collect();
        let rlimits = self.rlimits.clone();
        let oom_score_adj = self.oom_score_adj.clone();
        let umask = self.umask;

        /// Best effort: writes `bytes` to the file at `path`.
        fn write_file(path: &std::ffi::CStr, bytes: &[u8]) {
            // SAFETY: raw syscalls on a NUL-terminated path and a live
            // buffer; the descriptor is closed here.
            unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd >= 0 {
                    libc::write(fd, bytes.as_ptr().cast(), bytes.len());
                    libc::close(fd);
                }
            }
        }
        // SAFETY: the closure runs in the forked child before exec; it
        // only makes system calls on data prepared above (no allocation,
        // no locks), as a child of a multi-threaded parent must.
        unsafe {
            c.pre_exec(move || {
                // Nothing of ours but stdio reaches containerd, whatever a
                // caller left open without CLOEXEC (an error is harmless:
                // std's own descriptors are CLOEXEC already).
                libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if let Some(score) = &oom_score_adj {
                    write_file(c"/proc/self/oom_score_adj", score);
                }
                for (resource, limit) in &rlimits {
                    libc::syscall(
                        libc::SYS_prlimit64,
                        0,
                        *resource,
                        limit as *const Rlimit64,
                        std::ptr::null_mut::<Rlimit64>(),
                    );
                }
                if let Some(mask) = umask {
                    libc::umask(mask);
                }
                for (flag, file) in &namespaces {
                    if libc::setns(file.as_raw_fd(), *flag) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if libc::fchdir(cwd.as_raw_fd()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // "0" moves the writer: this child, soon containerd.
                for file in &cgroup_files {
                    write_file(file, b"0");
                }
                Ok(())
            });
        }
        Ok(c)
    }

    /// Warns about each cgroup the restarted process (`pid`) did not join.
    fn check_cgroups(&self, pid: u32) {
        let tried: Vec<&CgroupEntry> = self
            .cgroups
            .iter()
            .filter(|c| c.1.is_some())
            .map(|c| &c.0)
            .collect();
        if tried.is_empty() {
            return;
        }
        let cgroup_ns = self
            .namespaces
            .iter()
            .find(|n| n.1 == libc::CLONE_NEWCGROUP)
            .map(|n| &n.2);
        let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let now = match read_in_cgroupns(cgroup_ns, std::slice::from_ref(&path)) {
            Ok(texts) => proc::parse_cgroup(texts.concat().as_str()),
            Err(e) => {
                tracing::warn!(pid, error = %e, "cannot read the restarted containerd's cgroups");
                return;
            }
        };
        for want in tried {
            let got = now.iter().find(|c| c.controllers == want.controllers);
            if got.map(|c| &c.path) != Some(&want.path) {
                tracing::warn!(
                    pid,
                    hierarchy = %want.hierarchy(),
                    want = %want.path,
                    got = %got.map(|c| c.path.as_str()).unwrap_or("none"),
                    "the restarted containerd did not join its old cgroup"
                );
            }
        }
    }
}

/// Sends `signal` to `pid`.
#[allow(unsafe_code)]
fn kill(pid: i32, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Stops containerd `pid` (SIGTERM, then up to 30 s for it to exit) and
/// starts it again as it ran: everything about it is read first.
fn restart_process(pid: i32) -> Result<Restarted, NodeError> {
    let snapshot = Snapshot::take(pid)?;
    let mut command = snapshot
        .command()
        .map_err(restart_error(pid, "prepare the restart"))?;
    let shown = snapshot.shown();
    tracing::info!(
        pid,
        command = %shown,
        cwd = %snapshot.cwd_shown.display(),
        namespaces = %snapshot.namespaces.iter().map(|n| n.0).collect::<Vec<_>>().join(","),
        cgroups = snapshot.cgroups.len(),
        "stopping containerd to start it again"
    );
    if !running(pid, snapshot.start_time) {
        return Err(NodeError::Restart(format!(
            "containerd (pid {pid}) exited before it was stopped"
        )));
    }
    // A containerd whose program cannot be found again (removed, or not
    // executable) is left running rather than stopped for good.
    let program = snapshot.argv.first().cloned().unwrap_or_default();
    if proc::find_program(
        &proc_path(pid, "root"),
        &proc_path(pid, "cwd"),
        &program,
        &snapshot.env,
    )
    .is_none()
    {
        return Err(NodeError::Restart(format!(
            "containerd (pid {pid}) runs `{}`, which cannot be found to start it again; it was left running: restart it yourself",
            program.to_string_lossy()
        )));
    }
    // Nor one that would come back weaker: it inherits our user,
    // capabilities, seccomp filter and no_new_privs.
    let ours = std::fs::read_to_string("/proc/self/status")
        .map_err(restart_error(pid, "read this process's status"))?;
    if let Some(why) = proc::weaker_credentials(&ours, &snapshot.status) {
        return Err(NodeError::Restart(format!(
            "containerd (pid {pid}) would be started again with less than it has: {why}; it was left running: restart it yourself, or run this with containerd's privileges"
        )));
    }
    // Nor is one whose program no longer runs (a broken binary, a missing
    // library, a namespace that cannot be entered): `PROGRAM --version`,
    // set up exactly as the restart will be, must exit 0 first.
    if let Err(e) = trial_run(&snapshot) {
        return Err(NodeError::Restart(format!(
            "containerd (pid {pid}): a trial run of `{} --version`, set up as the restart would be, failed ({e}); it was left running: restart it yourself",
            program.to_string_lossy()
        )));
    }
    kill(pid, libc::SIGTERM).map_err(restart_error(pid, "SIGTERM"))?;
    // Past SIGTERM the node must end with a containerd: one that does not
    // exit in 30 s gets SIGKILL, and the new one is started regardless.
    let deadline = Instant::now() + Duration::from_secs(30);
    while running(pid, snapshot.start_time) {
        if Instant::now() > deadline {
            tracing::warn!(
                pid,
                "containerd did not exit within 30 s of SIGTERM; SIGKILL"
            );
            let _ = kill(pid, libc::SIGKILL);
            let killed = Instant::now() + Duration::from_secs(10);
            while running(pid, snapshot.start_time) && Instant::now() < killed {
                std::thread::sleep(Duration::from_millis(100));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let child = command.spawn().map_err(|e| {
        NodeError::Restart(format!(
            "containerd (pid {pid}) stopped, but starting `{shown}` again failed: {e}"
        ))
    })?;
    snapshot.check_cgroups(child.id());
    tracing::info!(old = pid, new = child.id(), "containerd started again");
    Ok(Restarted {
        message: format!(
            "SIGTERM to pid {}, then started `{shown}` (pid {})",
            snapshot.pid,
            child.id()
        ),
        child,
    })
}

/// Runs `PROGRAM --version` as the restart would run containerd, and
/// waits up to 10 s for it to exit 0.
fn trial_run(snapshot: &Snapshot) -> io::Result<()> {
    let mut command = snapshot.command_with(&[OsString::from("--version")])?;
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = command.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("it ended with {status}")))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("it did not exit within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
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
                return Err(NodeError::Restart(format!(
                    "without systemd, {flavor:?}'s containerd is restarted through its own service ({}), not by pid; restart it, then run `wasmpod node status`",
                    services.join(" or ")
                )));
            }
            return self.restart_by_pid(config);
        }
        let active = services.iter().find(|s| {
            let mut c = Self::command("systemctl");
            c.args(["is-active", "--quiet", s]);
            Self::run(c).is_ok()
        });
        // Starting a unit that was not running (k3s server on an agent, a
        // second containerd beside a hand-started one) is worse than failing.
        let service = active.copied().ok_or_else(|| {
            NodeError::Restart(format!(
                "none of the systemd units {} is active; restart containerd yourself",
                services.join(", ")
            ))
        })?;
        let mut c = Self::command("systemctl");
        c.args(["restart", service]);
        Self::run(c).map_err(NodeError::Restart)?;
        Ok(format!("systemctl restart {service}"))
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

    /// What a test started: killed and reaped, and its cgroup removed,
    /// however the test ends.
    #[derive(Default)]
    struct Cleanup {
        children: Vec<Child>,
        cgroup: Option<PathBuf>,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            for child in &mut self.children {
                let _ = child.kill();
                let _ = child.wait();
            }
            if let Some(dir) = &self.cgroup {
                for _ in 0..100 {
                    if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// A stand-in containerd: perl under the name `containerd` (so its
    /// comm is `containerd`), which leaves the arguments after its `-e`
    /// program alone. `sh` first gives it limits, a umask and an OOM score
    /// the restart must carry over, then execs it.
    fn dummy(dir: &Path, cwd: &Path, args: &[&str], marker: &str, log: Stdio) -> Child {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"ulimit -n 777; umask 027; echo 123 > /proc/self/oom_score_adj; exec "$0" "$@""#)
            .arg(dir.join("containerd"))
            // perl stops reading its own switches at the first other
            // word; what follows is the dummy's containerd flags.
            .args(["-e", "sleep 1000", "flags:"])
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("WASMPOD_TEST_MARKER", marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a dummy containerd")
    }

    /// A stand-in containerd (perl as `DIR/containerd`, config
    /// `/x.toml`) that is past its start-up and asleep, so its program may
    /// be changed under it (before that, perl may still look itself up).
    /// Returns its cleanup, pid and start time.
    fn sleeping_dummy(dir: &Path, marker: &str) -> (Cleanup, i32, u64) {
        std::os::unix::fs::symlink("/usr/bin/perl", dir.join("containerd")).expect("symlink");
        let mut cleanup = Cleanup::default();
        let child = dummy(dir, dir, &["--config", "/x.toml"], marker, Stdio::null());
        let pid = child.id() as i32;
        cleanup.children.push(child);
        wait_for_exec(pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(proc_path(pid, "wchan"))
            .unwrap_or_default()
            .contains("nanosleep")
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let start_time = proc::parse_stat(&read(pid, "stat")).expect("stat").1;
        (cleanup, pid, start_time)
    }

    fn wait_for_exec(pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(proc_path(pid, "comm")).unwrap_or_default() != "containerd\n"
        {
            assert!(
                Instant::now() < deadline,
                "pid {pid} never became containerd"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fresh cgroup in a hierarchy without controllers (v2, else the
    /// named systemd one), as `/proc/PID/cgroup` would list it.
    fn test_cgroup(name: &str) -> Option<(PathBuf, CgroupEntry)> {
        let mounts = proc::parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").ok()?);
        let mount = mounts.iter().find(|m| m.root == "/" && m.v2).or_else(|| {
            mounts
                .iter()
                .find(|m| m.root == "/" && m.options.iter().any(|o| o == "name=systemd"))
        })?;
        let dir = mount.mount_point.join(name);
        std::fs::create_dir(&dir).ok()?;
        let controllers = if mount.v2 {
            vec![]
        } else {
            vec!["name=systemd".to_string()]
        };
        let entry = CgroupEntry {
            controllers,
            path: format!("/{name}"),
        };
        Some((dir, entry))
    }

    fn environ(pid: i32) -> Vec<(OsString, OsString)> {
        let mut env =
            proc::parse_environ(&std::fs::read(proc_path(pid, "environ")).expect("environ"));
        env.sort();
        env
    }

    fn read(pid: i32, what: &str) -> String {
        std::fs::read_to_string(proc_path(pid, what)).expect(what)
    }

    /// A containerd whose program is gone (an upgrade removed it, say) is
    /// not stopped: nothing could start it again.
    #[test]
    fn a_containerd_that_cannot_be_started_again_is_left_running() {
        assert!(
            Path::new("/usr/bin/perl").is_file(),
            "needs /usr/bin/perl (Debian's perl-base) as the stand-in containerd"
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        let (_cleanup, pid, start_time) = sleeping_dummy(dir, "gone");
        std::fs::remove_file(dir.join("containerd")).expect("remove the program");

        let err = match restart_process(pid) {
            Ok(r) => panic!("restarted: {}", r.message),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&format!("containerd (pid {pid}) runs `"))
                && err.contains("which cannot be found to start it again; it was left running"),
            "{err}"
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(running(pid, start_time), "the containerd was stopped");
    }

    /// A containerd whose program is still there but no longer runs is not
    /// stopped either: the trial run finds it out first.
    #[test]
    fn a_containerd_whose_program_no_longer_runs_is_left_running() {
        use std::os::unix::fs::PermissionsExt as _;
        assert!(
            Path::new("/usr/bin/perl").is_file(),
            "needs /usr/bin/perl (Debian's perl-base) as the stand-in containerd"
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        let (_cleanup, pid, start_time) = sleeping_dummy(dir, "broken");

        // An executable that fails, then one the kernel cannot run (which
        // execvp hands to the shell, as containerd's own start would).
        for (content, why) in [
            (&b"#!/bin/sh\nexit 3\n"[..], "exit status: 3"),
            (&b"\x7fELF not really"[..], "exit status: 127"),
        ] {
            let program = dir.join("containerd");
            let _ = std::fs::remove_file(&program);
            std::fs::write(&program, content).expect("write the program");
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            let err = match restart_process(pid) {
                Ok(r) => panic!("restarted: {}", r.message),
                Err(e) => e.to_string(),
            };
            assert!(
                err.contains(&format!("containerd (pid {pid}): a trial run of `"))
                    && err.contains(" --version`, set up as the restart would be, failed (")
                    && err.contains(why)
                    && err.contains("it was left running"),
                "{err}"
            );
            std::thread::sleep(Duration::from_millis(200));
            assert!(running(pid, start_time), "the containerd was stopped");
        }
    }

    /// Runs as root: starts two stand-in containerds and restarts the one
    /// reading the config. Nothing else is ever signalled: the choice is
    /// checked before the restart.
    #[test]
    fn the_containerd_reading_the_config_is_restarted_as_it_ran() {
        assert!(
            has_capabilities(&[21]) && Path::new("/usr/bin/perl").is_file(),
            "needs root (CAP_SYS_ADMIN) and /usr/bin/perl (Debian's perl-base)"
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        std::os::unix::fs::symlink("/usr/bin/perl", dir.join("containerd")).expect("symlink");
        let cwd = dir.join("cwd");
        std::fs::create_dir(&cwd).expect("mkdir");
        std::fs::write(cwd.join("config.toml"), "version = 2\n").expect("write");
        let other_config = dir.join("other.toml");
        std::fs::write(&other_config, "version = 2\n").expect("write");
        let log = dir.join("containerd.log");
        let log_file = File::create(&log).expect("log");

        let mut cleanup = Cleanup::default();
        let cgroup = test_cgroup(&format!("wasmpod-test-{}", std::process::id()));
        cleanup.cgroup = cgroup.as_ref().map(|c| c.0.clone());
        // The config relative to the cwd; the other one absolute.
        let target = dummy(
            dir,
            &cwd,
            &["--config", "config.toml"],
            "target",
            log_file.into(),
        );
        let target_pid = target.id() as i32;
        cleanup.children.push(target);
        let other_flag = format!("--config={}", other_config.display());
        let other = dummy(dir, dir, &[&other_flag], "other", Stdio::null());
        let other_pid = other.id() as i32;
        cleanup.children.push(other);
        wait_for_exec(target_pid);
        wait_for_exec(other_pid);
        let cgroup = cgroup.filter(|(dir, _)| {
            std::fs::write(dir.join("cgroup.procs"), target_pid.to_string()).is_ok()
        });
        if cgroup.is_none() {
            eprintln!("no test cgroup: cgroup membership is not checked");
        }

        // The host root is the temp dir: the dummy's config is the
        // installed one as the same file, not by its path.
        let host = SystemHost::new(dir);
        let chosen = host
            .choose_containerd(Path::new("/cwd/config.toml"))
            .expect("a containerd reads it");
        assert_eq!(chosen, target_pid);
        let other_start = proc::parse_stat(&read(other_pid, "stat")).expect("stat").1;
        let old_env = environ(target_pid);
        let old_cmdline = read(target_pid, "cmdline");

        let restarted = restart_process(target_pid).expect("restart");
        let new = restarted.child.id() as i32;
        cleanup.children.push(restarted.child);
        assert!(
            restarted
                .message
                .starts_with(&format!("SIGTERM to pid {target_pid}, then started `")),
            "{}",
            restarted.message
        );

        assert_ne!(new, target_pid);
        assert_eq!(read(new, "comm"), "containerd\n");
        assert_eq!(read(new, "cmdline"), old_cmdline);
        assert_eq!(environ(new), old_env);
        assert!(
            old_env.contains(&("WASMPOD_TEST_MARKER".into(), "target".into())),
            "{old_env:?}"
        );
        assert_eq!(
            std::fs::read_link(proc_path(new, "cwd")).expect("cwd"),
            cwd.canonicalize().expect("canonical")
        );
        assert_eq!(
            std::fs::read_link(proc_path(new, "fd/2")).expect("stderr"),
            log.canonicalize().expect("canonical")
        );
        // A session of its own: field 6 of stat is the session id.
        let stat = read(new, "stat");
        let session = stat[stat.rfind(')').expect("stat") + 1..]
            .split_whitespace()
            .nth(3)
            .expect("session");
        assert_eq!(session, new.to_string());
        let limits = read(new, "limits");
        let files = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("limits");
        let fields: Vec<&str> = files.split_whitespace().collect();
        assert_eq!(fields.get(3..5), Some(&["777", "777"][..]), "{files}");
        assert_eq!(read(new, "oom_score_adj").trim(), "123");
        assert_eq!(
            proc::status_field(&read(new, "status"), "Umask"),
            Some("0027")
        );
        if let Some((_, entry)) = &cgroup {
            assert!(
                proc::parse_cgroup(&read(new, "cgroup")).contains(entry),
                "not in {entry:?}: {}",
                read(new, "cgroup")
            );
        }
        assert!(running(other_pid, other_start), "the other one was touched");
    }
}
