//! [`Proxy`]: a TCP proxy that can throttle, so a transfer can be killed
//! midway.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
