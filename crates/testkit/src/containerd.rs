//! [`Containerd`]: a containerd daemon with its own root, state and
//! sockets, optionally with CRI, CNI and a local sandbox image; [`Release`]
//! picks Debian's 1.6 or 1.7 built from source.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cri;
use crate::mount::unmount_all_under;
use crate::tools::require;
use crate::wait::Deadline;

/// A containerd daemon with its own root, state and socket, and a given
/// folder first on its `PATH` (where the shim under test is).
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    release: Release,
    path: String,
    env: Vec<(String, String)>,
    cni: Option<cri::CniNetwork>,
}

/// Which containerd runs: the `containerd` and `ctr` binaries.
#[derive(Debug, Clone)]
pub struct Release {
    pub containerd: PathBuf,
    pub ctr: PathBuf,
}

impl Release {
    /// Debian's containerd (1.6) from `PATH`.
    pub fn debian() -> Self {
        Self {
            containerd: require("containerd", "containerd"),
            ctr: require("ctr", "containerd"),
        }
    }

    /// containerd 1.7 built from upstream sources by
    /// `tests/containerd/build.sh` (built on first use; reused after).
    /// Images with Wasm layers need containerd 1.7.7 or later.
    pub fn v1_7() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/containerd/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/containerd/build.sh");
        assert!(
            out.status.success(),
            "tests/containerd/build.sh failed (it needs Go: run `scripts/setup.sh test`)"
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Self {
            containerd: bin.join("containerd"),
            ctr: bin.join("ctr"),
        }
    }
}

/// What a CRI-enabled [`Containerd`] is set up with.
pub struct CriSetup<'a> {
    /// The static native binary the sandbox (pause) image runs as `/pause`.
    pub pause_binary: &'a Path,
    /// Registries (`127.0.0.1:PORT`) pulled from over plain HTTP.
    pub plain_http_registries: &'a [&'a str],
}

/// The name the locally built sandbox image is imported under.
pub const PAUSE_IMAGE: &str = "localhost/wasmpod-test/pause:1";

impl Containerd {
    /// Starts containerd. `bin_dir` goes first on its PATH; `env` is added
    /// to its environment (and so to the shims it starts). `extra_config` is
    /// appended to config.toml (version 2). The CRI plugin is disabled
    /// unless `extra_config` mentions it.
    pub fn start(bin_dir: &Path, env: &[(&str, &str)], extra_config: &str) -> Self {
        Self::start_in(
            Self::new_dir(),
            Release::debian(),
            bin_dir,
            env,
            extra_config,
        )
    }

    /// [`Self::start`] with another containerd release.
    pub fn start_release(
        release: Release,
        bin_dir: &Path,
        env: &[(&str, &str)],
        extra_config: &str,
    ) -> Self {
        Self::start_in(Self::new_dir(), release, bin_dir, env, extra_config)
    }

    fn new_dir() -> tempfile::TempDir {
        // Socket paths must fit in 108 bytes: keep the folder short.
        tempfile::Builder::new()
            .prefix("ctd")
            .tempdir_in("/tmp")
            .expect("tempdir")
    }

    fn start_in(
        dir: tempfile::TempDir,
        release: Release,
        bin_dir: &Path,
        env: &[(&str, &str)],
        extra_config: &str,
    ) -> Self {
        let d = dir.path().display().to_string();
        let disabled = if extra_config.contains("io.containerd.grpc.v1.cri") {
            ""
        } else {
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        };
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{disabled}\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c-ttrpc.sock\"\n\
             [debug]\n  level = \"info\"\n{extra_config}\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).expect("write config");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = Self::spawn(&release.containerd, dir.path(), &path, &env);
        let c = Self {
            child,
            dir,
            release,
            path,
            env,
            cni: None,
        };
        c.wait_ready();
        c
    }

    /// Starts containerd with its CRI plugin serving on [`Self::socket`]:
    /// runtime handlers `wasmpod` (our shim) and `runc`, a CNI bridge
    /// network of its own (Debian's containernetworking-plugins), plain
    /// HTTP to the given registries, and a sandbox image built from
    /// `pause_binary` and imported (there is no internet to pull one from).
    pub fn start_cri(bin_dir: &Path, env: &[(&str, &str)], setup: &CriSetup<'_>) -> Self {
        Self::start_cri_release(Release::debian(), bin_dir, env, setup)
    }

