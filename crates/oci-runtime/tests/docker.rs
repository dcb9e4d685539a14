//! wasmpod-oci under Docker Engine 20.10: a dockerd of its own with the
//! runtime registered as `wasmpod` (`--add-runtime`), which
//! containerd-shim-runc-v2 then calls exactly as it calls runc
//! (docs/oci-callers.md). The image is `common::image()`: the probe module
//! as entrypoint, the probe as a WASI 0.2 component and a `wasi:http`
//! component beside it, run with `--entrypoint` or `docker exec`.
//!
//! Daemon tier (`--features daemon`): root and docker.io, or a loud
//! failure naming the fix.

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use wasmpod_testkit::{
    Dockerd, HttpError, KillOnDrop, free_port, http_get, output_within, wait_for, wait_until,
};

mod common;
use common::{COMPONENT, HTTP, IMAGE, PROBE, text};

/// How long a container may take to reach a state a test waits for.
const LIMIT: Duration = Duration::from_secs(60);

/// One dockerd with the image loaded, shared by the tests that run at the
/// same time and stopped when the last of them ends (each test names its
/// containers, so they never see each other's).
fn dockerd() -> Arc<Dockerd> {
    static SHARED: Mutex<Weak<Dockerd>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = shared.upgrade() {
        return d;
    }
    let runtime = Path::new(env!("CARGO_BIN_EXE_wasmpod-oci"));
    let d = Arc::new(Dockerd::start(&[("wasmpod", runtime)]));
    d.load(&common::image().archive());
    *shared = Arc::downgrade(&d);
    d
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, stdout: &str, dockerd: &Dockerd) {
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(code), stdout),
        "stderr:\n{}\ndockerd's log:\n{}",
        text(&out.stderr),
        dockerd.log()
    );
}

/// `docker run --runtime wasmpod --rm ARGS...`.
fn run_rm(d: &Dockerd, args: &[&str]) -> Output {
    let mut all = vec!["run", "--runtime", "wasmpod", "--rm"];
    all.extend_from_slice(args);
    d.output(&all)
}

/// `docker inspect -f FORMAT NAME`, trimmed.
fn inspect(d: &Dockerd, format: &str, name: &str) -> String {
    d.ok(&["inspect", "-f", format, name]).trim().to_string()
}

/// A container name unique to this test process.
fn name(test: &str) -> String {
    format!("wasmpod-oci-{test}-{}", std::process::id())
}

/// Removes the named container when dropped, whatever became of the test.
struct Removed<'a>(&'a Dockerd, String);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let mut rm = self.0.docker();
        rm.args(["rm", "--force", &self.1])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(child) = rm.spawn() {
            let _ = KillOnDrop(child).wait_within(LIMIT);
        }
    }
}

