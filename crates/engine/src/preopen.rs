//! Volumes: host directories a guest may open, and its working directory
//! among them.
//!
//! Each [`Preopen`] holds its directory open from the moment the caller
//! grants it (see [`HostDir`]); instances get descriptors for that open
//! directory, so restarts and per-request instances never look its path up
//! again.

use std::path::{Component, Path};

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::{EngineError, HostDir};

/// A host directory made visible to the guest.
#[derive(Debug, Clone)]
pub struct Preopen {
    /// The open directory on the host.
    pub dir: HostDir,
    /// Where the guest sees it (for example `/data`).
    pub guest: String,
    /// Deny every write, create, rename and delete under it.
    pub read_only: bool,
}

impl Preopen {
    /// Opens the host directory `host` (a path from a trusted caller) and
    /// grants it at `guest`.
    pub fn open(
        host: impl AsRef<Path>,
        guest: impl Into<String>,
        read_only: bool,
    ) -> Result<Self, EngineError> {
        let host = host.as_ref();
        let dir = HostDir::open(host).map_err(|source| EngineError::Volume {
            host: host.to_path_buf(),
            source: if source.raw_os_error() == Some(libc::ENOTDIR) {
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory")
            } else {
                source
            },
        })?;
        Ok(Self {
            dir,
            guest: guest.into(),
            read_only,
        })
    }

    /// The host path the directory was opened by (for messages).
    pub fn host(&self) -> &Path {
        self.dir.path()
    }

    fn perms(&self) -> FsPerms {
        if self.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        }
    }
}

/// The working directory, open, with the permissions of the preopen that
/// holds it.
#[derive(Debug, Clone)]
pub(crate) struct WorkDir {
    dir: HostDir,
    perms: FsPerms,
}

/// Refuses a read-only volume whose host directory is, or lies inside, the
/// host directory of a read-write one: the guest could write to it through
/// the read-write one, so `:ro` would not hold.
pub(crate) fn check_modes(preopens: &[Preopen]) -> Result<(), EngineError> {
    for ro in preopens.iter().filter(|p| p.read_only) {
        for rw in preopens.iter().filter(|p| !p.read_only) {
            let inside = ro
                .dir
                .is_within(&rw.dir)
                .map_err(|source| EngineError::Volume {
                    host: ro.host().to_path_buf(),
                    source,
                })?;
            if inside {
                return Err(EngineError::VolumeOverlap {
                    read_only: ro.host().to_path_buf(),
                    read_write: rw.host().to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// The working directory `cwd`, opened beneath the preopen with the longest
/// guest path that holds it. `None` when no preopen holds it, or when it is
/// not a directory that stays inside that preopen (`..`, or a symlink that
/// points out of it).
pub(crate) fn work_dir(preopens: &[Preopen], cwd: Option<&str>) -> Option<WorkDir> {
    let cwd = cwd?;
    let (p, rest) = preopens
        .iter()
        .filter_map(|p| Some((p, Path::new(cwd).strip_prefix(&p.guest).ok()?)))
        .max_by_key(|(p, _)| p.guest.len())?;
    if rest
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let dir = p.dir.open_dir(rest).ok()?;
    Some(WorkDir {
        dir,
        perms: p.perms(),
    })
}

/// Grants `preopens` and the working directory to one instance, each as a
/// new descriptor for the directory already open.
pub(crate) fn grant(
    b: &mut WasiCtxBuilder,
    preopens: &[Preopen],
    work_dir: Option<&WorkDir>,
) -> Result<(), EngineError> {
    for p in preopens {
        b.preopened_dir(p.dir.proc_path(), &p.guest, p.perms())
            .map_err(|e| EngineError::Volume {
                host: p.host().to_path_buf(),
                source: std::io::Error::other(e),
            })?;
    }
    // WASI preview 1 has no working directory: wasi-libc resolves a
    // relative path against a preopen named ".". Give the working
    // directory that name too, when it is inside a preopen.
    if let Some(w) = work_dir {
        b.preopened_dir(w.dir.proc_path(), ".", w.perms)
            .map_err(|e| EngineError::Volume {
                host: w.dir.path().to_path_buf(),
                source: std::io::Error::other(e),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_volume_inside_a_read_write_one_is_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("a/b")).expect("mkdir");
        let rw = Preopen::open(t.path().join("a"), "/a", false).expect("a");
        let ro = Preopen::open(t.path().join("a/b"), "/b", true).expect("b");
        let err = check_modes(&[rw.clone(), ro.clone()]).expect_err("overlap");
        assert!(
            err.to_string().contains("inside the read-write volume"),
            "{err}"
        );
        // The same directory twice, once each way, is refused too.
        let same = Preopen::open(t.path().join("a"), "/c", true).expect("a ro");
        assert!(check_modes(&[rw.clone(), same]).is_err());
        // A read-write volume inside a read-only one is a grant of its own.
        let ro_parent = Preopen::open(t.path().join("a"), "/a", true).expect("a ro");
        let rw_child = Preopen::open(t.path().join("a/b"), "/b", false).expect("b rw");
        check_modes(&[ro_parent, rw_child]).expect("rw inside ro");
        // Siblings are independent.
        std::fs::create_dir_all(t.path().join("c")).expect("mkdir");
        let other = Preopen::open(t.path().join("c"), "/c", true).expect("c");
        check_modes(&[rw, other]).expect("siblings");
    }

    #[test]
    fn the_working_directory_is_found_beneath_its_volume() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("v/w")).expect("mkdir");
        std::os::unix::fs::symlink("/", t.path().join("v/root")).expect("link");
        let p = vec![Preopen::open(t.path().join("v"), "/data", false).expect("v")];
        let w = work_dir(&p, Some("/data/w")).expect("cwd");
        assert_eq!(w.dir.path(), t.path().join("v/w"));
        assert!(work_dir(&p, Some("/data/root")).is_none(), "a symlink out");
        assert!(work_dir(&p, Some("/data/../etc")).is_none());
        assert!(work_dir(&p, Some("/elsewhere")).is_none());
    }
}
