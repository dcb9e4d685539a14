//! `wasmpod node` against real containerd (Debian's 1.6), as root: the
//! built `wasmpod` installs into temp folders, containerd reads the
//! result (`config dump`), starts with it, and a CRI RunPodSandbox with
//! runtime handler `wasmpod` runs through the installed shim.
//!
//! Needs `cargo build -p wasmpod -p wasmpod-shim` first (the Makefile's
//! test target builds the workspace); a missing binary fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wasmpod_test_guests as guests;
use wasmpod_testkit::cri::{self, Cri, api};
use wasmpod_testkit::{Containerd, PAUSE_IMAGE};

/// `target/debug`, where cargo put the binaries next to `deps/`.
fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target/debug");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p wasmpod -p wasmpod-shim` first",
        path.display()
    );
    path
}

fn wasmpod(args: &[&str]) -> Output {
    target_bin("containerd-shim-wasmpod-v1");
    Command::new(target_bin("wasmpod"))
        .args(args)
        .output()
        .expect("run wasmpod")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn install(config: &Path, bin: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "node",
        "install",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        bin.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    ok(wasmpod(&args))
}

fn dump(config: &Path) -> String {
    let out = Command::new("containerd")
        .arg("--config")
        .arg(config)
        .args(["config", "dump"])
        .output()
        .expect("containerd config dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const HANDLER_V2: &str = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.wasmpod]";

const ORIGINAL: &str = "# my node\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"custom/pause:9\" # keep\n  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n    runtime_type = \"io.containerd.runc.v2\"\n";

#[test]
fn install_is_read_by_containerd_idempotent_and_uninstall_restores_the_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config.toml");
    let bin = dir.path().join("bin");
    std::fs::write(&config, ORIGINAL).expect("write");

    let dry = install(&config, &bin, &["--dry-run"]);
    assert!(dry.contains(&format!("+{HANDLER_V2}")), "{dry}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), ORIGINAL);
    assert!(!bin.exists());

    install(&config, &bin, &[]);
    let once = std::fs::read(&config).expect("read");
    let dumped = dump(&config);
    assert!(dumped.contains(HANDLER_V2), "{dumped}");
    assert!(dumped.contains("runtime_type = \"io.containerd.wasmpod.v1\""));
    assert!(dumped.contains("container_annotations = [\"io.kubernetes.container.ports\"]"));
    assert!(
        dumped.contains("pod_annotations = [\"wasmpod.dev/*\"]"),
        "{dumped}"
    );
    assert!(dumped.contains("custom/pause:9"));
    assert!(dumped.contains("runtimes.runc]"));
    let backup = dir.path().join("config.toml.wasmpod-backup");
    assert_eq!(std::fs::read_to_string(&backup).expect("backup"), ORIGINAL);
    for name in ["containerd-shim-wasmpod-v1", "wasmpod"] {
        use std::os::unix::fs::PermissionsExt as _;
        let installed = bin.join(name);
        let meta = std::fs::metadata(&installed).expect("installed");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{name}");
        assert!(
            std::fs::read(&installed).expect("read")
                == std::fs::read(target_bin(name)).expect("read"),
            "{name} is not a copy"
        );
    }

    let again = install(&config, &bin, &[]);
    assert!(again.contains("nothing to change"), "{again}");
    assert_eq!(std::fs::read(&config).expect("read"), once);

    ok(wasmpod(&[
        "node",
        "uninstall",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        bin.to_str().expect("utf-8"),
    ]));
    assert_eq!(std::fs::read_to_string(&config).expect("read"), ORIGINAL);
    assert!(!backup.exists());
    assert!(!bin.join("wasmpod").exists() && !bin.join("containerd-shim-wasmpod-v1").exists());
}

#[test]
fn a_drop_in_keeps_the_main_file_and_its_cri_settings() {
    let dir = tempfile::tempdir().expect("tmp");
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).expect("mkdir");
    let config = dir.path().join("config.toml");
    let main = ORIGINAL.replace(
        "version = 2\n",
        &format!("version = 2\nimports = [\"{}/*.toml\"]\n", conf_d.display()),
    );
    std::fs::write(&config, &main).expect("write");
    install(&config, &dir.path().join("bin"), &[]);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), main);
    let drop_in = conf_d.join("wasmpod.toml");
    assert!(drop_in.is_file());
    let dumped = dump(&config);
    assert!(dumped.contains(HANDLER_V2), "{dumped}");
    assert!(dumped.contains("custom/pause:9"), "{dumped}");
    assert!(dumped.contains("runtimes.runc]"), "{dumped}");
    ok(wasmpod(&[
        "node",
        "uninstall",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        dir.path().join("bin").to_str().expect("utf-8"),
    ]));
    assert!(!drop_in.exists());
    assert_eq!(std::fs::read_to_string(&config).expect("read"), main);
}

