//! The shim under a real containerd (Debian's 1.6), driven with `ctr`, with
//! a compat image pulled from a real docker-registry.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use wasmpod_oci::image::BuiltImage;
use wasmpod_test_guests as guests;
use wasmpod_testkit::image::{compat_image, push_image, wasm_layer_image};
use wasmpod_testkit::{Containerd, Registry, Release};

mod common;
use common::shim_bin_dir;

const RUNTIME: &str = "io.containerd.wasmpod.v1";

/// containerd with our shim first on its PATH, a registry holding a compat
/// image with two modules (`/probe.wasm`, the entrypoint, and `/hello.wasm`),
/// and that image pulled.
struct Setup {
    ctd: Containerd,
    _registry: Registry,
    image: String,
    _bin: tempfile::TempDir,
    _home: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let probe = std::fs::read(guests::PROBE).expect("probe");
        let hello = std::fs::read(guests::HELLO).expect("hello");
        let image = compat_image(
            &[
                ("/probe.wasm", &probe),
                ("/hello.wasm", &hello),
                ("/bin/sh", b"\x7fELF\x02\x01\x01"),
            ],
            "/probe.wasm",
        );
        Self::with(Release::debian(), "wasm/probe:v1", &image)
    }

    /// `release` with our shim, `image` pushed as `name` and pulled.
    fn with(release: Release, name: &str, image: &BuiltImage) -> Self {
        let registry = Registry::start();
        let reference = format!("{}/{name}", registry.addr());
        push_image(&reference, image);
        let bin = shim_bin_dir();
        let home = tempfile::tempdir().expect("tmp");
        let home_s = home.path().display().to_string();
        let ctd = Containerd::start_release(
            release,
            bin.path(),
            &[("WASMPOD_HOME", &home_s), ("RUST_LOG", "info")],
            "",
        );
        let out = ctd
            .ctr()
            .args(["images", "pull", "--plain-http", &reference])
            .output()
            .expect("ctr pull");
        assert!(
            out.status.success(),
            "ctr pull: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            ctd,
            _registry: registry,
            image: reference,
            _bin: bin,
            _home: home,
        }
    }

    fn run(&self, id: &str, extra: &[&str], args: &[&str]) -> Output {
        self.ctd
            .ctr()
            .args(["run", "--rm", "--runtime", RUNTIME])
            .args(extra)
            .arg(&self.image)
            .arg(id)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr run")
    }

    /// `ctr ARGS` with stdin closed.
    fn ctr(&self, args: &[&str]) -> Output {
        self.ctd
            .ctr()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr")
    }

    /// `ctr task exec --exec-id EXEC_ID CONTAINER ARGS...`.
    fn exec(&self, container: &str, exec_id: &str, args: &[&str]) -> Output {
        let mut all = vec!["task", "exec", "--exec-id", exec_id, container];
        all.extend_from_slice(args);
        self.ctr(&all)
    }

    /// `ctr ARGS`, which must succeed.
    fn ctr_ok(&self, args: &[&str]) -> Output {
        let o = self.ctr(args);
        assert!(o.status.success(), "ctr {args:?}: {}", text(&o.stderr));
        o
    }

    fn home(&self) -> &Path {
        self._home.path()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32, ctd: &Containerd) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}\ncontainerd log (tail):\n{}",
        text(&o.stdout),
        text(&o.stderr),
        ctd.log()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn ctr_run_output_args_env_mounts_and_exit_codes() {
    let s = Setup::new();
    let o = s.run("args", &[], &["/probe.wasm", "args", "one", "two"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "argv[0]=/probe.wasm\nargv[1]=args\nargv[2]=one\nargv[3]=two\n"
    );
    // The server removes its socket when containerd shuts it down. Under
    // load containerd may give up waiting for that answer (3 s) and go on,
    // so wait a little longer for it rather than racing it.
    let socket = containerd_shim::socket_address(&s.ctd.socket(), "wasmpod", "args");
    let socket = socket.strip_prefix("unix://").unwrap_or(&socket);
    wasmpod_testkit::wait_until(Duration::from_secs(10), "the shim's socket to go", || {
        !Path::new(socket).exists()
    });

    let o = s.run(
        "env",
        &["--env", "GREETING=hi", "--env", "EMPTY="],
        &["/probe.wasm", "env"],
    );
    assert_exit(&o, 0, &s.ctd);
    let out = text(&o.stdout);
    assert!(out.lines().any(|l| l == "GREETING=hi"), "{out}");
    assert!(out.lines().any(|l| l == "EMPTY="), "{out}");
    assert!(
        !out.contains("WASMPOD_HOME"),
        "the shim's environment must not leak: {out}"
    );

    let o = s.run("exit", &[], &["/probe.wasm", "exit", "7"]);
    assert_exit(&o, 7, &s.ctd);
    assert_eq!(text(&o.stdout), "exiting with 7\n");

    // Read-only and read-write bind mounts.
    let ro = tempfile::tempdir().expect("tmp");
    std::fs::write(ro.path().join("in.txt"), "from the host\n").expect("write");
    let rw = tempfile::tempdir().expect("tmp");
    let ro_m = format!(
        "type=bind,src={},dst=/ro,options=rbind:ro",
        ro.path().display()
    );
    let rw_m = format!(
        "type=bind,src={},dst=/rw,options=rbind:rw",
        rw.path().display()
    );
    let o = s.run(
        "ro",
        &["--mount", &ro_m],
        &["/probe.wasm", "cat", "/ro/in.txt"],
    );
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(text(&o.stdout), "from the host\n");
    let o = s.run(
        "ro-write",
        &["--mount", &ro_m],
        &["/probe.wasm", "write", "/ro/new.txt", "x"],
    );
    assert_exit(&o, 1, &s.ctd);
    assert!(!ro.path().join("new.txt").exists());
    let o = s.run(
        "rw",
        &["--mount", &rw_m],
        &["/probe.wasm", "write", "/rw/out.txt", "from wasm"],
    );
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        std::fs::read_to_string(rw.path().join("out.txt")).expect("read"),
        "from wasm"
    );

    // The rootfs is at / : the second module is visible to the first.
    let o = s.run("rootfs", &[], &["/probe.wasm", "ls", "/"]);
    assert_exit(&o, 0, &s.ctd);
    assert!(
        text(&o.stdout).lines().any(|l| l == "hello.wasm"),
        "{}",
        text(&o.stdout)
    );

    // The container's memory limit (linux.resources.memory.limit) is also
    // the engine's cap: growth past it fails inside the guest.
    let o = s.run(
        "capped",
        &["--memory-limit", "16777216"],
        &["/probe.wasm", "alloc", "64"],
    );
    assert_exit(&o, 0, &s.ctd);
    let out = text(&o.stdout);
    let got: u32 = out
        .strip_prefix("allocated ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {out:?}"));
    assert!(
        (1..16).contains(&got),
        "allocated {got} MiB under a 16 MiB limit"
    );
    let o = s.run("uncapped", &[], &["/probe.wasm", "alloc", "64"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(text(&o.stdout), "allocated 64 MiB of 64\n");

    // A trap is 134, and the shim says why in containerd's shim log.
    let o = s.run("trap", &[], &["/probe.wasm", "trap"]);
    assert_exit(&o, 134, &s.ctd);
    let log = s.ctd.log();
    assert!(
        log.lines()
            .any(|l| l.contains("guest trapped") && l.contains("unreachable")),
        "no trap line from the shim in containerd's log"
    );

    // A native entrypoint is refused with a message naming the limitation.
    let o = s.run("native", &[], &["/bin/sh"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("native (ELF or script) program"),
        "{}",
        text(&o.stderr)
    );

    // The compile cache is node-wide: entries live in the shim's WASMPOD_HOME.
    let cached = std::fs::read_dir(s.home().join("cache/compiled"))
        .expect("cache")
        .count();
    assert!(cached >= 1, "no compiled code cached");
}

fn spawn_run(s: &Setup, id: &str, args: &[&str]) -> std::process::Child {
    spawn_run_with(s, &[], id, args)
}

/// `ctr run --rm` in the background, with extra `ctr run` flags.
fn spawn_run_with(s: &Setup, flags: &[&str], id: &str, args: &[&str]) -> std::process::Child {
    s.ctd
        .ctr()
        .args(["run", "--rm", "--runtime", RUNTIME])
        .args(flags)
        .args([&s.image, id])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ctr run")
}

/// The pid of the shim server that runs container `id`: the pid containerd
/// reports for the task, which must be a process of this shim binary
/// talking to this containerd, and the only one.
fn shim_pid(s: &Setup, id: &str) -> String {
    let o = s.ctr_ok(&["task", "ls"]);
    let out = text(&o.stdout);
    let pid = out
        .lines()
        .find_map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next() == Some(id)).then(|| cols.next().map(str::to_string))?
        })
        .unwrap_or_else(|| panic!("no task {id}: {out}"));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("task pid is alive");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let address = format!("-address {} ", s.ctd.socket());
    assert!(
        cmdline.contains("containerd-shim-wasmpod-v1") && cmdline.contains(&address),
        "task {id}'s pid {pid} is not this containerd's wasmpod shim: {cmdline}"
    );
    let o = std::process::Command::new("pgrep")
        .args([
            "-f",
            "--",
            &format!("containerd-shim-wasmpod-v1 .*{address}"),
        ])
        .output()
        .expect("pgrep");
    let pids: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(
        pids,
        std::slice::from_ref(&pid),
        "one shim server, the task's"
    );
    pid
}

