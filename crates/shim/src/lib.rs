//! `containerd-shim-wasmpod-v1`: the containerd runtime v2 shim that runs
//! Wasm containers in the wasmpod engine.
//!
//! containerd starts one shim per pod (containers are grouped by the CRI
//! `io.kubernetes.cri.sandbox-id` annotation) and talks the shim v2 task API
//! to it over ttrpc. Each container is an engine instance inside this
//! process, not a process of its own; the pod's sandbox ("pause") container
//! runs nothing. Protocol plumbing comes from the `containerd-shim` crate
//! (0.11, the last release that serves the task v2 API, which containerd
//! 1.6 requires and containerd 2.x still accepts);
//! everything that decides what runs is here:
//!
//! - [`spec`]: the OCI runtime spec, turned into args, env, preopens and
//!   limits, and the module path resolved inside the rootfs;
//! - [`task`]: the task service, containerd's ttrpc calls turned into
//!   calls on the container core and back (conversion only);
//! - `containers`: the container core, which decides what each call does;
//!   `process` (a process's state and transitions), `launch` (running
//!   one), `module` (finding its module), `stdio` (its FIFOs), and
//!   `publisher` (the events it publishes, through a trait);
//! - [`shim`]: process lifecycle (`start`, `delete`, the server);
//! - [`admission`]: the node's trust policy, checked before a container
//!   is prepared;
//! - `netns`: the network namespace the server (the pod) lives in;
//! - `fork`: forking the server, checked to be single-threaded.
//!
//! Logging: `logger` writes `log` records to the FIFO containerd reads as
//! the shim log; this crate's `tracing` events reach it through tracing's
//! `log` feature. `RUST_LOG` in containerd's environment sets the level.

pub mod admission;
mod containers;
mod content;
mod error;
pub mod events;
mod fork;
mod launch;
mod logger;
mod module;
mod netns;
mod process;
mod publisher;
mod reported;
mod rootfs;
pub mod shim;
pub use wasmpod_bundle as spec;
mod stats;
mod stdio;
pub mod task;

pub use content::ContentError;
pub use error::ShimError;
pub use shim::RUNTIME_TYPE;
