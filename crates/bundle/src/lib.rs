//! An OCI runtime bundle on this host, as wasmpod's two runtimes read it:
//! the containerd shim (`containerd-shim-wasmpod-v1`) and the low-level
//! OCI runtime (`wasmpod-oci`).
//!
//! - [`Spec`]: the parts of `config.json` a Wasm container uses, and the
//!   grants they make (preopens, limits, network, listen address);
//! - [`entrypoint`]: the module `process.args[0]` names, read beneath the
//!   open rootfs;
//! - [`cgroup`] and [`netns`]: joining the cgroup and the network
//!   namespace the spec names;
//! - [`startup_pages`]: giving back the runtime binary's pages that
//!   start-up touched, once the guest runs.

pub mod cgroup;
pub mod entrypoint;
mod error;
pub mod netns;
mod spec;
pub mod startup_pages;

pub use error::BundleError;
pub use spec::{
    CONTAINER_PORTS, CONTAINER_TYPE, CpuResources, DEFAULT_HTTP_PORT, HTTP_LISTEN_ENV, Linux,
    MAX_SPEC_BYTES, MemoryResources, Mount, Namespace, Network, Process, Resources, Root,
    SANDBOX_ID, Spec, User, read_json,
};
