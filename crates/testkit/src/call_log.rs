//! [`CallLog`]: a logging stand-in for an OCI runtime, registered with a
//! caller (Podman, dockerd, `ctr --runc-binary`) in place of the real one,
//! which it then runs: every call's arguments, caller, stdio and config.json
//! are recorded (by `tests/oci-callers/log-runtime.sh`), so a test can
//! assert how the caller drives a runtime. docs/oci-callers.md was written
//! from these records.

use std::path::{Path, PathBuf};

/// The wrapper script, copied into each log's folder.
const WRAPPER: &str = include_str!("../../../tests/oci-callers/log-runtime.sh");

/// A folder holding the wrapper (`runtime`), the real runtime's path
/// (`real-runtime`) and the records of the calls (`calls/`).
pub struct CallLog {
    dir: tempfile::TempDir,
}

/// One recorded call of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeCall {
    /// The arguments after argv[0].
    pub args: Vec<String>,
    /// The record's text: argv, caller, cwd, environment names, open fds,
    /// exit status (see tests/oci-callers/log-runtime.sh).
    pub record: String,
    /// The bundle's config.json, for `create` and `run`.
    pub config: Option<serde_json::Value>,
}

impl CallLog {
    /// A wrapper that runs `real` (such as /usr/sbin/runc).
    pub fn wrapping(real: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("calls")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let runtime = dir.path().join("runtime");
        std::fs::write(&runtime, WRAPPER).expect("write the wrapper");
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        std::fs::write(dir.path().join("real-runtime"), real.display().to_string())
            .expect("write real-runtime");
        Self { dir }
    }

    /// The wrapper to register with the caller as the runtime.
    pub fn runtime(&self) -> PathBuf {
        self.dir.path().join("runtime")
    }

    /// The calls so far, in the order they started.
    pub fn calls(&self) -> Vec<RuntimeCall> {
        let calls = self.dir.path().join("calls");
        let mut names: Vec<String> = std::fs::read_dir(&calls)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".argv"))
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        // NANOSECONDS.PID: the same number of digits for a long while, so
        // the text order is the time order.
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let base = calls.join(&name);
                let file = |ext: &str| {
                    let mut p = base.clone().into_os_string();
                    p.push(ext);
                    PathBuf::from(p)
                };
                let argv = std::fs::read(file(".argv")).unwrap_or_default();
                let args = argv
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                RuntimeCall {
                    args,
                    record: std::fs::read_to_string(file(".call")).unwrap_or_default(),
                    config: std::fs::read(file(".config.json"))
                        .ok()
                        .and_then(|c| serde_json::from_slice(&c).ok()),
                }
            })
            .collect()
    }

    /// This log's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl RuntimeCall {
    /// The subcommand (`create`, `start`, ...): the first argument that is
    /// neither a global flag nor the value of one.
    pub fn subcommand(&self) -> Option<&str> {
        let mut args = self.args.iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--root" | "--log" | "--log-format" | "--criu" => {
                    args.next();
                }
                flag if flag.starts_with('-') => {}
                sub => return Some(sub),
            }
        }
        None
    }

    /// The global flags: the arguments before the subcommand.
    pub fn global_flags(&self) -> &[String] {
        let sub = self.subcommand();
        let at = self
            .args
            .iter()
            .position(|a| Some(a.as_str()) == sub)
            .unwrap_or(self.args.len());
        &self.args[..at]
    }

    /// The arguments after the subcommand.
    pub fn subcommand_args(&self) -> &[String] {
        let at = self.global_flags().len();
        self.args.get(at + 1..).unwrap_or_default()
    }

    /// The program that called the runtime (`conmon`, `podman`,
    /// `containerd-shim`: the kernel's 15-character command name).
    pub fn caller(&self) -> &str {
        self.record
            .lines()
            .find_map(|l| l.strip_prefix("caller: "))
            .and_then(|l| l.split(" (pid").next())
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[&str]) -> RuntimeCall {
        RuntimeCall {
            args: args.iter().map(|a| a.to_string()).collect(),
            record: "sub: x\ncaller: conmon (pid 7): /usr/bin/conmon --api-version 1\n".into(),
            config: None,
        }
    }

    #[test]
    fn the_subcommand_follows_the_global_flags_and_their_values() {
        let c = call(&[
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "kill",
            "ID",
            "9",
        ]);
        assert_eq!(c.subcommand(), Some("kill"));
        assert_eq!(c.global_flags().len(), 7);
        assert_eq!(c.subcommand_args(), ["ID", "9"]);
        assert_eq!(c.caller(), "conmon");
        let c = call(&[
            "--log-format=json",
            "--log",
            "/l",
            "create",
            "--bundle",
            "/b",
            "ID",
        ]);
        assert_eq!(c.subcommand(), Some("create"));
        assert_eq!(c.subcommand_args(), ["--bundle", "/b", "ID"]);
        assert_eq!(call(&["--version"]).subcommand(), None);
    }
}
