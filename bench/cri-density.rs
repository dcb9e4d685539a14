//! Density through CRI: PSS and RSS per idle pod, wasmpod against runc.
//!
//! One containerd (Debian's 1.6) with its CRI plugin, CNI (bridge +
//! host-local) and a locally built pause image, driven by a CRI v1 client
//! as the kubelet would. For each pod count it starts that many pods, each
//! with one idle container, waits until all run, lets them settle, and sums
//! PSS and RSS (`/proc/PID/smaps_rollup`) over every process the pods cost:
//! the shims and everything under them (for runc: the pause and container
//! processes; wasmpod's sandbox runs no process and its containers are
//! instances inside the shim). Then it removes the pods.
//!
//! - wasmpod: runtime handler `wasmpod`, a compat image of the probe guest
//!   running `sleep`, compile cache warm;
//! - runc: runtime handler `runc`, a static busybox running `sleep`.
//!
//! With `--start-runs N` it first times N single-pod starts of each
//! runtime, alternating: from `RunPodSandbox` called to `StartContainer`
//! returned, the runtime's part of a pod's start (with CNI).
//!
//! Run through `bench/cri-density.sh` (builds it, needs root).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmpod_test_guests as guests;
use wasmpod_testkit::cri::{Cri, api, oci_archive};
use wasmpod_testkit::image::push_compat;
use wasmpod_testkit::{Containerd, CriSetup, Registry};

const CGROUP: &str = "/wasmpod-density";
const RUNC_IMAGE: &str = "localhost/wasmpod-bench/busybox:1";

struct Bench {
    ctd: Containerd,
    cri: Cri,
    wasm_image: String,
    logs: tempfile::TempDir,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    pss_kib: u64,
    rss_kib: u64,
    processes: usize,
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let shim = arg("--shim").map(PathBuf::from).unwrap_or_else(|| {
        // target/release/examples/cri-density -> target/release/
        let exe = std::env::current_exe().expect("current exe");
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("containerd-shim-wasmpod-v1")
    });
    assert!(shim.is_file(), "no shim at {}", shim.display());
    let counts: Vec<usize> = arg("--pods")
        .unwrap_or_else(|| "1,10,50".into())
        .split(',')
        .map(|n| n.trim().parse().expect("--pods N,N,..."))
        .collect();
    let busybox = arg("--busybox").unwrap_or_else(|| "/bin/busybox".into());

    let registry = Registry::start();
    let wasm_image = format!("{}/bench/probe:v1", registry.addr());
    let probe = std::fs::read(guests::PROBE).expect("probe");
    push_compat(&wasm_image, &[("/probe.wasm", &probe)], "/probe.wasm");

