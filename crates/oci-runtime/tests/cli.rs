//! wasmpod-oci driven through its command line, as a caller drives it,
//! with bundles that need no root: no cgroup, the host's network. The
//! test process is a child subreaper, as conmon and containerd's shims
//! are, so it reaps the container processes `create` leaves and sees their
//! exit codes.
//!
//! Fast tier: no root, no daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::time::Duration;

use rustix::process::{Pid, WaitOptions, waitpid};

const BIN: &str = env!("CARGO_BIN_EXE_wasmpod-oci");

/// Orphaned container processes come to this process.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .expect("PR_SET_CHILD_SUBREAPER");
    });
}

/// A state root of its own.
struct Runtime {
    root: tempfile::TempDir,
}

impl Runtime {
    fn new() -> Self {
        become_subreaper();
        Self {
            root: tempfile::tempdir().expect("tmp"),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run wasmpod-oci")
    }

    /// Runs `args`, which must succeed; returns stdout.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `args`, which must fail with exit 1 and one line on stderr
    /// containing `message`, and leave no state behind for `id`.
    #[track_caller]
    fn fails(&self, args: &[&str], message: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("wasmpod-oci: "), "{stderr}");
        assert!(stderr.contains(message), "{message:?} in {stderr}");
    }

    fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state JSON")
    }

    /// The container ids that have state.
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.root.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Creates `id` from `bundle`, its stdout and stderr into `out`.
    #[track_caller]
    fn create(&self, bundle: &Bundle, id: &str) -> u32 {
        let pid_file = bundle.dir.path().join("pid");
        let log = std::fs::File::create(bundle.out()).expect("out");
        let status = self
            .command()
            .args(["create", "--bundle"])
            .arg(bundle.dir.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .status()
            .expect("create");
        assert!(
            status.success(),
            "create: {}",
            std::fs::read_to_string(bundle.out()).unwrap_or_default()
        );
        std::fs::read_to_string(&pid_file)
            .expect("pid file")
            .parse()
            .expect("a pid")
    }
}

/// Waits for the container process `pid` (a child of this subreaper now)
/// and returns its exit code, 128 + N for a signal.
fn reap(pid: u32) -> i32 {
    let pid = Pid::from_raw(pid as i32).expect("pid");
    let (_, status) = waitpid(Some(pid), WaitOptions::empty())
        .expect("waitpid")
        .expect("a status");
    status
        .exit_status()
        .or(status.terminating_signal().map(|s| 128 + s))
        .expect("exited or signalled")
}

/// A bundle: `rootfs/` with the probe at `/probe.wasm`, and config.json.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("data")).expect("rootfs");
        std::fs::copy(wasmpod_test_guests::PROBE, rootfs.join("probe.wasm")).expect("probe");
        std::fs::copy(
            wasmpod_test_guests::PROBE_COMPONENT,
            rootfs.join("probe.component.wasm"),
        )
        .expect("component");
        let b = Self { dir };
        b.config(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": args, "env": ["GREETING=hello"], "cwd": "/"},
            "root": {"path": "rootfs"},
        }));
        b
    }

    fn config(&self, config: serde_json::Value) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec(&config).expect("json"),
        )
        .expect("config.json");
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out.txt")
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.out()).unwrap_or_default()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[test]
fn create_start_state_and_delete_run_a_module_to_its_exit_code() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "exit", "7"]);
    let pid = rt.create(&bundle, "c1");
    let state = rt.state("c1");
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    assert_eq!(state["id"], "c1");
    assert_eq!(state["bundle"], bundle.path().display().to_string());
    let listed: serde_json::Value =
        serde_json::from_str(&rt.ok(&["list", "--format", "json"])).expect("list");
    assert_eq!(listed[0]["id"], "c1");

    rt.ok(&["start", "c1"]);
    assert_eq!(reap(pid), 7);
    assert_eq!(rt.state("c1")["status"], "stopped");
    assert_eq!(rt.state("c1")["pid"], 0);
    rt.fails(&["start", "c1"], "it has stopped");
    rt.ok(&["delete", "c1"]);
    assert!(rt.ids().is_empty());
    rt.fails(&["state", "c1"], "container c1 does not exist");
}

