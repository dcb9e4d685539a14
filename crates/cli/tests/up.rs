//! `wasmpod up` as a user sees it: the built binary on manifests written to a
//! temp folder next to copies of the test guests (`file://probe.wasm`,
//! `file://http.wasm`). Every wait is bounded; long-running `up` processes
//! are stopped with SIGINT (and killed by a guard if a test fails first).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::up::*;
use common::*;
use wasmpod_test_guests as guests;
use wasmpod_testkit::{Deadline, KillOnDrop, free_port, lines_of, output_within, wait_until};

/// How long to wait for one expected line of a long-running `up`.
const LINE_LIMIT: Duration = Duration::from_secs(30);

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.as_str() == needle).count()
}

fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l == needle)
        .unwrap_or_else(|| panic!("no line {needle:?} in:\n{}", lines.join("\n")))
}

/// A long-running `wasmpod up`, its stdout read line by line on a thread.
struct Running {
    child: KillOnDrop,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    fn start(w: &Wasmpod, file: &Path) -> Self {
        let mut child = KillOnDrop::spawn(
            w.cmd()
                .arg("up")
                .arg("-f")
                .arg(file)
                .args(["--backoff-scale", "0.01"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let lines = lines_of(child.0.stdout.take().expect("stdout"));
        let mut err = child.0.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    fn pid(&self) -> String {
        self.child.0.id().to_string()
    }

    /// Waits (bounded) for a line that `matches`, and returns it.
    #[track_caller]
    fn wait_for(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return line.clone();
        }
        let deadline = Deadline::after(LINE_LIMIT);
        loop {
            match self.lines.recv_timeout(deadline.left()) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line {what} ({e:?}); output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for exactly `line`.
    #[track_caller]
    fn wait_line(&mut self, line: &str) -> String {
        self.wait_for(&format!("{line:?}"), |l| l == line)
    }

    /// Waits until `line` has been seen `n` times.
    #[track_caller]
    fn wait_count(&mut self, line: &str, n: usize) {
        let deadline = Deadline::after(LINE_LIMIT);
        while count(&self.seen, line) < n {
            match self.lines.recv_timeout(deadline.left()) {
                Ok(l) => self.seen.push(l),
                Err(e) => panic!(
                    "{line:?} not seen {n} times ({e:?}); output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Collects what arrives for `d`.
    fn collect_for(&mut self, d: Duration) {
        let deadline = Deadline::after(d);
        while let Ok(l) = self.lines.recv_timeout(deadline.left()) {
            self.seen.push(l);
        }
    }

    /// `kill -INT`.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.pid()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to end and for the rest of its
    /// output: its status, every stdout line, and stderr.
    fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let deadline = Deadline::after(LINE_LIMIT);
        let Some(status) = self.child.wait_within(LINE_LIMIT) else {
            panic!(
                "wasmpod up did not stop; output so far:\n{}",
                self.seen.join("\n")
            );
        };
        loop {
            match self.lines.recv_timeout(deadline.left()) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout stays open"),
            }
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().expect("join stderr"))
            .unwrap_or_default();
        (status, std::mem::take(&mut self.seen), stderr)
    }

    /// SIGINT, then asserts the graceful stop: exit 130, no panic.
    #[track_caller]
    fn stop(self) -> Vec<String> {
        self.interrupt();
        let (status, lines, stderr) = self.finish();
        assert_eq!(
            status.code(),
            Some(130),
            "stdout:\n{}\nstderr:\n{stderr}",
            lines.join("\n")
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            lines.contains(&"[event] wasmpod: Stopping (again to force)".to_string()),
            "{}",
            lines.join("\n")
        );
        lines
    }
}

/// `GET path` on 127.0.0.1:`port`: status and body, or `None` when the
/// connection closes without a status line (a refused connection fails).
#[track_caller]
fn try_http_get(port: u16, path: &str) -> Option<(u16, String)> {
    match wasmpod_testkit::http_get(&format!("127.0.0.1:{port}"), path) {
        Ok(r) => Some(r),
        Err(wasmpod_testkit::HttpError::NoResponse(_)) => None,
        Err(e) => panic!("{e}"),
    }
}

#[track_caller]
fn http_get(port: u16, path: &str) -> (u16, String) {
    try_http_get(port, path).unwrap_or_else(|| panic!("no HTTP response on port {port}"))
}

/// The port in `... served at http://127.0.0.1:PORT/)`.
fn served_port(line: &str) -> u16 {
    line.rsplit_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

fn pod(name: &str, restart: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {restart}\n  containers:\n{containers}"
    )
}

/// A probe container: `command: [probe]`, `args` as given (YAML flow list).
fn probe_container(name: &str, args: &str) -> String {
    format!(
        "  - name: {name}\n    image: file://probe.wasm\n    command: [probe]\n    args: {args}\n"
    )
}

// 1. command/args, $(VAR) expansion, exit codes.

#[test]
fn a_pod_runs_its_command_with_expanded_args() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "app.yaml",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: cli
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: file://probe.wasm
    command: [probe, args]
    args: ["$(GREETING)", "x $(NAME) y", "$$(GREETING)", "$(UNKNOWN)"]
    env:
    - name: GREETING
      value: hello
    - name: NAME
      value: $(GREETING)-world
"#,
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "[event] cli/main: Started\n\
         cli/main | argv[0]=probe\n\
         cli/main | argv[1]=args\n\
         cli/main | argv[2]=hello\n\
         cli/main | argv[3]=x hello-world y\n\
         cli/main | argv[4]=$(GREETING)\n\
         cli/main | argv[5]=$(UNKNOWN)\n\
         [event] cli/main: Exited with code 0\n"
    );
    assert_eq!(stderr(&o), "");

    // Without `command` the entrypoint is the image (the file's path).
    let file = p.write(
        "noentry.yaml",
        &pod(
            "bare",
            "Never",
            "  - name: main\n    image: file://probe.wasm\n    args: [args]\n",
        ),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    assert_eq!(
        out[1],
        format!("bare/main | argv[0]={}", p.file("probe.wasm"))
    );
    assert_eq!(out[2], "bare/main | argv[1]=args");

    // A failing container with restartPolicy Never: exit 1, no restart.
    let file = p.write(
        "fail.yaml",
        &pod("cli", "Never", &probe_container("main", "[exit, \"3\"]")),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 1);
    assert_eq!(
        stdout(&o),
        "[event] cli/main: Started\n\
         cli/main | exiting with 3\n\
         [event] cli/main: Exited with code 3\n"
    );
}

// 2. env sources.

#[test]
fn env_comes_from_values_config_maps_secrets_and_fields() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "env.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: team
data:
  color: blue
  size: "3"
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
  namespace: team
data:
  token: czNjcjN0      # s3cr3t
  user: bm9ib2R5       # nobody, replaced by stringData
stringData:
  user: admin
---
apiVersion: v1
kind: Pod
metadata:
  name: envs
  namespace: team
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: file://probe.wasm
    command: [probe, env]
    envFrom:
    - configMapRef:
        name: cfg
      prefix: CFG_
    - secretRef:
        name: sec
      prefix: SEC_
    env:
    - name: PLAIN
      value: plain value
    - name: COLOR
      valueFrom:
        configMapKeyRef: {name: cfg, key: color}
    - name: TOKEN
      valueFrom:
        secretKeyRef: {name: sec, key: token}
    - name: USER
      valueFrom:
        secretKeyRef: {name: sec, key: user}
    - name: POD_NAME
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    - name: POD_NS
      valueFrom:
        fieldRef: {fieldPath: metadata.namespace}
    - name: DERIVED
      value: $(COLOR)-$(POD_NAME)
    - name: CFG_size
      value: overridden
"#,
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let vars: Vec<String> = lines(&o)
        .iter()
        .filter_map(|l| l.strip_prefix("envs/main | "))
        .map(str::to_string)
        .collect();
    // envFrom first, then env; a later name replaces an earlier one in place.
    assert_eq!(
        vars,
        [
            "CFG_color=blue",
            "CFG_size=overridden",
            "SEC_token=s3cr3t",
            "SEC_user=admin",
            "PLAIN=plain value",
            "COLOR=blue",
            "TOKEN=s3cr3t",
            "USER=admin",
            "POD_NAME=envs",
            "POD_NS=team",
            "DERIVED=blue-envs",
            "env-end",
        ]
    );
    // Nothing of the host's environment reaches the guest.
    assert!(!stdout(&o).contains("host-secret-value"));
}

// 3. Volumes and workingDir.

#[test]
fn volumes_config_map_secret_empty_dir_and_host_path() {
    let w = Wasmpod::new();
    let p = Project::new();
    p.write("ro/keep.txt", "original\n");
    let manifest = format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  color: |
    blue
  unused: nope
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
stringData:
  token: s3cr3t
---
apiVersion: v1
kind: Pod
metadata:
  name: files
spec:
  restartPolicy: Never
  volumes:
  - name: cfg
    configMap:
      name: cfg
      items:
      - key: color
        path: sub/renamed
  - name: sec
    secret:
      secretName: sec
  containers:
{cfg}    volumeMounts:
    - {{name: cfg, mountPath: /cfg}}
{cfgls}    volumeMounts:
    - {{name: cfg, mountPath: /cfg}}
{cfgw}    volumeMounts:
    - {{name: cfg, mountPath: /cfg}}
{sec}    volumeMounts:
    - {{name: sec, mountPath: /sec}}
---
apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  # The reader fails until the writer has written, and is restarted.
  restartPolicy: OnFailure
  volumes:
  - name: scratch
    emptyDir: {{}}
  containers:
{writer}    volumeMounts:
    - {{name: scratch, mountPath: /shared}}
{reader}    volumeMounts:
    - {{name: scratch, mountPath: /data}}
---
apiVersion: v1
kind: Pod
metadata:
  name: host
spec:
  restartPolicy: Never
  volumes:
  - name: ro
    hostPath: {{path: ro}}
  - name: rw
    hostPath: {{path: rw-made, type: DirectoryOrCreate}}
  - name: gone
    hostPath: {{path: not-there}}
  containers:
{rowrite}    volumeMounts:
    - {{name: ro, mountPath: /ro, readOnly: true}}
{roread}    volumeMounts:
    - {{name: ro, mountPath: /ro, readOnly: true}}
{rwwrite}    volumeMounts:
    - {{name: rw, mountPath: /rw}}
{gone}    volumeMounts:
    - {{name: gone, mountPath: /gone}}
"#,
        cfg = probe_container("cfg", "[cat, /cfg/sub/renamed]"),
        cfgls = probe_container("cfgls", "[ls, /cfg]"),
        cfgw = probe_container("cfgw", "[write, /cfg/new, x]"),
        sec = probe_container("sec", "[cat, /sec/token]"),
        writer = probe_container("writer", "[write, /shared/msg, from-the-writer]"),
        reader = probe_container("reader", "[cat, /data/msg]"),
        rowrite = probe_container("rowrite", "[write, /ro/keep.txt, changed]"),
        roread = probe_container("roread", "[cat, /ro/keep.txt]"),
        rwwrite = probe_container("rwwrite", "[write, /rw/out.txt, written-by-guest]"),
        gone = probe_container("gone", "[ls, /gone]"),
    );
    let file = p.write("volumes.yaml", &manifest);
    let o = up_file(&w, &file);
    // The writes to read-only volumes fail, so the run fails.
    assert_code(&o, 1);
    let out = lines(&o);
    let text = out.join("\n");

    // ConfigMap volume with items: only the listed key, at its path.
    assert!(out.contains(&"files/cfg | blue".to_string()), "{text}");
    let mut listed: Vec<&str> = out
        .iter()
        .filter_map(|l| l.strip_prefix("files/cfgls | "))
        .collect();
    listed.sort();
    assert_eq!(listed, [".", "..", "sub"], "{text}");
    // ConfigMap volumes are read-only.
    assert_eq!(count(&out, "[event] files/cfgw: Exited with code 1"), 1);
    assert!(
        out.iter()
            .any(|l| l.starts_with("files/cfgw | open /cfg/new failed: ")),
        "{text}"
    );
    assert!(out.contains(&"files/sec | s3cr3t".to_string()), "{text}");
    assert_eq!(count(&out, "[event] files/cfg: Exited with code 0"), 1);
    assert_eq!(count(&out, "[event] files/sec: Exited with code 0"), 1);

    // emptyDir: what one container writes, the other reads.
    assert!(
        out.contains(&"shared/writer | wrote /shared/msg".to_string()),
        "{text}"
    );
    assert!(
        out.contains(&"shared/reader | from-the-writer".to_string()),
        "{text}"
    );
    assert_eq!(count(&out, "[event] shared/writer: Exited with code 0"), 1);
    assert_eq!(
        out.iter()
            .rev()
            .find(|l| l.starts_with("[event] shared/reader: Exited")),
        Some(&"[event] shared/reader: Exited with code 0".to_string())
    );
    // OnFailure does not restart a container that succeeded.
    assert!(
        !text.contains("[event] shared/writer: Restarting"),
        "{text}"
    );

    // hostPath readOnly: readable, not writable, the host file untouched.
    assert!(
        out.contains(&"host/roread | original".to_string()),
        "{text}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("host/rowrite | open /ro/keep.txt failed: ")),
        "{text}"
    );
    assert_eq!(count(&out, "[event] host/rowrite: Exited with code 1"), 1);
    assert_eq!(
        std::fs::read_to_string(p.path().join("ro/keep.txt")).expect("read"),
        "original\n"
    );
    // hostPath read-write (DirectoryOrCreate made it): the file is on the
    // host.
    assert!(
        out.contains(&"host/rwwrite | wrote /rw/out.txt".to_string()),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("rw-made/out.txt")).expect("read"),
        "written-by-guest"
    );
    // A hostPath (type Directory) that does not exist: the container
    // cannot start, and nothing is created.
    assert!(
        out.contains(&format!(
            "[event] host/gone: Failed: volume {}: No such file or directory (os error 2)",
            p.file("not-there")
        )),
        "{text}"
    );
    assert_eq!(count(&out, "[event] host/gone: Exited with code 125"), 1);
    assert!(!p.path().join("not-there").exists());
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

// 4. Memory limits.

#[test]
fn memory_limit_caps_what_a_container_can_allocate() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "mem.yaml",
        &pod(
            "mem",
            "Never",
            &format!(
                "{}    resources:\n      limits: {{memory: 16Mi, cpu: 500m}}\n{}",
                probe_container("capped", "[alloc, \"64\"]"),
                probe_container("free", "[alloc, \"64\"]"),
            ),
        ),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    let capped = out
        .iter()
        .find_map(|l| l.strip_prefix("mem/capped | allocated "))
        .unwrap_or_else(|| panic!("{}", out.join("\n")));
    let got: u32 = capped
        .strip_suffix(" MiB of 64")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected {capped:?}"));
    assert!((1..16).contains(&got), "allocated {got} MiB under 16Mi");
    assert!(out.contains(&"mem/free | allocated 64 MiB of 64".to_string()));
}

// 5. Restart policies.

#[test]
fn restart_policies_on_failure_and_always_restart_with_backoff() {
    let w = Wasmpod::new();
    let p = Project::new();
    let manifest = [
        pod(
            "onfail",
            "OnFailure",
            &probe_container("main", "[exit, \"3\"]"),
        ),
        pod(
            "always",
            "Always",
            &probe_container("main", "[exit, \"0\"]"),
        ),
        pod(
            "once",
            "OnFailure",
            &probe_container("main", "[exit, \"0\"]"),
        ),
    ]
    .join("---\n");
    let file = p.write("restarts.yaml", &manifest);
    let mut up = Running::start(&w, &file);
    // The kubelet's backoff, scaled: 100ms doubling.
    up.wait_line("[event] onfail/main: Restarting in 100ms");
    up.wait_line("[event] onfail/main: Restarting in 200ms");
    up.wait_line("[event] onfail/main: Restarting in 400ms");
    up.wait_count("[event] onfail/main: Exited with code 3", 4);
    // Always restarts even after exit 0.
    up.wait_line("[event] always/main: Restarting in 200ms");
    up.wait_count("[event] always/main: Exited with code 0", 2);
    up.wait_line("[event] once/main: Exited with code 0");
    let out = up.stop();
    let text = out.join("\n");

    let started = count(&out, "[event] onfail/main: Started");
    let exited = count(&out, "[event] onfail/main: Exited with code 3");
    let restarting = out
        .iter()
        .filter(|l| l.starts_with("[event] onfail/main: Restarting in "))
        .count();
    assert!(exited >= 4, "{text}");
    assert_eq!(started, exited, "{text}");
    // Every exit is followed by a restart, except maybe the one the stop
    // interrupted.
    assert!(restarting == exited || restarting + 1 == exited, "{text}");
    assert_eq!(
        count(&out, "onfail/main | exiting with 3"),
        exited,
        "{text}"
    );

    assert!(count(&out, "[event] always/main: Started") >= 2, "{text}");
    assert!(text.contains("[event] always/main: Restarting in 100ms"));

    // OnFailure after exit 0: ran once, never restarted.
    assert_eq!(count(&out, "[event] once/main: Started"), 1, "{text}");
    assert!(!text.contains("once/main: Restarting"), "{text}");
}

// 6. Jobs.

fn job(name: &str, extra: &str, args: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{extra}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: file://probe.wasm\n        command: [probe]\n        args: {args}\n"
    )
}

#[test]
fn a_job_runs_to_its_completions_one_at_a_time() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "job.yaml",
        &job(
            "batch",
            "  completions: 2\n  parallelism: 1\n",
            "[exit, \"0\"]",
        ),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    assert_eq!(count(&out, "[event] batch-0/main: Exited with code 0"), 1);
    assert_eq!(count(&out, "[event] batch-1/main: Exited with code 0"), 1);
    assert_eq!(count(&out, "batch-0/main | exiting with 0"), 1);
    // parallelism 1: the second pod starts after the first ended.
    assert!(
        position(&out, "[event] batch-0/main: Exited with code 0")
            < position(&out, "[event] batch-1/main: Started")
    );
    assert_eq!(
        out.last().map(String::as_str),
        Some("[event] job/batch: Complete (2/2 succeeded)")
    );
    assert!(!stdout(&o).contains("batch-2"), "{}", stdout(&o));
}

#[test]
fn a_failing_job_stops_at_its_backoff_limit() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "job.yaml",
        &job("flaky", "  backoffLimit: 2\n", "[exit, \"3\"]"),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 1);
    let out = lines(&o);
    let text = out.join("\n");
    let exits: Vec<&String> = out
        .iter()
        .filter(|l| l.contains(": Exited with code"))
        .collect();
    assert_eq!(
        exits,
        [
            "[event] flaky-0/main: Exited with code 3",
            "[event] flaky-1/main: Exited with code 3",
            "[event] flaky-2/main: Exited with code 3",
        ],
        "{text}"
    );
    assert_eq!(
        position(&out, "[event] job/flaky: Pod failed; retrying in 100ms") + 1,
        position(&out, "[event] flaky-1/main: Started")
    );
    position(&out, "[event] job/flaky: Pod failed; retrying in 200ms");
    assert_eq!(
        out.last().map(String::as_str),
        Some("[event] job/flaky: Failed: backoffLimit 2 reached (3 failed pods)"),
        "{text}"
    );
}

