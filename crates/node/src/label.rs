//! `wasmpod node label`: sets one label on this node through the
//! Kubernetes API with the pod's service account (in-cluster config:
//! `KUBERNETES_SERVICE_HOST`/`_PORT`, the token and CA under
//! `/var/run/secrets/kubernetes.io/serviceaccount`). One merge PATCH; the
//! service account needs `patch` on `nodes`.

use std::path::Path;

use crate::NodeError;

const SA: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Sets (`Some`) or removes (`None`) `key` on node `node`.
pub fn label_node(node: &str, key: &str, value: Option<&str>) -> Result<(), NodeError> {
    let err = |m: String| NodeError::Label(m);
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .map_err(|_| err("KUBERNETES_SERVICE_HOST is not set (not in a pod?)".into()))?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let token = std::fs::read_to_string(Path::new(SA).join("token"))
        .map_err(|e| err(format!("read the service account token: {e}")))?;
    let ca = std::fs::read(Path::new(SA).join("ca.crt"))
        .map_err(|e| err(format!("read the service account CA: {e}")))?;
    let ca = reqwest::Certificate::from_pem(&ca).map_err(|e| err(format!("CA: {e}")))?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let url = format!("https://{host}:{port}/api/v1/nodes/{node}");
    let body = serde_json::json!({ "metadata": { "labels": { key: value } } });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(format!("runtime: {e}")))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .map_err(|e| err(format!("client: {e}")))?;
        let resp = client
            .patch(&url)
            .bearer_auth(token.trim())
            .header("Content-Type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| err(format!("PATCH {url}: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            let text = resp.text().await.unwrap_or_default();
            Err(err(format!("PATCH {url}: {status}: {text}")))
        }
    })
}
