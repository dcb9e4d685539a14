//! cosign's signature layout in a registry, the one every cosign version
//! reads: the tag `sha256-<hex>.sig` in the image's own repository names an
//! image manifest with one layer per signature. Each layer is a simple
//! signing payload (`application/vnd.dev.cosign.simplesigning.v1+json`)
//! and carries its signature, base64 ASN.1 DER, in the annotation
//! `dev.cosignproject.cosign/signature`.
//!
//! This module reads those layers (bounded: the manifest as any manifest,
//! at most [`MAX_SIGNATURES`] layers, each payload at most
//! [`MAX_PAYLOAD_BYTES`]) and writes them, appending to what is there as
//! `cosign sign` does. It decides nothing: [`super::verify`] does.

use std::collections::BTreeMap;

use base64::Engine as _;

pub use super::evidence::Signed;
use super::evidence::{Evidence, Found};
use super::signing_key::SigningKey;
use super::simple_signing::{self, MAX_PAYLOAD_BYTES};
use crate::manifest::{Descriptor, ImageManifest, Manifest};
use crate::registry::RegistryClient;
use crate::{Digest, ImageRef, OciError, media};

/// The media type of a signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The layer annotation that holds the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Most signature layers read from one signature manifest.
pub const MAX_SIGNATURES: usize = 100;

/// Longest signature annotation read (an ECDSA P-256 DER signature is at
/// most 72 bytes, 96 in base64).
const MAX_SIGNATURE_CHARS: usize = 4096;

/// The tag cosign keeps the signatures of `digest` under.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

/// The signatures of `digest` in `r`'s repository. None when the
/// signature tag does not exist. Registry failures that are not about the
/// signatures (the registry cannot be reached, refuses credentials) are
/// errors; anything wrong with one signature is that [`Found`]'s content.
pub async fn fetch(
    client: &RegistryClient,
    r: &ImageRef,
    digest: &Digest,
) -> Result<Vec<Found>, OciError> {
    let tag = signature_tag(digest);
    let sig_ref = r.with_tag(&tag)?;
    let fetched = match client.get_manifest(&sig_ref).await {
        Ok(m) => m,
        Err(OciError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let manifest = match Manifest::parse(&fetched.bytes, fetched.media_type.as_deref()) {
        Ok(Manifest::Image(m)) => *m,
        Ok(Manifest::Index(_)) => {
            return Ok(vec![Found {
                location: tag,
                content: Err("it is an image index, not a signature manifest".into()),
            }]);
        }
        Err(reason) => {
            return Ok(vec![Found {
                location: tag,
                content: Err(reason),
            }]);
        }
    };
    if manifest.layers.len() > MAX_SIGNATURES {
        return Err(OciError::LimitExceeded {
            what: format!("{}: {tag} ({} signatures)", r.name(), manifest.layers.len()),
            limit: format!("the limit of {MAX_SIGNATURES} signatures for an image"),
        });
    }
    let mut found = Vec::with_capacity(manifest.layers.len());
    for (i, layer) in manifest.layers.iter().enumerate() {
        let location = format!("{tag} layer {}", i + 1);
        let content = match signature_of(layer) {
            Err(reason) => Err(reason),
            Ok(signature) => match client.get_blob(&sig_ref, layer, MAX_PAYLOAD_BYTES).await {
                Ok(payload) => Ok(Evidence::SimpleSigning(Signed { payload, signature })),
                Err(e @ OciError::Unreachable { .. }) => return Err(e),
                Err(e) => Err(format!(
                    "its payload {} cannot be read from the registry ({})",
                    layer.digest,
                    error_line(&e)
                )),
            },
        };
        found.push(Found { location, content });
    }
    Ok(found)
}

/// The signature bytes a layer carries, or why it carries none.
fn signature_of(layer: &Descriptor) -> Result<Vec<u8>, String> {
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE {
        return Err(format!(
            "it is {}, not a simple signing payload",
            layer.media_type
        ));
    }
    if layer.size > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "its payload is {} bytes, over the limit of {MAX_PAYLOAD_BYTES}",
            layer.size
        ));
    }
    let b64 = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        .ok_or_else(|| format!("it has no {SIGNATURE_ANNOTATION} annotation"))?;
    if b64.len() > MAX_SIGNATURE_CHARS {
        return Err("its signature annotation is too long".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| "its signature annotation is not base64".into())
}

