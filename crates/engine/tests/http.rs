//! Serving wasi:http components: a fresh instance per request, request
//! timeouts, the concurrency limit, graceful drain and SIGKILL, the
//! working directory each request's instance is granted, and instances
//! reused across requests when asked.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod_engine::{
    EngineError, EngineOptions, ExitStatus, HttpOptions, HttpStats, Preopen, RunSpec, Runtime,
    StopHandle, StopReason,
};
use wasmpod_test_guests as guests;

struct Served {
    addr: std::net::SocketAddr,
    stop: StopHandle,
    stats: Arc<HttpStats>,
    spec_usage: Arc<wasmpod_engine::Usage>,
    task: tokio::task::JoinHandle<Result<ExitStatus, EngineError>>,
}

async fn serve(options: HttpOptions) -> Served {
    let spec = RunSpec::new(vec!["http-hello".into()]);
    serve_guest(guests::HTTP_HELLO_WAT_WASM, spec, options).await
}

/// Serves the wasi:http component at `path` with `spec`'s grants.
async fn serve_guest(path: &str, spec: RunSpec, options: HttpOptions) -> Served {
    let runtime = Arc::new(Runtime::new(EngineOptions::default()).expect("runtime"));
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let program = runtime.load(&bytes).expect("load");
    assert!(runtime.is_http_handler(&program));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = StopHandle::new();
    let stats = Arc::new(HttpStats::default());
    let spec_usage = spec.usage.clone();
    let task = tokio::spawn({
        let (stop, stats) = (stop.clone(), stats.clone());
        async move {
            runtime
                .serve_http(&program, spec, listener, options, stats, &stop)
                .await
        }
    });
    Served {
        addr,
        stop,
        stats,
        spec_usage,
        task,
    }
}

