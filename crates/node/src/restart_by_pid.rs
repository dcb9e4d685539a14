//! Restarting containerd by pid, on a node without systemd: find the
//! containerd that reads the installed config, read it out of `/proc`
//! ([`ProcessSnapshot`]), decide ([`restart_plan`]), try the program
//! once as the restart would run it, then SIGTERM it and start it again
//! as it ran, detached. (containerd does not reload its config on
//! SIGHUP.)

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, Signal};

use crate::NodeError;
use crate::proc::{self, Candidate, CgroupEntry};
use crate::process_snapshot::{Held, ProcessSnapshot, proc_path, read_in_cgroupns, restart_error};
use crate::restart_plan::{self, RestartPlan};

/// Restarts the containerd that reads `config` (a host path; `root` is
/// the host's root as seen from here); returns how, for the report.
pub(crate) fn restart(root: &Path, config: &Path) -> Result<String, NodeError> {
    let pid = choose_containerd(root, config)?;
    let restarted = restart_process(pid)?;
    // Not waited for: it outlives this process (reparented to init).
    drop(restarted.child);
    Ok(restarted.message)
}

/// `host` (a host path) as seen from here, under `root`.
fn under_root(root: &Path, host: &Path) -> std::path::PathBuf {
    root.join(host.strip_prefix("/").unwrap_or(host))
}

