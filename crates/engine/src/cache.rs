//! The on-disk compile cache.
//!
//! Compiling with Cranelift takes milliseconds to seconds; loading the native
//! code it produced takes microseconds. The cache keeps that code under
//! `<dir>/<key>.cwasm`, where the key is a sha256 over the guest's own sha256
//! and wasmtime's compatibility hash (its version and every setting that
//! changes generated code). The same module therefore compiles once per
//! machine and engine configuration, wherever it came from.
//!
//! An entry is `MAGIC`, then the sha256 of the payload, then wasmtime's
//! serialized code. Loading checks the magic and the checksum before wasmtime
//! sees a byte, and wasmtime then checks its own header (version, target,
//! settings). A truncated, corrupt or foreign entry is therefore rejected and
//! recompiled, never executed. Entries are written to a temporary file in the
//! same folder and renamed into place, so readers never see half an entry and
//! two writers of one key both leave a whole one. A miss is written on a
//! thread beside the guest (`cache_write.rs`). A writer killed mid-write
//! leaves a `.tmp-` file that no load opens; the first write through each
//! opened cache (one per `Runtime`) removes those over an hour old.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::EngineError;
use crate::cache_write::PendingWrites;
use crate::program::Compiled;

const MAGIC: &[u8; 8] = b"WPODCW1\0";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// What the cache did for one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Native code was loaded from the cache; nothing was compiled.
    Hit,
    /// No entry existed; the guest was compiled and the result stored.
    Miss,
    /// An entry existed but was corrupt, truncated or from another engine; it
    /// was discarded, and the guest compiled and stored again.
    Rejected,
    /// No cache folder is configured.
    Disabled,
}

impl CacheOutcome {
    /// A short word for logs and `--verbose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Rejected => "rejected (recompiled)",
            Self::Disabled => "disabled",
        }
    }
}

/// A folder of compiled guests.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    /// Hex sha256 of wasmtime's compatibility hash for this engine.
    engine_fingerprint: [u8; 32],
    /// Entries being written in the background, shared by clones.
    writes: Arc<PendingWrites>,
    /// Whether this cache (or a clone) has swept stale temporary files.
    swept: Arc<std::sync::atomic::AtomicBool>,
}

/// How old a temporary file in the cache folder must be before a sweep
/// removes it. A write takes seconds at most, so one this old belongs to a
/// process that died mid-write.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The prefix of the cache's temporary files.
const TEMP_PREFIX: &str = ".tmp-";

/// The most directory entries one sweep looks at, so a huge folder costs
/// a bounded time. Directory order is stable, so in a folder with more
/// entries than this, stale files past the limit stay until it shrinks.
const SWEEP_LIMIT: usize = 100_000;

impl CompileCache {
    /// Opens (creating if needed) a cache folder for `engine`.
    pub fn open(dir: impl Into<PathBuf>, engine: &wasmtime::Engine) -> Result<Self, EngineError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| EngineError::Cache {
            path: dir.clone(),
            source,
        })?;
        if let Err(reason) = check_private(&dir) {
            return Err(EngineError::UnsafeCache { path: dir, reason });
        }
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        Ok(Self {
            dir,
            engine_fingerprint: hasher.0.finalize().into(),
            writes: Arc::default(),
            swept: Arc::default(),
        })
    }

    /// Waits until every entry this cache (or a clone of it) started to
    /// write in the background is on disk. A process calls it before it
    /// exits or gives up the credentials the cache folder needs;
    /// [`Runtime`](crate::Runtime) does when it is dropped.
    pub fn finish_writes(&self) {
        self.writes.finish();
    }

    /// Code compiled in this process whose entry at `path` is still being
    /// written: as good as a hit, and not on disk yet.
    pub(crate) fn in_flight(&self, path: &Path) -> Option<Compiled> {
        self.writes.get(path)
    }

    /// Stores `compiled` at `path` on a thread of its own, so that the
    /// caller can run it at once.
    pub(crate) fn write_in_background(&self, path: PathBuf, compiled: Compiled) {
        self.writes.start(self, path, compiled);
    }

    /// The folder this cache writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the entry for a guest whose bytes hash to `digest`.
    pub fn entry_path(&self, digest: &[u8; 32]) -> PathBuf {
        let mut key = Sha256::new();
        key.update(b"wasmpod compile cache v1\0");
        key.update(digest);
        key.update(self.engine_fingerprint);
        self.dir
            .join(format!("{}.cwasm", hex::encode(key.finalize())))
    }

    /// Reads and verifies an entry. `Ok(None)` means there is none;
    /// `Err(reason)` means one exists but must not be trusted.
    pub(crate) fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        // The bytes become native code this process runs: only its own
        // user (or root) may have written them.
        let meta = file.metadata().map_err(|e| e.to_string())?;
        trusted_owner_and_mode(&meta, false)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| e.to_string())?;
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err("bad header".into());
        }
        let expected = &bytes[MAGIC.len()..HEADER_LEN];
        let actual = Sha256::digest(&bytes[HEADER_LEN..]);
        if expected != actual.as_slice() {
            return Err("checksum mismatch".into());
        }
        bytes.drain(..HEADER_LEN);
        Ok(Some(bytes))
    }

    /// Stores an entry atomically. Failures are logged, not returned: a
    /// cache that cannot be written only costs a recompile next time.
    pub(crate) fn write(&self, path: &Path, payload: &[u8]) {
        let result = (|| -> std::io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .tempfile_in(&self.dir)?;
            tmp.write_all(MAGIC)?;
            tmp.write_all(&Sha256::digest(payload))?;
            tmp.write_all(payload)?;
            // No fsync: a torn entry after a crash fails its checksum and is
            // recompiled, so durability would only cost every first run.
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        })();
        match result {
            Ok(()) => debug!(path = %path.display(), bytes = payload.len(), "stored compiled code"),
            Err(e) => warn!(path = %path.display(), error = %e, "cannot write compile cache entry"),
        }
        // Beside this write, off the guest's path: once per cache.
        if !self.swept.swap(true, std::sync::atomic::Ordering::Relaxed) {
            self.sweep_stale_temps(STALE_TEMP_AGE);
        }
    }

    /// Removes the temporary files that writers killed mid-write left
    /// behind (no load ever opens them, but they take space): those older
    /// than `age`. Returns how many were removed.
    pub fn sweep_stale_temps(&self, age: std::time::Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for entry in entries.take(SWEEP_LIMIT).flatten() {
            if !entry
                .file_name()
                .as_encoded_bytes()
                .starts_with(TEMP_PREFIX.as_bytes())
            {
                continue;
            }
            // The entry itself, never what a symlink points to.
            let Ok(meta) = entry.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|d| d >= age);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            debug!(dir = %self.dir.display(), removed, "removed stale cache temp files");
        }
        removed
    }

    /// Removes an entry that failed verification.
    pub(crate) fn discard(&self, path: &Path) {
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %path.display(), error = %e, "cannot remove bad cache entry");
        }
    }
}

