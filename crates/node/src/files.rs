//! What the installer's file changes share: the mode and owner a written
//! file gets, reading the installer's own files, and the diff
//! `--dry-run` shows. The host's files are read and written beneath the
//! host root's handle (`host_root.rs`).

use std::fmt;
use std::path::Path;

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

    /// The installed binaries: anyone may run them.
    pub const EXECUTABLE: Perm = Perm {
        mode: 0o755,
        owner: None,
    };
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

/// Reads one of the installer's own files (not the host's) that may be
/// missing.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, NodeError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
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
