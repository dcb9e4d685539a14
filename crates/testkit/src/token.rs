//! [`TokenIssuer`]: the token service a token-auth [`Registry`] sends
//! clients to; it checks a user and password and signs RS256 JWTs with
//! `openssl`.
//!
//! [`Registry`]: crate::Registry

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::cert::SelfSigned;
use crate::http::{read_request, respond};
use crate::tools::require;

/// A token service for a token-auth registry: `GET /token?service=&scope=`
/// with HTTP basic credentials answers `{"token": JWT}`.
pub struct TokenIssuer {
    pub(crate) addr: String,
    pub(crate) cert: PathBuf,
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

impl TokenIssuer {
    pub const SERVICE: &'static str = "wasmpod-test-registry";
    pub const ISSUER: &'static str = "wasmpod-test-issuer";

    /// Starts an issuer that accepts exactly `user` / `password`.
    pub fn start(user: &str, password: &str) -> Self {
        let openssl = require("openssl", "openssl");
        let dir = tempfile::tempdir().expect("tempdir");
        let SelfSigned { key, cert } =
            SelfSigned::create(dir.path(), "/CN=wasmpod-test-issuer", &[]);
        let der = Command::new(&openssl)
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("openssl x509");
        assert!(der.status.success());
        let x5c = base64::engine::general_purpose::STANDARD.encode(der.stdout);

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicU64::new(0));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        {
            let stop = stop.clone();
            let issued = issued.clone();
            let key = key.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = serve_token(stream, &expected, &key, &x5c, &openssl, &issued);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        Self {
            addr,
            cert,
            stop,
            issued,
            _dir: dir,
        }
    }

    /// How many tokens were handed out.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_token(
    mut stream: TcpStream,
    expected_auth: &str,
    key: &Path,
    x5c: &str,
    openssl: &Path,
    issued: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (target, headers) = read_request(&mut stream)?;
    let authorized = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == expected_auth);
    if !authorized {
        return respond(
            &mut stream,
            401,
            "application/json",
            br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        );
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut access = Vec::new();
    for pair in query.split('&') {
        if let Some(scope) = pair.strip_prefix("scope=") {
            let scope = percent_decode(scope);
            let parts: Vec<&str> = scope.split(':').collect();
            if let [kind, name, actions] = parts.as_slice() {
                access.push(serde_json::json!({
                    "type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }));
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": TokenIssuer::ISSUER, "sub": "test", "aud": TokenIssuer::SERVICE,
        "exp": now + 600, "nbf": now - 60, "iat": now,
        "jti": format!("{now}-{}", issued.load(Ordering::Relaxed)),
        "access": access,
    });
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let mut child = Command::new(openssl)
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?
        .write_all(signing_input.as_bytes())?;
    let out = child.wait_with_output()?;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out.stdout);
    let token = format!("{signing_input}.{sig}");
    issued.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({"token": token, "expires_in": 600}).to_string();
    respond(&mut stream, 200, "application/json", body.as_bytes())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