/// Answers HTTP GETs on a port of its own: 500 to the first request, 200
/// to every other, until dropped.
struct FailOnce {
    port: u16,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FailOnce {
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            while !stop.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                let status = if served == 0 { "500 Failing" } else { "200 OK" };
                served += 1;
                let _ = conn.write_all(format!("HTTP/1.0 {status}\r\n\r\n").as_bytes());
            }
        });
        Self {
            port,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for FailOnce {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_failed_job_stops_its_pods_that_still_run() {
    // Two pods at once; the liveness probe fails exactly once, so one pod
    // is killed (a failed pod, past backoffLimit 0) and the other would
    // sleep for 10 minutes: failing the Job must stop it.
    let w = Wasmpod::new();
    let p = Project::new();
    let checker = FailOnce::start();
    let file = p.write(
        "job.yaml",
        &format!(
            "{}        livenessProbe:\n          httpGet: {{path: /, port: {}}}\n          periodSeconds: 1\n          failureThreshold: 1\n",
            job(
                "pair",
                "  completions: 2\n  parallelism: 2\n  backoffLimit: 0\n",
                "[sleep, \"600\"]",
            ),
            checker.port
        ),
    );
    let mut cmd = w.cmd();
    cmd.arg("up").arg("-f").arg(&file);
    let started = Instant::now();
    let o = output_within(cmd, None, Duration::from_secs(20));
    assert_code(&o, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    let out = lines(&o);
    let text = out.join("\n");
    assert_eq!(
        count(
            &out,
            "[event] pair-0/main: Liveness probe failed; restarting"
        ) + count(
            &out,
            "[event] pair-1/main: Liveness probe failed; restarting"
        ),
        1,
        "{text}"
    );
    assert_eq!(count(&out, "[event] pair-0/main: Exited with code 143"), 1);
    assert_eq!(count(&out, "[event] pair-1/main: Exited with code 143"), 1);
    assert!(
        text.contains("[event] job/pair: Failed: backoffLimit 0 reached (1 failed pods)"),
        "{text}"
    );
    assert!(!text.contains("pair-2"), "{text}");
    assert!(!text.contains("woke"), "{text}");
}

// 7. Deployments and Services.

fn http_deployment(name: &str, replicas: u32, extra: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: file://http.wasm
        ports:
        - {{containerPort: 8080, name: http}}
{extra}"#
    )
}

fn service(name: &str, app: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {app}}}\n  ports:\n  - port: {port}\n    targetPort: http\n"
    )
}

