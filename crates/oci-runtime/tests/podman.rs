//! Podman 4.3 with conmon runs Wasm images through wasmpod-oci: `podman
//! --runtime wasmpod run`, with a Podman of the test's own (testkit's
//! `Podman`: its own root, run root and configuration).
//!
//! Daemon tier: root, podman, conmon.

use std::process::Output;
use std::time::Duration;

use wasmpod_testkit::{LocalImage, Podman};

const BIN: &str = env!("CARGO_BIN_EXE_wasmpod-oci");
const PROBE: &str = "localhost/wasmpod-test/probe:1";
const COMPONENT: &str = "localhost/wasmpod-test/probe-component:1";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A Podman with wasmpod-oci registered as `wasmpod`, and the probe as a
/// preview 1 module and as a WASI 0.2 component, in images of the `wasi`
/// platform with the module as the entrypoint.
fn podman() -> Podman {
    let podman = Podman::builder()
        .json_runtime("wasmpod", BIN.as_ref())
        .start();
    for (name, guest) in [
        (PROBE, wasmpod_test_guests::PROBE),
        (COMPONENT, wasmpod_test_guests::PROBE_COMPONENT),
    ] {
        let bytes = std::fs::read(guest).expect("guest");
        podman.load(
            &LocalImage::single_file(name, "/app.wasm", &bytes)
                .platform("wasi", "wasm")
                .archive(),
        );
    }
    podman
}

fn run(podman: &Podman, args: &[&str]) -> Output {
    let mut all = vec!["--runtime", "wasmpod", "run", "--rm"];
    all.extend_from_slice(args);
    podman.output(&all)
}

#[test]
fn podman_run_passes_args_env_mounts_and_exit_codes() {
    let podman = podman();
    let out = run(&podman, &[PROBE, "args", "one", "two"]);
    assert_eq!(
        assert_exit(&out, 0),
        "argv[0]=/app.wasm\nargv[1]=args\nargv[2]=one\nargv[3]=two\n"
    );
    assert_exit(&run(&podman, &[PROBE, "exit", "3"]), 3);
    let env = assert_exit(&run(&podman, &["-e", "GREETING=hi", COMPONENT, "env"]), 0);
    assert!(env.lines().any(|l| l == "GREETING=hi"), "{env}");

    // -v: a read-write volume the guest writes to, and a read-only one it
    // cannot.
    let rw = tempfile::tempdir().expect("tmp");
    let ro = tempfile::tempdir().expect("tmp");
    std::fs::write(ro.path().join("kept.txt"), "unchanged\n").expect("w");
    let rw_mount = format!("{}:/data", rw.path().display());
    let ro_mount = format!("{}:/config:ro", ro.path().display());
    let out = run(
        &podman,
        &[
            "-v",
            &rw_mount,
            "-v",
            &ro_mount,
            PROBE,
            "write",
            "/data/out.txt",
            "written",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        std::fs::read_to_string(rw.path().join("out.txt")).expect("out.txt"),
        "written"
    );
    let out = run(
        &podman,
        &[
            "-v",
            &ro_mount,
            COMPONENT,
            "write",
            "/config/kept.txt",
            "changed",
        ],
    );
    let stdout = assert_exit(&out, 1);
    assert!(stdout.contains("failed"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(ro.path().join("kept.txt")).expect("kept"),
        "unchanged\n"
    );
    let cat = assert_exit(
        &run(
            &podman,
            &["-v", &ro_mount, PROBE, "cat", "/config/kept.txt"],
        ),
        0,
    );
    assert_eq!(cat, "unchanged\n");
    // Nothing of the host beyond the grants: the host's /etc is not there.
    let out = run(&podman, &[PROBE, "cat", "/etc/hostname"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        podman.ok(&["ps", "--all", "--quiet"]),
        "",
        "--rm removed them"
    );
}

#[test]
fn podman_logs_exec_ps_inspect_and_stop_a_detached_guest() {
    let podman = podman();
    podman.ok(&[
        "--runtime",
        "wasmpod",
        "run",
        "-d",
        "--name",
        "sleeper",
        PROBE,
        "sleep",
        "120",
    ]);
    let inspect = |format: &str| {
        podman
            .ok(&["inspect", "--format", format, "sleeper"])
            .trim()
            .to_string()
    };
    wasmpod_testkit::wait_until(Duration::from_secs(30), "the guest's first line", || {
        podman.ok(&["logs", "sleeper"]) == "sleeping\n"
    });
    assert_eq!(inspect("{{.State.Status}}"), "running");
    assert_eq!(inspect("{{.OCIRuntime}}"), "wasmpod");
    let ps = podman.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("sleeper Up"), "{ps}");

    // exec: another guest with the container's grants.
    let out = podman.output(&["exec", "sleeper", "/app.wasm", "args", "x"]);
    assert_eq!(
        assert_exit(&out, 0),
        "argv[0]=/app.wasm\nargv[1]=args\nargv[2]=x\n"
    );
    let out = podman.output(&["exec", "sleeper", "/app.wasm", "exit", "4"]);
    assert_exit(&out, 4);

    // pause and unpause.
    podman.ok(&["pause", "sleeper"]);
    assert_eq!(inspect("{{.State.Status}}"), "paused");
    podman.ok(&["unpause", "sleeper"]);
    assert_eq!(inspect("{{.State.Status}}"), "running");

    // stop: SIGTERM, which ends the guest with 143.
    podman.ok(&["stop", "--time", "10", "sleeper"]);
    assert_eq!(inspect("{{.State.Status}}"), "exited");
    assert_eq!(inspect("{{.State.ExitCode}}"), "143");
    podman.ok(&["rm", "sleeper"]);
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]), "");
}

