//! cosign v3's signature layout: a sigstore bundle
//! (`application/vnd.dev.sigstore.bundle.v0.3+json`) in an OCI 1.1
//! artifact whose `subject` is the image, found through the registry's
//! referrers API, or, where the registry has none, through the referrers
//! tag schema (`sha256-<hex>`, an image index of the referrers), as
//! cosign writes it.
//!
//! The bundle holds a DSSE envelope around an in-toto statement
//! (predicate `https://sigstore.dev/cosign/sign/v1`) whose subject is the
//! image digest; the signature is over the DSSE pre-authentication
//! encoding of the statement. With a key, the bundle's verification
//! material is only a hint; no certificate or transparency log entry is
//! read (keyless signing is not supported).

use base64::Engine as _;
use serde::Deserialize;

pub use super::evidence::{Dsse, pae};
use super::evidence::{Evidence, Found};
use crate::manifest::{Descriptor, ImageIndex, ImageManifest, Manifest};
use crate::registry::RegistryClient;
use crate::{Digest, ImageRef, OciError};

/// The artifact type and layer media type of a cosign v3 bundle.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The in-toto predicate of a cosign image signature.
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Largest bundle read from a registry.
pub const MAX_BUNDLE_BYTES: u64 = 256 << 10;

/// Most referrers examined for one image.
pub const MAX_REFERRERS: usize = 100;

