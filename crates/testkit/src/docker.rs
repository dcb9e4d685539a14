//! [`Dockerd`]: Docker Engine 20.10 (Debian 12's `docker.io`) on a socket,
//! data root and exec root of its own, with OCI runtimes registered by name
//! (`--add-runtime`), driven with Debian's client, `/usr/bin/docker`.
//!
//! dockerd starts a containerd of its own (socket and state under the exec
//! root), and containers run through `containerd-shim-runc-v2`, which calls
//! the registered runtime as runc. Networking touches nothing on the host:
//! no bridge, no iptables, no forwarding or masquerading, no userland
//! proxy; a container run without `--network` gets an empty network
//! namespace. What is left on the host: `/run/docker/plugins` (an empty
//! folder dockerd always makes) and this instance's cgroup parent, removed
//! on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cgroup::remove_empty_cgroups;
use crate::mount::unmount_all_under;
use crate::process::{kill_processes_with_arg, output_within, run_quietly_within};
use crate::tools::require;
use crate::wait::Deadline;

/// Debian's client (docker.io 20.10). Another `docker` may come first on
/// PATH (Docker's own static CLI in /usr/local/bin, for one): the one that
/// comes with the daemon is used by its path.
const CLIENT: &str = "/usr/bin/docker";

/// How long one `docker` command may take in [`Dockerd::output`].
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// A running dockerd of its own (see the module docs), stopped with its
/// containers, containerd and shims when dropped.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    cgroup_parent: String,
}

impl Dockerd {
    /// Starts dockerd with each `(name, path)` registered as an OCI
    /// runtime, for `docker run --runtime NAME`.
    pub fn start(runtimes: &[(&str, &Path)]) -> Self {
        let dockerd = require("dockerd", "docker.io");
        assert!(
            Path::new(CLIENT).is_file(),
            "{CLIENT} is not installed: run `make setup` (Debian package docker.io)"
        );
        // Socket paths must fit in 108 bytes: keep the folder short.
        let dir = tempfile::Builder::new()
            .prefix("dkd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("client")).expect("mkdir");
        // The key dockerd 20.10 makes itself an identity with goes here,
        // not in /etc/docker/key.json.
        std::fs::write(
            d.join("daemon.json"),
            serde_json::to_vec_pretty(&serde_json::json!({
                "deprecated-key-path": d.join("key.json"),
            }))
            .expect("json"),
        )
        .expect("write daemon.json");
        let cgroup_parent = format!(
            "/wasmpod-dockerd-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );
        let log = std::fs::File::create(d.join("dockerd.log")).expect("log");
        let mut cmd = Command::new(dockerd);
        cmd.arg(format!("--host=unix://{}", d.join("docker.sock").display()))
            .arg(format!("--data-root={}", d.join("root").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .arg(format!("--config-file={}", d.join("daemon.json").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .arg(format!("--cgroup-parent={cgroup_parent}"));
        for (name, path) in runtimes {
            cmd.arg(format!("--add-runtime={name}={}", path.display()));
        }
        let child = cmd
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let mut daemon = Self {
            child,
            dir,
            cgroup_parent,
        };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Deadline::after(Duration::from_secs(60));
        loop {
            let ok = self
                .docker()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dockerd exited ({status}):\n{}", self.log());
            }
            assert!(
                !deadline.passed(),
                "dockerd did not answer within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Debian's `docker` client, talking to this daemon, with a client
    /// configuration folder of its own (not ~/.docker).
    pub fn docker(&self) -> Command {
        let mut c = Command::new(CLIENT);
        c.env("DOCKER_CONFIG", self.dir.path().join("client"))
            .arg(format!("--host=unix://{}", self.socket().display()));
        c
    }

    /// Runs `docker ARGS...` to its end (at most two minutes).
    #[track_caller]
    pub fn output(&self, args: &[&str]) -> Output {
        let mut c = self.docker();
        c.args(args);
        output_within(c, None, COMMAND_LIMIT)
    }

    /// Runs `docker ARGS...`, which must succeed, and returns its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\n{}\ndockerd's log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Loads an image archive ([`crate::LocalImage::archive`], whose
    /// docker-archive half Docker 20.10 reads) with `docker load`.
    #[track_caller]
    pub fn load(&self, archive: &[u8]) {
        let path = self.dir.path().join("load.tar");
        std::fs::write(&path, archive).expect("write the archive");
        self.ok(&["load", "--quiet", "--input", &path.display().to_string()]);
        let _ = std::fs::remove_file(path);
    }

    /// The API socket (`docker --host unix://SOCKET`).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// This instance's folder (root/, exec/, dockerd.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cgroup (under each hierarchy's root) containers run in.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let exec = self.dir.path().join("exec");
        // Containers a failed test left, then the daemon itself: on
        // SIGTERM dockerd stops its containerd too.
        if let Ok(out) = self
            .docker()
            .args(["ps", "--all", "--quiet"])
            .stderr(Stdio::null())
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let mut rm = self.docker();
                rm.args(["rm", "--force"]).args(&ids);
                run_quietly_within(rm, Duration::from_secs(60));
            }
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Deadline::after(Duration::from_secs(30));
        while matches!(self.child.try_wait(), Ok(None)) && !deadline.passed() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever outlived it (after a SIGKILL): its containerd and the
        // shims, which name its socket in their arguments.
        kill_processes_with_arg(&exec.join("containerd").display().to_string());
        // The host network namespace it bind-mounts (exec/netns/default),
        // and the overlay mounts of containers whose removal failed.
        unmount_all_under(self.dir.path());
        remove_empty_cgroups(&[&self.cgroup_parent]);
    }
}
