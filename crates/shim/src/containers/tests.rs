//! The container core's lifecycle, in-process: the real engine and real
//! guests, a temp folder as bundle and rootfs, plain files for stdio, and
//! a [`Recorder`] for containerd. No containerd, no root.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use containerd_shim::protos::topics::{
    TASK_CREATE_EVENT_TOPIC as CREATE, TASK_DELETE_EVENT_TOPIC as DELETE,
    TASK_EXEC_ADDED_EVENT_TOPIC as EXEC_ADDED, TASK_EXEC_STARTED_EVENT_TOPIC as EXEC_STARTED,
    TASK_EXIT_EVENT_TOPIC as EXIT, TASK_START_EVENT_TOPIC as START,
};
use wasmpod_engine::{EngineOptions, Runtimes};
use wasmpod_kube::annotations::{
    MAX_INSTANCE_CONCURRENT_REUSE_COUNT, MAX_INSTANCE_REUSE_COUNT, MAX_WASM_STACK,
};

use super::{Containers, NewContainer};
use crate::ShimError;
use crate::admission::NodePolicy;
use crate::process::Status;
use crate::publisher::{Recorder, TaskEvent};
use crate::spec;
use crate::stdio::StdioPaths;

const SIGTERM: u32 = libc::SIGTERM as u32;
const SIGKILL: u32 = libc::SIGKILL as u32;

/// One engine for every test, with a compile cache in the target folder
/// (beside the test binary), warmed with the guests once: a create then
/// loads compiled code instead of compiling, and a test takes milliseconds.
fn runtimes() -> Arc<Runtimes> {
    static RUNTIME: OnceLock<Arc<Runtimes>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary");
            let target = exe.parent().and_then(Path::parent).expect("target folder");
            // A cache the engine refuses (another user's) only costs time.
            let runtimes = Runtimes::new(EngineOptions {
                cache_dir: Some(target.join("tmp").join("shim-core-compiled")),
                ..EngineOptions::default()
            })
            .or_else(|_| Runtimes::new(EngineOptions::default()))
            .expect("engine");
            for guest in [wasmpod_test_guests::PROBE, wasmpod_test_guests::HELLO] {
                let bytes = std::fs::read(guest).expect("guest");
                runtimes.default_runtime().load(&bytes).expect("compile");
            }
            Arc::new(runtimes)
        })
        .clone()
}

/// A core whose events go to the returned recorder, and no content store.
fn core() -> (Containers, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (
        Containers::new(
            runtimes(),
            None,
            NodePolicy::new("/nonexistent/policy.toml".into(), None),
            recorder.clone(),
        ),
        recorder,
    )
}

/// A bundle in a temp folder: `config.json` and a rootfs holding the
/// probe and hello guests.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// A container running `/probe.wasm` with `args`.
    fn probe(args: &[&str]) -> Self {
        let mut all = vec!["/probe.wasm"];
        all.extend_from_slice(args);
        Self::with_config(serde_json::json!({
            "process": { "args": all, "cwd": "/", "env": ["GREETING=hi"] },
            "root": { "path": "rootfs" },
        }))
    }

    /// A pod's sandbox ("pause") container.
    fn sandbox() -> Self {
        Self::with_config(serde_json::json!({
            "process": { "args": ["/pause"] },
            "root": { "path": "rootfs" },
            "annotations": { (spec::CONTAINER_TYPE): "sandbox" },
        }))
    }

    fn with_config(config: serde_json::Value) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).expect("rootfs");
        std::fs::copy(wasmpod_test_guests::PROBE, rootfs.join("probe.wasm")).expect("probe");
        std::fs::copy(wasmpod_test_guests::HELLO, rootfs.join("hello.wasm")).expect("hello");
        std::fs::write(rootfs.join("native"), b"\x7fELF\x02\x01\x01").expect("native");
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
        Self { dir }
    }

    /// This bundle with `guest` copied to `/NAME` in its rootfs.
    fn with_guest(self, guest: &str, name: &str) -> Self {
        std::fs::copy(guest, self.dir.path().join("rootfs").join(name)).expect("copy the guest");
        self
    }

    /// Create for container `id`, its stdout to the file `id.out`.
    fn create(&self, id: &str) -> NewContainer {
        NewContainer {
            id: id.to_string(),
            bundle: self.dir.path().display().to_string(),
            rootfs: Vec::new(),
            stdio: self.stdio(id),
            terminal: false,
        }
    }

    /// No stdin, stdout to the file `name.out`, stderr to /dev/null.
    fn stdio(&self, name: &str) -> StdioPaths {
        let out = self.dir.path().join(format!("{name}.out"));
        std::fs::write(&out, b"").expect("stdout file");
        StdioPaths {
            stdin: String::new(),
            stdout: out.display().to_string(),
            stderr: "/dev/null".into(),
        }
    }

    fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.out"))).expect("output")
    }
}

