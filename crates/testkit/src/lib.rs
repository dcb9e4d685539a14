//! Real components for tests, started on 127.0.0.1 in temporary folders and
//! stopped when dropped. One module per fixture:
//!
//! - [`Registry`] (`registry`): Debian's `docker-registry` (the CNCF
//!   distribution registry), with no auth, htpasswd basic auth, or token auth.
//! - [`TokenIssuer`] (`token`): the token service a token-auth registry sends
//!   clients to; it checks a user and password and signs RS256 JWTs with
//!   `openssl`.
//! - [`FaultServer`] (`fault`): answers fixed responses, for faults a real
//!   registry will not produce (oversized manifests, blobs longer than
//!   declared).
//! - [`BarrierServer`] (`barrier`): holds requests until enough wait at
//!   once, to tell concurrent clients from sequential ones.
//! - [`Proxy`] (`proxy`): a TCP proxy that can throttle, so a pull can be
//!   killed midway.
//! - [`http_get`], [`http_status`], [`free_port`] (`http`): plain HTTP/1 on
//!   loopback; [`SelfSigned`] (`cert`): a certificate for an HTTPS one.
//! - [`Containerd`] (`containerd`): containerd with its own root, state and
//!   sockets, optionally with CRI, CNI and a local sandbox image ([`cri`] has
//!   the CRI v1 client; [`image`] builds images to push).
//! - [`LocalImage`] (`archive`): images as archives that `podman load`,
//!   `docker load` and `ctr images import` read.
//! - [`CallLog`] (`call_log`): a logging stand-in for an OCI runtime, to see
//!   how a caller drives it.
//! - [`Podman`] (`podman`), [`Dockerd`] (`docker`): the callers of an OCI
//!   runtime, Podman with conmon and dockerd, on folders and configuration of
//!   their own, with runtimes registered by name.
//! - [`Mount`] (`mount`): a filesystem mounted as root, unmounted on drop;
//!   [`unmount_all_under`]: what a daemon left mounted in a fixture's folder.
//! - [`wait_until`], [`wait_for`], [`Deadline`] (`wait`): bounded waits.
//! - [`KillOnDrop`], [`lines_of`], [`output_within`] (`process`): child
//!   processes that never outlive a failed test.
//!
//! - [`cosign`]: cosign itself, to generate keys and sign test images.
//! - [`oras`]: the ORAS client, to push and pull artifacts as others do.
//!
//! Missing tools are a hard failure with the install hint, never a skip.

#![allow(missing_debug_implementations)]

pub mod cosign;
pub mod cri;
pub mod image;
pub mod oras;

mod archive;
mod barrier;
mod call_log;
mod cert;
mod cgroup;
mod conformance;
mod containerd;
mod docker;
mod fault;
mod http;
mod mount;
mod podman;
mod process;
mod proxy;
mod registry;
mod token;
mod tools;
mod wait;

pub use archive::{LocalImage, host_architecture};
pub use barrier::BarrierServer;
pub use call_log::{CallLog, RuntimeCall};
pub use cert::SelfSigned;
pub use conformance::wasi_p3_fixtures;
pub use containerd::{Containerd, CriSetup, PAUSE_IMAGE, Release};
pub use docker::Dockerd;
pub use fault::{Canned, FaultServer};
pub use http::{HttpError, free_port, http_get, http_status};
pub use mount::{Mount, unmount_all_under};
pub use podman::{Podman, PodmanBuilder};
pub use process::{KillOnDrop, lines_of, output_within};
pub use proxy::Proxy;
pub use registry::{Auth, Registry};
pub use token::TokenIssuer;
pub use wait::{Deadline, wait_for, wait_until};
