//! Signed images: which images may run, checked before anything is stored
//! as trusted or compiled.
//!
//! - [`policy`]: the policy file and which rule governs a reference (pure).
//! - [`key`], [`signing_key`]: cosign's public and private keys.
//! - [`simple_signing`]: the payload a cosign signature signs.
//! - [`evidence`]: a signature as found, in either layout, not judged yet.
//! - [`cosign_tag`]: cosign's `sha256-<hex>.sig` layout in a registry.
//! - [`cosign_bundle`]: cosign v3's sigstore bundles, found as OCI 1.1
//!   referrers (or through the referrers tag schema).
//! - [`verify`]: whether found signatures include a valid one (pure).
//! - [`verified`]: the cache of verified (digest, key) pairs.
//! - [`inspect`]: every signature found for a digest and what each proves,
//!   for `wasmpod inspect` (read-only).
//!
//! [`Trust`] puts them together: the policy with its keys read, the keys
//! of `--verify-key`, and the cache. [`Trust::admit`] applies the rule for
//! a reference before anything is fetched (a denied image costs nothing),
//! and [`Admission::verify`] decides about the digest the reference
//! resolved to. A refusal is [`OciError::NotTrusted`].

pub mod cosign_bundle;
pub mod cosign_tag;
pub mod evidence;
pub mod inspect;
pub mod key;
pub mod policy;
pub mod signing_key;
pub mod simple_signing;
#[cfg(test)]
mod test_signer;
pub mod verified;
pub mod verify;

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use tracing::debug;

pub use key::{KeyError, PublicKey};
pub use policy::{Action, Policy, PolicyError, Rule};
pub use signing_key::SigningKey;
pub use verified::VerifiedCache;
pub use verify::Verified;

use crate::registry::RegistryClient;
use crate::{Digest, ImageRef, OciError};

/// The policy, its keys, the one-off keys and the cache.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    policy: Option<Policy>,
    /// Each rule's keys, by the rule's label.
    rule_keys: HashMap<String, Vec<PublicKey>>,
    /// `--verify-key`: a signature by one of these is needed as well.
    extra_keys: Vec<PublicKey>,
    cache: Option<VerifiedCache>,
}

