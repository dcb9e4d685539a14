//! Deciding whether the signatures found for a digest include a valid one
//! by an allowed key ([`verify`]), and what each one proves ([`examine`]).
//! Pure: the signatures were fetched, the keys read and the time taken by
//! the caller.

use super::cosign_bundle;
pub use super::evidence::{Evidence, Found};
use super::key::PublicKey;
use super::simple_signing;
use crate::Digest;

/// Whether what `evidence` signed vouches for `digest`.
fn vouches(evidence: &Evidence, digest: &Digest) -> Result<(), String> {
    match evidence {
        Evidence::SimpleSigning(s) => simple_signing::check(&s.payload, digest),
        Evidence::Dsse(d) => cosign_bundle::check(d, digest),
    }
}

/// A signature that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key's fingerprint ([`PublicKey::fingerprint`]).
    pub key: Digest,
    /// The key as the policy or flag named it.
    pub key_name: String,
    /// Where the signature was found (`sha256-….sig layer 1`).
    pub location: String,
}

/// Most reasons quoted in one refusal.
const MAX_REASONS: usize = 3;

/// The first of `found` that one of `keys` (those not expired at `now`)
/// made over a payload naming `digest`; otherwise why there is none, as
/// one line.
pub fn verify(
    found: &[Found],
    digest: &Digest,
    keys: &[&PublicKey],
    now: time::OffsetDateTime,
) -> Result<Verified, String> {
    let live: Vec<&PublicKey> = keys
        .iter()
        .copied()
        .filter(|k| !k.expired_at(now))
        .collect();
    if live.is_empty() {
        let expired: Vec<String> = keys
            .iter()
            .map(|k| match k.expires() {
                Some(t) => format!("{} on {}", k.name(), date(t)),
                None => k.name().to_string(),
            })
            .collect();
        return Err(format!(
            "every key that may sign it has expired ({})",
            expired.join(", ")
        ));
    }
    if found.is_empty() {
        return Err("it is not signed (no cosign signature for its digest)".into());
    }
    let mut reasons = Vec::new();
    for f in found {
        match examine(f, digest, keys, now) {
            Outcome::Verified(v) => return Ok(v),
            refused => reasons.push(format!("{}: {}", f.location, refused.reason())),
        }
    }
    let more = reasons.len().saturating_sub(MAX_REASONS);
    reasons.truncate(MAX_REASONS);
    if more > 0 {
        reasons.push(format!("and {more} more"));
    }
    Err(format!(
        "no valid signature by {} ({})",
        key_names(&live),
        reasons.join("; ")
    ))
}

/// What one signature proves about a digest, given the keys that may
/// have made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Made by one of the keys, not expired, over a payload naming the
    /// digest.
    Verified(Verified),
    /// Made by `key`, but what it signs does not vouch for the digest
    /// (another digest, or not a cosign signature): `reason` says which.
    Mismatch {
        key: String,
        fingerprint: Digest,
        reason: String,
    },
    /// Made by `key`, which expired before `now`.
    Expired {
        key: String,
        fingerprint: Digest,
        expired: Option<time::OffsetDateTime>,
    },
    /// None of the keys made it: another key's signature, or a payload
    /// changed after signing (the two cannot be told apart).
    NoKnownKey,
    /// What was found cannot be read as a signature (why, as one line).
    Unreadable(String),
}

impl Outcome {
    /// Why the signature does not count, as refusals quote it; for a
    /// verified one, the key that made it.
    pub fn reason(&self) -> String {
        match self {
            Self::Verified(v) => format!("verified with {}", v.key_name),
            Self::Mismatch { key, reason, .. } => format!("by {key}, but {reason}"),
            Self::Expired { key, expired, .. } => format!(
                "by {key}, which expired on {}",
                expired.map(date).unwrap_or_default()
            ),
            Self::NoKnownKey => {
                "made by another key, or its payload was changed after signing".into()
            }
            Self::Unreadable(reason) => reason.clone(),
        }
    }
}

/// What `f` proves about `digest`: whether one of `keys` (those not
/// expired at `now`) made it over a payload naming `digest`, or why not.
pub fn examine(
    f: &Found,
    digest: &Digest,
    keys: &[&PublicKey],
    now: time::OffsetDateTime,
) -> Outcome {
    let evidence = match &f.content {
        Ok(evidence) => evidence,
        Err(reason) => return Outcome::Unreadable(reason.clone()),
    };
    let (live, expired): (Vec<&PublicKey>, Vec<&PublicKey>) =
        keys.iter().copied().partition(|k| !k.expired_at(now));
    if let Some(key) = live.iter().find(|k| evidence.by(k)) {
        return match vouches(evidence, digest) {
            Ok(()) => Outcome::Verified(Verified {
                key: key.fingerprint(),
                key_name: key.name().to_string(),
                location: f.location.clone(),
            }),
            Err(reason) => Outcome::Mismatch {
                key: key.name().to_string(),
                fingerprint: key.fingerprint(),
                reason,
            },
        };
    }
    match expired.iter().find(|k| evidence.by(k)) {
        Some(k) => Outcome::Expired {
            key: k.name().to_string(),
            fingerprint: k.fingerprint(),
            expired: k.expires(),
        },
        None => Outcome::NoKnownKey,
    }
}

