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
    // A node's name is a DNS subdomain; anything else (`../x`) would name
    // another resource once the URL is normalised.
    let valid = !node.is_empty()
        && node.len() <= 253
        && node.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !valid {
        return Err(err(format!("{node:?} is not a node name")));
    }
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
        // Only the cluster's CA: the token goes to the API server alone,
        // never to a host a public CA vouches for.
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| err(format!("client: {e}")))?;
        let resp = client
            .patch(&url)
            .bearer_auth(token.trim())
            .header("Content-Type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| err(format!("PATCH {url}: {}", crate::error_line(&e))))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            // The API server's message, on one line and at most 1 KiB.
            let text = resp.text().await.unwrap_or_default();
            let text: String = text
                .chars()
                .take(1024)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Err(err(format!("PATCH {url}: {status}: {}", text.trim())))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_node_name_goes_into_the_url() {
        for bad in ["", "../x", "a/b", "Node", "-a", "a..b", "a_b"] {
            let err = label_node(bad, "k", None).expect_err(bad).to_string();
            assert!(err.contains("is not a node name"), "{bad}: {err}");
        }
    }
}
