//! Native containers, handed to a native runtime when one is configured,
//! so that wasmpod-oci can be a machine's one runtime (Podman's default,
//! Docker's, a CRI-O handler) as crun with its Wasm handler is: Wasm
//! containers run in wasmpod's engine, every other container in runc.
//!
//! Off unless `native-runtime` is set in the configuration file
//! (`$WASMPOD_OCI_CONFIG`, else `/etc/wasmpod/oci.toml`):
//!
//! ```toml
//! native-runtime = "/usr/sbin/runc"
//! ```
//!
//! `create` decides once: a container whose entrypoint (`process.args[0]`,
//! looked up on the process's `PATH` inside the rootfs when it has no
//! `/`) is an ELF program or a script goes to the native runtime, with `--root`
//! set to `ROOT/.native` (a name no container can have). Every later command on that ID goes there too:
//! the native runtime's folder for it says whose it is.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wasmpod_bundle::Spec;
use wasmpod_engine::HostDir;

use crate::args::{Global, LogFormat};

/// The env var naming the configuration file.
pub const CONFIG_ENV: &str = "WASMPOD_OCI_CONFIG";
/// The configuration file when the env var is not set.
pub const DEFAULT_CONFIG: &str = "/etc/wasmpod/oci.toml";
/// The largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 64 << 10;

/// The PATH a process without one gets (runc's and Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The native runtime, if the configuration names one.
pub fn configured() -> anyhow::Result<Option<PathBuf>> {
    let path = std::env::var_os(CONFIG_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CONFIG), PathBuf::from);
    let text = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    parse(&text).with_context(|| format!("{}", path.display()))
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The `native-runtime` of a configuration file's text; any other key is
/// an error, so that a misspelt one is not silently ignored.
fn parse(text: &str) -> anyhow::Result<Option<PathBuf>> {
    let doc: toml_edit::DocumentMut = text.parse().context("not valid TOML")?;
    let mut native = None;
    for (key, item) in doc.iter() {
        match key {
            "native-runtime" => {
                let value = item
                    .as_str()
                    .context("native-runtime: give the path of a runtime, as a string")?;
                if !Path::new(value).is_absolute() {
                    bail!("native-runtime {value:?}: give an absolute path");
                }
                native = Some(PathBuf::from(value));
            }
            other => bail!("unknown setting {other:?} (known: native-runtime)"),
        }
    }
    Ok(native)
}

/// Where the native runtime keeps its containers.
pub fn root(global: &Global) -> PathBuf {
    global.root.join(".native")
}

/// The native runtime that made container `id`, if one did: its folder
/// is in the native root, and `create` noted the runtime's path beside it
/// (callers run later commands with an environment of their own, where
/// `$WASMPOD_OCI_CONFIG` may be missing).
pub fn runtime_of(global: &Global, id: &str) -> anyhow::Result<Option<PathBuf>> {
    if crate::state::check_id(id).is_err() || !root(global).join(id).is_dir() {
        return Ok(None);
    }
    let note = root(global).join(format!("{id}.runtime"));
    match read_bounded(&note) {
        Ok(path) if Path::new(path.trim()).is_absolute() => Ok(Some(PathBuf::from(path.trim()))),
        _ => match configured()? {
            Some(native) => Ok(Some(native)),
            None => {
                bail!("container {id} was made by a native runtime, and none is configured now")
            }
        },
    }
}

/// Notes `native` as the runtime of container `id` and hands `create`
/// over to it.
pub fn create(global: &Global, native: &Path, id: &str, sub: &[String]) -> anyhow::Error {
    let root = root(global);
    let noted = std::fs::create_dir_all(&root)
        .and_then(|()| tempfile::NamedTempFile::new_in(&root))
        .and_then(|mut tmp| {
            use std::io::Write as _;
            tmp.write_all(native.as_os_str().as_encoded_bytes())?;
            tmp.persist(root.join(format!("{id}.runtime")))
                .map(drop)
                .map_err(|e| e.error)
        });
    if let Err(e) = noted {
        return anyhow::Error::new(e)
            .context(format!("note the native runtime in {}", root.display()));
    }
    hand_over(global, native, sub)
}

