//! The WASI 0.3 conformance fixtures (`shared/conformance/wasi-testsuite-p3`,
//! a subset of the upstream wasi-testsuite), run through the built
//! `wasmpod` binary: one test per fixture, so a failure names it.
//!
//! This is wasmpod's own runner for the suite's test format (see the
//! folder's README): `run` (args, env, argv\[0\] = the file name), `root`
//! (a fresh writable copy mounted as `/`), `proposals` (`--net`), stdin
//! `write`, stdout/stderr `read`, `request` against a served component,
//! `servers` (loopback HTTP servers this file starts), `kill` and `wait`.
//! A fixture that cannot run fails; none is skipped.

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Wasmpod;
use serde::Deserialize;
use wasmpod_testkit::{KillOnDrop, wait_for};

/// The longest any one step (a read, a request, the guest's exit) may take.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// One test per fixture. `every_fixture_has_a_test` keeps the list whole.
macro_rules! fixtures {
    ($($test:ident => $name:literal,)*) => {
        const FIXTURES: &[&str] = &[$($name),*];
        $(
            #[test]
            fn $test() {
                run_fixture($name);
            }
        )*
    };
}

fixtures! {
    cli_env => "cli-env",
    cli_exit => "cli-exit",
    cli_stdio => "cli-stdio",
    cli_stdio_roundtrip => "cli-stdio-roundtrip",
    filesystem_dotdot => "filesystem-dotdot",
    filesystem_io => "filesystem-io",
    filesystem_open_errors => "filesystem-open-errors",
    filesystem_read_directory => "filesystem-read-directory",
    filesystem_rename => "filesystem-rename",
    filesystem_stat => "filesystem-stat",
    http_client => "http-client",
    http_request => "http-request",
    http_service => "http-service",
    http_service_echo => "http-service-echo",
    monotonic_clock => "monotonic-clock",
    random => "random",
    sockets_tcp_connect => "sockets-tcp-connect",
    sockets_tcp_listen => "sockets-tcp-listen",
    sockets_udp_send => "sockets-udp-send",
    wall_clock => "wall-clock",
}

#[test]
fn every_fixture_has_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(suite())
        .expect("read the suite folder")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.strip_suffix(".wasm").map(str::to_string)
        })
        .collect();
    found.sort();
    let mut listed: Vec<&str> = FIXTURES.to_vec();
    listed.sort();
    assert_eq!(found, listed, "fixtures in {}", suite().display());
}

fn suite() -> PathBuf {
    common::p3_fixtures()
}