/// `GET path` over a new HTTP/1.0 connection (so the body is not chunked):
/// status and body, or the I/O error.
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_each_request_from_a_fresh_instance() {
    let s = serve(HttpOptions::default()).await;
    for _ in 0..3 {
        let (status, body) = get(s.addr, "/").await.expect("GET /");
        assert_eq!((status, body.as_str()), (200, "hello from wasm\n"));
    }
    let (status, body) = get(s.addr, "/fail").await.expect("GET /fail");
    assert_eq!((status, body.as_str()), (500, "failing\n"));
    assert_eq!(s.stats.started.load(Relaxed), 4);
    assert_eq!(s.stats.instances.load(Relaxed), 4);
    assert_eq!(s.stats.in_flight.load(Relaxed), 0);
    // Each instance's linear memory was counted and given back.
    assert!(s.spec_usage.peak_memory_bytes() > 0);
    assert_eq!(s.spec_usage.memory_bytes(), 0);
    s.stop.stop(StopReason::Signal(15));
    let status = s.task.await.expect("join").expect("serve");
    assert_eq!(status, ExitStatus::Stopped(StopReason::Signal(15)));
    assert!(
        get(s.addr, "/").await.is_err(),
        "nothing listens after a stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_timeout_gets_504() {
    let s = serve(HttpOptions {
        request_timeout: Duration::from_millis(200),
        ..HttpOptions::default()
    })
    .await;
    let started = Instant::now();
    let (status, body) = get(s.addr, "/sleep").await.expect("GET /sleep");
    assert_eq!((status, body.as_str()), (504, "request timed out\n"));
    assert!(started.elapsed() < Duration::from_millis(900));
    // The server goes on serving.
    assert_eq!(get(s.addr, "/").await.expect("GET /").0, 200);
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_queues_requests() {
    let s = serve(HttpOptions {
        max_concurrency: 1,
        ..HttpOptions::default()
    })
    .await;
    let started = Instant::now();
    let (a, b) = tokio::join!(get(s.addr, "/sleep"), get(s.addr, "/sleep"));
    assert_eq!(a.expect("a").0, 200);
    assert_eq!(b.expect("b").0, 200);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "one slot: the second request waited for the first ({took:?})"
    );
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

/// An instance streaming its body after the head holds its slot until it
/// is gone: with one slot, a second request waits while the first
/// request's body (echoed as it comes) is still open, and is served once
/// it ends. Otherwise clients that keep bodies open could pile up
/// instances past every limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_streaming_its_body_holds_its_slot() {
    let spec = RunSpec::new(vec!["echo".into()]);
    let s = serve_guest(
        guests::P3_STREAM_ECHO_WAT_WASM,
        spec,
        HttpOptions {
            max_concurrency: 1,
            ..HttpOptions::default()
        },
    )
    .await;
    let mut first = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    first
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .await
        .expect("send");
    // The head and the first chunk's echo come back: the instance lives on.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("hello") {
        let n = tokio::time::timeout(Duration::from_secs(10), first.read(&mut buf))
            .await
            .expect("the echo")
            .expect("read");
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let second = tokio::spawn(async move { get(s.addr, "/").await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !second.is_finished(),
        "the second request took the first one's slot"
    );
    // The first body ends: its instance goes, and the second is served.
    first.write_all(b"0\r\n\r\n").await.expect("end");
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("served after the first")
        .expect("join")
        .expect("get");
    assert_eq!(status, 200);
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight() {
    let s = serve(HttpOptions::default()).await;
    let in_flight = tokio::spawn(get(s.addr, "/sleep"));
    while s.stats.in_flight.load(Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop.stop(StopReason::Signal(15));
    // The request in flight finishes normally...
    let (status, body) = in_flight.await.expect("join").expect("GET /sleep");
    assert_eq!((status, body.as_str()), (200, "slept\n"));
    // ...and then the server is done.
    assert_eq!(
        drained(s.task).await,
        ExitStatus::Stopped(StopReason::Signal(15))
    );
}

/// How the server ended, once a drain has ended it (within 10 s).
async fn drained(task: tokio::task::JoinHandle<Result<ExitStatus, EngineError>>) -> ExitStatus {
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the drain ends")
        .expect("join")
        .expect("serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_drain_ends_it_at_once() {
    let s = serve(HttpOptions::default()).await;
    let in_flight = tokio::spawn(get(s.addr, "/sleep"));
    while s.stats.in_flight.load(Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop.stop(StopReason::Signal(15));
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop.stop(StopReason::Signal(9));
    let status = s.task.await.expect("join").expect("serve");
    // Killed before the drain ended: reported as a SIGKILL (137).
    assert_eq!(status, ExitStatus::Stopped(StopReason::Signal(9)));
    let r = in_flight.await.expect("join");
    assert!(
        r.as_ref().map_or(true, |(status, _)| *status != 200),
        "the request in flight did not complete: {r:?}"
    );
}

#[tokio::test]
async fn only_http_components_are_served() {
    let runtime = Runtime::new(EngineOptions::default()).expect("runtime");
    for path in [guests::PROBE, guests::PROBE_COMPONENT] {
        let program = runtime
            .load(&std::fs::read(path).expect("read"))
            .expect("load");
        assert!(!runtime.is_http_handler(&program));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let err = runtime
            .serve_http(
                &program,
                RunSpec::new(vec![]),
                listener,
                HttpOptions::default(),
                Arc::new(HttpStats::default()),
                &StopHandle::new(),
            )
            .await
            .expect_err("not an http component");
        assert!(matches!(err, EngineError::NotHttp(_)), "{path}: {err}");
        assert!(
            err.to_string().contains("wasi:http/incoming-handler"),
            "{err}"
        );
    }
}

/// Serves http-files (which answers each request with the bytes of `f.txt`
/// in its working directory) with the host directory `volume` mounted
/// read-write at /data and the working directory /data/w.
async fn serve_files(volume: &std::path::Path) -> Served {
    let mut spec = RunSpec::new(vec!["http-files".into()]);
    spec.preopens = vec![Preopen::open(volume, "/data", false).expect("volume")];
    spec.cwd = Some("/data/w".into());
    serve_guest(guests::HTTP_FILES_WAT_WASM, spec, HttpOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_working_directory_is_served_from_its_volume() {
    let top = tempfile::tempdir().expect("tmp");
    let volume = top.path().join("vol");
    std::fs::create_dir_all(volume.join("w")).expect("mkdir");
    std::fs::write(volume.join("w/f.txt"), "inside\n").expect("write");
    let s = serve_files(&volume).await;
    let (status, body) = get(s.addr, "/").await.expect("GET /");
    assert_eq!((status, body.as_str()), (200, "inside\n"));
    // A change to the file is seen by the next request: the directory is
    // granted, not a copy of it.
    std::fs::write(volume.join("w/f.txt"), "changed\n").expect("write");
    let (status, body) = get(s.addr, "/").await.expect("GET /");
    assert_eq!((status, body.as_str()), (200, "changed\n"));
    // Without the file, the guest says which step failed.
    std::fs::remove_file(volume.join("w/f.txt")).expect("rm");
    let (status, body) = get(s.addr, "/").await.expect("GET /");
    assert_eq!((status, body.as_str()), (500, "open failed\n"));
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_directory_swapped_for_a_symlink_is_not_followed() {
    // The volume's host parent is outside every grant.
    let top = tempfile::tempdir().expect("tmp");
    let volume = top.path().join("vol");
    std::fs::create_dir_all(volume.join("w")).expect("mkdir");
    std::fs::write(volume.join("w/f.txt"), "inside\n").expect("write");
    std::fs::write(top.path().join("f.txt"), "host secret\n").expect("write");
    let s = serve_files(&volume).await;
    let (status, body) = get(s.addr, "/").await.expect("first GET");
    assert_eq!((status, body.as_str()), (200, "inside\n"));

    // What the guest itself can do in its writable volume (sandbox.rs's
    // a_volume_swapped_for_a_symlink_is_not_followed_by_the_next_run has a
    // guest do it): move the working directory aside and put a symlink to
    // `..` in its place. On the host, vol/w now names vol's parent.
    std::fs::rename(volume.join("w"), volume.join("w.old")).expect("rename");
    std::os::unix::fs::symlink("..", volume.join("w")).expect("symlink");
    assert_eq!(
        std::fs::read_to_string(volume.join("w/f.txt")).expect("through the link"),
        "host secret\n"
    );

    // Every later request's instance gets the directory granted at start.
    for n in 2..=3 {
        let (status, body) = get(s.addr, "/").await.expect("GET after the swap");
        assert!(
            !body.contains("host secret"),
            "request {n} escaped: {body:?}"
        );
        assert_eq!((status, body.as_str()), (200, "inside\n"), "request {n}");
    }
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

/// Reuse, with an idle timeout long enough that a loaded machine's pauses
/// between a test's requests do not end an instance.
fn reuse(count: usize, concurrent: usize) -> HttpOptions {
    HttpOptions {
        idle_instance_timeout: Duration::from_secs(30),
        ..HttpOptions::default().with_reuse(Some(count), Some(concurrent))
    }
}

/// A WASI 0.2 instance reused for 3 requests serves them one after another;
/// 7 requests take 3 instances (more only if a request came while the last
/// one's instance was still finishing), and each answer is the guest's.
/// Requests at once each take an instance of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_wasi_p2_instance_serves_its_requests_one_by_one() {
    let s = serve(reuse(3, 16)).await;
    for _ in 0..7 {
        let (status, body) = get(s.addr, "/").await.expect("GET /");
        assert_eq!((status, body.as_str()), (200, "hello from wasm\n"));
    }
    let sequential = s.stats.instances.load(Relaxed);
    assert!(
        (3..7).contains(&sequential),
        "7 requests, 3 per instance: {sequential} instances"
    );
    // Two slow requests at once: a 0.2 instance takes one at a time.
    let (a, b) = tokio::join!(get(s.addr, "/sleep"), get(s.addr, "/sleep"));
    assert_eq!(a.expect("a").0, 200);
    assert_eq!(b.expect("b").0, 200);
    assert!(s.stats.instances.load(Relaxed) > sequential);
    // Its error answers are the guest's too, and the instance goes on.
    let (status, body) = get(s.addr, "/fail").await.expect("GET /fail");
    assert_eq!((status, body.as_str()), (500, "failing\n"));
    assert_eq!(get(s.addr, "/").await.expect("GET /").0, 200);
    s.stop.stop(StopReason::Signal(15));
    let status = s.task.await.expect("join").expect("serve");
    assert_eq!(status, ExitStatus::Stopped(StopReason::Signal(15)));
}

/// A request that blocks past its deadline in a reused WASI 0.2 instance
/// gets 504, and ends the instance: the next request gets a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_request_ends_its_reused_instance() {
    let s = serve(HttpOptions {
        request_timeout: Duration::from_millis(300),
        ..reuse(100, 16)
    })
    .await;
    assert_eq!(get(s.addr, "/").await.expect("GET /").0, 200);
    let (status, _) = get(s.addr, "/sleep").await.expect("GET /sleep");
    assert_eq!(status, 504);
    assert_eq!(get(s.addr, "/").await.expect("GET /").0, 200);
    // A new one: the overdue instance ends at the same deadline, so the
    // next request may also find it not yet gone and start a third.
    assert!(s.stats.instances.load(Relaxed) >= 2);
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

/// The WASI 0.3 hello, reused: one instance for many requests, many at
/// once, each answered in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_wasi_p3_instance_serves_requests_at_once() {
    let spec = RunSpec::new(vec!["http-hello-p3".into()]);
    let s = serve_guest(guests::HTTP_HELLO_P3_WAT_WASM, spec, reuse(1000, 16)).await;
    let requests = (0..40).map(|_| get(s.addr, "/"));
    for r in futures::future::join_all(requests).await {
        let (status, body) = r.expect("GET /");
        assert_eq!((status, body.as_str()), (200, "hello from wasm\n"));
    }
    let instances = s.stats.instances.load(Relaxed);
    assert!(
        (1..=3).contains(&instances),
        "40 requests, 16 at once per instance: {instances} instances"
    );
    // A drain ends the server (its workers end on their own after).
    s.stop.stop(StopReason::Signal(15));
    assert_eq!(
        drained(s.task).await,
        ExitStatus::Stopped(StopReason::Signal(15))
    );
}

/// The counter guest answers with the number of requests its instance has
/// started: reuse shows as a count that goes up; a fresh instance per
/// request (the default) always answers 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_reused_instance_carries_state_between_requests() {
    for (options, expected) in [
        (HttpOptions::default(), ["1\n", "1\n", "1\n", "1\n"]),
        (reuse(128, 16), ["1\n", "2\n", "3\n", "4\n"]),
        (reuse(2, 16), ["1\n", "2\n", "1\n", "2\n"]),
    ] {
        let spec = RunSpec::new(vec!["p3-counter".into()]);
        let s = serve_guest(guests::P3_COUNTER_WAT_WASM, spec, options.clone()).await;
        for want in expected {
            let (status, body) = get(s.addr, "/").await.expect("GET /");
            assert_eq!((status, body.as_str()), (200, want), "{options:?}");
        }
        // A reused instance's CPU time is counted as a fresh one's is (a
        // CPU quota reads it).
        assert!(s.spec_usage.cpu_nanos() > 0, "{options:?}");
        s.stop.stop(StopReason::Signal(9));
        s.task.await.expect("join").expect("serve");
    }
}

/// A trap ends the reused instance (500); a request that spins, or waits
/// forever, past its deadline gets 504 and ends it too. The next request
/// gets a new instance, whose count starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_or_an_overdue_request_ends_a_reused_wasi_p3_instance() {
    let spec = RunSpec::new(vec!["p3-counter".into()]);
    let options = HttpOptions {
        request_timeout: Duration::from_millis(500),
        idle_instance_timeout: Duration::from_millis(300),
        ..reuse(128, 16)
    };
    let s = serve_guest(guests::P3_COUNTER_WAT_WASM, spec, options).await;
    for (path, status) in [("/trap", 500), ("/spin", 504), ("/hang", 504)] {
        assert_eq!(get(s.addr, "/").await.expect("GET /"), (200, "1\n".into()));
        assert_eq!(get(s.addr, "/").await.expect("GET /"), (200, "2\n".into()));
        let started = Instant::now();
        let (got, _) = get(s.addr, path).await.expect(path);
        assert_eq!(got, status, "{path}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
        // The spinning or waiting instance ends at its deadline; until
        // then a request may still reach it, so wait that out.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            get(s.addr, "/").await.expect("GET /"),
            (200, "1\n".into()),
            "after {path}: a new instance"
        );
        // Let that one go idle and end (300 ms), so the next round starts
        // at 1.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    s.stop.stop(StopReason::Signal(9));
    s.task.await.expect("join").expect("serve");
}

/// CPU time this whole test process has used.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    // Fields after the command's closing parenthesis: utime is the 12th,
    // stime the 13th (clock ticks).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).expect("stat format");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("tick count"))
        .collect();
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis((fields[0] + fields[1]) * 1000 / hz)
}

/// A guest spinning in a request when the server is killed stops: with a
/// fresh instance and with a reused one, nothing keeps computing after the
/// server has returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_stops_a_spinning_guest_even_after_the_server_returns() {
    for options in [HttpOptions::default(), reuse(128, 16)] {
        let options = HttpOptions {
            request_timeout: Duration::from_secs(60),
            ..options
        };
        let spec = RunSpec::new(vec!["p3-counter".into()]);
        let s = serve_guest(guests::P3_COUNTER_WAT_WASM, spec, options.clone()).await;
        let spinning = tokio::spawn(get(s.addr, "/spin"));
        while s.stats.in_flight.load(Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.stop.stop(StopReason::Signal(15));
        s.stop.stop(StopReason::Signal(9));
        let status = s.task.await.expect("join").expect("serve");
        assert_eq!(status, ExitStatus::Stopped(StopReason::Signal(9)));
        spinning.abort();
        // Give the interrupt a moment, then see that nothing spins.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = process_cpu();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let used = process_cpu().saturating_sub(before);
        assert!(
            used < Duration::from_millis(300),
            "{options:?}: {used:?} of CPU in a second after the kill"
        );
    }
}
