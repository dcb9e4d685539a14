//! [`Registry`]: Debian's `docker-registry` (the CNCF distribution
//! registry) on a loopback port, with no auth, htpasswd basic auth, or token
//! auth from a [`TokenIssuer`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::http::{free_port, http_status};
use crate::token::TokenIssuer;
use crate::tools::require;
use crate::wait::Deadline;

/// How a [`Registry`] authenticates.
pub enum Auth<'a> {
    None,
    Htpasswd { user: &'a str, password: &'a str },
    Token(&'a TokenIssuer),
}

/// A running `docker-registry`.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl Registry {
    /// Starts a registry with no authentication.
    pub fn start() -> Self {
        Self::start_with(Auth::None)
    }

    pub fn start_with(auth: Auth<'_>) -> Self {
        let bin = require("docker-registry", "docker-registry");
        let mut dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let htpasswd = require("htpasswd", "apache2-utils");
                let out = Command::new(htpasswd)
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("run htpasswd");
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: wasmpod-test\n    path: {}\n",
                    file.display()
                )
            }
            Auth::Token(issuer) => format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                issuer.addr,
                TokenIssuer::SERVICE,
                TokenIssuer::ISSUER,
                issuer.cert.display()
            ),
        };
        // A free port is only free until someone binds it: if another test's
        // registry takes it first, ours exits, so start again elsewhere.
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: wasmpod-test-secret\n{auth_yaml}",
                storage.display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut registry = Self { child, dir, addr };
            if registry.wait_ready() {
                return registry;
            }
            dir = registry.take_dir();
        }
        panic!("docker-registry could not bind a loopback port in 5 attempts");
    }

    /// Waits until our own registry answers. `false` if it exited (its port
    /// was taken); panics if it neither answers nor exits.
    fn wait_ready(&mut self) -> bool {
        let deadline = Deadline::after(Duration::from_secs(15));
        while !deadline.passed() {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Some(200 | 401) = http_status(&self.addr, "/v2/") {
                // Something answers; make sure it is ours, still running.
                std::thread::sleep(Duration::from_millis(100));
                return self.child.try_wait().is_ok_and(|s| s.is_none());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer on {}: {}",
            self.addr,
            self.log()
        );
    }

    /// Hands the temp dir to the next attempt (this one's child is dead).
    fn take_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The registry's storage root (for corrupting blobs on purpose).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file of a blob in the registry's storage.
    pub fn blob_data(&self, digest_hex: &str) -> PathBuf {
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&digest_hex[..2])
            .join(digest_hex)
            .join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
