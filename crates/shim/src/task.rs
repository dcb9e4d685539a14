//! The shim v2 task service: containerd's calls, answered by engine
//! instances inside this one process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim::api::*;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim_async::Task;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::r#async::TtrpcContext;
use containerd_shim::protos::ttrpc::{self, Code};
use tokio::sync::{Mutex, watch};
use tracing::{debug, info, warn};
use wasmpod_engine::{
    ExitStatus, HostDir, InputSpec, Limits, OutputSpec, Program, RunSpec, Runtime, Stdio,
    StopHandle, StopReason, Usage,
};

use crate::ShimError;
use crate::content::{Store, WasmLayers};
use crate::events::EventForwarder;
use crate::spec::{self, Spec};

type TtrpcResult<T> = Result<T, ttrpc::Error>;

/// How a process ended: exit status and time.
#[derive(Debug, Clone, Copy)]
struct Exited {
    status: u32,
    at: (i64, i32),
}

/// One process: a container's init process or an exec.
struct Proc {
    stdio: (String, String, String),
    usage: Arc<Usage>,
    /// `Some` until started.
    plan: Option<Plan>,
    started: bool,
    stop: StopHandle,
    exit: watch::Sender<Option<Exited>>,
}

/// What a process will run.
enum Plan {
    /// The pause container: nothing runs; it lives until killed.
    Sandbox,
    Wasm {
        program: Program,
        spec_args: Vec<String>,
        base: Box<Base>,
    },
}

/// What a container's processes share.
#[derive(Clone)]
struct Base {
    env: Vec<(String, String)>,
    cwd: String,
    preopens: Vec<wasmpod_engine::Preopen>,
    memory: Option<u64>,
    /// The rootfs, open: modules are looked up beneath it, so nothing the
    /// guest does to the rootfs can make an exec read outside it.
    root: HostDir,
    /// Where the init process is served if it is a wasi:http component.
    http_listen: std::net::SocketAddr,
}

struct Container {
    bundle: String,
    rootfs_mounted: Option<PathBuf>,
    base: Option<Base>,
    /// The image's Wasm layers, once the content store was asked.
    layers: Option<WasmLayers>,
    init: Proc,
    execs: HashMap<String, Proc>,
}

impl Proc {
    fn new(stdio: (String, String, String), plan: Plan) -> Self {
        Self {
            stdio,
            usage: Arc::default(),
            plan: Some(plan),
            started: false,
            stop: StopHandle::new(),
            exit: watch::Sender::new(None),
        }
    }

    fn status(&self) -> Status {
        if self.exit.borrow().is_some() {
            Status::STOPPED
        } else if self.started {
            Status::RUNNING
        } else {
            Status::CREATED
        }
    }
}

/// The task service of one shim process (one pod, or one container).
pub struct TaskService {
    runtime: Arc<Runtime>,
    containers: Arc<Mutex<HashMap<String, Container>>>,
    events: EventForwarder,
    namespace: String,
    exit: Arc<ExitSignal>,
    /// containerd's content store, for images whose module is a layer.
    store: Option<Store>,
    /// Whether a release of the binary's start-up pages is due.
    release_due: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for TaskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskService")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl TaskService {
    /// `address` is containerd's gRPC socket (the shim's `-address`).
    pub fn new(
        runtime: Arc<Runtime>,
        events: EventForwarder,
        namespace: String,
        address: &str,
        exit: Arc<ExitSignal>,
    ) -> Self {
        Self {
            runtime,
            containers: Arc::default(),
            events,
            store: Store::new(address, &namespace),
            namespace,
            exit,
            release_due: Arc::default(),
        }
    }