/// A fixture's `NAME.json`.
#[derive(Debug, Default, Deserialize)]
struct Description {
    root: Option<String>,
    #[serde(default)]
    proposals: Vec<String>,
    world: Option<String>,
    #[serde(default)]
    servers: Vec<ServerSpec>,
    operations: Option<Vec<Operation>>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Operation {
    Run {
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: Ordered,
    },
    Wait {
        #[serde(default)]
        exit_code: i32,
    },
    Write {
        id: String,
        payload: String,
    },
    Read {
        id: String,
        payload: String,
    },
    Request {
        method: String,
        path: String,
        #[serde(default)]
        headers: Ordered,
        body: Option<String>,
        response: Expected,
    },
    Kill {
        signal: String,
    },
}

#[derive(Debug, Deserialize)]
struct Expected {
    status: u16,
    #[serde(default)]
    headers: Ordered,
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ServerSpec {
    name: String,
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Deserialize)]
struct Endpoint {
    method: String,
    path: String,
    mode: Option<String>,
    response: Option<Canned>,
}

#[derive(Debug, Clone, Deserialize)]
struct Canned {
    #[serde(default = "ok")]
    status: u16,
    body: Option<String>,
    chunks: Option<Vec<String>>,
}

fn ok() -> u16 {
    200
}

/// A JSON object of strings, in document order (the guest sees its
/// environment in this order).
#[derive(Debug, Default)]
struct Ordered(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Ordered, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = m.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Ordered(pairs))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// Runs fixture `name`'s operations, panicking at the first one that does
/// not do what the description says.
fn run_fixture(name: &str) {
    let suite = suite();
    let wasm = format!("{name}.wasm");
    assert!(
        suite.join(&wasm).is_file(),
        "{wasm} missing from {}",
        suite.display()
    );
    let description: Description = match std::fs::read_to_string(suite.join(format!("{name}.json")))
    {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.json: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Description::default(),
        Err(e) => panic!("{name}.json: {e}"),
    };
    let operations = description.operations.unwrap_or_else(|| {
        vec![
            Operation::Run {
                args: vec![],
                env: Ordered::default(),
            },
            Operation::Wait { exit_code: 0 },
        ]
    });
    let served = description.world.as_deref() == Some("wasi:http/service");

    // Kept alive until the fixture ends.
    let root = description.root.as_ref().map(|dir| {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_tree(&suite.join(dir), copy.path());
        copy
    });
    let servers: Vec<(String, String)> = description
        .servers
        .iter()
        .map(|s| {
            (
                format!("HTTP_SERVER_{}", s.name.to_uppercase()),
                start_server(s.endpoints.clone()),
            )
        })
        .collect();

    let w = Wasmpod::new();
    let mut guest: Option<Guest> = None;
    let writes_left = |from: usize| {
        operations[from..]
            .iter()
            .any(|o| matches!(o, Operation::Write { .. }))
    };
    for (i, op) in operations.iter().enumerate() {
        match op {
            Operation::Run { args, env } => {
                let mut cmd = w.cmd();
                cmd.current_dir(&suite)
                    .args(["run", "--listen", "127.0.0.1:0"]);
                if !description.proposals.is_empty() {
                    cmd.arg("--net");
                }
                if let Some(root) = &root {
                    cmd.arg("-v").arg(format!("{}:/", root.path().display()));
                }
                for (k, v) in servers.iter().chain(&env.0) {
                    cmd.arg("-e").arg(format!("{k}={v}"));
                }
                cmd.arg(&wasm).arg("--").args(args);
                let mut started = Guest::spawn(cmd);
                if !writes_left(i) {
                    started.stdin.take();
                }
                if served {
                    started.address = Some(started.serving_address());
                }
                guest = Some(started);
            }
            Operation::Write { id, payload } => {
                assert_eq!(id, "stdin", "{name}: write to {id}");
                let g = guest.as_mut().expect("write before run");
                let stdin = g.stdin.as_mut().expect("stdin is open");
                stdin.write_all(payload.as_bytes()).expect("write stdin");
                stdin.flush().expect("flush stdin");
                if !writes_left(i + 1) {
                    g.stdin.take();
                }
            }
            Operation::Read { id, payload } => {
                let g = guest.as_mut().expect("read before run");
                let stream = match id.as_str() {
                    "stdout" => &mut g.stdout,
                    "stderr" => &mut g.stderr,
                    other => panic!("{name}: read from {other}"),
                };
                let got = stream.take(payload.len());
                assert_eq!(String::from_utf8_lossy(&got), *payload, "{name}: {id}");
            }
            Operation::Request {
                method,
                path,
                headers,
                body,
                response,
            } => {
                let g = guest.as_ref().expect("request before run");
                let addr = g.address.as_deref().expect("a request to a command");
                let got = request(
                    addr,
                    method,
                    path,
                    &headers.0,
                    body.as_deref().unwrap_or(""),
                );
                assert_eq!(
                    got.status, response.status,
                    "{name}: {method} {path}: {got:?}"
                );
                for (k, v) in &response.headers.0 {
                    assert_eq!(
                        got.header(k),
                        Some(v.as_str()),
                        "{name}: {method} {path}: header {k} in {got:?}"
                    );
                }
                if let Some(expected) = &response.body {
                    assert_eq!(
                        String::from_utf8_lossy(&got.body),
                        *expected,
                        "{name}: {method} {path}"
                    );
                }
            }
            Operation::Kill { signal } => {
                let g = guest.as_ref().expect("kill before run");
                let sent = std::process::Command::new("kill")
                    .arg(format!("-{}", signal.trim_start_matches("SIG")))
                    .arg(g.child.0.id().to_string())
                    .status()
                    .expect("kill");
                assert!(sent.success(), "{name}: kill -{signal}");
            }
            Operation::Wait { exit_code } => {
                let g = guest.as_mut().expect("wait before run");
                g.stdin.take();
                let status = wait_for(STEP_LIMIT, "the guest to exit", || {
                    g.child.0.try_wait().expect("try_wait")
                });
                assert_eq!(
                    status.code(),
                    Some(*exit_code),
                    "{name}: exit status; stdout:\n{}\nstderr:\n{}",
                    g.stdout.all(),
                    g.stderr.all()
                );
            }
        }
    }
}

/// A running `wasmpod run`.
struct Guest {
    child: KillOnDrop,
    stdin: Option<ChildStdin>,
    stdout: Captured,
    stderr: Captured,
    /// `HOST:PORT` of a served component.
    address: Option<String>,
}

impl Guest {
    fn spawn(mut cmd: std::process::Command) -> Self {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = KillOnDrop::spawn(&mut cmd);
        let c: &mut Child = &mut child.0;
        let stdin = c.stdin.take();
        let stdout = Captured::of(c.stdout.take().expect("stdout"));
        let stderr = Captured::of(c.stderr.take().expect("stderr"));
        Self {
            child,
            stdin,
            stdout,
            stderr,
            address: None,
        }
    }

