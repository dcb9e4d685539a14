//! Liveness and readiness checks, as the kubelet runs them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `httpGet`: a 2xx or 3xx status passes.
pub(crate) async fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> bool {
    let check = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: wasmpod-probe\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut head = [0u8; 64];
        let mut n = 0;
        // Enough of the response for its status line.
        while n < head.len() {
            let read = s.read(&mut head[n..]).await.ok()?;
            if read == 0 {
                break;
            }
            n += read;
            if head[..n].contains(&b'\n') {
                break;
            }
        }
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        line.split_whitespace().nth(1)?.parse::<u16>().ok()
    };
    matches!(
        tokio::time::timeout(timeout, check).await,
        Ok(Some(200..=399))
    )
}

/// `tcpSocket`: a connection opens.
pub(crate) async fn tcp(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}