/// Reads a policy file.
pub fn read_policy(path: &Path) -> Result<Policy, OciError> {
    let bytes = read_bounded(path, policy::MAX_POLICY_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| OciError::Policy {
        path: path.to_path_buf(),
        source: PolicyError::NotText,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    Policy::parse(&text, base).map_err(|source| OciError::Policy {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<PublicKey, OciError> {
    let bytes = read_bounded(path, key::MAX_KEY_FILE_BYTES)?;
    PublicKey::from_pem(path.display().to_string(), &bytes).map_err(|source| OciError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a private key file; `password` decrypts a cosign key.
pub fn read_signing_key(path: &Path, password: Option<&[u8]>) -> Result<SigningKey, OciError> {
    let bytes = read_bounded(path, key::MAX_KEY_FILE_BYTES)?;
    SigningKey::from_pem(path.display().to_string(), &bytes, password).map_err(|source| {
        OciError::Key {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, OciError> {
    let file = std::fs::File::open(path).map_err(|e| OciError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| OciError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(OciError::LimitExceeded {
            what: path.display().to_string(),
            limit: format!("the limit of {limit} bytes for the file"),
        });
    }
    Ok(bytes)
}

impl Trust {
    /// `policy` with its keys read, `extra_keys` required as well, and
    /// verified signatures remembered in `cache`. No policy and no keys
    /// lets every image run unsigned, as wasmpod did before policies.
    pub fn new(
        policy: Option<Policy>,
        extra_keys: Vec<PublicKey>,
        cache: Option<VerifiedCache>,
    ) -> Result<Self, OciError> {
        let mut rule_keys = HashMap::new();
        let mut read: HashMap<PathBuf, PublicKey> = HashMap::new();
        for rule in policy.iter().flat_map(Policy::rules) {
            let mut keys = Vec::with_capacity(rule.keys.len());
            for k in &rule.keys {
                let key = match read.get(&k.path) {
                    Some(key) => key.clone(),
                    None => {
                        let key = read_public_key(&k.path)?;
                        read.insert(k.path.clone(), key.clone());
                        key
                    }
                };
                keys.push(key.with_expiry(k.expires));
            }
            rule_keys.insert(rule.label.clone(), keys);
        }
        Ok(Self {
            policy,
            rule_keys,
            extra_keys,
            cache,
        })
    }

    /// Every key the policy names (each rule's, in the policy's order)
    /// and `--verify-key`'s, each once: the keys a signature may be
    /// attributed to when all of them are listed.
    pub fn keys(&self) -> Vec<&PublicKey> {
        let rules = self
            .policy
            .iter()
            .flat_map(Policy::rules)
            .filter_map(|rule| self.rule_keys.get(&rule.label))
            .flatten();
        let mut keys: Vec<&PublicKey> = Vec::new();
        for key in rules.chain(&self.extra_keys) {
            // The same key under two rules may expire differently.
            if !keys
                .iter()
                .any(|k| k.fingerprint() == key.fingerprint() && k.expires() == key.expires())
            {
                keys.push(key);
            }
        }
        keys
    }

    /// Applies the rule for `r` before anything is fetched: a denied
    /// image is refused here.
    pub fn admit(&self, r: &ImageRef) -> Result<Admission<'_>, OciError> {
        let mut requirements = Vec::new();
        let mut pins: &[Digest] = &[];
        let mut rule_label = "no policy".to_string();
        if let Some(policy) = &self.policy {
            let rule = policy.rule_for(r);
            rule_label = describe(rule);
            pins = &rule.digests;
            match rule.action {
                Action::Deny => {
                    return Err(OciError::NotTrusted {
                        reference: r.to_string(),
                        rule: rule_label,
                        reason: "the policy denies it".into(),
                    });
                }
                Action::AllowUnsigned => {}
                Action::RequireSignature => requirements.push(Requirement {
                    by: rule_label.clone(),
                    keys: self
                        .rule_keys
                        .get(&rule.label)
                        .map(|k| k.iter().collect())
                        .unwrap_or_default(),
                }),
            }
        }
        if !self.extra_keys.is_empty() {
            requirements.push(Requirement {
                by: "--verify-key".into(),
                keys: self.extra_keys.iter().collect(),
            });
        }
        Ok(Admission {
            reference: r.to_string(),
            rule_label,
            requirements,
            pins,
            cache: self.cache.as_ref(),
        })
    }
}

/// How a rule is named in messages: `rule 2 (prefix ghcr.io/acme,
/// require-signature)`.
fn describe(rule: &Rule) -> String {
    match &rule.scope {
        policy::Scope::Default => format!("the default rule ({})", rule.action.as_str()),
        scope => format!("{} ({scope}, {})", rule.label, rule.action.as_str()),
    }
}

/// Signatures one source of keys asks for: one of `keys` must have signed.
#[derive(Debug)]
struct Requirement<'a> {
    by: String,
    keys: Vec<&'a PublicKey>,
}

/// What the policy asks of one reference, before its digest is known.
#[derive(Debug)]
pub struct Admission<'a> {
    reference: String,
    rule_label: String,
    requirements: Vec<Requirement<'a>>,
    pins: &'a [Digest],
    cache: Option<&'a VerifiedCache>,
}

/// Why an image may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No signature was asked for.
    Unsigned,
    /// A valid signature for each requirement (the policy's rule, then
    /// `--verify-key`), `cached` when all were verified before.
    Signed { by: Vec<Verified>, cached: bool },
}

impl Verdict {
    /// `signature verified with cosign.pub (cached)` or `no signature
    /// required`, for the CLI's one line.
    pub fn describe(&self) -> String {
        match self {
            Self::Unsigned => "no signature required".into(),
            Self::Signed { by, cached } => format!(
                "signature verified with {}{}",
                by.iter()
                    .map(|v| v.key_name.as_str())
                    .collect::<Vec<_>>()
                    .join(" and "),
                if *cached { " (cached)" } else { "" }
            ),
        }
    }
}

impl Admission<'_> {
    /// Whether the image needs a signature at all.
    pub fn requires_signature(&self) -> bool {
        !self.requirements.is_empty()
    }

    /// The rule that applies, as messages name it.
    pub fn rule(&self) -> &str {
        &self.rule_label
    }

    fn refuse(&self, digest: &Digest, by: &str, reason: String) -> OciError {
        OciError::NotTrusted {
            reference: format!("{} ({digest})", self.reference),
            rule: by.to_string(),
            reason,
        }
    }

    /// Decides about `digest` without the network when that is possible:
    /// the pins, and no signature needed or every one verified before.
    /// `None` when signatures must be fetched.
    pub fn check_cached(&self, digest: &Digest) -> Result<Option<Verdict>, OciError> {
        if !self.pins.is_empty() && !self.pins.contains(digest) {
            return Err(self.refuse(
                digest,
                &self.rule_label,
                format!(
                    "the rule pins {} and this is not one of them",
                    match self.pins.len() {
                        1 => "one digest".to_string(),
                        n => format!("{n} digests"),
                    }
                ),
            ));
        }
        if self.requirements.is_empty() {
            return Ok(Some(Verdict::Unsigned));
        }
        let mut by = Vec::new();
        for req in &self.requirements {
            match self.cached_key(req, digest) {
                Some(v) => by.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(Verdict::Signed { by, cached: true }))
    }

    fn cached_key(&self, req: &Requirement<'_>, digest: &Digest) -> Option<Verified> {
        let cache = self.cache?;
        let now = time::OffsetDateTime::now_utc();
        req.keys
            .iter()
            .find(|k| !k.expired_at(now) && cache.contains(digest, &k.fingerprint()))
            .map(|k| Verified {
                key: k.fingerprint(),
                key_name: k.name().to_string(),
                location: "verified before".into(),
            })
    }

    /// Each requirement's signature: from the cache, else the first of
    /// `found` that holds. Returns them all, and those not from the cache.
    fn judge(
        &self,
        digest: &Digest,
        found: &[verify::Found],
        now: time::OffsetDateTime,
    ) -> Result<(Vec<Verified>, Vec<Verified>), OciError> {
        let mut by = Vec::with_capacity(self.requirements.len());
        let mut fresh = Vec::new();
        for req in &self.requirements {
            if let Some(v) = self.cached_key(req, digest) {
                by.push(v);
                continue;
            }
            let v = verify::verify(found, digest, &req.keys, now)
                .map_err(|reason| self.refuse(digest, &req.by, reason))?;
            fresh.push(v.clone());
            by.push(v);
        }
        Ok((by, fresh))
    }

    /// What [`Admission::verify`] would decide about `digest` with the
    /// signatures `found` (fetched by the caller, e.g. with
    /// [`inspect::fetch`]), remembering nothing: the cache is read, never
    /// written.
    pub fn decide(
        &self,
        digest: &Digest,
        found: &[verify::Found],
        now: time::OffsetDateTime,
    ) -> Result<Verdict, OciError> {
        if let Some(verdict) = self.check_cached(digest)? {
            return Ok(verdict);
        }
        let (by, _) = self.judge(digest, found, now)?;
        Ok(Verdict::Signed { by, cached: false })
    }

    /// Decides about `digest` (what the reference resolved to in `r`'s
    /// repository), fetching its signatures when the cache cannot answer.
    pub async fn verify(
        &self,
        client: &RegistryClient,
        r: &ImageRef,
        digest: &Digest,
    ) -> Result<Verdict, OciError> {
        if let Some(verdict) = self.check_cached(digest)? {
            return Ok(verdict);
        }
        // The legacy layout first: one request, and what most signers
        // still write. Bundles only when it does not satisfy every
        // requirement, so a registry whose referrers misbehave cannot
        // spoil an image signed the old way.
        let mut found = cosign_tag::fetch(client, r, digest).await?;
        let now = time::OffsetDateTime::now_utc();
        let satisfied = |found: &[verify::Found]| {
            self.requirements.iter().all(|req| {
                self.cached_key(req, digest).is_some()
                    || verify::verify(found, digest, &req.keys, now).is_ok()
            })
        };
        if !satisfied(&found) {
            found.extend(cosign_bundle::fetch(client, r, digest).await?);
        }
        debug!(%digest, signatures = found.len(), "fetched signatures");
        let (by, fresh) = self.judge(digest, &found, now)?;
        // Remembered only once every requirement holds: a refused image
        // leaves no trace in the cache.
        if let Some(cache) = self.cache {
            for v in &fresh {
                let entry = verified::Entry {
                    digest: *digest,
                    key: v.key,
                    key_name: v.key_name.clone(),
                    location: v.location.clone(),
                    verified_at: now
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                };
                // A cache that cannot be written costs a verification next
                // time, not this run.
                if let Err(e) = cache.record(&entry) {
                    tracing::warn!(error = %e, "cannot remember a verified signature");
                }
            }
        }
        Ok(Verdict::Signed { by, cached: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::EncodePublicKey as _;

    fn write_key(dir: &Path, name: &str, seed: u8) -> PublicKey {
        let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("scalar");
        let pem = sk
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("pem");
        std::fs::write(dir.join(name), &pem).expect("write key");
        read_public_key(&dir.join(name)).expect("read key")
    }

    fn trust(dir: &Path, policy: &str, extra: Vec<PublicKey>) -> Trust {
        std::fs::write(dir.join("policy.toml"), policy).expect("write policy");
        let policy = read_policy(&dir.join("policy.toml")).expect("policy");
        Trust::new(
            Some(policy),
            extra,
            Some(VerifiedCache::new(dir.join("verified"))),
        )
        .expect("trust")
    }

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).expect("ref")
    }

    #[test]
    fn without_a_policy_everything_runs_unsigned() {
        let t = Trust::default();
        let a = t.admit(&r("ghcr.io/any/thing")).expect("admit");
        assert!(!a.requires_signature());
        assert_eq!(
            a.check_cached(&Digest::of(b"x")).expect("check"),
            Some(Verdict::Unsigned)
        );
    }

    #[test]
    fn deny_refuses_before_anything_is_fetched() {
        let dir = tempfile::tempdir().expect("tmp");
        let t = trust(
            dir.path(),
            "[default]\naction = \"allow-unsigned\"\n[[rule]]\nregistry = \"docker.io\"\naction = \"deny\"\n",
            vec![],
        );
        let e = t.admit(&r("busybox")).expect_err("denied");
        assert_eq!(
            e.to_string(),
            "docker.io/library/busybox:latest: refused by rule 1 (registry docker.io, deny): the policy denies it"
        );
        // --verify-key does not lift a deny.
        let k = write_key(dir.path(), "k.pub", 1);
        let t = trust(dir.path(), "[default]\naction = \"deny\"\n", vec![k]);
        assert!(t.admit(&r("ghcr.io/a/b")).is_err());
    }

    #[test]
    fn pins_hold_whatever_the_rule_says() {
        let dir = tempfile::tempdir().expect("tmp");
        let pinned = Digest::of(b"hello");
        let t = trust(
            dir.path(),
            &format!("[default]\naction = \"allow-unsigned\"\ndigests = [\"{pinned}\"]\n"),
            vec![],
        );
        let a = t.admit(&r("ghcr.io/a/b:v1")).expect("admit");
        assert_eq!(
            a.check_cached(&pinned).expect("pinned"),
            Some(Verdict::Unsigned)
        );
        let moved = Digest::of(b"moved");
        let e = a.check_cached(&moved).expect_err("not pinned");
        assert_eq!(
            e.to_string(),
            format!(
                "ghcr.io/a/b:v1 ({moved}): refused by the default rule (allow-unsigned): the rule pins one digest and this is not one of them"
            )
        );
        // A one-off key does not lift a pin either.
        let k = write_key(dir.path(), "k.pub", 1);
        let t = trust(
            dir.path(),
            &format!("[default]\naction = \"allow-unsigned\"\ndigests = [\"{pinned}\"]\n"),
            vec![k],
        );
        let a = t.admit(&r("ghcr.io/a/b:v1")).expect("admit");
        assert!(a.check_cached(&moved).is_err());
    }

    #[test]
    fn the_cache_answers_per_digest_and_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let k = write_key(dir.path(), "k.pub", 1);
        let other = write_key(dir.path(), "other.pub", 2);
        let t = trust(
            dir.path(),
            "[default]\naction = \"require-signature\"\nkeys = [\"k.pub\"]\n",
            vec![],
        );
        let d = Digest::of(b"image");
        let a = t.admit(&r("ghcr.io/a/b")).expect("admit");
        assert!(a.requires_signature());
        assert_eq!(a.check_cached(&d).expect("check"), None, "not verified yet");
        let cache = VerifiedCache::new(dir.path().join("verified"));
        let entry = |key: &PublicKey| verified::Entry {
            digest: d,
            key: key.fingerprint(),
            key_name: key.name().into(),
            location: "x".into(),
            verified_at: "2026-01-01T00:00:00Z".into(),
        };
        cache.record(&entry(&other)).expect("record");
        assert_eq!(
            a.check_cached(&d).expect("check"),
            None,
            "another key's entry"
        );
        cache.record(&entry(&k)).expect("record");
        match a.check_cached(&d).expect("check") {
            Some(Verdict::Signed { by, cached: true }) => assert_eq!(by[0].key, k.fingerprint()),
            other => panic!("{other:?}"),
        }
        // With --verify-key other.pub as well, both entries are needed.
        let t = trust(
            dir.path(),
            "[default]\naction = \"require-signature\"\nkeys = [\"k.pub\"]\n",
            vec![other.clone()],
        );
        let a = t.admit(&r("ghcr.io/a/b")).expect("admit");
        match a.check_cached(&d).expect("check") {
            Some(Verdict::Signed { by, .. }) => assert_eq!(by.len(), 2),
            other => panic!("{other:?}"),
        }
        // An expired key's entry no longer counts.
        let t = trust(
            dir.path(),
            "[default]\naction = \"require-signature\"\nkeys = [{ path = \"k.pub\", expires = 2020-01-01 }]\n",
            vec![],
        );
        let a = t.admit(&r("ghcr.io/a/b")).expect("admit");
        assert_eq!(a.check_cached(&d).expect("check"), None);
    }

    #[test]
    fn decide_answers_as_verify_would_and_remembers_nothing() {
        use p256::ecdsa::signature::Signer as _;
        let dir = tempfile::tempdir().expect("tmp");
        write_key(dir.path(), "k.pub", 1);
        let other = write_key(dir.path(), "other.pub", 2);
        let t = trust(
            dir.path(),
            "[default]\naction = \"require-signature\"\nkeys = [\"k.pub\"]\n[[rule]]\nprefix = \"ghcr.io/b\"\naction = \"require-signature\"\nkeys = [\"other.pub\", \"k.pub\"]\n",
            vec![other.clone()],
        );
        // Each key once, the policy's first.
        let names: Vec<&str> = t.keys().iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].ends_with("k.pub") && names[1].ends_with("other.pub"));

        let d = Digest::of(b"image");
        let sign = |seed: u8| {
            let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("scalar");
            let payload = simple_signing::payload(&r("ghcr.io/a/b"), &d);
            let sig: p256::ecdsa::Signature = sk.sign(&payload);
            verify::Found {
                location: format!("sha256-x.sig layer {seed}"),
                content: Ok(verify::Evidence::SimpleSigning(cosign_tag::Signed {
                    payload,
                    signature: sig.to_der().as_bytes().to_vec(),
                })),
            }
        };
        let a = t.admit(&r("ghcr.io/a/b")).expect("admit");
        let now = time::OffsetDateTime::now_utc();
        // The rule's key alone is not enough: --verify-key other.pub too.
        let e = a.decide(&d, &[sign(1)], now).expect_err("refused");
        assert!(
            e.to_string()
                .contains("refused by --verify-key: no valid signature by"),
            "{e}"
        );
        match a.decide(&d, &[sign(1), sign(2)], now).expect("both") {
            Verdict::Signed { by, cached: false } => assert_eq!(by.len(), 2),
            v => panic!("{v:?}"),
        }
        assert!(
            !dir.path().join("verified").exists(),
            "nothing recorded in the cache"
        );
    }

    #[test]
    fn key_files_that_cannot_be_used_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("bad.pub"), "hello").expect("write");
        std::fs::write(
            dir.path().join("policy.toml"),
            "[default]\naction = \"require-signature\"\nkeys = [\"bad.pub\"]\n",
        )
        .expect("write");
        let policy = read_policy(&dir.path().join("policy.toml")).expect("policy");
        let e = Trust::new(Some(policy), vec![], None).expect_err("bad key");
        assert!(matches!(e, OciError::Key { .. }), "{e:?}");
        assert!(e.to_string().contains("bad.pub"), "{e}");
        let missing = read_public_key(&dir.path().join("missing.pub")).expect_err("missing");
        assert!(matches!(missing, OciError::Io { .. }), "{missing:?}");
    }
}
