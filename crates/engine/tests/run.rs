//! The engine API as the shim and local mode use it: run specs in, exit
//! statuses out, stdio to files, and stopping from another thread.

use std::time::{Duration, Instant};

use wasmpod_engine::{
    EngineError, EngineOptions, ExitStatus, InputSpec, Limits, OutputSpec, Preopen, RunSpec,
    Runtime, Stdio, StopHandle, StopReason,
};
use wasmpod_test_guests as guests;

mod common;
use common::{block_on, messages, runtime};

struct Captured {
    stdout: tempfile::NamedTempFile,
    stderr: tempfile::NamedTempFile,
}

impl Captured {
    fn new() -> Self {
        Self {
            stdout: tempfile::NamedTempFile::new().expect("tmp"),
            stderr: tempfile::NamedTempFile::new().expect("tmp"),
        }
    }

    fn stdio(&self, stdin: InputSpec) -> Stdio {
        Stdio {
            stdin,
            stdout: OutputSpec::File(self.stdout.reopen().expect("reopen")),
            stderr: OutputSpec::File(self.stderr.reopen().expect("reopen")),
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.stdout.path()).expect("read stdout")
    }
}

fn spec(args: &[&str], stdio: Stdio) -> RunSpec {
    RunSpec {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdio,
        ..RunSpec::default()
    }
}

fn load(rt: &Runtime, path: &str) -> wasmpod_engine::Program {
    rt.load(&std::fs::read(path).expect("read guest"))
        .expect("load")
}

#[test]
fn stdio_goes_to_files_and_stdin_comes_from_one() {
    let (_d, rt) = runtime(false);
    let program = load(&rt, guests::PROBE);
    let input = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(input.path(), "a\nb\n").expect("write");
    let out = Captured::new();
    let stdin = InputSpec::File(input.reopen().expect("reopen"));
    let status = block_on(rt.run(
        &program,
        spec(&["probe", "stdin"], out.stdio(stdin)),
        &StopHandle::new(),
    ))
    .expect("run");
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(out.stdout(), "ready\ngot: a\ngot: b\nstdin closed\n");
}

#[test]
fn default_spec_grants_nothing() {
    let (_d, rt) = runtime(false);
    let program = load(&rt, guests::PROBE);
    let out = Captured::new();
    let status = block_on(rt.run(
        &program,
        spec(&["probe", "env"], out.stdio(InputSpec::Null)),
        &StopHandle::new(),
    ))
    .expect("run");
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(out.stdout(), "env-end\n");

    let out = Captured::new();
    let status = block_on(rt.run(
        &program,
        spec(&["probe", "ls", "/"], out.stdio(InputSpec::Null)),
        &StopHandle::new(),
    ))
    .expect("run");
    assert_eq!(status, ExitStatus::Exited(1));
    assert!(
        out.stdout().starts_with("opendir / failed"),
        "{}",
        out.stdout()
    );
}

/// What the shim does on SIGTERM: stop at once with 128+15, whether the
/// guest is computing or blocked in a host call.
#[test]
fn stop_handle_stops_spinning_and_sleeping_guests() {
    for kind in [guests::PROBE, guests::PROBE_COMPONENT] {
        let (_d, rt) = runtime(true);
        let program = load(&rt, kind);
        for (probe, signal) in [
            (vec!["probe", "spin"], 15),
            (vec!["probe", "sleep", "60"], 2),
        ] {
            let out = Captured::new();
            let stop = StopHandle::new();
            let stopper = stop.clone();
            let started = Instant::now();
            let status = block_on(async {
                let killer = tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    stopper.stop(StopReason::Signal(signal));
                });
                let status = rt
                    .run(&program, spec(&probe, out.stdio(InputSpec::Null)), &stop)
                    .await;
                killer.await.expect("join");
                status
            })
            .expect("run");
            assert_eq!(
                status,
                ExitStatus::Stopped(StopReason::Signal(signal)),
                "{kind} {probe:?}"
            );
            assert_eq!(status.code(), 128 + signal);
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );
            assert!(out.stdout().starts_with(if probe[1] == "spin" {
                "spinning"
            } else {
                "sleeping"
            }));
            // Stopping twice keeps the first reason.
            stop.stop(StopReason::Signal(9));
            assert_eq!(stop.reason(), Some(StopReason::Signal(signal)));
        }
    }
}

