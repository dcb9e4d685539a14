//! [`Mount`]: a filesystem a test mounted as root, unmounted when dropped.

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