fn wait_running(s: &Setup, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = s
            .ctd
            .ctr()
            .args(["task", "ls"])
            .output()
            .expect("ctr task ls");
        let out = text(&o.stdout);
        if out
            .lines()
            .any(|l| l.starts_with(id) && l.contains("RUNNING"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never ran: {out}\n{}",
            s.ctd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_at_once_with_143_and_sigkill_with_137() {
    let s = Setup::new();
    for (id, signal, code) in [
        ("term", "SIGTERM", 143),
        ("killed", "SIGKILL", 137),
        ("int", "SIGINT", 130),
    ] {
        let child = spawn_run(&s, id, &["/probe.wasm", "spin"]);
        wait_running(&s, id);
        let started = Instant::now();
        let o = s
            .ctd
            .ctr()
            .args(["task", "kill", "--signal", signal, id])
            .output()
            .expect("kill");
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = child.wait_with_output().expect("wait");
        let elapsed = started.elapsed();
        assert_exit(&out, code, &s.ctd);
        assert_eq!(text(&out.stdout), "spinning\n");
        assert!(
            elapsed < Duration::from_secs(1),
            "{signal} took {elapsed:?}"
        );
    }
    // A guest blocked in a host call (sleep) stops just as fast.
    let child = spawn_run(&s, "sleeper", &["/probe.wasm", "sleep", "60"]);
    wait_running(&s, "sleeper");
    let started = Instant::now();
    s.ctr_ok(&["task", "kill", "sleeper"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 143, &s.ctd);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn exec_runs_another_module_of_the_image_and_metrics_have_numbers() {
    let s = Setup::new();
    let child = spawn_run(&s, "host", &["/probe.wasm", "sleep", "30"]);
    wait_running(&s, "host");

    let o = s.exec("host", "e1", &["/hello.wasm", "extra"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "Hello from WebAssembly, world!\n  arg 1: extra\n"
    );
    let o = s.exec("host", "e2", &["/probe.wasm", "exit", "5"]);
    assert_exit(&o, 5, &s.ctd);
    let o = s.exec("host", "e3", &["/missing.wasm"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("/missing.wasm"),
        "{}",
        text(&o.stderr)
    );

    // Per-container memory: the linear memory of the container's instances,
    // here the init process plus an exec holding 32 MiB.
    let metric = |name: &str| -> u64 {
        let o = s
            .ctd
            .ctr()
            .args(["task", "metrics", "host"])
            .output()
            .expect("metrics");
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
    };
    let before = metric("memory.usage_in_bytes");
    assert!(
        before > 0 && before < 8 << 20,
        "init process alone: {before}"
    );
    assert_eq!(
        before % 65536,
        0,
        "linear memory, in 64 KiB pages: {before}"
    );
    let holder = s
        .ctd
        .ctr()
        .args([
            "task",
            "exec",
            "--exec-id",
            "hold",
            "host",
            "/probe.wasm",
            "alloc",
            "32",
            "3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("exec");
    let deadline = Instant::now() + Duration::from_secs(10);
    let during = loop {
        let m = metric("memory.usage_in_bytes");
        if m >= before + (32 << 20) || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        during >= before + (32 << 20),
        "with the exec holding 32 MiB: {during}"
    );
    let held = holder.wait_with_output().expect("wait");
    assert_exit(&held, 0, &s.ctd);
    assert_eq!(
        metric("memory.usage_in_bytes"),
        before,
        "released when the exec ends"
    );

    // Per-container CPU: the instances' own time, rising while an exec spins
    // (the guest makes no host call, so this is read mid-computation), and
    // kept once that exec is deleted.
    let cpu_before = metric("cpuacct.usage");
    let spinner = s
        .ctd
        .ctr()
        .args([
            "task",
            "exec",
            "--exec-id",
            "spin",
            "host",
            "/probe.wasm",
            "spin",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("exec");
    let deadline = Instant::now() + Duration::from_secs(10);
    let spinning = loop {
        let c = metric("cpuacct.usage");
        if c >= cpu_before + 200_000_000 || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        spinning >= cpu_before + 200_000_000,
        "with an exec spinning: {cpu_before} then {spinning}"
    );
    s.ctr_ok(&["task", "kill", "--exec-id", "spin", "host"]);
    let spun = spinner.wait_with_output().expect("wait");
    assert_exit(&spun, 143, &s.ctd);
    let after = metric("cpuacct.usage");
    assert!(
        after >= spinning,
        "kept after the exec: {spinning} then {after}"
    );

    let o = s
        .ctd
        .ctr()
        .args(["task", "pause", "host"])
        .output()
        .expect("pause");
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("not supported"),
        "{}",
        text(&o.stderr)
    );

    s.ctr_ok(&["task", "kill", "host"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 143, &s.ctd);
}

#[test]
fn containerd_restart_keeps_the_task_and_reports_its_exit() {
    let mut s = Setup::new();
    let o = s
        .ctd
        .ctr()
        .args([
            "run",
            "-d",
            "--runtime",
            RUNTIME,
            &s.image,
            "survivor",
            "/probe.wasm",
            "sleep",
            "3",
        ])
        .output()
        .expect("ctr run -d");
    assert!(o.status.success(), "{}", text(&o.stderr));
    wait_running(&s, "survivor");
    s.ctd.restart();
    let o = s.ctd.ctr().args(["task", "ls"]).output().expect("ls");
    assert!(
        text(&o.stdout)
            .lines()
            .any(|l| l.starts_with("survivor") && l.contains("RUNNING")),
        "{}",
        text(&o.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let o = s.ctd.ctr().args(["task", "ls"]).output().expect("ls");
        let out = text(&o.stdout);
        if out
            .lines()
            .any(|l| l.starts_with("survivor") && l.contains("STOPPED"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "exit never reported: {out}\n{}",
            s.ctd
                .log()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = s
        .ctd
        .ctr()
        .args(["task", "delete", "survivor"])
        .output()
        .expect("delete");
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// A container given a network namespace (as CRI gives a pod's) runs in it:
/// the shim server, and with it every guest socket, lives there.
#[test]
fn instances_live_in_the_network_namespace_of_the_spec() {
    let s = Setup::new();
    let name = format!("wasmpod-test-{}", std::process::id());
    let add = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .expect("ip netns add");
    assert!(add.success(), "ip netns add {name}");
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", &self.0])
                .status();
        }
    }
    let ns = Netns(name.clone());
    let path = format!("/var/run/netns/{}", ns.0);
    let netns_flag = format!("network:{path}");
    let child = spawn_run_with(
        &s,
        &["--with-ns", &netns_flag],
        "in-netns",
        &["/probe.wasm", "sleep", "30"],
    );
    wait_running(&s, "in-netns");
    let netns_of = |p: &str| {
        std::fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect(p)
    };
    let pod = netns_of(&path);
    let host = netns_of("/proc/self/ns/net");
    assert_ne!(pod, host);
    let shim = shim_pid(&s, "in-netns");
    assert_eq!(
        netns_of(&format!("/proc/{shim}/ns/net")),
        pod,
        "the shim is in the pod's network namespace"
    );
    s.ctr_ok(&["task", "kill", "in-netns"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 143, &s.ctd);
}

/// The shim process of a pod joins the pod's cgroup: the parent of the
/// container's cgroupsPath, in every hierarchy. (A container outside a pod,
/// as in the other tests, joins nothing.)
#[test]
fn the_shim_joins_the_pod_cgroup() {
    let s = Setup::new();
    let pod = format!("wasmpod-test-{}", std::process::id());
    let cgroup = format!("/{pod}/c1");
    // The annotation is what CRI puts on a pod's containers.
    let child = spawn_run_with(
        &s,
        &[
            "--cgroup",
            &cgroup,
            "--annotation",
            "io.kubernetes.cri.sandbox-id=in-pod",
        ],
        "in-pod",
        &["/probe.wasm", "sleep", "30"],
    );
    wait_running(&s, "in-pod");
    let pid = shim_pid(&s, "in-pod");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let in_pod: Vec<&str> = cgroups
        .lines()
        .filter(|l| l.ends_with(&format!(":/{pod}")))
        .collect();
    assert!(
        in_pod
            .iter()
            .any(|l| l.contains("memory") || l.starts_with("0::")),
        "shim not in /{pod}:\n{cgroups}"
    );
    s.ctr_ok(&["task", "kill", "in-pod"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 143, &s.ctd);
    // Remove the pod cgroups once the shim has left them.
    for _ in 0..50 {
        let left: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| {
                d.flatten()
                    .map(|e| e.path().join(&pod))
                    .filter(|p| p.exists())
                    .collect()
            })
            .unwrap_or_default();
        let remaining: Vec<_> = left
            .into_iter()
            .filter(|p| std::fs::remove_dir(p).is_err())
            .collect();
        if remaining.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The compiled-code entries in the shim's `WASMPOD_HOME`, with their
/// modification times.
fn compiled_entries(home: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut entries: Vec<_> = std::fs::read_dir(home.join("cache/compiled"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let modified = e.metadata().ok()?.modified().ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), modified))
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
}

/// An image whose modules are Wasm layers, not files: containerd 1.7.7+
/// pulls it with an empty rootfs, and the shim reads the layers from
/// containerd's content store. `args[0]` picks a layer by its title.
#[test]
fn wasm_layers_come_from_the_content_store_of_containerd_1_7() {
    let probe = std::fs::read(guests::PROBE).expect("probe");
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let image = wasm_layer_image(
        &[("probe.wasm", &probe), ("hello.wasm", &hello)],
        "/probe.wasm",
    );
    let s = Setup::with(Release::v1_7(), "wasm/layers:v1", &image);

    let o = s.run("layers", &[], &["/probe.wasm", "args", "one"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "argv[0]=/probe.wasm\nargv[1]=args\nargv[2]=one\n"
    );
    // The image config's entrypoint, with no args given (the probe's usage).
    let o = s.run("default", &[], &[]);
    assert_exit(&o, 2, &s.ctd);
    assert!(
        text(&o.stdout).starts_with("usage: probe "),
        "{}",
        text(&o.stdout)
    );
    // Env and exit codes as with any image.
    let o = s.run("env", &["--env", "GREETING=hi"], &["/probe.wasm", "env"]);
    assert_exit(&o, 0, &s.ctd);
    assert!(
        text(&o.stdout).contains("GREETING=hi\n"),
        "{}",
        text(&o.stdout)
    );
    let o = s.run("exit", &[], &["/probe.wasm", "exit", "7"]);
    assert_exit(&o, 7, &s.ctd);

    // exec picks the other layer by its title.
    let child = spawn_run(&s, "host", &["/probe.wasm", "sleep", "30"]);
    wait_running(&s, "host");
    let o = s.exec("host", "e1", &["/bin/hello.wasm", "x"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "Hello from WebAssembly, world!\n  arg 1: x\n"
    );
    // A name that is neither a file nor a layer is refused, naming both.
    let o = s.exec("host", "e2", &["/nope.wasm"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("/nope.wasm: not in the container's rootfs, and image ")
            && text(&o.stderr).contains(
                "has no Wasm layer titled nope.wasm (its Wasm layers: probe.wasm, hello.wasm)"
            ),
        "{}",
        text(&o.stderr)
    );
    s.ctr_ok(&["task", "kill", "-s", "SIGKILL", "host"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 137, &s.ctd);

    // Each module was compiled once; the runs after the first, and the
    // same module as a file of a compat image, load the cached code.
    let before = compiled_entries(s.home());
    assert_eq!(before.len(), 2, "{before:?}");
    let compat = format!("{}/wasm/compat:v1", s._registry.addr());
    push_image(
        &compat,
        &compat_image(&[("/app/hello.wasm", &hello)], "/app/hello.wasm"),
    );
    s.ctr_ok(&["images", "pull", "--plain-http", &compat]);
    let o = s
        .ctd
        .ctr()
        .args(["run", "--rm", "--runtime", RUNTIME, &compat, "compat"])
        .stdin(Stdio::null())
        .output()
        .expect("ctr run");
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(text(&o.stdout), "Hello from WebAssembly, world!\n");
    assert_eq!(
        compiled_entries(s.home()),
        before,
        "something was compiled again"
    );

    // A layer whose compiled code is cached is not even read: with its
    // blob gone from containerd's content store, it still runs. Without
    // the cached code, the missing blob is named.
    let hello_layer = wasmpod_oci::Digest::of(&hello).to_string();
    s.ctr_ok(&["content", "rm", &hello_layer]);
    let child = spawn_run(&s, "host2", &["/probe.wasm", "sleep", "30"]);
    wait_running(&s, "host2");
    let o = s.exec("host2", "e1", &["/hello.wasm"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(text(&o.stdout), "Hello from WebAssembly, world!\n");
    for (name, _) in compiled_entries(s.home()) {
        std::fs::remove_file(s.home().join("cache/compiled").join(name)).expect("rm entry");
    }
    let o = s.exec("host2", "e2", &["/hello.wasm"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains(&format!(
            "/hello.wasm: not in the container's rootfs, and blob {hello_layer} in containerd's content store is missing"
        )),
        "{}",
        text(&o.stderr)
    );
    s.ctr_ok(&["task", "kill", "-s", "SIGKILL", "host2"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 137, &s.ctd);
}

/// A setup whose image holds the TCP server guest (`/tcp-hello.wasm PORT`,
/// the entrypoint) and the probe.
fn tcp_setup() -> Setup {
    let tcp = std::fs::read(guests::TCP_HELLO_WAT_WASM).expect("tcp-hello");
    let probe = std::fs::read(guests::PROBE).expect("probe");
    let image = compat_image(
        &[("/tcp-hello.wasm", &tcp), ("/probe.wasm", &probe)],
        "/tcp-hello.wasm",
    );
    Setup::with(Release::debian(), "wasm/tcp-hello:v1", &image)
}

/// A TCP port nothing on the host's loopback listens on (just now).
fn free_host_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs the TCP server guest on a port that is free on the host and
/// returns the `ctr run` and that port, once the guest listens.
fn spawn_tcp_server(s: &Setup, flags: &[&str], id: &str) -> (std::process::Child, u16) {
    use std::io::BufRead as _;
    let port = free_host_port().to_string();
    let mut child = spawn_run_with(s, flags, id, &["/tcp-hello.wasm", &port]);
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{id} never said where it listens\n{}", s.ctd.log()));
    assert_eq!(line, format!("listening on 0.0.0.0:{port}\n"), "{id}");
    (child, port.parse().expect("port"))
}

/// What a connection to `127.0.0.1:port` reads, or the connect error.
fn greeting(port: u16) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut got = String::new();
    stream.read_to_string(&mut got)?;
    Ok(got)
}

/// What a connection to `127.0.0.1:port` in the network namespace of
/// process `pid` reads.
fn greeting_in(pid: &str, port: u16) -> std::io::Result<String> {
    let netns = format!("/proc/{pid}/ns/net");
    std::thread::spawn(move || {
        use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
        use std::os::fd::AsFd as _;
        let file = std::fs::File::open(&netns)?;
        // Moves only this thread, a thread of its own that ends after the
        // connection.
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))?;
        greeting(port)
    })
    .join()
    .expect("thread")
}

/// Plain `ctr run` (without `--net-host`) lists a network namespace without
/// a path, which asks for a new, empty one: the guest's sockets are not on
/// the host's network, so a server it runs is not on the host's loopback
/// (only on the loopback of its own namespace, which is up). With
/// `--net-host` the same server is.
#[test]
fn plain_ctr_run_keeps_the_guest_off_the_host_network() {
    let s = tcp_setup();

    let (child, port) = spawn_tcp_server(&s, &[], "own-net");
    let err = greeting(port).expect_err("the guest's server is on the host's loopback");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    // The guest listens in the shim's own namespace, on its loopback.
    let shim = shim_pid(&s, "own-net");
    let ns = |p: &str| std::fs::read_link(p).expect(p);
    assert_ne!(ns(&format!("/proc/{shim}/ns/net")), ns("/proc/self/ns/net"));
    assert_eq!(
        greeting_in(&shim, port).expect("the guest on its namespace's loopback"),
        "hello from wasm\n"
    );
    s.ctr_ok(&["task", "kill", "-s", "SIGKILL", "own-net"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 137, &s.ctd);

    let (child, port) = spawn_tcp_server(&s, &["--net-host"], "host-net");
    assert_eq!(
        greeting(port).expect("the host-network guest on the host's loopback"),
        "hello from wasm\n"
    );
    s.ctr_ok(&["task", "kill", "-s", "SIGKILL", "host-net"]);
    let out = child.wait_with_output().expect("wait");
    assert_exit(&out, 137, &s.ctd);
}

/// The containers of a group (a pod, by its sandbox id) share one shim, so
/// one network namespace: a container asking for the host's network in a
/// group whose shim has a namespace of its own is refused, naming why,
/// and one asking for a new namespace gets the group's (never the host's).
#[test]
fn a_pods_containers_share_its_network_namespace_and_never_the_hosts() {
    let s = tcp_setup();
    let pod = ["--annotation", "io.kubernetes.cri.sandbox-id=netpod"];
    let (first, port) = spawn_tcp_server(&s, &pod, "first");
    let err = greeting(port).expect_err("the first container is on the host's loopback");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

    let mut host = pod.to_vec();
    host.push("--net-host");
    let o = s.run("second", &host, &["/probe.wasm", "args"]);
    assert!(
        !o.status.success(),
        "a host-network container ran in the pod"
    );
    assert!(
        text(&o.stderr).contains("asks for the host's network")
            && text(&o.stderr).contains("share its shim's network namespace"),
        "{}",
        text(&o.stderr)
    );

    // A second container asking for a new namespace shares the first's:
    // both servers are on that namespace's loopback, neither on the host's.
    let (third, port3) = spawn_tcp_server(&s, &pod, "third");
    let err = greeting(port3).expect_err("the third container is on the host's loopback");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let shim = shim_pid(&s, "third");
    assert_eq!(shim, shim_pid(&s, "first"));
    for p in [port, port3] {
        assert_eq!(
            greeting_in(&shim, p).expect("in the pod"),
            "hello from wasm\n"
        );
    }
    for (id, child) in [("third", third), ("first", first)] {
        s.ctr_ok(&["task", "kill", "-s", "SIGKILL", id]);
        let out = child.wait_with_output().expect("wait");
        assert_exit(&out, 137, &s.ctd);
    }
}

/// A module Go's own toolchain built (`GOOS=wasip1`), run by `ctr`: deep
/// recursion on the default stack, a stack set by annotation, a bind
/// mount, env and exit codes.
#[test]
fn go_built_modules_run_and_the_stack_annotation_applies() {
    let go = std::fs::read(guests::GO_PROBE).expect("go probe");
    let image = compat_image(&[("/go-probe.wasm", &go)], "/go-probe.wasm");
    let s = Setup::with(Release::debian(), "wasm/go:v1", &image);
    let o = s.run("deep", &[], &["/go-probe.wasm", "json", "4000"]);
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "json ok: 4000 levels, 32006 bytes, leaf leaf\n"
    );
    let o = s.run(
        "shallow",
        &["--annotation", "wasmpod.dev/max-wasm-stack=512Ki"],
        &["/go-probe.wasm", "json", "4000"],
    );
    assert_exit(&o, 134, &s.ctd);
    // A value the engine cannot take fails the create, naming it.
    let o = s.run(
        "bad",
        &["--annotation", "wasmpod.dev/max-wasm-stack=1Ki"],
        &["/go-probe.wasm", "exit", "0"],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("invalid annotation wasmpod.dev/max-wasm-stack: "),
        "{}",
        text(&o.stderr)
    );

    let data = tempfile::tempdir().expect("tmp");
    let mount = format!(
        "type=bind,src={},dst=/data,options=rbind:rw",
        data.path().display()
    );
    let o = s.run(
        "files",
        &["--mount", &mount],
        &["/go-probe.wasm", "files", "/data"],
    );
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "read back: written by Go\nentries: [from-go.txt]\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.path().join("from-go.txt")).expect("on the host"),
        "written by Go\n"
    );
    let o = s.run(
        "env",
        &["--env", "GREETING=hello from go"],
        &["/go-probe.wasm", "env", "GREETING", "WASMPOD_HOME"],
    );
    assert_exit(&o, 0, &s.ctd);
    assert_eq!(
        text(&o.stdout),
        "GREETING=hello from go\nWASMPOD_HOME unset\n"
    );
    let o = s.run("exit", &[], &["/go-probe.wasm", "exit", "42"]);
    assert_exit(&o, 42, &s.ctd);
}
