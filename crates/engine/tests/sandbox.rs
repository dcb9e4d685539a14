//! The sandbox's limits against guests that try to get around them: one
//! memory budget per store, caps on memories, tables, instances and
//! handles, volumes held open across runs, and `:ro` that holds.

use wasmpod_engine::{
    EngineError, ExitStatus, Limits, MAX_HANDLES, OutputSpec, Preopen, RunSpec, Runtime, StopHandle,
};
use wasmpod_test_guests as guests;

const MIB: u64 = 1 << 20;

mod common;
use common::{block_on, messages, runtime};

/// Runs the guest at `path` with `args` under `memory`, and returns the
/// result and what it printed.
fn run(
    rt: &Runtime,
    path: &str,
    args: &[&str],
    memory: Option<u64>,
    preopens: Vec<Preopen>,
) -> (Result<ExitStatus, EngineError>, String) {
    let program = match rt.load(&std::fs::read(path).expect("read guest")) {
        Ok(p) => p,
        Err(e) => return (Err(e), String::new()),
    };
    let out = tempfile::NamedTempFile::new().expect("out");
    let mut spec = RunSpec::new(args.iter().map(|a| a.to_string()).collect());
    spec.limits = Limits {
        memory,
        ..Limits::default()
    };
    spec.preopens = preopens;
    spec.stdio.stdout = OutputSpec::File(out.reopen().expect("reopen"));
    let status = block_on(rt.run(&program, spec, &StopHandle::new()));
    (
        status,
        std::fs::read_to_string(out.path()).expect("read stdout"),
    )
}

#[test]
fn one_budget_covers_every_linear_memory() {
    for pooling in [false, true] {
        let (_d, rt) = runtime(pooling);
        if !pooling {
            // Four memories of 32 MiB each grow freely without a limit.
            let (status, _) = run(&rt, guests::GROW_MEMORIES_WAT_WASM, &["g"], None, vec![]);
            assert_eq!(status.expect("run"), ExitStatus::Exited(4));
        }
        // Under 64 MiB only the first grow fits: the memories share it.
        let (status, _) = run(
            &rt,
            guests::GROW_MEMORIES_WAT_WASM,
            &["g"],
            Some(64 * MIB),
            vec![],
        );
        match (pooling, status) {
            (false, Ok(status)) => assert_eq!(status, ExitStatus::Exited(1)),
            // The pool reserves one memory per module: four do not load.
            (true, Err(e)) => {
                let chain = messages(&e);
                assert!(chain.contains("memories count"), "{chain}");
            }
            (_, other) => panic!("pooling {pooling}: {other:?}"),
        }
    }
}

#[test]
fn tables_count_against_the_memory_limit() {
    let (_d, rt) = runtime(false);
    let (status, _) = run(&rt, guests::BIG_TABLE_WAT_WASM, &["t"], None, vec![]);
    assert_eq!(status.expect("run"), ExitStatus::Exited(0), "no limit");
    let (status, _) = run(
        &rt,
        guests::BIG_TABLE_WAT_WASM,
        &["t"],
        Some(64 * MIB),
        vec![],
    );
    assert_eq!(
        status.expect("run"),
        ExitStatus::Exited(1),
        "128 MiB of table"
    );
}

#[test]
fn the_count_of_memories_in_a_store_is_capped_without_any_limit() {
    let (_d, rt) = runtime(false);
    let (status, _) = run(&rt, guests::MANY_MEMORIES_WAT_WASM, &["m"], None, vec![]);
    let err = status.expect_err("101 memories");
    assert!(matches!(err, EngineError::Instantiate(_)), "{err}");
    let chain = messages(&err);
    assert!(chain.contains("memor"), "{chain}");
}

#[test]
fn core_instances_of_a_component_share_one_budget() {
    for pooling in [false, true] {
        let (_d, rt) = runtime(pooling);
        let (status, _) = run(
            &rt,
            guests::TWO_INSTANCES_WAT_WASM,
            &["c"],
            Some(128 * MIB),
            vec![],
        );
        assert_eq!(
            status.expect("run"),
            ExitStatus::Exited(0),
            "pooling {pooling}"
        );
        // 40 MiB each fits 64 MiB alone, not together.
        let (status, _) = run(
            &rt,
            guests::TWO_INSTANCES_WAT_WASM,
            &["c"],
            Some(64 * MIB),
            vec![],
        );
        let err = status.expect_err("80 MiB under 64 MiB");
        assert!(matches!(err, EngineError::Instantiate(_)), "{err}");
    }
}