#[test]
fn args_env_and_files_of_the_rootfs_reach_the_guest() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "env"]);
    let pid = rt.create(&bundle, "env");
    rt.ok(&["start", "env"]);
    assert_eq!(reap(pid), 0);
    assert!(
        bundle.output().contains("GREETING=hello"),
        "{}",
        bundle.output()
    );
    rt.ok(&["delete", "env"]);

    // A WASI 0.2 component, reading a file of the rootfs.
    std::fs::write(bundle.rootfs().join("data/note.txt"), "from the rootfs\n").expect("note");
    bundle.config(serde_json::json!({
        "process": {"args": ["/probe.component.wasm", "cat", "/data/note.txt"], "cwd": "/"},
        "root": {"path": "rootfs"},
    }));
    let pid = rt.create(&bundle, "cat");
    rt.ok(&["start", "cat"]);
    assert_eq!(reap(pid), 0);
    assert!(
        bundle.output().contains("from the rootfs"),
        "{}",
        bundle.output()
    );
    rt.ok(&["delete", "cat"]);
}

#[test]
fn kill_stops_a_running_guest_with_128_plus_the_signal() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "sleep", "60"]);
    for (signal, code) in [("TERM", 143), ("9", 137), ("SIGINT", 130)] {
        let pid = rt.create(&bundle, "sleeper");
        rt.ok(&["start", "sleeper"]);
        wasmpod_testkit::wait_until(Duration::from_secs(10), "running", || {
            rt.state("sleeper")["status"] == "running"
        });
        rt.ok(&["kill", "sleeper", signal]);
        assert_eq!(reap(pid), code, "{signal}");
        rt.fails(&["kill", "sleeper"], "container sleeper is not running");
        rt.ok(&["delete", "sleeper"]);
    }
}

/// KiB of `pid`'s executable resident in its read-only mappings
/// (`/proc/PID/smaps`): what start-up touched of the runtime's binary.
fn resident_binary_kib(pid: u32) -> u64 {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let mut total = 0;
    let mut counting = false;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let perms = fields.next().unwrap_or_default();
            let path = fields.skip(3).collect::<Vec<_>>().join(" ");
            counting = path == exe && matches!(perms, "r-xp" | "r--p");
        } else if counting && first == "Rss:" {
            total += fields
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

#[test]
fn an_idle_container_gives_back_the_binarys_start_up_pages() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "sleep", "60"]);
    let pid = rt.create(&bundle, "idle");
    rt.ok(&["start", "idle"]);
    // Start-up touched megabytes of the binary; a moment after the guest
    // starts they go back (the guest sleeps and touches almost nothing).
    let started = resident_binary_kib(pid);
    assert!(started > 1024, "only {started} KiB resident at start");
    wasmpod_testkit::wait_until(Duration::from_secs(10), "start-up pages released", || {
        resident_binary_kib(pid) < started / 4
    });
    assert_eq!(rt.state("idle")["status"], "running");
    rt.ok(&["kill", "idle", "KILL"]);
    assert_eq!(reap(pid), 137);
    rt.ok(&["delete", "idle"]);
}

