//! cosign itself (`make setup` installs it with `go install`), to sign
//! test images as users do: keys it generates, signatures in its legacy
//! `sha256-<hex>.sig` layout or as a cosign v3 bundle. No transparency log
//! and no keyless signing: nothing here reaches the internet.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::output_within;

/// The password of every key the tests generate.
pub const PASSWORD: &str = "wasmpod-test";

/// `cosign` from `make setup` (`~/.cache/wasmpod/bin`), else the PATH's.
pub fn program() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/wasmpod/bin/cosign"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "cosign".into())
}

/// `cosign ARGS...` in `dir` (also its `HOME`), with the test keys'
/// password, bounded to two minutes.
pub fn cosign(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(program());
    cmd.args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env_remove("DOCKER_CONFIG")
        .env_remove("SIGSTORE_ROOT_FILE");
    output_within(cmd, None, Duration::from_secs(120))
}

/// [`cosign`], which must succeed.
#[track_caller]
pub fn cosign_ok(dir: &Path, args: &[&str]) -> Output {
    let o = cosign(dir, args);
    assert!(
        o.status.success(),
        "cosign {args:?} (run `make setup` if it is missing): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A key pair made by `cosign generate-key-pair`: `NAME.key`, `NAME.pub`
/// in the folder it was made in, which cosign then runs in.
#[derive(Debug, Clone)]
pub struct KeyPair {
    dir: PathBuf,
    pub key: PathBuf,
    pub public: PathBuf,
}

impl KeyPair {
    /// A new pair in `dir`.
    pub fn generate(dir: &Path, name: &str) -> Self {
        cosign_ok(dir, &["generate-key-pair", "--output-key-prefix", name]);
        Self {
            dir: dir.to_path_buf(),
            key: dir.join(format!("{name}.key")),
            public: dir.join(format!("{name}.pub")),
        }
    }

    /// The public key's path, as a flag takes it.
    pub fn public(&self) -> &str {
        self.public.to_str().expect("utf-8 path")
    }

    /// The private key's path.
    pub fn key(&self) -> &str {
        self.key.to_str().expect("utf-8 path")
    }

    /// `cosign sign --key`, in the `sha256-<hex>.sig` layout every cosign
    /// reads (v3 writes a referrers bundle unless told otherwise).
    pub fn sign(&self, reference: &str) {
        self.sign_with(&["--new-bundle-format=false"], reference);
    }

    /// `cosign sign --key` as cosign v3 signs by default: a sigstore bundle
    /// as an OCI 1.1 referrer (on a registry without the referrers API,
    /// cosign writes the referrers tag schema's `sha256-<hex>` index).
    pub fn sign_bundle(&self, reference: &str) {
        self.sign_with(&[], reference);
    }

    /// `cosign sign --key` offline (no transparency log, no signing
    /// config), with `flags`.
    fn sign_with(&self, flags: &[&str], reference: &str) {
        let mut args = vec![
            "sign",
            "--key",
            self.key(),
            "--tlog-upload=false",
            "--use-signing-config=false",
        ];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["-y", reference]);
        cosign_ok(&self.dir, &args);
    }

    /// `cosign verify --key` of `reference` with this pair's public key.
    pub fn verify(&self, reference: &str) -> Output {
        cosign(
            &self.dir,
            &[
                "verify",
                "--key",
                self.public(),
                "--insecure-ignore-tlog=true",
                reference,
            ],
        )
    }
}
