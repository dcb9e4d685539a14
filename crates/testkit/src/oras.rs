//! `oras`, the CNCF ORAS client (`make setup` installs it with `go install`
//! into `~/.cache/wasmpod/bin` unless it is on the PATH): an independent
//! client that pushes and pulls OCI artifacts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::output_within;

/// `oras` from `make setup`, else the PATH's.
pub fn program() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/wasmpod/bin/oras"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "oras".into())
}

/// `oras ARGS...` in `dir`, which must succeed within two minutes.
#[track_caller]
pub fn oras(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(program());
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    let out = output_within(cmd, None, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "oras {args:?} (run `make setup` if it is missing): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `oras push` of `module` as the CNCF Wasm artifact, the way the
/// artifact's spec shows it: a `application/vnd.wasm.config.v0+json`
/// config and the module as an `application/wasm` layer titled `title`.
pub fn push_wasm_artifact(reference: &str, module: &[u8], title: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join(title), module).expect("module");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#,
    )
    .expect("config");
    let mut args = vec!["push", reference];
    if wasmpod_oci::ImageRef::parse(reference).is_ok_and(|r| r.is_loopback()) {
        args.insert(1, "--plain-http");
    }
    let layer = format!("{title}:application/wasm");
    args.extend_from_slice(&[
        "--config",
        "config.json:application/vnd.wasm.config.v0+json",
        &layer,
    ]);
    oras(dir.path(), &args);
}
