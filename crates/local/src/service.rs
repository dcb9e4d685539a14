//! Services: a port on 127.0.0.1 whose connections go to the ready
//! endpoints, round robin.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tracing::debug;
use wasmpod_engine::AcceptBackoff;

/// Finds where an endpoint can be reached now: `None` while it is not
/// ready.
pub(crate) type Resolve = Arc<dyn Fn(&str, u16) -> Option<SocketAddr> + Send + Sync>;

/// Serves one Service port until the task is dropped. A failing `accept`
/// (out of file descriptors) pauses the loop, with [`AcceptBackoff`], rather
/// than spinning on the connection the kernel keeps offering.
pub(crate) async fn serve(
    listener: TcpListener,
    name: String,
    endpoints: Vec<(String, u16)>,
    resolve: Resolve,
) {
    let next = AtomicUsize::new(0);
    let mut backoff = AcceptBackoff::new();
    let what = format!(
        "Service/{name} 127.0.0.1:{}",
        listener.local_addr().map_or(0, |a| a.port())
    );
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => {
                backoff.succeeded();
                client
            }
            Err(e) => {
                if let Some(pause) = backoff.failed(&e, &what) {
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        // The next ready endpoint after the last one used.
        let start = next.fetch_add(1, Ordering::Relaxed);
        let target = (0..endpoints.len()).find_map(|i| {
            let (pod, port) = &endpoints[(start + i) % endpoints.len().max(1)];
            resolve(pod, *port)
        });
        let Some(target) = target else {
            debug!("no ready endpoint; closing the connection");
            continue;
        };
        tokio::spawn(async move {
            if let Ok(upstream) = TcpStream::connect(target).await {
                let _ = upstream.set_nodelay(true);
                let _ = client.set_nodelay(true);
                crate::proxy::proxy(client, upstream, crate::proxy::ANSWER_WAIT).await;
            }
        });
    }
}
