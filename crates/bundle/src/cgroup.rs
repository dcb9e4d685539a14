//! Cgroups a bundle names in `linux.cgroupsPath`.
//!
//! The shim runs every container of a pod in one process, so that process
//! joins the pod's cgroup (the parent of the containers' paths), where the
//! kubelet sets the pod's limits. `wasmpod-oci` runs each container in a
//! process of its own, which joins the container's own cgroup and sets the
//! spec's limits on it, as runc does.

use std::path::{Path, PathBuf};

use tracing::{debug, warn};

/// The pod cgroup, relative to a hierarchy root, for a container's
/// `cgroupsPath`: cgroupfs style (`/kubepods/burstable/pod123/c1`) or
/// systemd style (`kubepods-burstable-pod123.slice:cri-containerd:c1`).
pub fn pod_cgroup(cgroups_path: &str) -> Option<PathBuf> {
    if cgroups_path.is_empty() {
        return None;
    }
    if !cgroups_path.starts_with('/') && cgroups_path.split(':').count() == 3 {
        // systemd: the slice is the pod; "a-b-c.slice" lives at
        // a.slice/a-b.slice/a-b-c.slice.
        let slice = cgroups_path.split(':').next()?;
        if slice.contains('/') {
            return None;
        }
        let name = slice.strip_suffix(".slice")?;
        if name.is_empty() || name == "-" {
            return None;
        }
        let parts: Vec<&str> = name.split('-').collect();
        let mut path = PathBuf::new();
        for i in 1..=parts.len() {
            path.push(format!("{}.slice", parts[..i].join("-")));
        }
        return plain(path);
    }
    let parent = Path::new(cgroups_path.trim_start_matches('/')).parent()?;
    (!parent.as_os_str().is_empty())
        .then(|| parent.to_path_buf())
        .and_then(plain)
}

/// `path` if it is plain names only: no `..` (or `/` inside a systemd
/// slice's pieces) takes a cgroup out of the hierarchy it is joined to.
fn plain(path: PathBuf) -> Option<PathBuf> {
    path.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
        .then_some(path)
}

/// The container's own cgroup, relative to a hierarchy root, for its
/// `cgroupsPath`: cgroupfs style (`/machine/libpod-c1`, relative paths are
/// taken from the root) or systemd style (`machine.slice:libpod:c1`, which
/// is `machine.slice/libpod-c1.scope`; the cgroup is made directly, with
/// no systemd unit).
pub fn container_cgroup(cgroups_path: &str) -> Option<PathBuf> {
    if cgroups_path.is_empty() {
        return None;
    }
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    if !cgroups_path.starts_with('/') && parts.len() == 3 {
        let (slice, prefix, name) = (parts[0], parts[1], parts[2]);
        if slice.contains('/') || prefix.contains('/') {
            return None;
        }
        let mut path = PathBuf::new();
        if let Some(stem) = slice
            .strip_suffix(".slice")
            .filter(|s| !s.is_empty() && *s != "-")
        {
            let pieces: Vec<&str> = stem.split('-').collect();
            for i in 1..=pieces.len() {
                path.push(format!("{}.slice", pieces[..i].join("-")));
            }
        } else if !slice.is_empty() {
            return None;
        }
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        if name.is_empty() || unit.contains('/') {
            return None;
        }
        path.push(unit);
        return plain(path);
    }
    let relative = PathBuf::from(cgroups_path.trim_start_matches('/'));
    // `..` would leave the hierarchy.
    if relative
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    (!relative.as_os_str().is_empty()).then_some(relative)
}

/// Sets a memory limit (bytes) and a CPU quota (microseconds per period)
/// on each of `dirs` that has the controller's files: v1's
/// `memory.limit_in_bytes` and `cpu.cfs_quota_us`, v2's `memory.max` and
/// `cpu.max`. Returns the first failure.
pub fn set_limits(
    dirs: &[PathBuf],
    memory: Option<u64>,
    cpu: Option<(u64, u64)>,
) -> std::io::Result<()> {
    let write = |path: PathBuf, value: String| -> std::io::Result<()> {
        if path.exists() {
            std::fs::write(&path, value).map_err(|e| {
                std::io::Error::new(e.kind(), format!("write {}: {e}", path.display()))
            })?;
        }
        Ok(())
    };
    for dir in dirs {
        if let Some(bytes) = memory {
            write(dir.join("memory.limit_in_bytes"), bytes.to_string())?;
            write(dir.join("memory.max"), bytes.to_string())?;
        }
        if let Some((quota, period)) = cpu {
            write(dir.join("cpu.cfs_period_us"), period.to_string())?;
            write(dir.join("cpu.cfs_quota_us"), quota.to_string())?;
            write(dir.join("cpu.max"), format!("{quota} {period}"))?;
        }
    }
    Ok(())
}

