//! The callers of a low-level OCI runtime, driven through testkit's harness
//! with runc, the native baseline: Podman 4.3 with conmon, Docker Engine
//! 20.10 through containerd-shim-runc-v2, and `ctr run --runc-binary`. The
//! tests of wasmpod-oci do the same with their runtime; the call sequences
//! asserted here are the ones docs/oci-callers.md describes.
//!
//! Daemon tier (`--features daemon`): root, podman, conmon, docker.io,
//! containerd, runc and busybox-static, or a loud failure naming the fix.

use std::path::Path;
use std::process::Output;

use wasmpod_testkit::{CallLog, Containerd, Dockerd, LocalImage, Podman, RuntimeCall};

const RUNC: &str = "/usr/sbin/runc";
const BUSYBOX: &str = "localhost/wasmpod-test/busybox:1";
const WASM: &str = "localhost/wasmpod-test/wasm:1";
/// The smallest Wasm module: the magic number and version 1.
const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

fn runc() -> &'static Path {
    let runc = Path::new(RUNC);
    assert!(
        runc.is_file(),
        "{RUNC} is not installed: run `make setup` (Debian package runc)"
    );
    runc
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, stdout: &str) {
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(code), stdout),
        "stderr:\n{}",
        text(&out.stderr)
    );
}