#[test]
fn a_stop_before_start_never_runs_the_guest() {
    let (_d, rt) = runtime(false);
    let program = load(&rt, guests::PROBE);
    let stop = StopHandle::new();
    stop.stop(StopReason::Signal(9));
    let out = Captured::new();
    let status = block_on(rt.run(
        &program,
        spec(&["probe", "args"], out.stdio(InputSpec::Null)),
        &stop,
    ))
    .expect("run");
    assert_eq!(status.code(), 137);
    assert_eq!(out.stdout(), "");
}

#[test]
fn one_program_runs_many_instances_at_once_under_pooling() {
    let (_d, rt) = runtime(true);
    let program = load(&rt, guests::PROBE);
    let outs: Vec<Captured> = (0..8).map(|_| Captured::new()).collect();
    let statuses = block_on(async {
        let runs = outs.iter().enumerate().map(|(i, out)| {
            let n = i.to_string();
            let mut s = spec(&["probe", "exit", &n], out.stdio(InputSpec::Null));
            s.limits = Limits {
                memory: Some(32 << 20),
                timeout: Some(Duration::from_secs(20)),
                cpu_millis: None,
            };
            let rt = &rt;
            let program = &program;
            async move { rt.run(program, s, &StopHandle::new()).await }
        });
        futures::future::join_all(runs).await
    });
    for (i, (status, out)) in statuses.into_iter().zip(&outs).enumerate() {
        assert_eq!(status.expect("run"), ExitStatus::Exited(i as i32));
        assert_eq!(out.stdout(), format!("exiting with {i}\n"));
    }
}

