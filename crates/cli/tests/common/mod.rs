//! Helpers shared by the CLI test binaries.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

pub mod up;

/// A `wasmpod` command with its own state folder, no credentials from the
/// host, and a host environment variable that must never reach a guest.
pub struct Wasmpod {
    pub home: tempfile::TempDir,
}

impl Wasmpod {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmpod"));
        cmd.env("WASMPOD_HOME", self.home.path())
            .env("HOME", self.home.path().join("user-home"))
            .env("WASMPOD_TEST_SECRET", "host-secret-value")
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("WASMPOD_UPLOAD_CHUNK_SIZE")
            .env_remove("RUST_LOG");
        cmd
    }

    /// `wasmpod ARGS...` with stdin closed.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn wasmpod")
    }

    /// `wasmpod run ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.exec(&all)
    }

    /// Starts `wasmpod run ARGS...` (a server, say) with stdin and stdout
    /// closed, and returns it with the lines of its stderr as they come.
    pub fn spawn_run<S: AsRef<std::ffi::OsStr>>(
        &self,
        args: &[S],
    ) -> (
        wasmpod_testkit::KillOnDrop,
        std::sync::mpsc::Receiver<String>,
    ) {
        let mut child = wasmpod_testkit::KillOnDrop::spawn(
            self.cmd()
                .arg("run")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let lines = wasmpod_testkit::lines_of(child.0.stderr.take().expect("stderr"));
        (child, lines)
    }
}

/// The WASI 0.3 conformance fixtures beside the repository.
pub fn p3_fixtures() -> std::path::PathBuf {
    wasmpod_testkit::wasi_p3_fixtures()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Asserts exit 125 with one line saying what failed, then its causes one
/// a line (`  caused by: …`), no text repeated from one line to the next,
/// and no panic.
#[track_caller]
pub fn assert_host_failure(o: &Output, needle: &str) {
    assert_code(o, 125);
    let err = stderr(o);
    let lines = error_lines(&err);
    for (i, a) in lines.iter().enumerate() {
        for b in &lines[i + 1..] {
            assert!(
                !a.contains(b) && !b.contains(a),
                "{a:?} and {b:?} repeat each other in:\n{err}"
            );
        }
    }
    // The needle may span a message and its cause: `--memory: invalid
    // quantity` is `--memory` caused by `invalid quantity`.
    assert!(
        lines.join(": ").contains(needle),
        "expected {needle:?} in:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(o).is_empty(), "{}", stdout(o));
}

/// The messages of an error report: the top line's after `wasmpod: error: `,
/// then each `  caused by: ` line's (a cause's own further lines, indented
/// deeper, stay with it).
#[track_caller]
pub fn error_lines(err: &str) -> Vec<String> {
    let mut lines = err.lines();
    let top = lines.next().unwrap_or_default();
    let top = top
        .strip_prefix("wasmpod: error: ")
        .unwrap_or_else(|| panic!("expected `wasmpod: error: ` first, got:\n{err}"));
    let mut messages = vec![top.to_string()];
    for line in lines {
        if let Some(cause) = line.strip_prefix("  caused by: ") {
            messages.push(cause.to_string());
        } else if let (Some(more), Some(last)) = (line.strip_prefix("    "), messages.last_mut()) {
            last.push('\n');
            last.push_str(more);
        } else {
            panic!("expected only `  caused by: ` lines after the first, got:\n{err}");
        }
    }
    messages
}

/// The blobs in the content store of `w`, sorted.
pub fn store_blobs(w: &Wasmpod) -> Vec<String> {
    let dir = w.home.path().join("store/blobs/sha256");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// POSTs `first` and then `rest` as two chunks of one chunked request body
/// to an echo service at `addr`, sending `rest` only once `first` has come
/// back in the response's body: the status and the whole body echoed.
/// Panics if the response is not a chunked one, or if anything takes more
/// than `limit` (a service that read the whole request before answering
/// never echoes `first`).
#[track_caller]
pub fn echo_in_two_parts(
    addr: &str,
    first: &str,
    rest: &str,
    limit: std::time::Duration,
) -> (u16, String) {
    use std::io::{Read, Write};
    let deadline = wasmpod_testkit::Deadline::after(limit);
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
    write!(
        conn,
        "POST /echo HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}",
        chunk(first)
    )
    .expect("send the head and the first chunk");
    let mut writer = conn.try_clone().expect("clone the connection");
    let mut raw = Vec::new();
    // Reads until the echoed body holds `want` bytes (or it ended).
    let mut read_until = |want: usize, raw: &mut Vec<u8>| loop {
        let (status, body, ended) = chunked_response(raw);
        if status.is_some() && (ended || body.len() >= want) {
            return (status.unwrap_or_default(), body, ended);
        }
        assert!(
            !deadline.passed(),
            "no echo within {limit:?}; received so far: {:?}",
            String::from_utf8_lossy(raw)
        );
        conn.set_read_timeout(Some(
            deadline.left().max(std::time::Duration::from_millis(1)),
        ))
        .expect("read timeout");
        let mut buf = [0u8; 16384];
        match conn.read(&mut buf) {
            Ok(0) => panic!(
                "the connection closed early: {:?}",
                String::from_utf8_lossy(raw)
            ),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{e}; received so far: {:?}", String::from_utf8_lossy(raw)),
        }
    };
    let (_, body, _) = read_until(first.len(), &mut raw);
    assert_eq!(
        String::from_utf8_lossy(&body),
        first,
        "the first chunk's echo, before the rest was sent"
    );
    write!(writer, "{}0\r\n\r\n", chunk(rest)).expect("send the rest");
    let (status, body, ended) = read_until(usize::MAX, &mut raw);
    assert!(ended, "the echo ended");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A raw HTTP/1.1 response read so far: its status (once the head is
/// complete), the bytes of its chunked body decoded so far, and whether
/// the last chunk came. Panics if the head is complete and the body is
/// not chunked.
pub fn chunked_response(raw: &[u8]) -> (Option<u16>, Vec<u8>, bool) {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (None, Vec::new(), false);
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    assert!(
        head.contains("\r\ntransfer-encoding: chunked"),
        "not a chunked response: {:?}",
        String::from_utf8_lossy(raw)
    );
    let mut rest = &raw[end + 4..];
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (status, body, false);
        };
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or_else(|| panic!("a bad chunk size in {:?}", String::from_utf8_lossy(raw)));
        if size == 0 {
            return (status, body, true);
        }
        let data = &rest[line_end + 2..];
        if data.len() < size + 2 {
            // The chunk so far: a reader waiting for part of it gets it.
            body.extend_from_slice(&data[..data.len().min(size)]);
            return (status, body, false);
        }
        body.extend_from_slice(&data[..size]);
        rest = &data[size + 2..];
    }
}

/// The library's registry client, with no credentials: for pushing and
/// reading what a test sets up in the registry behind wasmpod's back.
pub fn lib_client() -> wasmpod_oci::RegistryClient {
    let auth = wasmpod_oci::auth::AuthFiles::new("/nonexistent/auth.json".into(), vec![]);
    wasmpod_oci::RegistryClient::new(auth, wasmpod_oci::ClientOptions::default()).expect("client")
}

/// Runs `f` to completion on a runtime of its own.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(f)
}
