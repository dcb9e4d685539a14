//! The container's cgroup: made and joined by its process, with the
//! spec's memory and CPU limits on it (as runc sets them), beside the
//! engine's own limits on the guest's store.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wasmpod_bundle::{Spec, cgroup};

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// Moves this process into the cgroup the spec names and sets its limits.
/// Returns the cgroup's folders, one per hierarchy; none when the spec
/// names no cgroup.
pub fn enter(spec: &Spec) -> anyhow::Result<Vec<PathBuf>> {
    let path = spec
        .linux
        .as_ref()
        .map(|l| l.cgroups_path.as_str())
        .unwrap_or_default();
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(relative) = cgroup::container_cgroup(path) else {
        bail!("invalid runtime spec: linux.cgroupsPath {path:?}");
    };
    let dirs = cgroup::join(Path::new(ROOT), &relative);
    if dirs.is_empty() {
        bail!("cannot join the cgroup {path} under {ROOT}");
    }
    let cpu = spec
        .linux
        .as_ref()
        .and_then(|l| l.resources.as_ref())
        .and_then(|r| r.cpu.as_ref())
        .and_then(|c| {
            let quota = u64::try_from(c.quota?).ok().filter(|q| *q > 0)?;
            Some((quota, c.period.filter(|p| *p > 0).unwrap_or(100_000)))
        });
    cgroup::set_limits(&dirs, spec.memory_limit(), cpu)
        .context("set the container's cgroup limits")?;
    Ok(dirs)
}

/// The cgroup folders [`enter`] makes for `spec`, whether they exist or
/// not: what a failed `create` removes.
pub fn folders(spec: &Spec) -> Vec<PathBuf> {
    spec.linux
        .as_ref()
        .and_then(|l| cgroup::container_cgroup(&l.cgroups_path))
        .map(|relative| cgroup::folders(Path::new(ROOT), &relative))
        .unwrap_or_default()
}

/// Moves this process into the container's recorded cgroups (an exec).
pub fn join(dirs: &[PathBuf]) -> anyhow::Result<()> {
    let pid = std::process::id().to_string();
    for dir in dirs {
        std::fs::write(dir.join("cgroup.procs"), &pid)
            .with_context(|| format!("join the cgroup {}", dir.display()))?;
    }
    Ok(())
}
