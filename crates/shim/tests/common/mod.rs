//! Helpers shared by the containerd (ctr) and CRI tests.

/// A folder holding only a link to the built shim, to go first on
/// containerd's PATH.
pub fn shim_bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_containerd-shim-wasmpod-v1"),
        dir.path().join("containerd-shim-wasmpod-v1"),
    )
    .expect("symlink shim");
    dir
}
