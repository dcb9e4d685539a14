//! The verified-signature cache: which (digest, key) pairs have been
//! verified, so a cached `wasmpod run IMAGE` checks a signature with one
//! `stat` instead of a registry round trip and an ECDSA verification.
//!
//! ```text
//! <root>/sha256/<digest hex>/<key fingerprint hex>   JSON: where, when
//! ```
//!
//! An entry is written (temp file and rename) only after a signature by
//! that key over that digest verified. It is keyed by the key's
//! fingerprint, so removing a key from the policy stops its entries from
//! counting. Whoever can write this folder can mark a digest verified; it
//! lives in the state folder, which only its owner writes (for the CLI,
//! the user's own, as the store is).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Digest, OciError};

/// Largest cache entry read back.
const MAX_ENTRY_BYTES: u64 = 64 << 10;

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub digest: Digest,
    /// The key's fingerprint.
    pub key: Digest,
    /// The key's path when it verified.
    pub key_name: String,
    /// Where the signature was found.
    pub location: String,
    /// RFC 3339.
    pub verified_at: String,
}

/// The cache, under `root` (`$WASMPOD_HOME/trust/verified`).
#[derive(Debug, Clone)]
pub struct VerifiedCache {
    root: PathBuf,
}

impl VerifiedCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// Whether a signature by `key` over `digest` was verified before.
    pub fn contains(&self, digest: &Digest, key: &Digest) -> bool {
        std::fs::metadata(self.dir(digest).join(key.hex())).is_ok_and(|m| m.is_file())
    }

    /// Records a verified signature.
    pub fn record(&self, entry: &Entry) -> Result<(), OciError> {
        let dir = self.dir(&entry.digest);
        std::fs::create_dir_all(&dir).map_err(|e| OciError::io(&dir, e))?;
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| OciError::invalid("verified-signature cache entry", e.to_string()))?;
        crate::store::write_atomic(&dir.join(entry.key.hex()), &bytes)
    }

    /// Every entry of `digest` (for `inspect`), skipping unreadable ones.
    pub fn entries(&self, digest: &Digest) -> Vec<Entry> {
        use std::io::Read as _;
        let Ok(dir) = std::fs::read_dir(self.dir(digest)) else {
            return Vec::new();
        };
        let mut entries: Vec<Entry> = dir
            .filter_map(|e| {
                let file = std::fs::File::open(e.ok()?.path()).ok()?;
                let mut bytes = Vec::new();
                file.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes).ok()?;
                serde_json::from_slice::<Entry>(&bytes)
                    .ok()
                    .filter(|entry| entry.digest == *digest)
            })
            .collect();
        entries.sort_by(|a, b| a.key_name.cmp(&b.key_name));
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_count_per_digest_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = VerifiedCache::new(dir.path().join("verified"));
        let (d, other, key) = (Digest::of(b"d"), Digest::of(b"o"), Digest::of(b"k"));
        assert!(!cache.contains(&d, &key));
        let entry = Entry {
            digest: d,
            key,
            key_name: "k.pub".into(),
            location: "sha256-….sig layer 1".into(),
            verified_at: "2026-01-01T00:00:00Z".into(),
        };
        cache.record(&entry).expect("record");
        assert!(cache.contains(&d, &key));
        assert!(!cache.contains(&d, &other), "another key");
        assert!(!cache.contains(&other, &key), "another digest");
        assert_eq!(cache.entries(&d), vec![entry]);
        assert!(cache.entries(&other).is_empty());
    }
}
