//! Private keys that sign: cosign's encrypted `cosign.key` (the
//! `ENCRYPTED SIGSTORE PRIVATE KEY` PEM `cosign generate-key-pair`
//! writes, and the older `ENCRYPTED COSIGN PRIVATE KEY`), or a plain
//! PKCS#8 / SEC1 ECDSA P-256 key.
//!
//! cosign's encrypted key is JSON (go-securesystemslib's `encrypted`
//! format): an scrypt key derivation from the password, and a NaCl
//! secretbox (XSalsa20-Poly1305) around the PKCS#8 DER key. scrypt,
//! secretbox and ECDSA are the RustCrypto crates' (`scrypt`,
//! `crypto_secretbox`, `p256`); this module only decodes their inputs.

use base64::Engine as _;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use p256::ecdsa::SigningKey as EcdsaKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde::Deserialize;

use super::key::{KeyError, PublicKey};

/// Largest scrypt cost accepted from a key file (2^20; cosign writes
/// 2^15 or 2^16 with r = 8, p = 1), with at most 256 MiB of scrypt memory
/// (128 * r * N bytes) and p at most 4: a key file cannot make wasmpod
/// spend minutes or gigabytes.
const MAX_SCRYPT_LOG_N: u8 = 20;
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_SCRYPT_P: u32 = 4;

/// A key that signs.
pub struct SigningKey {
    key: EcdsaKey,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public.fingerprint())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScryptParams {
    n: u64,
    #[serde(rename = "r")]
    r: u32,
    #[serde(rename = "p")]
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

impl SigningKey {
    /// Reads a private key file. `password` decrypts cosign's encrypted
    /// keys (cosign reads it from `COSIGN_PASSWORD`); plain keys ignore it.
    pub fn from_pem(
        name: impl Into<String>,
        pem: &[u8],
        password: Option<&[u8]>,
    ) -> Result<Self, KeyError> {
        let name = name.into();
        let text = std::str::from_utf8(pem)
            .map_err(|_| KeyError("not a PEM file (it is not text)".into()))?;
        let (label, der) = p256::pkcs8::der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| KeyError(format!("not a PEM file ({e})")))?;
        let key = match label {
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let password = password.ok_or_else(|| {
                    KeyError("is encrypted; set COSIGN_PASSWORD to its password".into())
                })?;
                let pkcs8 = decrypt(&der, password)?;
                EcdsaKey::from_pkcs8_der(&pkcs8)
                    .map_err(|e| KeyError(format!("decrypts to no ECDSA P-256 key ({e})")))?
            }
            "PRIVATE KEY" => EcdsaKey::from_pkcs8_der(&der)
                .map_err(|e| KeyError(format!("not an ECDSA P-256 private key ({e})")))?,
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
                .map(EcdsaKey::from)
                .map_err(|e| KeyError(format!("not an ECDSA P-256 private key ({e})")))?,
            "PUBLIC KEY" => {
                return Err(KeyError(
                    "holds a public key; signing needs the private key (cosign.key)".into(),
                ));
            }
            other => {
                return Err(KeyError(format!(
                    "holds a {other}, not a private key (give cosign.key)"
                )));
            }
        };
        let public = PublicKey::from_verifying_key(name, *key.verifying_key());
        Ok(Self { key, public })
    }

    /// The key's public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// An ECDSA P-256 SHA-256 signature over `message`, ASN.1 DER, as
    /// cosign stores it. Deterministic (RFC 6979): no randomness needed.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        sig.to_der().as_bytes().to_vec()
    }
}

