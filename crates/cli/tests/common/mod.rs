//! Helpers shared by the CLI test binaries.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

pub mod up;

/// A `wasmpod` command with its own state folder, no credentials from the
/// host, and a host environment variable that must never reach a guest.
pub struct Wasmpod {
    pub home: tempfile::TempDir,
}

impl Wasmpod {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmpod"));
        cmd.env("WASMPOD_HOME", self.home.path())
            .env("HOME", self.home.path().join("user-home"))
            .env("WASMPOD_TEST_SECRET", "host-secret-value")
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("WASMPOD_UPLOAD_CHUNK_SIZE")
            .env_remove("RUST_LOG");
        cmd
    }

    /// `wasmpod ARGS...` with stdin closed.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn wasmpod")
    }

    /// `wasmpod run ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.exec(&all)
    }
}

/// The WASI 0.3 conformance fixtures beside the repository.
pub fn p3_fixtures() -> std::path::PathBuf {
    wasmpod_testkit::wasi_p3_fixtures()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Asserts exit 125 with one line saying what failed, then its causes one
/// a line (`  caused by: …`), no text repeated from one line to the next,
/// and no panic.
#[track_caller]
pub fn assert_host_failure(o: &Output, needle: &str) {
    assert_code(o, 125);
    let err = stderr(o);
    let lines = error_lines(&err);
    for (i, a) in lines.iter().enumerate() {
        for b in &lines[i + 1..] {
            assert!(
                !a.contains(b) && !b.contains(a),
                "{a:?} and {b:?} repeat each other in:\n{err}"
            );
        }
    }
    // The needle may span a message and its cause: `--memory: invalid
    // quantity` is `--memory` caused by `invalid quantity`.
    assert!(
        lines.join(": ").contains(needle),
        "expected {needle:?} in:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(o).is_empty(), "{}", stdout(o));
}

/// The messages of an error report: the top line's after `wasmpod: error: `,
/// then each `  caused by: ` line's (a cause's own further lines, indented
/// deeper, stay with it).
#[track_caller]
pub fn error_lines(err: &str) -> Vec<String> {
    let mut lines = err.lines();
    let top = lines.next().unwrap_or_default();
    let top = top
        .strip_prefix("wasmpod: error: ")
        .unwrap_or_else(|| panic!("expected `wasmpod: error: ` first, got:\n{err}"));
    let mut messages = vec![top.to_string()];
    for line in lines {
        if let Some(cause) = line.strip_prefix("  caused by: ") {
            messages.push(cause.to_string());
        } else if let (Some(more), Some(last)) = (line.strip_prefix("    "), messages.last_mut()) {
            last.push('\n');
            last.push_str(more);
        } else {
            panic!("expected only `  caused by: ` lines after the first, got:\n{err}");
        }
    }
    messages
}

/// The blobs in the content store of `w`, sorted.
pub fn store_blobs(w: &Wasmpod) -> Vec<String> {
    let dir = w.home.path().join("store/blobs/sha256");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
