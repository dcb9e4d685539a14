//! Self-signed certificates for test servers, made with `openssl req`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tools::require;

/// A key and a self-signed certificate (RSA 2048, valid one day) for
/// `subject` (`/CN=...`), with each of `extensions` added as
/// `-addext`, written to `dir/key.pem` and `dir/cert.pem`.
pub struct SelfSigned {
    pub key: PathBuf,
    pub cert: PathBuf,
}

impl SelfSigned {
    #[track_caller]
    pub fn create(dir: &Path, subject: &str, extensions: &[&str]) -> Self {
        let key = dir.join("key.pem");
        let cert = dir.join("cert.pem");
        let mut cmd = Command::new(require("openssl", "openssl"));
        cmd.args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", subject]);
        for ext in extensions {
            cmd.args(["-addext", ext]);
        }
        let status = cmd
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl req");
        assert!(status.success(), "openssl req failed");
        Self { key, cert }
    }
}