    /// A second after a container starts (once for a burst of starts), gives
    /// back the pages of the binary that start-up touched: see
    /// [`crate::memory`].
    fn release_startup_pages_soon(&self) {
        use std::sync::atomic::Ordering;
        if self.release_due.swap(true, Ordering::AcqRel) {
            return;
        }
        let due = self.release_due.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RELEASE_AFTER).await;
            due.store(false, Ordering::Release);
            match tokio::task::spawn_blocking(crate::memory::release_binary_pages).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => debug!(error = %e, "cannot release start-up pages"),
                Err(e) => debug!(error = %e, "release task"),
            }
        });
    }

    fn publish<M: Message>(&self, topic: &str, event: &M) {
        self.events.publish(topic, event);
    }

    fn pid() -> u32 {
        std::process::id()
    }

    /// The program `args[0]` names: a file in the container's rootfs, or
    /// else a Wasm layer of the container's image, read from containerd's
    /// content store (`layers` remembers which the image has).
    async fn load(
        &self,
        id: &str,
        base: &Base,
        args: &[String],
        layers: &mut Option<WasmLayers>,
    ) -> Result<Program, ShimError> {
        // Reading a file of the rootfs and compiling it are one trip off
        // the async threads.
        let (b, a, runtime) = (base.clone(), args.to_vec(), self.runtime.clone());
        let found = tokio::task::spawn_blocking(move || {
            read_module(&b, &a)?
                .map(|bytes| {
                    let first = a.first().map(String::as_str).unwrap_or_default();
                    load_bytes(&runtime, first, &bytes)
                })
                .transpose()
        })
        .await
        .map_err(|e| ShimError::Engine(e.to_string()))??;
        if let Some(program) = found {
            return Ok(program);
        }
        let first = args.first().map(String::as_str).unwrap_or_default();
        let missing = |reason: &dyn std::fmt::Display| {
            ShimError::Module(format!(
                "{first}: not in the container's rootfs, and {reason}"
            ))
        };
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| missing(&"containerd's address is unknown"))?;
        let known = match layers {
            Some(known) => &*known,
            None => &*layers.insert(store.wasm_layers(id).await.map_err(|r| missing(&r))?),
        };
        let layer = known.select(first).map_err(|r| missing(&r))?;
        // A layer's digest is the module's: compiled code cached
        // under it needs no read of the layer at all.
        let runtime = self.runtime.clone();
        let digest = layer.digest.to_bytes();
        let cached = tokio::task::spawn_blocking(move || runtime.load_cached(digest))
            .await
            .map_err(|e| ShimError::Engine(e.to_string()))?;
        if let Some(program) = cached {
            return Ok(program);
        }
        let bytes = store
            .read_layer(known, layer)
            .await
            .map_err(|r| missing(&r))?;
        compile(&self.runtime, first, bytes).await
    }

    /// What a new container will run: nothing for a pod sandbox, else its
    /// module with the spec's env, mounts and limits.
    async fn prepare(
        &self,
        id: &str,
        spec: &Spec,
        rootfs: &Path,
        layers: &mut Option<WasmLayers>,
    ) -> Result<(Plan, Option<Base>), ShimError> {
        if spec.is_sandbox() {
            return Ok((Plan::Sandbox, None));
        }
        let root = HostDir::open(rootfs).map_err(|e| ShimError::io(rootfs, e))?;
        let base = Base {
            env: spec.env(),
            cwd: spec.cwd(),
            preopens: spec.preopens(&root)?,
            memory: spec.memory_limit(),
            root,
            http_listen: spec.http_listen()?,
        };
        let args = spec
            .process
            .as_ref()
            .map(|p| p.args.clone())
            .unwrap_or_default();
        let program = self.load(id, &base, &args, layers).await?;
        debug!(container = %id, digest = %program.digest(), cache = program.cache_outcome().as_str(), "module loaded");
        // The linker it runs with is built while containerd goes back and
        // forth before Start, rather than when Start waits for it.
        let (runtime, p) = (self.runtime.clone(), program.clone());
        drop(tokio::task::spawn_blocking(move || {
            if let Err(e) = runtime.prepare_linker(&p) {
                warn!(error = %e, "cannot build the linker");
            }
        }));
        Ok((
            Plan::Wasm {
                program,
                spec_args: args,
                base: Box::new(base.clone()),
            },
            Some(base),
        ))
    }
}

fn now() -> (i64, i32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i32)
}

fn timestamp((seconds, nanos): (i64, i32)) -> Timestamp {
    let mut t = Timestamp::new();
    t.seconds = seconds;
    t.nanos = nanos;
    t
}

fn not_found(what: &str) -> ttrpc::Error {
    ttrpc::Error::from(ShimError::NotFound(what.to_string()))
}

