//! The CRI path, driven exactly as the kubelet drives it: a CRI v1 gRPC
//! client talking to a real containerd (Debian's 1.6) whose CRI plugin
//! names runtime handler `wasmpod` (our shim), with CNI (bridge +
//! host-local), a locally built sandbox image, and a compat image pulled
//! through CRI from a real docker-registry.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmpod_test_guests as guests;
use wasmpod_testkit::cri::{Cri, api};
use wasmpod_testkit::{Containerd, CriSetup, Registry, Release, wait_until};

mod common;
use common::shim_bin_dir;
use wasmpod_testkit::image::{push_compat as push, push_image, wasm_layer_image};

struct Setup {
    ctd: Containerd,
    cri: Cri,
    image: String,
    logs: tempfile::TempDir,
    registry: Registry,
    _bin: tempfile::TempDir,
    _home: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        Self::with(Release::debian()).await
    }

    /// `release` with CRI and our shim, and the compat test image pushed.
    async fn with(release: Release) -> Self {
        let registry = Registry::start();
        let image = format!("{}/wasm/pod:v1", registry.addr());
        let probe = std::fs::read(guests::PROBE).expect("probe");
        let hello = std::fs::read(guests::HELLO).expect("hello");
        let web = std::fs::read(guests::TCP_HELLO_WAT_WASM).expect("tcp-hello");
        let http = std::fs::read(guests::HTTP_HELLO_WAT_WASM).expect("http-hello");
        let go = std::fs::read(guests::GO_PROBE).expect("go-probe");
        let p3 = wasmpod_testkit::wasi_p3_fixtures();
        let p3_http = std::fs::read(p3.join("http-service.wasm")).expect("0.3 service");
        let p3_exit = std::fs::read(p3.join("cli-exit.wasm")).expect("0.3 command");
        push(
            &image,
            &[
                ("/probe.wasm", &probe),
                ("/hello.wasm", &hello),
                ("/tcp-hello.wasm", &web),
                ("/http-hello.wasm", &http),
                ("/go-probe.wasm", &go),
                ("/p3-http.wasm", &p3_http),
                ("/p3-exit.wasm", &p3_exit),
            ],
            "/probe.wasm",
        );
        let bin = shim_bin_dir();
        let home = tempfile::tempdir().expect("tmp");
        let home_s = home.path().display().to_string();
        let addr = registry.addr();
        let ctd = Containerd::start_cri_release(
            release,
            bin.path(),
            &[("WASMPOD_HOME", &home_s), ("RUST_LOG", "info")],
            &CriSetup {
                pause_binary: Path::new(guests::PAUSE_NATIVE),
                plain_http_registries: &[addr],
            },
        );
        let cri = Cri::connect(&ctd.socket()).await;
        Self {
            ctd,
            cri,
            image,
            logs: tempfile::tempdir().expect("tmp"),
            registry,
            _bin: bin,
            _home: home,
        }
    }

    fn pod_config(&self, name: &str, cgroup_parent: &str) -> api::PodSandboxConfig {
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: self.logs.path().join(name).display().to_string(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: cgroup_parent.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn run_pod(&mut self, config: &api::PodSandboxConfig) -> String {
        self.cri
            .runtime
            .run_pod_sandbox(api::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: "wasmpod".into(),
            })
            .await
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", self.ctd.log()))
            .into_inner()
            .pod_sandbox_id
    }

    /// PodSandboxStatus of `pod`.
    async fn pod_status(&mut self, pod: &str) -> api::PodSandboxStatus {
        self.cri
            .runtime
            .pod_sandbox_status(api::PodSandboxStatusRequest {
                pod_sandbox_id: pod.into(),
                verbose: false,
            })
            .await
            .expect("PodSandboxStatus")
            .into_inner()
            .status
            .expect("status")
    }

    async fn create(
        &mut self,
        pod: &str,
        pod_config: &api::PodSandboxConfig,
        config: api::ContainerConfig,
    ) -> String {
        self.cri
            .runtime
            .create_container(api::CreateContainerRequest {
                pod_sandbox_id: pod.into(),
                config: Some(api::ContainerConfig {
                    image: Some(api::ImageSpec {
                        image: self.image.clone(),
                        ..Default::default()
                    }),
                    ..config
                }),
                sandbox_config: Some(pod_config.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", self.ctd.log()))
            .into_inner()
            .container_id
    }

    /// PullImage of `image` through CRI; the image id.
    async fn pull(&mut self, image: &str, pod_config: &api::PodSandboxConfig) -> String {
        self.cri
            .images
            .pull_image(api::PullImageRequest {
                image: Some(api::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                auth: None,
                sandbox_config: Some(pod_config.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("PullImage {image}: {e}\n{}", self.ctd.log()))
            .into_inner()
            .image_ref
    }

    /// StopPodSandbox and RemovePodSandbox (which removes its containers).
    async fn remove_pod(&mut self, pod: &str) {
        self.cri
            .runtime
            .stop_pod_sandbox(api::StopPodSandboxRequest {
                pod_sandbox_id: pod.into(),
            })
            .await
            .expect("StopPodSandbox");
        self.cri
            .runtime
            .remove_pod_sandbox(api::RemovePodSandboxRequest {
                pod_sandbox_id: pod.into(),
            })
            .await
            .expect("RemovePodSandbox");
    }

    async fn start(&mut self, id: &str) {
        self.cri
            .runtime
            .start_container(api::StartContainerRequest {
                container_id: id.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", self.ctd.log()));
    }

    async fn status(&mut self, id: &str) -> api::ContainerStatus {
        self.cri
            .runtime
            .container_status(api::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .expect("ContainerStatus")
            .into_inner()
            .status
            .expect("a status")
    }

    async fn exec(&mut self, id: &str, cmd: &[&str]) -> api::ExecSyncResponse {
        self.cri
            .runtime
            .exec_sync(api::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: 10,
            })
            .await
            .unwrap_or_else(|e| panic!("ExecSync {cmd:?}: {e}"))
            .into_inner()
    }

    /// Waits (bounded) until the container's state is `state`.
    async fn wait_state(&mut self, id: &str, state: api::ContainerState) -> api::ContainerStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.status(id).await;
            if s.state == state as i32 {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} is {:?}, not {state:?}",
                s.state
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn shims(&self) -> Vec<u32> {
        let out = std::process::Command::new("pgrep")
            .args([
                "-f",
                &format!(
                    "containerd-shim-wasmpod-v1 .*-address {}",
                    self.ctd.socket()
                ),
            ])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

/// `GET path` over HTTP/1.0 to `addr`: status and body, or `None` if
/// nothing answers.
fn testkit_http(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The first answer to `GET path` at `addr`, trying for up to 5 s while
/// the server comes up.
async fn first_answer(addr: &str, path: &str) -> Option<(u16, String)> {
    for _ in 0..100 {
        if let Some(answer) = testkit_http(addr, path) {
            return Some(answer);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn env(key: &str, value: &str) -> api::KeyValue {
    api::KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The message lines of a CRI log file ("TIME STREAM TAG MESSAGE").
fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3).map(str::to_string))
        .collect()
}

/// Removes the pod cgroup the test asked for, in every hierarchy.
struct CgroupGuard(String);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for root in [PathBuf::from("/sys/fs/cgroup")].into_iter().chain(
            std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        ) {
            let dir = root.join(self.0.trim_start_matches('/'));
            if let Ok(children) = std::fs::read_dir(&dir) {
                for c in children.flatten() {
                    if c.path().is_dir() {
                        let _ = std::fs::remove_dir(c.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_of_two_wasm_containers_runs_through_cri() {
    // Declared before the setup, so it is dropped after containerd and the
    // shims are gone: a cgroup with a process in it cannot be removed.
    let cgroup = format!("/wasmpod-cri-{}", std::process::id());
    let _cg = CgroupGuard(cgroup.clone());
    let mut s = Setup::new().await;

    // The sandbox: runtime handler wasmpod, a network from CNI.
    let pod_config = s.pod_config("pod1", &cgroup);
    let pod = s.run_pod(&pod_config).await;
    let status = s.pod_status(&pod).await;
    assert_eq!(status.state, api::PodSandboxState::SandboxReady as i32);
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    let prefix = s.ctd.cni().expect("cni").subnet_prefix.clone();
    assert!(
        ip.starts_with(&format!("{prefix}.")),
        "pod IP {ip:?} from the CNI bridge network {prefix}.0/24"
    );
    assert_eq!(s.shims().len(), 1, "the sandbox started one shim");

    // The image, pulled through CRI from the registry.
    let pulled = s
        .cri
        .images
        .pull_image(api::PullImageRequest {
            image: Some(api::ImageSpec {
                image: s.image.clone(),
                ..Default::default()
            }),
            auth: None,
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("PullImage: {e}\n{}", s.ctd.log()))
        .into_inner();
    assert!(
        pulled.image_ref.starts_with("sha256:"),
        "{}",
        pulled.image_ref
    );

    // A long-running container with env and a read-only bind mount (what
    // a configMap volume is), and a run-to-completion one.
    let config_dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        config_dir.path().join("greeting.txt"),
        "hello from a configmap\n",
    )
    .expect("write");
    let app = s
        .create(
            &pod,
            &pod_config,
            api::ContainerConfig {
                metadata: Some(api::ContainerMetadata {
                    name: "app".into(),
                    attempt: 0,
                }),
                args: args(&["sleep", "600"]),
                envs: vec![env("GREETING", "hi"), env("POD", "pod1")],
                mounts: vec![api::Mount {
                    container_path: "/config".into(),
                    host_path: config_dir.path().display().to_string(),
                    readonly: true,
                    ..Default::default()
                }],
                log_path: "app.log".into(),
                ..Default::default()
            },
        )
        .await;
    let hello = s
        .create(
            &pod,
            &pod_config,
            api::ContainerConfig {
                metadata: Some(api::ContainerMetadata {
                    name: "hello".into(),
                    attempt: 0,
                }),
                command: args(&["/hello.wasm"]),
                log_path: "hello.log".into(),
                ..Default::default()
            },
        )
        .await;
    // A TCP server (a WASI 0.2 component) on port 8080 of the pod.
    let web = s
        .create(
            &pod,
            &pod_config,
            api::ContainerConfig {
                metadata: Some(api::ContainerMetadata {
                    name: "web".into(),
                    attempt: 0,
                }),
                command: args(&["/tcp-hello.wasm", "8080"]),
                log_path: "web.log".into(),
                ..Default::default()
            },
        )
        .await;
    // A wasi:http component, served on its containerPort (from the
    // kubelet's ports annotation) in the pod's network namespace.
    let api = s
        .create(
            &pod,
            &pod_config,
            api::ContainerConfig {
                metadata: Some(api::ContainerMetadata {
                    name: "api".into(),
                    attempt: 0,
                }),
                command: args(&["/http-hello.wasm"]),
                annotations: [(
                    "io.kubernetes.container.ports".to_string(),
                    r#"[{"name":"http","containerPort":9090,"protocol":"TCP"}]"#.to_string(),
                )]
                .into(),
                log_path: "api.log".into(),
                ..Default::default()
            },
        )
        .await;
    s.start(&app).await;
    s.start(&hello).await;
    s.start(&web).await;
    s.start(&api).await;
    let running = s
        .wait_state(&app, api::ContainerState::ContainerRunning)
        .await;
    assert!(running.started_at > 0);
    let exited = s
        .wait_state(&hello, api::ContainerState::ContainerExited)
        .await;
    assert_eq!(exited.exit_code, 0);

    // One shim for the whole pod: containers are instances inside it.
    let shims = s.shims();
    assert_eq!(shims.len(), 1, "one shim process per pod, got {shims:?}");
    let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", shims[0])).expect("cgroup");
    assert!(
        cgroups.lines().any(|l| l.ends_with(&cgroup)),
        "the shim joined the pod cgroup {cgroup}:\n{cgroups}"
    );

    // The kubelet's log files, written by CRI from the shim's FIFOs.
    let pod_logs = s.logs.path().join("pod1");
    wait_until(Duration::from_secs(10), "app's log line", || {
        log_lines(&pod_logs.join("app.log")).contains(&"sleeping".to_string())
    });
    wait_until(Duration::from_secs(10), "web's listening line", || {
        log_lines(&pod_logs.join("web.log")).contains(&"listening on 0.0.0.0:8080".to_string())
    });
    // Reachable from the node at the pod IP, through the CNI bridge: the
    // instance's socket is in the pod's network namespace.
    for _ in 0..2 {
        let mut conn = std::net::TcpStream::connect_timeout(
            &format!("{ip}:8080").parse().expect("addr"),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("connect to the pod at {ip}:8080: {e}"));
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut got = String::new();
        std::io::Read::read_to_string(&mut conn, &mut got).expect("read");
        assert_eq!(got, "hello from wasm\n");
    }
    // The wasi:http container answers at the pod IP; StopContainer (SIGTERM)
    // drains a request in flight, then the container exits 143.
    let answered = first_answer(&format!("{ip}:9090"), "/").await;
    assert_eq!(answered, Some((200, "hello from wasm\n".to_string())));
    let target = format!("{ip}:9090");
    let slow = std::thread::spawn(move || testkit_http(&target, "/sleep"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.cri
        .runtime
        .stop_container(api::StopContainerRequest {
            container_id: api.clone(),
            timeout: 30,
        })
        .await
        .expect("StopContainer api");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        slow.join().expect("join"),
        Some((200, "slept\n".to_string())),
        "the request in flight finished"
    );
    assert_eq!(s.status(&api).await.exit_code, 143);
    let hello_log = log_lines(&pod_logs.join("hello.log"));
    assert!(
        hello_log
            .iter()
            .any(|l| l == "Hello from WebAssembly, world!"),
        "hello.log: {hello_log:?}"
    );

    // ExecSync: a new instance of another module, with the container's env
    // and mounts, its own output, and its exit code.
    let r = s.exec(&app, &["/probe.wasm", "env"]).await;
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.exit_code, 0, "{out}");
    assert!(out.lines().any(|l| l == "GREETING=hi"), "{out}");
    let r = s
        .exec(&app, &["/probe.wasm", "cat", "/config/greeting.txt"])
        .await;
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "hello from a configmap\n"
    );
    let r = s
        .exec(&app, &["/probe.wasm", "write", "/config/new.txt", "x"])
        .await;
    assert_ne!(r.exit_code, 0, "the mount is read-only");
    assert!(!config_dir.path().join("new.txt").exists());
    let r = s.exec(&app, &["/probe.wasm", "exit", "3"]).await;
    assert_eq!(r.exit_code, 3);

    // StopContainer with a 30 s grace period: SIGTERM stops a Wasm guest
    // at once, so this does not wait out the grace period.
    let started = Instant::now();
    s.cri
        .runtime
        .stop_container(api::StopContainerRequest {
            container_id: app.clone(),
            timeout: 30,
        })
        .await
        .expect("StopContainer");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "StopContainer took {took:?}");
    let stopped = s.status(&app).await;
    assert_eq!(stopped.state, api::ContainerState::ContainerExited as i32);
    assert_eq!(stopped.exit_code, 143, "SIGTERM");

    s.cri
        .runtime
        .stop_container(api::StopContainerRequest {
            container_id: web.clone(),
            timeout: 30,
        })
        .await
        .expect("StopContainer");
    for id in [&app, &hello, &web, &api] {
        s.cri
            .runtime
            .remove_container(api::RemoveContainerRequest {
                container_id: id.to_string(),
            })
            .await
            .expect("RemoveContainer");
    }
    s.cri
        .runtime
        .stop_pod_sandbox(api::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .expect("StopPodSandbox");
    s.cri
        .runtime
        .remove_pod_sandbox(api::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .expect("RemovePodSandbox");
    let left = s
        .cri
        .runtime
        .list_pod_sandbox(api::ListPodSandboxRequest::default())
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert!(left.is_empty(), "{left:?}");
    wait_until(Duration::from_secs(10), "the pod's shim to exit", || {
        s.shims().is_empty()
    });
}

/// Images whose modules are Wasm layers, on containerd 1.7 (which, from
/// 1.7.7, pulls them with an empty rootfs): the shim reads the layers from
/// containerd's content store. Both an image with a container config (its
/// entrypoint is used) and the CNCF Wasm artifact (the pod names the
/// module) run, and exec picks a layer by its title.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_layer_images_run_through_cri_on_containerd_1_7() {
    let cgroup = format!("/wasmpod-cri-layers-{}", std::process::id());
    let _cg = CgroupGuard(cgroup.clone());
    let mut s = Setup::with(Release::v1_7()).await;
    let probe = std::fs::read(guests::PROBE).expect("probe");
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let layered = format!("{}/wasm/layers:v1", s.registry.addr());
    push_image(
        &layered,
        &wasm_layer_image(
            &[("probe.wasm", &probe), ("hello.wasm", &hello)],
            "/probe.wasm",
        ),
    );
    let artifact = format!("{}/wasm/artifact:v1", s.registry.addr());
    push_image(
        &artifact,
        &wasmpod_oci::image::build(
            &hello,
            &wasmpod_oci::image::PushFormat::Artifact {
                title: "hello.wasm".into(),
            },
        )
        .expect("artifact"),
    );
    let pod_config = s.pod_config("layers", &cgroup);
    let pod = s.run_pod(&pod_config).await;
    for image in [&layered, &artifact] {
        let id = s.pull(image, &pod_config).await;
        assert!(id.starts_with("sha256:"), "{id}");
    }

    let container = |name: &str, command: &[&str], a: &[&str]| api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        command: args(command),
        args: args(a),
        log_path: format!("{name}.log"),
        ..Default::default()
    };
    s.image = layered.clone();
    // The image config's entrypoint, with the pod's args.
    let once = s
        .create(&pod, &pod_config, container("once", &[], &["args", "x"]))
        .await;
    let app = s
        .create(&pod, &pod_config, container("app", &[], &["sleep", "600"]))
        .await;
    s.image = artifact.clone();
    let art = s
        .create(
            &pod,
            &pod_config,
            container("art", &["/hello.wasm"], &["y"]),
        )
        .await;
    for id in [&once, &app, &art] {
        s.start(id).await;
    }
    for id in [&once, &art] {
        let exited = s.wait_state(id, api::ContainerState::ContainerExited).await;
        assert_eq!(exited.exit_code, 0, "{id}");
    }
    let logs = s.logs.path().join("layers");
    wait_until(Duration::from_secs(10), "once's log lines", || {
        log_lines(&logs.join("once.log")) == ["argv[0]=/probe.wasm", "argv[1]=args", "argv[2]=x"]
    });
    wait_until(Duration::from_secs(10), "art's log lines", || {
        log_lines(&logs.join("art.log")) == ["Hello from WebAssembly, world!", "  arg 1: y"]
    });

    // ExecSync of the image's other layer, by its title.
    s.wait_state(&app, api::ContainerState::ContainerRunning)
        .await;
    let r = s.exec(&app, &["/hello.wasm", "z"]).await;
    assert_eq!(r.exit_code, 0);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "Hello from WebAssembly, world!\n  arg 1: z\n"
    );
    // A name that is neither a file nor a layer: refused, naming both.
    let refused = s
        .cri
        .runtime
        .exec_sync(api::ExecSyncRequest {
            container_id: app.clone(),
            cmd: args(&["/other.wasm"]),
            timeout: 10,
        })
        .await
        .expect_err("exec of a missing module");
    assert!(
        refused.message().contains(&format!(
            "/other.wasm: not in the container's rootfs, and image {layered} has no Wasm layer titled other.wasm (its Wasm layers: probe.wasm, hello.wasm)"
        )),
        "{refused}"
    );

    s.remove_pod(&pod).await;
    wait_until(Duration::from_secs(10), "the pod's shim to exit", || {
        s.shims().is_empty()
    });
}

/// The pod annotation `wasmpod.dev/max-wasm-stack` reaches the shim through
/// CRI (the runtime lists `wasmpod.dev/*` in `pod_annotations`, as
/// `wasmpod node install` writes it) and sets the stack of the pod's
/// containers: a Go-built module that recurses deeply runs on the default
/// stack and traps on wasmtime's own default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_stack_annotation_reaches_the_shim_through_cri() {
    let cgroup = format!("/wasmpod-cri-stack-{}", std::process::id());
    let _cg = CgroupGuard(cgroup.clone());
    let mut s = Setup::new().await;
    let image = s.image.clone();
    let mut exit_of = async |name: &str, annotations: &[(&str, &str)]| {
        let mut pod_config = s.pod_config(name, &cgroup);
        pod_config.annotations = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let pod = s.run_pod(&pod_config).await;
        s.pull(&image, &pod_config).await;
        let id = s
            .create(
                &pod,
                &pod_config,
                api::ContainerConfig {
                    metadata: Some(api::ContainerMetadata {
                        name: "go".into(),
                        attempt: 0,
                    }),
                    command: args(&["/go-probe.wasm", "json", "4000"]),
                    log_path: "go.log".into(),
                    ..Default::default()
                },
            )
            .await;
        s.start(&id).await;
        let exited = s
            .wait_state(&id, api::ContainerState::ContainerExited)
            .await;
        let log = log_lines(&s.logs.path().join(name).join("go.log"));
        s.remove_pod(&pod).await;
        (exited.exit_code, log)
    };
    let (code, log) = exit_of("deep", &[]).await;
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter()
            .any(|l| l == "json ok: 4000 levels, 32006 bytes, leaf leaf"),
        "{log:?}"
    );
    let (code, log) = exit_of("shallow", &[("wasmpod.dev/max-wasm-stack", "512Ki")]).await;
    assert_eq!(code, 134, "{log:?}");
}

/// WASI 0.3 through CRI: a 0.3 command runs to its exit code (the fixture
/// `cli-exit` exits 1) and a 0.3 `wasi:http` service (the fixture
/// `http-service`) is served on its containerPort at the pod IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_0_3_commands_and_services_run_through_cri() {
    let cgroup = format!("/wasmpod-cri-p3-{}", std::process::id());
    let _cg = CgroupGuard(cgroup.clone());
    let mut s = Setup::new().await;
    let pod_config = s.pod_config("p3", &cgroup);
    let pod = s.run_pod(&pod_config).await;
    let image = s.image.clone();
    s.pull(&image, &pod_config).await;
    let ip = s
        .pod_status(&pod)
        .await
        .network
        .map(|n| n.ip)
        .unwrap_or_default();
    let container = |name: &str, command: &[&str]| api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        command: args(command),
        annotations: [(
            "io.kubernetes.container.ports".to_string(),
            r#"[{"name":"http","containerPort":9090,"protocol":"TCP"}]"#.to_string(),
        )]
        .into(),
        log_path: format!("{name}.log"),
        ..Default::default()
    };
    let exit = s
        .create(&pod, &pod_config, container("exit", &["/p3-exit.wasm"]))
        .await;
    let web = s
        .create(&pod, &pod_config, container("web", &["/p3-http.wasm"]))
        .await;
    s.start(&exit).await;
    s.start(&web).await;
    let exited = s
        .wait_state(&exit, api::ContainerState::ContainerExited)
        .await;
    assert_eq!(exited.exit_code, 1);
    let answered = first_answer(&format!("{ip}:9090"), "/").await;
    assert_eq!(
        answered,
        Some((200, "hey\n".to_string())),
        "{}",
        s.ctd.log()
    );
    assert_eq!(
        testkit_http(&format!("{ip}:9090"), "/whatever").map(|(status, _)| status),
        Some(404)
    );
    s.remove_pod(&pod).await;
}