#[test]
fn a_wasi_http_component_is_served_until_podman_stops_it() {
    let podman = podman();
    let bytes = std::fs::read(wasmpod_test_guests::HTTP_HELLO_WAT_WASM).expect("guest");
    let image = "localhost/wasmpod-test/http-hello:1";
    podman.load(
        &LocalImage::single_file(image, "/app.wasm", &bytes)
            .platform("wasi", "wasm")
            .archive(),
    );
    let port = wasmpod_testkit::free_port();
    let listen = format!("WASMPOD_HTTP_LISTEN=127.0.0.1:{port}");
    podman.ok(&[
        "--runtime",
        "wasmpod",
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "host",
        "-e",
        &listen,
        image,
    ]);
    let answer = wasmpod_testkit::wait_for(Duration::from_secs(30), "the service", || {
        wasmpod_testkit::http_get(&format!("127.0.0.1:{port}"), "/").ok()
    });
    assert_eq!(answer.0, 200);
    assert!(answer.1.contains("hello"), "{}", answer.1);
    podman.ok(&["stop", "--time", "10", "web"]);
    let code = podman.ok(&["inspect", "--format", "{{.State.ExitCode}}", "web"]);
    assert_eq!(code.trim(), "143");
    podman.ok(&["rm", "web"]);
}

#[test]
fn as_podman_s_default_runtime_it_hands_native_images_to_runc() {
    let config_dir = tempfile::tempdir().expect("tmp");
    let config = config_dir.path().join("oci.toml");
    std::fs::write(&config, "native-runtime = \"/usr/sbin/runc\"\n").expect("config");
    let podman = Podman::builder()
        .json_runtime("wasmpod", BIN.as_ref())
        .default_runtime("wasmpod")
        .conmon_env("WASMPOD_OCI_CONFIG", &config.display().to_string())
        .start();
    let busybox = "localhost/wasmpod-test/busybox:1";
    podman.load(&LocalImage::busybox(busybox).archive());
    let bytes = std::fs::read(wasmpod_test_guests::PROBE).expect("guest");
    podman.load(
        &LocalImage::single_file(PROBE, "/app.wasm", &bytes)
            .platform("wasi", "wasm")
            .archive(),
    );
    // No --runtime: the default, wasmpod-oci, for both.
    let out = podman.output(&["run", "--rm", busybox, "sh", "-c", "echo native; exit 3"]);
    assert_eq!(assert_exit(&out, 3), "native\n");
    let out = podman.output(&["run", "--rm", "--platform", "wasi/wasm", PROBE, "exit", "5"]);
    assert_exit(&out, 5);

    // A detached native container: stop (kill), inspect and rm reach runc
    // through wasmpod-oci with Podman's own environment.
    podman.ok(&["run", "-d", "--name", "native", busybox, "sleep", "120"]);
    let state = podman.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.OCIRuntime}}",
        "native",
    ]);
    assert_eq!(state.trim(), "running wasmpod");
    let top = podman.ok(&["exec", "native", "echo", "in runc"]);
    assert_eq!(top, "in runc\n");
    podman.ok(&["stop", "--time", "1", "native"]);
    let code = podman.ok(&["inspect", "--format", "{{.State.ExitCode}}", "native"]);
    assert_eq!(code.trim(), "137", "busybox sleep ignores SIGTERM as PID 1");
    podman.ok(&["rm", "native"]);
    assert_eq!(podman.ok(&["ps", "--all", "--quiet"]), "");
}

#[test]
fn the_guest_runs_as_the_container_s_user() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let podman = podman();
    let open = tempfile::tempdir().expect("tmp");
    let locked = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::set_permissions(locked.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let open_mount = format!("{}:/open", open.path().display());
    let locked_mount = format!("{}:/locked", locked.path().display());
    let as_user = |args: &[&str]| {
        let mut all = vec![
            "--user",
            "1000:1000",
            "-v",
            &open_mount,
            "-v",
            &locked_mount,
        ];
        all.extend_from_slice(args);
        run(&podman, &all)
    };
    // What it writes is the user's.
    assert_exit(&as_user(&[PROBE, "write", "/open/mine.txt", "x"]), 0);
    let meta = std::fs::metadata(open.path().join("mine.txt")).expect("written");
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    // A folder only root may write to stays closed to it, as to a native
    // process of that user, although the volume is read-write.
    let out = as_user(&[COMPONENT, "write", "/locked/no.txt", "x"]);
    assert_exit(&out, 1);
    assert!(!locked.path().join("no.txt").exists());
    // Root (the default) may.
    let out = run(
        &podman,
        &["-v", &locked_mount, PROBE, "write", "/locked/root.txt", "x"],
    );
    assert_exit(&out, 0);
    assert_eq!(
        std::fs::metadata(locked.path().join("root.txt"))
            .expect("root's")
            .uid(),
        0
    );
}