impl From<ShimError> for ttrpc::Error {
    fn from(e: ShimError) -> Self {
        let code = match &e {
            ShimError::NotFound(_) => Code::NOT_FOUND,
            ShimError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            ShimError::InvalidSpec(_) | ShimError::Module(_) | ShimError::Native(_) => {
                Code::INVALID_ARGUMENT
            }
            ShimError::State(_) => Code::FAILED_PRECONDITION,
            ShimError::Unsupported(_) => Code::UNIMPLEMENTED,
            ShimError::Engine(_) | ShimError::Io { .. } | ShimError::Mount(_) => Code::INTERNAL,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
    }
}

/// The bytes of the module `args[0]` names in the container's root, or
/// `None` if there is no such file.
fn read_module(base: &Base, args: &[String]) -> Result<Option<Vec<u8>>, ShimError> {
    let first = args
        .first()
        .ok_or_else(|| ShimError::InvalidSpec("process.args is empty".into()))?;
    // Resolved beneath the open rootfs as the guest would see it: `..`
    // stops at its root and symlinks are followed inside it.
    let path = if first.starts_with('/') {
        first.clone()
    } else {
        format!("{}/{first}", base.cwd)
    };
    let bytes = match base.root.read_file_in_root(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ShimError::Module(format!("{first}: {e}"))),
    };
    if bytes.starts_with(b"\x7fELF") || bytes.starts_with(b"#!") {
        return Err(ShimError::Native(first.clone()));
    }
    Ok(Some(bytes))
}

/// Compiles `bytes` (or finds them in the compile cache); `first` names
/// them in errors.
fn load_bytes(runtime: &Runtime, first: &str, bytes: &[u8]) -> Result<Program, ShimError> {
    runtime
        .load(bytes)
        .map_err(|e| ShimError::Module(format!("{first}: {e}")))
}

/// [`load_bytes`] off the async threads.
async fn compile(
    runtime: &Arc<Runtime>,
    first: &str,
    bytes: Vec<u8>,
) -> Result<Program, ShimError> {
    let runtime = runtime.clone();
    let first = first.to_string();
    tokio::task::spawn_blocking(move || load_bytes(&runtime, &first, &bytes))
        .await
        .map_err(|e| ShimError::Engine(e.to_string()))?
}

