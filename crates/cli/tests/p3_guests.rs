//! wasmpod's own WASI 0.3 guests (`tests/guests/p3-*.wat`) under
//! `wasmpod run`, for what the conformance fixtures do not cover: a
//! command that exits with the code it is given, and async concurrency
//! inside one instance: a service that streams its response while it still
//! reads the request, and one that makes two outgoing requests at once.
//! (`up.rs` serves the echo through a Service; the shim's container tests
//! run the command.)

mod common;

use std::io::{Read, Write};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;
use wasmpod_test_guests as guests;
use wasmpod_testkit::{BarrierServer, KillOnDrop};

/// How long one step (a line, a request, an exit) may take.
const STEP_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_wasi_p3_command_writes_through_its_stream_and_exits_with_its_code() {
    let w = Wasmpod::new();
    for (arg, code) in [
        (None, 0),
        (Some("3"), 3),
        (Some("0"), 0),
        (Some("255"), 255),
        (Some("err"), 1),
        (Some("256"), 2),
        (Some("three"), 2),
    ] {
        // The 0.2 twin (the cold-start benchmark compares them) ends alike.
        for (guest, name) in [
            (guests::P3_EXIT_WAT_WASM, "p3-exit"),
            (guests::P2_EXIT_WAT_WASM, "p2-exit"),
        ] {
            let mut args = vec![guest];
            args.extend(arg);
            let o = w.run(&args);
            assert_code(&o, code);
            // The line is out before the exit, whichever way the guest ends.
            assert_eq!(
                stdout(&o),
                format!("{name}: {}\n", arg.unwrap_or("ok")),
                "{name} {arg:?}"
            );
            assert_eq!(stderr(&o), "", "{name} {arg:?}");
        }
    }

    let o = w.run(&["--verbose", guests::P3_EXIT_WAT_WASM, "7"]);
    assert_code(&o, 7);
    assert_eq!(stdout(&o), "p3-exit: 7\n");
    assert!(
        stderr(&o).contains("is a WASI 0.3 component (command), sha256:"),
        "{}",
        stderr(&o)
    );
}

/// `wasmpod run ARGS` serving on a port of its choosing: the process and
/// its `127.0.0.1:PORT`.
fn serve(w: &Wasmpod, args: &[&str]) -> (KillOnDrop, String, Receiver<String>) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let (server, lines) = w.spawn_run(&all);
    let first = lines
        .recv_timeout(STEP_LIMIT)
        .expect("the server's first line");
    let addr = first
        .strip_prefix("wasmpod: serving HTTP on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    (server, addr, lines)
}

/// The raw response to `GET path` over HTTP/1.0, lowercased.
fn raw_get(addr: &str, path: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(STEP_LIMIT)).expect("timeout");
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = String::new();
    conn.read_to_string(&mut raw).expect("read");
    raw.to_lowercase()
}

/// The example hello services, WASI 0.3 and 0.2, are one program written
/// against each (the benchmarks compare them): the same status, content
/// type and body for any path, many times over.
#[test]
fn the_wasi_p3_hello_answers_as_its_wasi_p2_twin() {
    let w = Wasmpod::new();
    let (_p3, p3_addr, _e3) = serve(&w, &[guests::HTTP_HELLO_P3_WAT_WASM]);
    let (_p2, p2_addr, _e2) = serve(&w, &[guests::HTTP_HELLO_WAT_WASM]);
    for path in ["/", "/anything", "/a/b?c=d"] {
        for _ in 0..3 {
            let p3 = raw_get(&p3_addr, path);
            let p2 = raw_get(&p2_addr, path);
            for raw in [&p3, &p2] {
                assert!(raw.starts_with("http/1.0 200 ok\r\n"), "{path}: {raw}");
                assert!(
                    raw.contains("\r\ncontent-type: text/plain\r\n"),
                    "{path}: {raw}"
                );
                assert!(raw.ends_with("\r\n\r\nhello from wasm\n"), "{path}: {raw}");
            }
        }
    }
}

