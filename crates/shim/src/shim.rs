//! The shim process: `start` (reuse the pod's server, or fork one),
//! `delete` (clean up after a dead server) and the server itself.
//!
//! This is the shim's own bootstrap rather than the `containerd-shim`
//! crate's: that one re-executes the binary for the server and has `start`
//! wait until the server listens, which costs a second exec of a large
//! binary and the server's whole set-up on every container's start path.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use containerd_shim::Flags;
use containerd_shim::api::DeleteResponse;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::protos::protobuf::MessageField;
use tracing::{debug, error, info, warn};
use wasmpod_engine::{EngineOptions, Runtime};

use crate::spec::Spec;
use crate::task::TaskService;

/// Runtime type containerd knows this shim by.
pub const RUNTIME_TYPE: &str = "io.containerd.wasmpod.v1";

/// Instances one shim (one pod) reserves room for in the pooling allocator.
const POD_INSTANCES: u32 = 64;

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
                    error!(error = %e, "cannot create the engine");
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

/// Runs the shim for the command line containerd gave it and returns the
/// process's exit code. containerd runs the binary twice per pod: `start`
/// (print the address of the pod's server, starting one if needed) and
/// `delete` (clean up after a server that is gone).
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let flags = match containerd_shim::parse(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{BINARY}: {e}");
            return 2;
        }
    };
    if flags.version {
        println!(
            "{BINARY}:\n  Version:  {}\n  Runtime:  {RUNTIME_TYPE}",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    match flags.action.as_str() {
        "start" => match start(&flags) {
            Ok(address) => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(address.as_bytes()).and_then(|()| out.flush()) {
                    eprintln!("{BINARY}: write the address: {e}");
                    return 1;
                }
                0
            }
            Err(e) => {
                eprintln!("{BINARY}: start: {e}");
                1
            }
        },
        "delete" => match delete() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{BINARY}: delete: {e}");
                1
            }
        },
        other => {
            eprintln!(
                "{BINARY}: unknown action {other:?}: containerd runs this shim with `start` or `delete`"
            );
            2
        }
    }
}

/// This binary's name, for messages.
const BINARY: &str = "containerd-shim-wasmpod-v1";

/// containerd's ttrpc socket, which events go to.
const TTRPC_ADDRESS: &str = "TTRPC_ADDRESS";

/// `start`: prints the address of the pod's server. containerd runs it in
/// the bundle. Containers of one pod share a server, grouped by the CRI
/// sandbox id: when that server's socket answers, its address is the
/// answer. Otherwise the socket is bound here and the server is this
/// process, forked: no second exec of the binary, and containerd can
/// connect (its connection waits in the listen backlog) while the server is
/// still setting up.
fn start(flags: &Flags) -> std::io::Result<String> {
    use std::os::unix::net::{UnixListener, UnixStream};

    if std::env::var_os(TTRPC_ADDRESS).is_none() {
        return Err(std::io::Error::other(format!(
            "{TTRPC_ADDRESS} is not set (containerd sets it)"
        )));
    }
    let spec = Spec::load(Path::new(".")).ok();
    let grouping = spec
        .as_ref()
        .and_then(|s| s.sandbox_id().map(str::to_string))
        .unwrap_or_else(|| flags.id.clone());
    let address = containerd_shim::socket_address(&flags.address, &flags.namespace, &grouping);
    let path = address.strip_prefix("unix://").unwrap_or(&address);
    if let Some(parent) = Path::new(path).parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(path).is_ok() {
                // The pod's server is up: this container joins it.
                write_address_file(&address)?;
                return Ok(address);
            }
            // A socket left by a server that died.
            std::fs::remove_file(path)?;
            UnixListener::bind(path)?
        }
        Err(e) => return Err(e),
    };
    // The server's threads, and so every guest socket, live in the pod's
    // network namespace: join it before the fork, which the server inherits.
    if let Some(netns) = spec.as_ref().and_then(Spec::network_namespace) {
        join_network_namespace(netns)
            .map_err(|e| std::io::Error::other(format!("join network namespace {netns}: {e}")))?;
    }
    // SAFETY: no thread has been started in this process (the async runtime
    // is built only by the server, after the fork), so the child may go on
    // running Rust code. It never returns here: `serve` ends in exit.
    #[allow(unsafe_code)]
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {
            let e = std::io::Error::last_os_error();
            let _ = std::fs::remove_file(path);
            Err(e)
        }
        0 => std::process::exit(serve(listener, flags)),
        pid => {
            drop(listener);
            // Like runc's shim: into containerd's shim cgroup when its
            // options name one, and an OOM score just above containerd's.
            #[allow(clippy::cast_sign_loss)]
            containerd_shim::cgroup::set_cgroup_and_oom_score(pid as u32)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            write_address_file(&address)?;
            Ok(address)
        }
    }
}