    /// The address on wasmpod's first stderr line,
    /// `wasmpod: serving HTTP on http://ADDR/`; the line is consumed.
    fn serving_address(&mut self) -> String {
        let line = self.stderr.line();
        line.split_once("http://")
            .and_then(|(_, rest)| rest.split('/').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no address on the first stderr line {line:?}"))
    }
}

/// Everything a child wrote to one stream, and how much of it was read.
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    read: usize,
}

impl Captured {
    fn of(mut from: impl Read + Send + 'static) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        });
        Self { bytes, read: 0 }
    }

    /// The next `n` bytes, waiting for them.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let got = wait_for(STEP_LIMIT, "output from the guest", || {
            let all = self.bytes.lock().expect("lock");
            (all.len() >= self.read + n).then(|| all[self.read..self.read + n].to_vec())
        });
        self.read += n;
        got
    }

    /// The next line, without its newline.
    fn line(&mut self) -> String {
        let line = wait_for(STEP_LIMIT, "a line from wasmpod", || {
            let all = self.bytes.lock().expect("lock");
            let rest = &all[self.read..];
            rest.iter()
                .position(|b| *b == b'\n')
                .map(|end| rest[..end].to_vec())
        });
        self.read += line.len() + 1;
        String::from_utf8_lossy(&line).into_owned()
    }

    fn all(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().expect("lock")).into_owned()
    }
}

/// Copies the directory tree `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// An HTTP/1.1 message as read off a connection.
#[derive(Debug)]
struct Message {
    /// The request line or the status line.
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one message: the head, then a `content-length` or chunked body,
/// or (`to_eof`, for responses) whatever comes until the peer closes.
fn read_message(reader: &mut impl BufRead, to_eof: bool) -> std::io::Result<Message> {
    let mut start = String::new();
    reader.read_line(&mut start)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut message = Message {
        status: start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        start: start.trim_end().to_string(),
        headers,
        body: Vec::new(),
    };
    if message
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| std::io::Error::other(format!("chunk size: {e}")))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            chunk.truncate(size);
            message.body.extend(chunk);
        }
    } else if let Some(len) = message.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|e| std::io::Error::other(format!("content-length: {e}")))?;
        message.body = vec![0; len];
        reader.read_exact(&mut message.body)?;
    } else if to_eof {
        reader.read_to_end(&mut message.body)?;
    }
    Ok(message)
}