/// An error and its causes on one line, for a message about one signature.
pub(crate) fn error_line(e: &OciError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A signature manifest and the blobs it needs uploaded.
#[derive(Debug, Clone)]
pub struct SignatureImage {
    pub manifest: Vec<u8>,
    pub config: (Descriptor, Vec<u8>),
    pub payload: (Descriptor, Vec<u8>),
}

/// The signature manifest with `signed` added to the layers of `existing`
/// (the signature tag's manifest, if there is one), as `cosign sign` does.
/// A signature already there is not added twice.
pub fn signature_image(existing: Option<&ImageManifest>, signed: &Signed) -> SignatureImage {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&signed.signature);
    let mut layer = Descriptor::new(SIMPLE_SIGNING_MEDIA_TYPE, &signed.payload);
    layer.annotations = Some(BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), b64)]));
    let mut layers: Vec<Descriptor> = existing
        .map(|m| {
            m.layers
                .iter()
                .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if !layers.contains(&layer) {
        layers.push(layer.clone());
    }
    // cosign's config: an empty image whose rootfs lists the layers.
    let config = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        },
        "config": {},
    });
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let config_desc = Descriptor::new(media::OCI_CONFIG, &config);
    let manifest = ImageManifest::oci(config_desc.clone(), layers);
    SignatureImage {
        manifest: serde_json::to_vec(&manifest).unwrap_or_default(),
        config: (config_desc, config),
        payload: (layer, signed.payload.clone()),
    }
}

/// Signs `digest` (an image in `r`'s repository) with `key` and adds the
/// signature under the signature tag. Returns the tag.
pub async fn push(
    client: &RegistryClient,
    r: &ImageRef,
    digest: &Digest,
    key: &SigningKey,
) -> Result<String, OciError> {
    let payload = simple_signing::payload(r, digest);
    let signed = Signed {
        signature: key.sign(&payload),
        payload,
    };
    let tag = signature_tag(digest);
    let sig_ref = r.with_tag(&tag)?;
    let existing = match client.get_manifest(&sig_ref).await {
        Ok(m) => match Manifest::parse(&m.bytes, m.media_type.as_deref()) {
            Ok(Manifest::Image(m)) => Some(*m),
            // Not a signature manifest: replaced by one.
            _ => None,
        },
        Err(OciError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let image = signature_image(existing.as_ref(), &signed);
    let progress = crate::NoProgress;
    for (desc, bytes) in [&image.payload, &image.config] {
        client
            .push_blob(
                &sig_ref,
                desc,
                bytes::Bytes::copy_from_slice(bytes),
                &progress,
            )
            .await?;
    }
    client
        .put_manifest(&sig_ref, &tag, media::OCI_MANIFEST, &image.manifest)
        .await?;
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(n: u8) -> Signed {
        Signed {
            payload: vec![b'p', n],
            signature: vec![0x30, n],
        }
    }

    #[test]
    fn the_tag_is_cosigns() {
        let d = Digest::of(b"hello");
        assert_eq!(
            signature_tag(&d),
            "sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.sig"
        );
    }

    #[test]
    fn signatures_are_appended_once_and_read_back() {
        let first = signature_image(None, &signed(1));
        let m: ImageManifest = serde_json::from_slice(&first.manifest).expect("manifest");
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.config.media_type, media::OCI_CONFIG);
        assert_eq!(signature_of(&m.layers[0]), Ok(vec![0x30, 1]));
        let config: serde_json::Value = serde_json::from_slice(&first.config.1).expect("config");
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            Digest::of(b"p\x01").to_string()
        );

        let second = signature_image(Some(&m), &signed(2));
        let m2: ImageManifest = serde_json::from_slice(&second.manifest).expect("manifest");
        assert_eq!(m2.layers.len(), 2);
        assert_eq!(m2.layers[0], m.layers[0]);
        let again = signature_image(Some(&m2), &signed(2));
        let m3: ImageManifest = serde_json::from_slice(&again.manifest).expect("manifest");
        assert_eq!(
            m3.layers, m2.layers,
            "the same signature is not added twice"
        );
    }

    #[test]
    fn layers_that_carry_no_signature_say_why() {
        let mut layer = Descriptor::new(SIMPLE_SIGNING_MEDIA_TYPE, b"payload");
        assert!(
            signature_of(&layer)
                .expect_err("none")
                .contains("has no dev.cosignproject.cosign/signature")
        );
        layer.annotations = Some(BTreeMap::from([(SIGNATURE_ANNOTATION.into(), "!!".into())]));
        assert!(
            signature_of(&layer)
                .expect_err("b64")
                .contains("not base64")
        );
        layer.annotations = Some(BTreeMap::from([(
            SIGNATURE_ANNOTATION.into(),
            "A".repeat(5000),
        )]));
        assert!(signature_of(&layer).expect_err("long").contains("too long"));
        let other = Descriptor::new(media::WASM_LAYER, b"x");
        assert!(
            signature_of(&other)
                .expect_err("type")
                .contains("not a simple signing payload")
        );
        let mut big = Descriptor::new(SIMPLE_SIGNING_MEDIA_TYPE, b"x");
        big.size = MAX_PAYLOAD_BYTES + 1;
        assert!(
            signature_of(&big)
                .expect_err("size")
                .contains("over the limit")
        );
    }
}