/// Checks that nobody but this process's user and root can write to `dir`
/// or change what its path leads to: `dir` and every folder above it must
/// belong to this user or root, and none may be writable by group or
/// others, except an ancestor with the sticky bit (`/tmp`), where others
/// cannot rename what is not theirs. `Err` says why not.
fn check_private(dir: &Path) -> Result<(), String> {
    let real = dir.canonicalize().map_err(|e| e.to_string())?;
    for (depth, folder) in real.ancestors().enumerate() {
        let meta =
            std::fs::symlink_metadata(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        trusted_owner_and_mode(&meta, depth > 0).map_err(|why| {
            if depth == 0 {
                why
            } else {
                format!("its parent {} {why}", folder.display())
            }
        })?;
    }
    Ok(())
}

/// Whether `meta` belongs to this process's user or root and is writable
/// by nobody else (`sticky_ok`: unless it is a sticky folder).
fn trusted_owner_and_mode(meta: &std::fs::Metadata, sticky_ok: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "is owned by uid {}, not by this user ({me}) or root",
            meta.uid()
        ));
    }
    let others_write = meta.mode() & 0o022 != 0;
    let sticky = meta.mode() & 0o1000 != 0;
    if others_write && !(sticky_ok && sticky) {
        return Err(format!(
            "is writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Feeds `Hash` output into sha256, so wasmtime's compatibility hash becomes
/// a stable digest (`DefaultHasher` is not stable across Rust releases).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ])
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, CompileCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = wasmtime::Engine::default();
        let cache = CompileCache::open(dir.path().join("c"), &engine).expect("open");
        (dir, cache)
    }

    #[test]
    fn round_trip_and_rejections() {
        let (_dir, cache) = cache();
        let path = cache.entry_path(&[7; 32]);
        assert_eq!(cache.read(&path), Ok(None));

        cache.write(&path, b"payload bytes");
        assert_eq!(cache.read(&path), Ok(Some(b"payload bytes".to_vec())));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");

        // Truncated.
        let full = std::fs::read(&path).expect("read");
        std::fs::write(&path, &full[..full.len() - 3]).expect("truncate");
        assert_eq!(cache.read(&path), Err("checksum mismatch".into()));
        std::fs::write(&path, &full[..10]).expect("truncate");
        assert_eq!(cache.read(&path), Err("bad header".into()));

        // Flipped bit in the payload.
        let mut corrupt = full.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        std::fs::write(&path, &corrupt).expect("corrupt");
        assert_eq!(cache.read(&path), Err("checksum mismatch".into()));

        cache.discard(&path);
        assert_eq!(cache.read(&path), Ok(None));
    }

    #[test]
    fn folders_and_entries_others_can_write_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = wasmtime::Engine::default();
        let open = |p: &Path| CompileCache::open(p, &engine);
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };

        let c = dir.path().join("c");
        std::fs::create_dir(&c).expect("mkdir");
        set(&c, 0o777);
        let err = open(&c).expect_err("world-writable cache");
        assert!(
            err.to_string()
                .contains("writable by group or others (mode 777)"),
            "{err}"
        );
        set(&c, 0o775);
        assert!(open(&c).is_err(), "group-writable cache");

        // A parent others can write lets them swap the cache folder.
        set(&c, 0o755);
        set(dir.path(), 0o777);
        let err = open(&c.join("sub")).expect_err("world-writable parent");
        let why = format!(
            "its parent {} is writable by group or others",
            dir.path().display()
        );
        assert!(err.to_string().contains(&why), "{err}");
        // The sticky bit (as on /tmp) makes a shared parent safe.
        set(dir.path(), 0o1777);
        let cache = open(&c.join("sub")).expect("sticky parent");
        set(dir.path(), 0o700);

        // An entry others could have written is not trusted.
        let path = cache.entry_path(&[9; 32]);
        cache.write(&path, b"code");
        assert_eq!(cache.read(&path), Ok(Some(b"code".to_vec())));
        set(&path, 0o666);
        assert_eq!(
            cache.read(&path),
            Err("is writable by group or others (mode 666)".into())
        );
    }

    #[test]
    fn key_depends_on_digest_and_engine() {
        let (_dir, a) = cache();
        assert_ne!(a.entry_path(&[1; 32]), a.entry_path(&[2; 32]));

        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = wasmtime::Engine::new(&config).expect("engine");
        let b = CompileCache::open(a.dir(), &other).expect("open");
        assert_ne!(a.entry_path(&[1; 32]), b.entry_path(&[1; 32]));
    }
}