#[test]
fn exec_runs_another_guest_in_a_running_container() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "sleep", "60"]);
    let pid = rt.create(&bundle, "host");
    rt.fails(
        &["exec", "host", "/probe.wasm", "exit", "0"],
        "it is created",
    );
    rt.ok(&["start", "host"]);
    let out = rt.run(&["exec", "--env", "EXTRA=1", "host", "/probe.wasm", "env"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("GREETING=hello") && stdout.contains("EXTRA=1"),
        "{stdout}"
    );
    let out = rt.run(&["exec", "host", "/probe.wasm", "exit", "5"]);
    assert_eq!(out.status.code(), Some(5));

    // --process, --detach and --pid-file, as conmon execs.
    let process = bundle.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::to_vec(&serde_json::json!({"args": ["/probe.wasm", "exit", "4"], "cwd": "/"}))
            .expect("json"),
    )
    .expect("process.json");
    let exec_pid = bundle.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--process",
        &process.display().to_string(),
        "--detach",
        "--pid-file",
        &exec_pid.display().to_string(),
        "host",
    ]);
    let detached: u32 = std::fs::read_to_string(&exec_pid)
        .expect("exec pid")
        .parse()
        .expect("pid");
    assert_eq!(reap(detached), 4);

    let ps: Vec<u32> =
        serde_json::from_str(&rt.ok(&["ps", "--format", "json", "host"])).expect("ps");
    assert_eq!(ps, vec![pid]);
    // A detached exec still running ends with the container, though no
    // cgroup holds them (this spec names none).
    let sleeper = bundle.path().join("sleeper.pid");
    // Its output to nowhere: it holds what it inherits for 60 s.
    let status = rt
        .command()
        .args(["exec", "--detach", "--pid-file"])
        .arg(&sleeper)
        .args(["host", "/probe.wasm", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("exec --detach");
    assert!(status.success());
    let sleeper: u32 = std::fs::read_to_string(&sleeper)
        .expect("exec pid")
        .parse()
        .expect("pid");
    rt.fails(&["delete", "host"], "stop it first or use --force");
    rt.ok(&["delete", "--force", "host"]);
    assert_eq!(reap(pid), 137);
    assert_eq!(reap(sleeper), 137);
    assert!(rt.ids().is_empty());
}

/// A volume inside another: `/vol` from `$T/vol` (writable) and `/inner`
/// from `$T/vol/inner`. Once `inner` is replaced by a symlink leading
/// out (what the guest itself can do through `/vol`), an exec must not
/// open where the link leads: exec gives only the directories create
/// gave.
#[test]
fn exec_never_opens_a_volume_source_that_was_replaced_since_create() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "sleep", "60"]);
    let t = tempfile::tempdir().expect("tmp");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("host-secret"), "x").expect("write");
    let vol = t.path().join("vol");
    std::fs::create_dir_all(vol.join("inner")).expect("mkdir");
    std::fs::write(vol.join("inner/mine"), "y").expect("write");
    let bind = |source: &Path, destination: &str| {
        serde_json::json!({"destination": destination, "type": "bind",
            "source": source, "options": ["rbind", "rw"]})
    };
    bundle.config(serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["/probe.wasm", "sleep", "60"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "mounts": [bind(&vol, "/vol"), bind(&vol.join("inner"), "/inner")],
    }));
    let pid = rt.create(&bundle, "nested");
    rt.ok(&["start", "nested"]);
    let ls_inner = || rt.run(&["exec", "nested", "/probe.wasm", "ls", "/inner"]);
    let out = ls_inner();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("mine"));

    std::fs::rename(vol.join("inner"), vol.join("moved")).expect("rename");
    std::os::unix::fs::symlink("../outside", vol.join("inner")).expect("symlink");
    let out = ls_inner();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("host-secret"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("/inner is not the directory the container was given at create"),
        "{stderr}"
    );
    // The same directory back in its place is the container's again.
    std::fs::remove_file(vol.join("inner")).expect("rm");
    std::fs::rename(vol.join("moved"), vol.join("inner")).expect("rename");
    let out = ls_inner();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    rt.ok(&["delete", "--force", "nested"]);
    assert_eq!(reap(pid), 137);
}

#[test]
fn pause_and_resume_stop_and_continue_the_guest() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe.wasm", "sleep", "60"]);
    let pid = rt.create(&bundle, "p");
    rt.ok(&["start", "p"]);
    rt.ok(&["pause", "p"]);
    wasmpod_testkit::wait_until(Duration::from_secs(10), "paused", || {
        rt.state("p")["status"] == "paused"
    });
    rt.fails(&["pause", "p"], "it is paused");
    rt.ok(&["resume", "p"]);
    assert_eq!(rt.state("p")["status"], "running");
    rt.ok(&["kill", "p", "KILL"]);
    assert_eq!(reap(pid), 137);
    rt.ok(&["delete", "p"]);
}

