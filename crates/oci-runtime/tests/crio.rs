//! wasmpod-oci called the way CRI-O and conmon call a runtime
//! (docs/oci-callers.md, from their sources: CRI-O is not packaged for
//! Debian 12). CRI-O asks `--version` and `features` at start-up; conmon
//! runs `--root=ROOT create --bundle B --pid-file P [--console-socket S]
//! ID`, receives the terminal on the console socket, and as a child
//! subreaper reaps the container's process for its exit code; CRI-O runs
//! `--root ROOT start|state|kill|exec|update|delete` itself.
//!
//! Here the test process plays conmon and CRI-O: it is a child subreaper
//! and `waitpid`s the pid from the pid file. Each container has a bundle
//! of its own (config.json and a rootfs holding the probe), a cgroup under
//! a parent unique to the test, and a network namespace entry without a
//! path (a new namespace).
//!
//! Daemon tier (`--features daemon`): root, for cgroups and network
//! namespaces.

use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use rustix::process::{Pid, WaitOptions, WaitStatus};
use wasmpod_test_guests as guests;
use wasmpod_testkit::{Deadline, KillOnDrop, lines_of, output_within, wait_for};

/// How long a command, or a state a test waits for, may take.
const LIMIT: Duration = Duration::from_secs(60);
/// The memory limit in the bundle's spec, and the one `update` sets.
const SPEC_MEMORY: u64 = 128 << 20;
const UPDATED_MEMORY: u64 = 256 << 20;

static CONTAINERS: AtomicU32 = AtomicU32::new(0);

fn runtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasmpod-oci"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Makes this process the reaper of the orphans below it, as conmon is:
/// the container's process, once `create` has exited, is its child.
fn become_subreaper() {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .expect("prctl(PR_SET_CHILD_SUBREAPER)");
}

/// Reaps `pid`, waiting at most [`LIMIT`] for it to end.
#[track_caller]
fn reap(pid: u32) -> WaitStatus {
    let target = Pid::from_raw(pid as i32).expect("a pid");
    wait_for(LIMIT, &format!("process {pid} to end"), || {
        rustix::process::waitpid(Some(target), WaitOptions::NOHANG)
            .unwrap_or_else(|e| panic!("waitpid {pid}: {e} (not our child?)"))
            .map(|(_, status)| status)
    })
}

/// How the container's cgroup is named: CRI-O's two cgroup managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cgroups {
    /// `cgroupfs`: `linux.cgroupsPath` is a path.
    Fs,
    /// `systemd`: `SLICE:PREFIX:NAME`, and `--systemd-cgroup` on every
    /// call; the runtime makes `SLICE/PREFIX-NAME.scope` itself.
    Systemd,
}

/// A bundle in a temp folder, its runtime state root, and the container's
/// cgroup; on drop, `delete --force`, the processes reaped and the cgroup's
/// parent removed.
struct Container {
    id: String,
    dir: tempfile::TempDir,
    cgroups: Cgroups,
    /// The container's cgroup and its parent, relative to a hierarchy's
    /// root.
    cgroup: PathBuf,
    cgroup_parent: PathBuf,
    /// Processes this test must reap if it did not.
    pids: Vec<u32>,
}

impl Container {
    /// A bundle whose process runs `args` (the probe is `/probe.wasm`),
    /// with cgroupfs cgroups.
    fn new(args: &[&str], terminal: bool) -> Self {
        Self::with(args, terminal, Cgroups::Fs)
    }

