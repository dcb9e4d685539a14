//! `features`: what this runtime implements, as the OCI runtime spec's
//! features document (CRI-O and containerd read `ociVersionMin` and
//! `ociVersionMax`).

use std::io::Write as _;

/// The document.
pub fn document() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        // All six run (hooks.rs); Docker's `--network none` needs prestart.
        "hooks": [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "mountOptions": ["bind", "rbind", "ro", "rw"],
        "linux": {
            "namespaces": ["network"],
            "capabilities": [],
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "io.github.wasmpod.oci.runtime": "wasmpod-oci",
            "io.github.wasmpod.oci.version": env!("CARGO_PKG_VERSION"),
            "io.github.wasmpod.oci.workloads": "wasip1 modules, wasi 0.2 and 0.3 components, wasi:http services"
        }
    })
}

pub fn features() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &document())?;
    writeln!(out)?;
    Ok(())
}