fn decrypt(json: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |what: &str| KeyError(format!("is not a cosign encrypted key ({what})"));
    let e: Encrypted = serde_json::from_slice(json).map_err(|_| bad("not its JSON"))?;
    if e.kdf.name != "scrypt" || e.cipher.name != "nacl/secretbox" {
        return Err(bad(&format!(
            "{} with {}, not scrypt with nacl/secretbox",
            e.kdf.name, e.cipher.name
        )));
    }
    let n = e.kdf.params.n;
    if !n.is_power_of_two() || n < 2 {
        return Err(bad("scrypt N is not a power of two"));
    }
    let log_n = u8::try_from(n.trailing_zeros()).unwrap_or(u8::MAX);
    let memory = 128u64
        .saturating_mul(u64::from(e.kdf.params.r))
        .saturating_mul(n);
    if log_n > MAX_SCRYPT_LOG_N || memory > MAX_SCRYPT_MEMORY || e.kdf.params.p > MAX_SCRYPT_P {
        return Err(bad(
            "scrypt parameters over N=2^20, 256 MiB (128 r N) or p=4; refusing to spend that much",
        ));
    }
    let params = scrypt::Params::new(log_n, e.kdf.params.r, e.kdf.params.p, 32)
        .map_err(|_| bad("invalid scrypt parameters"))?;
    let salt = b64.decode(&e.kdf.salt).map_err(|_| bad("salt"))?;
    let nonce = b64.decode(&e.cipher.nonce).map_err(|_| bad("nonce"))?;
    let ciphertext = b64.decode(&e.ciphertext).map_err(|_| bad("ciphertext"))?;
    if nonce.len() != 24 {
        return Err(bad("nonce"));
    }
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).map_err(|_| bad("scrypt"))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .map_err(|_| KeyError("cannot be decrypted: wrong password (COSIGN_PASSWORD)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cosign generate-key-pair` (cosign v3.1.3) with password
    /// `wasmpod-test`, in `tests/fixtures/cosign-test.{key,pub}`.
    const COSIGN_KEY: &[u8] = include_bytes!("../../tests/fixtures/cosign-test.key");
    const COSIGN_PUB: &[u8] = include_bytes!("../../tests/fixtures/cosign-test.pub");

    #[test]
    fn decrypts_what_cosign_generate_key_pair_writes() {
        let key =
            SigningKey::from_pem("cosign.key", COSIGN_KEY, Some(b"wasmpod-test")).expect("decrypt");
        let public = PublicKey::from_pem("cosign.pub", COSIGN_PUB).expect("public");
        assert_eq!(key.public_key().fingerprint(), public.fingerprint());
        let sig = key.sign(b"payload");
        assert!(public.verifies(b"payload", &sig));
        assert_eq!(sig, key.sign(b"payload"), "deterministic");

        let e = SigningKey::from_pem("cosign.key", COSIGN_KEY, Some(b"wrong")).expect_err("pw");
        assert!(e.0.contains("wrong password"), "{e}");
        let e = SigningKey::from_pem("cosign.key", COSIGN_KEY, None).expect_err("no pw");
        assert!(e.0.contains("set COSIGN_PASSWORD"), "{e}");
    }

    #[test]
    fn plain_keys_and_wrong_files() {
        let ec = EcdsaKey::from_slice(&[5u8; 32]).expect("scalar");
        let pkcs8 =
            p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&ec, Default::default()).expect("pem");
        let key = SigningKey::from_pem("k", pkcs8.as_bytes(), None).expect("pkcs8");
        assert!(key.public_key().verifies(b"m", &key.sign(b"m")));
        let sec1 = p256::SecretKey::from(&ec)
            .to_sec1_pem(Default::default())
            .expect("sec1");
        let key = SigningKey::from_pem("k", sec1.as_bytes(), None).expect("sec1");
        assert!(key.public_key().verifies(b"m", &key.sign(b"m")));

        for (bytes, needle) in [
            (COSIGN_PUB, "holds a public key"),
            (&b"nothing"[..], "not a PEM file"),
            (
                b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJ9\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
                "is not a cosign encrypted key (not its JSON)",
            ),
        ] {
            let e = SigningKey::from_pem("k", bytes, Some(b"")).expect_err(needle);
            assert!(e.0.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn an_expensive_scrypt_is_refused_before_it_runs() {
        // N too large; 4 GiB of memory at an allowed N; too many passes.
        for params in [
            r#"{"N":4294967296,"r":8,"p":1}"#,
            r#"{"N":1048576,"r":32,"p":1}"#,
            r#"{"N":32768,"r":8,"p":16}"#,
        ] {
            expensive(params);
        }
    }

    fn expensive(params: &str) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = format!(
            r#"{{"kdf":{{"name":"scrypt","params":{params},"salt":"AA=="}},"cipher":{{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},"ciphertext":"AA=="}}"#
        );
        let body = b64.encode(json);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        let pem = format!(
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let started = std::time::Instant::now();
        let e = SigningKey::from_pem("k", pem.as_bytes(), Some(b"")).expect_err(params);
        assert!(e.0.contains("refusing to spend that much"), "{params}: {e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
