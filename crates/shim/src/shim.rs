//! The shim process: `start` (spawn or reuse the pod's server), `delete`
//! (clean up after a dead server) and the server itself.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim::api::DeleteResponse;
use containerd_shim::asynchronous::publisher::RemotePublisher;
use containerd_shim::asynchronous::{ExitSignal, Shim, spawn};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::{Config, Error, Flags, StartOpts};
use tracing::{debug, info, warn};
use wasmpod_engine::{EngineOptions, Runtime};

use crate::spec::Spec;
use crate::task::TaskService;

/// Runtime type containerd knows this shim by.
pub const RUNTIME_TYPE: &str = "io.containerd.wasmpod.v1";

/// Instances one shim (one pod) reserves room for in the pooling allocator.
const POD_INSTANCES: u32 = 64;

pub struct WasmShim {
    exit: Arc<ExitSignal>,
    namespace: String,
    id: String,
    /// containerd's gRPC socket.
    address: String,
}

impl std::fmt::Debug for WasmShim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmShim")
            .field("namespace", &self.namespace)
            .field("id", &self.id)
            .finish()
    }
}

/// The engine every container of this shim shares: pooling on, and the
/// node-wide compile cache under the system `WASMPOD_HOME`.
fn engine() -> Runtime {
    let cache_dir = wasmpod_engine::home::default_home().map(|h| h.join("cache").join("compiled"));
    let options = EngineOptions {
        cache_dir: cache_dir.clone(),
        pooling: true,
        pooling_max_instances: POD_INSTANCES,
        ..EngineOptions::default()
    };
    match Runtime::new(options) {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "cannot use the pooling allocator or cache; falling back to defaults");
            match Runtime::new(EngineOptions {
                cache_dir,
                ..EngineOptions::default()
            }) {
                Ok(r) => r,
                Err(e) => {
                    // Nothing can run without an engine; say why and stop.
                    eprintln!("containerd-shim-wasmpod-v1: cannot create the engine: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}

/// Moves the calling thread into the network namespace at `path`.
fn join_network_namespace(path: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path)?;
    // SAFETY: setns(2) with a file descriptor we own and keep open for the
    // call; it changes only this thread's network namespace.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[async_trait]
impl Shim for WasmShim {
    type T = TaskService;

    async fn new(_runtime_id: &str, args: &Flags, config: &mut Config) -> Self {
        // The server (any action but these two) logs through our logger,
        // not the crate's.
        config.no_setup_logger = true;
        if !matches!(args.action.as_str(), "start" | "delete")
            && let Err(e) = crate::logger::init(args.debug, &config.default_log_level)
        {
            eprintln!("containerd-shim-wasmpod-v1: cannot open the shim log: {e}");
            std::process::exit(1);
        }
        Self {
            exit: Arc::new(ExitSignal::default()),
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            address: args.address.clone(),
        }
    }

    async fn start_shim(&mut self, opts: StartOpts) -> Result<String, Error> {
        // containerd runs `start` in the bundle. Containers of one pod share
        // a shim: group them by the CRI sandbox id.
        let spec = Spec::load(Path::new(".")).ok();
        let grouping = spec
            .as_ref()
            .and_then(|s| s.sandbox_id().map(str::to_string))
            .unwrap_or_else(|| opts.id.clone());
        info!(id = %opts.id, %grouping, "start shim");
        // The server is forked from this thread: joining the pod's network
        // namespace here puts every thread of the server, and so every
        // guest socket, in it from the start.
        if let Some(netns) = spec.as_ref().and_then(Spec::network_namespace) {
            join_network_namespace(netns)
                .map_err(|e| Error::Other(format!("join network namespace {netns}: {e}")))?;
        }
        let address = spawn(opts, &grouping, Vec::new()).await?;
        // A restarted containerd reconnects through this file.
        std::fs::write("address", &address)
            .map_err(|e| Error::Other(format!("write address file: {e}")))?;
        Ok(address)
    }

    async fn delete_shim(&mut self) -> Result<DeleteResponse, Error> {
        // The server is gone; undo what it may have left: the rootfs mount.
        let rootfs = Spec::load(Path::new("."))
            .map(|s| s.rootfs(Path::new(".")))
            .unwrap_or_else(|_| Path::new("rootfs").to_path_buf());
        if let Some(root) = rootfs.to_str() {
            let _ = containerd_shim::mount::umount_recursive(Some(root), libc::MNT_DETACH);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut ts =
            containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp::new();
        ts.seconds = now.as_secs() as i64;
        Ok(DeleteResponse {
            exit_status: 137,
            exited_at: MessageField::some(ts),
            ..Default::default()
        })
    }

    async fn wait(&mut self) {
        self.exit.wait().await;
    }

    async fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        // Events go through our own forwarder, which survives containerd
        // restarts; the crate's publisher only lends its address.
        let events =
            crate::events::EventForwarder::start(publisher.address.clone(), self.namespace.clone());
        let started = std::time::Instant::now();
        let runtime = engine();
        debug!(ms = started.elapsed().as_secs_f64() * 1e3, "engine ready");
        TaskService::new(
            Arc::new(runtime),
            events,
            self.namespace.clone(),
            &self.address,
            self.exit.clone(),
        )
    }
}
