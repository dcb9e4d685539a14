//! A container's state on disk, under `--root`: one folder per container
//! with `state.json` (written to a temp file and renamed) and, while the
//! container waits for `start`, the `exec.fifo` its process blocks on.
//!
//! The status is never stored; it is read from the world each time:
//! - `stopped`: the process is gone (or its pid is another process's now:
//!   the start time recorded with it differs), or `state.json` was never
//!   written (a `create` that crashed);
//! - `created`: the process lives and the fifo is still there;
//! - `paused`: the process lives, `pause` marked it, and it is stopped;
//! - `running`: otherwise.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::proc::ProcessRef;

/// The OCI runtime spec version the `state` output follows.
pub const OCI_VERSION: &str = "1.2.0";

/// The largest `state.json` read back.
const MAX_STATE_BYTES: u64 = 1 << 20;

/// What `create` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The container's process; `None` only in a record read from a
    /// folder whose `create` did not finish.
    pub init: Option<ProcessRef>,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cgroup folders the process joined, one per hierarchy.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Set by `pause`, cleared by `resume`.
    #[serde(default)]
    pub paused: bool,
    /// The uid that created it, for `list`.
    #[serde(default)]
    pub owner: u32,
    /// The directories the container's process was given at create, which
    /// an exec must be given again (`granted.rs`).
    #[serde(default)]
    pub grants: Vec<crate::granted::Grant>,
}

/// A container's status, as the OCI runtime spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        }
    }
}

/// Where the containers of one `--root` live.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

/// Container IDs are names of folders: letters, digits and `_ + - .`, not
/// starting with a dot, at most 1024 bytes (runc's rule).
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if !ok {
        bail!("invalid container ID {id:?}: use letters, digits and _ + - . (not first)");
    }
    Ok(())
}

impl Root {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The folder of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Notes a detached exec's process in the container's folder, so that
    /// `delete` ends it even where no cgroup holds the container's
    /// processes (`--cgroups=disabled`).
    pub fn note_exec(&self, id: &str, process: &ProcessRef) -> anyhow::Result<()> {
        let path = self
            .dir(id)
            .join(format!("detached-{}-{}", process.pid, process.start_time));
        std::fs::File::create(&path).with_context(|| format!("write {}", path.display()))?;
        Ok(())
    }