/// An exec's process spec.
fn process(args: &[&str]) -> spec::Process {
    spec::Process {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    }
}

/// The error's variant, with what it names, for comparison.
fn kind(e: ShimError) -> (&'static str, String) {
    match e {
        ShimError::NotFound(what) => ("NotFound", what),
        ShimError::AlreadyExists(what) => ("AlreadyExists", what),
        ShimError::AlreadyStarted(what) => ("AlreadyStarted", what),
        ShimError::Exited(what) => ("Exited", what),
        ShimError::StillRunning(what) => ("StillRunning", what),
        ShimError::Unsupported(what) => ("Unsupported", what),
        ShimError::Bundle(wasmpod_bundle::BundleError::Native(what)) => ("Native", what),
        ShimError::ModuleNotFound { module, reason } => {
            ("ModuleNotFound", format!("{module}: {reason}"))
        }
        ShimError::LoadModule { module, source } => ("LoadModule", format!("{module}: {source}")),
        other => panic!("unexpected error: {other}"),
    }
}

fn err<T: std::fmt::Debug>(r: Result<T, ShimError>) -> (&'static str, String) {
    kind(r.expect_err("a wrong order is an error"))
}

fn named(kind: &'static str, what: &str) -> (&'static str, String) {
    (kind, what.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_runs_to_its_guests_exit_code_and_is_deleted() {
    let (core, events) = core();
    let b = Bundle::probe(&["exit", "3"]);
    core.create(b.create("c")).await.expect("create");
    assert_eq!(
        core.state("c", None).await.expect("state").status,
        Status::Created
    );
    core.start("c", None).await.expect("start");
    let exit = core.wait("c", None).await.expect("wait");
    assert_eq!(exit.status, 3);
    assert_eq!(
        core.state("c", None).await.expect("state").status,
        Status::Exited(exit)
    );
    assert_eq!(b.output("c"), "exiting with 3\n");
    assert_eq!(core.delete("c", None).await.expect("delete"), exit);
    assert_eq!(events.topics_once(4).await, [CREATE, START, EXIT, DELETE]);
    let recorded = events.events();
    assert_eq!(
        recorded[2],
        TaskEvent::Exit {
            container_id: "c".into(),
            id: "c".into(),
            exit
        }
    );
    assert_eq!(
        recorded[3],
        TaskEvent::Delete {
            container_id: "c".into(),
            exit
        }
    );
    assert!(core.is_empty().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_with_143_and_sigkill_with_137() {
    let (core, events) = core();
    let b = Bundle::probe(&["sleep", "30"]);
    for (id, signal, status) in [("term", SIGTERM, 143), ("kill", SIGKILL, 137)] {
        core.create(b.create(id)).await.expect("create");
        core.start(id, None).await.expect("start");
        assert_eq!(
            core.state(id, None).await.expect("state").status,
            Status::Running
        );
        let started = std::time::Instant::now();
        core.kill(id, None, signal, false).await.expect("kill");
        assert_eq!(core.wait(id, None).await.expect("wait").status, status);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A second signal to a process that ended changes nothing.
        core.kill(id, None, SIGKILL, false)
            .await
            .expect("kill again");
        assert_eq!(core.delete(id, None).await.expect("delete").status, status);
    }
    assert_eq!(
        events.topics_once(8).await,
        [CREATE, START, EXIT, DELETE, CREATE, START, EXIT, DELETE]
    );
}

/// Adds and starts exec `exec_id` in container `c`, and returns its exit
/// status once the exit was published too (the `count`th event).
async fn run_exec(
    core: &Containers,
    events: &Recorder,
    b: &Bundle,
    exec_id: &str,
    process: spec::Process,
    count: usize,
) -> u32 {
    core.exec("c", exec_id, process, b.stdio(exec_id), false)
        .await
        .expect("exec");
    assert_eq!(
        core.state("c", Some(exec_id)).await.expect("state").status,
        Status::Created
    );
    core.start("c", Some(exec_id)).await.expect("start exec");
    let exit = core.wait("c", Some(exec_id)).await.expect("wait");
    assert_eq!(
        events.topics_once(count).await[count - 3..],
        [EXEC_ADDED, EXEC_STARTED, EXIT]
    );
    assert_eq!(
        events.events()[count - 1],
        TaskEvent::Exit {
            container_id: "c".into(),
            id: exec_id.into(),
            exit
        }
    );
    exit.status
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exec_runs_its_own_module_beside_the_init_process() {
    let (core, events) = core();
    let b = Bundle::probe(&["sleep", "30"]);
    core.create(b.create("c")).await.expect("create");
    core.start("c", None).await.expect("start");

    let hello = process(&["/hello.wasm", "extra"]);
    assert_eq!(run_exec(&core, &events, &b, "e1", hello, 5).await, 0);
    assert_eq!(
        b.output("e1"),
        "Hello from WebAssembly, world!\n  arg 1: extra\n"
    );
    // The exec's own env replaces the container's.
    let mut env = process(&["/probe.wasm", "env"]);
    env.env = vec!["ONLY=exec".into()];
    assert_eq!(run_exec(&core, &events, &b, "e2", env, 8).await, 0);
    assert_eq!(b.output("e2"), "ONLY=exec\nenv-end\n");
    // A relative module is found from the cwd; the exit code is the guest's.
    let exit = process(&["probe.wasm", "exit", "5"]);
    assert_eq!(run_exec(&core, &events, &b, "e3", exit, 11).await, 5);
    assert_eq!(
        core.delete("c", Some("e3")).await.expect("delete").status,
        5
    );
    assert_eq!(
        err(core.state("c", Some("e3")).await),
        named("NotFound", "c exec e3")
    );

    let usage = core.usage("c").await.expect("usage");
    assert!(
        usage.memory_bytes > 0,
        "the sleeping init process: {usage:?}"
    );
    core.kill("c", None, SIGKILL, false).await.expect("kill");
    assert_eq!(core.wait("c", None).await.expect("wait").status, 137);
    core.delete("c", None).await.expect("delete");
    assert_eq!(events.topics_once(13).await[11..], [EXIT, DELETE]);
    assert_eq!(b.output("c"), "sleeping\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_with_all_stops_the_execs_too() {
    let (core, events) = core();
    let b = Bundle::probe(&["sleep", "30"]);
    core.create(b.create("c")).await.expect("create");
    core.start("c", None).await.expect("start");
    core.exec(
        "c",
        "e",
        process(&["/probe.wasm", "sleep", "30"]),
        b.stdio("e"),
        false,
    )
    .await
    .expect("exec");
    core.start("c", Some("e")).await.expect("start exec");
    core.kill("c", None, SIGTERM, true).await.expect("kill all");
    assert_eq!(core.wait("c", None).await.expect("wait").status, 143);
    assert_eq!(core.wait("c", Some("e")).await.expect("wait").status, 143);
    let topics = events.topics_once(6).await;
    assert_eq!(topics[..4], [CREATE, START, EXEC_ADDED, EXEC_STARTED]);
    assert_eq!(topics[4..], [EXIT, EXIT]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_runs_nothing_until_it_is_killed() {
    let (core, events) = core();
    let b = Bundle::sandbox();
    core.create(b.create("pod")).await.expect("create");
    core.start("pod", None).await.expect("start");
    assert_eq!(
        core.state("pod", None).await.expect("state").status,
        Status::Running
    );
    assert_eq!(
        err(core
            .exec("pod", "e", process(&["/probe.wasm"]), b.stdio("e"), false)
            .await),
        named("Unsupported", "exec in a pod sandbox container")
    );
    core.kill("pod", None, SIGTERM, false).await.expect("kill");
    assert_eq!(core.wait("pod", None).await.expect("wait").status, 143);
    core.delete("pod", None).await.expect("delete");
    assert_eq!(events.topics_once(4).await, [CREATE, START, EXIT, DELETE]);
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_in_the_wrong_order_are_refused() {
    let (core, events) = core();
    let b = Bundle::probe(&["sleep", "30"]);
    let exec = || process(&["/probe.wasm", "sleep", "30"]);

    // Nothing is known before create.
    assert_eq!(err(core.start("c", None).await), named("NotFound", "c"));
    assert_eq!(
        err(core.exec("c", "e", exec(), b.stdio("e"), false).await),
        named("NotFound", "c")
    );
    assert_eq!(
        err(core.kill("c", None, SIGKILL, false).await),
        named("NotFound", "c")
    );
    assert_eq!(err(core.wait("c", None).await), named("NotFound", "c"));
    assert_eq!(err(core.delete("c", None).await), named("NotFound", "c"));
    assert_eq!(err(core.usage("c").await), named("NotFound", "c"));

    core.create(b.create("c")).await.expect("create");
    assert_eq!(
        err(core.create(b.create("c")).await),
        named("AlreadyExists", "c")
    );
    assert_eq!(
        err(core.start("c", Some("e")).await),
        named("NotFound", "c exec e")
    );
    core.start("c", None).await.expect("start");
    assert_eq!(
        err(core.start("c", None).await),
        named("AlreadyStarted", "c")
    );
    assert_eq!(
        err(core.delete("c", None).await),
        named("StillRunning", "c")
    );

    core.exec("c", "e", exec(), b.stdio("e"), false)
        .await
        .expect("exec");
    assert_eq!(
        err(core.exec("c", "e", exec(), b.stdio("e"), false).await),
        named("AlreadyExists", "c exec e")
    );
    assert_eq!(
        err(core.exec("c", "t", exec(), b.stdio("t"), true).await),
        named("Unsupported", "a terminal (tty) for exec")
    );
    core.start("c", Some("e")).await.expect("start exec");
    assert_eq!(
        err(core.start("c", Some("e")).await),
        named("AlreadyStarted", "c exec e")
    );
    assert_eq!(
        err(core.delete("c", Some("e")).await),
        named("StillRunning", "c exec e")
    );
    core.kill("c", Some("e"), SIGKILL, false)
        .await
        .expect("kill exec");
    assert_eq!(core.wait("c", Some("e")).await.expect("wait").status, 137);
    core.delete("c", Some("e")).await.expect("delete exec");
    assert_eq!(
        err(core.kill("c", Some("e"), SIGKILL, false).await),
        named("NotFound", "c exec e")
    );

    core.kill("c", None, SIGKILL, false).await.expect("kill");
    core.wait("c", None).await.expect("wait");
    assert_eq!(
        err(core.exec("c", "late", exec(), b.stdio("late"), false).await),
        named("Exited", "c")
    );
    assert_eq!(err(core.start("c", None).await), named("Exited", "c"));
    core.delete("c", None).await.expect("delete");

    // A deleted container is unknown again: containerd takes NotFound from
    // a kill after delete as "already gone".
    assert_eq!(
        err(core.kill("c", None, SIGKILL, false).await),
        named("NotFound", "c")
    );
    assert_eq!(err(core.state("c", None).await), named("NotFound", "c"));
    assert_eq!(err(core.delete("c", None).await), named("NotFound", "c"));
    assert_eq!(
        events.topics_once(7).await,
        [CREATE, START, EXEC_ADDED, EXEC_STARTED, EXIT, EXIT, DELETE]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_before_it_started_exits_at_once() {
    let (core, events) = core();
    let b = Bundle::probe(&["exit", "3"]);
    core.create(b.create("c")).await.expect("create");
    core.kill("c", None, SIGTERM, false).await.expect("kill");
    assert_eq!(core.wait("c", None).await.expect("wait").status, 143);
    assert_eq!(err(core.start("c", None).await), named("Exited", "c"));
    assert_eq!(core.delete("c", None).await.expect("delete").status, 143);
    // Nothing ran, so no exit was published.
    assert_eq!(events.topics_once(2).await, [CREATE, DELETE]);
    assert_eq!(b.output("c"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_on_a_process_deleted_before_it_ran_ends() {
    let (core, events) = core();
    let core = Arc::new(core);
    let b = Bundle::probe(&["exit", "3"]);
    core.create(b.create("c")).await.expect("create");
    let waiter = {
        let core = core.clone();
        tokio::spawn(async move { core.wait("c", None).await })
    };
    // The waiter is waiting (a wait on an unknown container fails at once).
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    let deleted = core.delete("c", None).await.expect("delete");
    assert_eq!(deleted.status, 0);
    let waited = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("the wait ends")
        .expect("waiter")
        .expect("wait");
    assert_eq!(waited, deleted);
    assert_eq!(events.topics_once(2).await, [CREATE, DELETE]);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_wasm_module_in_the_rootfs_is_run() {
    let (core, events) = core();
    let native = Bundle::with_config(serde_json::json!({
        "process": { "args": ["/native"] },
        "root": { "path": "rootfs" },
    }));
    assert_eq!(
        err(core.create(native.create("n")).await),
        named("Native", "/native")
    );
    let missing = Bundle::probe(&[]);
    std::fs::remove_file(missing.dir.path().join("rootfs/probe.wasm")).expect("remove");
    let (kind, what) = err(core.create(missing.create("m")).await);
    assert_eq!(kind, "ModuleNotFound");
    assert_eq!(what, "/probe.wasm: containerd's address is unknown");

    // Bytes that are not Wasm: the engine's error is the cause, and
    // containerd is told the whole chain on one line.
    let garbage = Bundle::probe(&[]);
    std::fs::write(
        garbage.dir.path().join("rootfs/probe.wasm"),
        b"\0asm\x01\0\0\0\x01\xff",
    )
    .expect("truncated");
    let e = core
        .create(garbage.create("g"))
        .await
        .expect_err("not Wasm");
    let line = wasmpod_engine::one_line(&e);
    assert!(
        matches!(&e, ShimError::LoadModule { module, source: wasmpod_engine::EngineError::Compile(_) } if module == "/probe.wasm"),
        "{line}"
    );
    assert!(
        line.starts_with("cannot load the Wasm entrypoint /probe.wasm: "),
        "{line}"
    );
    assert!(core.is_empty().await);
    assert!(events.events().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_max_wasm_stack_annotation_sets_a_containers_stack() {
    let (core, _events) = core();
    let go = |id: &str, annotations: serde_json::Value| {
        let b = Bundle::with_config(serde_json::json!({
            "process": { "args": ["/go-probe.wasm", "json", "4000"], "cwd": "/" },
            "root": { "path": "rootfs" },
            "annotations": annotations,
        }))
        .with_guest(wasmpod_test_guests::GO_PROBE, "go-probe.wasm");
        let create = b.create(id);
        (b, create)
    };
    let run = |id: &'static str, create| {
        let core = &core;
        async move {
            core.create(create).await.expect("create");
            core.start(id, None).await.expect("start");
            core.wait(id, None).await.expect("wait").status
        }
    };
    // The default stack is Go's: deep recursion works.
    let (b, create) = go("deep", serde_json::json!({}));
    assert_eq!(run("deep", create).await, 0);
    assert_eq!(
        b.output("deep"),
        "json ok: 4000 levels, 32006 bytes, leaf leaf\n"
    );
    // A container that asks for less traps (134), in an engine of its own.
    let (_b, create) = go("shallow", serde_json::json!({ (MAX_WASM_STACK): "512Ki" }));
    assert_eq!(run("shallow", create).await, 134);
    // A value the engine cannot take is refused at create.
    for (value, reason) in [("lots", "lots"), ("1Ki", "outside 64 KiB to 1 GiB")] {
        let (_b, create) = go("bad", serde_json::json!({ (MAX_WASM_STACK): value }));
        let e = core.create(create).await.expect_err("bad annotation");
        let line = wasmpod_engine::one_line(&e);
        assert!(
            line.starts_with("invalid annotation wasmpod.dev/max-wasm-stack: "),
            "{line}"
        );
        assert!(line.contains(reason), "{line}");
    }
}

/// The reuse annotations of a pod reach its served component: the
/// counter guest's count goes up across requests (one instance serves
/// two), and a bad value is refused at create.
#[tokio::test(flavor = "multi_thread")]
async fn the_reuse_annotations_make_a_served_component_reuse_instances() {
    let (core, _events) = core();
    let port = wasmpod_testkit::free_port();
    let counter = |annotations: serde_json::Value| {
        Bundle::with_config(serde_json::json!({
            "process": {
                "args": ["/counter.wasm"],
                "cwd": "/",
                "env": [format!("WASMPOD_HTTP_LISTEN=127.0.0.1:{port}")],
            },
            "root": { "path": "rootfs" },
            "annotations": annotations,
        }))
        .with_guest(wasmpod_test_guests::P3_COUNTER_WAT_WASM, "counter.wasm")
    };
    let b = counter(serde_json::json!({
        (MAX_INSTANCE_REUSE_COUNT): "2",
        (MAX_INSTANCE_CONCURRENT_REUSE_COUNT): "4",
    }));
    core.create(b.create("reused")).await.expect("create");
    core.start("reused", None).await.expect("start");
    let addr = format!("127.0.0.1:{port}");
    let get = || {
        let addr = addr.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                for _ in 0..100 {
                    if let Ok(r) = wasmpod_testkit::http_get(&addr, "/") {
                        return r;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                panic!("nothing serves on {addr}");
            })
            .await
            .expect("join")
        }
    };
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(get().await.1);
    }
    assert_eq!(bodies, ["1\n", "2\n", "1\n"]);
    core.kill("reused", None, SIGKILL, false)
        .await
        .expect("kill");
    assert_eq!(core.wait("reused", None).await.expect("wait").status, 137);

    let b = counter(serde_json::json!({ (MAX_INSTANCE_REUSE_COUNT): "none" }));
    let e = core
        .create(b.create("bad"))
        .await
        .expect_err("bad annotation");
    assert_eq!(
        wasmpod_engine::one_line(&e),
        "invalid annotation wasmpod.dev/max-instance-reuse-count: \"none\" is not a whole number from 1 to 1000000"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_p3_command_exits_with_its_code_after_its_output() {
    // Our own 0.3 command (tests/guests/p3-exit.wat): it writes a line
    // through a stream it hands to stdout, waits for stdout to take it,
    // then exits as its argument says.
    let (core, events) = core();
    for (id, arg, code) in [("code", "7", 7), ("err", "err", 1), ("zero", "0", 0)] {
        let b = Bundle::with_config(serde_json::json!({
            "process": { "args": ["/p3-exit.wasm", arg], "cwd": "/" },
            "root": { "path": "rootfs" },
        }))
        .with_guest(wasmpod_test_guests::P3_EXIT_WAT_WASM, "p3-exit.wasm");
        core.create(b.create(id)).await.expect("create");
        core.start(id, None).await.expect("start");
        let exit = tokio::time::timeout(std::time::Duration::from_secs(30), core.wait(id, None))
            .await
            .expect("the command ends within 30 s")
            .expect("wait");
        assert_eq!(exit.status, code, "{arg}");
        assert_eq!(b.output(id), format!("p3-exit: {arg}\n"));
        assert_eq!(core.delete(id, None).await.expect("delete"), exit);
    }
    assert_eq!(
        events.topics_once(12).await,
        [CREATE, START, EXIT, DELETE].repeat(3)
    );
    assert!(core.is_empty().await);
}
