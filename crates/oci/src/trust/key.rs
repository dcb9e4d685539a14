//! Public keys that verify signatures: ECDSA P-256 in a PEM `PUBLIC KEY`
//! block (SubjectPublicKeyInfo), which is what `cosign generate-key-pair`
//! writes to `cosign.pub`.
//!
//! The arithmetic is the `p256` crate's (RustCrypto); nothing here does
//! more than decode, compare and call it.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};

use crate::Digest;

/// Largest key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 64 << 10;

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// A public key that may verify signatures.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    fingerprint: Digest,
    name: String,
    expires: Option<time::OffsetDateTime>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl PublicKey {
    /// Reads a PEM public key. `name` is how messages call it (its path).
    pub fn from_pem(name: impl Into<String>, pem: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| KeyError("not a PEM file (it is not text)".into()))?;
        let label = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
            .ok_or_else(|| KeyError("not a PEM file (no -----BEGIN line)".into()))?;
        match label {
            "PUBLIC KEY" => {}
            l if l.contains("PRIVATE KEY") => {
                return Err(KeyError(format!(
                    "holds a private key ({l}); give the public key (cosign.pub)"
                )));
            }
            l => {
                return Err(KeyError(format!(
                    "holds a {l}, not a PUBLIC KEY (give cosign.pub)"
                )));
            }
        }
        let key = VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| {
            KeyError(format!(
                "not an ECDSA P-256 public key, the kind cosign generate-key-pair makes ({e})"
            ))
        })?;
        Ok(Self::from_verifying_key(name, key))
    }

    pub(crate) fn from_verifying_key(name: impl Into<String>, key: VerifyingKey) -> Self {
        // The SubjectPublicKeyInfo of a valid key always encodes.
        let der = key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        Self {
            key,
            fingerprint: Digest::of(&der),
            name: name.into(),
            expires: None,
        }
    }

    /// The same key, verifying nothing after `expires`.
    pub fn with_expiry(mut self, expires: Option<time::OffsetDateTime>) -> Self {
        self.expires = expires;
        self
    }

    /// sha256 of the key's DER SubjectPublicKeyInfo: the same whatever
    /// file or PEM layout it came from.
    pub fn fingerprint(&self) -> Digest {
        self.fingerprint
    }

    /// Its path, as the policy or flag named it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn expires(&self) -> Option<time::OffsetDateTime> {
        self.expires
    }

    /// Whether the key has expired at `now`.
    pub fn expired_at(&self, now: time::OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// The key in PEM, as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap_or_default()
    }

    /// Whether `signature` (ASN.1 DER, as cosign stores it) is this key's
    /// ECDSA P-256 SHA-256 signature over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        DerSignature::from_bytes(signature).is_ok_and(|sig| self.key.verify(message, &sig).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    fn key_pair(seed: u8) -> (SigningKey, PublicKey) {
        let sk = SigningKey::from_slice(&[seed; 32]).expect("scalar");
        let pk = PublicKey::from_pem(
            "test.pub",
            sk.verifying_key()
                .to_public_key_pem(Default::default())
                .expect("pem")
                .as_bytes(),
        )
        .expect("public key");
        (sk, pk)
    }

    #[test]
    fn verifies_its_own_signatures_only() {
        let (sk, pk) = key_pair(7);
        let (_, other) = key_pair(8);
        let sig: p256::ecdsa::Signature = sk.sign(b"payload");
        let der = sig.to_der();
        assert!(pk.verifies(b"payload", der.as_bytes()));
        assert!(!pk.verifies(b"payloae", der.as_bytes()));
        assert!(!other.verifies(b"payload", der.as_bytes()));
        assert!(!pk.verifies(b"payload", b"not der"));
        assert!(!pk.verifies(b"payload", &[]));
        assert_ne!(pk.fingerprint(), other.fingerprint());
        // The fingerprint does not depend on the PEM's layout.
        let again = PublicKey::from_pem("again", format!("\n\n{}\n", pk.to_pem()).as_bytes())
            .expect("again");
        assert_eq!(again.fingerprint(), pk.fingerprint());
    }

    #[test]
    fn malformed_and_wrong_kinds_of_keys_are_named() {
        let (sk, pk) = key_pair(9);
        let private =
            p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&sk, Default::default()).expect("pem");
        let mut truncated = pk.to_pem();
        truncated.replace_range(40..60, "");
        // An RSA key's SubjectPublicKeyInfo (512 bits, enough to parse).
        let rsa = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMnb6C1VpGm4D9z2bd0SKr0QuS7pXA2s\nyi8WvD4Sp4mOl1sxjBAaWg7F1EDbgXb1wz1rBYtzYkwkNhx1aGz0vX0CAwEAAQ==\n-----END PUBLIC KEY-----\n";
        for (bytes, needle) in [
            (&b"\xff\xfe"[..], "not a PEM file (it is not text)"),
            (b"hello", "no -----BEGIN line"),
            (private.as_bytes(), "holds a private key (PRIVATE KEY); give the public key"),
            (
                b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
                "holds a private key (ENCRYPTED SIGSTORE PRIVATE KEY)",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "holds a CERTIFICATE, not a PUBLIC KEY",
            ),
            (truncated.as_bytes(), "not an ECDSA P-256 public key"),
            (rsa.as_bytes(), "not an ECDSA P-256 public key"),
        ] {
            let e = PublicKey::from_pem("k", bytes).expect_err(needle);
            assert!(e.0.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn expiry_is_an_instant() {
        let (_, pk) = key_pair(3);
        let t = time::macros::datetime!(2025-06-30 0:00 UTC);
        let pk = pk.with_expiry(Some(t));
        assert!(!pk.expired_at(time::macros::datetime!(2025-06-29 23:59:59 UTC)));
        assert!(pk.expired_at(t));
    }
}