/// `--max-instance-reuse-count N` lets one instance serve N requests (the
/// counter guest answers how many its instance has started); without it
/// every request has a fresh instance. Bad counts are exit 125.
#[test]
fn the_reuse_flags_let_instances_serve_several_requests() {
    let w = Wasmpod::new();
    let body = |raw: String| raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    let (_reused, addr, _e) = serve(
        &w,
        &[
            "--max-instance-reuse-count",
            "3",
            "--max-instance-concurrent-reuse-count",
            "2",
            guests::P3_COUNTER_WAT_WASM,
        ],
    );
    let got: Vec<_> = (0..5).filter_map(|_| body(raw_get(&addr, "/"))).collect();
    assert_eq!(got, ["1\n", "2\n", "3\n", "1\n", "2\n"]);
    let (_fresh, addr, _e) = serve(&w, &[guests::P3_COUNTER_WAT_WASM]);
    let got: Vec<_> = (0..3).filter_map(|_| body(raw_get(&addr, "/"))).collect();
    assert_eq!(got, ["1\n", "1\n", "1\n"]);

    // A command serves nothing: the flags are said to be ignored, and it
    // runs as without them.
    let o = w.run(&[
        "--max-instance-reuse-count",
        "3",
        "--max-instance-concurrent-reuse-count",
        "2",
        guests::P3_EXIT_WAT_WASM,
        "4",
    ]);
    assert_code(&o, 4);
    assert_eq!(stdout(&o), "p3-exit: 4\n");
    let what = "is a WASI 0.3 component (command), not a served wasi:http component";
    assert_eq!(
        stderr(&o),
        format!(
            "wasmpod: --max-instance-reuse-count is ignored: {p} {what}\n\
             wasmpod: --max-instance-concurrent-reuse-count is ignored: {p} {what}\n",
            p = guests::P3_EXIT_WAT_WASM
        )
    );

    // A WASI 0.2 instance takes one request at a time: the concurrency
    // flag is said to be ignored (before the server's own line), and the
    // service answers.
    let (p2, lines) = w.spawn_run(&[
        "--listen",
        "127.0.0.1:0",
        "--max-instance-concurrent-reuse-count",
        "2",
        guests::HTTP_HELLO_WAT_WASM,
    ]);
    let warning = lines.recv_timeout(STEP_LIMIT).expect("a stderr line");
    assert_eq!(
        warning,
        format!(
            "wasmpod: --max-instance-concurrent-reuse-count is ignored: {} is a WASI 0.2 component (wasi:http service), whose instances take one request at a time",
            guests::HTTP_HELLO_WAT_WASM
        )
    );
    let serving = lines.recv_timeout(STEP_LIMIT).expect("the server's line");
    let addr = serving
        .strip_prefix("wasmpod: serving HTTP on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("no address in {serving:?}"));
    assert_eq!(
        body(raw_get(addr, "/")).as_deref(),
        Some("hello from wasm\n")
    );
    drop(p2);

    for (flag, max, over) in [
        ("--max-instance-reuse-count", 1_000_000, "1000001"),
        ("--max-instance-concurrent-reuse-count", 100, "101"),
    ] {
        for bad in ["0", "-3", "many", over] {
            let o = w.run(&[flag, bad, guests::P3_COUNTER_WAT_WASM]);
            assert_code(&o, 125);
            let err = stderr(&o);
            assert_eq!(
                err,
                format!(
                    "wasmpod: error: {flag}\n  caused by: {bad:?} is not a whole number from 1 to {max}\n"
                )
            );
        }
    }
}

#[test]
fn a_wasi_p3_service_echoes_each_chunk_while_the_request_still_arrives() {
    let w = Wasmpod::new();
    let (_server, addr, _stderr) = serve(&w, &[guests::P3_STREAM_ECHO_WAT_WASM]);

    // The first chunk comes back before the client sends the rest: the
    // guest streams its response while it reads the request.
    let (status, body) = echo_in_two_parts(&addr, "first chunk,", " the rest", STEP_LIMIT);
    assert_eq!((status, body.as_str()), (200, "first chunk, the rest"));

    // A body bigger than the guest's buffers, sent while the echo is read
    // (the guest holds at most 32 KiB, so neither side may wait for the
    // other to finish), comes back whole and in order.
    let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(STEP_LIMIT)).expect("timeout");
    let mut writer = conn.try_clone().expect("clone");
    let body = sent.clone();
    let host = addr.clone();
    let sending = std::thread::spawn(move || {
        write!(
            writer,
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .and_then(|()| writer.write_all(&body))
    });
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("read the echo");
    sending.join().expect("join").expect("send the body");
    let (status, echoed, ended) = chunked_response(&raw);
    assert_eq!(status, Some(200));
    assert!(ended, "the echo ended with its last chunk");
    assert!(
        echoed == sent,
        "{} bytes echoed of {}",
        echoed.len(),
        sent.len()
    );

    // An empty body: an empty echo.
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(STEP_LIMIT)).expect("timeout");
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("read");
    assert_eq!(chunked_response(&raw), (Some(200), Vec::new(), true));
}

#[test]
fn a_wasi_p3_service_sends_its_two_outgoing_requests_at_once() {
    // The backend answers neither request until both are waiting: a guest
    // that sent them one after the other would get two 504s after 5 s.
    let backend = BarrierServer::start(
        2,
        Duration::from_secs(5),
        vec![
            ("/a".into(), "alpha\n".into()),
            ("/b".into(), "beta\n".into()),
        ],
    );
    let env = format!("BACKEND={}", backend.addr());
    let w = Wasmpod::new();
    let (_server, addr, _stderr) =
        serve(&w, &["--net", "--env", &env, guests::P3_FAN_OUT_WAT_WASM]);
    for _ in 0..2 {
        let got = wasmpod_testkit::http_get(&addr, "/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, (200, "alpha\nbeta\n".into()));
    }
    let mut arrived = backend.arrived();
    arrived.sort();
    assert_eq!(arrived, ["/a", "/a", "/b", "/b"]);

    // Without --net the sends are denied: 502, and the backend sees nothing.
    let denied = BarrierServer::start(2, Duration::from_secs(5), Vec::new());
    let env = format!("BACKEND={}", denied.addr());
    let (_server, addr, _stderr) = serve(&w, &["--env", &env, guests::P3_FAN_OUT_WAT_WASM]);
    let got = wasmpod_testkit::http_get(&addr, "/").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, (502, "backend failed\n".into()));
    assert_eq!(denied.arrived(), Vec::<String>::new());

    // And without BACKEND it says so.
    let (_server, addr, _stderr) = serve(&w, &["--net", guests::P3_FAN_OUT_WAT_WASM]);
    let got = wasmpod_testkit::http_get(&addr, "/").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, (500, "BACKEND is not set\n".into()));
}