#[test]
fn bad_input_gets_one_line_and_leaves_no_state() {
    let rt = Runtime::new();
    let missing = rt.root.path().join("no-such-bundle");
    rt.fails(
        &["create", "--bundle", &missing.display().to_string(), "c"],
        "no-such-bundle/config.json",
    );
    let bundle = Bundle::new(&["/probe.wasm", "exit", "0"]);
    let create = |id: &str, message: &str| {
        rt.fails(
            &[
                "create",
                "--bundle",
                &bundle.path().display().to_string(),
                id,
            ],
            message,
        );
        assert!(rt.ids().is_empty(), "{id} left state: {:?}", rt.ids());
    };
    std::fs::write(bundle.path().join("config.json"), "{not json").expect("w");
    create("c", "invalid runtime spec");
    let with_args = |args: &[&str]| {
        bundle.config(serde_json::json!({"process": {"args": args}, "root": {"path": "rootfs"}}));
    };
    with_args(&[]);
    create("c", "process.args is empty");
    std::fs::copy("/bin/true", bundle.rootfs().join("native")).expect("native");
    with_args(&["/native"]);
    create(
        "c",
        "the entrypoint /native is a native program; wasmpod-oci runs only WebAssembly",
    );
    std::fs::write(bundle.rootfs().join("text.wasm"), "not wasm at all").expect("w");
    with_args(&["/text.wasm"]);
    create("c", "cannot load the Wasm entrypoint /text.wasm");
    // A bad reuse annotation is refused for a command too, not only where
    // it would take effect (a served component), as the shim refuses it.
    bundle.config(serde_json::json!({
        "process": {"args": ["/probe.wasm", "exit", "0"]},
        "root": {"path": "rootfs"},
        "annotations": {"wasmpod.dev/max-instance-reuse-count": "0"},
    }));
    create(
        "c",
        "invalid annotation wasmpod.dev/max-instance-reuse-count",
    );
    // Outside the rootfs: `..` stops at its root, and a symlink is
    // followed inside it, so neither reaches the host's file.
    let outside = bundle.path().join("outside.wasm");
    std::fs::copy(wasmpod_test_guests::PROBE, &outside).expect("outside");
    with_args(&["/../outside.wasm"]);
    create("c", "/../outside.wasm is not in the container's rootfs");
    std::os::unix::fs::symlink(&outside, bundle.rootfs().join("link.wasm")).expect("symlink");
    with_args(&["/link.wasm"]);
    create("c", "/link.wasm is not in the container's rootfs");
    create("../escape", "invalid container ID");

    // Failing after the container's process is ready leaves no process:
    // a pid file that cannot be written, a record too large to read back.
    let init_of = |id: &str| -> Vec<u32> {
        std::fs::read_dir("/proc")
            .expect("proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let words: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                words
                    .windows(2)
                    .any(|w| w[0] == b"init" && w[1] == id.as_bytes())
            })
            .collect()
    };
    with_args(&["/probe.wasm", "sleep", "60"]);
    rt.fails(
        &[
            "create",
            "--bundle",
            &bundle.path().display().to_string(),
            "--pid-file",
            "/nonexistent/folder/pid",
            "nopid",
        ],
        "write the pid file /nonexistent/folder/pid",
    );
    assert!(rt.ids().is_empty(), "{:?}", rt.ids());
    wasmpod_testkit::wait_until(Duration::from_secs(10), "no init left", || {
        init_of("nopid").is_empty()
    });
    bundle.config(serde_json::json!({
        "process": {"args": ["/probe.wasm", "sleep", "60"]},
        "root": {"path": "rootfs"},
        "annotations": {"big": "\u{1}".repeat(300_000)},
    }));
    create("big", "the container's state would be");
    wasmpod_testkit::wait_until(Duration::from_secs(10), "no init left", || {
        init_of("big").is_empty()
    });

    with_args(&["/probe.wasm", "sleep", "60"]);
    let pid = rt.create(&bundle, "dup");
    rt.fails(
        &[
            "create",
            "--bundle",
            &bundle.path().display().to_string(),
            "dup",
        ],
        "container with ID dup already exists",
    );
    assert_eq!(
        rt.state("dup")["status"],
        "created",
        "the first one is untouched"
    );
    rt.ok(&["start", "dup"]);
    rt.fails(&["start", "dup"], "it was started already");
    for cmd in ["state", "start", "kill", "delete", "ps", "pause"] {
        rt.fails(&[cmd, "nope"], "container nope does not exist");
    }
    // --force deletes what is gone as done, as runc does.
    rt.ok(&["delete", "--force", "nope"]);
    let out = rt.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    rt.fails(
        &["run", "--bundle", "/b", "x"],
        "run is not supported by wasmpod-oci: use create, then start",
    );
    rt.fails(
        &["checkpoint", "x"],
        "checkpoint is not supported by wasmpod-oci",
    );
    rt.ok(&["delete", "--force", "dup"]);
    assert_eq!(reap(pid), 137);
    assert!(rt.ids().is_empty());
}

