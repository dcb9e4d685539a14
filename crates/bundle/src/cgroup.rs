//! Joining the pod's cgroup.
//!
//! Every container of a pod runs in this one shim process, so the process
//! belongs in the pod's cgroup: the parent of the containers'
//! `linux.cgroupsPath`. The kubelet sets the pod's memory and CPU limits
//! there, so they then hold for all of the pod's instances together.

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
        let name = slice.strip_suffix(".slice")?;
        if name.is_empty() || name == "-" {
            return None;
        }
        let parts: Vec<&str> = name.split('-').collect();
        let mut path = PathBuf::new();
        for i in 1..=parts.len() {
            path.push(format!("{}.slice", parts[..i].join("-")));
        }
        return Some(path);
    }
    let parent = Path::new(cgroups_path.trim_start_matches('/')).parent()?;
    (!parent.as_os_str().is_empty()).then(|| parent.to_path_buf())
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
    let targets: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.join(pod)]
    } else {
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
                return Vec::new();
            }
        }
    };
    let mut joined = Vec::new();
    for dir in targets {
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