    fn with(args: &[&str], terminal: bool, cgroups: Cgroups) -> Self {
        become_subreaper();
        let n = CONTAINERS.fetch_add(1, Ordering::Relaxed);
        let id = format!("crio-{}-{n}", std::process::id());
        let (cgroups_path, cgroup_parent, cgroup) = match cgroups {
            Cgroups::Fs => {
                let parent = format!("wasmpod-oci-test-{}-{n}", std::process::id());
                (
                    format!("/{parent}/crio-{id}"),
                    PathBuf::from(&parent),
                    Path::new(&parent).join(format!("crio-{id}")),
                )
            }
            Cgroups::Systemd => {
                // A slice name with no `-`: one level under the root.
                let slice = format!("wasmpodocitest{}x{n}.slice", std::process::id());
                (
                    format!("{slice}:crio:{id}"),
                    PathBuf::from(&slice),
                    Path::new(&slice).join(format!("crio-{id}.scope")),
                )
            }
        };
        // Socket paths must fit in 108 bytes: keep the folder short.
        let dir = tempfile::Builder::new()
            .prefix("crio")
            .tempdir_in("/tmp")
            .expect("tmp");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).expect("rootfs");
        std::fs::copy(guests::PROBE, rootfs.join("probe.wasm")).expect("copy the probe");
        // What CRI-O writes, less what guards native processes only.
        let config = serde_json::json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "terminal": terminal,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FROM_SPEC=1"],
                "cwd": "/",
            },
            "root": {"path": rootfs, "readonly": false},
            "hostname": "crio",
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "annotations": {"io.kubernetes.cri-o.ContainerType": "container"},
            "linux": {
                "cgroupsPath": cgroups_path,
                "resources": {"memory": {"limit": SPEC_MEMORY}},
                "namespaces": [
                    {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                    {"type": "uts"}, {"type": "mount"}
                ],
            },
        });
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .expect("write config.json");
        Self {
            id,
            dir,
            cgroups,
            cgroup,
            cgroup_parent,
            pids: Vec::new(),
        }
    }

    /// The runtime with the global flags CRI-O's cgroup manager adds.
    fn runtime(&self) -> Command {
        let mut c = runtime();
        if self.cgroups == Cgroups::Systemd {
            c.arg("--systemd-cgroup");
        }
        c
    }

    fn bundle(&self) -> &Path {
        self.dir.path()
    }

    /// The runtime's state root, as CRI-O's `runtime_root`.
    fn root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("pidfile")
    }

    /// The create conmon runs: `--root=ROOT` as one argument, in the
    /// bundle.
    fn create_command(&self, console_socket: Option<&Path>) -> Command {
        let mut c = self.runtime();
        c.arg(format!("--root={}", self.root().display()))
            .args(["create", "--bundle"])
            .arg(self.bundle())
            .arg("--pid-file")
            .arg(self.pid_file())
            .arg("--no-pivot");
        if let Some(socket) = console_socket {
            c.arg("--console-socket").arg(socket);
        }
        c.arg(&self.id).current_dir(self.bundle());
        c
    }

    /// [`Self::create_command`], with the caller's `stdout` and `stderr`
    /// for the container: returns the pid from the pid file once create
    /// has succeeded.
    #[track_caller]
    fn create(&mut self, console_socket: Option<&Path>, stdio: Option<OwnedFd>) -> u32 {
        let mut c = self.create_command(console_socket);
        let (stdout, stderr) = match stdio {
            Some(fd) => (Stdio::from(fd.try_clone().expect("dup")), Stdio::from(fd)),
            None => (Stdio::null(), Stdio::piped()),
        };
        c.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let mut create = KillOnDrop::spawn(&mut c);
        // The spawned process has its own copies of the pipe's write end.
        drop(c);
        let status = create.wait_within(LIMIT).expect("create to end");
        let mut err = String::new();
        if let Some(mut e) = create.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "create: {status}: {err}");
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .expect("the pid file, written before create returns")
            .trim()
            .parse()
            .expect("a pid in the pid file");
        self.pids.push(pid);
        pid
    }

    /// `RUNTIME --root ROOT ARGS...`, as CRI-O runs it.
    fn call(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.runtime();
        c.arg("--root").arg(self.root()).args(args);
        output_within(c, stdin, LIMIT)
    }

    /// [`Self::call`], which must succeed; its stdout.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.call(args, None);
        assert!(
            out.status.success(),
            "{args:?}: {}: {}",
            out.status,
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `state ID`, parsed as CRI-O parses it.
    #[track_caller]
    fn state(&self) -> serde_json::Value {
        let out = self.ok(&["state", &self.id]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("state JSON: {e}: {out}"))
    }

    /// The `(status, pid)` of [`Self::state`].
    #[track_caller]
    fn status(&self) -> (String, u64) {
        let s = self.state();
        assert_eq!(s["id"], self.id.as_str());
        assert_eq!(s["bundle"], self.bundle().display().to_string());
        (
            s["status"].as_str().expect("status").to_string(),
            s["pid"].as_u64().expect("pid"),
        )
    }

    /// The container's cgroup in the v1 memory hierarchy.
    fn memory_cgroup(&self) -> PathBuf {
        Path::new("/sys/fs/cgroup/memory").join(&self.cgroup)
    }

    /// The memory limit on [`Self::memory_cgroup`].
    #[track_caller]
    fn memory_limit(&self) -> u64 {
        let path = self.memory_cgroup().join("memory.limit_in_bytes");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .expect("a number")
    }

    /// Reaps `pid` and forgets it.
    #[track_caller]
    fn reap(&mut self, pid: u32) -> WaitStatus {
        let status = reap(pid);
        self.pids.retain(|p| *p != pid);
        status
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let mut c = self.runtime();
        c.arg("--root")
            .arg(self.root())
            .args(["delete", "--force", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(child) = c.spawn() {
            let _ = KillOnDrop(child).wait_within(LIMIT);
        }
        for pid in std::mem::take(&mut self.pids) {
            let Some(target) = Pid::from_raw(pid as i32) else {
                continue;
            };
            let _ = rustix::process::kill_process(target, rustix::process::Signal::KILL);
            let deadline = Deadline::after(Duration::from_secs(10));
            while matches!(
                rustix::process::waitpid(Some(target), WaitOptions::NOHANG),
                Ok(None)
            ) && !deadline.passed()
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for h in hierarchies.flatten() {
            let _ = std::fs::remove_dir(h.path().join(&self.cgroup));
            let _ = std::fs::remove_dir(h.path().join(&self.cgroup_parent));
        }
    }
}

/// A pipe for a process's stdout and stderr: the write end for it, and
/// its lines.
fn output_pipe() -> (OwnedFd, Receiver<String>) {
    let (read, write) = std::io::pipe().expect("pipe");
    (write.into(), lines_of(read))
}

#[track_caller]
fn next_line(lines: &Receiver<String>) -> String {
    lines
        .recv_timeout(LIMIT)
        .expect("a line of the guest's output within the limit")
}

/// The lines left until the writers have all closed the pipe.
#[track_caller]
fn rest(lines: &Receiver<String>) -> Vec<String> {
    let deadline = Deadline::after(LIMIT);
    let mut rest = Vec::new();
    loop {
        match lines.recv_timeout(deadline.left()) {
            Ok(line) => rest.push(line),
            Err(RecvTimeoutError::Disconnected) => return rest,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the pipe is still open after {LIMIT:?}; read so far: {rest:?}")
            }
        }
    }
}

#[test]
fn version_and_features_answer_what_cri_o_reads_at_start_up() {
    let out = output_within(
        {
            let mut c = runtime();
            c.arg("--version");
            c
        },
        None,
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let version = text(&out.stdout);
    assert!(
        version.starts_with(&format!(
            "wasmpod-oci version {}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{version}"
    );
    assert!(version.contains("\nspec: 1.2.0\n"), "{version}");

    let out = output_within(
        {
            let mut c = runtime();
            c.arg("features");
            c
        },
        None,
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let features: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("features is JSON");
    assert_eq!(features["ociVersionMin"], "1.0.0");
    assert_eq!(features["ociVersionMax"], "1.2.0");
    assert_eq!(
        features["hooks"],
        serde_json::json!([
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]),
        "the hooks it runs"
    );
    let mount_options = features["mountOptions"].as_array().expect("mountOptions");
    assert!(mount_options.contains(&serde_json::json!("ro")));
    assert!(features["linux"]["namespaces"].is_array());
}

#[test]
fn created_started_paused_updated_execd_and_stopped_with_143_on_cgroupfs() {
    lifecycle(Cgroups::Fs);
}

#[test]
fn created_started_paused_updated_execd_and_stopped_with_143_on_systemd_cgroups() {
    lifecycle(Cgroups::Systemd);
}

/// One container through CRI-O's calls, from conmon's create to delete.
fn lifecycle(cgroups: Cgroups) {
    let mut c = Container::with(&["/probe.wasm", "sleep", "600"], false, cgroups);
    let (stdio, lines) = output_pipe();
    let pid = c.create(None, Some(stdio));
    assert_eq!(c.status(), ("created".to_string(), u64::from(pid)));
    assert_eq!(c.memory_limit(), SPEC_MEMORY);
    let procs = std::fs::read_to_string(c.memory_cgroup().join("cgroup.procs")).expect("procs");
    assert_eq!(
        procs.trim(),
        pid.to_string(),
        "the process is in its cgroup"
    );
    let netns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("netns");
    assert_ne!(
        netns(&pid.to_string()),
        netns("self"),
        "a network entry without a path: a new namespace"
    );

    c.ok(&["start", &c.id]);
    assert_eq!(next_line(&lines), "sleeping");
    assert_eq!(c.status(), ("running".to_string(), u64::from(pid)));

    c.ok(&["pause", &c.id]);
    assert_eq!(c.status(), ("paused".to_string(), u64::from(pid)));
    c.ok(&["resume", &c.id]);
    assert_eq!(c.status(), ("running".to_string(), u64::from(pid)));

    // `update --resources -`, the LinuxResources JSON on stdin.
    let resources = serde_json::json!({"memory": {"limit": UPDATED_MEMORY}}).to_string();
    let out = c.call(&["update", "--resources", "-", &c.id], Some(&resources));
    assert!(out.status.success(), "update: {}", text(&out.stderr));
    assert_eq!(c.memory_limit(), UPDATED_MEMORY);

    // ExecSync through conmon: reaped like the container's process.
    let (stdio, exec_lines) = output_pipe();
    let exec_pid = c.exec_detached(&["/probe.wasm", "env"], None, Some(stdio));
    assert_ne!(exec_pid, pid);
    let status = c.reap(exec_pid);
    assert_eq!(status.exit_status(), Some(0), "{status:?}");
    assert_eq!(rest(&exec_lines), ["FROM_EXEC=1", "env-end"]);
    let (stdio, exec_lines) = output_pipe();
    let exec_pid = c.exec_detached(&["/probe.wasm", "exit", "4"], None, Some(stdio));
    let status = c.reap(exec_pid);
    assert_eq!(status.exit_status(), Some(4), "{status:?}");
    assert_eq!(rest(&exec_lines), ["exiting with 4"]);
    // kubectl exec through CRI-O: `exec --process F ID` in the
    // foreground, with the caller's stdio and the guest's exit code.
    let process = c.process_file(&["/probe.wasm", "exit", "6"], false);
    let process = process.display().to_string();
    let out = c.call(&["exec", "--process", &process, &c.id], None);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(6), "exiting with 6\n"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        c.status().0,
        "running",
        "the execs ended, not the container"
    );

    // The stop signal as CRI-O sends it: a number string.
    c.ok(&["kill", &c.id, "15"]);
    let status = c.reap(pid);
    assert_eq!(status.exit_status(), Some(143), "{status:?}");
    assert_eq!(c.status(), ("stopped".to_string(), 0));
    assert!(rest(&lines).is_empty(), "no more output");
    let out = c.call(&["kill", &c.id, "15"], None);
    assert!(
        text(&out.stderr).contains("is not running"),
        "CRI-O reads a stopped container from this: {}",
        text(&out.stderr)
    );

    c.ok(&["delete", "--force", &c.id]);
    let out = c.call(&["state", &c.id], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!c.memory_cgroup().exists(), "delete removed the cgroup");
}

impl Container {
    /// An exec's process file, as CRI-O writes it: `args`, the env
    /// `FROM_EXEC=1`, and a terminal if asked.
    fn process_file(&self, args: &[&str], terminal: bool) -> PathBuf {
        let n = CONTAINERS.fetch_add(1, Ordering::Relaxed);
        let process = self.bundle().join(format!("exec-process-{n}.json"));
        std::fs::write(
            &process,
            serde_json::json!({
                "terminal": terminal,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["FROM_EXEC=1"],
                "cwd": "/",
            })
            .to_string(),
        )
        .expect("write the exec's process");
        process
    }

    /// conmon's ExecSync: `--root=ROOT exec --pid-file P --process F
    /// --detach [--console-socket S] ID`, with `stdio` as the exec's stdout
    /// and stderr. Returns the exec's pid from the pid file.
    #[track_caller]
    fn exec_detached(
        &mut self,
        args: &[&str],
        console_socket: Option<&Path>,
        stdio: Option<OwnedFd>,
    ) -> u32 {
        let process = self.process_file(args, console_socket.is_some());
        let n = CONTAINERS.fetch_add(1, Ordering::Relaxed);
        let pid_file = self.bundle().join(format!("exec-{n}.pid"));
        let mut c = self.runtime();
        c.arg(format!("--root={}", self.root().display()))
            .args(["exec", "--pid-file"])
            .arg(&pid_file)
            .arg("--process")
            .arg(&process)
            .arg("--detach");
        if let Some(socket) = console_socket {
            c.arg("--console-socket").arg(socket);
        }
        let (stdout, stderr) = match stdio {
            Some(fd) => (Stdio::from(fd.try_clone().expect("dup")), Stdio::from(fd)),
            None => (Stdio::null(), Stdio::piped()),
        };
        c.arg(&self.id)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let mut detached = KillOnDrop::spawn(&mut c);
        // The spawned process has its own copies of the pipe's write end.
        drop(c);
        let status = detached.wait_within(LIMIT).expect("exec --detach to end");
        let mut err = String::new();
        if let Some(mut e) = detached.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "exec --detach: {status}: {err}");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .expect("the exec's pid file, written before exec returns")
            .trim()
            .parse()
            .expect("a pid");
        self.pids.push(pid);
        pid
    }
}

#[test]
fn terminals_go_to_the_console_socket_for_create_and_exec() {
    let mut c = Container::new(&["/probe.wasm", "args", "on a tty"], true);
    let socket = c.bundle().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind the console socket");
    let received = std::thread::spawn(move || receive_fd(&listener));
    let pid = c.create(Some(&socket), None);
    let controller = received.join().expect("the console socket's receiver");
    let lines = lines_of(std::fs::File::from(controller));

    c.ok(&["start", &c.id]);
    // Read through the terminal's line discipline (\r\n, which lines()
    // takes off).
    let got: Vec<String> = (0..3).map(|_| next_line(&lines)).collect();
    assert_eq!(
        got,
        ["argv[0]=/probe.wasm", "argv[1]=args", "argv[2]=on a tty"]
    );
    let status = c.reap(pid);
    assert_eq!(status.exit_status(), Some(0), "{status:?}");
    assert_eq!(c.status().0, "stopped");
    c.ok(&["delete", "--force", &c.id]);

    // An exec with a terminal (ExecSync with tty, or a tty exec by
    // conmon): its own pseudo-terminal, on the exec's console socket.
    let mut c = Container::new(&["/probe.wasm", "sleep", "600"], false);
    let (stdio, lines) = output_pipe();
    let pid = c.create(None, Some(stdio));
    c.ok(&["start", &c.id]);
    assert_eq!(next_line(&lines), "sleeping");
    let socket = c.bundle().join("exec-console.sock");
    let listener = UnixListener::bind(&socket).expect("bind the console socket");
    let received = std::thread::spawn(move || receive_fd(&listener));
    let exec_pid = c.exec_detached(&["/probe.wasm", "args", "exec tty"], Some(&socket), None);
    let controller = received.join().expect("the console socket's receiver");
    let exec_lines = lines_of(std::fs::File::from(controller));
    let got: Vec<String> = (0..3).map(|_| next_line(&exec_lines)).collect();
    assert_eq!(
        got,
        ["argv[0]=/probe.wasm", "argv[1]=args", "argv[2]=exec tty"]
    );
    let status = c.reap(exec_pid);
    assert_eq!(status.exit_status(), Some(0), "{status:?}");
    assert_eq!(c.status(), ("running".to_string(), u64::from(pid)));
}

/// Accepts one connection on the console socket and returns the file
/// descriptor it carries (SCM_RIGHTS), as conmon does. The accept is
/// bounded: create connects at once, or has failed.
fn receive_fd(listener: &UnixListener) -> OwnedFd {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    listener.set_nonblocking(true).expect("nonblocking");
    let conn = wait_for(LIMIT, "create to connect to the console socket", || {
        listener.accept().ok().map(|(conn, _)| conn)
    });
    conn.set_nonblocking(false).expect("blocking");
    conn.set_read_timeout(Some(LIMIT)).expect("timeout");
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 4096];
    recvmsg(
        &conn,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::empty(),
    )
    .expect("recvmsg on the console socket");
    control
        .drain()
        .find_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .expect("a file descriptor on the console socket")
}

#[test]
fn kill_by_name_and_delete_force_end_a_running_container() {
    // `kill ID KILL`, as CRI-O's final kill loop sends it.
    let mut c = Container::new(&["/probe.wasm", "sleep", "600"], false);
    let (stdio, lines) = output_pipe();
    let pid = c.create(None, Some(stdio));
    c.ok(&["start", &c.id]);
    assert_eq!(next_line(&lines), "sleeping");
    c.ok(&["kill", &c.id, "KILL"]);
    let status = c.reap(pid);
    assert_eq!(
        status.terminating_signal(),
        Some(libc::SIGKILL),
        "{status:?}"
    );
    assert_eq!(c.status().0, "stopped");
    c.ok(&["delete", "--force", &c.id]);

    // `delete --force` of a running one kills it first.
    let mut c = Container::new(&["/probe.wasm", "sleep", "600"], false);
    let (stdio, lines) = output_pipe();
    let pid = c.create(None, Some(stdio));
    c.ok(&["start", &c.id]);
    assert_eq!(next_line(&lines), "sleeping");
    let out = c.call(&["delete", &c.id], None);
    assert!(
        !out.status.success(),
        "delete without --force of a running one"
    );
    assert_eq!(c.status().0, "running");
    c.ok(&["delete", "--force", &c.id]);
    let status = c.reap(pid);
    assert_eq!(
        status.terminating_signal(),
        Some(libc::SIGKILL),
        "{status:?}"
    );
    let out = c.call(&["state", &c.id], None);
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!c.memory_cgroup().exists(), "delete removed the cgroup");
}

#[test]
fn a_failed_create_leaves_no_state_no_process_and_no_cgroup() {
    let c = Container::new(&["/missing.wasm"], false);
    let out = output_within(c.create_command(None), None, LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "wasmpod-oci: the Wasm entrypoint /missing.wasm is not in the container's rootfs: no such file or directory\n"
    );
    assert!(!c.pid_file().exists());
    let out = c.call(&["state", &c.id], None);
    assert!(
        text(&out.stderr).contains("does not exist"),
        "{}",
        text(&out.stderr)
    );
    // The process made and joined the cgroup before it failed.
    assert!(
        !c.memory_cgroup().exists(),
        "{} is left behind",
        c.memory_cgroup().display()
    );
}