/// Which file a path is, following symlinks.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Every running containerd (a process whose comm is `containerd`),
/// with the config it reads and whether that is `config` (a host
/// path): the same file when both can be looked at (through
/// `/proc/PID/root`, so a containerd in another mount namespace, a
/// test one in a container, does not match by name alone), else the
/// same path.
fn containerds(root: &Path, config: &Path) -> Result<Vec<Candidate>, NodeError> {
    let target = proc::normalize(config);
    let target_id = file_id(&under_root(root, &target));
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
        let argv = proc::split_nul(&std::fs::read(proc_path(pid, "cmdline")).unwrap_or_default());
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
fn choose_containerd(root: &Path, config: &Path) -> Result<i32, NodeError> {
    let candidates = containerds(root, config)?;
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

/// Whether `pid` is still the process that started at `start_time` and
/// has not exited (a zombie has).
fn running(pid: i32, start_time: u64) -> bool {
    let stat = std::fs::read_to_string(proc_path(pid, "stat")).unwrap_or_default();
    matches!(proc::parse_stat(&stat), Some((state, t)) if t == start_time && !matches!(state, 'Z' | 'X' | 'x'))
}

/// What [`restart_process`] started.
struct Restarted {
    child: Child,
    message: String,
}

/// A decided restart with the files it needs.
struct Restart {
    plan: RestartPlan,
    held: Held,
}

impl Restart {
    /// The command that starts containerd again: the same argv and
    /// environment (nothing of ours), in a session of its own, in its
    /// namespaces, working directory, cgroups, resource limits, OOM score
    /// and umask, all set in the child before the exec, so containerd
    /// never runs anywhere else (in particular not in the installer pod's
    /// cgroup, which the kubelet kills with the pod).
    fn command(&self) -> io::Result<Command> {
        self.command_with(self.plan.argv.get(1..).unwrap_or_default())
    }

    /// [`Restart::command`] with other arguments: a trial run.
    fn command_with(&self, args: &[OsString]) -> io::Result<Command> {
        let program = self
            .plan
            .argv
            .first()
            .ok_or_else(|| io::Error::other("empty command line"))?;
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .envs(self.plan.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let output = |f: &Option<File>| -> io::Result<Stdio> {
            Ok(match f {
                Some(f) => f.try_clone()?.into(),
                None => Stdio::null(),
            })
        };
        c.stdout(output(&self.held.stdout)?)
            .stderr(output(&self.held.stderr)?);

        let namespaces = self
            .held
            .namespaces
            .iter()
            .map(|(ns, f)| Ok((ns.link_type(), OwnedFd::from(f.try_clone()?))))
            .collect::<io::Result<Vec<_>>>()?;
        let cwd = OwnedFd::from(self.held.cwd.try_clone()?);
        let cgroup_files: Vec<CString> = self
            .plan
            .cgroups
            .iter()
            .filter_map(|c| c.1.clone())
            .filter_map(|f| CString::new(f.into_os_string().into_vec()).ok())
            .collect();
        let rlimits = self.plan.rlimits.clone();
        let oom_score_adj = self.plan.oom_score_adj.clone();
        let umask = self.plan.umask.map(Mode::from_raw_mode);

        /// Best effort: writes `bytes` to the file at `path`.
        fn write_file(path: &std::ffi::CStr, bytes: &[u8]) {
            if let Ok(fd) = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            {
                let _ = rustix::io::write(&fd, bytes);
            }
        }
        // SAFETY: the closure runs in the forked child before exec; it
        // only makes system calls on data prepared above (rustix makes
        // them directly: no allocation, no locks), as a child of a
        // multi-threaded parent must.
        #[allow(unsafe_code)]
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
                rustix::process::setsid()?;
                if let Some(score) = &oom_score_adj {
                    write_file(c"/proc/self/oom_score_adj", score);
                }
                for (resource, limit) in &rlimits {
                    let _ = rustix::process::setrlimit(*resource, *limit);
                }
                if let Some(mask) = umask {
                    rustix::process::umask(mask);
                }
                for (link_type, file) in &namespaces {
                    rustix::thread::move_into_link_name_space(file.as_fd(), Some(*link_type))?;
                }
                rustix::process::fchdir(&cwd)?;
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
            .plan
            .cgroups
            .iter()
            .filter(|c| c.1.is_some())
            .map(|c| &c.0)
            .collect();
        if tried.is_empty() {
            return;
        }
        let path = proc_path(pid as i32, "cgroup");
        let now = match read_in_cgroupns(self.held.cgroup_namespace(), std::slice::from_ref(&path))
        {
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
fn kill(pid: i32, signal: Signal) -> io::Result<()> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("pid 0"))?;
    Ok(rustix::process::kill_process(pid, signal)?)
}

/// Stops containerd `pid` (SIGTERM, then up to 30 s for it to exit) and
/// starts it again as it ran: everything about it is read first.
fn restart_process(pid: i32) -> Result<Restarted, NodeError> {
    let (snapshot, held) = ProcessSnapshot::read(pid)?;
    let plan = restart_plan::plan(&snapshot).map_err(restart_plan::Refusal::into_error)?;
    let restart = Restart { plan, held };
    let mut command = restart
        .command()
        .map_err(restart_error(pid, "prepare the restart"))?;
    let shown = snapshot.shown();
    let start_time = restart.plan.start_time;
    tracing::info!(
        pid,
        command = %shown,
        cwd = %snapshot.cwd.display(),
        namespaces = %restart.plan.join.iter().map(|n| n.name()).collect::<Vec<_>>().join(","),
        cgroups = restart.plan.cgroups.len(),
        "stopping containerd to start it again"
    );
    if !running(pid, start_time) {
        return Err(NodeError::ExitedBeforeStop { pid });
    }
    // Nor is one whose program no longer runs (a broken binary, a missing
    // library, a namespace that cannot be entered): `PROGRAM --version`,
    // set up exactly as the restart will be, must exit 0 first.
    if let Err(source) = trial_run(&restart) {
        return Err(NodeError::TrialRunFailed {
            pid,
            program: restart.plan.argv[0].to_string_lossy().into_owned(),
            source,
        });
    }
    kill(pid, Signal::TERM).map_err(restart_error(pid, "SIGTERM"))?;
    // Past SIGTERM the node must end with a containerd: one that does not
    // exit in 30 s gets SIGKILL, and the new one is started regardless.
    let deadline = Instant::now() + Duration::from_secs(30);
    while running(pid, start_time) {
        if Instant::now() > deadline {
            tracing::warn!(
                pid,
                "containerd did not exit within 30 s of SIGTERM; SIGKILL"
            );
            let _ = kill(pid, Signal::KILL);
            let killed = Instant::now() + Duration::from_secs(10);
            while running(pid, start_time) && Instant::now() < killed {
                std::thread::sleep(Duration::from_millis(100));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let child = command.spawn().map_err(|source| NodeError::StartAgain {
        pid,
        program: shown.clone(),
        source,
    })?;
    restart.check_cgroups(child.id());
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
fn trial_run(restart: &Restart) -> io::Result<()> {
    let mut command = restart.command_with(&[OsString::from("--version")])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restart_plan::Refusal;
    use std::path::PathBuf;

    #[cfg(feature = "daemon")]
    fn has_capabilities(caps: &[u32]) -> bool {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        proc::has_capabilities(&status, caps)
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
        assert!(
            Path::new("/usr/bin/perl").is_file(),
            "needs /usr/bin/perl (Debian's perl-base) as the stand-in containerd"
        );
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
    #[cfg(feature = "daemon")]
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

    #[cfg(feature = "daemon")]
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
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        let (_cleanup, pid, start_time) = sleeping_dummy(dir, "gone");
        std::fs::remove_file(dir.join("containerd")).expect("remove the program");

        match refused_and_left_running(pid, start_time) {
            NodeError::RestartRefused(r @ Refusal::ProgramNotFound { pid: p, .. }) => {
                assert_eq!(p, pid);
                assert!(
                    r.to_string()
                        .contains("which cannot be found to start it again; it was left running"),
                    "{r}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// The error of a restart of `pid` that must be refused, after
    /// checking that the process still runs.
    fn refused_and_left_running(pid: i32, start_time: u64) -> NodeError {
        let err = match restart_process(pid) {
            Ok(r) => panic!("restarted: {}", r.message),
            Err(e) => e,
        };
        std::thread::sleep(Duration::from_millis(200));
        assert!(running(pid, start_time), "the containerd was stopped");
        err
    }

    /// A containerd whose program is still there but no longer runs is not
    /// stopped either: the trial run finds it out first.
    #[test]
    fn a_containerd_whose_program_no_longer_runs_is_left_running() {
        use std::os::unix::fs::PermissionsExt as _;
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
            match refused_and_left_running(pid, start_time) {
                NodeError::TrialRunFailed {
                    pid: p, ref source, ..
                } => {
                    assert_eq!(p, pid);
                    assert!(source.to_string().contains(why), "{source}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// Runs as root: starts two stand-in containerds and restarts the one
    /// reading the config. Nothing else is ever signalled: the choice is
    /// checked before the restart. The daemon tier (root).
    #[cfg(feature = "daemon")]
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
        let chosen =
            choose_containerd(dir, Path::new("/cwd/config.toml")).expect("a containerd reads it");
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
