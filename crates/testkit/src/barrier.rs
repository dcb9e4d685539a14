//! [`BarrierServer`]: an HTTP server that answers none of its requests
//! until a set number of them are waiting at once, so a test can tell a
//! client that sends requests concurrently from one that sends them one
//! after another (which only ever has one waiting, and times out).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::http::{read_request, respond};

/// The requests waiting at the barrier, and those seen so far.
#[derive(Default)]
struct State {
    /// Requests waiting for the barrier to open.
    waiting: usize,
    /// How many times the barrier has opened: a waiting request is let
    /// through when this moves past the value it saw.
    opened: u64,
    /// The path of every request, in the order they arrived.
    arrived: Vec<String>,
}

/// An HTTP/1 server on 127.0.0.1 that holds each request until `parties`
/// requests are waiting, then answers them all: `GET PATH` with the body
/// its route gives for PATH (`text/plain`, 200), or 404. A request that
/// waits longer than its patience gets `504 barrier timed out\n` instead.
/// Every answer closes its connection.
pub struct BarrierServer {
    addr: String,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl BarrierServer {
    /// Starts the server; `routes` are (path, body) pairs.
    pub fn start(parties: usize, patience: Duration, routes: Vec<(String, String)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(routes);
        let (state2, stop2) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (state, routes) = (state2.clone(), routes.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let Ok((target, _)) = read_request(&mut stream) else {
                        return;
                    };
                    let path = target.split('?').next().unwrap_or("").to_string();
                    let through = wait_at_barrier(&state, parties, patience, &path);
                    let route = routes.iter().find(|(p, _)| *p == path);
                    let (status, body) = match route {
                        _ if !through => (504, "barrier timed out\n"),
                        Some((_, body)) => (200, body.as_str()),
                        None => (404, "not found\n"),
                    };
                    let _ = respond(&mut stream, status, "text/plain", body.as_bytes());
                });
            }
        });
        Self { addr, state, stop }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The paths of the requests that have arrived, in order.
    pub fn arrived(&self) -> Vec<String> {
        lock(&self.state.0).arrived.clone()
    }
}

impl Drop for BarrierServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Records `path`, then waits until `parties` requests are waiting (true)
/// or `patience` has passed (false).
fn wait_at_barrier(
    state: &(Mutex<State>, Condvar),
    parties: usize,
    patience: Duration,
    path: &str,
) -> bool {
    let (mutex, opened) = state;
    let mut s = lock(mutex);
    s.arrived.push(path.to_string());
    s.waiting += 1;
    let seen = s.opened;
    if s.waiting >= parties {
        s.waiting = 0;
        s.opened += 1;
        opened.notify_all();
        return true;
    }
    let (mut s, _) = opened
        .wait_timeout_while(s, patience, |s| s.opened == seen)
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if s.opened == seen {
        s.waiting -= 1;
        return false;
    }
    true
}

fn lock(mutex: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