#[test]
fn host_failures_are_errors_not_statuses() {
    let (_d, rt) = runtime(false);
    let err = rt.load(b"not wasm at all").expect_err("not wasm");
    assert!(matches!(err, EngineError::NotWasm { .. }), "{err}");

    let program = load(&rt, guests::UNKNOWN_IMPORT_WAT_WASM);
    let err = block_on(rt.run(&program, RunSpec::new(vec!["x".into()]), &StopHandle::new()))
        .expect_err("link");
    assert!(matches!(err, EngineError::Link(_)), "{err}");
    assert_eq!(err.to_string(), "cannot link the guest");
    // The import's name is the cause's to say, not repeated on top.
    let chain = messages(&err);
    assert!(chain.contains("env::launch_missiles"), "{chain}");

    let err = Preopen::open("/definitely/not/here", "/data", true).expect_err("volume");
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn usage_counts_linear_memory_and_keeps_the_peak() {
    let (_d, rt) = runtime(true);
    let program = load(&rt, guests::PROBE);
    let out = Captured::new();
    let s = spec(&["probe", "alloc", "8", "1"], out.stdio(InputSpec::Null));
    let usage = s.usage.clone();
    let status = block_on(rt.run(&program, s, &StopHandle::new())).expect("run");
    assert_eq!(status, ExitStatus::Exited(0));
    // Live numbers are checked through `ctr task metrics` in the shim's
    // tests; here the deterministic part: the high-water mark and release.
    let peak = usage.peak_memory_bytes();
    assert!(peak >= 8 << 20, "peak {peak}");
    assert_eq!(peak % 65536, 0, "linear memory grows in 64 KiB pages");
    assert_eq!(usage.memory_bytes(), 0, "released when the run ends");
    assert!(
        out.stdout().starts_with("allocated 8 MiB of 8, holding"),
        "{}",
        out.stdout()
    );
}

/// CPU time is the instance's own: a spinning guest accrues about its wall
/// time, a sleeping one next to none, and a reader sees it while it runs.
#[test]
fn usage_counts_cpu_time_of_the_instance_only() {
    let (_d, rt) = runtime(false);
    for kind in [guests::PROBE, guests::PROBE_COMPONENT] {
        let program = load(&rt, kind);
        // Stops the guest once it has used `cpu` of CPU (seen live, while
        // it runs) or after `wall`, whichever comes first: a busy machine
        // may give the guest's thread less than the wall time.
        let run_for = |args: &[&str], cpu: u64, wall: Duration| {
            let out = Captured::new();
            let s = spec(args, out.stdio(InputSpec::Null));
            let usage = s.usage.clone();
            let stop = StopHandle::new();
            let (status, live) = block_on(async {
                let stopper = stop.clone();
                let reader = usage.clone();
                let killer = tokio::spawn(async move {
                    let deadline = Instant::now() + wall;
                    while reader.cpu_nanos() < cpu && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let live = reader.cpu_nanos();
                    stopper.stop(StopReason::Signal(15));
                    live
                });
                let status = rt.run(&program, s, &stop).await;
                (status, killer.await.expect("join"))
            });
            assert_eq!(
                status.expect("run"),
                ExitStatus::Stopped(StopReason::Signal(15)),
                "{kind} {args:?}"
            );
            let total = usage.cpu_nanos();
            assert!(live <= total, "{kind} {args:?}: {live} then {total}");
            (live, total)
        };
        let (live, spun) = run_for(&["probe", "spin"], 150_000_000, Duration::from_secs(10));
        assert!(
            live >= 150_000_000,
            "{kind}: a spinning guest's CPU is visible while it runs: {live} ns"
        );
        assert!(spun >= live, "{kind}: spinning used {spun} ns");
        // Sleeping for 300 ms of wall time uses next to no CPU.
        let (_, slept) = run_for(
            &["probe", "sleep", "60"],
            u64::MAX,
            Duration::from_millis(300),
        );
        assert!(slept < 100_000_000, "{kind}: sleeping used {slept} ns");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_limit_throttles_a_spinning_guest() {
    // 200m: at most 20 ms of CPU per 100 ms period. Over about a second of
    // spinning, an unthrottled guest uses about a second of CPU.
    let rt = Runtime::new(EngineOptions::default()).expect("runtime");
    let program = rt
        .load(&std::fs::read(guests::PROBE).expect("probe"))
        .expect("load");
    let mut s = RunSpec::new(vec!["probe".into(), "spin".into()]);
    s.limits.cpu_millis = Some(200);
    s.limits.timeout = Some(Duration::from_millis(1000));
    let usage = s.usage.clone();
    let status = rt.run(&program, s, &StopHandle::new()).await.expect("run");
    assert_eq!(status.code(), 124);
    let cpu = Duration::from_nanos(usage.cpu_nanos());
    assert!(
        // The upper bound is the limit at work; the lower one only says the
        // guest ran (a busy machine may give it less than its share).
        cpu >= Duration::from_millis(10) && cpu <= Duration::from_millis(450),
        "200m over ~1 s: {cpu:?} of CPU"
    );
}

#[tokio::test]
async fn relative_paths_resolve_in_the_working_directory_inside_a_volume() {
    // wasi-libc (preview 1) has no working directory of its own: the engine
    // names the working directory "." too, so `cat f.txt` reads
    // /data/sub/f.txt. A working directory that leaves the volume through
    // a symlink is not given.
    let rt = Runtime::new(EngineOptions::default()).expect("runtime");
    let program = rt
        .load(&std::fs::read(guests::PROBE).expect("probe"))
        .expect("load");
    let dir = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/f.txt"), "inside\n").expect("write");
    std::fs::write(outside.path().join("f.txt"), "outside\n").expect("write");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).expect("symlink");
    let run = |cwd: &str| {
        let out = tempfile::NamedTempFile::new().expect("out");
        let mut s = RunSpec::new(vec!["probe".into(), "cat".into(), "f.txt".into()]);
        s.preopens = vec![Preopen::open(dir.path(), "/data", true).expect("volume")];
        s.cwd = Some(cwd.into());
        s.stdio.stdout = OutputSpec::File(out.reopen().expect("reopen"));
        let rt = &rt;
        let program = &program;
        async move {
            let status = rt.run(program, s, &StopHandle::new()).await.expect("run");
            (status, std::fs::read_to_string(out.path()).expect("read"))
        }
    };
    let (status, out) = run("/data/sub").await;
    assert_eq!((status, out.as_str()), (ExitStatus::Exited(0), "inside\n"));
    let (status, out) = run("/data/escape").await;
    assert_ne!(status, ExitStatus::Exited(0), "{out}");
    assert!(!out.contains("outside"), "{out}");
    let (status, _) = run("/data/../etc").await;
    assert_ne!(status, ExitStatus::Exited(0));
}

/// Temporary files a writer killed mid-write left in the cache folder are
/// removed by the next write's sweep once they are an hour old; younger
/// ones (a write in flight elsewhere), entries, other files and whatever a
/// `.tmp-` symlink points to stay.
#[test]
fn a_cache_write_sweeps_stale_temp_files_once() {
    let (dir, rt) = runtime(false);
    let cache = dir.path().join("cache");
    let outside = dir.path().join("outside");
    std::fs::write(&outside, "kept").expect("outside");
    let hours_ago = |path: &std::path::Path, hours: u64| {
        let file = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        let then = std::time::SystemTime::now() - Duration::from_secs(hours * 3600);
        file.set_modified(then).expect("set mtime");
    };
    hours_ago(&outside, 5);
    let dead = cache.join(".tmp-dead1");
    let fresh = cache.join(".tmp-fresh");
    let other = cache.join("notes.txt");
    for path in [&dead, &fresh, &other] {
        std::fs::write(path, "half an entry").expect("write");
    }
    hours_ago(&dead, 2);
    hours_ago(&other, 2);
    std::os::unix::fs::symlink(&outside, cache.join(".tmp-link")).expect("symlink");

    let program = rt
        .load(&std::fs::read(guests::PROBE).expect("probe"))
        .expect("compile");
    assert_eq!(program.cache_outcome(), wasmpod_engine::CacheOutcome::Miss);
    rt.finish_cache_writes();
    let mut names: Vec<String> = std::fs::read_dir(&cache)
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".cwasm"))
        .collect();
    names.sort();
    assert_eq!(names, [".tmp-fresh", ".tmp-link", "notes.txt"]);
    assert_eq!(std::fs::read_to_string(&outside).expect("outside"), "kept");

    // Once per cache: a later write does not sweep again.
    std::fs::write(&dead, "half an entry").expect("write");
    hours_ago(&dead, 2);
    let component = rt
        .load(&std::fs::read(guests::PROBE_COMPONENT).expect("component"))
        .expect("compile");
    assert_eq!(
        component.cache_outcome(),
        wasmpod_engine::CacheOutcome::Miss
    );
    rt.finish_cache_writes();
    assert!(dead.exists(), "swept twice");
}