/// Sends one request over a new connection and reads the response.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> Message {
    let mut conn = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    conn.set_read_timeout(Some(STEP_LIMIT)).expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).expect("send head");
    conn.write_all(body.as_bytes()).expect("send body");
    read_message(&mut BufReader::new(conn), true)
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

/// Starts a loopback HTTP server answering `endpoints`, for the life of
/// the test process; returns its `HOST:PORT`.
fn start_server(endpoints: Vec<Endpoint>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let endpoints = endpoints.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve_connection(stream, &endpoints) {
                    eprintln!("test server: {e}");
                }
            });
        }
    });
    addr
}

fn serve_connection(stream: TcpStream, endpoints: &[Endpoint]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(STEP_LIMIT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let request = match read_message(&mut reader, false) {
            Ok(r) if !r.start.is_empty() => r,
            _ => return Ok(()),
        };
        let mut parts = request.start.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let endpoint = endpoints
            .iter()
            .find(|e| e.method.eq_ignore_ascii_case(method) && e.path == path);
        let (status, chunks): (u16, VecDeque<Vec<u8>>) = match endpoint {
            None => (404, VecDeque::from([b"not found\n".to_vec()])),
            Some(e) => match (e.mode.as_deref(), &e.response) {
                (Some("echo-body"), _) => (200, VecDeque::from([request.body.clone()])),
                (Some("echo-headers"), _) => {
                    let text: String = request
                        .headers
                        .iter()
                        .map(|(k, v)| format!("{}: {v}\n", k.to_lowercase()))
                        .collect();
                    (200, VecDeque::from([text.into_bytes()]))
                }
                (Some(other), _) => panic!("unknown server mode {other}"),
                (None, Some(canned)) => match (&canned.chunks, &canned.body) {
                    (Some(chunks), _) => (
                        canned.status,
                        chunks.iter().map(|c| c.clone().into_bytes()).collect(),
                    ),
                    (None, body) => (
                        canned.status,
                        VecDeque::from([body.clone().unwrap_or_default().into_bytes()]),
                    ),
                },
                (None, None) => (200, VecDeque::new()),
            },
        };
        write!(
            out,
            "HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n"
        )?;
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            write!(out, "{:x}\r\n", chunk.len())?;
            out.write_all(chunk)?;
            out.write_all(b"\r\n")?;
        }
        out.write_all(b"0\r\n\r\n")?;
        out.flush()?;
        if request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            let _ = out.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Beyond the fixtures' own expectations: the grant. `http-client` (a
/// WASI 0.3 service that POSTs to `HTTP_SERVER_MAIN` on each request) gets
/// no answer from that server without `--net`: its outgoing request is
/// refused inside wasmpod and never reaches the server, which counts what
/// it is sent. With `--net` the same request goes through.
#[test]
fn outgoing_http_of_a_0_3_guest_needs_net() {
    let suite = suite();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = listener.local_addr().expect("addr").to_string();
    let counted = hits.clone();
    std::thread::spawn(move || {
        let echo = [Endpoint {
            method: "POST".into(),
            path: "/echo".into(),
            mode: Some("echo-body".into()),
            response: None,
        }];
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = serve_connection(stream, &echo);
        }
    });
    let w = Wasmpod::new();
    for (net, status, reached) in [(false, 500, 0), (true, 200, 1)] {
        let mut cmd = w.cmd();
        cmd.current_dir(&suite)
            .args(["run", "--listen", "127.0.0.1:0"]);
        if net {
            cmd.arg("--net");
        }
        cmd.args([
            "-e",
            &format!("HTTP_SERVER_MAIN={server}"),
            "http-client.wasm",
        ]);
        let mut guest = Guest::spawn(cmd);
        let addr = guest.serving_address();
        let answer = request(&addr, "GET", "/", &[], "");
        assert_eq!(
            (
                answer.status,
                hits.load(std::sync::atomic::Ordering::SeqCst)
            ),
            (status, reached),
            "--net {net}: {}",
            guest.stderr.all()
        );
    }
}