#[test]
fn a_deployment_is_served_through_its_service_and_stops_on_sigint() {
    let w = Wasmpod::new();
    let p = Project::new();
    let port = free_port();
    let file = p.write(
        "web.yaml",
        &[http_deployment("web", 2, ""), service("web", "web", port)].join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    up.wait_line(&format!(
        "[event] service/web: Listening on http://127.0.0.1:{port} (2 endpoints)"
    ));
    let mut direct = Vec::new();
    for replica in ["web-0", "web-1"] {
        let prefix = format!("[event] {replica}/app: Started (containerPort 8080 served at ");
        let line = up.wait_for(&prefix, |l| l.starts_with(&prefix));
        direct.push(served_port(&line));
    }
    assert_ne!(direct[0], direct[1]);
    assert!(!direct.contains(&port));
    for _ in 0..6 {
        assert_eq!(http_get(port, "/"), (200, "hello from wasm\n".into()));
    }
    for d in &direct {
        assert_eq!(http_get(*d, "/"), (200, "hello from wasm\n".into()));
    }
    assert_eq!(http_get(port, "/fail"), (500, "failing\n".into()));

    let out = up.stop();
    let text = out.join("\n");
    assert_eq!(count(&out, "[event] web-0/app: Exited with code 143"), 1);
    assert_eq!(count(&out, "[event] web-1/app: Exited with code 143"), 1);
    assert!(!text.contains("Restarting"), "{text}");
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn wasi_p3_commands_and_services_run_under_up() {
    let w = Wasmpod::new();
    let p = Project::new();
    for guest in ["wall-clock", "cli-exit", "http-service"] {
        std::fs::copy(
            common::p3_fixtures().join(format!("{guest}.wasm")),
            p.path().join(format!("{guest}.wasm")),
        )
        .expect("copy a WASI 0.3 fixture");
    }
    let file = p.write("wasi-p3.yaml", include_str!("fixtures/up/wasi-p3.yaml"));
    let mut up = Running::start(&w, &file);
    up.wait_line("[event] clock/main: Exited with code 0");
    up.wait_line("[event] exit/main: Exited with code 1");
    let prefix = "[event] web/app: Started (containerPort 8080 served at ";
    let line = up.wait_for(prefix, |l| l.starts_with(prefix));
    let port = served_port(&line);
    assert_eq!(http_get(port, "/"), (200, "hey\n".into()));
    assert_eq!(http_get(port, "/"), (200, "hey\n".into()));
    assert_eq!(http_get(port, "/whatever").0, 404);
    up.stop();
}

#[test]
fn a_wasi_p3_service_streams_its_echo_through_a_service() {
    // Our own 0.3 guest (tests/guests/p3-stream-echo.wat) behind a
    // Service: the first chunk of the request comes back through the
    // Service's proxy before the rest is sent.
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::copy(guests::P3_STREAM_ECHO_WAT_WASM, p.path().join("echo.wasm"))
        .expect("copy the echo guest");
    let port = free_port();
    let deployment = http_deployment("echo", 1, "").replace("file://http.wasm", "file://echo.wasm");
    let file = p.write(
        "echo.yaml",
        &[deployment, service("echo", "echo", port)].join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    up.wait_line(&format!(
        "[event] service/echo: Listening on http://127.0.0.1:{port} (1 endpoints)"
    ));
    let started = "[event] echo-0/app: Started (containerPort 8080 served at ";
    up.wait_for(started, |l| l.starts_with(started));
    let (status, body) =
        echo_in_two_parts(&format!("127.0.0.1:{port}"), "ping,", " pong", LINE_LIMIT);
    assert_eq!((status, body.as_str()), (200, "ping, pong"));
    up.stop();
}

/// The reuse annotations on a Deployment's template reach its pods: the
/// counter guest's count goes up across requests (one instance serves
/// them), and the plan shows them. Without them every request gets a
/// fresh instance. A bad value is one line naming it, exit 125.
#[test]
fn the_reuse_annotation_makes_a_pod_reuse_its_instances() {
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::copy(guests::P3_COUNTER_WAT_WASM, p.path().join("counter.wasm"))
        .expect("copy the counter guest");
    let deployment = |name: &str, annotations: &str| {
        http_deployment(name, 1, "")
            .replace("file://http.wasm", "file://counter.wasm")
            .replace(
                "    metadata:\n      labels:",
                &format!("    metadata:\n      annotations: {{{annotations}}}\n      labels:"),
            )
    };
    let file = p.write(
        "reuse.yaml",
        &[
            deployment(
                "reused",
                "wasmpod.dev/max-instance-reuse-count: \"3\", wasmpod.dev/max-instance-concurrent-reuse-count: \"4\"",
            ),
            deployment("fresh", ""),
        ]
        .join("---\n"),
    );
    let o = common::up::up(&w, &["-f", &file.display().to_string(), "--dry-run"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).lines().any(|l| l.starts_with("pod reused-0 ")
            && l.contains(" max-instance-reuse-count=3 max-instance-concurrent-reuse-count=4")),
        "{}",
        stdout(&o)
    );

    let mut up = Running::start(&w, &file);
    let reused = served_port(&up.wait_for("reused-0 started", |l| {
        l.starts_with("[event] reused-0/app: Started (")
    }));
    let fresh = served_port(&up.wait_for("fresh-0 started", |l| {
        l.starts_with("[event] fresh-0/app: Started (")
    }));
    let counts = |port: u16| -> Vec<String> { (0..4).map(|_| http_get(port, "/").1).collect() };
    assert_eq!(counts(reused), ["1\n", "2\n", "3\n", "1\n"]);
    assert_eq!(counts(fresh), ["1\n", "1\n", "1\n", "1\n"]);
    up.stop();

    let bad = p.write(
        "bad.yaml",
        &deployment("bad", "wasmpod.dev/max-instance-reuse-count: \"0\""),
    );
    let o = up_file(&w, &bad);
    assert_code(&o, 125);
    let err = stderr(&o);
    assert!(err.starts_with("wasmpod: error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "wasmpod.dev/max-instance-reuse-count]: \"0\" is not a whole number from 1 to 1000000"
        ),
        "{err}"
    );
}

// 8. Probes.

#[test]
fn readiness_gates_service_traffic() {
    let w = Wasmpod::new();
    let p = Project::new();
    let (good_port, bad_port) = (free_port(), free_port());
    let probe = |path: &str| {
        format!(
            "        readinessProbe:\n          httpGet: {{path: {path}, port: http}}\n          periodSeconds: 1\n          failureThreshold: 1\n"
        )
    };
    let file = p.write(
        "probes.yaml",
        &[
            http_deployment("good", 1, &probe("/")),
            service("good", "good", good_port),
            http_deployment("bad", 1, &probe("/fail")),
            service("bad", "bad", bad_port),
        ]
        .join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    up.wait_line("[event] good-0/app: Ready");
    let started = up.wait_for("bad-0 started", |l| {
        l.starts_with("[event] bad-0/app: Started (")
    });
    assert_eq!(http_get(good_port, "/"), (200, "hello from wasm\n".into()));
    // Give the failing probe a few periods.
    up.collect_for(Duration::from_millis(2500));
    assert_eq!(try_http_get(bad_port, "/"), None);
    // The pod itself is serving: only the Service holds traffic back.
    assert_eq!(http_get(served_port(&started), "/").0, 200);
    assert_eq!(http_get(good_port, "/"), (200, "hello from wasm\n".into()));

    let out = up.stop();
    let text = out.join("\n");
    assert!(!text.contains("bad-0/app: Ready"), "{text}");
    assert!(!text.contains("Restarting"), "{text}");
}

#[test]
fn a_pod_that_stops_being_ready_leaves_the_service_and_comes_back() {
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::create_dir(p.path().join("tools")).expect("mkdir");
    std::fs::copy(guests::PROBE, p.path().join("tools/check.wasm")).expect("copy");
    p.write("flags/ready", "yes\n");
    let port = free_port();
    let extra = "        volumeMounts:\n        - {name: tools, mountPath: /tools, readOnly: true}\n        - {name: flags, mountPath: /flags, readOnly: true}\n        readinessProbe:\n          exec:\n            command: [/tools/check.wasm, cat, /flags/ready]\n          periodSeconds: 1\n          failureThreshold: 1\n      volumes:\n      - {name: tools, hostPath: {path: tools}}\n      - {name: flags, hostPath: {path: flags}}\n";
    let file = p.write(
        "toggle.yaml",
        &[
            http_deployment("web", 1, extra),
            service("web", "web", port),
        ]
        .join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    up.wait_line("[event] web-0/app: Ready");
    assert_eq!(http_get(port, "/"), (200, "hello from wasm\n".into()));

    std::fs::remove_file(p.path().join("flags/ready")).expect("rm");
    up.wait_line("[event] web-0/app: Not ready (readiness probe failed)");
    assert_eq!(try_http_get(port, "/"), None);

    std::fs::write(p.path().join("flags/ready"), "yes\n").expect("write");
    up.wait_count("[event] web-0/app: Ready", 2);
    assert_eq!(http_get(port, "/"), (200, "hello from wasm\n".into()));

    // SIGTERM stops gracefully too, with 128+15.
    let killed = Command::new("kill")
        .args(["-TERM", &up.pid()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, out, stderr) = up.finish();
    assert_eq!(status.code(), Some(143), "{}\n{stderr}", out.join("\n"));
    assert_eq!(count(&out, "[event] web-0/app: Exited with code 143"), 1);
    assert!(!out.join("\n").contains("Restarting"));
}

#[test]
fn a_failing_liveness_probe_restarts_the_container() {
    let w = Wasmpod::new();
    let p = Project::new();
    let dead = free_port();
    let file = p.write(
        "live.yaml",
        &pod(
            "live",
            "Always",
            &format!(
                "{}    livenessProbe:\n      tcpSocket: {{port: {dead}}}\n      periodSeconds: 1\n      failureThreshold: 1\n",
                probe_container("main", "[sleep, \"600\"]")
            ),
        )
        .replace("spec:\n", "spec:\n  terminationGracePeriodSeconds: 1\n"),
    );
    let mut up = Running::start(&w, &file);
    up.wait_line("live/main | sleeping");
    up.wait_line("[event] live/main: Liveness probe failed; restarting");
    up.wait_line("[event] live/main: Restarting in 100ms");
    up.wait_count("[event] live/main: Started", 2);
    up.wait_count("live/main | sleeping", 2);
    let out = up.stop();
    let text = out.join("\n");
    // The probe's SIGTERM stops the instance (a guest cannot catch it).
    let first_exit = out
        .iter()
        .find(|l| l.starts_with("[event] live/main: Exited with code "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(first_exit, "[event] live/main: Exited with code 143");
    assert!(
        position(&out, "[event] live/main: Liveness probe failed; restarting")
            < position(&out, "[event] live/main: Restarting in 100ms")
    );
}

#[test]
fn exec_readiness_probes_run_the_container_module_or_a_volume_file() {
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::create_dir(p.path().join("tools")).expect("mkdir");
    // The probe module with a custom section: a module of its own, which
    // no container runs.
    let mut check = std::fs::read(guests::PROBE).expect("probe");
    check.extend([0, 6, 5, b'p', b'r', b'o', b'b', b'e']);
    std::fs::write(p.path().join("tools/check.wasm"), &check).expect("write");
    let exec = |command: &str| {
        format!(
            "    readinessProbe:\n      exec:\n        command: {command}\n      periodSeconds: 1\n"
        )
    };
    let manifest = [
        // The container's own module, run with the probe's argv.
        pod(
            "own",
            "Always",
            &format!(
                "{}{}",
                probe_container("main", "[sleep, \"600\"]"),
                exec("[probe, exit, \"0\"]")
            ),
        ),
        pod(
            "ownfail",
            "Always",
            &format!(
                "{}{}",
                probe_container("main", "[sleep, \"600\"]"),
                exec("[probe, exit, \"1\"]")
            ),
        ),
        // An HTTP component cannot run as a command: Ready proves that the
        // Wasm file in the volume ran.
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: tool\nspec:\n  volumes:\n  - name: tools\n    hostPath: {{path: tools}}\n  containers:\n  - name: main\n    image: file://http.wasm\n    ports: [{{containerPort: 8080}}]\n    volumeMounts:\n    - {{name: tools, mountPath: /tools, readOnly: true}}\n{}",
            exec("[/tools/check.wasm, exit, \"0\"]")
        ),
    ]
    .join("---\n");
    let file = p.write("exec.yaml", &manifest);
    let mut up = Running::start(&w, &file);
    up.wait_line("[event] own/main: Ready");
    up.wait_line("[event] tool/main: Ready");
    up.collect_for(Duration::from_millis(2500));
    let out = up.stop();
    let text = out.join("\n");
    assert!(!text.contains("ownfail/main: Ready"), "{text}");
    // A probe's output is not the container's.
    assert!(!text.contains("exiting with"), "{text}");
    // A probe's module from a volume is compiled at each use and never
    // cached (a guest may rewrite it every period): the cache holds the
    // two containers' modules only.
    let mut cached = 0;
    let mut dirs = vec![w.home.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("ls").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "cwasm") {
                cached += 1;
            }
        }
    }
    assert_eq!(cached, 2, "{text}");
}

#[test]
fn exec_probes_get_the_container_s_memory_and_cpu_limits() {
    let w = Wasmpod::new();
    let p = Project::new();
    // Each pod's container sleeps; its readiness probe runs the container's
    // own module (hog), which exits 0 only if it gets what it asks for.
    let hog = |name: &str, limits: &str, probe: &str, timeout: u32| {
        pod(
            name,
            "Always",
            &format!(
                "  - name: main\n    image: file://hog.wasm\n    command: [hog]\n    args: [sleep, \"600\"]\n{limits}    readinessProbe:\n      exec:\n        command: {probe}\n      periodSeconds: 1\n      timeoutSeconds: {timeout}\n"
            ),
        )
    };
    let memory = |m: &str| format!("    resources:\n      limits: {{memory: {m}}}\n");
    let manifest = [
        // 32 MiB more than a 16Mi container may have: the probe fails.
        hog("memcap", &memory("16Mi"), "[hog, memory, \"32\"]", 5),
        // Under a 64Mi limit the same probe passes.
        hog("memfits", &memory("64Mi"), "[hog, memory, \"32\"]", 5),
        // About a second of CPU: at 10m the probe gets a sliver of a CPU
        // and runs past its timeout; without a limit it passes.
        hog(
            "cpucap",
            "    resources:\n      limits: {cpu: 10m}\n",
            "[hog, cpu, \"2000\"]",
            5,
        ),
        hog("cpufree", "", "[hog, cpu, \"2000\"]", 5),
    ]
    .join("---\n");
    let file = p.write("limits.yaml", &manifest);
    let started = Instant::now();
    let mut up = Running::start(&w, &file);
    up.wait_line("[event] memfits/main: Ready");
    up.wait_line("[event] cpufree/main: Ready");
    // The capped probes' first runs have ended (the CPU one by its 5 s
    // timeout), and more have started.
    up.collect_for(Duration::from_secs(8).saturating_sub(started.elapsed()));
    let out = up.stop();
    let text = out.join("\n");
    assert!(!text.contains("memcap/main: Ready"), "{text}");
    assert!(!text.contains("cpucap/main: Ready"), "{text}");
    // The containers themselves ran, within their limits.
    for name in ["memcap", "cpucap"] {
        assert_eq!(count(&out, &format!("{name}/main | sleeping")), 1, "{text}");
    }
}

// 10. Graceful stop.

#[test]
fn sigint_drains_requests_in_flight() {
    let w = Wasmpod::new();
    let p = Project::new();
    let port = free_port();
    let file = p.write(
        "drain.yaml",
        &[
            http_deployment("slow", 1, ""),
            service("slow", "slow", port),
        ]
        .join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    let started = up.wait_for("slow-0 started", |l| {
        l.starts_with("[event] slow-0/app: Started (")
    });
    let direct = served_port(&started);
    up.wait_for("service", |l| {
        l.starts_with("[event] service/slow: Listening")
    });
    assert_eq!(http_get(port, "/"), (200, "hello from wasm\n".into()));

    // One request straight to the pod, one through the Service; SIGINT
    // while both are in flight.
    let via_pod = std::thread::spawn(move || try_http_get(direct, "/sleep"));
    let via_service = std::thread::spawn(move || try_http_get(port, "/sleep"));
    std::thread::sleep(Duration::from_millis(300));
    let started_at = Instant::now();
    let out = up.stop();
    assert_eq!(via_pod.join().expect("join"), Some((200, "slept\n".into())));
    assert_eq!(
        via_service.join().expect("join"),
        Some((200, "slept\n".into()))
    );
    assert!(started_at.elapsed() < Duration::from_secs(5));
    assert_eq!(count(&out, "[event] slow-0/app: Exited with code 143"), 1);
}

#[test]
fn the_grace_period_bounds_the_drain_and_a_second_sigint_forces() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "grace.yaml",
        &[
            http_deployment("nograce", 1, "").replace(
                "terminationGracePeriodSeconds: 5",
                "terminationGracePeriodSeconds: 0",
            ),
            http_deployment("patient", 1, "").replace(
                "terminationGracePeriodSeconds: 5",
                "terminationGracePeriodSeconds: 30",
            ),
        ]
        .join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    let mut ports = Vec::new();
    for name in ["nograce", "patient"] {
        let prefix = format!("[event] {name}-0/app: Started (");
        ports.push(served_port(
            &up.wait_for(&prefix, |l| l.starts_with(&prefix)),
        ));
    }
    let (nograce, patient) = (ports[0], ports[1]);
    assert_eq!(http_get(patient, "/"), (200, "hello from wasm\n".into()));
    let cut = std::thread::spawn(move || try_http_get(nograce, "/sleep"));
    let forced = std::thread::spawn(move || try_http_get(patient, "/sleep"));
    std::thread::sleep(Duration::from_millis(300));
    up.interrupt();
    // Grace 0: the request in flight is cut at once.
    assert_eq!(cut.join().expect("join"), None);
    // Grace 30: the drain would wait for the other one (1 s); a second
    // SIGINT stops now.
    up.interrupt();
    assert_eq!(forced.join().expect("join"), None);
    let (status, out, stderr) = up.finish();
    let text = out.join("\n");
    assert_eq!(status.code(), Some(130), "{text}\n{stderr}");
    assert_eq!(
        count(&out, "[event] wasmpod: Forcing the stop"),
        1,
        "{text}"
    );
    assert_eq!(
        count(&out, "[event] nograce-0/app: Exited with code 137"),
        1,
        "{text}"
    );
    // Killed before its drain ended (grace 0, or the forced stop): 137,
    // as the kubelet reports a container killed after its grace period.
    assert_eq!(
        count(&out, "[event] patient-0/app: Exited with code 137"),
        1,
        "{text}"
    );
}

// 11. Input handling.

#[test]
fn bad_input_is_one_error_line_and_exit_125() {
    let w = Wasmpod::new();
    let p = Project::new();
    let ok_pod = pod("p", "Never", &probe_container("main", "[exit, \"0\"]"));

    let bad = p.write("bad.yaml", "kind: Pod\nmetadata:\n  name: [x\n");
    let o = up(&w, &["-f", &bad.display().to_string()]);
    assert_host_failure(&o, &format!("{}:", bad.display()));
    let rest = stderr(&o);
    let rest = rest
        .split_once("bad.yaml:")
        .map(|(_, r)| r)
        .unwrap_or_default();
    let mut pos = rest.splitn(3, ':');
    let line: usize = pos.next().and_then(|n| n.parse().ok()).expect("line");
    let col: usize = pos.next().and_then(|n| n.parse().ok()).expect("column");
    assert!(line >= 3 && col >= 1, "{}", stderr(&o));

    let cases: Vec<(&str, String, String)> = vec![
        (
            "kind.yaml",
            "apiVersion: v1\nkind: Frobnicator\nmetadata:\n  name: f\n".into(),
            "Frobnicator/f: kind Frobnicator is not supported".into(),
        ),
        (
            "field.yaml",
            ok_pod.replace(
                "    command: [probe]\n",
                "    command: [probe]\n    securityContext: {runAsUser: 1000}\n",
            ),
            "Pod/p: spec.containers[0].securityContext is not supported".into(),
        ),
        (
            "quantity.yaml",
            ok_pod.replace(
                "    command: [probe]\n",
                "    command: [probe]\n    resources:\n      limits: {memory: 12Q}\n",
            ),
            "Pod/p: spec.containers[0].resources.limits.memory: ".into(),
        ),
        (
            "configmap.yaml",
            ok_pod.replace(
                "    command: [probe]\n",
                "    command: [probe]\n    env:\n    - name: X\n      valueFrom:\n        configMapKeyRef: {name: nope, key: k}\n",
            ),
            "Pod/p: spec.containers[0].env[0].valueFrom.configMapKeyRef: ConfigMap nope not found"
                .into(),
        ),
        (
            "image.yaml",
            ok_pod.replace("file://probe.wasm", "file://missing.wasm"),
            format!("cannot read {}", p.file("missing.wasm")),
        ),
        (
            "notwasm.yaml",
            ok_pod.replace("file://probe.wasm", "file://notwasm.yaml"),
            format!("cannot load {}", p.file("notwasm.yaml")),
        ),
    ];
    for (name, text, needle) in &cases {
        let file = p.write(name, text);
        let o = up(&w, &["-f", &file.display().to_string()]);
        assert_host_failure(&o, needle);
    }

    // A Service port that is taken: nothing runs.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let marker = p.path().join("ran");
    let file = p.write(
        "port.yaml",
        &[
            pod(
                "p",
                "Never",
                &format!(
                    "{}    volumeMounts: [{{name: here, mountPath: /here}}]\n",
                    probe_container("main", "[write, /here/ran, x]")
                ),
            )
            .replace(
                "  containers:\n",
                "  volumes: [{name: here, hostPath: {path: .}}]\n  containers:\n",
            )
            .replace("  name: p\n", "  name: p\n  labels: {app: p}\n")
            .replace(
                "    volumeMounts:",
                "    ports: [{containerPort: 80, name: http}]\n    volumeMounts:",
            ),
            service("svc", "p", port),
        ]
        .join("---\n"),
    );
    let o = up(&w, &["-f", &file.display().to_string()]);
    assert_host_failure(&o, "");
    // What failed on top, the reason once, below it.
    let err = stderr(&o);
    assert_eq!(
        error_lines(&err),
        [
            format!("Service/svc: cannot listen on 127.0.0.1:{port}"),
            "Address already in use (os error 98)".to_string(),
        ],
        "{err}"
    );
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
    assert!(!marker.exists());
    drop(taken);

    // Bad flags.
    let ok = p.write("ok.yaml", &ok_pod);
    let o = up(
        &w,
        &["-f", &ok.display().to_string(), "--backoff-scale", "NaN"],
    );
    assert_host_failure(&o, "--backoff-scale NaN: must be a number from 0 to 1000");
    let o = up(
        &w,
        &["-f", &ok.display().to_string(), "--backoff-scale", "1e17"],
    );
    assert_host_failure(
        &o,
        "--backoff-scale 100000000000000000: must be a number from 0 to 1000",
    );
    let o = up(&w, &["-f", &p.file("absent.yaml")]);
    assert_host_failure(&o, &p.file("absent.yaml"));
}

#[test]
fn lenient_warns_about_unsupported_fields_and_runs() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "lenient.yaml",
        &pod(
            "p",
            "Never",
            "  - name: main\n    image: file://probe.wasm\n    command: [probe, exit, \"0\"]\n    securityContext: {runAsUser: 1000}\n",
        ),
    );
    let f = file.display().to_string();
    let o = up(&w, &["-f", &f, "--lenient"]);
    assert_code(&o, 0);
    let warnings: Vec<String> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with("wasmpod: "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        warnings,
        ["wasmpod: warning: Pod/p: spec.containers[0].securityContext is not supported (ignored)"]
    );
    assert!(
        lines(&o).contains(&"p/main | exiting with 0".to_string()),
        "{}",
        stdout(&o)
    );
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "dry.yaml",
        &[
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  pw: hunter2\n"
                .to_string(),
            pod(
                "p",
                "Never",
                "  - name: main\n    image: file://probe.wasm\n    command: [probe, write, /here/ran, $(PW)]\n    env:\n    - name: PW\n      valueFrom:\n        secretKeyRef: {name: s, key: pw}\n    volumeMounts: [{name: here, mountPath: /here}]\n",
            )
            .replace(
                "  containers:\n",
                "  volumes: [{name: here, hostPath: {path: .}}]\n  containers:\n",
            ),
            job("j", "", "[exit, \"0\"]"),
        ]
        .join("---\n"),
    );
    let o = up(&w, &["-f", &file.display().to_string(), "--dry-run"]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("pod p restart=Never grace=30s\n"), "{out}");
    assert!(out.contains("\n  container main image=file://"), "{out}");
    assert!(
        out.contains("job j completions=1 parallelism=1 backoffLimit=6 restart=Never"),
        "{out}"
    );
    assert!(!out.contains("[event]"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("<secret>"), "{out}");
    assert!(!p.path().join("ran").exists());
    assert_eq!(stderr(&o), "");
}

#[test]
fn manifests_come_from_stdin_directories_and_several_files() {
    let w = Wasmpod::new();
    let p = Project::new();
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  word: bird\n";
    let user = pod(
        "p",
        "Never",
        "  - name: main\n    image: file://probe.wasm\n    command: [probe, args, $(WORD)]\n    env:\n    - name: WORD\n      valueFrom:\n        configMapKeyRef: {name: cfg, key: word}\n",
    );

    // `-f -`: file:// paths are relative to the current directory.
    let mut cmd = w.cmd();
    cmd.args(["up", "-f", "-"]).current_dir(p.path());
    let o = output_within(cmd, Some(&format!("{config}---\n{user}")), RUN_LIMIT);
    assert_code(&o, 0);
    assert!(
        lines(&o).contains(&"p/main | argv[2]=bird".to_string()),
        "{}",
        stdout(&o)
    );

    // A directory: its *.yaml and *.yml files, nothing else.
    let dir = p.path().join("manifests");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("a-config.yaml"), config).expect("write");
    std::fs::write(
        dir.join("b-pod.yml"),
        user.replace("file://probe.wasm", "file://../probe.wasm"),
    )
    .expect("write");
    std::fs::write(dir.join("notes.txt"), "not: [yaml").expect("write");
    let o = up(&w, &["-f", &dir.display().to_string()]);
    assert_code(&o, 0);
    assert!(
        lines(&o).contains(&"p/main | argv[2]=bird".to_string()),
        "{}",
        stdout(&o)
    );

    // Several -f.
    let cfg = p.write("cfg.yaml", config);
    let user_file = p.write("user.yaml", &user);
    let o = up(
        &w,
        &[
            "-f",
            &cfg.display().to_string(),
            "-f",
            &user_file.display().to_string(),
        ],
    );
    assert_code(&o, 0);
    assert!(
        lines(&o).contains(&"p/main | argv[2]=bird".to_string()),
        "{}",
        stdout(&o)
    );
    // The same object twice is an error.
    let o = up(
        &w,
        &[
            "-f",
            &cfg.display().to_string(),
            "-f",
            &dir.display().to_string(),
        ],
    );
    assert_host_failure(&o, "ConfigMap/cfg: defined twice");
}

#[test]
fn working_dir_is_where_relative_paths_resolve() {
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("data/sub")).expect("mkdir");
    std::fs::write(p.path().join("data/sub/f.txt"), "from the working dir\n").expect("write");
    let data = p.file("data");
    let file = p.write(
        "wd.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: wd\nspec:\n  restartPolicy: Never\n  volumes:\n  - name: data\n    hostPath: {{path: {data}}}\n  containers:\n  - name: c\n    image: file://probe.wasm\n    command: [probe]\n    args: [cat, f.txt]\n    workingDir: /data/sub\n    volumeMounts:\n    - {{name: data, mountPath: /data, readOnly: true}}\n"
        ),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    assert!(
        lines(&o).contains(&"wd/c | from the working dir".to_string()),
        "{}",
        stdout(&o)
    );
}

