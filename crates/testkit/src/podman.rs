//! [`Podman`]: Podman 4.3 (Debian 12's) with conmon, on a root, run root,
//! temp folder and configuration of its own, with OCI runtimes registered
//! by name: the caller a low-level runtime such as wasmpod-oci is proven
//! with. Podman is no daemon: each [`Podman::command`] is one `podman` run
//! against this instance's folders.
//!
//! The configuration reaches Podman through `CONTAINERS_CONF`,
//! `CONTAINERS_STORAGE_CONF` and `CONTAINERS_REGISTRIES_CONF` (with
//! `CONTAINERS_CONF` set, Podman reads no other containers.conf). Nothing on
//! the host changes but cgroups (`/libpod_parent`, removed when empty) and
//! the blob cache every containers/image client shares
//! (`/var/lib/containers/cache`, which has no setting in Podman 4.3).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::cgroup::remove_empty_cgroups;
use crate::mount::unmount_all_under;
use crate::process::{output_within, run_quietly_within};
use crate::tools::require;

/// How long one `podman` command may take in [`Podman::output`].
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// A Podman instance of its own (see the module docs); its containers are
/// removed and its storage unmounted when it is dropped.
pub struct Podman {
    dir: tempfile::TempDir,
    podman: PathBuf,
}

/// What a [`Podman`] is configured with: [`Podman::builder`].
#[derive(Debug, Default)]
pub struct PodmanBuilder {
    runtimes: Vec<(String, PathBuf, bool)>,
    default_runtime: Option<String>,
    platform_runtimes: Vec<(String, String)>,
    conmon_env: Vec<String>,
}

impl PodmanBuilder {
    /// Registers the OCI runtime `path` as `name` (`[engine.runtimes]`), for
    /// `podman --runtime NAME`. Podman passes `--log-format=json --log FILE`
    /// to the runtime only when its name is in `runtime_supports_json`:
    /// [`Self::json_runtime`] registers it there too.
    pub fn runtime(mut self, name: &str, path: &Path) -> Self {
        self.runtimes.push((name.into(), path.into(), false));
        self
    }

    /// [`Self::runtime`], also listed in `runtime_supports_json`, as crun
    /// and runc are: Podman then reads the runtime's errors from its JSON
    /// log file instead of its stderr.
    pub fn json_runtime(mut self, name: &str, path: &Path) -> Self {
        self.runtimes.push((name.into(), path.into(), true));
        self
    }

    /// The runtime `podman run` uses without `--runtime` (`[engine]
    /// runtime`); the first one registered if not set.
    pub fn default_runtime(mut self, name: &str) -> Self {
        self.default_runtime = Some(name.into());
        self
    }

    /// Maps an image platform (`wasi/wasm`) to a runtime name in
    /// `[engine.platform_to_oci_runtime]`. Podman 4.4 and later run such
    /// images with that runtime; Podman 4.3 ignores the table (at
    /// `--log-level=debug` it logs `Failed to decode the keys
    /// ["engine.platform_to_oci_runtime"]`), so with 4.3 name the runtime
    /// with `--runtime` or [`Self::default_runtime`].
    pub fn platform_runtime(mut self, platform: &str, name: &str) -> Self {
        self.platform_runtimes.push((platform.into(), name.into()));
        self
    }

    /// Adds `NAME=VALUE` to the environment conmon gets
    /// (`conmon_env_vars`), and so to the runtime's `create` and `exec`,
    /// beside the default `PATH`.
    pub fn conmon_env(mut self, name: &str, value: &str) -> Self {
        self.conmon_env.push(format!("{name}={value}"));
        self
    }

