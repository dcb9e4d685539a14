//! The shim process: `start` (reuse the pod's server, or fork one),
//! `delete` (clean up after a dead server) and the server itself.
//!
//! This is the shim's own bootstrap rather than the `containerd-shim`
//! crate's: that one re-executes the binary for the server and has `start`
//! wait until the server listens, which costs a second exec of a large
//! binary and the server's whole set-up on every container's start path.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::Flags;
use containerd_shim::api::DeleteResponse;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::protos::protobuf::MessageField;
use rustix::process::{Pid, Signal, WaitOptions};
use tracing::{debug, error, info, warn};
use wasmpod_engine::{EngineOptions, Runtimes};

use crate::fork::Forked;
use crate::task::TaskService;
use wasmpod_bundle::{Network, Spec};

/// Runtime type containerd knows this shim by.
pub const RUNTIME_TYPE: &str = "io.containerd.wasmpod.v1";

/// Instances one shim (one pod) reserves room for in the pooling allocator.
const POD_INSTANCES: u32 = 64;

/// The engines of this shim's containers (one per wasm stack they ask
/// for): pooling on, and the node-wide compile cache under the system
/// `WASMPOD_HOME`.
fn engine() -> Runtimes {
    let cache_dir = wasmpod_engine::home::default_home().map(|h| h.join("cache").join("compiled"));
    let options = EngineOptions {
        cache_dir: cache_dir.clone(),
        pooling: true,
        pooling_max_instances: POD_INSTANCES,
        ..EngineOptions::default()
    };
    match Runtimes::new(options) {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "cannot use the pooling allocator or cache; falling back to defaults");
            match Runtimes::new(EngineOptions {
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
    let path = PathBuf::from(address.strip_prefix("unix://").unwrap_or(&address));
    let Some(listener) = bind_group_socket(&path)? else {
        // The pod's server is up: this container joins it.
        write_address_file(&address)?;
        return Ok(address);
    };
    let socket = ServerSocket {
        inode: std::fs::metadata(&path).map_err(at(&path))?.ino(),
        path,
    };
    // The server's threads, and so every guest socket, live in the network
    // the spec asks for (the pod's namespace, a new empty one, or the
    // host's): enter it before the fork, which the server inherits.
    let network = spec.as_ref().map_or(Network::Host, Spec::network);
    if let Err(e) = crate::netns::enter(network) {
        socket.remove();
        return Err(e);
    }
    // The async runtime is built only by the server, after the fork: until
    // then this process has a single thread, which the fork checks.
    match crate::fork::fork_single_threaded() {
        Err(e) => {
            socket.remove();
            Err(e)
        }
        Ok(Forked::Child) => std::process::exit(serve(listener, socket, flags)),
        Ok(Forked::Parent(pid)) => {
            drop(listener);
            let placed = place_server(pid).and_then(|()| write_address_file(&address));
            if let Err(e) = placed {
                // containerd will not use a server whose start failed, so
                // nothing would ever shut it down: end it here (errors
                // ignored: it may have ended already).
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
                socket.remove();
                return Err(e);
            }
            Ok(address)
        }
    }
}

/// Binds the pod's socket, or returns `None` when a live server already
/// listens on it. A socket nobody listens on (its server died) is replaced.
/// Starts of one pod are serialised by a lock on the socket folder, so two
/// of them never both replace a stale socket; it is released before the
/// fork, so the server does not inherit it.
///
/// The folder is made 0700 and owned by this shim's user, and the socket
/// 0600, whatever containerd's umask: only this user can reach a server or
/// put a socket where `start` would take it for one.
fn bind_group_socket(path: &Path) -> std::io::Result<Option<UnixListener>> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("socket {}: no folder", path.display())))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(at(dir))?;
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(at(dir))?;
    let meta = lock.metadata().map_err(at(dir))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(at(dir)(std::io::Error::other(format!(
            "owned by uid {}, not by this shim's uid {me}",
            meta.uid()
        ))));
    }
    if meta.mode() & 0o7777 != 0o700 {
        lock.set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(at(dir))?;
    }
    // The lock goes with the descriptor.
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| at(dir)(e.into()))?;
    match bind_private(path) {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let theirs = std::fs::symlink_metadata(path).map_err(at(path))?.uid();
            if theirs != me {
                return Err(at(path)(std::io::Error::other(format!(
                    "owned by uid {theirs}, not by this shim's uid {me}"
                ))));
            }
            if UnixStream::connect(path).is_ok() {
                return Ok(None);
            }
            // A socket left by a server that died.
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(at(path)(e));
            }
            bind_private(path).map(Some).map_err(at(path))
        }
        Err(e) => Err(at(path)(e)),
    }
}