/// Whether the bundle's process is native: its entrypoint, found as the
/// native runtime would find it, is an ELF program or a script.
pub fn is_native(spec: &Spec, bundle: &Path) -> bool {
    let Some(process) = &spec.process else {
        return false;
    };
    let Some(first) = process.args.first() else {
        return false;
    };
    let Ok(root) = HostDir::open(spec.rootfs(bundle)) else {
        return false;
    };
    let candidates: Vec<String> = if first.contains('/') {
        let cwd = if process.cwd.is_empty() {
            "/"
        } else {
            &process.cwd
        };
        vec![if first.starts_with('/') {
            first.clone()
        } else {
            format!("{cwd}/{first}")
        }]
    } else {
        let path = process
            .env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{d}/{first}"))
            .collect()
    };
    for candidate in candidates {
        if let Ok(file) = root.open_file_in_root(&candidate) {
            let mut head = [0u8; 4];
            let n = std::io::Read::read(&mut &file, &mut head).unwrap_or(0);
            // What the kernel would execute: an ELF program or a script.
            // Anything else (Wasm binary or text, or garbage) is the
            // engine's to load or refuse.
            return head[..n].starts_with(b"\x7fELF") || head[..n].starts_with(b"#!");
        }
    }
    // Not found: Wasm's own error says so better than runc's.
    false
}

/// Replaces this process with the native runtime, running `sub` (the
/// subcommand and its own arguments, as given) with the global flags
/// that apply. Returns only if that cannot start.
pub fn hand_over(global: &Global, native: &Path, sub: &[String]) -> anyhow::Error {
    let mut command = std::process::Command::new(native);
    command.arg("--root").arg(root(global));
    if let Some(log) = &global.log {
        command.arg("--log").arg(log);
    }
    if global.log_format == LogFormat::Json {
        command.arg("--log-format").arg("json");
    }
    if global.systemd_cgroup {
        command.arg("--systemd-cgroup");
    }
    if global.debug {
        command.arg("--debug");
    }
    command.args(sub);
    let err = command.exec();
    anyhow::Error::new(err).context(format!("run the native runtime {}", native.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_a_runtime_or_nothing() {
        assert_eq!(parse("").expect("empty"), None);
        assert_eq!(
            parse("native-runtime = \"/usr/sbin/runc\"\n").expect("runc"),
            Some(PathBuf::from("/usr/sbin/runc"))
        );
        for (bad, message) in [
            ("native-runtime = 3", "as a string"),
            ("native-runtime = \"runc\"", "absolute path"),
            (
                "native_runtime = \"/usr/sbin/runc\"",
                "unknown setting \"native_runtime\"",
            ),
            ("native-runtime = ", "not valid TOML"),
        ] {
            let err = format!("{:#}", parse(bad).expect_err(bad));
            assert!(err.contains(message), "{bad}: {err}");
        }
    }

    #[test]
    fn the_entrypoint_is_found_on_path_inside_the_rootfs() {
        let bundle = tempfile::tempdir().expect("tmp");
        let rootfs = bundle.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
        std::fs::create_dir_all(rootfs.join("opt")).expect("mkdir");
        std::fs::write(rootfs.join("bin/sh"), b"\x7fELF....").expect("sh");
        std::fs::write(rootfs.join("opt/app.wasm"), b"\0asm\x01\0\0\0").expect("wasm");
        std::fs::write(rootfs.join("bin/tool"), b"\0asm\x01\0\0\0").expect("tool");
        std::fs::write(rootfs.join("bin/script"), b"#!/bin/sh\n").expect("script");
        std::fs::write(rootfs.join("bin/text.wat"), b"(module)").expect("wat");
        let spec = |args: &[&str], env: &[&str]| -> Spec {
            serde_json::from_value(serde_json::json!({
                "process": {"args": args, "env": env, "cwd": "/opt"},
                "root": {"path": "rootfs"},
            }))
            .expect("spec")
        };
        let native = |args: &[&str], env: &[&str]| is_native(&spec(args, env), bundle.path());
        assert!(native(&["sh", "-c", "true"], &[]));
        assert!(native(&["/bin/sh"], &[]));
        assert!(!native(&["/opt/app.wasm"], &[]));
        assert!(!native(&["./app.wasm"], &[]));
        assert!(!native(&["tool"], &[]));
        assert!(native(&["script"], &[]));
        assert!(!native(&["/bin/text.wat"], &[]));
        // Looked up on the process's PATH only.
        assert!(!native(&["sh"], &["PATH=/opt"]));
        assert!(!native(&["missing"], &[]));
    }
}