#[test]
fn run_rm_passes_args_env_output_and_exit_codes_of_modules_and_components() {
    let d = dockerd();
    // WASI 0.2's `exit` carries success or failure only: a component's
    // `exit 3` is a failure, 1.
    for (entrypoint, three) in [(PROBE, 3), (COMPONENT, 1)] {
        // `docker run --rm --entrypoint E FLAGS... IMAGE ARGS...`
        let run = |flags: &[&str], args: &[&str]| {
            let mut all = vec!["--entrypoint", entrypoint];
            all.extend_from_slice(flags);
            all.push(IMAGE);
            all.extend_from_slice(args);
            run_rm(&d, &all)
        };
        let out = run(&[], &["args", "a b", "c"]);
        let expected = format!("argv[0]={entrypoint}\nargv[1]=args\nargv[2]=a b\nargv[3]=c\n");
        assert_exit(&out, 0, &expected, &d);

        let out = run(&["-e", "GREETING=hello there"], &["env"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let env = text(&out.stdout);
        let lines: Vec<&str> = env.lines().collect();
        assert!(lines.contains(&"GREETING=hello there"), "{env}");
        assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{env}");
        assert_eq!(lines.last(), Some(&"env-end"), "{env}");

        assert_exit(&run(&[], &["exit", "3"]), three, "exiting with 3\n", &d);
        assert_exit(&run(&[], &["exit", "0"]), 0, "exiting with 0\n", &d);
    }
    // Without --entrypoint, the image's: the module.
    let out = run_rm(&d, &[IMAGE, "args"]);
    assert_exit(&out, 0, "argv[0]=/probe.wasm\nargv[1]=args\n", &d);
}

#[test]
fn run_rm_with_a_terminal_stdin_and_a_memory_limit() {
    let d = dockerd();
    // -t: the shim's console socket; lines come through a terminal.
    let out = run_rm(&d, &["-t", IMAGE, "args", "tty"]);
    assert_exit(
        &out,
        0,
        "argv[0]=/probe.wasm\r\nargv[1]=args\r\nargv[2]=tty\r\n",
        &d,
    );
    // -i: create's stdin is the shim's pipe, and the guest's.
    let mut run = d.docker();
    run.args(["run", "--runtime", "wasmpod", "--rm", "-i", IMAGE, "stdin"]);
    let out = output_within(run, Some("one\ntwo\n"), LIMIT);
    assert_exit(&out, 0, "ready\ngot: one\ngot: two\nstdin closed\n", &d);
    // --memory: the spec's limit, less the runtime's own share, is the
    // guest's; it runs out without the container being OOM-killed.
    let out = run_rm(&d, &["--memory", "64m", IMAGE, "alloc", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let got: u32 = line
        .strip_prefix("allocated ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(got < 64, "{line}");
}

#[test]
fn a_module_missing_from_the_image_fails_the_run_and_leaves_no_cgroup() {
    let d = dockerd();
    let name = name("missing");
    let _removed = Removed(&d, name.clone());
    let out = d.output(&[
        "run",
        "--runtime",
        "wasmpod",
        "--name",
        &name,
        "--entrypoint",
        "/nope.wasm",
        IMAGE,
    ]);
    // 127, as for runc: Docker reads "no such file or directory" in the
    // runtime's line as a missing command.
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    // The shim passes on the runtime's own line from its JSON log.
    assert!(
        text(&out.stderr).contains(
            "OCI runtime create failed: the Wasm entrypoint /nope.wasm is not in the container's rootfs"
        ),
        "{}",
        text(&out.stderr)
    );
    let id = inspect(&d, "{{.Id}}", &name);
    let cgroup = Path::new("/sys/fs/cgroup/memory")
        .join(d.cgroup_parent().trim_start_matches('/'))
        .join(&id);
    assert!(!cgroup.exists(), "{} is left behind", cgroup.display());
}

#[test]
fn volumes_are_granted_read_write_or_read_only() {
    let d = dockerd();
    let host = tempfile::tempdir().expect("tmp");
    let rw = format!("{}:/data", host.path().display());
    let out = run_rm(
        &d,
        &["-v", &rw, IMAGE, "write", "/data/out", "from the guest"],
    );
    assert_exit(&out, 0, "wrote /data/out\n", &d);
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).expect("the guest's file"),
        "from the guest"
    );
    let out = run_rm(&d, &["-v", &rw, IMAGE, "cat", "/data/out"]);
    assert_exit(&out, 0, "from the guest", &d);

    let ro = format!("{}:/data:ro", host.path().display());
    let out = run_rm(&d, &["-v", &ro, IMAGE, "write", "/data/denied", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("open /data/denied failed: "),
        "{}",
        text(&out.stdout)
    );
    assert!(!host.path().join("denied").exists());
    let out = run_rm(&d, &["-v", &ro, IMAGE, "cat", "/data/out"]);
    assert_exit(&out, 0, "from the guest", &d);
}

#[test]
fn a_detached_container_logs_execs_is_listed_and_stops_with_143() {
    let d = dockerd();
    let name = name("detached");
    let _removed = Removed(&d, name.clone());
    d.ok(&[
        "run",
        "--runtime",
        "wasmpod",
        "--detach",
        "--name",
        &name,
        IMAGE,
        "sleep",
        "600",
    ]);
    wait_until(LIMIT, "`sleeping` in docker logs", || {
        text(&d.output(&["logs", &name]).stdout) == "sleeping\n"
    });
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "running");
    let ps = d.ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(ps.starts_with(&format!("{name} Up ")), "{ps}");

    // `docker top` asks the runtime for the pids (`ps --format json`).
    let pid = inspect(&d, "{{.State.Pid}}", &name);
    assert_ne!(pid, "0");
    let top = d.ok(&["top", &name]);
    let row = top
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("pid {pid} in docker top:\n{top}"));
    assert!(row.contains("wasmpod-oci"), "{row}");

    // Another guest of the image, in the running container.
    let out = d.output(&["exec", &name, COMPONENT, "args", "x"]);
    assert_exit(
        &out,
        0,
        "argv[0]=/component.wasm\nargv[1]=args\nargv[2]=x\n",
        &d,
    );
    let out = d.output(&["exec", "--env", "FROM_EXEC=1", &name, PROBE, "env"]);
    assert!(
        text(&out.stdout).lines().any(|l| l == "FROM_EXEC=1"),
        "{}",
        text(&out.stdout)
    );
    let out = d.output(&["exec", &name, PROBE, "exit", "5"]);
    assert_exit(&out, 5, "exiting with 5\n", &d);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "running");

    d.ok(&["pause", &name]);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "paused");
    d.ok(&["unpause", &name]);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "running");

    // `docker update` reaches the runtime as `update --resources -`.
    d.ok(&["update", "--memory", "300m", "--memory-swap", "300m", &name]);
    let id = inspect(&d, "{{.Id}}", &name);
    let limit = Path::new("/sys/fs/cgroup/memory")
        .join(d.cgroup_parent().trim_start_matches('/'))
        .join(&id)
        .join("memory.limit_in_bytes");
    assert_eq!(
        std::fs::read_to_string(&limit)
            .unwrap_or_else(|e| panic!("{}: {e}", limit.display()))
            .trim(),
        (300u64 << 20).to_string()
    );

    d.ok(&["stop", &name]);
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name),
        "exited 143"
    );
    let ps = d.ok(&[
        "ps",
        "--all",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Exited (143)"), "{ps}");
    assert_eq!(text(&d.output(&["logs", &name]).stdout), "sleeping\n");

    // Started again: a new create of the same ID; `docker kill` is SIGKILL.
    d.ok(&["start", &name]);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "running");
    d.ok(&["kill", &name]);
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name),
        "exited 137"
    );
}

