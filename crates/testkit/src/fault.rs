//! [`FaultServer`]: an HTTP server of canned answers, for faults a real
//! registry will not produce (oversized manifests, blobs longer than
//! declared).

use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::http::{read_request, respond};

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
