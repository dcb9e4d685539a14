//! Atomic file writes and copies: a temp file in the target's folder,
//! then a rename, so a reader (containerd, k3s) sees the old bytes or the
//! new ones, never half.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::{NodeError, io};

/// Writes `bytes` to `path` atomically with the given mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NodeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".wasmpod-")
        .tempfile_in(dir)
        .map_err(io("create a temp file in", dir))?;
    tmp.write_all(bytes).map_err(io("write", tmp.path()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io("chmod", tmp.path()))?;
    tmp.as_file().sync_all().map_err(io("sync", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| io("rename onto", path)(e.error))?;
    Ok(())
}

/// The mode of an existing file (to keep it on rewrite), or `default`.
pub fn mode_or(path: &Path, default: u32) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(default)
}

/// Copies `from` to `to` atomically, mode 0755.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<(), NodeError> {
    let bytes = std::fs::read(from).map_err(io("read", from))?;
    write_atomic(to, &bytes, 0o755)
}

/// The hex sha256 of a file.
pub fn sha256(path: &Path) -> Result<String, NodeError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Reads a file that may be missing.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, NodeError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Removes a file that may be missing; says whether it was there.
pub fn remove_optional(path: &Path) -> Result<bool, NodeError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("remove", path)(e)),
    }
}

/// A minimal diff for `--dry-run`: the common head and tail are skipped,
/// the rest is shown as removed and added lines.
pub fn diff(path: &Path, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = format!(
        "--- {0}\n+++ {0}\n@@ line {1} @@\n",
        path.display(),
        head + 1
    );
    for line in &a[head..a.len() - tail] {
        out.push_str(&format!("-{line}\n"));
    }
    for line in &b[head..b.len() - tail] {
        out.push_str(&format!("+{line}\n"));
    }
    out
}