#[test]
fn a_create_that_died_half_way_reads_as_stopped_and_delete_cleans_it() {
    let rt = Runtime::new();
    // What a create killed before it wrote state.json leaves.
    std::fs::create_dir_all(rt.root.path().join("half")).expect("mkdir");
    assert_eq!(rt.state("half")["status"], "stopped");
    rt.ok(&["delete", "half"]);
    assert!(rt.ids().is_empty());
}

#[test]
fn version_and_features_say_what_the_runtime_is() {
    let rt = Runtime::new();
    let version = rt.ok(&["--version"]);
    assert!(version.starts_with("wasmpod-oci version "), "{version}");
    assert!(version.contains("\nspec: 1."), "{version}");
    let features: serde_json::Value =
        serde_json::from_str(&rt.ok(&["features"])).expect("features JSON");
    assert_eq!(features["ociVersionMin"], "1.0.0");
    assert!(
        features["ociVersionMax"]
            .as_str()
            .is_some_and(|v| v.starts_with("1."))
    );
    // Global flags runc takes and wasmpod-oci does not need are accepted.
    rt.ok(&[
        "--criu",
        "/bin/criu",
        "--rootless=false",
        "--systemd-cgroup",
        "list",
    ]);
}

#[test]
fn native_containers_go_to_the_configured_native_runtime() {
    let rt = Runtime::new();
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("calls.log");
    // A stand-in for runc: logs its argv, and makes the container's
    // folder under --root on create, as runc does.
    let fake = tmp.path().join("fake-runc");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\nroot=\"\"; prev=\"\"; last=\"\"\n\
             for a in \"$@\"; do [ \"$prev\" = --root ] && root=\"$a\"; prev=\"$a\"; last=\"$a\"; done\n\
             case \" $* \" in *\" create \"*) mkdir -p \"$root/$last\" ;; esac\n",
            log = log.display()
        ),
    )
    .expect("fake");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = tmp.path().join("oci.toml");
    std::fs::write(
        &config,
        format!("native-runtime = {:?}\n", fake.display().to_string()),
    )
    .expect("config");

    let bundle = Bundle::new(&["sh", "-c", "true"]);
    std::fs::create_dir_all(bundle.rootfs().join("bin")).expect("bin");
    std::fs::copy("/bin/true", bundle.rootfs().join("bin/sh")).expect("sh");
    let with_config = |args: &[&str]| {
        rt.command()
            .env("WASMPOD_OCI_CONFIG", &config)
            .args(args)
            .output()
            .expect("run")
    };
    let b = bundle.path().display().to_string();
    let out = with_config(&["--log-format", "json", "create", "--bundle", &b, "native1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for args in [
        &["state", "native1"][..],
        &["kill", "native1", "KILL"],
        &["delete", "native1"],
    ] {
        let out = with_config(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let native_root = rt.root.path().join(".native");
    let r = native_root.display();
    assert_eq!(
        std::fs::read_to_string(&log).expect("calls"),
        format!(
            "--root {r} --log-format json create --bundle {b} native1\n\
             --root {r} state native1\n--root {r} kill native1 KILL\n--root {r} delete native1\n"
        )
    );
    // wasmpod-oci's own list shows no container for the native folder.
    assert_eq!(rt.ids(), vec![".native"]);
    assert_eq!(rt.ok(&["list", "--quiet"]), "");

    // A Wasm container stays wasmpod-oci's, configured or not.
    let wasm = Bundle::new(&["/probe.wasm", "exit", "0"]);
    let w = wasm.path().display().to_string();
    // (Not `output()`: the container process keeps the stdio it gets.)
    let status = rt
        .command()
        .env("WASMPOD_OCI_CONFIG", &config)
        .args(["create", "--bundle", &w, "wasm1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("create");
    assert!(status.success());
    assert_eq!(rt.state("wasm1")["status"], "created");
    let pid = rt.state("wasm1")["pid"].as_u64().expect("pid") as u32;
    rt.ok(&["delete", "--force", "wasm1"]);
    assert_eq!(reap(pid), 137);

    // Without the configuration, a native container is refused, saying
    // how to run one.
    rt.fails(
        &["create", "--bundle", &b, "native2"],
        "the entrypoint sh is a native program; wasmpod-oci runs only WebAssembly (set native-runtime in /etc/wasmpod/oci.toml",
    );
}
