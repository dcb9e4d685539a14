//! The host's files, reached beneath one open handle on the host's root.
//!
//! Why: the installer DaemonSet sees the host at a hostPath mount
//! (`--host-root /host`). A host path that is, or passes through, an
//! absolute symlink (`/etc/containerd -> /opt/containerd/etc`, or NixOS's
//! `/etc` links) means the host's `/opt/...`, not the installer
//! container's. Opening `/host/etc/containerd/config.toml` by name would
//! follow that link in the container's own filesystem, and read or write
//! the wrong file while reporting success. Here every host file is
//! resolved with `openat2(RESOLVE_IN_ROOT)` beneath a handle opened once
//! on `--host-root`: absolute symlinks and `..` stay inside the host's
//! root, as the host would read them, and a write never lands outside it.
//!
//! Paths in and out are as seen from here (`/host/etc/x`), as the plan
//! prints them. One that starts with the host root is the host's, and
//! what follows the root is resolved beneath it, `..` included (so
//! `/host/etc/../../x` is the host's `/x`). A path that does not start
//! with it (a `--containerd-config` or `--bin-dir` given elsewhere) is
//! the installer's own, and is resolved beneath `/` alike.
//!
//! Writes are atomic: a temp file created beside the target (through the
//! same handle on its folder), its mode and owner set before any byte is
//! written, synced, then renamed over the target.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use sha2::{Digest as _, Sha256};

use crate::files::Perm;
use crate::{NodeError, io, proc};

/// The host's root, open.
#[derive(Debug)]
pub struct HostRoot {
    /// As given (`/`, or where the host's root is mounted).
    root: PathBuf,
    /// `root`, absolute and normalized: the prefix of the host's paths.
    normal: PathBuf,
    dir: OwnedFd,
    /// `/`, for paths outside `root`.
    own: OwnedFd,
}

/// Where a path resolves: beneath which handle, by which relative path.
struct Resolved<'a> {
    dir: BorrowedFd<'a>,
    rel: PathBuf,
}

fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

impl HostRoot {
    /// Opens `root`, which must be a folder.
    pub fn open(root: &Path) -> Result<Self, NodeError> {
        let dir = open_dir(root).map_err(io("open the host root", root))?;
        let own = open_dir(Path::new("/")).map_err(io("open", "/"))?;
        let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(Self {
            root: root.to_path_buf(),
            normal: proc::normalize(&absolute),
            dir,
            own,
        })
    }