// Sandbox: what a guest changes in its volumes cannot widen its grant.

#[test]
fn a_restart_does_not_follow_a_volume_the_guest_swapped_for_a_symlink() {
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("srv/a/b")).expect("mkdir");
    std::fs::write(p.path().join("srv/a/b/inner"), "").expect("write");
    std::fs::write(p.path().join("srv/host-secret"), "").expect("write");
    // Two grants, one inside the other: the guest can rename /b's host
    // directory through /a and leave a symlink to .. (srv/) in its place.
    let manifest = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: swap
spec:
  restartPolicy: OnFailure
  volumes:
  - name: a
    hostPath: {{path: srv/a}}
  - name: b
    hostPath: {{path: srv/a/b}}
  containers:
{container}    volumeMounts:
    - {{name: a, mountPath: /a}}
    - {{name: b, mountPath: /b}}
"#,
        container = probe_container("main", r#"[swap, /b, /a/b, /a/b.old, ".."]"#)
    );
    let file = p.write("swap.yaml", &manifest);
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    let text = out.join("\n");
    assert_eq!(
        count(&out, "[event] swap/main: Exited with code 3"),
        1,
        "{text}"
    );
    assert!(
        p.path().join("srv/a/b").is_symlink(),
        "the first run swapped it: {text}"
    );
    // The restart's /b is the directory granted at the start, not what
    // its host path leads to now.
    assert_eq!(count(&out, "swap/main | /b: inner"), 2, "{text}");
    assert!(!text.contains("host-secret"), "escaped: {text}");
}

