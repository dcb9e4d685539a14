//! One proxied connection of a Service: bytes both ways between a client
//! and an endpoint, until both are done.
//!
//! A Service's listener and its endpoints' servers share one process, and
//! so one table of file descriptors. A proxied connection holds two of
//! them. If it waited on the endpoint for ever, as a plain bidirectional
//! copy does after the client has finished sending, then an endpoint that
//! cannot accept (out of descriptors) would never answer, the proxy would
//! never let go, and the descriptors the endpoint needs would never come
//! back. So once the client has finished sending, the connection ends:
//!
//! - at once, if the client sent nothing and the endpoint has said
//!   nothing: there is no request to answer;
//! - when the endpoint has been silent for the answer wait: there is no
//!   answer coming.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

/// How long, after the client has finished sending, the endpoint may stay
/// silent before the connection is closed. The HTTP server of a pod
/// answers a request that takes longer with 504 after 30 s, so this is
/// longer.
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(40);

/// Copies `client` to `upstream` and back until both directions are done,
/// or until the client has finished sending and the endpoint has nothing
/// more to say (see the module docs). `answer_wait` is [`ANSWER_WAIT`]
/// outside tests.
pub(crate) async fn proxy(client: TcpStream, upstream: TcpStream, answer_wait: Duration) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    // When the endpoint last sent something; `None` while it has sent
    // nothing.
    let heard = Mutex::new(None::<Instant>);
    let last_heard = || *heard.lock().unwrap_or_else(|e| e.into_inner());
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match upstream_read.read(&mut buf).await {
                Ok(0) => {
                    let _ = client_write.shutdown().await;
                    return;
                }
                Ok(n) => {
                    *heard.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    };
    tokio::pin!(down);
    let up = async {
        let sent = tokio::io::copy(&mut client_read, &mut upstream_write).await;
        (sent, upstream_write)
    };
    tokio::pin!(up);
    let (sent, mut upstream_write) = tokio::select! {
        sent = &mut up => sent,
        // The endpoint is done: what the client still sends is its
        // business, as long as it keeps the connection.
        () = &mut down => {
            let _ = up.await;
            return;
        }
    };
    let client_finished = Instant::now();
    match sent {
        // The client went away before a word was exchanged.
        Ok(0) if last_heard().is_none() => {
            debug!("the client left without sending anything; closing");
            return;
        }
        Ok(_) => {
            // Pass the half close on: the endpoint sees the request ended.
            let _ = upstream_write.shutdown().await;
        }
        // The client's side failed (reset): nobody to answer.
        Err(_) => return,
    }
    loop {
        let since = last_heard().map_or(client_finished, |t| t.max(client_finished));
        tokio::select! {
            () = &mut down => return,
            () = tokio::time::sleep_until(since + answer_wait) => {
                let since = last_heard().map_or(client_finished, |t| t.max(client_finished));
                if since.elapsed() >= answer_wait {
                    debug!(?answer_wait, "the endpoint stayed silent after the request; closing");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A client connected to a proxy whose endpoint is `endpoint`; the proxy
    /// runs on its own task, whose handle is returned.
    async fn proxied(
        endpoint: std::net::SocketAddr,
        answer_wait: Duration,
    ) -> (TcpStream, tokio::task::JoinHandle<()>) {
        let front = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = front.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = front.accept().await.expect("accept");
        let upstream = TcpStream::connect(endpoint)
            .await
            .expect("connect upstream");
        let task = tokio::spawn(proxy(accepted, upstream, answer_wait));
        (client, task)
    }

    /// A listener that never accepts: what an endpoint out of descriptors
    /// looks like from outside.
    async fn stuck_endpoint() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        (listener, addr)
    }

    #[tokio::test]
    async fn a_client_that_leaves_silently_is_let_go_at_once() {
        let (_endpoint, addr) = stuck_endpoint().await;
        // An answer wait far longer than the test: the end must not come
        // from it.
        let (client, task) = proxied(addr, Duration::from_secs(3600)).await;
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the proxied connection ended")
            .expect("proxy task");
    }

    #[tokio::test]
    async fn an_endpoint_that_never_answers_is_let_go_after_the_wait() {
        let (_endpoint, addr) = stuck_endpoint().await;
        let (mut client, task) = proxied(addr, Duration::from_millis(200)).await;
        client
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .await
            .expect("request");
        client.shutdown().await.expect("half close");
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the proxied connection ended")
            .expect("proxy task");
        assert!(started.elapsed() >= Duration::from_millis(200));
        // The client is told: end of stream, no answer.
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer).await;
        assert!(answer.is_empty(), "{answer:?}");
    }

    #[tokio::test]
    async fn a_half_closed_client_gets_an_answer_that_keeps_coming() {
        let endpoint = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = endpoint.local_addr().expect("addr");
        let wait = Duration::from_millis(300);
        let server = tokio::spawn(async move {
            let (mut conn, _) = endpoint.accept().await.expect("accept");
            let mut request = Vec::new();
            conn.read_to_end(&mut request).await.expect("request");
            // Silent for most of the wait, several times over: each part
            // restarts it.
            for part in ["one ", "two ", "three"] {
                tokio::time::sleep(wait * 2 / 3).await;
                conn.write_all(part.as_bytes()).await.expect("answer");
            }
            request
        });
        let (mut client, task) = proxied(addr, wait).await;
        client.write_all(b"question").await.expect("request");
        client.shutdown().await.expect("half close");
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.expect("answer");
        assert_eq!(answer, "one two three");
        assert_eq!(server.await.expect("server"), b"question");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the proxied connection ended")
            .expect("proxy task");
    }

    #[tokio::test]
    async fn bytes_go_both_ways_until_the_endpoint_closes() {
        let endpoint = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = endpoint.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut conn, _) = endpoint.accept().await.expect("accept");
            let mut buf = [0u8; 4];
            for _ in 0..3 {
                conn.read_exact(&mut buf).await.expect("ping");
                conn.write_all(&buf).await.expect("pong");
            }
        });
        let (mut client, task) = proxied(addr, Duration::from_millis(50)).await;
        for word in [b"abcd", b"efgh", b"ijkl"] {
            client.write_all(word).await.expect("ping");
            let mut back = [0u8; 4];
            client.read_exact(&mut back).await.expect("pong");
            assert_eq!(&back, word);
            // Longer than the answer wait: it counts only once the client
            // has finished sending.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.await.expect("server");
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("end");
        assert!(rest.is_empty());
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the proxied connection ended")
            .expect("proxy task");
    }
}
