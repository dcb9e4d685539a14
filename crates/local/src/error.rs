//! What can stop `up` from running a plan at all. Failures of workloads
//! (exits, traps, failed probes) are events, not errors.

use std::path::PathBuf;

/// An error of the supervisor.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A container names an image that was not loaded.
    #[error("{pod}/{container}: image {image} was not loaded")]
    MissingImage {
        pod: String,
        container: String,
        image: String,
    },

    /// A Service port cannot be listened on.
    #[error("Service/{service}: cannot listen on 127.0.0.1:{port}")]
    ServicePort {
        service: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },

    /// A pod's volume could not be made.
    #[error("{pod}: volume {volume}: {}", path.display())]
    Volume {
        pod: String,
        volume: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
