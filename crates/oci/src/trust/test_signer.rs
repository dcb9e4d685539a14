//! Keys and signatures for the trust module's unit tests: P-256 keys from
//! a fixed seed, and signatures in both of cosign's layouts, as
//! [`Found`] would hold them once fetched.

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;

use super::PublicKey;
use super::cosign_bundle::{Dsse, IN_TOTO_PAYLOAD_TYPE, SIGN_PREDICATE};
use super::cosign_tag::Signed;
use super::simple_signing;
use super::verify::{Evidence, Found};
use crate::{Digest, ImageRef};

/// A private key and its public half, named `name`.
pub(crate) struct Signer(pub(crate) p256::ecdsa::SigningKey, pub(crate) PublicKey);

/// The key made from `seed`.
pub(crate) fn signer(seed: u8, name: &str) -> Signer {
    let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("scalar");
    let pem = sk
        .verifying_key()
        .to_public_key_pem(Default::default())
        .expect("pem");
    let pk = PublicKey::from_pem(name, pem.as_bytes()).expect("key");
    Signer(sk, pk)
}

/// The tests' clock.
pub(crate) fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-01-01 0:00 UTC)
}

/// cosign's simple-signing payload for `d` in `localhost:5000/app`.
pub(crate) fn payload(d: &Digest) -> Vec<u8> {
    simple_signing::payload(&ImageRef::parse("localhost:5000/app").expect("ref"), d)
}

impl Signer {
    /// An ASN.1 DER signature over `message`.
    pub(crate) fn der(&self, message: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::Signature = self.0.sign(message);
        sig.to_der().as_bytes().to_vec()
    }

    /// A legacy-layout signature over `payload`, found as layer 1.
    pub(crate) fn sign(&self, payload: Vec<u8>) -> Found {
        self.layer(1, payload)
    }

    /// A legacy-layout signature over `payload`, found as layer `layer`.
    pub(crate) fn layer(&self, layer: usize, payload: Vec<u8>) -> Found {
        Found {
            location: format!("sha256-x.sig layer {layer}"),
            content: Ok(Evidence::SimpleSigning(Signed {
                signature: self.der(&payload),
                payload,
            })),
        }
    }

    /// A legacy layer signing the payload for `d`.
    pub(crate) fn legacy(&self, layer: usize, d: &Digest) -> Found {
        self.layer(layer, payload(d))
    }

    /// A bundle whose statement names `d`.
    pub(crate) fn bundle(&self, d: &Digest) -> Found {
        let payload = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app", "digest": {"sha256": d.hex()}}],
            "predicateType": SIGN_PREDICATE,
            "predicate": {},
        })
        .to_string()
        .into_bytes();
        let mut dsse = Dsse {
            payload_type: IN_TOTO_PAYLOAD_TYPE.into(),
            payload,
            signature: vec![],
        };
        dsse.signature = self.der(&dsse.message());
        Found {
            location: "bundle sha256:b".into(),
            content: Ok(Evidence::Dsse(dsse)),
        }
    }
}
