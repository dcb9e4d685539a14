//! [`Mount`]: a filesystem a test mounted as root, unmounted when dropped;
//! [`unmount_all_under`]: what a daemon left mounted in a fixture's folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A filesystem a test mounted (as root), unmounted lazily when dropped,
/// also after a failed assertion. Drop it before the folder it is on.
pub struct Mount(PathBuf);

impl Mount {
    /// `mount -t FSTYPE SOURCE TARGET`, which must succeed.
    pub fn new(fstype: &str, source: &str, target: &Path) -> Self {
        let st = Command::new("mount")
            .args(["-t", fstype, source])
            .arg(target)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mount -t {fstype} {source} {} (needs root)",
            target.display()
        );
        Self(target.to_path_buf())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// Unmounts (lazily, deepest first) every mount point at or under `dir`:
/// what a daemon (containerd, dockerd, Podman) or the containers it ran
/// left mounted in a fixture's folder, before the folder is removed. Errors
/// are ignored, as in a cleanup.
pub fn unmount_all_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    let prefix = dir.display().to_string();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|t| *t == prefix || t.starts_with(&format!("{prefix}/")))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    targets.dedup();
    for t in targets {
        let _ = Command::new("umount")
            .args(["-l", t])
            .stderr(Stdio::null())
            .status();
    }
}