#[test]
fn network_none_runs_docker_s_prestart_hook() {
    let d = dockerd();
    // libnetwork-setkey, run as a prestart hook, tells dockerd the
    // container's namespace; without it the run would fail.
    let out = run_rm(&d, &["--network", "none", IMAGE, "args", "none"]);
    assert_exit(
        &out,
        0,
        "argv[0]=/probe.wasm\nargv[1]=args\nargv[2]=none\n",
        &d,
    );

    let name = name("netnone");
    let _removed = Removed(&d, name.clone());
    d.ok(&[
        "run",
        "--runtime",
        "wasmpod",
        "--detach",
        "--network",
        "none",
        "--name",
        &name,
        IMAGE,
        "sleep",
        "600",
    ]);
    wait_until(LIMIT, "the container to run", || {
        inspect(&d, "{{.State.Status}}", &name) == "running"
    });
    // The namespace dockerd learnt from the hook is the container's.
    let key = inspect(&d, "{{.NetworkSettings.SandboxKey}}", &name);
    let pid = inspect(&d, "{{.State.Pid}}", &name);
    let inode = |path: &str| {
        std::fs::metadata(path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(inode(&key), inode(&format!("/proc/{pid}/ns/net")), "{key}");
    assert_ne!(inode(&key), inode("/proc/self/ns/net"), "not the host's");
}

#[test]
fn a_wasi_http_component_serves_on_the_host_network_until_stopped() {
    let d = dockerd();
    let name = name("http");
    let _removed = Removed(&d, name.clone());
    let addr = format!("127.0.0.1:{}", free_port());
    d.ok(&[
        "run",
        "--runtime",
        "wasmpod",
        "--detach",
        "--network",
        "host",
        "--name",
        &name,
        "--env",
        &format!("WASMPOD_HTTP_LISTEN={addr}"),
        "--entrypoint",
        HTTP,
        IMAGE,
    ]);
    let answer = wait_for(LIMIT, &format!("an answer on {addr}"), || {
        http_get(&addr, "/").ok()
    });
    assert_eq!(answer, (200, "hello from wasm\n".to_string()));
    assert_eq!(
        http_get(&addr, "/fail").expect("GET /fail"),
        (500, "failing\n".to_string())
    );
    d.ok(&["stop", &name]);
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name),
        "exited 143"
    );
    assert!(http_get(&addr, "/").is_err(), "nothing serves {addr} now");
}

#[test]
fn a_wasi_http_component_in_its_own_network_namespace_is_off_the_host() {
    let d = dockerd();
    let name = name("http-own-net");
    let _removed = Removed(&d, name.clone());
    // This dockerd has no bridge: without --network the container gets a
    // new, empty namespace (lo only). The server listens on every address
    // of that namespace, on a port free on the host.
    let port = free_port();
    d.ok(&[
        "run",
        "--runtime",
        "wasmpod",
        "--detach",
        "--name",
        &name,
        "--env",
        &format!("WASMPOD_HTTP_LISTEN={port}"),
        "--entrypoint",
        HTTP,
        IMAGE,
    ]);
    let pid = wait_for(LIMIT, "the container's pid", || {
        Some(inspect(&d, "{{.State.Pid}}", &name)).filter(|p| p != "0")
    });
    let addr = format!("127.0.0.1:{port}");
    let answer = wait_for(
        LIMIT,
        &format!("an answer on {addr} in its namespace"),
        || http_get_in(&pid, &addr).ok(),
    );
    assert_eq!(answer, (200, "hello from wasm\n".to_string()));
    match http_get(&addr, "/") {
        Err(HttpError::Connect(_)) => {}
        other => panic!("the host's {addr} answered: {other:?}"),
    }
    d.ok(&["stop", &name]);
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "143");
}

/// `GET /` from `addr` in the network namespace of process `pid`.
fn http_get_in(pid: &str, addr: &str) -> Result<(u16, String), HttpError> {
    let netns = format!("/proc/{pid}/ns/net");
    let addr = addr.to_string();
    std::thread::spawn(move || {
        use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
        use std::os::fd::AsFd as _;
        let file = std::fs::File::open(&netns).map_err(|e| HttpError::Connect(e.to_string()))?;
        // Moves only this thread, which ends after the request.
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| HttpError::Connect(format!("setns {netns}: {e}")))?;
        http_get(&addr, "/")
    })
    .join()
    .expect("the request's thread")
}