/// The tag of the referrers tag schema for `digest`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// The bundles that refer to `digest` in `r`'s repository.
pub async fn fetch(
    client: &RegistryClient,
    r: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Found>, OciError> {
    let index = match client.get_referrers(r, digest, BUNDLE_MEDIA_TYPE).await? {
        Some(index) => index,
        None => {
            // The referrers tag schema, for registries without the API.
            let tag_ref = r.with_tag(&referrers_tag(digest))?;
            match client.get_manifest(&tag_ref).await {
                Ok(m) => match Manifest::parse(&m.bytes, m.media_type.as_deref()) {
                    Ok(Manifest::Index(index)) => index,
                    _ => return Ok(Vec::new()),
                },
                Err(OciError::NotFound { .. }) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        }
    };
    let bundles: Vec<&Descriptor> = bundle_descriptors(&index);
    if bundles.len() > MAX_REFERRERS {
        return Err(OciError::LimitExceeded {
            what: format!("{}: the referrers of {digest}", r.name()),
            limit: format!("the limit of {MAX_REFERRERS} signature bundles for an image"),
        });
    }
    let mut found = Vec::new();
    for desc in bundles {
        let location = format!("bundle {}", desc.digest);
        match bundle_of(client, r, digest, desc).await {
            Ok(envelopes) => found.extend(envelopes.into_iter().map(|d| Found {
                location: location.clone(),
                content: Ok(Evidence::Dsse(d)),
            })),
            Err(Fetch::Fatal(e)) => return Err(e),
            Err(Fetch::Bad(reason)) => found.push(Found {
                location,
                content: Err(reason),
            }),
        }
    }
    Ok(found)
}

/// The referrers that are cosign bundles.
fn bundle_descriptors(index: &ImageIndex) -> Vec<&Descriptor> {
    index
        .manifests
        .iter()
        .filter(|d| d.artifact_type.as_deref() == Some(BUNDLE_MEDIA_TYPE))
        .collect()
}

enum Fetch {
    Fatal(OciError),
    Bad(String),
}

/// The envelopes of one bundle artifact.
async fn bundle_of(
    client: &RegistryClient,
    r: &ImageRef,
    digest: &Digest,
    desc: &Descriptor,
) -> Result<Vec<Dsse>, Fetch> {
    let bad = |e: OciError| match e {
        e @ (OciError::Unreachable { .. } | OciError::Io { .. }) => Fetch::Fatal(e),
        e => Fetch::Bad(format!(
            "it cannot be read from the registry ({})",
            super::cosign_tag::error_line(&e)
        )),
    };
    let m = client
        .get_manifest_by_digest(r, desc.digest)
        .await
        .map_err(bad)?;
    let manifest: ImageManifest = serde_json::from_slice(&m.bytes)
        .map_err(|e| Fetch::Bad(format!("it is not an image manifest ({e})")))?;
    if manifest.subject.as_ref().map(|s| s.digest) != Some(*digest) {
        return Err(Fetch::Bad("its subject is another image".into()));
    }
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == BUNDLE_MEDIA_TYPE)
        .ok_or_else(|| Fetch::Bad("it has no bundle layer".into()))?;
    let bytes = client
        .get_blob(r, layer, MAX_BUNDLE_BYTES)
        .await
        .map_err(|e| match e {
            e @ (OciError::Unreachable { .. } | OciError::Io { .. }) => Fetch::Fatal(e),
            e => Fetch::Bad(format!(
                "its bundle {} cannot be read from the registry ({})",
                layer.digest,
                super::cosign_tag::error_line(&e)
            )),
        })?;
    envelopes(&bytes).map_err(Fetch::Bad)
}

/// The DSSE signatures of a bundle.
pub fn envelopes(bundle: &[u8]) -> Result<Vec<Dsse>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundle: Bundle =
        serde_json::from_slice(bundle).map_err(|e| format!("it is not a sigstore bundle ({e})"))?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(format!(
            "its bundle is {}, not {BUNDLE_MEDIA_TYPE}",
            bundle.media_type
        ));
    }
    let envelope = bundle.dsse_envelope.ok_or(
        "its bundle holds no DSSE envelope (a message signature is not an image signature)",
    )?;
    let payload = b64
        .decode(envelope.payload.trim())
        .map_err(|_| "its DSSE payload is not base64".to_string())?;
    envelope
        .signatures
        .iter()
        .take(super::cosign_tag::MAX_SIGNATURES)
        .map(|s| {
            let signature = b64
                .decode(s.sig.trim())
                .map_err(|_| "its DSSE signature is not base64".to_string())?;
            Ok(Dsse {
                payload_type: envelope.payload_type.clone(),
                payload: payload.clone(),
                signature,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    digest: std::collections::BTreeMap<String, String>,
}

/// Checks that a DSSE payload whose signature verified is cosign's
/// signature statement for `expected`.
pub fn check(dsse: &Dsse, expected: &Digest) -> Result<(), String> {
    if dsse.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "its payload is {}, not an in-toto statement",
            dsse.payload_type
        ));
    }
    let s: Statement = serde_json::from_slice(&dsse.payload)
        .map_err(|e| format!("its payload is not an in-toto statement ({e})"))?;
    if !s.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(format!(
            "its payload is a {}, not an in-toto statement",
            s.kind
        ));
    }
    if s.predicate_type != SIGN_PREDICATE {
        return Err(format!(
            "it is a {} attestation, not a cosign signature",
            s.predicate_type
        ));
    }
    let hex = expected.hex();
    if s.subject
        .iter()
        .any(|sub| sub.digest.get("sha256") == Some(&hex))
    {
        return Ok(());
    }
    let named: Vec<String> = s
        .subject
        .iter()
        .filter_map(|sub| sub.digest.get("sha256").map(|h| format!("sha256:{h}")))
        .collect();
    Err(format!(
        "it signs another digest, {} (was the tag moved after signing?)",
        if named.is_empty() {
            "none".to_string()
        } else {
            named.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle `cosign sign --key` (v3.1.3) wrote for digest
    /// `sha256:d74bd2a4…cf42`, with the key in
    /// `tests/fixtures/cosign-test.pub`.
    const BUNDLE: &[u8] = include_bytes!("../../tests/fixtures/cosign-bundle.json");
    const BUNDLE_PUB: &[u8] = include_bytes!("../../tests/fixtures/cosign-test.pub");

    fn signed_digest() -> Digest {
        "sha256:d74bd2a4f1a11da2dbb5a67f7983d8e80d2862bbc93db2a983d68f4e76e9cf42"
            .parse()
            .expect("digest")
    }

    #[test]
    fn pae_is_dsses() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_cosign_bundle_verifies_and_names_its_digest() {
        let key = super::super::PublicKey::from_pem("cosign.pub", BUNDLE_PUB).expect("key");
        let envelopes = envelopes(BUNDLE).expect("bundle");
        assert_eq!(envelopes.len(), 1);
        let dsse = &envelopes[0];
        assert!(key.verifies(&dsse.message(), &dsse.signature));
        check(dsse, &signed_digest()).expect("claims");
        let other = Digest::of(b"other");
        let e = check(dsse, &other).expect_err("other digest");
        assert!(
            e.contains("it signs another digest, sha256:d74bd2a4"),
            "{e}"
        );
        // A changed payload no longer verifies.
        let mut tampered = dsse.clone();
        tampered.payload.push(b' ');
        assert!(!key.verifies(&tampered.message(), &tampered.signature));
    }

    #[test]
    fn what_is_not_a_cosign_signature_says_why() {
        let dsse = |payload_type: &str, payload: &str| Dsse {
            payload_type: payload_type.into(),
            payload: payload.as_bytes().to_vec(),
            signature: vec![],
        };
        let d = signed_digest();
        for (dsse, needle) in [
            (dsse("text/plain", "{}"), "not an in-toto statement"),
            (
                dsse(IN_TOTO_PAYLOAD_TYPE, "{}"),
                "not an in-toto statement (missing field",
            ),
            (
                dsse(
                    IN_TOTO_PAYLOAD_TYPE,
                    r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1"}"#,
                ),
                "is a https://slsa.dev/provenance/v1 attestation, not a cosign signature",
            ),
            (
                dsse(
                    IN_TOTO_PAYLOAD_TYPE,
                    r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://sigstore.dev/cosign/sign/v1"}"#,
                ),
                "signs another digest, none",
            ),
        ] {
            let e = check(&dsse, &d).expect_err(needle);
            assert!(e.contains(needle), "{needle}: {e}");
        }
        for (bundle, needle) in [
            ("{}", "not a sigstore bundle"),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}"#,
                "no DSSE envelope",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1"}"#,
                "not application/vnd.dev.sigstore.bundle.v0.3+json",
            ),
        ] {
            let e = envelopes(bundle.as_bytes()).expect_err(needle);
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