/// The pids in `dirs` (each process once).
pub fn procs(dirs: &[PathBuf]) -> Vec<u32> {
    let mut pids: Vec<u32> = dirs
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Removes `dirs` (empty cgroups); one already gone is fine.
pub fn remove(dirs: &[PathBuf]) {
    for dir in dirs {
        match std::fs::remove_dir(dir) {
            Ok(()) => debug!(cgroup = %dir.display(), "removed cgroup"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(cgroup = %dir.display(), error = %e, "cannot remove cgroup"),
        }
    }
}

/// The folders of cgroup `pod` under the hierarchies [`join`] uses, whether
/// they exist or not.
pub fn folders(root: &Path, pod: &Path) -> Vec<PathBuf> {
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(pod)];
    }
    match std::fs::read_dir(root) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.split(',')
                    .all(|c| matches!(c, "memory" | "cpu" | "cpuacct" | "pids" | "blkio"))
            })
            .map(|e| e.path().join(pod))
            .collect(),
        Err(e) => {
            warn!(root = %root.display(), error = %e, "cannot list cgroup hierarchies");
            Vec::new()
        }
    }
}

/// Moves this process into `pod` under every hierarchy mounted at `root`
/// (`/sys/fs/cgroup`): the unified one on cgroup v2, and on v1 each
/// resource controller that limits or accounts usage (memory, cpu, cpuacct,
/// pids, blkio). Not cpuset (a new cpuset cgroup has no CPUs until someone
/// assigns them), and not devices, freezer or named hierarchies. Missing cgroups are created. Returns the hierarchies
/// joined; failures are logged, not fatal, because running without the pod
/// cgroup only loses the pod-level limits.
pub fn join(root: &Path, pod: &Path) -> Vec<PathBuf> {
    let pid = std::process::id().to_string();
    let mut joined = Vec::new();
    for dir in folders(root, pod) {
        let result = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("cgroup.procs"), &pid));
        match result {
            Ok(()) => {
                debug!(cgroup = %dir.display(), "joined pod cgroup");
                joined.push(dir);
            }
            Err(e) => warn!(cgroup = %dir.display(), error = %e, "cannot join pod cgroup"),
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_cgroup_is_the_parent_in_both_formats() {
        assert_eq!(
            pod_cgroup("/kubepods/burstable/pod123/c1"),
            Some(PathBuf::from("kubepods/burstable/pod123"))
        );
        assert_eq!(pod_cgroup("/wasmpod/c1"), Some(PathBuf::from("wasmpod")));
        assert_eq!(
            pod_cgroup("kubepods-burstable-pod123.slice:cri-containerd:c1"),
            Some(PathBuf::from(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice"
            ))
        );
        assert_eq!(pod_cgroup(""), None);
        assert_eq!(pod_cgroup("/c1"), None);
        assert_eq!(pod_cgroup("-.slice:x:y"), None);
    }

    #[test]
    fn container_cgroup_in_both_formats() {
        let c = |p: &str| container_cgroup(p).map(|p| p.display().to_string());
        assert_eq!(
            c("/machine/libpod-c1").as_deref(),
            Some("machine/libpod-c1")
        );
        assert_eq!(c("docker/c1").as_deref(), Some("docker/c1"));
        assert_eq!(
            c("machine.slice:libpod:c1").as_deref(),
            Some("machine.slice/libpod-c1.scope")
        );
        assert_eq!(
            c("system-a.slice:docker:c2").as_deref(),
            Some("system.slice/system-a.slice/docker-c2.scope")
        );
        assert_eq!(c(":runc:c3").as_deref(), Some("runc-c3.scope"));
        for bad in [
            "",
            "/",
            "/a/../../etc",
            "../x",
            "x.slice:p:",
            "x.slice:p:a/b",
            "bad:p:c",
            "../../../../tmp/x-y.slice:p:c",
            "a/..-b.slice:p:c",
        ] {
            assert_eq!(c(bad), None, "{bad}");
        }
        for bad in ["/../../a/c1", "../../tmp/x-y.slice:p:c"] {
            assert_eq!(pod_cgroup(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits_go_to_the_files_each_hierarchy_has() {
        let root = tempfile::tempdir().expect("tmp");
        let (memory, cpu, v2) = (
            root.path().join("memory"),
            root.path().join("cpu"),
            root.path().join("v2"),
        );
        for d in [&memory, &cpu, &v2] {
            std::fs::create_dir(d).expect("mkdir");
        }
        std::fs::write(memory.join("memory.limit_in_bytes"), "").expect("w");
        std::fs::write(cpu.join("cpu.cfs_quota_us"), "").expect("w");
        std::fs::write(cpu.join("cpu.cfs_period_us"), "").expect("w");
        std::fs::write(v2.join("memory.max"), "").expect("w");
        std::fs::write(v2.join("cpu.max"), "").expect("w");
        std::fs::write(v2.join("cgroup.procs"), "12\n7\n").expect("w");
        std::fs::write(cpu.join("cgroup.procs"), "7\n").expect("w");
        let dirs = vec![memory.clone(), cpu.clone(), v2.clone()];
        set_limits(&dirs, Some(64 << 20), Some((50_000, 100_000))).expect("limits");
        let read = |p: PathBuf| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(memory.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(v2.join("memory.max")), "67108864");
        assert_eq!(read(v2.join("cpu.max")), "50000 100000");
        assert!(!memory.join("cpu.max").exists());
        assert_eq!(procs(&dirs), vec![7, 12]);
    }

    #[test]
    fn join_writes_the_pid_into_each_v1_hierarchy_but_cpuset() {
        let root = tempfile::tempdir().expect("tmp");
        for c in [
            "memory",
            "cpu,cpuacct",
            "cpuset",
            "pids",
            "devices",
            "systemd",
        ] {
            std::fs::create_dir(root.path().join(c)).expect("mkdir");
        }
        let joined = join(root.path(), Path::new("pods/p1"));
        assert_eq!(joined.len(), 3);
        let pid = std::process::id().to_string();
        for c in ["memory", "cpu,cpuacct", "pids"] {
            let procs = root.path().join(c).join("pods/p1/cgroup.procs");
            assert_eq!(std::fs::read_to_string(procs).expect(c), pid);
        }
        for skipped in ["cpuset", "devices", "systemd"] {
            assert!(
                !root.path().join(skipped).join("pods").exists(),
                "{skipped}"
            );
        }

        let v2 = tempfile::tempdir().expect("tmp");
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory").expect("write");
        assert_eq!(
            join(v2.path(), Path::new("pod2")),
            vec![v2.path().join("pod2")]
        );
        assert_eq!(
            std::fs::read_to_string(v2.path().join("pod2/cgroup.procs")).expect("procs"),
            pid
        );
    }

    /// The real kernel's cgroup v2: a cgroup2 hierarchy mounted here (the
    /// machine's controllers may all be bound to v1, which does not matter
    /// for membership). Needs root: the `daemon` test tier.
    #[cfg(feature = "daemon")]
    #[test]
    fn join_moves_the_process_into_a_real_cgroup2_hierarchy() {
        let dir = tempfile::tempdir().expect("tmp");
        let mount = wasmpod_testkit::Mount::new("cgroup2", "none", dir.path());
        let root = mount.path().to_path_buf();
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("cgroup");
        let before = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("a cgroup2 line")
            .to_string();
        let pod = PathBuf::from(format!("wasmpod-test-{}/pod1", std::process::id()));

        let joined = join(&root, &pod);

        let now = std::fs::read_to_string("/proc/self/cgroup").expect("cgroup");
        // Back where we were, then remove the test's cgroups.
        let back = root
            .join(before.trim_start_matches('/'))
            .join("cgroup.procs");
        std::fs::write(&back, std::process::id().to_string()).expect("move back");
        let _ = std::fs::remove_dir(root.join(&pod));
        let _ = std::fs::remove_dir(root.join(pod.parent().expect("parent")));

        assert_eq!(joined, vec![root.join(&pod)]);
        let expected = format!("0::/{}", pod.display());
        assert!(now.lines().any(|l| l == expected), "{expected} in {now}");
    }
}
