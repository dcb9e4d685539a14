//! cosign's "simple signing" payload: the JSON document a cosign signature
//! signs, which names the manifest digest it vouches for.
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"ghcr.io/org/app"},
//!  "image":{"docker-manifest-digest":"sha256:…"},
//!  "type":"cosign container image signature"},"optional":null}
//! ```
//!
//! What is checked is what cosign's own `verify` checks: the type, and
//! that the digest is the image's. `docker-reference` is not compared (an
//! image copied to another registry keeps its signature, as with cosign,
//! Kyverno and sigstore's policy-controller).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Digest, ImageRef};

/// `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// Largest payload read from a registry.
pub const MAX_PAYLOAD_BYTES: u64 = 256 << 10;

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    // cosign writes `null` when there are no annotations.
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The payload cosign would sign for `digest` in `r`'s repository, byte
/// for byte (the repository as go-containerregistry names it: Docker
/// Hub as `index.docker.io`).
pub fn payload(r: &ImageRef, digest: &Digest) -> Vec<u8> {
    let registry = match r.registry() {
        crate::reference::DEFAULT_REGISTRY => "index.docker.io",
        other => other,
    };
    let p = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: format!("{registry}/{}", r.repository()),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            kind: SIGNATURE_TYPE.into(),
        },
        optional: None,
    };
    // Plain strings and maps always serialize.
    serde_json::to_vec(&p).unwrap_or_default()
}

/// Checks that a payload whose signature verified vouches for `expected`.
/// The error says why not, for the refusal message.
pub fn check(payload: &[u8], expected: &Digest) -> Result<(), String> {
    if payload.len() as u64 > MAX_PAYLOAD_BYTES {
        return Err(format!("its payload is over {MAX_PAYLOAD_BYTES} bytes"));
    }
    let p: Payload = serde_json::from_slice(payload)
        .map_err(|e| format!("its payload is not cosign's simple signing JSON ({e})"))?;
    if p.critical.kind != SIGNATURE_TYPE {
        return Err(format!(
            "its payload is of type {:?}, not {SIGNATURE_TYPE:?}",
            p.critical.kind
        ));
    }
    let signed: Digest = p
        .critical
        .image
        .docker_manifest_digest
        .parse()
        .map_err(|e| format!("its payload names no valid digest ({e})"))?;
    if signed != *expected {
        return Err(format!(
            "it signs another digest, {signed} (was the tag moved after signing?)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_cosigns_byte_for_byte() {
        let d = Digest::of(b"hello");
        let r = ImageRef::parse("localhost:5000/app:v1").expect("ref");
        assert_eq!(
            String::from_utf8(payload(&r, &d)).expect("utf-8"),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"localhost:5000/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let hub = ImageRef::parse("busybox").expect("ref");
        assert!(
            String::from_utf8(payload(&hub, &d))
                .expect("utf-8")
                .contains(r#""docker-reference":"index.docker.io/library/busybox""#)
        );
        check(&payload(&r, &d), &d).expect("own payload");
    }

    #[test]
    fn checks_type_and_digest() {
        let d = Digest::of(b"hello");
        let other = Digest::of(b"other");
        let r = ImageRef::parse("localhost:5000/app").expect("ref");
        let e = check(&payload(&r, &other), &d).expect_err("other digest");
        assert!(
            e.contains(&format!("it signs another digest, {other}")),
            "{e}"
        );
        let with_annotations = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":{{"a":"b"}},"extra":1}}"#
        );
        check(with_annotations.as_bytes(), &d).expect("annotations and unknown fields");
        for (text, needle) in [
            ("{}".to_string(), "not cosign's simple signing JSON"),
            (
                format!(
                    r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"something else"}},"optional":null}}"#
                ),
                "of type \"something else\"",
            ),
            (
                r#"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha512:00"},"type":"cosign container image signature"},"optional":null}"#.into(),
                "names no valid digest",
            ),
        ] {
            let e = check(text.as_bytes(), &d).expect_err(needle);
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let big = vec![b' '; (MAX_PAYLOAD_BYTES + 1) as usize];
        assert!(check(&big, &d).expect_err("big").contains("over"));
    }
}