    /// The host root as given.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &Path) -> Resolved<'_> {
        // Not normalized: a `..` after the root's prefix is the kernel's
        // to resolve, beneath the root, where it stops at the root.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let (dir, rest) = match absolute.strip_prefix(&self.normal) {
            Ok(rest) => (self.dir.as_fd(), rest.to_path_buf()),
            Err(_) => (
                self.own.as_fd(),
                absolute
                    .strip_prefix("/")
                    .unwrap_or(&absolute)
                    .to_path_buf(),
            ),
        };
        let rel = if rest.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rest
        };
        Resolved { dir, rel }
    }

    fn open_at(&self, path: &Path, flags: OFlags, mode: Mode) -> rustix::io::Result<OwnedFd> {
        let r = self.resolve(path);
        // openat2 refuses O_PATH with flags open(2) would ignore.
        let extra = if flags.contains(OFlags::PATH) {
            OFlags::CLOEXEC
        } else {
            OFlags::CLOEXEC | OFlags::NOCTTY
        };
        rustix::fs::openat2(
            r.dir,
            &r.rel,
            flags | extra,
            mode,
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    fn stat(&self, path: &Path) -> Option<std::fs::Metadata> {
        let fd = self.open_at(path, OFlags::PATH, Mode::empty()).ok()?;
        // fstat works on an O_PATH descriptor.
        File::from(fd).metadata().ok()
    }

    /// Whether `path` is a regular file (following symlinks in the host).
    pub fn is_file(&self, path: &Path) -> bool {
        self.stat(path).is_some_and(|m| m.is_file())
    }

    /// Whether `path` is a folder.
    pub fn is_dir(&self, path: &Path) -> bool {
        self.stat(path).is_some_and(|m| m.is_dir())
    }

    /// Whether anything is at `path`.
    pub fn exists(&self, path: &Path) -> bool {
        self.stat(path).is_some()
    }

    /// The mode and owner of `path`, or [`Perm::PRIVATE`] when there is no
    /// such file or its metadata cannot be read.
    pub fn perm_of(&self, path: &Path) -> Perm {
        match self.stat(path) {
            Some(m) => Perm {
                mode: m.permissions().mode() & 0o777,
                owner: Some((m.uid(), m.gid())),
            },
            None => Perm::PRIVATE,
        }
    }

    /// The bytes of the regular file `path`, or `None` when it is missing.
    pub fn read_optional(&self, path: &Path) -> Result<Option<Vec<u8>>, NodeError> {
        let fd = match self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io("read", path)(e.into())),
        };
        let mut file = File::from(fd);
        let meta = file.metadata().map_err(io("read", path))?;
        if !meta.is_file() {
            return Err(io("read", path)(std::io::Error::other(
                "not a regular file",
            )));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read", path))?;
        Ok(Some(bytes))
    }

    /// The hex sha256 of the file `path`.
    pub fn sha256(&self, path: &Path) -> Result<String, NodeError> {
        let bytes = self
            .read_optional(path)?
            .ok_or_else(|| io("read", path)(std::io::Error::from(std::io::ErrorKind::NotFound)))?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }

    /// The folder `dir`, opened beneath the root, made (with its missing
    /// parents, mode 0755) when `create` says so.
    fn folder(&self, dir: &Path, create: bool) -> Result<OwnedFd, NodeError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        match self.open_at(dir, flags, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(rustix::io::Errno::NOENT) if create => {
                let (parent, name) = split(dir)?;
                let parent_fd = self.folder(&parent, true)?;
                match rustix::fs::mkdirat(&parent_fd, &name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io("create", dir)(e.into())),
                }
                self.open_at(dir, flags, Mode::empty())
                    .map_err(|e| io("open", dir)(e.into()))
            }
            Err(e) => Err(io("open", dir)(e.into())),
        }
    }

    /// Writes `bytes` to `path` atomically with the given mode and owner,
    /// making its folder when missing.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8], perm: Perm) -> Result<(), NodeError> {
        let (parent, name) = split(path)?;
        let dir = self.folder(&parent, true)?;
        let (tmp_name, fd) = temp_file(&dir).map_err(io("create a temp file in", &parent))?;
        let tmp_path = parent.join(&tmp_name);
        let written = (|| {
            let mut file = File::from(fd);
            if let Some((uid, gid)) = perm.owner {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
                    .map_err(io("chown", &tmp_path))?;
            }
            file.set_permissions(std::fs::Permissions::from_mode(perm.mode & 0o777))
                .map_err(io("chmod", &tmp_path))?;
            file.write_all(bytes).map_err(io("write", &tmp_path))?;
            file.sync_all().map_err(io("sync", &tmp_path))?;
            rustix::fs::renameat(&dir, &tmp_name, &dir, &name)
                .map_err(|e| io("rename onto", path)(e.into()))
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&dir, &tmp_name, AtFlags::empty());
        }
        written
    }

    /// `path`'s folder, open, and its last name; `None` when the folder
    /// is missing (so is `path`).
    fn existing_parent(&self, path: &Path) -> Result<Option<(OwnedFd, OsString)>, NodeError> {
        let (parent, name) = split(path)?;
        match self.folder(&parent, false) {
            Ok(dir) => Ok(Some((dir, name))),
            Err(NodeError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the file `path` if it is there; says whether it was.
    pub fn remove_optional(&self, path: &Path) -> Result<bool, NodeError> {
        let Some((dir, name)) = self.existing_parent(path)? else {
            return Ok(false);
        };
        match rustix::fs::unlinkat(&dir, &name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(io("remove", path)(e.into())),
        }
    }

    /// Removes the folder `path` if it is there and empty; one that still
    /// holds something is left (someone else put it there).
    pub fn remove_empty_dir(&self, path: &Path) -> Result<(), NodeError> {
        let Some((dir, name)) = self.existing_parent(path)? else {
            return Ok(());
        };
        match rustix::fs::unlinkat(&dir, &name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTEMPTY) => Ok(()),
            Err(e) => Err(io("remove", path)(e.into())),
        }
    }
}

/// `path`'s folder and its last name, which must be a plain name.
fn split(path: &Path) -> Result<(PathBuf, OsString), NodeError> {
    match (path.parent(), path.components().next_back()) {
        (Some(parent), Some(Component::Normal(name))) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            Ok((parent.to_path_buf(), name.to_os_string()))
        }
        _ => Err(io("write", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))),
    }
}