// 13. Manifests are input: names that would be paths outside the state
// folder, and reading bounded in size, count and alias expansion.

/// A manifest from crates/kube/tests/fixtures/unsafe.
fn unsafe_fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kube/tests/fixtures/unsafe")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn names_that_would_leave_the_state_folder_are_refused() {
    let w = Wasmpod::new();
    let p = Project::new();
    // The state folder is WASMPOD_HOME/run/up-XXXX; the fixtures climb to
    // WASMPOD_HOME, where `up` used to delete `victim` (the pod's folder when
    // it ended), write `escaped` (a ConfigMap key) and make
    // `escaped-volume` (an emptyDir).
    let home = w.home.path();
    let victim = home.join("victim");
    std::fs::create_dir_all(&victim).expect("mkdir");
    std::fs::write(victim.join("keep"), "keep").expect("write");
    let cases = [
        (
            "pod-name.yaml",
            "document 1: Pod: metadata.name \"../../victim\" is not valid (must be a DNS-1123 subdomain",
        ),
        (
            "configmap-key.yaml",
            "ConfigMap/cm: data: key \"../../../../../escaped\" is not valid",
        ),
        (
            "secret-key.yaml",
            "Secret/s: stringData: key \"/tmp/wasmpod-secret-key-escape\" is not valid",
        ),
        (
            "volume-name.yaml",
            "Pod/p: spec.volumes[0].name: \"../../../../escaped-volume\" is not valid",
        ),
        (
            "container-name.yaml",
            "Pod/p: spec.containers[0].name: \"../main\" is not valid",
        ),
        (
            "namespace.yaml",
            "Pod/p: metadata.namespace \"../..\" is not valid",
        ),
        (
            "item-path.yaml",
            "spec.volumes[0].configMap.items[0].path: \"..data/x\" is not valid",
        ),
        ("deployment-name.yaml", "metadata.name: replica pod name"),
    ];
    for (name, needle) in cases {
        let file = p.write(name, &unsafe_fixture(name));
        let file = file.display().to_string();
        let o = up(&w, &["-f", &file, "--backoff-scale", "0.01"]);
        assert_host_failure(&o, needle);
        let o = up(&w, &["-f", &file, "--dry-run"]);
        assert_host_failure(&o, needle);
    }
    assert!(victim.join("keep").exists(), "a folder outside was deleted");
    assert!(!home.join("escaped").exists(), "a file outside was written");
    assert!(
        !home.join("escaped-volume").exists(),
        "a folder outside was made"
    );
    assert!(!Path::new("/tmp/wasmpod-secret-key-escape").exists());
}