/// How long after a container starts the shim releases its start-up pages.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an output FIFO waits for its reader before it is opened
/// read-write instead.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// stdout or stderr to a FIFO, written once its reader has it open.
///
/// containerd opens its read end in the background. A writer that opened,
/// wrote and closed before that would lose the output and leave containerd's
/// blocking open waiting for a writer forever (an ExecSync that never
/// returns). So the FIFO is opened write-only and non-blocking, which fails
/// with ENXIO until a reader is there, retried for up to [`READER_WAIT`].
/// If no reader comes (containerd gone or restarting), it is opened
/// read-write, which never waits, and output reaches whoever reads next.
fn open_output(path: &str) -> Result<OutputSpec, ShimError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.is_empty() {
        return Ok(OutputSpec::Null);
    }
    let deadline = std::time::Instant::now() + READER_WAIT;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => {
                blocking(&file).map_err(|e| ShimError::io(path, e))?;
                return Ok(OutputSpec::File(file));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if std::time::Instant::now() >= deadline {
                    warn!(path, "no reader on the output FIFO; opening it read-write");
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(ShimError::io(path, e)),
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(OutputSpec::File)
        .map_err(|e| ShimError::io(path, e))
}

/// Clears O_NONBLOCK, so the guest's writes wait for a slow reader instead
/// of failing with EAGAIN.
#[allow(unsafe_code)]
fn blocking(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this File owns; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Stdin from a FIFO. Opening a FIFO for reading waits for a writer, which
/// may come late or never (ctr without `-i`), so it is opened in the
/// background and fed to the guest through an in-memory pipe; the guest sees
/// EOF when the writer closes.
fn open_input(path: &str) -> InputSpec {
    if path.is_empty() {
        return InputSpec::Null;
    }
    let (reader, mut writer) = tokio::io::simplex(64 * 1024);
    let path = path.to_string();
    tokio::spawn(async move {
        let p = path.clone();
        match tokio::task::spawn_blocking(move || std::fs::File::open(p)).await {
            Ok(Ok(file)) => {
                let mut file = tokio::fs::File::from_std(file);
                if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
                    debug!(path, error = %e, "stdin copy ended");
                }
            }
            Ok(Err(e)) => warn!(path, error = %e, "cannot open stdin"),
            Err(e) => warn!(path, error = %e, "stdin opener failed"),
        }
    });
    InputSpec::Reader(Box::new(reader))
}

/// Starts a process: a task that runs the guest and records its exit.
fn launch(
    runtime: Arc<Runtime>,
    events: EventForwarder,
    container_id: String,
    exec_id: String,
    proc_: &mut Proc,
) -> Result<(), ShimError> {
    let plan = proc_
        .plan
        .take()
        .ok_or_else(|| ShimError::State(format!("{container_id} {exec_id} was already started")))?;
    proc_.started = true;
    let stop = proc_.stop.clone();
    let exit = proc_.exit.clone();
    let usage = proc_.usage.clone();
    let (stdin, stdout, stderr) = proc_.stdio.clone();
    tokio::spawn(async move {
        let status: u32 = match plan {
            Plan::Sandbox => ExitStatus::Stopped(stop.stopped().await).code() as u32,
            Plan::Wasm {
                program,
                spec_args,
                base,
            } => {
                let base = *base;
                let listen = base.http_listen;
                let stdin = open_input(&stdin);
                let stdio = tokio::task::spawn_blocking(move || -> Result<Stdio, ShimError> {
                    Ok(Stdio {
                        stdin,
                        stdout: open_output(&stdout)?,
                        stderr: open_output(&stderr)?,
                    })
                })
                .await
                .map_err(|e| ShimError::Engine(e.to_string()))
                .and_then(|r| r);
                match stdio {
                    Err(e) => {
                        warn!(container = %container_id, exec = %exec_id, error = %e, "cannot open stdio");
                        125
                    }
                    Ok(stdio) => {
                        let spec = RunSpec {
                            args: spec_args,
                            env: base.env,
                            preopens: base.preopens,
                            cwd: Some(base.cwd),
                            limits: Limits {
                                memory: base.memory,
                                timeout: None,
                                // The pod cgroup holds the CPU limit.
                                cpu_millis: None,
                            },
                            stdio,
                            network: true,
                            usage,
                        };
                        // The container's own wasi:http component is served
                        // (in the pod's network namespace, where this shim
                        // runs); an exec of one is run like any module.
                        let result = if exec_id.is_empty() && runtime.is_http_handler(&program) {
                            serve(&runtime, &program, spec, listen, &stop).await
                        } else {
                            runtime.run(&program, spec, &stop).await
                        };
                        match result {
                            Ok(status) => {
                                if let ExitStatus::Trapped { message, backtrace } = &status {
                                    warn!(container = %container_id, %message, backtrace = backtrace.as_deref().unwrap_or(""), "guest trapped");
                                }
                                status.code() as u32
                            }
                            Err(e) => {
                                warn!(container = %container_id, exec = %exec_id, error = %e, "guest failed to start");
                                125
                            }
                        }
                    }
                }
            }
        };
        let exited = Exited { status, at: now() };
        info!(container = %container_id, exec = %exec_id, status, "exited");
        exit.send_replace(Some(exited));
        let event = TaskExit {
            container_id: container_id.clone(),
            id: if exec_id.is_empty() {
                container_id.clone()
            } else {
                exec_id.clone()
            },
            pid: TaskService::pid(),
            exit_status: status,
            exited_at: MessageField::some(timestamp(exited.at)),
            ..Default::default()
        };
        events.publish(topics::TASK_EXIT_EVENT_TOPIC, &event);
    });
    Ok(())
}

/// Serves a wasi:http component on `listen` until it is stopped: SIGTERM
/// drains the requests in flight, SIGKILL ends them.
async fn serve(
    runtime: &Runtime,
    program: &Program,
    spec: RunSpec,
    listen: std::net::SocketAddr,
    stop: &StopHandle,
) -> Result<ExitStatus, wasmpod_engine::EngineError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| wasmpod_engine::EngineError::Listen {
            addr: listen,
            source,
        })?;
    info!(%listen, "serving wasi:http");
    runtime
        .serve_http(
            program,
            spec,
            listener,
            wasmpod_engine::HttpOptions::default(),
            Default::default(),
            stop,
        )
        .await
}

async fn wait_exit(exit: &watch::Sender<Option<Exited>>) -> Exited {
    let mut rx = exit.subscribe();
    loop {
        if let Some(e) = *rx.borrow_and_update() {
            return e;
        }
        if rx.changed().await.is_err() {
            return Exited {
                status: 255,
                at: now(),
            };
        }
    }
}

