//! The `wasmpod up` supervisor: runs a [`Plan`] (Kubernetes manifests,
//! resolved by `wasmpod-kube`) on one machine, the way a kubelet would, with
//! every container an instance in this one process's engine.
//!
//! - Pods and Deployment replicas run until stopped; each container is
//!   restarted per the pod's `restartPolicy`, with the kubelet's
//!   exponential backoff (10 s doubling to 5 min, scaled by
//!   [`UpOptions::backoff_scale`]).
//! - A container whose module is a `wasi:http/incoming-handler` component is
//!   served, a fresh instance per request, on a loopback port of its own
//!   standing for its first `containerPort` (replicas cannot share a host
//!   port); probes and Services use that mapping.
//! - Readiness probes gate Service traffic; liveness probes restart.
//! - Jobs run their pods to `completions`, `parallelism` at a time, and fail
//!   after `backoffLimit` failed pods.
//! - Services listen on 127.0.0.1:`port` and forward each connection to the
//!   next ready endpoint, round robin.
//! - Output: every container's lines prefixed `pod/container | `, events as
//!   `[event] pod/container: ...`. A line longer than 16 KiB comes in
//!   pieces, each but the last prefixed `pod/container + `.
//! - `resources.limits.memory` and `resources.limits.cpu` are the engine's
//!   memory cap and CPU quota for the container's instances, its exec
//!   probes' included (they share the CPU quota with the container).

mod console;
mod error;
mod pod;
mod probe;
mod proxy;
mod service;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use wasmpod_engine::{HttpOptions, Program, Runtime};
use wasmpod_kube::{ContainerPlan, Image, Plan, PodPlan};

pub use console::Console;
pub use error::LocalError;

/// Which loaded image a container runs: its image, compiled for the engine
/// of its pod's wasm stack (wasmtime's stack limit is a setting of the
/// engine, and a program runs only in the engine that compiled it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageKey {
    /// The container's image.
    pub image: Image,
    /// The pod's [`PodPlan::max_wasm_stack`].
    pub max_wasm_stack: Option<u64>,
}

impl ImageKey {
    /// The key of container `c` of `pod`.
    pub fn of(pod: &PodPlan, c: &ContainerPlan) -> Self {
        Self {
            image: c.image.clone(),
            max_wasm_stack: pod.max_wasm_stack,
        }
    }
}

/// A container image, loaded: the program, the engine it runs in, and what
/// its image says about running it.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// The engine that compiled [`Self::program`], which runs it.
    pub runtime: Arc<Runtime>,
    /// The compiled module or component.
    pub program: Program,
    /// The image's entrypoint, `argv[0]` first (for a `file://` image, the
    /// path).
    pub entrypoint: Vec<String>,
    /// The image's default arguments.
    pub cmd: Vec<String>,
    /// The image's environment, under the container's own.
    pub env: Vec<(String, String)>,
    /// The image's working directory.
    pub working_dir: Option<String>,
}

/// How [`up`] runs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Where pods' volumes (emptyDir, ConfigMap and Secret files) are made;
    /// removed when `up` ends.
    pub state_dir: PathBuf,
    /// Multiplies the kubelet's restart backoff (1.0: 10 s doubling to
    /// 5 min). Tests use a small factor.
    pub backoff_scale: f64,
    /// How wasi:http components are served.
    pub http: HttpOptions,
    /// Where output goes.
    pub console: Arc<Console>,
}

/// How `up` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything ran to completion and succeeded.
    Succeeded,
    /// Everything ran to completion and something failed (a Job past its
    /// backoff limit, a pod with a failed container).
    Failed,
    /// Stopped by [`Shutdown`].
    Stopped,
}

/// Stops a running [`up`]: first gracefully, then at once.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Sender<u8>);

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Not stopping.
    pub fn new() -> Self {
        Self(watch::Sender::new(0))
    }

    /// Stop everything within its grace period: SIGTERM (wasi:http
    /// components drain), then SIGKILL at the end of the pod's
    /// `terminationGracePeriodSeconds`.
    pub fn graceful(&self) {
        self.0.send_if_modified(|level| {
            let changed = *level < 1;
            *level = (*level).max(1);
            changed
        });
    }

    /// Stop everything now (SIGKILL).
    pub fn force(&self) {
        self.0.send_replace(2);
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u8> {
        self.0.subscribe()
    }
}

/// Runs `plan` until it completes (when [`Plan::runs_to_completion`]) or
/// until `shutdown`. `images` holds every image the plan names, for each
/// wasm stack its pods ask for ([`ImageKey::of`]).
pub async fn up(
    plan: Plan,
    images: HashMap<ImageKey, LoadedImage>,
    options: UpOptions,
    shutdown: Shutdown,
) -> Result<Outcome, LocalError> {
    pod::Supervisor::new(plan, images, options, shutdown)?
        .run()
        .await
}