/// The calls' subcommands and callers, in order.
fn sequence(calls: &[RuntimeCall]) -> Vec<(String, String)> {
    calls
        .iter()
        .map(|c| {
            let first = c.args.first().map_or("", String::as_str);
            (
                c.subcommand().unwrap_or(first).to_string(),
                c.caller().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn podman_run_rm_passes_output_and_exit_code_through() {
    let podman = Podman::builder().json_runtime("test-runc", runc()).start();
    podman.load(&LocalImage::busybox(BUSYBOX).archive());
    let out = podman.output(&[
        "--runtime",
        "test-runc",
        "run",
        "--rm",
        BUSYBOX,
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    assert_exit(&out, 3, "hi\n");
    assert_eq!(
        podman.ok(&["ps", "--all", "--quiet"]),
        "",
        "--rm removed it"
    );
}

#[test]
fn podman_creates_through_conmon_and_starts_and_deletes_itself() {
    let json = CallLog::wrapping(runc());
    let plain = CallLog::wrapping(runc());
    let podman = Podman::builder()
        .json_runtime("logged-json", &json.runtime())
        .runtime("logged-plain", &plain.runtime())
        .start();
    podman.load(&LocalImage::busybox(BUSYBOX).archive());
    for name in ["logged-json", "logged-plain"] {
        let out = podman.output(&["--runtime", name, "run", "--rm", BUSYBOX, "true"]);
        assert_exit(&out, 0, "");
    }

    // `podman info` (Podman::start checks the configuration with it) asks
    // the default runtime for its version; then the run.
    let calls = json.calls();
    assert_eq!(
        sequence(&calls),
        pairs(&[
            ("--version", "podman"),
            ("create", "conmon"),
            ("start", "podman"),
            ("delete", "podman")
        ])
    );
    let create = &calls[1];
    let flags = create.global_flags();
    assert_eq!(
        flags[..2],
        ["--log-format=json", "--log"],
        "{}",
        create.record
    );
    assert!(flags[2].ends_with("/userdata/oci-log"), "{flags:?}");
    let args = create.subcommand_args();
    let id = args.last().expect("the container id");
    assert_eq!(args[0], "--bundle");
    assert!(args.contains(&"--pid-file".to_string()), "{args:?}");
    assert_eq!(calls[2].args, ["start", id.as_str()]);
    assert_eq!(calls[3].args, ["delete", "--force", id.as_str()]);
    let config = create.config.as_ref().expect("config.json");
    assert_eq!(config["process"]["args"][0], "true");
    let cgroups = config["linux"]["cgroupsPath"]
        .as_str()
        .expect("cgroupsPath");
    assert_eq!(cgroups, format!("/libpod_parent/libpod-{id}"));
    let netns = config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n["type"] == "network")
        .expect("a network namespace");
    assert!(netns.get("path").is_none(), "netns none: a new, empty one");

    // A name not in runtime_supports_json gets no log flags (and, not
    // being the default runtime, no `--version` from `podman info`).
    let calls = plain.calls();
    assert_eq!(calls[0].subcommand(), Some("create"));
    assert!(calls[0].global_flags().is_empty(), "{}", calls[0].record);
}

#[test]
fn podman_hands_a_wasi_image_to_the_runtime_named_with_its_annotations() {
    let log = CallLog::wrapping(runc());
    let podman = Podman::builder()
        .json_runtime("test-runc", runc())
        .json_runtime("logged", &log.runtime())
        .platform_runtime("wasi/wasm", "logged")
        .start();
    let image = LocalImage::single_file(WASM, "/app.wasm", EMPTY_MODULE)
        .platform("wasi", "wasm")
        .manifest_annotation("module.wasm.image/variant", "compat");
    podman.load(&image.archive());
    let inspect = podman.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}} {{.Config.Entrypoint}}",
        WASM,
    ]);
    assert_eq!(inspect.trim(), "wasi/wasm [/app.wasm]");

    // Podman 4.3 ignores platform_to_oci_runtime: the default runtime.
    podman.ok(&["create", "--name", "by-platform", WASM]);
    let chosen = podman.ok(&["inspect", "--format", "{{.OCIRuntime}}", "by-platform"]);
    assert_eq!(
        chosen.trim(),
        "test-runc",
        "Podman 4.4+ would pick `logged`"
    );

    // Named, it gets the module as the process and the manifest's
    // annotations (runc itself cannot execute a .wasm, so the run fails).
    let out = podman.output(&["--runtime", "logged", "run", "--rm", WASM]);
    assert!(!out.status.success());
    let calls = log.calls();
    let config = calls
        .iter()
        .find_map(|c| c.config.as_ref())
        .expect("a create with config.json");
    assert_eq!(config["process"]["args"], serde_json::json!(["/app.wasm"]));
    assert_eq!(config["annotations"]["module.wasm.image/variant"], "compat");
}

#[test]
fn docker_run_rm_passes_output_and_exit_code_through() {
    let dockerd = Dockerd::start(&[("test-runc", runc())]);
    dockerd.load(&LocalImage::busybox(BUSYBOX).archive());
    let out = dockerd.output(&[
        "run",
        "--runtime",
        "test-runc",
        "--rm",
        BUSYBOX,
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    assert_exit(&out, 3, "hi\n");
    assert_eq!(
        dockerd.ok(&["ps", "--all", "--quiet"]),
        "",
        "--rm removed it"
    );
}

#[test]
fn docker_runs_the_runtime_as_runc_through_the_shim() {
    let log = CallLog::wrapping(runc());
    let dockerd = Dockerd::start(&[("logged", &log.runtime())]);
    dockerd.load(&LocalImage::busybox(BUSYBOX).archive());
    let out = dockerd.output(&["run", "--runtime", "logged", "--rm", BUSYBOX, "true"]);
    assert_exit(&out, 0, "");

    let calls = log.calls();
    let shim = "containerd-shim";
    assert_eq!(
        sequence(&calls),
        pairs(&[
            ("create", shim),
            ("start", shim),
            ("delete", shim),
            ("delete", shim)
        ])
    );
    let exec = dockerd.dir().join("exec");
    for c in &calls {
        let flags = c.global_flags();
        assert_eq!(flags.len(), 6, "{}", c.record);
        assert_eq!(
            [&flags[0], &flags[1], &flags[4], &flags[5]],
            [
                "--root",
                &exec.join("runtime-runc/moby").display().to_string(),
                "--log-format",
                "json"
            ]
        );
        assert!(flags[3].ends_with("/log.json"), "{flags:?}");
    }
    let id = calls[0].subcommand_args().last().expect("id").clone();
    assert_eq!(calls[2].subcommand_args(), std::slice::from_ref(&id));
    assert_eq!(
        calls[3].subcommand_args(),
        ["--force".to_string(), id.clone()]
    );
    let config = calls[0].config.as_ref().expect("config.json");
    assert_eq!(
        config["linux"]["cgroupsPath"],
        format!("{}/{id}", dockerd.cgroup_parent())
    );
}

#[test]
fn docker_loads_a_linux_single_file_image_but_refuses_a_wasi_one() {
    let dockerd = Dockerd::start(&[("test-runc", runc())]);
    dockerd.load(&LocalImage::single_file(WASM, "/app.wasm", EMPTY_MODULE).archive());
    let entrypoint = dockerd.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.Entrypoint}}",
        WASM,
    ]);
    assert_eq!(entrypoint.trim(), "[/app.wasm]");

    let wasi = LocalImage::single_file("localhost/wasmpod-test/wasi:1", "/app.wasm", EMPTY_MODULE)
        .platform("wasi", "wasm");
    let path = dockerd.dir().join("wasi.tar");
    wasi.write_archive(&path);
    let out = dockerd.output(&["load", "--input", &path.display().to_string()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"wasi\": unknown operating system or architecture"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ctr_run_with_runc_binary_passes_output_and_exit_code_through() {
    let bin = tempfile::tempdir().expect("tmp");
    let ctd = Containerd::start(bin.path(), &[], "");
    let archive = ctd.dir().join("busybox.tar");
    LocalImage::busybox(BUSYBOX).write_archive(&archive);
    let import = wasmpod_testkit::output_within(
        {
            let mut c = ctd.ctr();
            c.args(["images", "import"]).arg(&archive);
            c
        },
        None,
        std::time::Duration::from_secs(60),
    );
    assert!(import.status.success(), "{}", text(&import.stderr));

    let runc_root = ctd.dir().join("runc");
    let mut run = ctd.ctr();
    run.args([
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runc.v2",
        "--runc-binary",
    ])
    .arg(runc())
    .arg("--runc-root")
    .arg(&runc_root)
    .args([BUSYBOX, "c1", "sh", "-c", "echo hi; exit 3"]);
    let out = wasmpod_testkit::output_within(run, None, std::time::Duration::from_secs(60));
    assert_exit(&out, 3, "hi\n");
}