/// A guest known by its digest (a layer digest) loads from the compile
/// cache without its bytes; nothing cached, or a damaged entry, is `None`.
#[test]
fn load_cached_finds_compiled_code_by_digest() {
    use sha2::Digest as _;
    let (dir, rt) = runtime(false);
    for path in [guests::PROBE, guests::PROBE_COMPONENT] {
        let bytes = std::fs::read(path).expect("guest");
        let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        assert!(rt.load_cached(digest).is_none(), "nothing cached yet");
        let compiled = rt.load(&bytes).expect("compile");
        let cached = rt.load_cached(digest).expect("cached by digest");
        assert_eq!(cached.kind(), compiled.kind());
        assert_eq!(cached.digest(), compiled.digest());
        assert_eq!(cached.cache_outcome().as_str(), "hit");
    }
    // It runs like the program it was compiled from.
    let digest: [u8; 32] =
        sha2::Sha256::digest(std::fs::read(guests::PROBE).expect("probe")).into();
    let program = rt.load_cached(digest).expect("cached");
    let out = Captured::new();
    let status = block_on(rt.run(
        &program,
        spec(&["probe", "args", "x"], out.stdio(InputSpec::Null)),
        &StopHandle::new(),
    ))
    .expect("run");
    assert!(matches!(status, ExitStatus::Exited(0)), "{status:?}");
    assert_eq!(out.stdout(), "argv[0]=probe\nargv[1]=args\nargv[2]=x\n");
    // A damaged entry is not trusted, and is removed.
    rt.finish_cache_writes();
    for entry in std::fs::read_dir(dir.path().join("cache"))
        .expect("cache")
        .flatten()
    {
        let mut bytes = std::fs::read(entry.path()).expect("entry");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(entry.path(), bytes).expect("damage");
    }
    assert!(rt.load_cached(digest).is_none());
    assert_eq!(
        std::fs::read_dir(dir.path().join("cache"))
            .expect("cache")
            .count(),
        1,
        "the damaged probe entry is gone; the component's is untouched until used"
    );
}