#[test]
fn a_broken_config_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config.toml");
    let broken = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"\n  x = 1\n";
    std::fs::write(&config, broken).expect("write");
    let out = wasmpod(&[
        "node",
        "install",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        dir.path().join("bin").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not valid TOML"), "{stderr}");
    assert!(stderr.contains(config.to_str().expect("utf-8")), "{stderr}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), broken);
    assert!(!dir.path().join("config.toml.wasmpod-backup").exists());
}

#[test]
fn a_config_without_version_follows_containerd_version() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "# no version\n").expect("write");
    install(&config, &dir.path().join("bin"), &[]);
    // Debian's containerd is 1.6: version 2's plugin name.
    let text = std::fs::read_to_string(&config).expect("read");
    assert!(text.contains(HANDLER_V2), "{text}");
}

const AUTH_SECRETS: &[&str] = &["hunter2-pw", "YWxpY2U6aHVudGVyMg==", "idtok-secret"];

/// The main config with registry credentials and a drop-in folder.
fn config_with_auth(dir: &Path) -> PathBuf {
    let conf_d = dir.join("conf.d");
    std::fs::create_dir(&conf_d).expect("mkdir");
    let config = dir.join("config.toml");
    let text = format!(
        "version = 2\nimports = [\"{}/*.toml\"]\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"reg.example\".auth]\n  username = \"alice\"\n  password = \"hunter2-pw\"\n  auth = \"YWxpY2U6aHVudGVyMg==\"\n  identitytoken = \"idtok-secret\"\n",
        conf_d.display()
    );
    std::fs::write(&config, text).expect("write");
    config
}

#[test]
fn a_drop_in_with_registry_auth_keeps_the_config_owner_and_mode_and_is_printed_redacted() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let dir = tempfile::tempdir().expect("tmp");
    let config = config_with_auth(dir.path());
    let bin = dir.path().join("bin");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::chown(&config, Some(1234), Some(4242)).expect("chown (needs root)");

    let out = wasmpod(&[
        "node",
        "install",
        "--dry-run",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        bin.to_str().expect("utf-8"),
    ]);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    for secret in AUTH_SECRETS {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
    }
    for shown in [
        "+  username = \"alice\"",
        "+  password = \"<redacted>\"",
        "+  auth = \"<redacted>\"",
        "+  identitytoken = \"<redacted>\"",
        "(mode 0640, owner 1234:4242)",
    ] {
        assert!(printed.contains(shown), "{shown} missing:\n{printed}");
    }

    install(&config, &bin, &[]);
    let drop_in = dir.path().join("conf.d/wasmpod.toml");
    let text = std::fs::read_to_string(&drop_in).expect("drop-in");
    assert!(
        text.contains("hunter2-pw"),
        "containerd needs the copy: {text}"
    );
    let meta = std::fs::metadata(&drop_in).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (1234, 4242));
    let dumped = dump(&config);
    assert!(dumped.contains(HANDLER_V2), "{dumped}");
}

