//! Modules that Go's own toolchain builds (`GOOS=wasip1 GOARCH=wasm`) run
//! under `wasmpod run` with no extra flag, as under Go's own runner: deep
//! recursion, files in a volume, the environment and exit codes.

mod common;

use common::*;
use wasmpod_test_guests as guests;

/// Nesting `encoding/json` handles only with Go's 8 MiB wasm stack (it
/// traps under wasmtime's default 512 KiB well before this). Each level is
/// an object and an array: 8,000 of the decoder's 10,000 allowed.
const DEEP: &str = "4000";

#[test]
fn deeply_nested_json_round_trips_with_the_default_stack() {
    let w = Wasmpod::new();
    let o = w.run(&[guests::GO_PROBE, "json", DEEP]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "json ok: 4000 levels, 32006 bytes, leaf leaf\n");
}

#[test]
fn max_wasm_stack_bounds_recursion() {
    let w = Wasmpod::new();
    // wasmtime's own default is too small for Go: the guest traps, and
    // says where.
    let o = w.run(&["--max-wasm-stack", "512Ki", guests::GO_PROBE, "json", DEEP]);
    assert_code(&o, 134);
    assert!(
        stderr(&o).contains("call stack exhausted"),
        "{}",
        stderr(&o)
    );
    // A larger stack than the default is granted too.
    let o = w.run(&["--max-wasm-stack", "64Mi", guests::GO_PROBE, "json", "4999"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).starts_with("json ok: 4999 levels"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_bad_max_wasm_stack_is_one_line_and_exit_125() {
    let w = Wasmpod::new();
    for (value, reason) in [
        (
            "1Ki",
            "max wasm stack 1024 bytes is outside 64 KiB to 1 GiB",
        ),
        (
            "2Gi",
            "max wasm stack 2147483648 bytes is outside 64 KiB to 1 GiB",
        ),
        ("lots", "lots"),
    ] {
        let o = w.run(&["--max-wasm-stack", value, guests::GO_PROBE, "exit", "0"]);
        assert_code(&o, 125);
        assert!(stderr(&o).starts_with("wasmpod: error: "), "{}", stderr(&o));
        assert!(stderr(&o).contains(reason), "{value}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

#[test]
fn files_in_a_volume_env_and_exit_codes() {
    let w = Wasmpod::new();
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::write(data.path().join("already.txt"), "here\n").expect("write");
    let volume = format!("{}:/data", data.path().display());
    let o = w.run(&["-v", &volume, guests::GO_PROBE, "files", "/data"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "read back: written by Go\nentries: [already.txt from-go.txt]\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.path().join("from-go.txt")).expect("on the host"),
        "written by Go\n"
    );
    // Outside the volume there is nothing.
    let o = w.run(&[guests::GO_PROBE, "files", "/tmp"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).starts_with("go-probe: write: "),
        "{}",
        stderr(&o)
    );

    let o = w
        .cmd()
        .env("HOST_ONLY", "secret")
        .args(["run", "-e", "GREETING=hello from go"])
        .args([guests::GO_PROBE, "env", "GREETING", "HOST_ONLY"])
        .output()
        .expect("spawn");
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "GREETING=hello from go\nHOST_ONLY unset\n");

    for code in ["0", "3", "42"] {
        assert_code(
            &w.run(&[guests::GO_PROBE, "exit", code]),
            code.parse().expect("code"),
        );
    }
}

#[test]
fn up_runs_go_modules_with_the_stack_each_pod_asks_for() {
    use common::up::{Project, lines, up_file};
    let w = Wasmpod::new();
    let p = Project::new();
    std::fs::copy(guests::GO_PROBE, p.path().join("go-probe.wasm")).expect("copy");
    let file = p.write("go.yaml", include_str!("fixtures/up/go-stacks.yaml"));
    let o = up_file(&w, &file);
    // One pod trapped: the run as a whole failed.
    assert_code(&o, 1);
    let mut out = lines(&o);
    out.sort();
    let has = |line: &str| out.iter().any(|l| l == line);
    assert!(
        has("deep/main | json ok: 4000 levels, 32006 bytes, leaf leaf"),
        "{out:#?}"
    );
    assert!(has("[event] deep/main: Exited with code 0"), "{out:#?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("[event] shallow/main: Trapped: ")
                && l.contains("call stack exhausted")),
        "{out:#?}"
    );
    assert!(
        has("[event] shallow/main: Exited with code 134"),
        "{out:#?}"
    );
    assert!(has("env-0/main | GREETING=hello from go"), "{out:#?}");

    // The plan shows the stack a pod asked for.
    let file = file.display().to_string();
    let o = common::up::up(&w, &["-f", &file, "--dry-run"]);
    assert_code(&o, 0);
    let plan = stdout(&o);
    assert!(
        plan.lines()
            .any(|l| l.starts_with("pod shallow ") && l.contains(" max-wasm-stack=512Ki")),
        "{plan}"
    );

    // A bad value names the pod, the annotation and the reason: exit 125.
    for (value, reason) in [("lots", "lots"), ("1Ki", "outside 64 KiB to 1 GiB")] {
        let bad = p.write(
            "bad.yaml",
            &include_str!("fixtures/up/go-stacks.yaml").replace("512Ki", value),
        );
        let o = up_file(&w, &bad);
        assert_code(&o, 125);
        let err = stderr(&o);
        assert!(err.starts_with("wasmpod: error: "), "{err}");
        assert!(err.contains("wasmpod.dev/max-wasm-stack"), "{err}");
        assert!(err.contains("shallow"), "{err}");
        assert!(err.contains(reason), "{err}");
    }
}