    /// The detached execs noted for `id` (at most 10,000 read).
    pub fn execs(&self, id: &str) -> Vec<ProcessRef> {
        let Ok(entries) = std::fs::read_dir(self.dir(id)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .take(10_000)
            .filter_map(|e| {
                let name = e.file_name();
                let (pid, start) = name.to_str()?.strip_prefix("detached-")?.split_once('-')?;
                Some(ProcessRef {
                    pid: pid.parse().ok()?,
                    start_time: start.parse().ok()?,
                })
            })
            .collect()
    }

    /// Where `create`'s process waits for `start`.
    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Claims the folder of a new container: an error if one with this ID
    /// exists.
    pub fn claim(&self, id: &str) -> anyhow::Result<PathBuf> {
        check_id(id)?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("create the state root {}", self.dir.display()))?;
        let dir = self.dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container with ID {id} already exists")
            }
            Err(e) => Err(e).with_context(|| format!("create {}", dir.display())),
        }
    }

    /// Writes `record` to `state.json`, through a temp file and a rename.
    pub fn save(&self, record: &Record) -> anyhow::Result<()> {
        let dir = self.dir(&record.id);
        let path = dir.join("state.json");
        let bytes = serde_json::to_vec(record)?;
        // What load can read back: a record it would refuse is refused
        // now, while create can still fail cleanly.
        if bytes.len() as u64 > MAX_STATE_BYTES {
            bail!(
                "the container's state would be {} bytes, more than the {} MiB wasmpod-oci keeps (its annotations are too large)",
                bytes.len(),
                MAX_STATE_BYTES >> 20
            );
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("write {}", path.display()))?;
        tmp.write_all(&bytes)?;
        tmp.flush()?;
        tmp.persist(&path)
            .with_context(|| format!("write {}", path.display()))?;
        Ok(())
    }

    /// The record of container `id`: an error if there is no such
    /// container. A folder without a record (a `create` that died) reads
    /// as a record with no process.
    pub fn load(&self, id: &str) -> anyhow::Result<Record> {
        check_id(id)?;
        let dir = self.dir(id);
        if !dir.is_dir() {
            bail!("container {id} does not exist");
        }
        let path = dir.join("state.json");
        let bytes = match read_bounded(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Record {
                    id: id.to_string(),
                    init: None,
                    bundle: PathBuf::new(),
                    rootfs: PathBuf::new(),
                    created: String::new(),
                    annotations: BTreeMap::new(),
                    cgroups: Vec::new(),
                    paused: false,
                    owner: 0,
                    grants: Vec::new(),
                });
            }
            Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&bytes).with_context(|| format!("read {}", path.display()))
    }

    /// The status of `record`'s container now.
    pub fn status(&self, record: &Record) -> Status {
        let Some(init) = &record.init else {
            return Status::Stopped;
        };
        if !init.is_alive() {
            return Status::Stopped;
        }
        if self.fifo(&record.id).exists() {
            Status::Created
        } else if record.paused && init.is_stopped() {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// Removes the folder of container `id`.
    pub fn remove(&self, id: &str) -> anyhow::Result<()> {
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove {}", dir.display())),
        }
    }

    /// The IDs of every container, sorted.
    pub fn ids(&self) -> anyhow::Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("list {}", self.dir.display())),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| check_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    // One byte past the limit, to tell a whole file from a cut one.
    std::fs::File::open(path)?
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(std::io::Error::other(format!(
            "more than {} MiB",
            MAX_STATE_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// The `state` output the OCI runtime spec defines (runc's fields).
pub fn state_json(root: &Root, record: &Record) -> serde_json::Value {
    let status = root.status(record);
    let pid = match (&record.init, status) {
        (_, Status::Stopped) | (None, _) => 0,
        (Some(init), _) => init.pid,
    };
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": record.id,
        "pid": pid,
        "status": status.as_str(),
        "bundle": record.bundle,
        "rootfs": record.rootfs,
        "created": record.created,
        "annotations": record.annotations,
        "owner": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_folder_names_and_nothing_else() {
        for good in ["c1", "abc_DEF-1.2+x", &"a".repeat(1024)] {
            check_id(good).expect(good);
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a b",
            "a\0",
            &"a".repeat(1025),
        ] {
            let err = check_id(bad).expect_err(bad);
            assert!(err.to_string().starts_with("invalid container ID"), "{err}");
        }
    }

    #[test]
    fn a_claimed_id_cannot_be_claimed_again_and_a_half_created_one_is_stopped() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = Root::new(&tmp.path().join("root"));
        root.claim("c1").expect("claim");
        let err = root.claim("c1").expect_err("twice");
        assert_eq!(err.to_string(), "container with ID c1 already exists");
        // No state.json yet: a create that died there.
        let record = root.load("c1").expect("load");
        assert_eq!(root.status(&record), Status::Stopped);
        assert_eq!(state_json(&root, &record)["status"], "stopped");
        assert_eq!(root.ids().expect("ids"), vec!["c1"]);
        root.remove("c1").expect("remove");
        let err = root.load("c1").expect_err("gone");
        assert_eq!(err.to_string(), "container c1 does not exist");
    }

    #[test]
    fn the_record_round_trips_and_the_status_follows_the_process() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = Root::new(tmp.path());
        root.claim("me").expect("claim");
        let mut record = Record {
            id: "me".into(),
            init: Some(ProcessRef::of(std::process::id()).expect("self")),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-07T00:00:00Z".into(),
            annotations: BTreeMap::from([("a".into(), "b".into())]),
            cgroups: Vec::new(),
            paused: false,
            owner: 0,
            grants: Vec::new(),
        };
        root.save(&record).expect("save");
        let back = root.load("me").expect("load");
        assert_eq!(back.annotations, record.annotations);
        assert_eq!(root.status(&back), Status::Running);
        std::fs::write(root.fifo("me"), "").expect("fifo stand-in");
        assert_eq!(root.status(&back), Status::Created);
        std::fs::remove_file(root.fifo("me")).expect("rm");
        // Another process's start time: the pid was reused.
        if let Some(init) = record.init.as_mut() {
            init.start_time += 1;
        }
        assert_eq!(root.status(&record), Status::Stopped);
        let json = state_json(&root, &back);
        assert_eq!(json["pid"], std::process::id());
        assert_eq!(json["bundle"], "/b");
        assert_eq!(json["annotations"]["a"], "b");
    }
}