fn signal_reason(signal: u32) -> StopReason {
    StopReason::Signal(i32::try_from(signal).unwrap_or(9))
}

#[async_trait]
impl Task for TaskService {
    async fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        let id = req.id.clone();
        info!(container = %id, bundle = %req.bundle, "create");
        // The lock is not held while the container is prepared (mounting,
        // asking containerd for Wasm layers, loading the module): the
        // pod's other containers keep answering meanwhile.
        let first = {
            let containers = self.containers.lock().await;
            if containers.contains_key(&id) {
                return Err(ShimError::AlreadyExists(id).into());
            }
            containers.is_empty()
        };
        let bundle = PathBuf::from(&req.bundle);
        let spec = Spec::load(&bundle)?;
        crate::netns::admit(spec.network())?;
        let rootfs = spec.rootfs(&bundle);
        let mut mounted = None;
        if !req.rootfs.is_empty() {
            std::fs::create_dir_all(&rootfs).map_err(|e| ShimError::io(&rootfs, e))?;
            for m in &req.rootfs {
                if let Err(e) = containerd_shim::asynchronous::util::mount_rootfs(m, &rootfs).await
                {
                    unmount(&rootfs);
                    return Err(ShimError::Mount(format!("{}: {e}", rootfs.display())).into());
                }
            }
            mounted = Some(rootfs.clone());
        }
        // The first container of a pod (its sandbox, under CRI) puts this
        // process in the pod's cgroup. A container outside a pod (plain
        // ctr) has no pod cgroup to join, and moving a process between v1
        // cgroups costs tens of milliseconds of start-up.
        if first
            && (spec.is_sandbox() || spec.sandbox_id().is_some())
            && let Some(pod) = spec
                .linux
                .as_ref()
                .and_then(|l| crate::cgroup::pod_cgroup(&l.cgroups_path))
        {
            crate::cgroup::join(Path::new("/sys/fs/cgroup"), &pod);
        }
        let stdio = (req.stdin.clone(), req.stdout.clone(), req.stderr.clone());
        let mut layers = None;
        let prepared = self.prepare(&id, &spec, &rootfs, &mut layers).await;
        let mut containers = self.containers.lock().await;
        let prepared = prepared.and_then(|p| {
            if containers.contains_key(&id) {
                Err(ShimError::AlreadyExists(id.clone()))
            } else {
                Ok(p)
            }
        });
        let (plan, base) = match prepared {
            Ok(p) => p,
            Err(e) => {
                drop(containers);
                if let Some(root) = &mounted {
                    unmount(root);
                }
                return Err(e.into());
            }
        };
        containers.insert(
            id.clone(),
            Container {
                bundle: req.bundle.clone(),
                rootfs_mounted: mounted,
                base,
                layers,
                init: Proc::new(stdio, plan),
                execs: HashMap::new(),
            },
        );
        drop(containers);
        let event = TaskCreate {
            container_id: id,
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            }),
            pid: Self::pid(),
            ..Default::default()
        };
        self.publish(topics::TASK_CREATE_EVENT_TOPIC, &event);
        Ok(CreateTaskResponse {
            pid: Self::pid(),
            ..Default::default()
        })
    }

    async fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let mut containers = self.containers.lock().await;
        let c = containers
            .get_mut(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        let proc_ = if req.exec_id.is_empty() {
            &mut c.init
        } else {
            c.execs
                .get_mut(&req.exec_id)
                .ok_or_else(|| not_found(&format!("{} exec {}", req.id, req.exec_id)))?
        };
        launch(
            self.runtime.clone(),
            self.events.clone(),
            req.id.clone(),
            req.exec_id.clone(),
            proc_,
        )?;
        drop(containers);
        if req.exec_id.is_empty() {
            // Not for execs: an exec probe every second would undo and redo
            // the release each time.
            self.release_startup_pages_soon();
            let event = TaskStart {
                container_id: req.id.clone(),
                pid: Self::pid(),
                ..Default::default()
            };
            self.publish(topics::TASK_START_EVENT_TOPIC, &event);
        } else {
            let event = TaskExecStarted {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                pid: Self::pid(),
                ..Default::default()
            };
            self.publish(topics::TASK_EXEC_STARTED_EVENT_TOPIC, &event);
        }
        Ok(StartResponse {
            pid: Self::pid(),
            ..Default::default()
        })
    }

    async fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        let containers = self.containers.lock().await;
        let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let p = if req.exec_id.is_empty() {
            &c.init
        } else {
            c.execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&req.exec_id))?
        };
        let exited = *p.exit.borrow();
        Ok(StateResponse {
            id: req.id.clone(),
            bundle: c.bundle.clone(),
            pid: Self::pid(),
            status: p.status().into(),
            stdin: p.stdio.0.clone(),
            stdout: p.stdio.1.clone(),
            stderr: p.stdio.2.clone(),
            exit_status: exited.map(|e| e.status).unwrap_or(0),
            exited_at: match exited {
                Some(e) => MessageField::some(timestamp(e.at)),
                None => MessageField::none(),
            },
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        let containers = self.containers.lock().await;
        let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let reason = signal_reason(req.signal);
        info!(container = %req.id, exec = %req.exec_id, signal = req.signal, "kill");
        if req.exec_id.is_empty() {
            c.init.stop.stop(reason);
            if req.all {
                for e in c.execs.values() {
                    e.stop.stop(reason);
                }
            }
            // A process that never started exits now.
            if !c.init.started && c.init.exit.borrow().is_none() {
                c.init.exit.send_replace(Some(Exited {
                    status: ExitStatus::Stopped(reason).code() as u32,
                    at: now(),
                }));
            }
        } else {
            let e = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&req.exec_id))?;
            e.stop.stop(reason);
        }
        Ok(Empty::new())
    }

    async fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let exit = {
            let containers = self.containers.lock().await;
            let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            if req.exec_id.is_empty() {
                c.init.exit.clone()
            } else {
                c.execs
                    .get(&req.exec_id)
                    .ok_or_else(|| not_found(&req.exec_id))?
                    .exit
                    .clone()
            }
        };
        let e = wait_exit(&exit).await;
        Ok(WaitResponse {
            exit_status: e.status,
            exited_at: MessageField::some(timestamp(e.at)),
            ..Default::default()
        })
    }

    async fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let mut containers = self.containers.lock().await;
        let exited = if req.exec_id.is_empty() {
            let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            if c.init.started && c.init.exit.borrow().is_none() {
                return Err(ShimError::State(format!(
                    "{} is still running; kill it first",
                    req.id
                ))
                .into());
            }
            let c = containers
                .remove(&req.id)
                .ok_or_else(|| not_found(&req.id))?;
            for e in c.execs.values() {
                e.stop.stop(StopReason::Signal(9));
                release_stdin(&e.stdio.0);
            }
            release_stdin(&c.init.stdio.0);
            if let Some(root) = &c.rootfs_mounted {
                unmount(root);
            }
            let exited = *c.init.exit.borrow();
            exited.unwrap_or(Exited {
                status: 0,
                at: now(),
            })
        } else {
            let c = containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&req.id))?;
            let e = c
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| not_found(&req.exec_id))?;
            // Its CPU time stays in the container's total (as a finished
            // process's stays in a cgroup's), so the counter never goes back.
            c.init.usage.add_cpu_nanos(e.usage.cpu_nanos());
            release_stdin(&e.stdio.0);
            let exited = *e.exit.borrow();
            exited.unwrap_or(Exited {
                status: 0,
                at: now(),
            })
        };
        drop(containers);
        if req.exec_id.is_empty() {
            let event = TaskDelete {
                container_id: req.id.clone(),
                id: req.id.clone(),
                pid: Self::pid(),
                exit_status: exited.status,
                exited_at: MessageField::some(timestamp(exited.at)),
                ..Default::default()
            };
            self.publish(topics::TASK_DELETE_EVENT_TOPIC, &event);
        }
        Ok(DeleteResponse {
            pid: Self::pid(),
            exit_status: exited.status,
            exited_at: MessageField::some(timestamp(exited.at)),
            ..Default::default()
        })
    }

    async fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        if req.terminal {
            return Err(ShimError::Unsupported("a terminal (tty) for exec".into()).into());
        }
        let process: spec::Process = serde_json::from_slice(&req.spec.value)
            .map_err(|e| ShimError::InvalidSpec(format!("exec process spec: {e}")))?;
        let (mut base, mut layers) = {
            let containers = self.containers.lock().await;
            let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            if c.execs.contains_key(&req.exec_id) {
                return Err(ShimError::AlreadyExists(req.exec_id.clone()).into());
            }
            let base = c
                .base
                .clone()
                .ok_or_else(|| ShimError::Unsupported("exec in a pod sandbox container".into()))?;
            (base, c.layers.clone())
        };
        // The exec's own env and cwd replace the container's, as runc does.
        if !process.env.is_empty() {
            base.env = wasmpod_engine::env_pairs(&process.env);
        }
        if !process.cwd.is_empty() {
            base.cwd = process.cwd.clone();
        }
        // Loaded without the lock, as in create.
        let program = self.load(&req.id, &base, &process.args, &mut layers).await;
        let mut containers = self.containers.lock().await;
        let c = containers
            .get_mut(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        if c.layers.is_none() {
            c.layers = layers;
        }
        let program = program?;
        if c.execs.contains_key(&req.exec_id) {
            return Err(ShimError::AlreadyExists(req.exec_id.clone()).into());
        }
        c.execs.insert(
            req.exec_id.clone(),
            Proc::new(
                (req.stdin.clone(), req.stdout.clone(), req.stderr.clone()),
                Plan::Wasm {
                    program,
                    spec_args: process.args,
                    base: Box::new(base),
                },
            ),
        );
        drop(containers);
        let event = TaskExecAdded {
            container_id: req.id.clone(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        };
        self.publish(topics::TASK_EXEC_ADDED_EVENT_TOPIC, &event);
        Ok(Empty::new())
    }

    async fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let containers = self.containers.lock().await;
        containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let mut info = containerd_shim::protos::types::task::ProcessInfo::new();
        info.pid = Self::pid();
        Ok(PidsResponse {
            processes: vec![info],
            ..Default::default()
        })
    }

    async fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        // Guests read stdin from the FIFO until its writer closes it, which
        // containerd does; nothing is held open here to close.
        let containers = self.containers.lock().await;
        containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        Ok(Empty::new())
    }

    async fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: ConnectRequest,
    ) -> TtrpcResult<ConnectResponse> {
        let containers = self.containers.lock().await;
        containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        Ok(ConnectResponse {
            shim_pid: Self::pid(),
            task_pid: Self::pid(),
            ..Default::default()
        })
    }

    async fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let containers = self.containers.lock().await;
        let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let procs = std::iter::once(&c.init).chain(c.execs.values());
        let (memory, peak, cpu) = procs.fold((0, 0, 0), |(m, p, cpu), proc_| {
            (
                m + proc_.usage.memory_bytes(),
                p + proc_.usage.peak_memory_bytes(),
                cpu + proc_.usage.cpu_nanos(),
            )
        });
        let metrics = crate::stats::container_metrics(memory, peak, cpu);
        let any = containerd_shim::util::convert_to_any(Box::new(metrics))
            .map_err(|e| ShimError::Engine(e.to_string()))?;
        Ok(StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    async fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        let containers = self.containers.lock().await;
        if containers.is_empty() {
            info!("no containers left; shutting down");
            self.exit.signal();
        }
        Ok(Empty::new())
    }

    async fn pause(&self, _ctx: &TtrpcContext, _req: PauseRequest) -> TtrpcResult<Empty> {
        Err(ShimError::Unsupported("pause".into()).into())
    }

    async fn resume(&self, _ctx: &TtrpcContext, _req: ResumeRequest) -> TtrpcResult<Empty> {
        Err(ShimError::Unsupported("resume".into()).into())
    }

    async fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        _req: CheckpointTaskRequest,
    ) -> TtrpcResult<Empty> {
        Err(ShimError::Unsupported("checkpoint".into()).into())
    }

    async fn update(&self, _ctx: &TtrpcContext, _req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        Err(ShimError::Unsupported("update".into()).into())
    }

    async fn resize_pty(&self, _ctx: &TtrpcContext, _req: ResizePtyRequest) -> TtrpcResult<Empty> {
        Err(ShimError::Unsupported("resize pty (Wasm guests have no terminal)".into()).into())
    }
}

/// Unblocks a background open of a stdin FIFO that no writer ever opened,
/// by opening (and closing) its write end without blocking.
fn release_stdin(path: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    if !path.is_empty() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
    }
}

fn unmount(root: &Path) {
    if let Err(e) = crate::rootfs::unmount(root) {
        warn!(root = %root.display(), error = %e, "cannot unmount rootfs");
    }
}