/// A restarted containerd finds the server through the bundle's `address`
/// file; written to a temporary file and renamed, so it is never half there.
fn write_address_file(address: &str) -> std::io::Result<()> {
    std::fs::write("address.tmp", address)?;
    std::fs::rename("address.tmp", "address")
}

/// Detaches the forked server from containerd's session and from the pipe
/// containerd reads `start`'s answer from (it waits for that pipe to close).
fn detach() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    // SAFETY: setsid and dup2 on descriptors this process owns; they touch
    // no memory.
    #[allow(unsafe_code)]
    unsafe {
        libc::setsid();
        for fd in 0..=2 {
            if libc::dup2(null.as_raw_fd(), fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// The server: the task service on the socket `start` bound, until the
/// pod's last container is deleted (or containerd asks for shutdown).
/// Returns the exit code.
fn serve(listener: std::os::unix::net::UnixListener, flags: &Flags) -> i32 {
    if let Err(e) = detach() {
        eprintln!("{BINARY}: detach the server: {e}");
        return 1;
    }
    if let Err(e) = crate::logger::init(flags.debug, "info") {
        // stderr is /dev/null now: nobody would see this but the exit code.
        eprintln!("{BINARY}: cannot open the shim log: {e}");
        return 1;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return 1;
        }
    };
    let code = runtime.block_on(async move {
        match run_server(listener, flags).await {
            Ok(()) => 0,
            Err(e) => {
                error!(error = %e, "shim server failed");
                1
            }
        }
    });
    // Do not wait for blocking-pool threads (a stdin FIFO nobody opened
    // keeps one in open(2)): the server is done, so the process is.
    std::mem::forget(runtime);
    code
}

async fn run_server(
    listener: std::os::unix::net::UnixListener,
    flags: &Flags,
) -> Result<(), Box<dyn std::error::Error>> {
    use containerd_shim::protos::shim_async::create_task;
    use containerd_shim::protos::ttrpc::r#async::Server;
    use containerd_shim::protos::ttrpc::r#async::transport::Listener;

    let ttrpc_address = std::env::var(TTRPC_ADDRESS)?;
    ignore_termination_signals()?;
    let exit = Arc::new(ExitSignal::default());
    let events = crate::events::EventForwarder::start(ttrpc_address, flags.namespace.clone());
    let started = std::time::Instant::now();
    let runtime = engine();
    debug!(ms = started.elapsed().as_secs_f64() * 1e3, "engine ready");
    let task = TaskService::new(
        Arc::new(runtime),
        events,
        flags.namespace.clone(),
        &flags.address,
        exit.clone(),
    );
    let mut server = Server::new()
        .add_listener(Listener::try_from(listener)?)
        .register_service(create_task(Arc::new(task)));
    server.start().await?;
    info!(id = %flags.id, "shim serving");
    exit.wait().await;
    info!("shutting down");
    server.shutdown().await.unwrap_or_default();
    // Our socket, named in the address file.
    if let Ok(address) = std::fs::read_to_string("address") {
        let path = address.strip_prefix("unix://").unwrap_or(&address);
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// SIGTERM and SIGINT do not stop the server: containerd ends it through
/// the task API, and guests are stopped through Kill. They are logged.
fn ignore_termination_signals() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
        let mut stream = signal(kind)?;
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                info!(
                    signal = kind.as_raw_value(),
                    "signal ignored; containerd stops the shim"
                );
            }
        });
    }
    Ok(())
}

/// `delete`: containerd runs it in the bundle after the server's connection
/// closed. The server is gone; undo what it may have left (the rootfs
/// mount) and answer with a killed exit status. No async runtime: this is
/// on the path of every container's removal.
fn delete() -> std::io::Result<()> {
    use containerd_shim::protos::protobuf::Message;
    let rootfs = Spec::load(Path::new("."))
        .map(|s| s.rootfs(Path::new(".")))
        .unwrap_or_else(|_| Path::new("rootfs").to_path_buf());
    if let Some(root) = rootfs.to_str() {
        let _ = containerd_shim::mount::umount_recursive(Some(root), libc::MNT_DETACH);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut ts = containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp::new();
    ts.seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    ts.nanos = i32::try_from(now.subsec_nanos()).unwrap_or(0);
    let response = DeleteResponse {
        exit_status: 137,
        exited_at: MessageField::some(ts),
        ..Default::default()
    };
    let bytes = response
        .write_to_bytes()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()
}
