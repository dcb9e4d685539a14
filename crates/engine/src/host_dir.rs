//! Host directories as capabilities.
//!
//! A volume, a rootfs or a working directory is opened once, by the path a
//! trusted caller gave, into a [`HostDir`]. Everything below it is then
//! resolved beneath that open handle with `openat2(2)`, never by joining
//! strings onto the host path and opening the result: a guest that can
//! write in the directory could have swapped any component of such a path
//! for a symlink (`..`, `/`) between the check and the open.
//!
//! wasmtime-wasi opens its preopens by path. Each instance gets its own
//! descriptor for the same directory by opening `/proc/self/fd/N` of the
//! held handle, which names the open directory itself, whatever has become
//! of the path it was opened by.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Most bytes [`HostDir::read_file_in_root`] reads: larger than any
/// WebAssembly module a toolchain emits, small enough that a hostile image
/// cannot make the reader allocate without bound.
pub const MAX_MODULE_BYTES: u64 = 512 << 20;

/// Symlinks through `/proc/self/fd` and the like would jump out of the
/// tree, so they are never followed beneath a handle.
const NO_MAGIC: ResolveFlags = ResolveFlags::NO_MAGICLINKS;

/// An open directory on the host, shared by the instances that use it.
///
/// Cloning shares the descriptor. The path is kept only to name the
/// directory in messages; it is never opened again.
#[derive(Clone)]
pub struct HostDir {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

impl std::fmt::Debug for HostDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostDir")
            .field("path", &self.path)
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl HostDir {
    /// Opens the directory at `path`, a path from a trusted caller (a
    /// command-line volume, a manifest's hostPath, the rootfs containerd
    /// mounted). Symlinks in `path` itself are followed, as `docker run -v`
    /// follows them.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd: Arc::new(fd),
            path: path.to_path_buf(),
        })
    }

    /// The path the directory was opened by (for messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which directory this is: its device and inode numbers, read from
    /// the open descriptor (never by the path).
    pub fn identity(&self) -> std::io::Result<(u64, u64)> {
        let stat = rustix::fs::fstat(&*self.fd)?;
        Ok((stat.st_dev, stat.st_ino))
    }

    /// The directory `rel` below this one. `rel` must be relative; `..` and
    /// symlinks are followed only while they stay beneath this directory
    /// (an escape fails with `EXDEV`).
    pub fn open_dir(&self, rel: &Path) -> std::io::Result<Self> {
        let rel = relative(rel)?;
        let fd = rustix::fs::openat2(
            self.fd.as_fd(),
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | NO_MAGIC,
        )?;
        Ok(Self {
            fd: Arc::new(fd),
            path: self.path.join(rel),
        })
    }

    /// Opens the regular file at `path` as a process whose root is this
    /// directory would: absolute paths and absolute symlinks start here,
    /// and `..` stops here. Nothing outside the directory can be reached.
    ///
    /// The file is found with `O_PATH` and checked to be a regular file
    /// before it is opened for reading: an image can hold device nodes and
    /// FIFOs, and opening one has effects of its own (a writer waiting on
    /// a FIFO goes on; a watchdog device arms).
    pub fn open_file_in_root(&self, path: &str) -> std::io::Result<std::fs::File> {
        let found = rustix::fs::openat2(
            self.fd.as_fd(),
            if path.is_empty() { "." } else { path },
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | NO_MAGIC,
        )?;
        if !rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&found)?.st_mode).is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        // The same file, opened for reading through its descriptor: what
        // was checked is what is read, whatever happens at its path since.
        let fd = rustix::fs::open(
            format!("/proc/self/fd/{}", found.as_raw_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        Ok(std::fs::File::from(fd))
    }

    /// Reads the regular file at `path` (as [`Self::open_file_in_root`]
    /// resolves it), refusing one over [`MAX_MODULE_BYTES`].
    pub fn read_file_in_root(&self, path: &str) -> std::io::Result<Vec<u8>> {
        let file = self.open_file_in_root(path)?;
        let len = file.metadata()?.len();
        if len > MAX_MODULE_BYTES {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        // The file may grow while it is read: read one byte past the limit
        // to notice.
        file.take(MAX_MODULE_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_MODULE_BYTES {
            return Err(too_large());
        }
        Ok(bytes)
    }

    /// A path naming this open directory, for APIs that open by path
    /// (wasmtime-wasi's preopens). Opening it gives a new descriptor for
    /// the same directory, wherever it has been moved or whatever now
    /// stands at its old path.
    pub(crate) fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Whether `self` is `other` or lies below it, found by walking `..`
    /// from `self` and comparing device and inode numbers (at most 4096
    /// levels).
    pub(crate) fn is_within(&self, other: &HostDir) -> std::io::Result<bool> {
        let target = rustix::fs::fstat(other.fd.as_fd())?;
        let mut current = rustix::fs::openat(
            self.fd.as_fd(),
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for _ in 0..4096 {
            let st = rustix::fs::fstat(current.as_fd())?;
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino) {
                return Ok(true);
            }
            let parent = rustix::fs::openat(
                current.as_fd(),
                "..",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let up = rustix::fs::fstat(parent.as_fd())?;
            if (up.st_dev, up.st_ino) == (st.st_dev, st.st_ino) {
                // The root of this mount namespace.
                return Ok(false);
            }
            current = parent;
        }
        Ok(false)
    }
}

fn too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("larger than {} MiB", MAX_MODULE_BYTES >> 20),
    )
}

/// `rel` if it is relative (empty means the directory itself).
fn relative(rel: &Path) -> std::io::Result<&Path> {
    if rel.as_os_str().is_empty() {
        return Ok(Path::new("."));
    }
    if matches!(rel.components().next(), Some(Component::RootDir)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "an absolute path where a relative one is needed",
        ));
    }
    // A NUL byte cannot be passed to the kernel; say so plainly.
    if rel.as_os_str().as_bytes().contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a path with a NUL byte",
        ));
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::OpenOptionsExt as _;

    use super::*;

    /// A FIFO (or a device) an image names as its entrypoint is refused
    /// without being opened: a writer waiting on the FIFO stays waiting.
    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let t = tempfile::tempdir().expect("tempdir");
        let fifo = t.path().join("app.wasm");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo))
        };
        let dir = HostDir::open(t.path()).expect("open");
        let err = dir.open_file_in_root("/app.wasm").expect_err("a fifo");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!writer.is_finished(), "the refusal opened the fifo");
        // Let the writer go.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("reader");
        writer.join().expect("join").expect("writer");
    }

    fn tree() -> (tempfile::TempDir, HostDir) {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("vol/sub")).expect("mkdir");
        std::fs::write(t.path().join("secret"), b"host").expect("write");
        std::fs::write(t.path().join("vol/sub/app.wasm"), b"wasm").expect("write");
        let dir = HostDir::open(t.path().join("vol")).expect("open");
        (t, dir)
    }

    #[test]
    fn files_resolve_inside_the_root_whatever_the_path_says() {
        let (t, dir) = tree();
        std::os::unix::fs::symlink("/sub/app.wasm", t.path().join("vol/abs")).expect("link");
        std::os::unix::fs::symlink("../../../../secret", t.path().join("vol/up")).expect("link");
        std::os::unix::fs::symlink(t.path().join("secret"), t.path().join("vol/host"))
            .expect("link");
        assert_eq!(
            dir.read_file_in_root("/sub/app.wasm").expect("abs"),
            b"wasm"
        );
        assert_eq!(
            dir.read_file_in_root("sub/../sub/app.wasm").expect("rel"),
            b"wasm"
        );
        assert_eq!(dir.read_file_in_root("abs").expect("abs link"), b"wasm");
        // `..` stops at the root, so these name files of the root, which
        // do not exist, never the host's.
        assert!(dir.read_file_in_root("../secret").is_err());
        assert!(dir.read_file_in_root("up").is_err());
        // An absolute symlink to a host path is read inside the root.
        assert!(dir.read_file_in_root("host").is_err());
        assert!(
            dir.read_file_in_root("/proc/self/root/etc/hostname")
                .is_err()
        );
        let e = dir.read_file_in_root("sub").expect_err("a directory");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn directories_resolve_beneath_the_handle_only() {
        let (t, dir) = tree();
        std::os::unix::fs::symlink("..", t.path().join("vol/sub/out")).expect("link");
        std::os::unix::fs::symlink("../..", t.path().join("vol/sub/way-out")).expect("link");
        let sub = dir.open_dir(Path::new("sub")).expect("sub");
        assert!(sub.open_dir(Path::new("out")).is_err(), "sub/.. leaves sub");
        let inner = dir
            .open_dir(Path::new("sub/out"))
            .expect("sub/.. is still in vol");
        assert!(inner.is_within(&dir).expect("walk"));
        assert!(dir.open_dir(Path::new("sub/way-out")).is_err());
        assert!(dir.open_dir(Path::new("/")).is_err());
        assert!(dir.open_dir(Path::new("..")).is_err());
    }

    #[test]
    fn a_handle_outlives_its_path_being_swapped_for_a_symlink() {
        let (t, dir) = tree();
        let sub = dir.open_dir(Path::new("sub")).expect("sub");
        std::fs::rename(t.path().join("vol/sub"), t.path().join("vol/moved")).expect("mv");
        std::os::unix::fs::symlink(t.path(), t.path().join("vol/sub")).expect("link");
        let again = HostDir::open(sub.proc_path()).expect("reopen");
        let names: Vec<_> = std::fs::read_dir(again.proc_path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["app.wasm"]);
    }

    #[test]
    fn within_follows_the_tree() {
        let (t, dir) = tree();
        let sub = dir.open_dir(Path::new("sub")).expect("sub");
        let top = HostDir::open(t.path()).expect("top");
        assert!(sub.is_within(&dir).expect("walk"));
        assert!(dir.is_within(&dir).expect("walk"));
        assert!(dir.is_within(&top).expect("walk"));
        assert!(!dir.is_within(&sub).expect("walk"));
        let other = tempfile::tempdir().expect("tempdir");
        assert!(
            !HostDir::open(other.path())
                .expect("open")
                .is_within(&dir)
                .expect("walk")
        );
    }
}
