//! Is the handler live? CRI `Status` with `verbose: true` returns the CRI
//! plugin's effective config as JSON in `info["config"]`, whose
//! `containerd.runtimes` lists every handler containerd loaded. This asks
//! the running daemon, not the file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::StatusRequest;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Endpoint, Uri};

use crate::{HANDLER, NodeError};

fn cri_error(socket: &Path, message: impl ToString) -> NodeError {
    NodeError::Cri {
        socket: socket.to_path_buf(),
        message: message.to_string(),
    }
}

/// How long one CRI call may take: a containerd that accepts the
/// connection and never answers must not hang install or status.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime handlers containerd's CRI reports, within [`CALL_TIMEOUT`].
pub async fn handlers(socket: &Path) -> Result<Vec<String>, NodeError> {
    handlers_within(socket, CALL_TIMEOUT).await
}

async fn handlers_within(socket: &Path, limit: Duration) -> Result<Vec<String>, NodeError> {
    tokio::time::timeout(limit, handlers_now(socket))
        .await
        .map_err(|_| cri_error(socket, format!("no answer within {limit:?}")))?
}

async fn handlers_now(socket: &Path) -> Result<Vec<String>, NodeError> {
    let path: PathBuf = socket.to_path_buf();
    let channel = Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
        .map_err(|e| cri_error(socket, format!("cannot connect: {}", crate::error_line(&e))))?;
    let status = RuntimeServiceClient::new(channel)
        .status(StatusRequest { verbose: true })
        .await
        .map_err(|e| cri_error(socket, format!("Status: {}", e.message())))?
        .into_inner();
    let config = status
        .info
        .get("config")
        .ok_or_else(|| cri_error(socket, "Status(verbose) has no config"))?;
    let json: serde_json::Value = serde_json::from_str(config)
        .map_err(|e| cri_error(socket, format!("Status config is not JSON: {e}")))?;
    let runtimes = json
        .pointer("/containerd/runtimes")
        .and_then(|r| r.as_object())
        .ok_or_else(|| cri_error(socket, "Status config lists no containerd.runtimes"))?;
    Ok(runtimes.keys().cloned().collect())
}

/// Whether CRI lists the `wasmpod` handler (blocking).
pub fn handler_listed(socket: &Path) -> Result<bool, NodeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cri_error(socket, format!("cannot start a runtime: {e}")))?;
    rt.block_on(async { Ok(handlers(socket).await?.iter().any(|h| h == HANDLER)) })
}

/// Waits until CRI answers and lists the handler, up to `timeout`.
pub fn wait_for_handler(socket: &Path, timeout: Duration) -> Result<(), NodeError> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match handler_listed(socket) {
            Ok(true) => return Ok(()),
            Ok(false) => format!("CRI answers but does not list the `{HANDLER}` handler"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(cri_error(
                socket,
                format!("handler not live after {timeout:?}: {last}"),
            ));
        }
        tracing::debug!(%last, "waiting for containerd");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes the connection and never answers: the call
    /// ends at its limit with one line, instead of hanging install.
    #[test]
    fn a_cri_that_never_answers_is_given_up_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let socket = dir.path().join("cri.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        let held = std::thread::spawn(move || {
            let conn = listener.accept();
            std::thread::sleep(Duration::from_secs(3));
            drop(conn);
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let started = Instant::now();
        let err = rt
            .block_on(handlers_within(&socket, Duration::from_millis(500)))
            .expect_err("no answer");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(err.to_string().contains("no answer within 500ms"), "{err}");
        held.join().expect("join");
    }
}
