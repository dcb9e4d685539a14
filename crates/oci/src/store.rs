//! The content-addressed local store, under `$WASMPOD_HOME/store`.
//!
//! ```text
//! store/
//!   blobs/sha256/<hex>   every manifest, config, layer and extracted module
//!   tmp/                 blobs being written (each locked by its writer)
//!   images.json          the references we know, and what they point at
//!   gc.lock              shared by pulls, exclusive for garbage collection
//!   images.lock          exclusive while images.json is rewritten
//! ```
//!
//! A blob is streamed into `tmp/`, hashed and counted as it arrives, and
//! renamed into `blobs/` only when its size and digest match what it was
//! named by. A killed pull leaves at most a temp file, which the next garbage
//! collection removes; it never leaves a wrong blob or a listed image whose
//! blobs are missing, because an image is recorded only after all its blobs
//! are committed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::digest::Hasher;
use crate::limits::{MAX_IMAGES_FILE_BYTES, MAX_MANIFEST_BYTES, MAX_READ_BLOB_BYTES};
use crate::manifest::{Descriptor, Manifest};
use crate::{Digest, ImageRef, OciError};

/// What the store knows about one image reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// `registry/repository`.
    pub name: String,
    /// The tag, if the image was pulled or pushed by tag.
    pub tag: Option<String>,
    /// Digest of the top-level manifest (or index) the reference resolved to.
    pub digest: Digest,
    /// Digest of the platform manifest used (equal to `digest` without an
    /// index).
    pub manifest: Digest,
    /// The Wasm module or component to run (a layer, or a file extracted from
    /// a compat image's layers).
    pub wasm: Digest,
    /// `artifact` or `compat`.
    pub format: String,
    /// Manifest, config and layers, in bytes.
    pub size: u64,
    /// The image's creation time (RFC 3339), if its config has one.
    pub created: Option<String>,
    /// A compat image's Entrypoint (the module path first, when it names
    /// one).
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// A compat image's Cmd: default arguments, replaced by the user's.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Environment from a compat image's config.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory from a compat image's config.
    #[serde(default)]
    pub working_dir: Option<String>,
}

impl ImageRecord {
    /// The guest's argv, docker-style: a compat image's Entrypoint, then the
    /// user's arguments or, if there are none, the image's Cmd (when the
    /// module itself comes from Cmd, it stays argv\[0\]). An artifact has
    /// neither, so its argv is `argv0` and the user's arguments.
    pub fn argv(&self, argv0: &str, user_args: &[String]) -> Vec<String> {
        let (mut argv, defaults) = self.command(argv0);
        if user_args.is_empty() {
            argv.extend(defaults);
        } else {
            argv.extend(user_args.iter().cloned());
        }
        argv
    }

    /// [`argv`](Self::argv) in its two parts, for callers that apply their
    /// own rules to them (Kubernetes' `command` and `args`): the entrypoint,
    /// `argv[0]` first, and the default arguments.
    pub fn command(&self, argv0: &str) -> (Vec<String>, Vec<String>) {
        match (&self.entrypoint[..], &self.cmd[..]) {
            ([], []) => (vec![argv0.to_string()], Vec::new()),
            // The module came from Cmd, so it stays; only its arguments are
            // replaced.
            ([], [module, rest @ ..]) => (vec![module.clone()], rest.to_vec()),
            (entrypoint, cmd) => (entrypoint.to_vec(), cmd.to_vec()),
        }
    }