/// `k.pub` or `one of a.pub, b.pub`.
pub fn key_names(keys: &[&PublicKey]) -> String {
    match keys {
        [one] => one.name().to_string(),
        many => format!(
            "one of {}",
            many.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn date(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::test_signer::{now, payload, signer};

    #[test]
    fn a_signature_by_an_allowed_key_over_the_digest_holds() {
        let d = Digest::of(b"image");
        let a = signer(1, "a.pub");
        let b = signer(2, "b.pub");
        let found = [a.sign(payload(&d))];
        let v = verify(&found, &d, &[&b.1, &a.1], now()).expect("verified");
        assert_eq!(v.key, a.1.fingerprint());
        assert_eq!(v.key_name, "a.pub");
        // The first valid one counts, whatever comes before it.
        let broken = Found {
            location: "sha256-x.sig layer 0".into(),
            content: Err("it has no annotation".into()),
        };
        verify(&[broken, b.sign(payload(&d))], &d, &[&b.1], now()).expect("second");
    }

    #[test]
    fn every_kind_of_bad_signature_is_refused_with_its_reason() {
        let d = Digest::of(b"image");
        let other = Digest::of(b"moved");
        let a = signer(1, "a.pub");
        let b = signer(2, "b.pub");
        let refused = |found: &[Found], keys: &[&PublicKey]| {
            verify(found, &d, keys, now()).expect_err("refused")
        };
        assert_eq!(
            refused(&[], &[&a.1]),
            "it is not signed (no cosign signature for its digest)"
        );
        let e = refused(&[b.sign(payload(&d))], &[&a.1]);
        assert_eq!(
            e,
            "no valid signature by a.pub (sha256-x.sig layer 1: made by another key, or its payload was changed after signing)"
        );
        let e = refused(&[a.sign(payload(&other))], &[&a.1, &b.1]);
        assert!(
            e.contains(&format!("by a.pub, but it signs another digest, {other}")),
            "{e}"
        );
        assert!(
            e.starts_with("no valid signature by one of a.pub, b.pub"),
            "{e}"
        );
        // A payload changed after signing: the signature no longer holds.
        let mut tampered = a.sign(payload(&d));
        if let Ok(Evidence::SimpleSigning(s)) = &mut tampered.content {
            s.payload = payload(&other);
        }
        assert!(refused(&[tampered], &[&a.1]).contains("payload was changed after signing"));
        // A valid signature over a payload that is not cosign's.
        let e = refused(&[a.sign(b"{}".to_vec())], &[&a.1]);
        assert!(e.contains("not cosign's simple signing JSON"), "{e}");
        // A fetch problem is quoted.
        let missing = Found {
            location: "sha256-x.sig layer 1".into(),
            content: Err("its payload sha256:… cannot be read from the registry (404)".into()),
        };
        assert!(refused(&[missing], &[&a.1]).contains("cannot be read from the registry"));
        // At most three reasons, then a count.
        let many: Vec<Found> = (0..5).map(|_| b.sign(payload(&d))).collect();
        assert!(refused(&many, &[&a.1]).ends_with("; and 2 more)"));
    }

    #[test]
    fn expired_keys_verify_nothing() {
        let d = Digest::of(b"image");
        let a = signer(1, "a.pub");
        let old = signer(3, "old.pub");
        let expired = old
            .1
            .clone()
            .with_expiry(Some(time::macros::datetime!(2025-06-30 0:00 UTC)));
        let e = verify(&[old.sign(payload(&d))], &d, &[&expired], now()).expect_err("expired");
        assert_eq!(
            e,
            "every key that may sign it has expired (old.pub on 2025-06-30T00:00:00Z)"
        );
        let e = verify(&[old.sign(payload(&d))], &d, &[&a.1, &expired], now())
            .expect_err("expired signer");
        assert!(
            e.contains("by old.pub, which expired on 2025-06-30T00:00:00Z"),
            "{e}"
        );
        // Before its expiry it verifies.
        verify(
            &[old.sign(payload(&d))],
            &d,
            &[&expired],
            time::macros::datetime!(2025-06-01 0:00 UTC),
        )
        .expect("not yet expired");
    }
}
