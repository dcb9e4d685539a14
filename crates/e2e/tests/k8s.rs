//! Wasm pods on a real Kubernetes node: `tests/k8s/cluster.sh up` starts
//! etcd, the control plane, containerd with our shim installed by
//! `wasmpod node install`, the kubelet and kube-proxy, all built from
//! upstream sources; then each scenario drives it with `kubectl` and
//! asserts on what `kubectl` reports. One cluster serves every scenario, in
//! sequence, and is taken down at the end, pass or fail.
//!
//! A custom harness (`harness = false`) so the cluster is started once; it
//! prints libtest's summary line. The `cluster` test tier:
//! `cargo test -p wasmpod-e2e --features cluster -- NAME` runs the
//! scenarios whose name contains NAME; build `wasmpod` and the shim first
//! (`cargo build -p wasmpod -p wasmpod-shim`; `make test` does), since the
//! node installs those binaries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use wasmpod_test_guests as guests;
use wasmpod_testkit::image::{compat_image, linux_image, push_image, wasm_layer_image};

const NS: &str = "e2e";

struct Cluster {
    repo: PathBuf,
    kubeconfig: String,
    path: String,
    registry: String,
    node: String,
    state: PathBuf,
}

type Scenario = fn(&Cluster) -> Result<(), String>;

/// Which node a scenario needs. Each runs on a cluster of its own, brought
/// up once for all of its scenarios and down after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    /// Debian's containerd 1.6: the node the issue pins.
    Debian,
    /// containerd 1.7 built from source (`tests/containerd/build.sh`),
    /// which runs images with Wasm layers.
    Containerd17,
}

impl Node {
    fn containerd(self) -> &'static str {
        match self {
            Node::Debian => "debian",
            Node::Containerd17 => "1.7",
        }
    }
}

/// libtest's arguments that matter here: filters, `--skip F`, `--exact`,
/// `--list`; other flags (and the values of those that take one) are
/// accepted and ignored.
struct Args {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
}

impl Args {
    fn parse() -> Self {
        let mut a = Args {
            filters: Vec::new(),
            skip: Vec::new(),
            exact: false,
            list: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--list" => a.list = true,
                "--exact" => a.exact = true,
                "--skip" => a.skip.extend(it.next()),
                "--test-threads" | "--format" | "--color" | "-Z" | "--logfile"
                | "--report-time" => {
                    it.next();
                }
                s if s.starts_with('-') => {}
                _ => a.filters.push(arg),
            }
        }
        a
    }

    fn wants(&self, name: &str) -> bool {
        let hit = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

fn main() {
    let args = Args::parse();
    let scenarios: &[(&str, Scenario, Node)] = &[
        (
            "deploy_manifests_apply_cleanly",
            deploy_manifests_apply_cleanly,
            Node::Debian,
        ),
        (
            "job_completes_and_logs_reach_kubectl",
            job_completes_and_logs_reach_kubectl,
            Node::Debian,
        ),
        (
            "http_deployment_behind_a_cluster_ip_scales",
            http_deployment_behind_a_cluster_ip_scales,
            Node::Debian,
        ),
        (
            "kubectl_exec_runs_a_wasm_command",
            kubectl_exec_runs_a_wasm_command,
            Node::Debian,
        ),
        (
            "deleting_a_spinning_pod_is_quick",
            deleting_a_spinning_pod_is_quick,
            Node::Debian,
        ),
        ("memory_limit_holds", memory_limit_holds, Node::Debian),
        (
            "stats_summary_has_cpu_and_memory",
            stats_summary_has_cpu_and_memory,
            Node::Debian,
        ),
        (
            "failing_exec_liveness_probe_restarts",
            failing_exec_liveness_probe_restarts,
            Node::Debian,
        ),
        (
            "native_runc_pod_beside_wasm_pods",
            native_runc_pod_beside_wasm_pods,
            Node::Debian,
        ),
        (
            "node_policy_admits_signed_pods_and_refuses_the_rest",
            node_policy_admits_signed_pods_and_refuses_the_rest,
            Node::Debian,
        ),
        // Last: it restarts the node's containerd.
        (
            "installer_daemonset_installs_labels_and_reapplies",
            installer_daemonset_installs_labels_and_reapplies,
            Node::Debian,
        ),
        (
            "wasm_layer_images_run_in_pods_on_containerd_1_7",
            wasm_layer_images_run_in_pods_on_containerd_1_7,
            Node::Containerd17,
        ),
    ];
    let chosen: Vec<_> = scenarios
        .iter()
        .filter(|(name, _, _)| args.wants(name))
        .collect();
    if args.list {
        for (name, _, _) in &chosen {
            println!("{name}: test");
        }
        return;
    }
    println!("\nrunning {} tests", chosen.len());
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut down_failed = Vec::new();
    for node in [Node::Debian, Node::Containerd17] {
        let these: Vec<_> = chosen.iter().filter(|(_, _, n)| *n == node).collect();
        if these.is_empty() {
            continue;
        }
        // Whatever happens below (a panic included), the cluster comes down.
        let cluster = std::panic::catch_unwind(|| Cluster::up(node))
            .unwrap_or_else(|_| Err("cluster setup panicked".into()));
        let run_all = std::panic::AssertUnwindSafe(|| match &cluster {
            Ok(c) => {
                if let Err(e) = c.prepare() {
                    failed.extend(these.iter().map(|(n, _, _)| (n.to_string(), e.clone())));
                } else {
                    for (name, scenario, _) in &these {
                        let t = Instant::now();
                        let result = std::panic::catch_unwind(|| scenario(c))
                            .unwrap_or_else(|_| Err("panicked".into()));
                        let secs = t.elapsed().as_secs_f64();
                        match &result {
                            Ok(()) => println!("test {name} ... ok ({secs:.1}s)"),
                            Err(_) => println!("test {name} ... FAILED ({secs:.1}s)"),
                        }
                        if let Err(e) = result {
                            failed.push((name.to_string(), format!("{e}\n{}", c.diagnostics())));
                        }
                    }
                }
            }
            Err(e) => {
                for (name, _, _) in &these {
                    println!("test {name} ... FAILED");
                    failed.push((
                        name.to_string(),
                        format!("the cluster did not come up: {e}"),
                    ));
                }
            }
        });
        if std::panic::catch_unwind(run_all).is_err() {
            failed.push(("(harness)".into(), "a scenario panicked".into()));
        }
        if let Err(e) = Cluster::down(&cluster_script()) {
            down_failed.push(format!("{node:?}: {e}"));
        }
    }
    for (name, why) in &failed {
        println!("\n---- {name} ----\n{why}");
    }
    for e in &down_failed {
        println!("\ncluster.sh down failed: {e}");
    }
    let ok = failed.is_empty() && down_failed.is_empty();
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.1}s\n",
        if ok { "ok" } else { "FAILED" },
        chosen.len().saturating_sub(failed.len()),
        failed.len(),
        scenarios.len() - chosen.len(),
        started.elapsed().as_secs_f64()
    );
    if !ok {
        std::process::exit(101);
    }
}

fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/k8s/cluster.sh")
}

/// Where cargo put this workspace's binaries (`wasmpod` and the shim, which
/// `cargo test --workspace` builds before any test runs).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/k8s-HASH -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.output().map_err(|e| format!("{cmd:?}: {e}"))
}

impl Cluster {
    fn up(node: Node) -> Result<Self, String> {
        let script = cluster_script();
        let repo = script
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .ok_or("no repo root")?
            .to_path_buf();
        let out = run(Command::new("bash")
            .arg(&script)
            .arg("up")
            .env("WASMPOD_BIN_DIR", bin_dir())
            .env("WASMPOD_K8S_CONTAINERD", node.containerd())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit()))?;
        if !out.status.success() {
            return Err(format!("cluster.sh up: {}", out.status));
        }
        let env = run(Command::new("bash").arg(&script).arg("env"))?;
        let env = String::from_utf8_lossy(&env.stdout).into_owned();
        let var = |name: &str| -> Result<String, String> {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.to_string())
                .ok_or(format!("cluster.sh env printed no {name}: {env}"))
        };
        let path = var("PATH")?.replace("$PATH", &std::env::var("PATH").unwrap_or_default());
        Ok(Self {
            repo,
            kubeconfig: var("KUBECONFIG")?,
            path,
            registry: var("WASMPOD_K8S_REGISTRY")?,
            node: var("WASMPOD_K8S_NODE")?,
            state: PathBuf::from(var("WASMPOD_K8S_STATE")?),
        })
    }

    fn down(script: &Path) -> Result<(), String> {
        let out = run(Command::new("bash").arg(script).arg("down"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The test namespace and the images: the guests as one compat image,
    /// and busybox as an ordinary linux image for runc.
    fn prepare(&self) -> Result<(), String> {
        let (hello, probe, http) = (
            read_file(guests::HELLO)?,
            read_file(guests::PROBE)?,
            read_file(guests::HTTP_HELLO_WAT_WASM)?,
        );
        push_image(
            &self.image("guests"),
            &compat_image(
                &[
                    ("/hello.wasm", &hello),
                    ("/probe.wasm", &probe),
                    ("/http-hello.wasm", &http),
                ],
                "/hello.wasm",
            ),
        );
        let busybox = read_file("/bin/busybox")
            .map_err(|e| format!("{e} (Debian package busybox-static; run scripts/setup.sh)"))?;
        push_image(
            &self.image("busybox"),
            &linux_image(&[("/bin/busybox", &busybox)], "/bin/busybox"),
        );
        // Pods opt in through the RuntimeClass deploy/ ships.
        let rc = self
            .repo
            .join("deploy/runtimeclass.yaml")
            .display()
            .to_string();
        self.kubectl_ok(&["apply", "--validate=strict", "-f", &rc])?;
        let handler = self.kubectl_ok(&[
            "get",
            "runtimeclass",
            "wasmpod",
            "-o",
            "jsonpath={.handler}",
        ])?;
        check(handler == "wasmpod", || {
            format!("RuntimeClass handler {handler:?}")
        })?;
        self.kubectl_ok(&["create", "namespace", NS])?;
        // The admission plugin refuses pods until the namespace's default
        // service account exists.
        self.poll(
            Duration::from_secs(30),
            "service account e2e/default",
            || {
                Ok(self
                    .kubectl(&["-n", NS, "get", "serviceaccount", "default"])?
                    .status
                    .success())
            },
        )
    }

    fn image(&self, name: &str) -> String {
        format!("{}/e2e/{name}:v1", self.registry)
    }

    fn kubectl(&self, args: &[&str]) -> Result<Output, String> {
        // Plain API calls get a bound; exec, logs and waits carry their own.
        let streaming = args
            .iter()
            .any(|a| matches!(*a, "exec" | "logs" | "wait" | "rollout"));
        let timeout: &[&str] = if streaming {
            &[]
        } else {
            &["--request-timeout=60s"]
        };
        run(Command::new("kubectl")
            .args(timeout)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path))
    }

    /// Runs kubectl and returns its stdout, or its stderr as the error.
    fn kubectl_ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.kubectl(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "kubectl {}: {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn apply(&self, yaml: &str) -> Result<String, String> {
        let mut child = Command::new("kubectl")
            .args(["apply", "-f", "-"])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("kubectl apply: {e}"))?;
        child
            .stdin
            .take()
            .ok_or("stdin")?
            .write_all(yaml.as_bytes())
            .map_err(|e| format!("kubectl apply: {e}"))?;
        let out = child
            .wait_with_output()
            .map_err(|e| format!("kubectl apply: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "kubectl apply: {}\n{yaml}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// `kubectl get` of one field through jsonpath.
    fn field(&self, what: &[&str], jsonpath: &str) -> Result<String, String> {
        let mut args = vec!["-n", NS, "get"];
        args.extend_from_slice(what);
        let path = format!("jsonpath={jsonpath}");
        args.extend_from_slice(&["-o", &path]);
        self.kubectl_ok(&args)
    }

    fn poll(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut() -> Result<bool, String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            match f() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = e,
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: not reached within {timeout:?} {last}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn wait_pod_ready(&self, pod: &str) -> Result<(), String> {
        self.kubectl_ok(&[
            "-n",
            NS,
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=90s",
        ])
        .map(|_| ())
    }

    fn logs(&self, pod: &str) -> Result<String, String> {
        self.kubectl_ok(&["-n", NS, "logs", pod])
    }

    fn node_ready(&self) -> Result<(), String> {
        let status = self.kubectl_ok(&[
            "get",
            "node",
            &self.node,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])?;
        if status == "True" {
            Ok(())
        } else {
            Err(format!("node {} Ready={status:?}", self.node))
        }
    }

    /// Pods and events of the test namespace, for a failure's report.
    fn diagnostics(&self) -> String {
        let mut s = String::new();
        for args in [
            &["-n", NS, "get", "pods", "-o", "wide"][..],
            &["-n", NS, "get", "events", "--sort-by=.lastTimestamp"][..],
        ] {
            if let Ok(out) = self.kubectl(args) {
                // The newest lines: the ones about the failing scenario.
                let text = String::from_utf8_lossy(&out.stdout);
                let lines: Vec<&str> = text.lines().collect();
                for l in &lines[lines.len().saturating_sub(15)..] {
                    s.push_str(l);
                    s.push('\n');
                }
                s.push_str(&String::from_utf8_lossy(&out.stderr));
            }
        }
        s
    }

    fn pod(
        &self,
        name: &str,
        runtime: Option<&str>,
        image: &str,
        command: &[&str],
        extra: &str,
    ) -> String {
        let runtime = runtime
            .map(|r| format!("  runtimeClassName: {r}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n{runtime}  \
             containers:\n  - name: main\n    image: {}\n    command: {}\n{extra}",
            self.image(image),
            serde_json::to_string(command).unwrap_or_default()
        )
    }
}

impl Cluster {
    /// A Wasm Job (RuntimeClass wasmpod, no retries) of one container
    /// `main` of `image`; `container` is more of that container's YAML
    /// (`command:`, `args:`, `env:` lines indented by 8).
    fn wasm_job(&self, name: &str, image: &str, container: &str) -> String {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  backoffLimit: 0\n  \
             template:\n    spec:\n      runtimeClassName: wasmpod\n      restartPolicy: Never\n      containers:\n      \
             - name: main\n        image: {}\n{container}",
            self.image(image)
        )
    }

    /// `wasmpod node install --policy POLICY` for this node (under the
    /// state folder's host root, the file containerd's
    /// `WASMPOD_NODE_POLICY` names); what it printed.
    fn install_policy(&self, policy: &Path) -> Result<String, String> {
        let out = run(Command::new(bin_dir().join("wasmpod"))
            .args(["node", "install", "--containerd-config"])
            .arg(self.state.join("containerd/config.toml"))
            .arg("--bin-dir")
            .arg(self.state.join("node-bin"))
            .arg("--host-root")
            .arg(self.state.join("host"))
            .arg("--policy")
            .arg(policy))?;
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        check(out.status.success(), || {
            format!(
                "wasmpod node install --policy {}: {}{said}{}",
                policy.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok(said)
    }

    /// Puts back the node policy `cluster.sh` installed, which lets every
    /// image run (the policy containerd names must exist).
    fn permissive_policy(&self) -> Result<(), String> {
        self.install_policy(&self.state.join("permissive-policy.toml"))
            .map(drop)
    }

    /// Deletes namespace `name` and waits (up to 60 s) until it is gone.
    fn delete_namespace(&self, name: &str) -> Result<(), String> {
        self.kubectl_ok(&["delete", "namespace", name, "--wait=true", "--timeout=60s"])
            .map(|_| ())
    }

    /// Waits (up to 120 s) until Job `name` is Complete; its logs.
    fn job_logs(&self, name: &str) -> Result<String, String> {
        let job = format!("job/{name}");
        self.kubectl_ok(&[
            "-n",
            NS,
            "wait",
            "--for=condition=Complete",
            &job,
            "--timeout=120s",
        ])?;
        self.kubectl_ok(&["-n", NS, "logs", &job])
    }
}

/// The bytes of file `path`, or an error naming it.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

/// GET `path` from `addr` (HTTP/1.0, so never chunked): status and body.
fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    wasmpod_testkit::http_get(addr, path).map_err(|e| e.to_string())
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

// ---- scenarios ------------------------------------------------------------

/// Scenario 9: every manifest in deploy/ passes the real API server's
/// validation (strict field checks, admission) in a server-side dry run.
/// (The RuntimeClass itself was applied for real by `prepare`.)
fn deploy_manifests_apply_cleanly(c: &Cluster) -> Result<(), String> {
    let deploy = c.repo.join("deploy").display().to_string();
    // A dry run of namespaced objects needs their namespace to exist.
    c.kubectl_ok(&["create", "namespace", "wasmpod-system", "--save-config"])?;
    let applied = c.kubectl(&[
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-R",
        "-f",
        &deploy,
    ])?;
    let out = String::from_utf8_lossy(&applied.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&applied.stderr);
    check(
        applied.status.success() && !stderr.contains("Warning"),
        || {
            format!(
                "kubectl apply --dry-run=server: {}: {stderr}",
                applied.status
            )
        },
    )?;
    for kind in [
        "runtimeclass.node.k8s.io/wasmpod",
        "serviceaccount/wasmpod-installer",
        "clusterrole.rbac.authorization.k8s.io/wasmpod-installer",
        "clusterrolebinding.rbac.authorization.k8s.io/wasmpod-installer",
        "validatingadmissionpolicy.admissionregistration.k8s.io/wasmpod-installer-own-node",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/wasmpod-installer-own-node",
        "daemonset.apps/wasmpod-installer",
        "job.batch/",
        "deployment.apps/",
        "service/",
    ] {
        check(out.contains(kind), || {
            format!("dry run did not report {kind}:\n{out}")
        })?;
    }
    c.delete_namespace("wasmpod-system")
}

/// Scenario 1: a Job whose Wasm container prints and exits 0 completes, and
/// `kubectl logs` shows its lines.
fn job_completes_and_logs_reach_kubectl(c: &Cluster) -> Result<(), String> {
    c.apply(&c.wasm_job(
        "hello",
        "guests",
        "        command: [\"/hello.wasm\", \"from\", \"kubernetes\"]\n        \
         env: [{name: GREETING_NAME, value: e2e}]\n",
    ))?;
    let logs = c.job_logs("hello")?;
    check(
        logs.contains("Hello from WebAssembly, e2e!")
            && logs.contains("arg 1: from")
            && logs.contains("arg 2: kubernetes"),
        || format!("job logs: {logs:?}"),
    )?;
    let code = c.field(
        &["pods", "-l", "job-name=hello"],
        "{.items[0].status.containerStatuses[0].state.terminated.exitCode}",
    )?;
    check(code == "0", || format!("exit code {code:?}"))
}

/// Scenario 2: two replicas of a wasi:http component behind a ClusterIP
/// Service answer through kube-proxy; scaling to 3 and to 0 works.
fn http_deployment_behind_a_cluster_ip_scales(c: &Cluster) -> Result<(), String> {
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {NS}\nspec:\n  replicas: 2\n  \
         selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      \
         runtimeClassName: wasmpod\n      containers:\n      - name: web\n        image: {}\n        \
         command: [\"/http-hello.wasm\"]\n        ports: [{{containerPort: 8080}}]\n        \
         readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {NS}\nspec:\n  \
         selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n",
        c.image("guests")
    );
    c.apply(&yaml)?;
    c.kubectl_ok(&[
        "-n",
        NS,
        "rollout",
        "status",
        "deployment/web",
        "--timeout=120s",
    ])?;
    let ip = c.field(&["service", "web"], "{.spec.clusterIP}")?;
    let addr = format!("{ip}:80");
    let ready_endpoints = |n: usize| -> Result<bool, String> {
        let ips = c.field(
            &["endpointslices", "-l", "kubernetes.io/service-name=web"],
            "{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}",
        )?;
        Ok(ips.split_whitespace().count() == n)
    };
    c.poll(Duration::from_secs(30), "2 ready endpoints", || {
        ready_endpoints(2)
    })?;
    // kube-proxy programs the rules after the endpoints change.
    c.poll(Duration::from_secs(30), "the Service answers", || {
        Ok(http_get(&addr, "/").is_ok_and(|(s, _)| s == 200))
    })?;
    for _ in 0..10 {
        let (status, body) = http_get(&addr, "/")?;
        check(status == 200 && body == "hello from wasm\n", || {
            format!("{status} {body:?}")
        })?;
    }

    c.kubectl_ok(&["-n", NS, "scale", "deployment/web", "--replicas=3"])?;
    c.kubectl_ok(&[
        "-n",
        NS,
        "rollout",
        "status",
        "deployment/web",
        "--timeout=120s",
    ])?;
    c.poll(Duration::from_secs(30), "3 ready endpoints", || {
        ready_endpoints(3)
    })?;
    let ready = c.field(&["deployment", "web"], "{.status.readyReplicas}")?;
    check(ready == "3", || format!("readyReplicas {ready:?}"))?;
    let (status, body) = http_get(&addr, "/")?;
    check(status == 200 && body == "hello from wasm\n", || {
        format!("{status} {body:?}")
    })?;

    c.kubectl_ok(&["-n", NS, "scale", "deployment/web", "--replicas=0"])?;
    c.kubectl_ok(&[
        "-n",
        NS,
        "wait",
        "--for=delete",
        "pod",
        "-l",
        "app=web",
        "--timeout=60s",
    ])?;
    let pods = c.kubectl_ok(&["-n", NS, "get", "pods", "-l", "app=web", "-o", "name"])?;
    check(pods.trim().is_empty(), || format!("pods left: {pods}"))?;
    // No endpoints: kube-proxy rejects the connection.
    c.poll(Duration::from_secs(30), "the Service refuses", || {
        Ok(http_get(&addr, "/").is_err())
    })
}

/// Scenario 3: `kubectl exec` runs a Wasm file from the pod's image as a new
/// instance, with its output and exit code.
fn kubectl_exec_runs_a_wasm_command(c: &Cluster) -> Result<(), String> {
    c.apply(&c.pod(
        "sleeper",
        Some("wasmpod"),
        "guests",
        &["/probe.wasm", "sleep", "3600"],
        "",
    ))?;
    c.wait_pod_ready("sleeper")?;
    let out = c.kubectl_ok(&["-n", NS, "exec", "sleeper", "--", "/hello.wasm", "a", "b"])?;
    check(
        out.contains("Hello from WebAssembly, world!")
            && out.contains("arg 1: a")
            && out.contains("arg 2: b"),
        || format!("exec output {out:?}"),
    )?;
    let out = c.kubectl(&[
        "-n",
        NS,
        "exec",
        "sleeper",
        "--",
        "/probe.wasm",
        "exit",
        "3",
    ])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    check(
        out.status.code() == Some(3) && stdout.contains("exiting with 3"),
        || {
            format!(
                "exec exit: {:?} {stdout:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        },
    )?;
    let out = c.kubectl(&["-n", NS, "exec", "sleeper", "--", "/missing.wasm"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    check(
        !out.status.success() && stderr.contains("missing.wasm"),
        || format!("exec of a missing file: {:?} {stderr:?}", out.status),
    )?;
    c.kubectl_ok(&["-n", NS, "delete", "pod", "sleeper", "--wait=false"])
        .map(|_| ())
}

/// Scenario 4: a guest spinning in a loop cannot handle SIGTERM, so the
/// shim stops it at once: `kubectl delete pod` is done well inside the
/// 30 s grace period.
fn deleting_a_spinning_pod_is_quick(c: &Cluster) -> Result<(), String> {
    c.apply(&c.pod(
        "spinner",
        Some("wasmpod"),
        "guests",
        &["/probe.wasm", "spin"],
        "",
    ))?;
    c.wait_pod_ready("spinner")?;
    c.poll(Duration::from_secs(30), "spinner logs", || {
        Ok(c.logs("spinner")?.contains("spinning"))
    })?;
    let t = Instant::now();
    c.kubectl_ok(&["-n", NS, "delete", "pod", "spinner", "--timeout=60s"])?;
    let took = t.elapsed();
    println!("    kubectl delete pod of a spinning guest: {took:?}");
    check(took < Duration::from_secs(3), || {
        format!("kubectl delete pod took {took:?}")
    })
}

/// Scenario 5: a memory hog in a pod limited to 64Mi gets no more than
/// that (its allocations fail inside the guest) and the node stays Ready.
fn memory_limit_holds(c: &Cluster) -> Result<(), String> {
    let extra = "    resources: {limits: {memory: 64Mi}}\n  restartPolicy: Never\n";
    c.apply(&c.pod(
        "hog",
        Some("wasmpod"),
        "guests",
        &["/probe.wasm", "alloc", "512"],
        extra,
    ))?;
    c.poll(Duration::from_secs(90), "hog finished", || {
        let phase = c.field(&["pod", "hog"], "{.status.phase}")?;
        Ok(phase == "Succeeded" || phase == "Failed")
    })?;
    let logs = c.logs("hog")?;
    let got: u32 = logs
        .strip_prefix("allocated ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or(format!("hog logs: {logs:?}"))?;
    check(got > 8 && got < 64 && logs.contains("of 512"), || {
        format!("hog logs: {logs:?}")
    })?;
    c.node_ready()
}

/// Scenario 6: the kubelet's summary API has CPU and memory numbers for a
/// running Wasm container (through CRI stats from the shim).
fn stats_summary_has_cpu_and_memory(c: &Cluster) -> Result<(), String> {
    c.apply(&c.pod(
        "holder",
        Some("wasmpod"),
        "guests",
        &["/probe.wasm", "alloc", "32", "600"],
        "",
    ))?;
    c.wait_pod_ready("holder")?;
    c.poll(Duration::from_secs(30), "holder holding", || {
        Ok(c.logs("holder")?.contains("holding"))
    })?;
    let path = format!("/api/v1/nodes/{}/proxy/stats/summary", c.node);
    let mut seen = String::new();
    c.poll(Duration::from_secs(90), "holder stats", || {
        let summary: serde_json::Value =
            serde_json::from_str(&c.kubectl_ok(&["get", "--raw", &path])?)
                .map_err(|e| e.to_string())?;
        let pod = summary["pods"]
            .as_array()
            .and_then(|pods| pods.iter().find(|p| p["podRef"]["name"] == "holder"));
        let Some(pod) = pod else { return Ok(false) };
        let container = &pod["containers"][0];
        let cpu = container["cpu"]["usageCoreNanoSeconds"]
            .as_u64()
            .unwrap_or(0);
        let memory = container["memory"]["workingSetBytes"].as_u64().unwrap_or(0);
        seen = format!("cpu {cpu} ns, memory {memory} bytes");
        // 32 MiB of linear memory are held.
        Ok(cpu > 0 && memory >= 32 << 20)
    })
    .map_err(|e| format!("{e}; last seen: {seen}"))?;
    c.kubectl_ok(&["-n", NS, "delete", "pod", "holder", "--wait=false"])
        .map(|_| ())
}

/// Scenario 7: an exec liveness probe (a Wasm command run in the pod) that
/// starts failing gets the container restarted.
fn failing_exec_liveness_probe_restarts(c: &Cluster) -> Result<(), String> {
    let extra = "    volumeMounts: [{name: data, mountPath: /data}]\n    \
                 livenessProbe:\n      exec: {command: [\"/probe.wasm\", \"cat\", \"/data/healthy\"]}\n      \
                 initialDelaySeconds: 1\n      periodSeconds: 1\n      timeoutSeconds: 5\n      failureThreshold: 2\n  \
                 volumes: [{name: data, emptyDir: {}}]\n";
    c.apply(&c.pod(
        "flappy",
        Some("wasmpod"),
        "guests",
        &["/probe.wasm", "flap", "/data/healthy", "4"],
        extra,
    ))?;
    c.wait_pod_ready("flappy")?;
    let restarts = || -> Result<u32, String> {
        let n = c.field(
            &["pod", "flappy"],
            "{.status.containerStatuses[0].restartCount}",
        )?;
        n.parse().map_err(|_| format!("restartCount {n:?}"))
    };
    check(restarts()? == 0, || {
        "restarted before the probe failed".into()
    })?;
    c.poll(Duration::from_secs(90), "flappy restarted", || {
        Ok(restarts()? >= 1)
    })?;
    let events = c.kubectl_ok(&[
        "-n",
        NS,
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=flappy,reason=Unhealthy",
        "-o",
        "jsonpath={.items[*].message}",
    ])?;
    // The probe's own output: the guest could not open the file.
    check(
        events.contains("Liveness probe failed") && events.contains("/data/healthy"),
        || format!("events: {events:?}"),
    )?;
    c.kubectl_ok(&["-n", NS, "delete", "pod", "flappy", "--wait=false"])
        .map(|_| ())
}

/// Scenario 8: a native busybox pod (runc, the default handler) runs on the
/// same node, beside a Wasm pod.
fn native_runc_pod_beside_wasm_pods(c: &Cluster) -> Result<(), String> {
    c.apply(&c.pod(
        "wasm-neighbour",
        Some("wasmpod"),
        "guests",
        &["/probe.wasm", "sleep", "3600"],
        "",
    ))?;
    c.apply(&c.pod(
        "native",
        None,
        "busybox",
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "echo native on $(/bin/busybox uname -s); exec /bin/busybox sleep 3600",
        ],
        "",
    ))?;
    c.wait_pod_ready("native")?;
    c.wait_pod_ready("wasm-neighbour")?;
    c.poll(Duration::from_secs(30), "native logs", || {
        Ok(c.logs("native")?.contains("native on Linux"))
    })?;
    let out = c.kubectl_ok(&[
        "-n",
        NS,
        "exec",
        "native",
        "--",
        "/bin/busybox",
        "echo",
        "exec ok",
    ])?;
    check(out.trim() == "exec ok", || format!("native exec {out:?}"))?;
    let nodes = c.field(
        &["pods", "native", "wasm-neighbour"],
        "{.items[*].spec.nodeName}",
    )?;
    check(nodes == format!("{0} {0}", c.node), || {
        format!("nodes {nodes:?}")
    })?;
    c.node_ready()
}

/// The installer DaemonSet from deploy/ (its image built and pushed by
/// `wasmpod node image`, its hostPaths pointed at this node's
/// containerd config and bin dirs): on a node whose handler was removed it
/// runs `wasmpod node install --restart` (containerd restarted by the
/// no-systemd fallback, from inside a privileged hostPID pod), labels the
/// node `wasmpod.dev/ready=true` through the API with its service account,
/// and installs again when the config is reverted.
/// The messages of the events about pod `pod`.
fn pod_events(c: &Cluster, pod: &str) -> Result<String, String> {
    c.kubectl_ok(&[
        "-n",
        NS,
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

/// Waits (up to 90 s) for the kubelet's `Failed` event about pod `pod`
/// that carries the node policy's refusal; `kubectl describe pod` must
/// show it too. Returns the event's message.
fn policy_refusal(c: &Cluster, pod: &str) -> Result<String, String> {
    let mut message = String::new();
    c.poll(
        Duration::from_secs(90),
        &format!("a refusal event for {pod}"),
        || {
            let events = pod_events(c, pod)?;
            message = events
                .lines()
                .find(|l| l.starts_with("Failed: ") && l.contains("node trust policy "))
                .unwrap_or_default()
                .to_string();
            Ok(!message.is_empty())
        },
    )?;
    let described = c.kubectl_ok(&["-n", NS, "describe", "pod", pod])?;
    check(described.contains("node trust policy "), || {
        format!("kubectl describe pod {pod} shows no refusal:\n{described}")
    })?;
    // Waiting to be tried again, or ended for good under
    // `restartPolicy: Never`: never running. (The status may trail the
    // event by a moment.)
    let mut state = String::new();
    c.poll(
        Duration::from_secs(30),
        &format!("{pod} refused in its status"),
        || {
            state = c.field(
                &["pod", pod],
                "{.status.containerStatuses[0].state.*.reason}",
            )?;
            Ok(matches!(
                state.as_str(),
                "RunContainerError" | "CrashLoopBackOff" | "StartError"
            ))
        },
    )
    .map_err(|e| format!("{e}: the container is {state:?}"))?;
    Ok(message)
}

/// Scenario: the node gets a trust policy from `wasmpod node install
/// --policy` (under the state folder's host root, the file containerd's
/// `WASMPOD_NODE_POLICY` names). A pod of an image cosign signed with the
/// policy's key runs; an unsigned one is refused with an event naming the
/// image, the rule and the reason; a pod whose tag was re-pointed to an
/// unsigned digest after signing is refused, naming the new digest.
fn node_policy_admits_signed_pods_and_refuses_the_rest(c: &Cluster) -> Result<(), String> {
    use wasmpod_testkit::cosign::KeyPair;
    let keys = tempfile::tempdir().map_err(|e| e.to_string())?;
    let alice = KeyPair::generate(keys.path(), "alice");
    let hello = read_file(guests::HELLO)?;
    let probe = read_file(guests::PROBE)?;
    let with_tag = |tag: &str| {
        compat_image(
            &[
                ("/hello.wasm", &hello),
                ("/probe.wasm", &probe),
                ("/tag", tag.as_bytes()),
            ],
            "/hello.wasm",
        )
    };
    let (signed, unsigned, moving) = (
        c.image("policy-signed"),
        c.image("policy-unsigned"),
        c.image("policy-moving"),
    );
    push_image(&signed, &with_tag("signed"));
    alice.sign(&signed);
    push_image(&unsigned, &with_tag("unsigned"));
    push_image(&moving, &with_tag("moving"));
    alice.sign_bundle(&moving);

    // The policy, as an admin ships it: a folder with the policy and its key.
    let src = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::copy(&alice.public, src.path().join("release.pub")).map_err(|e| e.to_string())?;
    std::fs::write(
        src.path().join("policy.toml"),
        "[default]\naction = \"require-signature\"\nkeys = [\"release.pub\"]\n",
    )
    .map_err(|e| e.to_string())?;
    let host = c.state.join("host");
    let installed = host.join("etc/wasmpod/policy.toml");
    let said = c.install_policy(&src.path().join("policy.toml"))?;
    check(installed.is_file(), || {
        format!("no policy at {}", installed.display())
    })?;
    check(said.contains("default require-signature"), || {
        format!("node install said: {said}")
    })?;
    let result = (|| -> Result<(), String> {
        // Signed: the Job runs to completion, logs and all.
        c.apply(&c.wasm_job(
            "policy-signed",
            "policy-signed",
            "        command: [\"/hello.wasm\", \"signed\"]\n",
        ))?;
        let logs = c.job_logs("policy-signed")?;
        check(
            logs.contains("Hello from WebAssembly") && logs.contains("arg 1: signed"),
            || format!("signed job logs: {logs:?}"),
        )?;

        // Unsigned: refused at the node, with the reason as an event.
        c.apply(&c.pod(
            "policy-unsigned",
            Some("wasmpod"),
            "policy-unsigned",
            &["/hello.wasm"],
            "",
        ))?;
        let message = policy_refusal(c, "policy-unsigned")?;
        println!("  policy-unsigned: {message}");
        for needle in [
            unsigned.as_str(),
            "refused by the default rule (require-signature)",
            "it is not signed",
        ] {
            check(message.contains(needle), || {
                format!("no {needle:?} in the event: {message}")
            })?;
        }

        // Signed with a cosign v3 bundle: runs. Then the tag is re-pointed
        // to unsigned content; a pod that pulls it again is refused.
        c.apply(&c.pod(
            "policy-moving-1",
            Some("wasmpod"),
            "policy-moving",
            &["/probe.wasm", "sleep", "300"],
            "    imagePullPolicy: Always\n",
        ))?;
        c.wait_pod_ready("policy-moving-1")?;
        let first = c.field(
            &["pod", "policy-moving-1"],
            "{.status.containerStatuses[0].imageID}",
        )?;
        push_image(&moving, &with_tag("moved"));
        c.apply(&c.pod(
            "policy-moving-2",
            Some("wasmpod"),
            "policy-moving",
            &["/probe.wasm", "sleep", "300"],
            "    imagePullPolicy: Always\n",
        ))?;
        let message = policy_refusal(c, "policy-moving-2")?;
        check(
            message.contains(&format!("{moving} (sha256:"))
                && !first.is_empty()
                && !message.contains(first.rsplit('@').next().unwrap_or("-")),
            || format!("the refusal names not the new digest (first {first}): {message}"),
        )?;
        // The pod admitted before the tag moved keeps running.
        let ready = c.field(
            &["pod", "policy-moving-1"],
            "{.status.containerStatuses[0].ready}",
        )?;
        check(ready == "true", || format!("policy-moving-1 ready={ready}"))
    })();
    // The node goes back to the policy that lets everything run, whatever
    // happened, for what runs after this scenario.
    let removed = c.permissive_policy();
    for pod in ["policy-unsigned", "policy-moving-1", "policy-moving-2"] {
        let _ = c.kubectl(&["-n", NS, "delete", "pod", pod, "--wait=false"]);
    }
    let _ = c.kubectl(&["-n", NS, "delete", "job", "policy-signed", "--wait=false"]);
    result.and(removed)
}

fn installer_daemonset_installs_labels_and_reapplies(c: &Cluster) -> Result<(), String> {
    let config = c.state.join("containerd/config.toml");
    let node_bin = c.state.join("node-bin");
    let wasmpod = bin_dir().join("wasmpod");
    let uninstall = || -> Result<(), String> {
        let out = run(Command::new(&wasmpod)
            .args(["node", "uninstall", "--containerd-config"])
            .arg(&config)
            .arg("--bin-dir")
            .arg(&node_bin))?;
        check(out.status.success(), || {
            format!(
                "wasmpod node uninstall: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let has_handler = || -> Result<bool, String> {
        let text =
            std::fs::read_to_string(&config).map_err(|e| format!("{}: {e}", config.display()))?;
        Ok(text.contains("runtimes.wasmpod]")
            && node_bin.join("containerd-shim-wasmpod-v1").is_file())
    };
    // A node as an admin finds it: no handler, no label.
    uninstall()?;
    check(!has_handler()?, || "uninstall left the handler".into())?;
    c.kubectl_ok(&["label", "node", &c.node, "wasmpod.dev/ready-"])?;

    let image = c.image("installer");
    // Written and pushed by wasmpod itself. The test binaries carry full
    // debug info (almost 1 GB for the two); a stripped copy of each, side
    // by side as `node image` expects, keeps the image at release size.
    let stripped = tempfile::tempdir().map_err(|e| e.to_string())?;
    for name in ["wasmpod", "containerd-shim-wasmpod-v1"] {
        let out = run(Command::new("strip")
            .arg("--strip-debug")
            .arg(bin_dir().join(name))
            .arg("-o")
            .arg(stripped.path().join(name)))?;
        check(out.status.success(), || {
            format!("strip {name}: {}", String::from_utf8_lossy(&out.stderr))
        })?;
    }
    let out = run(Command::new(stripped.path().join("wasmpod")).args(["node", "image", &image]))?;
    check(out.status.success(), || {
        format!(
            "wasmpod node image: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;

    let yaml =
        std::fs::read_to_string(c.repo.join("deploy/installer.yaml")).map_err(|e| e.to_string())?;
    let state = c.state.display().to_string();
    let patched = yaml
        .replace(
            "image: ghcr.io/wasmpod/wasmpod-installer:0.1.0",
            &format!("image: {image}"),
        )
        .replace(
            "path: /etc/containerd\n",
            &format!("path: {state}/containerd\n"),
        )
        .replace(
            "path: /usr/local/bin\n",
            &format!("path: {state}/node-bin\n"),
        )
        .replace("path: /run\n", &format!("path: {state}\n"))
        // The policy goes where this node's containerd tells the shim to
        // read it (WASMPOD_NODE_POLICY, set by cluster.sh).
        .replace(
            "path: /etc/wasmpod\n",
            &format!("path: {state}/host/etc/wasmpod\n"),
        )
        // Re-check every 2 s instead of every minute.
        .replace("sleep 60", "sleep 2");
    check(
        patched.matches(&state).count() == 4 && patched.contains("sleep 2"),
        || format!("deploy/installer.yaml changed shape; patched:\n{patched}"),
    )?;
    // A trust policy for every node, in the ConfigMap the DaemonSet mounts
    // (made first, so the installer's first pass already has it): images
    // run unsigned but for one denied prefix and one that needs a key.
    let keys = tempfile::tempdir().map_err(|e| e.to_string())?;
    let release = wasmpod_testkit::cosign::KeyPair::generate(keys.path(), "release");
    let policy_src = keys.path().join("policy.toml");
    std::fs::write(
        &policy_src,
        format!(
            "[default]\naction = \"allow-unsigned\"\n\n[[rule]]\nprefix = \"{registry}/e2e/policy-denied\"\n\
             action = \"deny\"\n\n[[rule]]\nprefix = \"{registry}/e2e/policy-signed\"\n\
             action = \"require-signature\"\nkeys = [\"release.pub\"]\n",
            registry = c.registry
        ),
    )
    .map_err(|e| e.to_string())?;
    c.kubectl_ok(&["create", "namespace", "wasmpod-system"])?;
    c.kubectl_ok(&[
        "-n",
        "wasmpod-system",
        "create",
        "configmap",
        "wasmpod-policy",
        &format!("--from-file={}", policy_src.display()),
        &format!("--from-file={}", release.public()),
    ])?;
    let node_policy = c.state.join("host/etc/wasmpod");
    c.apply(&patched)?;
    let label = || -> Result<bool, String> {
        let v = c.kubectl_ok(&[
            "get",
            "node",
            &c.node,
            "-o",
            "jsonpath={.metadata.labels.wasmpod\\.dev/ready}",
        ])?;
        Ok(v == "true")
    };
    let installer_logs = || {
        c.kubectl(&[
            "-n",
            "wasmpod-system",
            "logs",
            "daemonset/wasmpod-installer",
        ])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
    };
    // `wasmpod node label` run in the installer's pod must be refused by
    // the admission policy with `reason`.
    let refused_label = |node: &str, label: &str, reason: &str| -> Result<(), String> {
        let out = c.kubectl(&[
            "-n",
            "wasmpod-system",
            "exec",
            "daemonset/wasmpod-installer",
            "--",
            "wasmpod",
            "node",
            "label",
            "--node",
            node,
            label,
        ])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        check(!out.status.success() && stderr.contains(reason), || {
            format!(
                "`wasmpod node label --node {node} {label}`: {:?} {stderr}",
                out.status
            )
        })
    };
    c.poll(
        Duration::from_secs(180),
        "node labelled by the installer",
        label,
    )
    .map_err(|e| format!("{e}\ninstaller logs:\n{}", installer_logs()))?;
    check(has_handler()?, || {
        "labelled without the handler installed".into()
    })?;
    let logs = installer_logs();
    check(logs.contains("restarted containerd"), || {
        format!("installer logs:\n{logs}")
    })?;

    // Its service account may label only its own node (the admission
    // policy in installer.yaml): a decoy Node object stays untouched.
    c.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: decoy\n")?;
    refused_label(
        "decoy",
        "wasmpod.dev/ready=true",
        "only the node its pod runs on",
    )?;
    let decoy = c.kubectl_ok(&["get", "node", "decoy", "-o", "jsonpath={.metadata.labels}"])?;
    check(!decoy.contains("wasmpod.dev"), || {
        format!("decoy labels {decoy}")
    })?;
    c.kubectl_ok(&["delete", "node", "decoy"])?;

    // Wasm pods run through the handler the installer put in.
    c.apply(&c.pod(
        "after-install",
        Some("wasmpod"),
        "guests",
        &["/hello.wasm", "again"],
        "  restartPolicy: Never\n",
    ))?;
    c.poll(Duration::from_secs(90), "after-install finished", || {
        Ok(c.field(&["pod", "after-install"], "{.status.phase}")? == "Succeeded")
    })?;
    let out = c.logs("after-install")?;
    check(out.contains("arg 1: again"), || {
        format!("after-install logs {out:?}")
    })?;

    // The ConfigMap's policy, and the key it names, are on the node, and
    // the shim enforces them.
    let installed = std::fs::read_to_string(node_policy.join("policy.toml"))
        .map_err(|e| format!("the ConfigMap's policy is not on the node: {e}"))?;
    check(
        installed.contains("policy-denied") && node_policy.join("release.pub").is_file(),
        || format!("installed policy: {installed}"),
    )?;
    push_image(
        &c.image("policy-denied"),
        &compat_image(
            &[("/hello.wasm", &read_file(guests::HELLO)?)],
            "/hello.wasm",
        ),
    );
    c.apply(&c.pod(
        "policy-denied",
        Some("wasmpod"),
        "policy-denied",
        &["/hello.wasm"],
        "  restartPolicy: Never\n",
    ))?;
    let message = policy_refusal(c, "policy-denied")?;
    check(message.contains("deny): the policy denies it"), || {
        format!("refusal: {message}")
    })?;
    c.kubectl_ok(&["-n", NS, "delete", "pod", "policy-denied", "--wait=false"])?;

    // Nothing but that label, even on its own node.
    refused_label(&c.node, "other=1", "only the label wasmpod.dev/ready")?;

    // Reverted behind its back (config, binaries and label): the installer
    // puts all of it back.
    uninstall()?;
    c.kubectl_ok(&["label", "node", &c.node, "wasmpod.dev/ready-"])?;
    c.poll(Duration::from_secs(120), "handler re-applied", has_handler)
        .map_err(|e| format!("{e}\ninstaller logs:\n{}", installer_logs()))?;
    c.poll(Duration::from_secs(60), "node labelled again", label)?;
    c.delete_namespace("wasmpod-system")?;
    // The policy stays on the node after the DaemonSet is gone (a node does
    // not drop its checks by itself); this test removes it.
    let removed = run(Command::new(&wasmpod)
        .args(["node", "uninstall", "--containerd-config"])
        .arg(&config)
        .arg("--bin-dir")
        .arg(&node_bin)
        .arg("--host-root")
        .arg(c.state.join("host")))?;
    check(
        removed.status.success() && !node_policy.join("policy.toml").exists(),
        || {
            format!(
                "node uninstall left the policy: {}",
                String::from_utf8_lossy(&removed.stderr)
            )
        },
    )
}

/// Images whose modules are Wasm layers, on a node with containerd 1.7: a
/// Job of an image with an image config (its entrypoint, the pod's args)
/// and of the CNCF Wasm artifact, built by wasmpod and pushed by `oras`
/// (the pod names the module), complete with their output in `kubectl
/// logs`; `kubectl exec` runs another layer of the image by its title;
/// and under a node policy a signed artifact runs and an unsigned one is
/// refused.
fn wasm_layer_images_run_in_pods_on_containerd_1_7(c: &Cluster) -> Result<(), String> {
    let (hello, probe) = (read_file(guests::HELLO)?, read_file(guests::PROBE)?);
    push_image(
        &c.image("layers"),
        &wasm_layer_image(
            &[("hello.wasm", &hello), ("probe.wasm", &probe)],
            "/hello.wasm",
        ),
    );
    push_image(
        &c.image("artifact"),
        &wasmpod_oci::image::build(
            &hello,
            &wasmpod_oci::image::PushFormat::Artifact {
                title: "hello.wasm".into(),
            },
        )
        .map_err(|e| e.to_string())?,
    );
    // The same kind of artifact as another tool pushes it: `oras push`
    // with the artifact's config and layer media types.
    wasmpod_testkit::oras::push_wasm_artifact(&c.image("by-oras"), &hello, "module.wasm");
    c.apply(&c.wasm_job(
        "by-oras",
        "by-oras",
        "        command: [\"/module.wasm\", \"from\", \"oras\"]\n",
    ))?;
    c.apply(&c.wasm_job(
        "layered",
        "layers",
        "        args: [\"from\", \"layers\"]\n",
    ))?;
    c.apply(&c.wasm_job(
        "artifact",
        "artifact",
        "        command: [\"/hello.wasm\", \"from\", \"artifact\"]\n",
    ))?;
    for (name, arg) in [
        ("layered", "layers"),
        ("artifact", "artifact"),
        ("by-oras", "oras"),
    ] {
        let logs = c.job_logs(name)?;
        check(
            logs.contains("Hello from WebAssembly, world!")
                && logs.contains(&format!("arg 2: {arg}")),
            || format!("{name} logs: {logs:?}"),
        )?;
    }
    c.apply(&c.pod(
        "layered-sleeper",
        Some("wasmpod"),
        "layers",
        &["/probe.wasm", "sleep", "3600"],
        "",
    ))?;
    c.wait_pod_ready("layered-sleeper")?;
    let out = c.kubectl_ok(&[
        "-n",
        NS,
        "exec",
        "layered-sleeper",
        "--",
        "/hello.wasm",
        "x",
    ])?;
    check(
        out.contains("Hello from WebAssembly, world!") && out.contains("arg 1: x"),
        || format!("exec output {out:?}"),
    )?;
    c.kubectl_ok(&["-n", NS, "delete", "pod", "layered-sleeper", "--wait=false"])?;

    // Under a node policy requiring a signature: the CNCF artifact, signed
    // by cosign, runs (its layer read from the checked digest); the same
    // kind of artifact unsigned is refused with an event.
    let keys = tempfile::tempdir().map_err(|e| e.to_string())?;
    let alice = wasmpod_testkit::cosign::KeyPair::generate(keys.path(), "alice");
    alice.sign(&c.image("artifact"));
    let mut other = hello.clone();
    // A custom section: another module, so another digest, that still runs.
    other.extend_from_slice(b"\x00\x06\x05other");
    push_image(
        &c.image("artifact-unsigned"),
        &wasmpod_oci::image::build(
            &other,
            &wasmpod_oci::image::PushFormat::Artifact {
                title: "hello.wasm".into(),
            },
        )
        .map_err(|e| e.to_string())?,
    );
    std::fs::write(
        keys.path().join("policy.toml"),
        "[default]\naction = \"require-signature\"\nkeys = [\"alice.pub\"]\n",
    )
    .map_err(|e| e.to_string())?;
    c.install_policy(&keys.path().join("policy.toml"))?;
    let result = (|| -> Result<(), String> {
        c.apply(&c.wasm_job(
            "artifact-signed",
            "artifact",
            "        command: [\"/hello.wasm\", \"signed\"]\n",
        ))?;
        let logs = c.job_logs("artifact-signed")?;
        check(logs.contains("arg 1: signed"), || {
            format!("artifact-signed logs: {logs:?}")
        })?;
        c.apply(&c.pod(
            "artifact-unsigned",
            Some("wasmpod"),
            "artifact-unsigned",
            &["/hello.wasm"],
            "  restartPolicy: Never\n",
        ))?;
        let message = policy_refusal(c, "artifact-unsigned")?;
        check(
            message.contains(&c.image("artifact-unsigned")) && message.contains("it is not signed"),
            || format!("refusal: {message}"),
        )
    })();
    let removed = c.permissive_policy();
    result.and(removed)
}
