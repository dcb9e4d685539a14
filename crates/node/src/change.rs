//! One change to a file of the node, as install and uninstall plan them
//! (binaries, containerd's config, the trust policy) before any is made.

use std::fmt;
use std::path::PathBuf;

use crate::files;

/// One file change.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    Copy {
        from: PathBuf,
        to: PathBuf,
    },
    Write {
        path: PathBuf,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        /// Written first, when the file exists and has no backup yet.
        backup: Option<PathBuf>,
        /// The mode and owner of the file (and its backup): those of the
        /// file itself when it exists, else of the file its text derives
        /// from (the main config for a drop-in, the rendered config for a
        /// k3s template), else [`files::Perm::PRIVATE`].
        perm: files::Perm,
    },
    Remove {
        path: PathBuf,
    },
    /// A folder install created, removed only when it is empty.
    RemoveEmptyDir {
        path: PathBuf,
    },
}

/// Without the bytes: they may hold registry credentials.
impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Copy { from, to } => f
                .debug_struct("Copy")
                .field("from", from)
                .field("to", to)
                .finish(),
            Change::Write {
                path,
                old,
                new,
                backup,
                perm,
            } => f
                .debug_struct("Write")
                .field("path", path)
                .field("old_len", &old.as_ref().map(Vec::len))
                .field("new_len", &new.len())
                .field("backup", backup)
                .field("perm", perm)
                .finish(),
            Change::Remove { path } => f.debug_struct("Remove").field("path", path).finish(),
            Change::RemoveEmptyDir { path } => f
                .debug_struct("RemoveEmptyDir")
                .field("path", path)
                .finish(),
        }
    }
}
