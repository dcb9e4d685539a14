//! Atomic file writes and copies: a temp file in the target's folder,
//! then a rename, so a reader (containerd, k3s) sees the old bytes or the
//! new ones, never half.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::{NodeError, io};

/// The mode and owner a written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    /// Permission bits (`0o777` at most).
    pub mode: u32,
    /// `(uid, gid)`; `None` leaves the writer's own.
    pub owner: Option<(u32, u32)>,
}

impl Perm {
    /// What a file is written with when there is no file to take it from:
    /// config files can hold registry credentials, so owner-only.
    pub const PRIVATE: Perm = Perm {
        mode: 0o600,
        owner: None,
    };

    /// The mode and owner of `path` (the file a new one derives from, or
    /// the one being rewritten), or [`Perm::PRIVATE`] when there is none or
    /// its metadata cannot be read.
    pub fn of(path: &Path) -> Perm {
        match std::fs::metadata(path) {
            Ok(m) => Perm {
                mode: m.permissions().mode() & 0o777,
                owner: Some((m.uid(), m.gid())),
            },
            Err(_) => Perm::PRIVATE,
        }
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mode {:04o}", self.mode)?;
        if let Some((uid, gid)) = self.owner {
            write!(f, ", owner {uid}:{gid}")?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically with the given mode and owner.
///
/// The temp file is created owner-only (0600) and given `perm` before any
/// byte is written, so the content is never readable by more than the
/// final file allows.
pub fn write_atomic(path: &Path, bytes: &[u8], perm: Perm) -> Result<(), NodeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".wasmpod-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io("create a temp file in", dir))?;
    if let Some((uid, gid)) = perm.owner {
        std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid))
            .map_err(io("chown", tmp.path()))?;
    }
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(perm.mode & 0o777))
        .map_err(io("chmod", tmp.path()))?;
    tmp.write_all(bytes).map_err(io("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(io("sync", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| io("rename onto", path)(e.error))?;
    Ok(())
}

/// Copies `from` to `to` atomically, mode 0755.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<(), NodeError> {
    let bytes = std::fs::read(from).map_err(io("read", from))?;
    write_atomic(
        to,
        &bytes,
        Perm {
            mode: 0o755,
            owner: None,
        },
    )
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

/// Removes a folder if it exists and is empty; one that still holds
/// something is left (someone else put it there).
pub fn remove_empty_dir(path: &Path) -> Result<(), NodeError> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            Ok(())
        }
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
