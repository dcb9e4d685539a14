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

/// Asserts exit 125 with one clear line naming the problem, and no panic.
#[track_caller]
pub fn assert_host_failure(o: &Output, needle: &str) {
    assert_code(o, 125);
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{err}");
    assert!(lines[0].starts_with("wasmpod: error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(o).is_empty(), "{}", stdout(o));
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