    /// The reference this record answers to.
    pub fn reference(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.name),
            None => format!("{}@{}", self.name, self.digest),
        }
    }

    fn matches(&self, r: &ImageRef) -> bool {
        if self.name != r.name() {
            return false;
        }
        match (r.digest(), r.tag()) {
            (Some(d), _) => self.digest == d || self.manifest == d,
            (None, Some(t)) => self.tag.as_deref() == Some(t),
            (None, None) => false,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImagesFile {
    images: Vec<ImageRecord>,
}

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcStats {
    pub blobs: usize,
    pub bytes: u64,
    pub temp_files: usize,
}

/// The store. Cheap to open; all state is on disk.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, OciError> {
        let root = root.into();
        for dir in [root.join("blobs/sha256"), root.join("tmp")] {
            std::fs::create_dir_all(&dir).map_err(|e| OciError::io(&dir, e))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether a committed blob of this digest and size exists.
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        std::fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.len() == size)
    }

    /// Reads a blob, verifying its digest (disks rot, files get edited).
    /// Refuses blobs over [`MAX_READ_BLOB_BYTES`]: modules, manifests and
    /// configs fit; layers are read with [`open_blob`](Self::open_blob).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, OciError> {
        self.read_blob_max(
            digest,
            MAX_READ_BLOB_BYTES,
            "the limit for a blob read whole",
        )
    }

    /// [`read_blob`](Self::read_blob) for a blob that must not be larger
    /// than `limit` bytes (`what_limit` names the limit in the error).
    pub fn read_blob_max(
        &self,
        digest: &Digest,
        limit: u64,
        what_limit: &str,
    ) -> Result<Vec<u8>, OciError> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| OciError::io(&path, e))?;
        let mut bytes = Vec::new();
        // One byte past the limit tells "at the limit" from "over it".
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| OciError::io(&path, e))?;
        if bytes.len() as u64 > limit {
            return Err(OciError::LimitExceeded {
                what: format!("stored blob {digest}"),
                limit: format!("{what_limit} ({limit} bytes)"),
            });
        }
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(OciError::DigestMismatch {
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming, after checking its digest in one
    /// streaming pass (so a layer is never held in memory whole). Returns the
    /// file, positioned at its start, and its size.
    pub fn open_blob(&self, digest: &Digest) -> Result<(File, u64), OciError> {
        let path = self.blob_path(digest);
        let mut file = File::open(&path).map_err(|e| OciError::io(&path, e))?;
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; 64 << 10];
        let mut size = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(OciError::io(&path, e)),
            };
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let actual = hasher.finish();
        if actual != *digest {
            return Err(OciError::DigestMismatch {
                expected: *digest,
                actual,
            });
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| OciError::io(&path, e))?;
        Ok((file, size))
    }

    /// Starts writing a blob whose digest is known only at the end (a file
    /// extracted from a layer). Nothing is in `blobs/` until
    /// [`IngestWriter::commit`]; dropped uncommitted, it leaves nothing.
    pub fn ingest(&self) -> Result<IngestWriter, OciError> {
        let tmp_dir = self.root.join("tmp");
        let file = tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| OciError::io(&tmp_dir, e))?;
        file.as_file()
            .try_lock()
            .map_err(|e| OciError::io(file.path(), std::io::Error::other(e.to_string())))?;
        Ok(IngestWriter {
            file,
            hasher: Hasher::default(),
            written: 0,
            blobs: self.root.join("blobs/sha256"),
        })
    }

    /// Stores bytes we produced ourselves; returns their digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, OciError> {
        let desc = Descriptor::new("application/octet-stream", bytes);
        if self.has_blob(&desc.digest, desc.size) {
            return Ok(desc.digest);
        }
        let mut w = self.writer(&desc)?;
        w.write(bytes)?;
        w.commit()
    }

    /// Starts writing a blob that must match `desc`.
    pub fn writer(&self, desc: &Descriptor) -> Result<BlobWriter, OciError> {
        let tmp_dir = self.root.join("tmp");
        let file = tempfile::Builder::new()
            .prefix(&format!("{}-", desc.digest.short()))
            .tempfile_in(&tmp_dir)
            .map_err(|e| OciError::io(&tmp_dir, e))?;
        // Tell garbage collection this temp file is in use.
        file.as_file()
            .try_lock()
            .map_err(|e| OciError::io(file.path(), std::io::Error::other(e.to_string())))?;
        Ok(BlobWriter {
            file,
            hasher: Hasher::default(),
            written: 0,
            expected: desc.digest,
            size: desc.size,
            dest: self.blob_path(&desc.digest),
        })
    }

    /// Takes the shared side of the GC lock, for as long as the guard lives:
    /// pulls and pushes hold it so a concurrent `rmi` cannot collect blobs
    /// they have committed but not yet recorded.
    pub fn use_lock(&self) -> Result<LockGuard, OciError> {
        let file = self.lock_file("gc.lock")?;
        file.lock_shared()
            .map_err(|e| OciError::io(self.root.join("gc.lock"), e))?;
        Ok(LockGuard { _file: file })
    }

    fn lock_file(&self, name: &str) -> Result<File, OciError> {
        let path = self.root.join(name);
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| OciError::io(&path, e))
    }

    /// All recorded images, newest reference last.
    pub fn images(&self) -> Result<Vec<ImageRecord>, OciError> {
        Ok(self.read_images()?.images)
    }

    /// The record a reference answers to, if any.
    pub fn resolve(&self, r: &ImageRef) -> Result<Option<ImageRecord>, OciError> {
        Ok(self.images()?.into_iter().find(|i| i.matches(r)))
    }

    /// Records an image, replacing any record with the same name and tag
    /// (or, for untagged records, the same digest). All of its blobs must
    /// already be committed.
    pub fn record(&self, record: ImageRecord) -> Result<(), OciError> {
        self.update_images(|images| {
            images.retain(|i| {
                !(i.name == record.name
                    && match (&record.tag, &i.tag) {
                        (Some(t), Some(u)) => t == u,
                        (None, None) => i.digest == record.digest,
                        _ => false,
                    })
            });
            images.push(record.clone());
            Ok(())
        })
    }

    /// Forgets a reference, then collects blobs nothing refers to.
    pub fn remove(&self, r: &ImageRef) -> Result<(ImageRecord, GcStats), OciError> {
        let mut removed = None;
        self.update_images(|images| {
            let pos = images.iter().position(|i| i.matches(r)).ok_or_else(|| {
                OciError::ImageNotFound {
                    reference: r.to_string(),
                }
            })?;
            removed = Some(images.remove(pos));
            Ok(())
        })?;
        let stats = self.gc()?;
        removed
            .map(|r| (r, stats))
            .ok_or_else(|| OciError::ImageNotFound {
                reference: r.to_string(),
            })
    }

    /// Removes every blob that no recorded image refers to, and temp files
    /// no writer holds.
    pub fn gc(&self) -> Result<GcStats, OciError> {
        let lock = self.lock_file("gc.lock")?;
        lock.lock()
            .map_err(|e| OciError::io(self.root.join("gc.lock"), e))?;
        self.collect()
    }

    /// [`gc`](Self::gc), but only if no pull or push holds the store right
    /// now (`None` otherwise): a failed pull sweeps the blobs it fetched
    /// without waiting for others to finish.
    pub fn gc_if_idle(&self) -> Result<Option<GcStats>, OciError> {
        let lock = self.lock_file("gc.lock")?;
        match lock.try_lock() {
            Ok(()) => self.collect().map(Some),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(OciError::io(self.root.join("gc.lock"), e)),
        }
    }

    /// The collection itself; the caller holds the GC lock exclusively.
    fn collect(&self) -> Result<GcStats, OciError> {
        let mut keep = std::collections::HashSet::new();
        for image in self.images()? {
            keep.insert(image.digest);
            keep.insert(image.manifest);
            keep.insert(image.wasm);
            for d in [image.digest, image.manifest] {
                // Missing or unreadable manifests only mean fewer blobs kept
                // through them; the image's own digests are kept above.
                let Ok(bytes) =
                    self.read_blob_max(&d, MAX_MANIFEST_BYTES, "the limit for a manifest")
                else {
                    continue;
                };
                match Manifest::parse(&bytes, None) {
                    Ok(Manifest::Image(m)) => {
                        keep.insert(m.config.digest);
                        keep.extend(m.layers.iter().map(|l| l.digest));
                    }
                    Ok(Manifest::Index(idx)) => {
                        keep.extend(idx.manifests.iter().map(|m| m.digest));
                    }
                    Err(_) => {}
                }
            }
        }
        let mut stats = GcStats::default();
        let blobs = self.root.join("blobs/sha256");
        for entry in std::fs::read_dir(&blobs).map_err(|e| OciError::io(&blobs, e))? {
            let entry = entry.map_err(|e| OciError::io(&blobs, e))?;
            let name = entry.file_name();
            let keep_it = name
                .to_str()
                .and_then(|n| format!("sha256:{n}").parse::<Digest>().ok())
                .is_some_and(|d| keep.contains(&d));
            if !keep_it {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        stats.blobs += 1;
                        stats.bytes += size;
                    }
                    Err(e) => {
                        warn!(path = %entry.path().display(), error = %e, "cannot remove blob")
                    }
                }
            }
        }
        let tmp = self.root.join("tmp");
        for entry in std::fs::read_dir(&tmp).map_err(|e| OciError::io(&tmp, e))? {
            let entry = entry.map_err(|e| OciError::io(&tmp, e))?;
            let Ok(f) = File::open(entry.path()) else {
                continue;
            };
            if f.try_lock().is_ok() && std::fs::remove_file(entry.path()).is_ok() {
                stats.temp_files += 1;
            }
        }
        // Temp files write_atomic left in the root (images.json's) when
        // its writer died: an hour old at least, so none is being written.
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten().take(100_000) {
                let stale = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(".tmp-"))
                    && entry
                        .metadata()
                        .ok()
                        .filter(std::fs::Metadata::is_file)
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > std::time::Duration::from_secs(3600));
                if stale && std::fs::remove_file(entry.path()).is_ok() {
                    stats.temp_files += 1;
                }
            }
        }
        debug!(?stats, "garbage collected");
        Ok(stats)
    }

    fn read_images(&self) -> Result<ImagesFile, OciError> {
        let path = self.root.join("images.json");
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ImagesFile::default());
            }
            Err(e) => return Err(OciError::io(&path, e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_IMAGES_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| OciError::io(&path, e))?;
        if bytes.len() as u64 > MAX_IMAGES_FILE_BYTES {
            return Err(OciError::LimitExceeded {
                what: path.display().to_string(),
                limit: format!("the limit for the image list ({MAX_IMAGES_FILE_BYTES} bytes)"),
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| OciError::invalid(path.display().to_string(), e.to_string()))
    }

    fn update_images(
        &self,
        f: impl FnOnce(&mut Vec<ImageRecord>) -> Result<(), OciError>,
    ) -> Result<(), OciError> {
        let lock = self.lock_file("images.lock")?;
        lock.lock()
            .map_err(|e| OciError::io(self.root.join("images.lock"), e))?;
        let mut file = self.read_images()?;
        f(&mut file.images)?;
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| OciError::invalid("images.json", e.to_string()))?;
        write_atomic(&self.root.join("images.json"), &bytes)
    }
}

