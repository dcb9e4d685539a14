//! `wasmpod run` as a user sees it: the built binary on real guests (C
//! compiled with clang and wasi-libc, WAT, and a WASI 0.2 component).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use wasmpod_test_guests as guests;
use wasmpod_testkit::{KillOnDrop, free_port, lines_of};

/// How long to wait for one expected line of a running guest.
const LINE_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn passes_arguments_to_a_module() {
    let w = Wasmpod::new();
    let o = w.run(&[guests::PROBE, "args", "one", "--two", "3 4"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        format!(
            "argv[0]={}\nargv[1]=args\nargv[2]=one\nargv[3]=--two\nargv[4]=3 4\n",
            guests::PROBE
        )
    );
    // `--` before the guest's arguments is accepted and dropped.
    let o = w.run(&[guests::PROBE, "--", "args", "x"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).ends_with("argv[1]=args\nargv[2]=x\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn grants_only_the_environment_it_is_given() {
    let w = Wasmpod::new();
    let env_file = w.home.path().join("vars.env");
    std::fs::write(&env_file, "# settings\nFROM_FILE=file\nOVERRIDDEN=file\n").expect("write");
    let o = w
        .cmd()
        .env("COPIED", "from-host")
        .args(["run", "-e", "A=1", "--env", "B=two words", "-e", "COPIED"])
        .args(["-e", "OVERRIDDEN=flag", "--env-file"])
        .arg(&env_file)
        .args([guests::PROBE, "env"])
        .output()
        .expect("spawn");
    assert_code(&o, 0);
    let out = stdout(&o);
    let mut vars: Vec<&str> = out.lines().collect();
    assert_eq!(vars.pop(), Some("env-end"));
    vars.sort();
    assert_eq!(
        vars,
        [
            "A=1",
            "B=two words",
            "COPIED=from-host",
            "FROM_FILE=file",
            "OVERRIDDEN=flag"
        ]
    );
    assert!(!out.contains("host-secret-value"));

    // With no flags the guest sees an empty environment: no PATH, no HOME.
    let o = w.run(&[guests::PROBE, "env"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "env-end\n");
}

#[test]
fn read_only_volume_is_readable_and_not_writable() {
    let w = Wasmpod::new();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.txt"), "volume content\n").expect("write");
    let vol = format!("{}:/data:ro", dir.path().display());

    let o = w.run(&["-v", &vol, guests::PROBE, "cat", "/data/in.txt"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "volume content\n");

    for target in ["/data/new.txt", "/data/in.txt"] {
        let o = w.run(&["-v", &vol, guests::PROBE, "write", target, "x"]);
        assert_code(&o, 1);
        assert!(
            stdout(&o).starts_with(&format!("open {target} failed")),
            "{}",
            stdout(&o)
        );
    }
    assert!(!dir.path().join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("in.txt")).expect("read"),
        "volume content\n"
    );
}

#[test]
fn a_read_only_volume_inside_a_writable_one_is_refused() {
    let w = Wasmpod::new();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("ro")).expect("mkdir");
    let rw = format!("{}:/data", dir.path().display());
    let ro = format!("{}:/ro:ro", dir.path().join("ro").display());
    // Through /data/ro the guest could write what /ro denies.
    let o = w.run(&[
        "-v",
        &rw,
        "-v",
        &ro,
        guests::PROBE,
        "write",
        "/data/ro/f",
        "x",
    ]);
    assert_host_failure(&o, "is inside the read-write volume");
    assert!(!dir.path().join("ro/f").exists());
    // The other way round is two grants of their own.
    let ro_parent = format!("{}:/data:ro", dir.path().display());
    let rw_child = format!("{}:/rw", dir.path().join("ro").display());
    let o = w.run(&[
        "-v",
        &ro_parent,
        "-v",
        &rw_child,
        guests::PROBE,
        "write",
        "/rw/f",
        "x",
    ]);
    assert_code(&o, 0);
    assert!(dir.path().join("ro/f").exists());
}

#[test]
fn a_compile_cache_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = Wasmpod::new();
    let cache = w.home.path().join("cache/compiled");
    std::fs::create_dir_all(&cache).expect("mkdir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let o = w.run(&[guests::PROBE, "exit", "0"]);
    assert_host_failure(&o, "writable by group or others (mode 777)");
    assert!(
        stderr(&o).contains(&cache.display().to_string()),
        "{}",
        stderr(&o)
    );
    // Nothing was compiled into it.
    assert_eq!(std::fs::read_dir(&cache).expect("ls").count(), 0);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_code(&w.run(&[guests::PROBE, "exit", "0"]), 0);
}

#[test]
fn writable_volume_writes_reach_the_host() {
    let w = Wasmpod::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let vol = format!("{}:/out", dir.path().display());
    let o = w.run(&[
        "--volume",
        &vol,
        guests::PROBE,
        "write",
        "/out/result.txt",
        "written by wasm",
    ]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "wrote /out/result.txt\n");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("result.txt")).expect("read"),
        "written by wasm"
    );

    // `--dir` is an alias, with wasmtime's HOST::GUEST form.
    let vol = format!("{}::/out", dir.path().display());
    let o = w.run(&["--dir", &vol, guests::PROBE, "cat", "/out/result.txt"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "written by wasm");
}

#[test]
fn escape_attempts_fail() {
    let w = Wasmpod::new();
    let outer = tempfile::tempdir().expect("tempdir");
    let secret = outer.path().join("secret.txt");
    std::fs::write(&secret, "TOP SECRET").expect("write");
    let vol_dir = outer.path().join("vol");
    std::fs::create_dir(&vol_dir).expect("mkdir");
    std::fs::write(vol_dir.join("ok.txt"), "fine").expect("write");
    std::os::unix::fs::symlink("/", vol_dir.join("root-link")).expect("symlink");
    std::os::unix::fs::symlink(&secret, vol_dir.join("abs-link")).expect("symlink");
    std::os::unix::fs::symlink("../secret.txt", vol_dir.join("rel-link")).expect("symlink");
    let vol = format!("{}:/data", vol_dir.display());

    // The volume itself works, so the failures below are the sandbox's.
    let o = w.run(&["-v", &vol, guests::PROBE, "cat", "/data/ok.txt"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "fine");

    let secret_abs = secret.display().to_string();
    for path in [
        "/data/../secret.txt",
        "/data/../../../../etc/passwd",
        "/data/root-link/etc/passwd",
        "/data/abs-link",
        "/data/rel-link",
        secret_abs.as_str(),
        "/etc/passwd",
        "../secret.txt",
    ] {
        let o = w.run(&["-v", &vol, guests::PROBE, "cat", path]);
        assert_code(&o, 1);
        let out = stdout(&o);
        assert!(
            out.starts_with(&format!("open {path} failed")),
            "{path}: {out}"
        );
        assert!(
            !out.contains("TOP SECRET") && !out.contains("root:"),
            "{path}: {out}"
        );
    }
    for path in ["/data/root-link", "/", "/data/.."] {
        let o = w.run(&["-v", &vol, guests::PROBE, "ls", path]);
        let out = stdout(&o);
        assert!(
            !out.contains("secret.txt") && !out.contains("etc"),
            "{path}: {out}"
        );
    }
    let o = w.run(&[
        "-v",
        &vol,
        guests::PROBE,
        "write",
        "/data/../escaped.txt",
        "x",
    ]);
    assert_code(&o, 1);
    assert!(!outer.path().join("escaped.txt").exists());
}

#[test]
fn stdin_and_stdout_are_streamed() {
    let w = Wasmpod::new();
    let mut child = KillOnDrop::spawn(
        w.cmd()
            .args(["run", guests::PROBE, "stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut stdin = child.0.stdin.take().expect("stdin");
    let out = lines_of(child.0.stdout.take().expect("stdout"));
    let line = || out.recv_timeout(LINE_LIMIT).expect("a line from the guest");
    // The guest is still running (waiting on stdin) when we read this.
    assert_eq!(line(), "ready");
    stdin.write_all(b"first line\n").expect("write");
    stdin.flush().expect("flush");
    assert_eq!(line(), "got: first line");
    stdin.write_all(b"second\n").expect("write");
    drop(stdin);
    let rest: Vec<String> = std::iter::from_fn(|| out.recv_timeout(LINE_LIMIT).ok()).collect();
    assert_eq!(rest, ["got: second", "stdin closed"]);
    let status = child.wait_within(LINE_LIMIT).expect("the guest ends");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn exit_codes_pass_through() {
    let w = Wasmpod::new();
    for code in ["0", "1", "7", "42"] {
        let o = w.run(&[guests::PROBE, "exit", code]);
        assert_code(&o, code.parse().expect("int"));
        assert_eq!(stdout(&o), format!("exiting with {code}\n"));
    }
}

#[test]
fn trap_exits_134_with_a_named_backtrace() {
    let w = Wasmpod::new();
    let o = w.run(&[guests::PROBE, "trap"]);
    assert_code(&o, 134);
    assert_eq!(stdout(&o), "about to trap\n");
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "wasmpod: guest trapped: wasm trap: wasm `unreachable` instruction executed\n"
        ),
        "{err}"
    );
    assert!(err.contains("wasm backtrace:"), "{err}");
    assert!(err.contains("do_crash"), "{err}");
    assert!(err.contains("main"), "{err}");
}

#[test]
fn memory_cap_holds_and_the_guest_sees_malloc_fail() {
    let w = Wasmpod::new();
    let o = w.run(&["--memory", "16Mi", guests::PROBE, "alloc", "64"]);
    assert_code(&o, 0);
    let out = stdout(&o);
    let got: u32 = out
        .strip_prefix("allocated ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {out:?}"));
    assert!(
        (1..16).contains(&got),
        "allocated {got} MiB under a 16Mi cap"
    );
    assert!(out.ends_with(" MiB of 64\n"), "{out}");

    // The same guest without a cap gets everything it asks for.
    let o = w.run(&[guests::PROBE, "alloc", "64"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "allocated 64 MiB of 64\n");

    // A module whose initial memory exceeds the cap cannot start.
    let o = w.run(&["--memory", "16Mi", guests::BIG_MEMORY_WAT_WASM]);
    assert_host_failure(&o, "cannot instantiate");
}

#[test]
fn timeout_interrupts_a_spinning_guest_with_124() {
    let w = Wasmpod::new();
    // Compile first so the timed run measures the timeout, not Cranelift
    // (with a timeout: a run without one compiles without epoch checks).
    assert_code(&w.run(&["--timeout", "60s", guests::PROBE, "exit", "0"]), 0);
    let started = Instant::now();
    let o = w.run(&["--timeout", "500ms", guests::PROBE, "spin"]);
    let elapsed = started.elapsed();
    assert_code(&o, 124);
    assert_eq!(stdout(&o), "spinning\n");
    assert!(
        stderr(&o).contains("timed out after 500ms"),
        "{}",
        stderr(&o)
    );
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

/// Without --timeout or --cpus a module is compiled without epoch checks
/// (as `wasmtime run` does): nothing inside can interrupt a spinning guest,
/// and a signal ends the process as it ends wasmtime. Its compile cache
/// entry is its own; a later run with a limit compiles one with the checks
/// and still enforces the limit.
#[test]
fn a_spinning_guest_without_limits_ends_with_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let w = Wasmpod::new();
    let mut child = KillOnDrop::spawn(
        w.cmd()
            .args(["run", guests::PROBE, "spin"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let lines = lines_of(child.0.stdout.take().expect("stdout"));
    assert_eq!(
        lines.recv_timeout(LINE_LIMIT).expect("spinning"),
        "spinning"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child
        .wait_within(Duration::from_secs(10))
        .expect("wasmpod ends on SIGTERM");
    assert_eq!(status.signal(), Some(15), "{status:?}");

    let entries = || {
        std::fs::read_dir(w.home.path().join("cache/compiled"))
            .expect("cache folder")
            .count()
    };
    let before = entries();
    let o = w.run(&["--timeout", "300ms", guests::PROBE, "spin"]);
    assert_code(&o, 124);
    assert_eq!(
        entries(),
        before + 1,
        "an entry of its own for the checked code"
    );
}

#[test]
fn timeout_stops_a_guest_blocked_in_a_host_call() {
    let w = Wasmpod::new();
    assert_code(&w.run(&[guests::PROBE, "exit", "0"]), 0);
    let started = Instant::now();
    let o = w.run(&["--timeout", "1s", guests::PROBE, "sleep", "60"]);
    assert_code(&o, 124);
    assert_eq!(stdout(&o), "sleeping\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn runs_a_wasi_p2_component() {
    let w = Wasmpod::new();
    let o = w.run(&["--verbose", guests::PROBE_COMPONENT, "args", "hi"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        format!(
            "argv[0]={}\nargv[1]=args\nargv[2]=hi\n",
            guests::PROBE_COMPONENT
        )
    );
    assert!(
        stderr(&o).contains("is a WASI 0.2 component (command), sha256:"),
        "{}",
        stderr(&o)
    );

    let o = w.run(&["-e", "K=V", guests::PROBE_COMPONENT, "env"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "K=V\nenv-end\n");

    // WASI 0.2's `exit` carries success or failure only, so a component
    // built through the preview 1 adapter reports any failure as 1.
    let o = w.run(&[guests::PROBE_COMPONENT, "exit", "9"]);
    assert_code(&o, 1);
    let o = w.run(&[guests::PROBE_COMPONENT, "exit", "0"]);
    assert_code(&o, 0);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f"), "p2 file").expect("write");
    let vol = format!("{}:/v:ro", dir.path().display());
    let o = w.run(&["-v", &vol, guests::PROBE_COMPONENT, "cat", "/v/f"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "p2 file");
    let o = w.run(&["-v", &vol, guests::PROBE_COMPONENT, "write", "/v/g", "x"]);
    assert_code(&o, 1);
    assert!(!dir.path().join("g").exists());

    let o = w.run(&["--timeout", "500ms", guests::PROBE_COMPONENT, "spin"]);
    assert_code(&o, 124);
}

#[test]
fn runs_webassembly_text() {
    let w = Wasmpod::new();
    let o = w.run(&[guests::HELLO_WAT]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "hello from wat\n");
}

fn cache_line(o: &Output) -> String {
    stderr(o)
        .lines()
        .find(|l| l.starts_with("wasmpod: ") && l.contains("compile cache"))
        .unwrap_or_else(|| panic!("no cache line in {}", stderr(o)))
        .to_string()
}

#[test]
fn second_run_hits_the_compile_cache_and_bad_entries_are_recompiled() {
    let w = Wasmpod::new();
    let first = w.run(&["--verbose", guests::HELLO]);
    assert_code(&first, 0);
    assert!(
        cache_line(&first).contains("compile cache miss"),
        "{}",
        stderr(&first)
    );
    let second = w.run(&["--verbose", guests::HELLO]);
    assert_code(&second, 0);
    assert!(
        cache_line(&second).contains("compile cache hit"),
        "{}",
        stderr(&second)
    );
    assert_eq!(stdout(&first), stdout(&second));

    // Corrupt, truncate or empty the entry: it is detected and recompiled.
    let dir = w.home.path().join("cache/compiled");
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let good = std::fs::read(entry).expect("read");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    for bad in [flipped, good[..good.len() / 3].to_vec(), Vec::new()] {
        std::fs::write(entry, &bad).expect("corrupt");
        let o = w.run(&["--verbose", guests::HELLO]);
        assert_code(&o, 0);
        assert_eq!(stdout(&o), stdout(&first));
        assert!(
            cache_line(&o).contains("compile cache rejected (recompiled)"),
            "{}",
            stderr(&o)
        );
        let again = w.run(&["--verbose", guests::HELLO]);
        assert!(
            cache_line(&again).contains("compile cache hit"),
            "{}",
            stderr(&again)
        );
    }
}

#[test]
fn concurrent_first_runs_share_the_cache_safely() {
    let w = Wasmpod::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            w.cmd()
                .args(["run", guests::PROBE, "exit", "5"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().expect("wait");
        assert_code(&o, 5);
    }
    let o = w.run(&["--verbose", guests::PROBE, "exit", "0"]);
    assert!(
        cache_line(&o).contains("compile cache hit"),
        "{}",
        stderr(&o)
    );
    let leftovers: Vec<_> = std::fs::read_dir(w.home.path().join("cache/compiled"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".cwasm"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_input_exits_125_with_one_clear_line() {
    let w = Wasmpod::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some notes\n").expect("write");
    let elf = dir.path().join("prog");
    std::fs::write(&elf, b"\x7fELF\x02\x01\x01\0\0\0\0\0").expect("write");
    let truncated = dir.path().join("truncated.wasm");
    let probe = std::fs::read(guests::PROBE).expect("probe");
    std::fs::write(&truncated, &probe[..probe.len() / 2]).expect("write");
    let missing = dir.path().join("missing.wasm");
    let missing = missing.to_str().expect("utf-8");
    let text = text.to_str().expect("utf-8");
    let elf = elf.to_str().expect("utf-8");
    let truncated = truncated.to_str().expect("utf-8");
    let no_such_dir = format!("{}/nope:/data", dir.path().display());
    let a_file = format!("{text}:/data");
    let missing_env_file = format!("{}/none.env", dir.path().display());

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![text], "not a WebAssembly module or component"),
        (vec![elf], "not a WebAssembly module or component"),
        (vec![truncated], "invalid WebAssembly"),
        (
            vec![guests::UNKNOWN_IMPORT_WAT_WASM],
            "env::launch_missiles",
        ),
        (vec![guests::REACTOR_WAT_WASM], "no `_start`"),
        (vec![missing], "No such file or directory"),
        (
            vec!["-v", &no_such_dir, guests::PROBE],
            "No such file or directory",
        ),
        (vec!["-v", &a_file, guests::PROBE], "not a directory"),
        (vec!["-v", "/tmp:/data:rx", guests::PROBE], "invalid volume"),
        (vec!["-v", "/tmp:data", guests::PROBE], "must be absolute"),
        (
            vec!["--memory", "64MB", guests::PROBE],
            "invalid quantity \"64MB\"",
        ),
        (
            vec!["--memory", "-1Mi", guests::PROBE],
            "--memory: invalid quantity \"-1Mi\": must not be negative",
        ),
        (
            vec!["--timeout", "soon", guests::PROBE],
            "invalid duration \"soon\"",
        ),
        (vec!["--timeout", "0s", guests::PROBE], "greater than zero"),
        (
            vec!["-e", "=x", guests::PROBE],
            "invalid environment variable",
        ),
        (
            vec!["--env-file", &missing_env_file, guests::PROBE],
            "cannot read env file",
        ),
        (
            vec!["--frobnicate", guests::PROBE],
            "unexpected argument '--frobnicate'",
        ),
        (vec![], "FILE"),
    ];
    for (args, needle) in cases {
        let o = w.run(&args);
        assert_host_failure(&o, needle);
    }
    let o = w.cmd().arg("frob").output().expect("spawn");
    assert_host_failure(&o, "unrecognized subcommand 'frob'");
}

#[test]
fn help_documents_the_exit_codes() {
    let w = Wasmpod::new();
    let o = w.cmd().args(["run", "--help"]).output().expect("spawn");
    assert_code(&o, 0);
    let help = stdout(&o);
    for needle in [
        "--env-file",
        "--volume",
        "--dir",
        "--memory",
        "--timeout",
        "--net",
        "124",
        "125",
        "134",
        "143",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn runs_the_example() {
    let w = Wasmpod::new();
    let o = w.run(&["-e", "GREETING_NAME=tests", guests::HELLO, "a"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Hello from WebAssembly, tests!\n  arg 1: a\n");
    assert!(Path::new(guests::HELLO).exists());
}

#[test]
fn net_flag_grants_sockets_and_nothing_else_does() {
    // The probe creates a TCP socket, binds it to 127.0.0.1:0 and listens,
    // printing a line per step and stopping at the first error code
    // (1 is `access-denied`); `run` returns err, exit 1, on a failure.
    let w = Wasmpod::new();
    let o = w.run(&["--net", guests::NET_PROBE_WAT_WASM]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "create-tcp-socket ok\nbind ok\nlisten ok\n");

    // Without `--net` the guest cannot even create a socket, whatever else
    // it is granted.
    let dir = tempfile::tempdir().expect("tempdir");
    let vol = format!("{}:/data", dir.path().display());
    for args in [
        vec![guests::NET_PROBE_WAT_WASM],
        vec![
            "-e",
            "NET=1",
            "-v",
            &vol,
            "--memory",
            "64Mi",
            "--timeout",
            "30s",
            guests::NET_PROBE_WAT_WASM,
        ],
    ] {
        let o = w.run(&args);
        assert_code(&o, 1);
        assert_eq!(
            stdout(&o),
            "create-tcp-socket failed: error-code 1\n",
            "{args:?}"
        );
    }
}

#[test]
fn tcp_hello_serves_connections_with_net_only() {
    // The guest binds 0.0.0.0 on the port given as its first argument,
    // prints `listening on 0.0.0.0:PORT`, and answers every connection
    // with `hello from wasm\n` before closing it.
    let w = Wasmpod::new();
    let stderr_path = w.home.path().join("server-stderr");
    let mut attempts = 0;
    let (mut server, lines, port) = loop {
        attempts += 1;
        // A port free a moment ago; another process may take it before
        // the guest binds it, so address-in-use (12) means try another.
        let port = free_port();
        let mut server = KillOnDrop::spawn(
            w.cmd()
                .args(["run", "--net", guests::TCP_HELLO_WAT_WASM])
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&stderr_path).expect("stderr file")),
        );
        // Lines are read on a thread so that waiting for one is bounded.
        let lines = lines_of(server.0.stdout.take().expect("stdout"));
        let first = lines.recv_timeout(LINE_LIMIT).unwrap_or_else(|e| {
            panic!(
                "no line from the server ({e}); stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        });
        if first == "bind failed: error-code 12" && attempts < 3 {
            continue;
        }
        assert_eq!(first, format!("listening on 0.0.0.0:{port}"));
        break (server, lines, port);
    };

    for _ in 0..2 {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut got = Vec::new();
        // The guest closes the connection after the greeting.
        std::io::Read::read_to_end(&mut conn, &mut got).expect("read");
        assert_eq!(String::from_utf8_lossy(&got), "hello from wasm\n");
    }
    // Still serving, and nothing more on stdout.
    assert!(server.0.try_wait().expect("try_wait").is_none());
    drop(server);
    let rest: Vec<String> =
        std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(10)).ok()).collect();
    assert!(rest.is_empty(), "{rest:?}");

    // Without `--net` the guest cannot create its socket.
    let port = port.to_string();
    let o = w.run(&[guests::TCP_HELLO_WAT_WASM, &port]);
    assert_code(&o, 1);
    assert_eq!(stdout(&o), "create-tcp-socket failed: error-code 1\n");

    // A port that is not one fails before any socket is made.
    let o = w.run(&["--net", guests::TCP_HELLO_WAT_WASM, "65536"]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).starts_with("parse-port failed: "),
        "{}",
        stdout(&o)
    );
}

/// `GET path` on 127.0.0.1:`port`: status and body.
#[track_caller]
fn http_get(port: u16, path: &str) -> (u16, String) {
    wasmpod_testkit::http_get(&format!("127.0.0.1:{port}"), path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_http_component_is_served_and_drains_on_sigterm() {
    let w = Wasmpod::new();
    let port = free_port();
    let mut server = KillOnDrop::spawn(
        w.cmd()
            .args([
                "run",
                "--listen",
                &port.to_string(),
                guests::HTTP_HELLO_WAT_WASM,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let lines = lines_of(server.0.stderr.take().expect("stderr"));
    let first = lines
        .recv_timeout(LINE_LIMIT)
        .expect("the server's first line");
    assert_eq!(
        first,
        format!("wasmpod: serving HTTP on http://127.0.0.1:{port}/")
    );

    assert_eq!(http_get(port, "/"), (200, "hello from wasm\n".into()));
    assert_eq!(http_get(port, "/fail"), (500, "failing\n".into()));

    // SIGTERM with a request in flight: it completes, then wasmpod exits 0
    // (the drain did what was asked), as `wasmtime serve` does.
    let slow = std::thread::spawn(move || http_get(port, "/sleep"));
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert_eq!(slow.join().expect("join"), (200, "slept\n".into()));
    let status = server.0.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after the drain"
    );

    let o = w.run(&["--listen", "nowhere", guests::HTTP_HELLO_WAT_WASM]);
    assert_host_failure(&o, "--listen: invalid address \"nowhere\"");
}

#[test]
fn a_second_signal_during_the_drain_stops_the_server_as_that_signal() {
    let w = Wasmpod::new();
    let mut server = KillOnDrop::spawn(
        w.cmd()
            .args([
                "run",
                "--listen",
                "127.0.0.1:0",
                guests::HTTP_HELLO_WAT_WASM,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let lines = lines_of(server.0.stderr.take().expect("stderr"));
    let first = lines
        .recv_timeout(LINE_LIMIT)
        .expect("the server's first line");
    let port: u16 = first
        .strip_prefix("wasmpod: serving HTTP on http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));

    // SIGINT starts a drain that waits for the slow request; SIGTERM during
    // it stops at once, and wasmpod exits as stopped by SIGTERM.
    let slow = std::thread::spawn(move || {
        wasmpod_testkit::http_get(&format!("127.0.0.1:{port}"), "/sleep")
    });
    std::thread::sleep(Duration::from_millis(300));
    for signal in ["-INT", "-TERM"] {
        let sent = std::process::Command::new("kill")
            .args([signal, &server.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = wasmpod_testkit::wait_for(
        Duration::from_secs(10),
        "wasmpod to end after the second signal",
        || server.0.try_wait().expect("try_wait"),
    );
    assert_eq!(status.code(), Some(143));
    assert!(
        slow.join().expect("join").is_err(),
        "the request in flight is cut"
    );
}

#[test]
fn cpus_limits_the_guest_cpu_time() {
    // A guest spinning for 1.5 s uses about 1.5 s of CPU; with --cpus 0.2
    // about a fifth of that. A shell runs wasmpod and then reports its
    // children's CPU time (cutime + cstime, in clock ticks, from
    // /proc/$$/stat), so no other test's processes are counted.
    let w = Wasmpod::new();
    let measure = |cpus: &[&str]| -> f64 {
        let script = format!(
            "\"$0\" run {} --timeout 1500ms {} spin >/dev/null; echo code=$?; cat /proc/$$/stat",
            cpus.join(" "),
            guests::PROBE
        );
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_wasmpod"))
            .env("WASMPOD_HOME", w.home.path())
            .output()
            .expect("sh");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("code=124"), "{out}");
        let stat = out.lines().last().unwrap_or("");
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        // After ")": state is field 3, so cutime (16) and cstime (17) are
        // at 13 and 14.
        let ticks: f64 =
            fields[13].parse::<f64>().expect("cutime") + fields[14].parse::<f64>().expect("cstime");
        ticks / 100.0
    };
    let free = measure(&[]);
    let limited = measure(&["--cpus", "0.2"]);
    // Unlimited, the spin gets what the machine gives it (1.5 s when idle);
    // limited, at most a fifth of the wall time plus start-up.
    assert!(free > 0.4, "unlimited spin used {free}s of CPU");
    assert!(
        limited < 0.6 && limited < free,
        "--cpus 0.2 over 1.5 s used {limited}s of CPU (unlimited: {free}s)"
    );
    let o = w.run(&["--cpus", "0", guests::PROBE, "args"]);
    assert_host_failure(&o, "--cpus 0: must be more than 0");
}

/// A WASI 0.3 conformance fixture's path.
fn p3_fixture(name: &str) -> String {
    p3_fixtures()
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

#[test]
fn a_wasi_p3_command_gets_no_network_without_net() {
    let w = Wasmpod::new();
    let guest = p3_fixture("sockets-tcp-connect");
    let denied = w.run(&[&guest]);
    assert_ne!(denied.status.code(), Some(0), "{}", stderr(&denied));
    let granted = w.run(&["--net", &guest]);
    assert_code(&granted, 0);
}

#[test]
fn memory_and_timeout_limits_apply_to_a_wasi_p3_command() {
    let w = Wasmpod::new();
    let guest = p3_fixture("cli-env");
    // Its initial memories alone are over 64 KiB: it does not start.
    let o = w.run(&["--memory", "64Ki", &guest]);
    assert_host_failure(&o, "cannot instantiate the guest");
    let o = w.run(&["--memory", "64Mi", &p3_fixture("wall-clock")]);
    assert_code(&o, 0);

    // Blocked reading a stdin that never ends, it is stopped by --timeout.
    let mut child = KillOnDrop::spawn(
        w.cmd()
            .args(["run", "--timeout", "500ms"])
            .arg(p3_fixture("cli-stdio-roundtrip"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let status = child
        .wait_within(Duration::from_secs(30))
        .expect("wasmpod ends after its timeout");
    assert_eq!(status.code(), Some(124));
}

#[test]
fn verbose_names_a_wasi_p3_service() {
    let w = Wasmpod::new();
    let fixture = p3_fixture("http-service");
    let (mut server, lines) = w.spawn_run(&["--verbose", "--listen", "127.0.0.1:0", &fixture]);
    let first = lines.recv_timeout(LINE_LIMIT).expect("the verbose line");
    assert!(
        first.contains("is a WASI 0.3 component (wasi:http service), sha256:"),
        "{first}"
    );
    let serving = lines.recv_timeout(LINE_LIMIT).expect("the serving line");
    assert!(
        serving.starts_with("wasmpod: serving HTTP on http://127.0.0.1:"),
        "{serving}"
    );
    let sent = std::process::Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = server
        .wait_within(Duration::from_secs(30))
        .expect("wasmpod ends after the drain");
    assert_eq!(status.code(), Some(0));
}