/// A runtime compiled without epoch checks runs commands as any other, but
/// refuses what it could not enforce, before running anything, and caches
/// its code apart from an interruptible engine's.
#[test]
fn a_runtime_without_interruption_refuses_limits_it_cannot_enforce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let options = |interruptible| EngineOptions {
        cache_dir: Some(cache.clone()),
        interruptible,
        ..EngineOptions::default()
    };
    let plain = Runtime::new(options(false)).expect("runtime");
    let program = load(&plain, guests::PROBE);
    assert_eq!(program.cache_outcome(), wasmpod_engine::CacheOutcome::Miss);
    let out = Captured::new();
    let status = block_on(plain.run(
        &program,
        spec(&["probe", "exit", "7"], out.stdio(InputSpec::Null)),
        &StopHandle::new(),
    ))
    .expect("run");
    assert_eq!(status, ExitStatus::Exited(7));

    for (limits, what) in [
        (
            Limits {
                timeout: Some(Duration::from_secs(1)),
                ..Limits::default()
            },
            "a timeout",
        ),
        (
            Limits {
                cpu_millis: Some(500),
                ..Limits::default()
            },
            "a CPU quota",
        ),
    ] {
        let out = Captured::new();
        let mut s = spec(&["probe", "spin"], out.stdio(InputSpec::Null));
        s.limits = limits;
        let started = Instant::now();
        let err = block_on(plain.run(&program, s, &StopHandle::new())).expect_err(what);
        assert_eq!(
            err.to_string(),
            format!("{what} needs an engine that can interrupt guests (interruptible)")
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: ran the guest"
        );
    }

    // The interruptible engine compiles its own entry, and the plain
    // one's entry is still there for it.
    plain.finish_cache_writes();
    let interruptible = Runtime::new(options(true)).expect("runtime");
    let again = load(&interruptible, guests::PROBE);
    assert_eq!(again.cache_outcome(), wasmpod_engine::CacheOutcome::Miss);
    interruptible.finish_cache_writes();
    let plain = Runtime::new(options(false)).expect("runtime");
    assert_eq!(
        load(&plain, guests::PROBE).cache_outcome(),
        wasmpod_engine::CacheOutcome::Hit
    );
}

/// A pooled instance's memory slot is reused by the next instance of the
/// same module, and whatever the last one wrote must be gone: zeroed
/// memory reads zero again and data segments have their initial bytes
/// again, both in the part of the slot that is reset in place (the first
/// MiB) and beyond it. The guest exits non-zero if it finds a write of an
/// earlier instance.
#[test]
fn a_pooled_slot_shows_nothing_of_the_instance_before() {
    const GUEST: &str = r#"
    (module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 24)
      (data (i32.const 2000) "\01")
      (data (i32.const 1400000) "\01")
      (func (export "_start")
        ;; zero-initialised bytes, below and above 1 MiB
        (if (i32.load (i32.const 1000)) (then (call $exit (i32.const 3))))
        (if (i32.load (i32.const 1300000)) (then (call $exit (i32.const 4))))
        ;; bytes from data segments
        (if (i32.ne (i32.load8_u (i32.const 2000)) (i32.const 1))
          (then (call $exit (i32.const 5))))
        (if (i32.ne (i32.load8_u (i32.const 1400000)) (i32.const 1))
          (then (call $exit (i32.const 6))))
        (i32.store (i32.const 1000) (i32.const 0xdeadbeef))
        (i32.store (i32.const 1300000) (i32.const 0xdeadbeef))
        (i32.store8 (i32.const 2000) (i32.const 2))
        (i32.store8 (i32.const 1400000) (i32.const 2))
        (call $exit (i32.const 0))))
    "#;
    let (_d, rt) = runtime(true);
    let program = rt.load(GUEST.as_bytes()).expect("load");
    for run in 0..4 {
        let out = Captured::new();
        let status = block_on(rt.run(
            &program,
            spec(&["reset"], out.stdio(InputSpec::Null)),
            &StopHandle::new(),
        ))
        .expect("run");
        assert_eq!(status, ExitStatus::Exited(0), "run {run}");
    }
}