    /// Writes the configuration and checks that Podman runs with it.
    pub fn start(self) -> Podman {
        let podman = require("podman", "podman");
        require("conmon", "conmon");
        assert!(
            !self.runtimes.is_empty(),
            "register at least one OCI runtime"
        );
        let dir = tempfile::Builder::new()
            .prefix("podman")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        for sub in ["conf", "root", "runroot", "tmp", "cni"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let default = self
            .default_runtime
            .clone()
            .unwrap_or_else(|| self.runtimes[0].0.clone());
        let mut json = vec!["crun".to_string(), "runc".to_string()];
        json.extend(self.runtimes.iter().filter(|r| r.2).map(|r| r.0.clone()));
        let mut runtimes = String::new();
        for (name, path, _) in &self.runtimes {
            runtimes.push_str(&format!(
                "{} = [{}]\n",
                toml_str(name),
                toml_str(&path.display().to_string())
            ));
        }
        let mut platforms = String::new();
        if !self.platform_runtimes.is_empty() {
            platforms.push_str("[engine.platform_to_oci_runtime]\n");
        }
        for (platform, name) in &self.platform_runtimes {
            platforms.push_str(&format!("{} = {}\n", toml_str(platform), toml_str(name)));
        }
        let json: Vec<String> = json.iter().map(|n| toml_str(n)).collect();
        let mut conmon_env =
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
        conmon_env.extend(self.conmon_env.iter().cloned());
        let conmon_env: Vec<String> = conmon_env.iter().map(|e| toml_str(e)).collect();
        let conf = format!(
            "# Written by wasmpod-testkit (crates/testkit/src/podman.rs).\n\
             [containers]\n\
             # Podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576, over the\n\
             # hard limits; without CAP_SYS_RESOURCE runc then fails with\n\
             # \"error setting rlimit type 7 (or 6): operation not permitted\".\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc={nproc}:{nproc}\"]\n\
             netns = \"none\"\n\
             log_driver = \"k8s-file\"\n\
             \n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{d}/events.log\"\n\
             tmp_dir = \"{d}/tmp\"\n\
             volume_path = \"{d}/root/volumes\"\n\
             runtime = {default}\n\
             runtime_supports_json = [{json}]\n\
             conmon_env_vars = [{conmon_env}]\n\
             \n\
             [engine.runtimes]\n\
             {runtimes}\n\
             {platforms}\n\
             [network]\n\
             network_backend = \"cni\"\n\
             network_config_dir = \"{d}/cni\"\n",
            nproc = podman_nproc(),
            d = d.display(),
            default = toml_str(&default),
            json = json.join(", "),
            conmon_env = conmon_env.join(", "),
        );
        std::fs::write(d.join("conf/containers.conf"), conf).expect("write containers.conf");
        std::fs::write(
            d.join("conf/storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/runroot\"\n",
                d.display()
            ),
        )
        .expect("write storage.conf");
        // No short names: every image a test uses is named in full.
        std::fs::write(
            d.join("conf/registries.conf"),
            "unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n",
        )
        .expect("write registries.conf");
        let p = Podman { dir, podman };
        let out = p.output(&["info", "--format", "{{.Host.OCIRuntime.Name}}"]);
        assert!(
            out.status.success(),
            "podman info failed with the test configuration:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        p
    }
}

impl Podman {
    pub fn builder() -> PodmanBuilder {
        PodmanBuilder::default()
    }

    /// `podman` with this instance's configuration in its environment, run
    /// in this instance's folder (the runtime inherits that working
    /// directory through conmon).
    pub fn command(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(&self.podman);
        c.current_dir(d)
            .env("CONTAINERS_CONF", d.join("conf/containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("conf/storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("conf/registries.conf"));
        c
    }

    /// Runs `podman ARGS...` to its end (at most two minutes).
    #[track_caller]
    pub fn output(&self, args: &[&str]) -> Output {
        let mut c = self.command();
        c.args(args);
        output_within(c, None, COMMAND_LIMIT)
    }

    /// Runs `podman ARGS...`, which must succeed, and returns its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Loads an image archive ([`crate::LocalImage::archive`]) with `podman
    /// load`.
    #[track_caller]
    pub fn load(&self, archive: &[u8]) {
        let path = self.dir.path().join("load.tar");
        std::fs::write(&path, archive).expect("write the archive");
        self.ok(&["load", "--quiet", "--input", &path.display().to_string()]);
        let _ = std::fs::remove_file(path);
    }

    /// This instance's folder (conf/, root/, runroot/, tmp/, events.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The containers.conf this instance runs with.
    pub fn containers_conf(&self) -> PathBuf {
        self.dir.path().join("conf/containers.conf")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers a failed test left: stopped at once and removed, which
        // also unmounts their root filesystems and /dev/shm.
        let mut rm = self.command();
        rm.args(["rm", "--all", "--force", "--time", "0"]);
        run_quietly_within(rm, Duration::from_secs(60));
        // What a container whose removal failed still holds, and the
        // overlay driver's private mount of its own folder.
        unmount_all_under(self.dir.path());
        // cgroupfs puts conmon in /libpod_parent/conmon and containers in
        // /libpod_parent/libpod-ID; another Podman may still use them.
        remove_empty_cgroups(&["libpod_parent/conmon", "libpod_parent"]);
    }
}

/// The RLIMIT_NPROC containers get: Podman 4.3 lowers its own to 32768
/// when it starts (so it cannot grant more without CAP_SYS_RESOURCE), and
/// never more than this process's hard limit.
fn podman_nproc() -> u64 {
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max processes"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse::<u64>().ok());
    hard.map_or(32768, |h| h.min(32768))
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
