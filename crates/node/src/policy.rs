//! The node's trust policy: `wasmpod node install --policy PATH` puts a
//! policy, and the key files it names by relative paths, where the shim
//! reads them ([`POLICY_DIR`]`/policy.toml`, keys relative to
//! [`POLICY_DIR`]), and `uninstall` takes them away again.
//!
//! The policy is read and checked as the shim reads it, before anything is
//! written: the same parser, key decoder and size limits as
//! `wasmpod_oci::trust` (`read_policy`, `Trust::new`). Those open files by
//! name; here the policy's folder is opened once and every file in it is
//! opened beneath that handle (`openat2` with `RESOLVE_BENEATH`, as
//! STYLE.md asks of paths). A symlink that stays in the folder is
//! followed, which is how a Kubernetes ConfigMap volume lays out its files
//! (`policy.toml -> ..data/policy.toml`, `..data -> ..2025_01_01_…`); one
//! that leads out of it is refused, as is a key path with `..`. A key
//! named by an absolute path is the host's own: it is read through the
//! host root (`RESOLVE_IN_ROOT`, so the host's symlinks mean what they
//! mean on the host) to check it, and is not copied.
//!
//! What install wrote is recorded in [`RECORD`] beside the policy (each
//! file's sha256 and the folders it created), so a later install replaces
//! exactly those files and uninstall removes them and nothing else. A file
//! install did not write is never overwritten: it is taken over only when
//! its bytes are already the ones to install.
//!
//! It does not enforce the policy (the shim does, at each container
//! create, which is also why a new policy needs no containerd restart).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use wasmpod_oci::OciError;
use wasmpod_oci::trust::key::MAX_KEY_FILE_BYTES;
use wasmpod_oci::trust::policy::MAX_POLICY_BYTES;
use wasmpod_oci::trust::{Action, Policy, PolicyError, PublicKey};

use crate::change::Change;
use crate::host_root::HostRoot;
use crate::{NodeError, files, host_path, io};

/// Where the shim reads the node policy, on the host.
pub const POLICY_DIR: &str = "/etc/wasmpod";
/// The policy's file name in [`POLICY_DIR`].
pub const POLICY_FILE: &str = "policy.toml";
/// The record of what install wrote, beside the policy.
pub const RECORD: &str = "policy.toml.wasmpod-installed";
/// Most distinct key files one policy may name: with the trust module's
/// 64 KiB a key, at most 64 MiB is held in memory.
pub const MAX_KEY_FILES: usize = 1024;

/// The policy and its keys are public: readable by all, written by root.
const READABLE: files::Perm = files::Perm {
    mode: 0o644,
    owner: None,
};

/// A policy read from its folder and checked, with the bytes to install.
#[derive(Clone)]
pub struct CheckedPolicy {
    /// The file it was read from.
    pub source: PathBuf,
    text: Vec<u8>,
    /// Its `[[rule]]`s, besides the default.
    pub rules: usize,
    /// The default rule's action.
    pub default_action: Action,
    /// Keys named by a relative path: that path (beneath the policy's
    /// folder, and so beneath [`POLICY_DIR`]) and the file's bytes.
    keys: BTreeMap<PathBuf, Vec<u8>>,
    /// Keys named by an absolute path: checked on the host, left there.
    pub host_keys: BTreeSet<PathBuf>,
    /// Keys past their `expires` beside live ones, for the report.
    pub expired: Vec<String>,
}

/// Without the bytes.
impl std::fmt::Debug for CheckedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedPolicy")
            .field("source", &self.source)
            .field("rules", &self.rules)
            .field("default_action", &self.default_action)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("host_keys", &self.host_keys)
            .finish()
    }
}

impl CheckedPolicy {
    /// `2 rules, default require-signature`.
    pub fn summary(&self) -> String {
        let s = if self.rules == 1 { "" } else { "s" };
        format!(
            "{} rule{s}, default {}",
            self.rules,
            self.default_action.as_str()
        )
    }

    /// The relative key paths it names (each copied beneath [`POLICY_DIR`]).
    pub fn key_paths(&self) -> impl Iterator<Item = &Path> {
        self.keys.keys().map(PathBuf::as_path)
    }
}

/// The policy folder on the host, as seen from here.
pub fn policy_dir(host_root: &Path) -> PathBuf {
    host_root.join(POLICY_DIR.trim_start_matches('/'))
}