/// Binds a Unix socket that is created 0600: the umask is narrowed for the
/// bind, so there is no moment when the socket has containerd's umask.
/// `start` has a single thread, so nothing else sees the narrowed umask.
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use rustix::fs::Mode;
    let old = rustix::process::umask(Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    // Restores the mask containerd gave.
    rustix::process::umask(old);
    bound
}

/// Names `path` in an I/O error, as the shim's errors do.
fn at(path: &Path) -> impl FnOnce(std::io::Error) -> std::io::Error + '_ {
    move |e| std::io::Error::other(crate::ShimError::io(path, e))
}

/// The socket a server was forked with, known by its inode too, so that a
/// server never removes a socket a later server bound at the same path.
struct ServerSocket {
    path: PathBuf,
    inode: u64,
}

impl ServerSocket {
    /// Removes the socket if it is still this server's.
    fn remove(&self) {
        let ours = std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode);
        if ours && let Err(e) = std::fs::remove_file(&self.path) {
            warn!(path = %self.path.display(), error = %e, "cannot remove the shim socket");
        }
    }
}

/// Like runc's shim: the server goes into containerd's shim cgroup when
/// runc options on stdin name one, and gets an OOM score just above
/// containerd's. Options of another type (the CRI plugin's own, when a
/// handler has an `options` table) say nothing about the shim's cgroup.
fn place_server(pid: Pid) -> std::io::Result<()> {
    use containerd_shim::protos::protobuf::Message;
    use containerd_shim::protos::protobuf::well_known_types::any::Any;
    use containerd_shim::protos::shim::oci::Options;

    let pid = pid.as_raw_nonzero().get().unsigned_abs();
    let mut data = Vec::new();
    std::io::stdin().read_to_end(&mut data)?;
    if !data.is_empty() {
        let any = Any::parse_from_bytes(&data)
            .map_err(|e| std::io::Error::other(format!("runtime options on stdin: {e}")))?;
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        if name == RUNC_OPTIONS {
            let options = Options::parse_from_bytes(&any.value)
                .map_err(|e| std::io::Error::other(format!("runtime options on stdin: {e}")))?;
            if !options.shim_cgroup.is_empty() {
                containerd_shim::cgroup::add_task_to_cgroup(&options.shim_cgroup, pid).map_err(
                    |e| std::io::Error::other(format!("shim cgroup {}: {e}", options.shim_cgroup)),
                )?;
            }
        }
    }
    containerd_shim::cgroup::adjust_oom_score(pid)
        .map_err(|e| std::io::Error::other(format!("OOM score: {e}")))
}

/// The type of runc's runtime options, the only ones that carry a shim cgroup.
const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";

/// A restarted containerd finds the server through the bundle's `address`
/// file; written to a temporary file and renamed, so it is never half there.
fn write_address_file(address: &str) -> std::io::Result<()> {
    std::fs::write("address.tmp", address)
        .and_then(|()| std::fs::rename("address.tmp", "address"))
        .map_err(|e| std::io::Error::other(format!("write the bundle's address file: {e}")))
}

/// Detaches the forked server from containerd's session and from the pipe
/// containerd reads `start`'s answer from (it waits for that pipe to close).
fn detach() -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    // Fails only for a process group leader, which a forked child is not.
    let _ = rustix::process::setsid();
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

/// The server: the task service on the socket `start` bound, until the
/// pod's last container is deleted (or containerd asks for shutdown).
/// Returns the exit code.
fn serve(listener: UnixListener, socket: ServerSocket, flags: &Flags) -> i32 {
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
        match run_server(listener, &socket, flags).await {
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
    listener: UnixListener,
    socket: &ServerSocket,
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
    // First, while containerd still waits for Shutdown's answer: once it
    // has it, containerd may delete the bundle and start a new server for
    // the same pod at the same path.
    socket.remove();
    server.shutdown().await.unwrap_or_default();
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
    // Absolute: mounts are matched by their absolute mount point.
    let bundle = std::env::current_dir()?;
    let rootfs = Spec::load(&bundle)
        .map(|s| s.rootfs(&bundle))
        .unwrap_or_else(|_| bundle.join("rootfs"));
    if let Some(root) = rootfs.to_str()
        && let Err(e) = containerd_shim::mount::umount_recursive(Some(root), libc::MNT_DETACH)
    {
        // containerd logs delete's stderr as cleanup warnings.
        eprintln!("{BINARY}: delete: unmount {root}: {e}");
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
