//! Snapshots of the CLI output that users read: `--help` with its
//! exit-code tables, `up --dry-run` plans, and the errors of bad input
//! (one line saying what failed, then its causes). A change to any of them shows up as a diff in review
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test --test
//! snapshots` and read `git diff`). Manifests are fixture files under
//! `tests/fixtures/`; temp paths are replaced by `[project]`.

mod common;

use std::path::Path;
use std::process::Output;

use common::up::*;
use common::*;

/// `wasmpod ARGS...` with help wrapped at a fixed width, whatever the
/// terminal.
fn wasmpod(w: &Wasmpod, args: &[&str]) -> Output {
    w.cmd()
        .env("COLUMNS", "100")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn wasmpod")
}

/// Stdout of a successful run.
#[track_caller]
fn success(o: &Output) -> String {
    assert_code(o, 0);
    stdout(o)
}

/// Stderr of a run that failed with exit 125: one line saying what failed,
/// then its causes, nothing said twice.
#[track_caller]
fn error_report(o: &Output) -> String {
    assert_host_failure(o, "");
    stderr(o)
}

/// Runs `f` with `dir` shown as `[project]`.
fn with_project_filter(dir: &Path, f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&dir.display().to_string()), "[project]");
    settings.bind(f);
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn help() {
    let w = Wasmpod::new();
    insta::assert_snapshot!("help", success(&wasmpod(&w, &["--help"])));
}

#[test]
fn run_help_with_exit_codes() {
    let w = Wasmpod::new();
    insta::assert_snapshot!("run_help", success(&wasmpod(&w, &["run", "--help"])));
}

#[test]
fn up_help_with_exit_codes() {
    let w = Wasmpod::new();
    insta::assert_snapshot!("up_help", success(&wasmpod(&w, &["up", "--help"])));
}

#[test]
fn up_dry_run_plan() {
    let w = Wasmpod::new();
    let p = Project::new();
    let file = p.write("plan.yaml", include_str!("fixtures/up/plan.yaml"));
    let o = up(&w, &["-f", &file.display().to_string(), "--dry-run"]);
    with_project_filter(p.path(), || {
        insta::assert_snapshot!("up_dry_run_plan", success(&o));
    });
}

#[test]
fn up_errors_are_one_line() {
    let w = Wasmpod::new();
    let p = Project::new();
    let mut errors = String::new();
    for (name, text) in [
        (
            "unknown-kind.yaml",
            include_str!("fixtures/errors/unknown-kind.yaml"),
        ),
        (
            "unsupported-field.yaml",
            include_str!("fixtures/errors/unsupported-field.yaml"),
        ),
        (
            "missing-config-map.yaml",
            include_str!("fixtures/errors/missing-config-map.yaml"),
        ),
    ] {
        let file = p.write(name, text);
        let o = up(&w, &["-f", &file.display().to_string(), "--dry-run"]);
        errors.push_str(&error_report(&o));
    }
    let o = up(&w, &["-f", &p.file("absent.yaml")]);
    errors.push_str(&error_report(&o));
    with_project_filter(p.path(), || {
        insta::assert_snapshot!("up_errors", errors);
    });
}

#[test]
fn run_errors_are_one_line() {
    let w = Wasmpod::new();
    let probe = wasmpod_test_guests::PROBE;
    let mut errors = String::new();
    for args in [
        &["run", "--memory", "64MB", probe][..],
        &["run", "--timeout", "soon", probe],
        &["run", "-v", "/tmp:data", probe],
        &["run", "--cpus", "0", probe],
        &["run", "--frobnicate", probe],
        &["frob"],
    ] {
        errors.push_str(&error_report(&wasmpod(&w, args)));
    }
    insta::assert_snapshot!("run_errors", errors);
}

/// An error with causes: what failed on the first line, each cause on a
/// `caused by:` line below it, and no text repeated between them.
#[test]
fn run_errors_with_causes() {
    let w = Wasmpod::new();
    let p = Project::new();
    let absent = p.file("absent.wasm");
    let mut errors = String::new();
    for args in [
        &["run", wasmpod_test_guests::UNKNOWN_IMPORT_WAT_WASM][..],
        &["run", &absent],
    ] {
        let o = wasmpod(&w, args);
        let lines = error_lines(&stderr(&o));
        assert!(lines.len() > 1, "no cause in:\n{}", stderr(&o));
        errors.push_str(&error_report(&o));
    }
    let guest = Path::new(wasmpod_test_guests::UNKNOWN_IMPORT_WAT_WASM);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &regex_escape(&guest.parent().expect("dir").display().to_string()),
        "[guests]",
    );
    settings.bind(|| {
        with_project_filter(p.path(), || {
            insta::assert_snapshot!("run_errors_with_causes", errors);
        })
    });
}

/// Policy and key files that cannot be used fail before anything is
/// fetched (the registry address here is unreachable), with exit 125; a
/// policy that denies the image exits 126. Both one line and its causes.
#[test]
fn trust_errors_are_one_line() {
    let w = Wasmpod::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy");
    let fixture = |name: &str| fixtures.join(name).display().to_string();
    let mut errors = String::new();
    for name in [
        "unknown-field.toml",
        "contradiction.toml",
        "keys-on-allow.toml",
        "no-default.toml",
        "absent.toml",
    ] {
        let policy = fixture(name);
        let o = wasmpod(&w, &["pull", "--policy", &policy, "127.0.0.1:1/app:v1"]);
        errors.push_str(&error_report(&o));
    }
    let key = fixture("truncated.pub");
    for args in [
        &["pull", "--verify-key", &key, "127.0.0.1:1/app:v1"][..],
        &["run", "--verify-key", &key, wasmpod_test_guests::HELLO],
    ] {
        errors.push_str(&error_report(&wasmpod(&w, args)));
    }
    let policy = fixture("deny-localhost.toml");
    let o = wasmpod(&w, &["run", "--policy", &policy, "127.0.0.1:1/app:v1"]);
    assert_code(&o, 126);
    assert_eq!(error_lines(&stderr(&o)).len(), 1, "{}", stderr(&o));
    errors.push_str(&stderr(&o));
    let guests = Path::new(wasmpod_test_guests::HELLO)
        .parent()
        .expect("dir")
        .display()
        .to_string();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&guests), "[guests]");
    settings.bind(|| {
        with_project_filter(&fixtures, || {
            insta::assert_snapshot!("trust_errors", errors);
        })
    });
}