    /// [`Self::start_cri`] with another containerd release.
    pub fn start_cri_release(
        release: Release,
        bin_dir: &Path,
        env: &[(&str, &str)],
        setup: &CriSetup<'_>,
    ) -> Self {
        let cni_bin = Path::new("/usr/lib/cni");
        assert!(
            cni_bin.join("bridge").is_file() && cni_bin.join("host-local").is_file(),
            "CNI plugins are not installed: run `make setup` (Debian package containernetworking-plugins)"
        );
        let dir = Self::new_dir();
        let conf_dir = dir.path().join("cni");
        let network = cri::CniNetwork::create(&conf_dir, &dir.path().join("cni-state"));
        let mut mirrors = String::new();
        for r in setup.plain_http_registries {
            mirrors.push_str(&format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{r}\"]\n  endpoint = [\"http://{r}\"]\n"
            ));
        }
        let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
        let config = format!(
            "[{cri}]\n  sandbox_image = \"{PAUSE_IMAGE}\"\n  stream_server_address = \"127.0.0.1\"\n  \
             stream_server_port = \"0\"\n  enable_selinux = false\n  restrict_oom_score_adj = true\n  \
             disable_hugetlb_controller = true\n  tolerate_missing_hugetlb_controller = true\n\
             [{cri}.containerd]\n  default_runtime_name = \"runc\"\n\
             [{cri}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.wasmpod]\n  runtime_type = \"io.containerd.wasmpod.v1\"\n  \
             container_annotations = [\"io.kubernetes.container.ports\"]\n  \
             pod_annotations = [\"wasmpod.dev/*\"]\n\
             [{cri}.cni]\n  bin_dir = \"{}\"\n  conf_dir = \"{}\"\n  max_conf_num = 1\n{mirrors}",
            cni_bin.display(),
            conf_dir.display(),
        );
        let mut c = Self::start_in(dir, release, bin_dir, env, &config);
        c.cni = Some(network);
        let archive = cri::oci_archive(
            PAUSE_IMAGE,
            &[(
                "/pause",
                &std::fs::read(setup.pause_binary).expect("read the pause binary"),
                0o755,
            )],
            &["/pause"],
        );
        let path = c.dir().join("pause.tar");
        std::fs::write(&path, archive).expect("write pause.tar");
        let out = Command::new(&c.release.ctr)
            .args(["-a", &c.socket(), "-n", "k8s.io", "images", "import"])
            .arg(&path)
            .output()
            .expect("ctr images import");
        assert!(
            out.status.success(),
            "import the pause image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// The CNI network of a [`Self::start_cri`] containerd.
    pub fn cni(&self) -> Option<&cri::CniNetwork> {
        self.cni.as_ref()
    }

    fn spawn(bin: &Path, dir: &Path, path: &str, env: &[(String, String)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("containerd.log"))
            .expect("log");
        Command::new(bin)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("PATH", path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd")
    }

    fn wait_ready(&self) {
        let sock = self.socket();
        let deadline = Deadline::after(Duration::from_secs(20));
        loop {
            let ok = Command::new(&self.release.ctr)
                .args(["-a", &sock, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(
                !deadline.passed(),
                "containerd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> String {
        self.dir.path().join("c.sock").display().to_string()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCKET -n wasmpod ARGS...`.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new(&self.release.ctr);
        c.args(["-a", &self.socket(), "-n", "wasmpod"]);
        c
    }

    /// Restarts containerd (SIGTERM, wait, start again with the same
    /// config), leaving the shims running, as a daemon upgrade does.
    pub fn restart(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.child = Self::spawn(
            &self.release.containerd,
            self.dir.path(),
            &self.path,
            &self.env,
        );
        self.wait_ready();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.cni.is_some() {
            // Pods a failed test left behind: stop and remove them through
            // CRI, which also tears down their network namespaces. On a
            // thread of its own: this drop may run inside a test's runtime.
            let socket = self.socket();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async { cri::Cri::connect(&socket).await.remove_all_pods().await });
            })
            .join();
        }
        // Kill what it started, then itself; unmount what the shims mounted.
        let ctr = self.release.ctr.clone();
        let _ = Command::new(&ctr)
            .args(["-a", &self.socket(), "-n", "wasmpod", "task", "ls", "-q"])
            .output()
            .map(|o| {
                for id in String::from_utf8_lossy(&o.stdout).lines() {
                    let _ = Command::new(&ctr)
                        .args([
                            "-a",
                            &self.socket(),
                            "-n",
                            "wasmpod",
                            "task",
                            "kill",
                            "-s",
                            "SIGKILL",
                            id,
                        ])
                        .output();
                }
            });
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shims ignore SIGTERM (containerd stops them through the API).
        let _ = Command::new("pkill")
            .args(["-9", "-f", "--", &format!("-address {}", self.socket())])
            .stderr(Stdio::null())
            .status();
        // ctr's default cgroupsPath is /<namespace>/<id>, so shims join
        // /wasmpod; remove it where it is empty (another test may still use it).
        if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                let _ = std::fs::remove_dir(d.path().join("wasmpod"));
            }
        }
        unmount_all_under(self.dir.path());
    }
}
