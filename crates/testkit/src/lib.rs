//! Real components for tests, started on 127.0.0.1 in temporary folders and
//! stopped when dropped.
//!
//! - [`Registry`]: Debian's `docker-registry` (the CNCF distribution
//!   registry), with no auth, htpasswd basic auth, or token auth.
//! - [`TokenIssuer`]: the token service a token-auth registry sends clients
//!   to; it checks a user and password and signs RS256 JWTs with `openssl`.
//! - [`FaultServer`]: answers fixed responses, for faults a real registry
//!   will not produce (oversized manifests, blobs longer than declared).
//! - [`Proxy`]: a TCP proxy that can throttle, so a pull can be killed
//!   midway.
//!
//! - [`Containerd`]: containerd with its own root, state and sockets,
//!   optionally with CRI, CNI and a local sandbox image ([`cri`] has the
//!   CRI v1 client).
//!
//! Missing tools are a hard failure with the install hint, never a skip.

#![allow(missing_debug_implementations)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

pub mod cri;
pub mod image;

fn require(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is not installed: run `make setup` (Debian package {package})")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Status code of `GET path` on `addr`, or `None` if nothing answers.
pub fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Why [`http_get`] got no response.
#[derive(Debug)]
pub enum HttpError {
    /// Nothing accepted the connection.
    Connect(String),
    /// Connected, but no status line came back (the connection was cut).
    NoResponse(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Connect(m) | HttpError::NoResponse(m) => f.write_str(m),
        }
    }
}

/// `GET path` from `addr` over HTTP/1.0 (so the body is never chunked),
/// with 3 s to connect and 10 s to read: the status and the body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String), HttpError> {
    let target: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| HttpError::Connect(format!("{addr}: {e}")))?;
    let mut conn = TcpStream::connect_timeout(&target, Duration::from_secs(3))
        .map_err(|e| HttpError::Connect(format!("connect {addr}: {e}")))?;
    let cut = |e: std::io::Error| HttpError::NoResponse(format!("{addr}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(cut)?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(cut)?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw).map_err(cut)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| HttpError::NoResponse(format!("no status line from {addr}: {raw:?}")))?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, body.to_string()))
}

/// How a [`Registry`] authenticates.
pub enum Auth<'a> {
    None,
    Htpasswd { user: &'a str, password: &'a str },
    Token(&'a TokenIssuer),
}

/// A running `docker-registry`.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl Registry {
    /// Starts a registry with no authentication.
    pub fn start() -> Self {
        Self::start_with(Auth::None)
    }

    pub fn start_with(auth: Auth<'_>) -> Self {
        let bin = require("docker-registry", "docker-registry");
        let mut dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let htpasswd = require("htpasswd", "apache2-utils");
                let out = Command::new(htpasswd)
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("run htpasswd");
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: wasmpod-test\n    path: {}\n",
                    file.display()
                )
            }
            Auth::Token(issuer) => format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                issuer.addr,
                TokenIssuer::SERVICE,
                TokenIssuer::ISSUER,
                issuer.cert.display()
            ),
        };
        // A free port is only free until someone binds it: if another test's
        // registry takes it first, ours exits, so start again elsewhere.
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: wasmpod-test-secret\n{auth_yaml}",
                storage.display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut registry = Self { child, dir, addr };
            if registry.wait_ready() {
                return registry;
            }
            dir = registry.take_dir();
        }
        panic!("docker-registry could not bind a loopback port in 5 attempts");
    }

    /// Waits until our own registry answers. `false` if it exited (its port
    /// was taken); panics if it neither answers nor exits.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Some(200 | 401) = http_status(&self.addr, "/v2/") {
                // Something answers; make sure it is ours, still running.
                std::thread::sleep(Duration::from_millis(100));
                return self.child.try_wait().is_ok_and(|s| s.is_none());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer on {}: {}",
            self.addr,
            self.log()
        );
    }

    /// Hands the temp dir to the next attempt (this one's child is dead).
    fn take_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The registry's storage root (for corrupting blobs on purpose).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file of a blob in the registry's storage.
    pub fn blob_data(&self, digest_hex: &str) -> PathBuf {
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&digest_hex[..2])
            .join(digest_hex)
            .join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token service for a token-auth registry: `GET /token?service=&scope=`