    let bin = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(&shim, bin.path().join("containerd-shim-wasmpod-v1"))
        .expect("link shim");
    let home = tempfile::tempdir().expect("tmp");
    let home_s = home.path().display().to_string();
    let addr = registry.addr();
    let ctd = Containerd::start_cri(
        bin.path(),
        &[("WASMPOD_HOME", &home_s)],
        &CriSetup {
            pause_binary: Path::new(guests::PAUSE_NATIVE),
            plain_http_registries: &[addr],
        },
    );
    let archive = oci_archive(
        RUNC_IMAGE,
        &[(
            "/bin/busybox",
            &std::fs::read(&busybox).expect("busybox (install busybox-static)"),
            0o755,
        )],
        &["/bin/busybox"],
    );
    let tar = ctd.dir().join("busybox.tar");
    std::fs::write(&tar, archive).expect("write");
    let out = std::process::Command::new("ctr")
        .args(["-a", &ctd.socket(), "-n", "k8s.io", "images", "import"])
        .arg(&tar)
        .output()
        .expect("ctr import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let cri = Cri::connect(&ctd.socket()).await;
    let mut b = Bench {
        ctd,
        cri,
        wasm_image,
        logs: tempfile::tempdir().expect("tmp"),
    };
    b.cri
        .images
        .pull_image(api::PullImageRequest {
            image: Some(api::ImageSpec {
                image: b.wasm_image.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("pull");
    // Warm the compile cache (and containerd) with one pod of each.
    for handler in ["wasmpod", "runc"] {
        b.run(handler, 1).await;
        b.remove_all().await;
    }

    // Start latency: one pod at a time, the two runtimes alternating
    // (which goes first alternates too), pods removed between runs.
    let start_runs: usize = arg("--start-runs")
        .map(|n| n.parse().expect("--start-runs N"))
        .unwrap_or(0);
    if start_runs > 0 {
        let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..start_runs {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let took = b.run(["wasmpod", "runc"][i], 1).await;
                times[i].push(took.as_secs_f64() * 1000.0);
                b.remove_all().await;
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (w, r) = (median(&mut times[0]), median(&mut times[1]));
        println!(
            "| one pod, RunPodSandbox to StartContainer returned ({start_runs} runs each, alternating) | wasmpod median | runc median | speed-up (runc/wasmpod) |"
        );
        println!("|---|---|---|---|");
        println!("| CRI, with CNI | {w:.1} ms | {r:.1} ms | {:.2}x |", r / w);
        println!();
    }

    println!(
        "| idle pods | wasmpod PSS/pod | wasmpod RSS/pod | runc PSS/pod | runc RSS/pod | PSS ratio (runc/wasmpod) |"
    );
    println!("|---|---|---|---|---|---|");
    for &n in &counts {
        let mut per = Vec::new();
        for handler in ["wasmpod", "runc"] {
            b.run(handler, n).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let u = b.usage();
            eprintln!(
                "{handler} x{n}: {} processes, PSS {} KiB, RSS {} KiB",
                u.processes, u.pss_kib, u.rss_kib
            );
            per.push(u);
            b.remove_all().await;
        }
        let mib = |kib: u64| kib as f64 / 1024.0 / n as f64;
        println!(
            "| {n} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1}x |",
            mib(per[0].pss_kib),
            mib(per[0].rss_kib),
            mib(per[1].pss_kib),
            mib(per[1].rss_kib),
            per[1].pss_kib as f64 / per[0].pss_kib.max(1) as f64
        );
    }
    drop(b);
    for root in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(root.path().join(CGROUP.trim_start_matches('/')));
    }
    let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(CGROUP.trim_start_matches('/')));
}

impl Bench {
    /// Starts `n` pods under `handler`, each with one idle container, and
    /// waits until all of them run. Returns the time from the first
    /// `RunPodSandbox` call until the last `StartContainer` returned: the
    /// part of a pod's start the kubelet waits for the runtime.
    async fn run(&mut self, handler: &str, n: usize) -> Duration {
        let started = Instant::now();
        let mut containers = Vec::new();
        for i in 0..n {
            let name = format!("{handler}-{i}");
            let pod_config = api::PodSandboxConfig {
                metadata: Some(api::PodSandboxMetadata {
                    name: name.clone(),
                    uid: format!("uid-{name}"),
                    namespace: "bench".into(),
                    attempt: 0,
                }),
                log_directory: self.logs.path().join(&name).display().to_string(),
                linux: Some(api::LinuxPodSandboxConfig {
                    cgroup_parent: CGROUP.into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let pod = self
                .cri
                .runtime
                .run_pod_sandbox(api::RunPodSandboxRequest {
                    config: Some(pod_config.clone()),
                    runtime_handler: handler.into(),
                })
                .await
                .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", self.ctd.log()))
                .into_inner()
                .pod_sandbox_id;
            let (image, command) = if handler == "wasmpod" {
                (self.wasm_image.clone(), vec!["/probe.wasm"])
            } else {
                (RUNC_IMAGE.to_string(), vec!["/bin/busybox"])
            };
            let id = self
                .cri
                .runtime
                .create_container(api::CreateContainerRequest {
                    pod_sandbox_id: pod,
                    config: Some(api::ContainerConfig {
                        metadata: Some(api::ContainerMetadata {
                            name: "idle".into(),
                            attempt: 0,
                        }),
                        image: Some(api::ImageSpec {
                            image,
                            ..Default::default()
                        }),
                        command: command.into_iter().map(String::from).collect(),
                        args: vec!["sleep".into(), "3600".into()],
                        log_path: "idle.log".into(),
                        ..Default::default()
                    }),
                    sandbox_config: Some(pod_config),
                })
                .await
                .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", self.ctd.log()))
                .into_inner()
                .container_id;
            self.cri
                .runtime
                .start_container(api::StartContainerRequest {
                    container_id: id.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", self.ctd.log()));
            containers.push(id);
        }
        let took = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(120);
        for id in containers {
            loop {
                let state = self
                    .cri
                    .runtime
                    .container_status(api::ContainerStatusRequest {
                        container_id: id.clone(),
                        verbose: false,
                    })
                    .await
                    .expect("ContainerStatus")
                    .into_inner()
                    .status
                    .map(|s| s.state)
                    .unwrap_or_default();
                if state == api::ContainerState::ContainerRunning as i32 {
                    break;
                }
                assert!(Instant::now() < deadline, "{id} never ran");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        took
    }

    /// Stops and removes every pod, and waits (bounded) for the shims to go.
    async fn remove_all(&mut self) {
        self.cri.remove_all_pods().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.shims().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// This containerd's shims (wasmpod and runc).
    fn shims(&self) -> Vec<u32> {
        let needle = format!("-address\0{}\0", self.ctd.socket());
        procs()
            .into_iter()
            .filter(|&(pid, _)| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("containerd-shim") && c.contains(&needle)
                })
            })
            .map(|(pid, _)| pid)
            .collect()
    }

    /// PSS and RSS of the shims and all their descendants.
    fn usage(&self) -> Usage {
        let all = procs();
        let mut set = self.shims();
        let mut i = 0;
        while i < set.len() {
            let parent = set[i];
            set.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
            i += 1;
        }
        let mut u = Usage::default();
        for pid in set {
            let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
                continue;
            };
            let field = |name: &str| {
                rollup
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            u.pss_kib += field("Pss:");
            u.rss_kib += field("Rss:");
            u.processes += 1;
        }
        u
    }
}

/// Every process as (pid, parent pid).
fn procs() -> Vec<(u32, u32)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = stat.rsplit_once(')')?.1;
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}
