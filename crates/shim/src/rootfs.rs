//! Mounting a container's rootfs, and unmounting it without waiting for
//! the filesystem.
//!
//! Detaching a mount is quick; finishing it is not. When the last reference
//! to an overlay mount goes, the kernel tears its superblock down, and
//! overlayfs syncs the whole upper filesystem first: half a millisecond on
//! an idle disk, tens of milliseconds on a busy one, spent in the thread
//! that dropped the reference before that thread returns to user space. Nothing in Delete
//! needs to wait for it: containerd only needs the mount out of the mount
//! table before it removes the bundle.
//!
//! So a helper thread holds a reference (an `O_PATH` descriptor on the
//! root) while the caller detaches the mount, then drops it and pays for
//! the teardown alone. The thread first gives itself a private, empty
//! descriptor table: a shim that exits meanwhile must close its sockets at
//! once (containerd waits for that), not when the thread is done.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;

use tracing::{debug, warn};

use crate::ShimError;

/// Mounts `mounts` (containerd's Create gives them) on `rootfs`, creating
/// the folder; on failure, what was mounted is unmounted again.
pub(crate) async fn mount(
    mounts: &[containerd_shim::protos::types::mount::Mount],
    rootfs: &Path,
) -> Result<(), ShimError> {
    std::fs::create_dir_all(rootfs).map_err(|e| ShimError::io(rootfs, e))?;
    for m in mounts {
        if let Err(source) = containerd_shim::asynchronous::util::mount_rootfs(m, rootfs).await {
            unmount_or_warn(rootfs);
            return Err(ShimError::Mount {
                rootfs: rootfs.to_path_buf(),
                source,
            });
        }
    }
    Ok(())
}

/// [`unmount`], with a failure logged: there is nobody to tell.
pub(crate) fn unmount_or_warn(root: &Path) {
    if let Err(e) = unmount(root) {
        warn!(root = %root.display(), error = %e, "cannot unmount rootfs");
    }
}

/// Detaches the mounts at and under `root`, as
/// `umount_recursive(root, MNT_DETACH)` does, leaving the last part of
/// unmounting `root` itself to a background thread.
pub(crate) fn unmount(root: &Path) -> containerd_shim::Result<()> {
    let holder = hold(root);
    let result = containerd_shim::mount::umount_recursive(root.to_str(), libc::MNT_DETACH);
    // Dropping the sender lets the holder close its descriptor.
    drop(holder);
    result
}

/// Starts a thread that holds a reference to the mount at `root` until the
/// returned sender is dropped. `None` if that cannot be done; unmounting
/// then finishes in the caller, as it always did.
fn hold(root: &Path) -> Option<mpsc::Sender<()>> {
    let root = root.to_path_buf();
    let (held_tx, held_rx) = mpsc::channel::<bool>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("rootfs-unmount".into())
        .spawn(move || {
            // Only syscalls from here on: this thread's descriptor numbers
            // no longer mean what they mean to the rest of the process, so
            // it must not log.
            let Some(fd) = private_open(&root) else {
                let _ = held_tx.send(false);
                return;
            };
            let _ = held_tx.send(true);
            // Returns when the caller has detached the mount (or gave up).
            let _ = release_rx.recv();
            drop(fd);
        });
    if let Err(e) = spawned {
        debug!(error = %e, "no thread to finish the unmount; unmounting in place");
        return None;
    }
    match held_rx.recv() {
        Ok(true) => Some(release_tx),
        _ => None,
    }
}

/// Gives the calling thread an empty descriptor table of its own, then
/// opens `root` in it.
fn private_open(root: &Path) -> Option<OwnedFd> {
    // SAFETY: close_range(2) with CLOSE_RANGE_UNSHARE gives the calling
    // thread a private copy of the descriptor table and closes every
    // descriptor in that copy; no other thread's descriptors are touched.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            0 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )
    };
    if rc != 0 {
        return None;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(root)
        .ok()
        .map(OwnedFd::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_that_is_no_mount_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        unmount(dir.path()).expect("unmount of a plain folder");
        assert!(dir.path().is_dir());
        // The caller's descriptors are untouched by the holder's table.
        std::fs::write(dir.path().join("f"), b"x").expect("write after unmount");
    }
}