/// A new owner-only file `.wasmpod-*` in `dir`, never one that was there.
fn temp_file(dir: &OwnedFd) -> std::io::Result<(OsString, OwnedFd)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for _ in 0..100 {
        let name = OsString::from(format!(
            ".wasmpod-{}-{}-{nanos:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match rustix::fs::openat(
            dir,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((name, fd)),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// `tmp/host` as the host's root, and `tmp/outside` beside it, which
    /// nothing done through the root may touch.
    fn layout() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().expect("tmp");
        let host = tmp.path().join("host");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(host.join("etc")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        (tmp, host, outside)
    }

    #[test]
    fn an_absolute_symlink_means_the_hosts_path_for_reads_and_writes() {
        let (_tmp, host, _) = layout();
        std::fs::create_dir_all(host.join("opt/cd")).expect("mkdir");
        std::fs::write(host.join("opt/cd/config.toml"), "old\n").expect("write");
        symlink("/opt/cd", host.join("etc/containerd")).expect("symlink");
        let root = HostRoot::open(&host).expect("open");
        let config = host.join("etc/containerd/config.toml");

        assert!(root.is_file(&config));
        assert_eq!(
            root.read_optional(&config).expect("read"),
            Some(b"old\n".to_vec())
        );
        root.write_atomic(&config, b"new\n", Perm::PRIVATE)
            .expect("write");
        assert_eq!(
            std::fs::read(host.join("opt/cd/config.toml")).expect("read"),
            b"new\n"
        );
        assert!(
            std::fs::symlink_metadata(host.join("etc/containerd"))
                .expect("lstat")
                .is_symlink()
        );
        let mode = std::fs::metadata(host.join("opt/cd/config.toml"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temp file is left beside it.
        let left: Vec<_> = std::fs::read_dir(host.join("opt/cd"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![OsString::from("config.toml")]);

        assert!(root.remove_optional(&config).expect("remove"));
        assert!(!host.join("opt/cd/config.toml").exists());
        assert!(!root.remove_optional(&config).expect("again"));
    }

    #[test]
    fn links_and_dotdot_that_lead_out_stay_inside_the_root() {
        let (_tmp, host, outside) = layout();
        std::fs::write(outside.join("victim"), "keep").expect("write");
        // Relative, absolute, and through `..` of the path itself.
        symlink("../../outside", host.join("etc/rel")).expect("symlink");
        symlink("/../outside", host.join("etc/abs")).expect("symlink");
        let root = HostRoot::open(&host).expect("open");
        for link in ["etc/rel", "etc/abs"] {
            let victim = host.join(link).join("victim");
            assert_eq!(root.read_optional(&victim).expect("read"), None, "{link}");
            assert!(!root.remove_optional(&victim).expect("remove"), "{link}");
            // The link's target is the host's /outside, which is missing.
            root.write_atomic(&host.join(link).join("new"), b"x", Perm::PRIVATE)
                .expect_err("no folder is made through a dangling link");
        }
        std::fs::create_dir(host.join("outside")).expect("mkdir");
        for link in ["etc/rel", "etc/abs"] {
            root.write_atomic(&host.join(link).join("new"), b"x", Perm::PRIVATE)
                .expect("write");
        }
        // `..` after the root's prefix stops at the root, as on the host.
        let dotdot = host.join("etc/../../outside/victim");
        assert!(!root.remove_optional(&dotdot).expect("remove"));
        assert_eq!(root.read_optional(&dotdot).expect("read"), None);
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).expect("read"),
            "keep"
        );
        assert!(!outside.join("new").exists());
        // What was written went to the host's own /outside.
        assert_eq!(std::fs::read(host.join("outside/new")).expect("read"), b"x");
    }

    #[test]
    fn missing_folders_are_made_and_only_empty_ones_removed() {
        let (_tmp, host, _) = layout();
        let root = HostRoot::open(&host).expect("open");
        let key = host.join("etc/wasmpod/keys/a/release.pub");
        root.write_atomic(&key, b"k", Perm::EXECUTABLE)
            .expect("write");
        assert_eq!(std::fs::read(&key).expect("read"), b"k");
        assert!(root.is_dir(&host.join("etc/wasmpod/keys/a")));
        assert_eq!(root.perm_of(&key).mode, 0o755);

        root.remove_empty_dir(&host.join("etc/wasmpod/keys/a"))
            .expect("not empty: kept");
        assert!(key.exists());
        assert!(root.remove_optional(&key).expect("remove"));
        root.remove_empty_dir(&host.join("etc/wasmpod/keys/a"))
            .expect("empty: removed");
        assert!(!host.join("etc/wasmpod/keys/a").exists());
        root.remove_empty_dir(&host.join("etc/nothing/here"))
            .expect("missing is fine");
    }

    #[test]
    fn a_path_outside_the_host_root_is_the_installers_own() {
        let (_tmp, host, outside) = layout();
        let root = HostRoot::open(&host).expect("open");
        let own = outside.join("bin/wasmpod");
        root.write_atomic(&own, b"bin", Perm::EXECUTABLE)
            .expect("write");
        assert_eq!(std::fs::read(&own).expect("read"), b"bin");
        assert_eq!(root.sha256(&own).expect("sha").len(), 64);
    }
}