#[test]
fn a_broken_config_error_does_not_quote_a_credential() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r\".auth]\n  password = \"hunter2-pw\n",
    )
    .expect("write");
    let out = wasmpod(&[
        "node",
        "install",
        "--dry-run",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        dir.path().join("bin").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("not valid TOML at line 3"), "{stderr}");
}

/// The CRI section testkit's `start_cri` uses, without the wasmpod runtime.
fn cri_section(conf_dir: &Path) -> String {
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    format!(
        "[{cri}]\n  sandbox_image = \"{PAUSE_IMAGE}\"\n  stream_server_address = \"127.0.0.1\"\n  \
         stream_server_port = \"0\"\n  enable_selinux = false\n  restrict_oom_score_adj = true\n  \
         disable_hugetlb_controller = true\n  tolerate_missing_hugetlb_controller = true\n\
         [{cri}.containerd]\n  default_runtime_name = \"runc\"\n\
         [{cri}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
         [{cri}.cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"{}\"\n  max_conf_num = 1\n",
        conf_dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_starts_with_the_edit_and_cri_runs_a_pod_through_the_installed_shim() {
    let work = tempfile::tempdir().expect("tmp");
    let bin = work.path().join("bin");
    let conf_dir = work.path().join("cni");
    let _network = cri::CniNetwork::create(&conf_dir, &work.path().join("cni-state"));
    // testkit writes `version = 2`, root, state and sockets itself and
    // appends this text: install edits it in a file of its own first.
    let config = work.path().join("config.toml");
    std::fs::write(&config, format!("version = 2\n{}", cri_section(&conf_dir))).expect("write");
    install(&config, &bin, &[]);
    let edited = std::fs::read_to_string(&config).expect("read");
    let edited = edited.strip_prefix("version = 2\n").expect("version line");
    assert!(edited.contains(HANDLER_V2), "{edited}");

    let ctd = Containerd::start(&bin, &[("RUST_LOG", "info")], edited);
    let archive = cri::oci_archive(
        PAUSE_IMAGE,
        &[(
            "/pause",
            &std::fs::read(guests::PAUSE_NATIVE).expect("pause"),
            0o755,
        )],
        &["/pause"],
    );
    let tar = ctd.dir().join("pause.tar");
    std::fs::write(&tar, archive).expect("write");
    let out = Command::new("ctr")
        .args(["-a", &ctd.socket(), "-n", "k8s.io", "images", "import"])
        .arg(&tar)
        .output()
        .expect("ctr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = ok(wasmpod(&[
        "node",
        "status",
        "--containerd-config",
        config.to_str().expect("utf-8"),
        "--bin-dir",
        bin.to_str().expect("utf-8"),
        "--cri-socket",
        &ctd.socket(),
    ]));
    assert!(status.contains("lists handler `wasmpod`"), "{status}");
    assert!(status.contains("handler present"), "{status}");

    let mut cri = Cri::connect(&ctd.socket()).await;
    let logs = tempfile::tempdir().expect("tmp");
    let config = api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: "node-install".into(),
            uid: "uid-node-install".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "node-install".into(),
        log_directory: logs.path().display().to_string(),
        ..Default::default()
    };
    let pod = cri
        .runtime
        .run_pod_sandbox(api::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: "wasmpod".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", ctd.log()))
        .into_inner()
        .pod_sandbox_id;
    let status = cri
        .runtime
        .pod_sandbox_status(api::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: true,
        })
        .await
        .expect("PodSandboxStatus")
        .into_inner();
    assert_eq!(
        status.status.as_ref().map(|s| s.runtime_handler.as_str()),
        Some("wasmpod")
    );
    assert!(
        status
            .info
            .get("info")
            .is_some_and(|i| i.contains("io.containerd.wasmpod.v1")),
        "{:?}",
        status.info
    );
    let _ = cri
        .runtime
        .stop_pod_sandbox(api::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await;
    let _ = cri
        .runtime
        .remove_pod_sandbox(api::RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await;
}
