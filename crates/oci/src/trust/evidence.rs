//! What a signature found in a registry is, in either of cosign's
//! layouts, before anything is decided about it: the fetchers
//! (`cosign_tag`, `cosign_bundle`) make these, and `verify` judges them.

use std::borrow::Cow;

use super::key::PublicKey;

/// One signature as found in the registry, or why it cannot be one.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where: `sha256-….sig layer N`, or `bundle sha256:…`.
    pub location: String,
    pub content: Result<Evidence, String>,
}

/// A signature in one of cosign's two layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The `sha256-<hex>.sig` tag: a simple signing payload.
    SimpleSigning(Signed),
    /// A sigstore bundle: a DSSE envelope around an in-toto statement.
    Dsse(Dsse),
}

impl Evidence {
    /// The bytes the signature is over.
    pub(crate) fn message(&self) -> Cow<'_, [u8]> {
        match self {
            Self::SimpleSigning(s) => Cow::Borrowed(&s.payload),
            Self::Dsse(d) => Cow::Owned(d.message()),
        }
    }

    pub(crate) fn signature(&self) -> &[u8] {
        match self {
            Self::SimpleSigning(s) => &s.signature,
            Self::Dsse(d) => &d.signature,
        }
    }

    /// Whether `key` made this signature.
    pub(crate) fn by(&self, key: &PublicKey) -> bool {
        key.verifies(&self.message(), self.signature())
    }
}

/// A payload and the signature over it, both as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A DSSE envelope's payload and one of its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsse {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Dsse {
    /// What the signature signs: DSSE's pre-authentication encoding.
    pub fn message(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// `DSSEv1 <len> <type> <len> <payload>`, the bytes DSSE signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}