/// with HTTP basic credentials answers `{"token": JWT}`.
pub struct TokenIssuer {
    addr: String,
    cert: PathBuf,
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
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let status = Command::new(&openssl)
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=wasmpod-test-issuer",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl req");
        assert!(status.success(), "openssl req failed");
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

/// Reads a request line and headers; returns the target and the headers.
fn read_request(stream: &mut TcpStream) -> std::io::Result<(String, Vec<(String, String)>)> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((target, headers))
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// One canned answer of a [`FaultServer`].
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Send this Content-Length instead of the body's length (`None` sends
    /// no Content-Length and closes the connection after the body).
    pub content_length: Option<Option<u64>>,
}

/// An HTTP server that answers paths with canned responses (404 otherwise,
/// 200 for `/v2/`).
pub struct FaultServer {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl FaultServer {
    pub fn start(routes: Vec<(String, Canned)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let Ok((target, _)) = read_request(&mut stream) else {
                            continue;
                        };
                        let path = target.split('?').next().unwrap_or("").to_string();
                        let canned = routes
                            .iter()
                            .find(|(p, _)| *p == path)
                            .map(|(_, c)| c.clone());
                        let _ = match canned {
                            Some(c) => {
                                let length = match c.content_length {
                                    None => format!("Content-Length: {}\r\n", c.body.len()),
                                    Some(Some(n)) => format!("Content-Length: {n}\r\n"),
                                    Some(None) => String::new(),
                                };
                                write!(
                                    stream,
                                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{length}Connection: close\r\n\r\n",
                                    c.status, c.content_type
                                )
                                .and_then(|()| stream.write_all(&c.body))
                                .and_then(|()| stream.shutdown(Shutdown::Write))
                            }
                            None if path == "/v2/" => {
                                respond(&mut stream, 200, "application/json", b"{}")
                            }
                            None => respond(
                                &mut stream,
                                404,
                                "application/json",
                                br#"{"errors":[{"code":"NOT_FOUND"}]}"#,
                            ),
                        };
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { addr, stop }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A TCP proxy to `upstream` that, while throttled, forwards at most
/// `bytes_per_tick` every 10 ms in each direction.
pub struct Proxy {
    addr: String,
    throttle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: &str, bytes_per_tick: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let throttle = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s, up) = (throttle.clone(), stop.clone(), upstream.to_string());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&up) else {
                            continue;
                        };
                        for (mut from, mut to) in [
                            (client.try_clone(), server.try_clone()),
                            (server.try_clone(), client.try_clone()),
                        ]
                        .into_iter()
                        .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                        {
                            let (t, s) = (t.clone(), s.clone());
                            std::thread::spawn(move || {
                                let mut buf = vec![0u8; 64 * 1024];
                                while !s.load(Ordering::Relaxed) {
                                    let limit = if t.load(Ordering::Relaxed) {
                                        bytes_per_tick
                                    } else {
                                        buf.len()
                                    };
                                    match from.read(&mut buf[..limit]) {
                                        Ok(0) | Err(_) => break,
                                        Ok(n) => {
                                            if to.write_all(&buf[..n]).is_err() {
                                                break;
                                            }
                                        }
                                    }
                                    if t.load(Ordering::Relaxed) {
                                        std::thread::sleep(Duration::from_millis(10));
                                    }
                                }
                                let _ = to.shutdown(Shutdown::Write);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            throttle,
            stop,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Stops or starts throttling.
    pub fn set_throttled(&self, on: bool) {
        self.throttle.store(on, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits until `f` is true, or panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A filesystem a test mounted (as root), unmounted lazily when dropped,
/// also after a failed assertion. Drop it before the folder it is on.
pub struct Mount(PathBuf);

impl Mount {
    /// `mount -t FSTYPE SOURCE TARGET`, which must succeed.
    pub fn new(fstype: &str, source: &str, target: &Path) -> Self {
        let st = Command::new("mount")
            .args(["-t", fstype, source])
            .arg(target)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mount -t {fstype} {source} {} (needs root)",
            target.display()
        );
        Self(target.to_path_buf())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// A containerd daemon with its own root, state and socket, and a given
/// folder first on its `PATH` (where the shim under test is).
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    release: Release,
    path: String,
    env: Vec<(String, String)>,
    cni: Option<cri::CniNetwork>,
}

/// Which containerd runs: the `containerd` and `ctr` binaries.
#[derive(Debug, Clone)]
pub struct Release {
    pub containerd: PathBuf,
    pub ctr: PathBuf,
}

impl Release {
    /// Debian's containerd (1.6) from `PATH`.
    pub fn debian() -> Self {
        Self {
            containerd: require("containerd", "containerd"),
            ctr: require("ctr", "containerd"),
        }
    }

    /// containerd 1.7 built from upstream sources by
    /// `tests/containerd/build.sh` (built on first use; reused after).
    /// Images with Wasm layers need containerd 1.7.7 or later.
    pub fn v1_7() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/containerd/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/containerd/build.sh");
        assert!(
            out.status.success(),
            "tests/containerd/build.sh failed (it needs Go: run `scripts/setup.sh test`)"
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Self {
            containerd: bin.join("containerd"),
            ctr: bin.join("ctr"),
        }
    }
}

/// What a CRI-enabled [`Containerd`] is set up with.
pub struct CriSetup<'a> {
    /// The static native binary the sandbox (pause) image runs as `/pause`.
    pub pause_binary: &'a Path,
    /// Registries (`127.0.0.1:PORT`) pulled from over plain HTTP.
    pub plain_http_registries: &'a [&'a str],
}

/// The name the locally built sandbox image is imported under.
pub const PAUSE_IMAGE: &str = "localhost/wasmpod-test/pause:1";

impl Containerd {
    /// Starts containerd. `bin_dir` goes first on its PATH; `env` is added
    /// to its environment (and so to the shims it starts). `extra_config` is
    /// appended to config.toml (version 2). The CRI plugin is disabled
    /// unless `extra_config` mentions it.
    pub fn start(bin_dir: &Path, env: &[(&str, &str)], extra_config: &str) -> Self {
        Self::start_in(
            Self::new_dir(),
            Release::debian(),
            bin_dir,
            env,
            extra_config,
        )
    }

    /// [`Self::start`] with another containerd release.
    pub fn start_release(
        release: Release,
        bin_dir: &Path,
        env: &[(&str, &str)],
        extra_config: &str,
    ) -> Self {
        Self::start_in(Self::new_dir(), release, bin_dir, env, extra_config)
    }

    fn new_dir() -> tempfile::TempDir {
        // Socket paths must fit in 108 bytes: keep the folder short.
        tempfile::Builder::new()
            .prefix("ctd")
            .tempdir_in("/tmp")
            .expect("tempdir")
    }

    fn start_in(
        dir: tempfile::TempDir,
        release: Release,
        bin_dir: &Path,
        env: &[(&str, &str)],
        extra_config: &str,
    ) -> Self {
        let d = dir.path().display().to_string();
        let disabled = if extra_config.contains("io.containerd.grpc.v1.cri") {
            ""
        } else {
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        };
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{disabled}\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c-ttrpc.sock\"\n\
             [debug]\n  level = \"info\"\n{extra_config}\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).expect("write config");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = Self::spawn(&release.containerd, dir.path(), &path, &env);
        let c = Self {
            child,
            dir,
            release,
            path,
            env,
            cni: None,
        };
        c.wait_ready();
        c
    }

    /// Starts containerd with its CRI plugin serving on [`Self::socket`]:
    /// runtime handlers `wasmpod` (our shim) and `runc`, a CNI bridge
    /// network of its own (Debian's containernetworking-plugins), plain
    /// HTTP to the given registries, and a sandbox image built from
    /// `pause_binary` and imported (there is no internet to pull one from).
    pub fn start_cri(bin_dir: &Path, env: &[(&str, &str)], setup: &CriSetup<'_>) -> Self {
        Self::start_cri_release(Release::debian(), bin_dir, env, setup)
    }

    /// [`Self::start_cri`] with another containerd release.
    pub fn start_cri_release(
        release: Release,
        bin_dir: &Path,
        env: &[(&str, &str)],
        setup: &CriSetup<'_>,
    ) -> Self {
        let cni_bin = Path::new("/usr/lib/cni");
        assert!(
            cni_bin.join("bridge").is_file() && cni_bin.join("host-local").is_file(),
            "CNI plugins are not installed: run `make setup` (Debian package containernetworking-plugins)"
        );
        let dir = Self::new_dir();
        let conf_dir = dir.path().join("cni");
        let network = cri::CniNetwork::create(&conf_dir, &dir.path().join("cni-state"));
        let mut mirrors = String::new();
        for r in setup.plain_http_registries {
            mirrors.push_str(&format!(
                "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{r}\"]\n  endpoint = [\"http://{r}\"]\n"
            ));
        }
        let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
        let config = format!(
            "[{cri}]\n  sandbox_image = \"{PAUSE_IMAGE}\"\n  stream_server_address = \"127.0.0.1\"\n  \
             stream_server_port = \"0\"\n  enable_selinux = false\n  restrict_oom_score_adj = true\n  \
             disable_hugetlb_controller = true\n  tolerate_missing_hugetlb_controller = true\n\
             [{cri}.containerd]\n  default_runtime_name = \"runc\"\n\
             [{cri}.containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.wasmpod]\n  runtime_type = \"io.containerd.wasmpod.v1\"\n  \
             container_annotations = [\"io.kubernetes.container.ports\"]\n\
             [{cri}.cni]\n  bin_dir = \"{}\"\n  conf_dir = \"{}\"\n  max_conf_num = 1\n{mirrors}",
            cni_bin.display(),
            conf_dir.display(),
        );
        let mut c = Self::start_in(dir, release, bin_dir, env, &config);
        c.cni = Some(network);
        let archive = cri::oci_archive(
            PAUSE_IMAGE,
            &[(
                "/pause",
                &std::fs::read(setup.pause_binary).expect("read the pause binary"),
                0o755,
            )],
            &["/pause"],
        );
        let path = c.dir().join("pause.tar");
        std::fs::write(&path, archive).expect("write pause.tar");
        let out = Command::new(&c.release.ctr)
            .args(["-a", &c.socket(), "-n", "k8s.io", "images", "import"])
            .arg(&path)
            .output()
            .expect("ctr images import");
        assert!(
            out.status.success(),
            "import the pause image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// The CNI network of a [`Self::start_cri`] containerd.
    pub fn cni(&self) -> Option<&cri::CniNetwork> {
        self.cni.as_ref()
    }

    fn spawn(bin: &Path, dir: &Path, path: &str, env: &[(String, String)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("containerd.log"))
            .expect("log");
        Command::new(bin)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("PATH", path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd")
    }

    fn wait_ready(&self) {
        let sock = self.socket();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = Command::new(&self.release.ctr)
                .args(["-a", &sock, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> String {
        self.dir.path().join("c.sock").display().to_string()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCKET -n wasmpod ARGS...`.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new(&self.release.ctr);
        c.args(["-a", &self.socket(), "-n", "wasmpod"]);
        c
    }

    /// Restarts containerd (SIGTERM, wait, start again with the same
    /// config), leaving the shims running, as a daemon upgrade does.
    pub fn restart(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.child = Self::spawn(
            &self.release.containerd,
            self.dir.path(),
            &self.path,
            &self.env,
        );
        self.wait_ready();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.cni.is_some() {
            // Pods a failed test left behind: stop and remove them through
            // CRI, which also tears down their network namespaces. On a
            // thread of its own: this drop may run inside a test's runtime.
            let socket = self.socket();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async { cri::Cri::connect(&socket).await.remove_all_pods().await });
            })
            .join();
        }
        // Kill what it started, then itself; unmount what the shims mounted.
        let ctr = self.release.ctr.clone();
        let _ = Command::new(&ctr)
            .args(["-a", &self.socket(), "-n", "wasmpod", "task", "ls", "-q"])
            .output()
            .map(|o| {
                for id in String::from_utf8_lossy(&o.stdout).lines() {
                    let _ = Command::new(&ctr)
                        .args([
                            "-a",
                            &self.socket(),
                            "-n",
                            "wasmpod",
                            "task",
                            "kill",
                            "-s",
                            "SIGKILL",
                            id,
                        ])
                        .output();
                }
            });
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shims ignore SIGTERM (containerd stops them through the API).
        let _ = Command::new("pkill")
            .args(["-9", "-f", "--", &format!("-address {}", self.socket())])
            .stderr(Stdio::null())
            .status();
        // ctr's default cgroupsPath is /<namespace>/<id>, so shims join
        // /wasmpod; remove it where it is empty (another test may still use it).
        if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                let _ = std::fs::remove_dir(d.path().join("wasmpod"));
            }
        }
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let prefix = self.dir.path().display().to_string();
            let mut targets: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|t| t.starts_with(&prefix))
                .collect();
            targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
            for t in targets {
                let _ = Command::new("umount").args(["-l", t]).status();
            }
        }
    }
}
