//! Every cosign signature found for a digest, in both layouts, each with
//! what it proves: for `wasmpod inspect`, which lists them all, where
//! [`super::Admission::verify`] stops at the first that holds.
//!
//! [`fetch`] reads the signatures with the bounded fetchers of
//! [`super::cosign_tag`] and [`super::cosign_bundle`] and never fails as a
//! whole: a layout that cannot be read is a [`LookupError`] beside what
//! the other layout gave. [`Lookup::inspect`] examines each signature with
//! [`super::verify::examine`] against every key the policy and
//! `--verify-key` name, and asks the policy what it would decide
//! ([`super::Admission::decide`]). Nothing here writes the
//! verified-signature cache: inspecting is read-only.

use super::key::PublicKey;
use super::verify::{self, Found, Outcome};
use super::{Trust, cosign_bundle, cosign_tag};
use crate::registry::RegistryClient;
use crate::{Digest, ImageRef, OciError};

/// Where cosign keeps a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The `sha256-<hex>.sig` tag: one simple signing layer per signature.
    Legacy,
    /// A sigstore bundle, an OCI 1.1 referrer (cosign v3's default).
    Bundle,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Bundle => "bundle",
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One layout's signatures could not be read (the registry cannot be
/// reached, refuses, or serves more than the limits allow).
#[derive(Debug, thiserror::Error)]
#[error("cannot read its {layout} signatures")]
pub struct LookupError {
    pub layout: Layout,
    #[source]
    pub source: OciError,
}

impl LookupError {
    /// The error and its causes on one line.
    pub fn line(&self) -> String {
        format!("{self}: {}", cosign_tag::error_line(&self.source))
    }
}

/// The signatures found for one digest, and the layouts that could not be
/// read.
#[derive(Debug, Default)]
pub struct Lookup {
    found: Vec<Found>,
    layouts: Vec<Layout>,
    pub errors: Vec<LookupError>,
}

/// One signature and what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub layout: Layout,
    /// Where: `sha256-<hex>.sig layer N` (the signature tag and the
    /// layer), or `bundle sha256:…` (the bundle artifact's manifest).
    pub location: String,
    pub outcome: Outcome,
}

impl Lookup {
    /// Signatures already found, by layout (legacy first, as they are
    /// read).
    pub fn new(legacy: Vec<Found>, bundles: Vec<Found>) -> Self {
        let mut lookup = Self::default();
        lookup.add(Layout::Legacy, legacy);
        lookup.add(Layout::Bundle, bundles);
        lookup
    }

    fn add(&mut self, layout: Layout, found: Vec<Found>) {
        self.layouts
            .extend(std::iter::repeat_n(layout, found.len()));
        self.found.extend(found);
    }

    /// Every signature found, in both layouts.
    pub fn found(&self) -> &[Found] {
        &self.found
    }

    /// Each signature with what it proves about `digest`: verified by one
    /// of `keys` (not expired at `now`), made by one but not vouching for
    /// `digest`, or not made by any of them.
    pub fn report(
        &self,
        digest: &Digest,
        keys: &[&PublicKey],
        now: time::OffsetDateTime,
    ) -> Vec<Signature> {
        self.found
            .iter()
            .zip(&self.layouts)
            .map(|(f, layout)| Signature {
                layout: *layout,
                location: f.location.clone(),
                outcome: verify::examine(f, digest, keys, now),
            })
            .collect()
    }
}

/// What the policy would decide about an image now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyAnswer {
    /// The rule that governs the reference, as messages name it.
    pub rule: String,
    /// Whether `run` would let it run; `None` when its signatures could
    /// not be read and the verified-signature cache does not answer.
    pub would_run: Option<bool>,
    /// Why: `signature verified with k.pub`, `no signature required`, or
    /// `refused by RULE: REASON`.
    pub reason: String,
}

/// Every signature of an image, what each proves, and the policy's answer.
#[derive(Debug)]
pub struct Inspection {
    pub signatures: Vec<Signature>,
    /// The layouts that could not be read.
    pub errors: Vec<LookupError>,
    pub policy: PolicyAnswer,
}