/// What install wrote: the sha256 of each file, and the folders it made.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    /// `policy.toml` as written.
    policy: String,
    /// Key files, by their path beneath [`POLICY_DIR`].
    keys: BTreeMap<String, String>,
    /// Folders created for key files, beneath [`POLICY_DIR`].
    dirs: BTreeSet<String>,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn refused(path: &Path, reason: impl Into<String>) -> NodeError {
    NodeError::Policy {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Why a file beneath a folder could not be read.
enum ReadFailure {
    /// A symlink (or `..`) leads out of the folder.
    Escapes,
    NotAFile,
    TooLarge(u64),
    Io(std::io::Error),
}

fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Reads the regular file `rel` beneath `dir`, resolved with `resolve`
/// (and never through `/proc` magic links), up to `limit` bytes.
fn read_at(
    dir: &OwnedFd,
    rel: &Path,
    resolve: ResolveFlags,
    limit: u64,
) -> Result<Vec<u8>, ReadFailure> {
    let fd = rustix::fs::openat2(
        dir.as_fd(),
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        resolve | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| match e {
        rustix::io::Errno::XDEV => ReadFailure::Escapes,
        e => ReadFailure::Io(e.into()),
    })?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(ReadFailure::Io)?;
    if !meta.is_file() {
        return Err(ReadFailure::NotAFile);
    }
    let mut bytes = Vec::new();
    // One byte past the limit, to notice a file that grew.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadFailure::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadFailure::TooLarge(limit));
    }
    Ok(bytes)
}

fn too_large(path: &Path, limit: u64) -> NodeError {
    NodeError::Trust(OciError::LimitExceeded {
        what: path.display().to_string(),
        limit: format!("the limit of {limit} bytes for the file"),
    })
}

/// `rel` as a path that stays beneath its folder: normal components only
/// (`.` dropped), at least one.
fn beneath(rel: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Reads the policy at `source` and every key it names, and checks them
/// as the shim will: a policy the shim would refuse, a key file that is
/// missing or not a P-256 public key, a rule whose every key has expired,
/// a relative key path that leaves the policy's folder, or a file over the
/// trust module's limits is an error. Keys named by absolute paths are
/// read on the host, through `host_root`.
pub fn read(source: &Path, host_root: &Path) -> Result<CheckedPolicy, NodeError> {
    let folder = match source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = source
        .file_name()
        .ok_or_else(|| refused(source, "it names a folder; give the policy file"))?;
    let dir = open_dir(folder).map_err(io("open the policy's folder", folder))?;
    let text = read_at(
        &dir,
        Path::new(name),
        ResolveFlags::BENEATH,
        MAX_POLICY_BYTES,
    )
    .map_err(|f| match f {
        ReadFailure::Escapes => refused(
            source,
            format!("it is a symlink out of its folder {}", folder.display()),
        ),
        ReadFailure::NotAFile => refused(source, "it is not a regular file"),
        ReadFailure::TooLarge(limit) => too_large(source, limit),
        ReadFailure::Io(e) => io("read the policy", source)(e),
    })?;
    let invalid = |e: PolicyError| {
        NodeError::Trust(OciError::Policy {
            path: source.to_path_buf(),
            source: e,
        })
    };
    let parsed = std::str::from_utf8(&text).map_err(|_| invalid(PolicyError::NotText))?;
    // Parsed against an empty base, so relative key paths stay relative
    // (the shim resolves them against POLICY_DIR) and absolute ones stay
    // as written; every check of the file is the same.
    let policy = Policy::parse(parsed, Path::new("")).map_err(invalid)?;

    let now = time::OffsetDateTime::now_utc();
    let mut keys: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    let mut host_keys = BTreeSet::new();
    let mut expired = Vec::new();
    let mut default_action = Action::AllowUnsigned;
    let mut rules = 0;
    for (i, rule) in policy.rules().enumerate() {
        if i == 0 {
            default_action = rule.action;
        } else {
            rules += 1;
        }
        let mut dead = Vec::new();
        for k in &rule.keys {
            if k.path.is_absolute() {
                if host_keys.insert(k.path.clone()) {
                    read_host_key(host_root, &k.path)?;
                }
            } else {
                let rel = beneath(&k.path).ok_or_else(|| {
                    refused(
                        source,
                        format!(
                            "{}: key {} leaves the policy's folder (a relative key path may not use `..`)",
                            rule.label,
                            k.path.display()
                        ),
                    )
                })?;
                if rel == Path::new(POLICY_FILE) || rel == Path::new(RECORD) {
                    return Err(refused(
                        source,
                        format!(
                            "{}: key {} would be installed over {}",
                            rule.label,
                            k.path.display(),
                            Path::new(POLICY_DIR).join(&rel).display()
                        ),
                    ));
                }
                if !keys.contains_key(&rel) {
                    if keys.len() == MAX_KEY_FILES {
                        return Err(refused(
                            source,
                            format!("it names over {MAX_KEY_FILES} key files"),
                        ));
                    }
                    let bytes = read_key(&dir, folder, &rel)?;
                    keys.insert(rel, bytes);
                }
            }
            if let Some(at) = k.expires.filter(|at| now >= *at) {
                dead.push(format!("{} on {}", k.path.display(), at.date()));
            }
        }
        if !rule.keys.is_empty() && dead.len() == rule.keys.len() {
            return Err(refused(
                source,
                format!(
                    "{}: every key has expired ({}), so it would refuse every image it governs",
                    rule.label,
                    dead.join(", ")
                ),
            ));
        }
        expired.extend(dead.into_iter().map(|d| {
            format!(
                "{}: key {d} has expired; its other keys still verify",
                rule.label
            )
        }));
    }
    Ok(CheckedPolicy {
        source: source.to_path_buf(),
        text,
        rules,
        default_action,
        keys,
        host_keys,
        expired,
    })
}

/// Reads and decodes the key at `rel` beneath the policy's folder.
fn read_key(dir: &OwnedFd, folder: &Path, rel: &Path) -> Result<Vec<u8>, NodeError> {
    let path = folder.join(rel);
    let bytes =
        read_at(dir, rel, ResolveFlags::BENEATH, MAX_KEY_FILE_BYTES).map_err(|f| match f {
            ReadFailure::Escapes => refused(
                &path,
                format!(
                    "a symlink leads out of the policy's folder {}",
                    folder.display()
                ),
            ),
            ReadFailure::NotAFile => refused(&path, "the key is not a regular file"),
            ReadFailure::TooLarge(limit) => too_large(&path, limit),
            ReadFailure::Io(e) => io("read key file", &path)(e),
        })?;
    decode_key(&path, &bytes)?;
    Ok(bytes)
}

/// Reads and decodes a key named by an absolute path, as the host sees it.
fn read_host_key(host_root: &Path, path: &Path) -> Result<(), NodeError> {
    let root = open_dir(host_root).map_err(io("open the host root", host_root))?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    let bytes =
        read_at(&root, rel, ResolveFlags::IN_ROOT, MAX_KEY_FILE_BYTES).map_err(|f| match f {
            ReadFailure::Escapes | ReadFailure::NotAFile => {
                refused(path, "the key is not a regular file on the host")
            }
            ReadFailure::TooLarge(limit) => too_large(path, limit),
            ReadFailure::Io(e) => io("read the host's key file", path)(e),
        })?;
    decode_key(path, &bytes)
}

fn decode_key(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    PublicKey::from_pem(path.display().to_string(), bytes)
        .map(drop)
        .map_err(|source| {
            NodeError::Trust(OciError::Key {
                path: path.to_path_buf(),
                source,
            })
        })
}

fn read_record(root: &HostRoot, dir: &Path) -> Result<Option<Record>, NodeError> {
    let path = dir.join(RECORD);
    let Some(bytes) = root.read_optional(&path)? else {
        return Ok(None);
    };
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| {
        refused(
            &path,
            format!("not a record wasmpod wrote ({e}); remove it"),
        )
    })?;
    for p in record.keys.keys().chain(&record.dirs) {
        if beneath(Path::new(p)).is_none() {
            return Err(refused(
                &path,
                format!("it names {p:?}, outside {POLICY_DIR}"),
            ));
        }
    }
    Ok(Some(record))
}

/// The folders beneath the policy folder that `rel`'s parents name,
/// deepest last: `a/b/k.pub` gives `a`, `a/b`.
fn parents(rel: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = rel
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// Folders to remove when empty, deepest first.
fn rmdirs(dir: &Path, dirs: impl IntoIterator<Item = String>) -> Vec<Change> {
    let mut dirs: Vec<String> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(Path::new(d).components().count()));
    dirs.into_iter()
        .map(|d| Change::RemoveEmptyDir { path: dir.join(d) })
        .collect()
}

/// What install changes to put `checked` in place under `host_root`
/// (nothing when it is there already). Key files go first and the policy
/// after them, so the shim never reads a policy whose keys are not there
/// yet; keys the previous policy needed are removed after it is replaced.
pub fn plan_install(
    checked: &CheckedPolicy,
    root: &HostRoot,
) -> Result<(Vec<Change>, Vec<String>), NodeError> {
    let dir = policy_dir(root.path());
    let old = read_record(root, &dir)?;
    let owned = old.clone().unwrap_or_default();
    let not_ours = |path: &Path| {
        refused(
            path,
            format!(
                "it exists, `wasmpod node install` did not write it, and it differs from what {} needs; move it away first",
                checked.source.display()
            ),
        )
    };
    let mut record = Record {
        policy: sha256(&checked.text),
        ..Record::default()
    };
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for (rel, bytes) in &checked.keys {
        let name = rel.to_string_lossy().into_owned();
        let to = dir.join(rel);
        let current = root.read_optional(&to)?;
        if current.as_ref().is_some_and(|c| c != bytes) && !owned.keys.contains_key(&name) {
            return Err(not_ours(&to));
        }
        for parent in parents(rel) {
            let parent_name = parent.to_string_lossy().into_owned();
            if owned.dirs.contains(&parent_name) || !root.is_dir(&dir.join(&parent)) {
                record.dirs.insert(parent_name);
            }
        }
        if current.as_ref() != Some(bytes) {
            changes.push(Change::Write {
                path: to,
                old: current,
                new: bytes.clone(),
                backup: None,
                perm: READABLE,
            });
        }
        record.keys.insert(name, sha256(bytes));
    }
    let policy_path = dir.join(POLICY_FILE);
    let current = root.read_optional(&policy_path)?;
    if current.as_ref().is_some_and(|c| *c != checked.text) && old.is_none() {
        return Err(not_ours(&policy_path));
    }
    if current.as_ref() != Some(&checked.text) {
        changes.push(Change::Write {
            path: policy_path,
            old: current,
            new: checked.text.clone(),
            backup: None,
            perm: READABLE,
        });
    }
    for (name, sha) in &owned.keys {
        if !record.keys.contains_key(name) {
            remove_owned(root, &dir, name, sha, &mut changes, &mut notes)?;
        }
    }
    if old.as_ref() != Some(&record) {
        let bytes = serde_json::to_vec_pretty(&record)
            .map_err(|e| refused(&dir.join(RECORD), format!("cannot be written: {e}")))?;
        changes.push(Change::Write {
            path: dir.join(RECORD),
            old: root.read_optional(&dir.join(RECORD))?,
            new: bytes,
            backup: None,
            perm: READABLE,
        });
    }
    let stale = owned.dirs.difference(&record.dirs).cloned();
    changes.extend(rmdirs(&dir, stale));
    Ok((changes, notes))
}

/// A file install wrote is removed if it still holds what install wrote;
/// one changed since is kept, with a note.
fn remove_owned(
    root: &HostRoot,
    dir: &Path,
    name: &str,
    sha: &str,
    changes: &mut Vec<Change>,
    notes: &mut Vec<String>,
) -> Result<(), NodeError> {
    let path = dir.join(name);
    match root.read_optional(&path)? {
        Some(bytes) if sha256(&bytes) == sha => changes.push(Change::Remove { path }),
        Some(_) => notes.push(format!(
            "kept {}: it changed after `wasmpod node install` wrote it",
            path.display()
        )),
        None => {}
    }
    Ok(())
}

/// What uninstall changes: the policy, the key files and folders install
/// recorded, and the record. Nothing when install never wrote a policy
/// (a policy put there by hand stays).
pub fn plan_uninstall(root: &HostRoot) -> Result<(Vec<Change>, Vec<String>), NodeError> {
    let dir = policy_dir(root.path());
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let Some(record) = read_record(root, &dir)? else {
        return Ok((changes, notes));
    };
    remove_owned(
        root,
        &dir,
        POLICY_FILE,
        &record.policy,
        &mut changes,
        &mut notes,
    )?;
    for (name, sha) in &record.keys {
        remove_owned(root, &dir, name, sha, &mut changes, &mut notes)?;
    }
    changes.push(Change::Remove {
        path: dir.join(RECORD),
    });
    changes.extend(rmdirs(&dir, record.dirs));
    Ok((changes, notes))
}

/// The line install prints about the policy.
pub fn report(checked: &CheckedPolicy, host_root: &Path, changed: bool, dry_run: bool) -> String {
    let at = host_path(host_root, &policy_dir(host_root).join(POLICY_FILE));
    let keys = checked.keys.len();
    let s = if keys == 1 { "" } else { "s" };
    let what = match (changed, dry_run) {
        (false, _) => "unchanged",
        (true, false) => "installed",
        (true, true) => "would be installed",
    };
    format!(
        "policy {} {what} (from {}): {}, {keys} key file{s} beside it",
        at.display(),
        checked.source.display(),
        checked.summary()
    )
}