#[test]
fn a_guest_holds_at_most_its_handle_budget() {
    // Give the process room, so only the guest's own budget can stop it.
    let (_, hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .zip(rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum)
        .unwrap_or((1024, 1024));
    let want = hard.min(1 << 16);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(want),
            maximum: Some(hard),
        },
    )
    .expect("raise RLIMIT_NOFILE");
    assert!(
        want > 4 * MAX_HANDLES as u64,
        "RLIMIT_NOFILE hard limit {hard} is too low"
    );

    let (_d, rt) = runtime(false);
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("f"), "x").expect("write");
    let volume = Preopen::open(dir.path(), "/data", true).expect("volume");
    let (status, out) = run(
        &rt,
        guests::PROBE,
        &["probe", "openmany", "/data/f"],
        None,
        vec![volume],
    );
    let opened: usize = match status.expect("run") {
        // The budget is a guest failure, not a host one: either the open
        // fails inside the guest, or the guest is stopped.
        ExitStatus::Exited(0) => out
            .strip_prefix("opened ")
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected output {out:?}")),
        ExitStatus::Trapped { message, .. } => {
            assert!(message.contains("resource table"), "{message}");
            MAX_HANDLES
        }
        other => panic!("{other:?}: {out}"),
    };
    assert!(
        opened <= MAX_HANDLES && opened > MAX_HANDLES - 64,
        "opened {opened}: {out}"
    );
}

#[test]
fn a_volume_swapped_for_a_symlink_is_not_followed_by_the_next_run() {
    // As `wasmpod up` restarts a container: the same preopens, run again.
    let (_d, rt) = runtime(false);
    let top = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(top.path().join("a/b")).expect("mkdir");
    std::fs::write(top.path().join("a/b/inner"), "").expect("write");
    std::fs::write(top.path().join("host-secret"), "").expect("write");
    let volumes = vec![
        Preopen::open(top.path().join("a"), "/a", false).expect("a"),
        Preopen::open(top.path().join("a/b"), "/b", false).expect("b"),
    ];
    let swap = ["probe", "swap", "/b", "/a/b", "/a/b.old", ".."];
    let (status, out) = run(&rt, guests::PROBE, &swap, None, volumes.clone());
    assert_eq!(status.expect("first run"), ExitStatus::Exited(3), "{out}");
    assert!(out.contains("/b: inner"), "{out}");
    // On the host, a/b now points one level above /a, out of every volume.
    assert!(top.path().join("a/b/host-secret").exists());

    let (status, out) = run(&rt, guests::PROBE, &swap, None, volumes);
    assert_eq!(status.expect("second run"), ExitStatus::Exited(0), "{out}");
    assert_eq!(out, "/b: inner\n", "/b is still the directory granted");
    assert!(!out.contains("host-secret"), "escaped: {out}");
}

#[test]
fn a_read_only_volume_inside_a_read_write_one_is_refused() {
    let (_d, rt) = runtime(false);
    let top = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(top.path().join("a/b")).expect("mkdir");
    let volumes = vec![
        Preopen::open(top.path().join("a"), "/a", false).expect("a"),
        Preopen::open(top.path().join("a/b"), "/b", true).expect("b"),
    ];
    let write = ["probe", "write", "/a/b/f", "x"];
    let (status, out) = run(&rt, guests::PROBE, &write, None, volumes);
    let err = status.expect_err("overlap");
    assert!(matches!(err, EngineError::VolumeOverlap { .. }), "{err}");
    assert!(!top.path().join("a/b/f").exists(), "{out}");
}

/// A trap's backtrace names functions as the module's name section does,
/// which its author writes: a name with a newline or an escape sequence
/// is shown escaped, so it can neither forge a line nor drive a terminal.
#[test]
fn names_in_a_backtrace_cannot_forge_lines() {
    let (_d, rt) = runtime(false);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("trap.wat");
    std::fs::write(
        &path,
        r#"(module
             (func $boom (@name "boom\nwasmpod: all good\1b[2J") unreachable)
             (func (export "_start") call $boom))"#,
    )
    .expect("write");
    let (status, _) = run(&rt, path.to_str().expect("utf-8"), &["trap"], None, vec![]);
    let ExitStatus::Trapped { backtrace, .. } = status.expect("run") else {
        panic!("not a trap");
    };
    let backtrace = backtrace.expect("a backtrace");
    assert!(
        backtrace.contains("boom\\nwasmpod: all good\\u{1b}[2J"),
        "{backtrace}"
    );
    assert!(!backtrace.contains('\u{1b}'), "{backtrace}");
    assert!(
        backtrace
            .lines()
            .all(|l| l == "wasm backtrace:" || l.starts_with("  ")),
        "{backtrace}"
    );
}