impl Lookup {
    /// Each signature examined against every key of `trust` ([`Trust::keys`]),
    /// and what `trust` would decide about `digest` (what `r` resolves to)
    /// with these signatures and the verified-signature cache, which is
    /// read, never written.
    pub fn inspect(
        self,
        trust: &Trust,
        r: &ImageRef,
        digest: &Digest,
        now: time::OffsetDateTime,
    ) -> Inspection {
        let signatures = self.report(digest, &trust.keys(), now);
        let refusal = |e: &OciError| match e {
            OciError::NotTrusted { rule, reason, .. } => format!("refused by {rule}: {reason}"),
            e => cosign_tag::error_line(e),
        };
        let policy = match trust.admit(r) {
            Err(e) => PolicyAnswer {
                rule: match &e {
                    OciError::NotTrusted { rule, .. } => rule.clone(),
                    _ => String::new(),
                },
                would_run: Some(false),
                reason: refusal(&e),
            },
            Ok(admission) => {
                let rule = admission.rule().to_string();
                match admission.decide(digest, &self.found, now) {
                    Ok(verdict) => PolicyAnswer {
                        rule,
                        would_run: Some(true),
                        reason: verdict.describe(),
                    },
                    // Signatures not read are not missing ones.
                    Err(e) if !self.errors.is_empty() => PolicyAnswer {
                        rule,
                        would_run: None,
                        reason: format!(
                            "cannot tell: not every signature could be read, and with those that were, {}",
                            refusal(&e)
                        ),
                    },
                    Err(e) => PolicyAnswer {
                        rule,
                        would_run: Some(false),
                        reason: refusal(&e),
                    },
                }
            }
        };
        Inspection {
            signatures,
            errors: self.errors,
            policy,
        }
    }
}

/// [`fetch`], then [`Lookup::inspect`] now.
pub async fn inspect(
    client: &RegistryClient,
    trust: &Trust,
    r: &ImageRef,
    digest: &Digest,
) -> Inspection {
    fetch(client, r, digest)
        .await
        .inspect(trust, r, digest, time::OffsetDateTime::now_utc())
}