#[test]
fn a_billion_laughs_is_refused_quickly_in_bounded_memory() {
    let w = Wasmpod::new();
    let p = Project::new();
    let bomb = p.write("bomb.yaml", &unsafe_fixture("bomb.yaml"));
    // At most 1 GiB of address space: the expansion (some 2e11 nodes) would
    // need hundreds of GiB, and an allocation failure is an abort, not the
    // expected exit 125.
    let mut cmd = Command::new("prlimit");
    cmd.arg("--as=1073741824")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_wasmpod"))
        .envs(w.cmd().get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(["up", "-f", &bomb.display().to_string(), "--dry-run"]);
    let o = output_within(cmd, None, Duration::from_secs(20));
    assert_host_failure(
        &o,
        "bomb.yaml: document 1: expands to more than 1000000 YAML nodes (an alias counts each time it is used)",
    );
}

#[test]
fn manifests_are_bounded_in_size_and_count() {
    let w = Wasmpod::new();
    let p = Project::new();
    // One byte over 4 MiB, as a file and on stdin (where `up` stops reading
    // there).
    let text = "#".repeat(4 << 20) + "\n";
    let big = p.write("big.yaml", &text);
    let o = up(&w, &["-f", &big.display().to_string(), "--dry-run"]);
    assert_host_failure(
        &o,
        &format!(
            "{}: larger than 4194304 bytes, the most a manifest may be",
            big.display()
        ),
    );
    let o = w
        .cmd()
        .args(["up", "-f", "-", "--dry-run"])
        .stdin(std::fs::File::open(&big).expect("open"))
        .output()
        .expect("spawn wasmpod");
    assert_host_failure(
        &o,
        "<stdin>: larger than 4194304 bytes, the most a manifest may be",
    );

    // A directory of 1001 manifests.
    let dir = p.path().join("many");
    std::fs::create_dir(&dir).expect("mkdir");
    for i in 0..1001 {
        std::fs::write(dir.join(format!("{i:04}.yaml")), "").expect("write");
    }
    let o = up(&w, &["-f", &dir.display().to_string(), "--dry-run"]);
    assert_host_failure(
        &o,
        &format!(
            "{}: more than 1000 manifest files in a directory",
            dir.display()
        ),
    );
}

// 14. One guest cannot exhaust the supervisor.

/// The supervisor's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

#[test]
fn a_line_without_a_newline_is_split_and_marked_and_up_stays_small() {
    const PIECE: usize = 16 * 1024;
    const MIB: usize = 256;
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write(
        "big.yaml",
        &pod(
            "big",
            "Never",
            &format!(
                "  - name: main\n    image: file://hog.wasm\n    command: [hog]\n    args: [output, \"{MIB}\"]\n"
            ),
        ),
    );
    let mut child = KillOnDrop::spawn(
        w.cmd()
            .arg("up")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let pid = child.0.id();
    // The pod's output as (continued, text length, all 'x'), other lines
    // whole; read as it comes, so the test holds no more than a line.
    enum Seen {
        Piece(bool, usize, bool),
        Line(String),
    }
    let out = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match out.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let seen = match (
                text.strip_prefix(b"big/main + "),
                text.strip_prefix(b"big/main | "),
            ) {
                (Some(t), _) if t.first() == Some(&b'x') => {
                    Seen::Piece(true, t.len(), t.iter().all(|b| *b == b'x'))
                }
                (_, Some(t)) if t.first() == Some(&b'x') => {
                    Seen::Piece(false, t.len(), t.iter().all(|b| *b == b'x'))
                }
                _ => Seen::Line(String::from_utf8_lossy(text).into_owned()),
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    let deadline = Deadline::after(RUN_LIMIT);
    let (mut continued, mut whole, mut total, mut longest) = (0usize, 0usize, 0usize, 0usize);
    let mut others = Vec::new();
    loop {
        match rx.recv_timeout(deadline.left()) {
            Ok(Seen::Piece(cont, len, xs)) => {
                assert!(xs, "a piece that is not the guest's output");
                assert_eq!(whole, 0, "a piece after the line's last");
                if cont {
                    continued += 1;
                } else {
                    whole += 1;
                }
                total += len;
                longest = longest.max(len);
            }
            Ok(Seen::Line(l)) => {
                let done = l == "big/main | wrote";
                others.push(l);
                if done {
                    break;
                }
            }
            Err(e) => panic!(
                "no \"big/main | wrote\" ({e:?}); other lines:\n{}",
                others.join("\n")
            ),
        }
    }
    let peak = peak_rss_kib(pid);
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    drop(child);

    // 256 MiB went through; `up` itself (an engine, a compiled guest, a
    // few threads) stays far below it.
    assert!(peak < 200 * 1024, "wasmpod up peaked at {peak} KiB");
    let want = MIB * 1024 * 1024 + 100;
    assert_eq!(total, want, "every byte, once");
    assert_eq!(longest, PIECE);
    assert_eq!(continued, want / PIECE, "one marked piece per 16 KiB");
    assert_eq!(whole, 1, "and the line's last piece unmarked");
}

/// The fd numbers `pid` has open.
fn open_fds(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd folder")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// User plus system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime: fields 14 and 15, the 12th and 13th after `comm`.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn accept_loops_back_off_when_out_of_descriptors_and_recover() {
    let w = Wasmpod::new();
    let p = Project::new();
    let port = free_port();
    let file = p.write(
        "web.yaml",
        &[http_deployment("web", 1, ""), service("web", "web", port)].join("---\n"),
    );
    let mut up = Running::start(&w, &file);
    up.wait_line(&format!(
        "[event] service/web: Listening on http://127.0.0.1:{port} (1 endpoints)"
    ));
    let prefix = "[event] web-0/app: Started (containerPort 8080 served at ";
    let direct = served_port(&up.wait_for(prefix, |l| l.starts_with(prefix)));
    assert_eq!(http_get(port, "/"), (200, "hello from wasm\n".into()));
    let pid = up.child.0.id();

    // Room for 20 more descriptors below the limit.
    let fds = open_fds(pid);
    let limit = fds.iter().max().map_or(0, |m| m + 1) + 20;
    let status = Command::new("prlimit")
        .args([&format!("--pid={pid}"), &format!("--nofile={limit}:")])
        .status()
        .expect("prlimit");
    assert!(status.success());
    // Fill them: the component's server holds every connection it accepts
    // (these never send a request), until accept fails.
    let mut held = Vec::new();
    let full = |pid| open_fds(pid).iter().filter(|fd| **fd < limit).count() as u32 >= limit;
    wait_until(LINE_LIMIT, "the descriptors to be used up", || {
        if full(pid) {
            return true;
        }
        held.push(std::net::TcpStream::connect(("127.0.0.1", direct)).expect("connect"));
        false
    });
    // Connections waiting on both listeners, that neither can accept.
    for _ in 0..10 {
        held.push(std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        held.push(std::net::TcpStream::connect(("127.0.0.1", direct)).expect("connect"));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(full(pid), "the descriptors stay used up");
    let ticks_per_second: u64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .expect("getconf CLK_TCK");
    let (before, t0) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let (used, elapsed) = (cpu_ticks(pid) - before, t0.elapsed());
    // A spinning accept loop takes a whole CPU; backing off, next to none.
    assert!(
        (used as f64) < 0.2 * ticks_per_second as f64 * elapsed.as_secs_f64(),
        "wasmpod up used {used} ticks of CPU in {elapsed:?} while accept failed"
    );

    // Descriptors come back: both loops serve again.
    drop(held);
    let deadline = Deadline::after(LINE_LIMIT);
    let mut tries = Vec::new();
    let served = |port, tries: &mut Vec<String>| loop {
        match wasmpod_testkit::http_get(&format!("127.0.0.1:{port}"), "/") {
            Ok(answer) => return Some(answer),
            Err(e) if !deadline.passed() => {
                tries.push(format!("{port}: {e}"));
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => return None,
        }
    };
    let (via_service, direct_again) = (served(port, &mut tries), served(direct, &mut tries));
    if via_service.is_none() || direct_again.is_none() {
        // Say what wasmpod saw: its events, its warnings, and every try.
        up.interrupt();
        let (status, lines, stderr) = up.finish();
        tries.dedup();
        panic!(
            "not serving again after the descriptors came back ({status:?})\n\
             tries:\n{}\nevents:\n{}\nstderr:\n{stderr}",
            tries.join("\n"),
            lines.join("\n")
        );
    }
    assert_eq!(via_service, Some((200, "hello from wasm\n".into())));
    assert_eq!(direct_again, Some((200, "hello from wasm\n".into())));

    up.interrupt();
    let (status, lines, stderr) = up.finish();
    assert_eq!(status.code(), Some(130), "{}\n{stderr}", lines.join("\n"));
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A warning says what failed, not one per failure.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains(&format!("Service/web 127.0.0.1:{port}"))),
        "{stderr}"
    );
    assert!(
        warnings.iter().any(|l| l.contains("HTTP server")),
        "{stderr}"
    );
    assert!(warnings.len() <= 4, "{stderr}");
}
