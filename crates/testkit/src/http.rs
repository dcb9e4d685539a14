//! Plain HTTP/1 on loopback: the client the tests and fixtures use
//! ([`http_get`], [`http_status`]), the request reader and responder of the
//! servers here, and [`free_port`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

/// A loopback port nothing listens on (at the time of asking: whoever binds
/// it next may lose a race, so a server started on it checks it got it).
pub fn free_port() -> u16 {
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

/// Reads a request line and headers; returns the target and the headers.
pub(crate) fn read_request(
    stream: &mut TcpStream,
) -> std::io::Result<(String, Vec<(String, String)>)> {
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

/// Writes a whole response and closes the sending side.
pub(crate) fn respond(
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