/// Every signature of `digest` in `r`'s repository, in both layouts,
/// within the fetchers' limits. Bundles are not looked for when the
/// registry cannot be reached at all: the legacy layout's error says so.
pub async fn fetch(client: &RegistryClient, r: &ImageRef, digest: &Digest) -> Lookup {
    let mut lookup = Lookup::default();
    match cosign_tag::fetch(client, r, digest).await {
        Ok(found) => lookup.add(Layout::Legacy, found),
        Err(source) => {
            let unreachable = matches!(source, OciError::Unreachable { .. });
            lookup.errors.push(LookupError {
                layout: Layout::Legacy,
                source,
            });
            if unreachable {
                return lookup;
            }
        }
    }
    match cosign_bundle::fetch(client, r, digest).await {
        Ok(found) => lookup.add(Layout::Bundle, found),
        Err(source) => lookup.errors.push(LookupError {
            layout: Layout::Bundle,
            source,
        }),
    }
    tracing::debug!(%digest, signatures = lookup.found.len(), errors = lookup.errors.len(), "looked up signatures");
    lookup
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::test_signer::{now, signer};

    #[test]
    fn every_signature_is_listed_with_what_it_proves() {
        let d = Digest::of(b"image");
        let other = Digest::of(b"other image");
        let a = signer(1, "a.pub");
        let b = signer(2, "b.pub");
        let stranger = signer(3, "stranger.pub");
        let old = signer(4, "old.pub");
        let expired = old
            .1
            .clone()
            .with_expiry(Some(time::macros::datetime!(2025-06-30 0:00 UTC)));
        let lookup = Lookup::new(
            vec![
                a.legacy(1, &d),
                stranger.legacy(2, &d),
                b.legacy(3, &other),
                old.legacy(4, &d),
                Found {
                    location: "sha256-x.sig layer 5".into(),
                    content: Err("it has no dev.cosignproject.cosign/signature annotation".into()),
                },
            ],
            vec![b.bundle(&d)],
        );
        let report = lookup.report(&d, &[&a.1, &b.1, &expired], now());
        let summary: Vec<(Layout, &str, String)> = report
            .iter()
            .map(|s| (s.layout, s.location.as_str(), s.outcome.reason()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    Layout::Legacy,
                    "sha256-x.sig layer 1",
                    "verified with a.pub".to_string()
                ),
                (
                    Layout::Legacy,
                    "sha256-x.sig layer 2",
                    "made by another key, or its payload was changed after signing".into()
                ),
                (
                    Layout::Legacy,
                    "sha256-x.sig layer 3",
                    format!(
                        "by b.pub, but it signs another digest, {other} (was the tag moved after signing?)"
                    )
                ),
                (
                    Layout::Legacy,
                    "sha256-x.sig layer 4",
                    "by old.pub, which expired on 2025-06-30T00:00:00Z".into()
                ),
                (
                    Layout::Legacy,
                    "sha256-x.sig layer 5",
                    "it has no dev.cosignproject.cosign/signature annotation".into()
                ),
                (
                    Layout::Bundle,
                    "bundle sha256:b",
                    "verified with b.pub".into()
                ),
            ]
        );
        // The key that verified is named and fingerprinted.
        match &report[5].outcome {
            Outcome::Verified(v) => {
                assert_eq!(v.key, b.1.fingerprint());
                assert_eq!(v.location, "bundle sha256:b");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &report[2].outcome,
            Outcome::Mismatch { fingerprint, .. } if *fingerprint == b.1.fingerprint()
        ));
        assert_eq!(lookup.found().len(), 6);
    }

    #[test]
    fn without_keys_nothing_is_verified_and_nothing_found_is_empty() {
        let d = Digest::of(b"image");
        let a = signer(1, "a.pub");
        let lookup = Lookup::new(vec![a.legacy(1, &d)], vec![a.bundle(&d)]);
        let report = lookup.report(&d, &[], now());
        assert!(
            report.iter().all(|s| s.outcome == Outcome::NoKnownKey),
            "{report:?}"
        );
        assert!(
            Lookup::new(vec![], vec![])
                .report(&d, &[&a.1], now())
                .is_empty()
        );
    }

    #[test]
    fn the_same_signature_verifies_as_verify_decides() {
        // The per-signature report and the admission's decision agree.
        let d = Digest::of(b"image");
        let a = signer(1, "a.pub");
        let b = signer(2, "b.pub");
        let found = vec![b.legacy(1, &d), a.legacy(2, &d)];
        let v = verify::verify(&found, &d, &[&a.1], now()).expect("verified");
        let report = Lookup::new(found, vec![]).report(&d, &[&a.1], now());
        assert_eq!(report[1].outcome, Outcome::Verified(v));
        assert_eq!(report[0].outcome, Outcome::NoKnownKey);
    }

    #[test]
    fn the_policy_answer_names_the_rule_and_never_guesses() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = signer(1, "a.pub");
        std::fs::write(dir.path().join("a.pub"), a.1.to_pem()).expect("key");
        std::fs::write(
            dir.path().join("policy.toml"),
            "[default]\naction = \"require-signature\"\nkeys = [\"a.pub\"]\n[[rule]]\nregistry = \"docker.io\"\naction = \"deny\"\n",
        )
        .expect("policy");
        let policy = super::super::read_policy(&dir.path().join("policy.toml")).expect("policy");
        let cache = super::super::VerifiedCache::new(dir.path().join("verified"));
        let trust = Trust::new(Some(policy), vec![], Some(cache)).expect("trust");
        let r = ImageRef::parse("localhost:5000/app:v1").expect("ref");
        let d = Digest::of(b"image");

        let signed = Lookup::new(vec![a.legacy(1, &d)], vec![]).inspect(&trust, &r, &d, now());
        assert_eq!(
            signed.policy,
            PolicyAnswer {
                rule: "the default rule (require-signature)".into(),
                would_run: Some(true),
                reason: format!(
                    "signature verified with {}",
                    dir.path().join("a.pub").display()
                ),
            }
        );
        assert!(matches!(signed.signatures[0].outcome, Outcome::Verified(_)));

        let unsigned = Lookup::new(vec![], vec![]).inspect(&trust, &r, &d, now());
        assert_eq!(unsigned.policy.would_run, Some(false));
        assert_eq!(
            unsigned.policy.reason,
            "refused by the default rule (require-signature): it is not signed (no cosign signature for its digest)"
        );

        // A layout that could not be read: no guess.
        let mut partial = Lookup::new(vec![], vec![]);
        partial.errors.push(LookupError {
            layout: Layout::Bundle,
            source: OciError::NotFound {
                reference: "x".into(),
            },
        });
        let answer = partial.inspect(&trust, &r, &d, now()).policy;
        assert_eq!(answer.would_run, None);
        assert!(
            answer.reason.starts_with("cannot tell: "),
            "{}",
            answer.reason
        );

        // A deny names its rule; the signatures are still listed.
        let denied = ImageRef::parse("docker.io/library/app").expect("ref");
        let i = Lookup::new(vec![a.legacy(1, &d)], vec![]).inspect(&trust, &denied, &d, now());
        assert_eq!(i.policy.rule, "rule 1 (registry docker.io, deny)");
        assert_eq!(i.policy.would_run, Some(false));
        assert_eq!(
            i.policy.reason,
            "refused by rule 1 (registry docker.io, deny): the policy denies it"
        );
        assert_eq!(i.signatures.len(), 1);
        assert!(!dir.path().join("verified").exists(), "nothing cached");
    }
}