/// Writes a file through a temp file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| OciError::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_data())
        .map_err(|e| OciError::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| OciError::io(path, e.error))?;
    Ok(())
}

/// Holds a store lock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

/// A blob of unknown digest on its way into the store
/// ([`ContentStore::ingest`]).
#[derive(Debug)]
pub struct IngestWriter {
    file: tempfile::NamedTempFile,
    hasher: Hasher,
    written: u64,
    blobs: PathBuf,
}

impl IngestWriter {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OciError> {
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| OciError::io(self.file.path(), e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Moves the blob into place under its digest.
    pub fn commit(self) -> Result<Digest, OciError> {
        let digest = self.hasher.finish();
        self.file
            .as_file()
            .sync_data()
            .map_err(|e| OciError::io(self.file.path(), e))?;
        let dest = self.blobs.join(digest.hex());
        self.file
            .persist(&dest)
            .map_err(|e| OciError::io(&dest, e.error))?;
        Ok(digest)
    }
}

/// A blob on its way into the store.
#[derive(Debug)]
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: Hasher,
    written: u64,
    expected: Digest,
    size: u64,
    dest: PathBuf,
}

impl BlobWriter {
    /// Appends bytes; refuses to go past the declared size.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OciError> {
        let after = self.written + bytes.len() as u64;
        if after > self.size {
            return Err(OciError::SizeMismatch {
                digest: self.expected,
                declared: self.size,
                reason: format!("received more than that ({after} bytes so far); refusing it"),
            });
        }
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| OciError::io(self.file.path(), e))?;
        self.written = after;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies size and digest, then moves the blob into place.
    pub fn commit(self) -> Result<Digest, OciError> {
        if self.written != self.size {
            return Err(OciError::SizeMismatch {
                digest: self.expected,
                declared: self.size,
                reason: format!("received {} bytes", self.written),
            });
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(OciError::DigestMismatch {
                expected: self.expected,
                actual,
            });
        }
        self.file
            .as_file()
            .sync_data()
            .map_err(|e| OciError::io(self.file.path(), e))?;
        self.file
            .persist(&self.dest)
            .map_err(|e| OciError::io(&self.dest, e.error))?;
        Ok(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ContentStore::open(dir.path().join("store")).expect("open");
        (dir, s)
    }

    fn temp_files(s: &ContentStore) -> usize {
        std::fs::read_dir(s.root().join("tmp"))
            .expect("tmp")
            .count()
    }

    #[test]
    fn verified_writes_commit_and_bad_ones_leave_nothing() {
        let (_d, s) = store();
        let desc = Descriptor::new("x", b"hello world");

        let mut w = s.writer(&desc).expect("writer");
        w.write(b"hello ").expect("write");
        w.write(b"world").expect("write");
        assert_eq!(w.commit().expect("commit"), desc.digest);
        assert!(s.has_blob(&desc.digest, 11));
        assert_eq!(s.read_blob(&desc.digest).expect("read"), b"hello world");

        // Wrong bytes of the right length.
        let other = Descriptor::new("x", b"HELLO WORLD");
        let mut w = s.writer(&other).expect("writer");
        w.write(b"hello world").expect("write");
        let e = w.commit().expect_err("mismatch");
        assert!(
            e.to_string()
                .contains(&format!("expected {}", other.digest)),
            "{e}"
        );
        assert!(!s.blob_path(&other.digest).exists());

        // Too long is refused as it arrives; too short at commit.
        let mut w = s.writer(&other).expect("writer");
        let e = w.write(b"hello world!").expect_err("too long");
        assert!(e.to_string().contains("received more than that"), "{e}");
        drop(w);
        let mut w = s.writer(&other).expect("writer");
        w.write(b"hello").expect("write");
        assert!(
            w.commit()
                .expect_err("short")
                .to_string()
                .contains("received 5 bytes")
        );
        assert_eq!(temp_files(&s), 0);
    }

    #[test]
    fn corrupted_blob_is_detected_on_read() {
        let (_d, s) = store();
        let d = s.put_blob(b"content").expect("put");
        std::fs::write(s.blob_path(&d), b"tampered").expect("tamper");
        assert!(matches!(
            s.read_blob(&d),
            Err(OciError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn records_resolve_and_gc_keeps_only_referenced_blobs() {
        let (_d, s) = store();
        let wasm = s.put_blob(b"\0asm\x01\0\0\0").expect("wasm");
        let config = s.put_blob(b"{}").expect("config");
        let manifest = crate::manifest::ImageManifest::oci(
            Descriptor::new(crate::media::WASM_CONFIG_V0, b"{}"),
            vec![Descriptor::new(
                crate::media::WASM_LAYER,
                b"\0asm\x01\0\0\0",
            )],
        );
        let mbytes = serde_json::to_vec(&manifest).expect("json");
        let mdigest = s.put_blob(&mbytes).expect("manifest");
        let orphan = s.put_blob(b"orphan").expect("orphan");
        let record = ImageRecord {
            name: "localhost:5000/app".into(),
            tag: Some("v1".into()),
            digest: mdigest,
            manifest: mdigest,
            wasm,
            format: "artifact".into(),
            size: 10,
            created: None,
            entrypoint: vec![],
            cmd: vec![],
            env: vec![],
            working_dir: None,
        };
        s.record(record.clone()).expect("record");
        s.record(record.clone()).expect("record twice");
        assert_eq!(s.images().expect("images").len(), 1);

        let by_tag = ImageRef::parse("localhost:5000/app:v1").expect("ref");
        assert_eq!(s.resolve(&by_tag).expect("resolve"), Some(record.clone()));
        let by_digest = by_tag.with_digest(mdigest);
        assert!(s.resolve(&by_digest).expect("resolve").is_some());
        let other = ImageRef::parse("localhost:5000/app:v2").expect("ref");
        assert_eq!(s.resolve(&other).expect("resolve"), None);

        let stats = s.gc().expect("gc");
        assert_eq!(stats.blobs, 1);
        assert!(!s.blob_path(&orphan).exists());
        for d in [wasm, config, mdigest] {
            assert!(s.blob_path(&d).exists(), "{d}");
        }

        let (removed, stats) = s.remove(&by_tag).expect("rmi");
        assert_eq!(removed, record);
        assert_eq!(stats.blobs, 3);
        assert!(s.images().expect("images").is_empty());
        assert!(matches!(
            s.remove(&by_tag),
            Err(OciError::ImageNotFound { .. })
        ));
    }

    #[test]
    fn argv_follows_docker_rules() {
        let mut r = ImageRecord {
            name: "x/y".into(),
            tag: None,
            digest: Digest::of(b"m"),
            manifest: Digest::of(b"m"),
            wasm: Digest::of(b"w"),
            format: "artifact".into(),
            size: 0,
            created: None,
            entrypoint: vec![],
            cmd: vec![],
            env: vec![],
            working_dir: None,
        };
        let user = vec!["a".to_string()];
        assert_eq!(r.argv("ref", &[]), vec!["ref"]);
        assert_eq!(r.argv("ref", &user), vec!["ref", "a"]);
        r.entrypoint = vec!["/app.wasm".into(), "--flag".into()];
        r.cmd = vec!["default".into()];
        assert_eq!(r.argv("ref", &[]), vec!["/app.wasm", "--flag", "default"]);
        assert_eq!(r.argv("ref", &user), vec!["/app.wasm", "--flag", "a"]);
        r.entrypoint = vec![];
        r.cmd = vec!["/app.wasm".into(), "x".into()];
        assert_eq!(r.argv("ref", &[]), vec!["/app.wasm", "x"]);
        assert_eq!(r.argv("ref", &user), vec!["/app.wasm", "a"]);
    }

    #[test]
    fn gc_removes_abandoned_temp_files_but_not_active_ones() {
        let (_d, s) = store();
        let desc = Descriptor::new("x", b"data");
        let active = s.writer(&desc).expect("writer");
        std::fs::write(s.root().join("tmp/abandoned"), b"partial").expect("write");
        let stats = s.gc().expect("gc");
        assert_eq!(stats.temp_files, 1);
        assert_eq!(temp_files(&s), 1);
        drop(active);
        assert_eq!(temp_files(&s), 0);
    }

    /// A writer of images.json killed mid-write leaves `.tmp-*` in the
    /// root; gc removes it once it is an hour old, not before.
    #[test]
    fn gc_removes_old_temp_files_of_a_dead_writer_in_the_root() {
        let (_d, s) = store();
        let old = s.root().join(".tmp-old");
        let new = s.root().join(".tmp-new");
        std::fs::write(&old, b"half").expect("write");
        std::fs::write(&new, b"half").expect("write");
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .expect("open")
            .set_modified(two_hours_ago)
            .expect("age it");
        let stats = s.gc().expect("gc");
        assert_eq!(stats.temp_files, 1);
        assert!(!old.exists());
        assert!(new.exists());
    }
}
