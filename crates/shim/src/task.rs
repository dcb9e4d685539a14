//! The shim v2 task service: containerd's ttrpc calls, turned into calls on
//! the container core ([`crate::containers`]) and its answers and errors
//! turned into responses. Conversion only: what a call does is decided by
//! the core. `From<ShimError> for ttrpc::Error` is the one place errors
//! become gRPC codes.

use std::sync::Arc;

use async_trait::async_trait;
use containerd_shim::api::*;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::shim_async::Task;
use containerd_shim::protos::ttrpc::r#async::TtrpcContext;
use containerd_shim::protos::ttrpc::{self, Code};
use tracing::info;
use wasmpod_engine::Runtimes;

use crate::ShimError;
use crate::admission::NodePolicy;
use crate::containers::{Containers, NewContainer};
use crate::content::Store;
use crate::events::EventForwarder;
use crate::process::{Exit, Status as ProcessStatus};
use crate::reported::{pid, timestamp};
use crate::spec;
use crate::stdio::StdioPaths;

type TtrpcResult<T> = Result<T, ttrpc::Error>;

/// The task service of one shim process (one pod, or one container).
pub struct TaskService {
    containers: Containers,
    namespace: String,
    exit: Arc<ExitSignal>,
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
        runtimes: Arc<Runtimes>,
        events: EventForwarder,
        namespace: String,
        address: &str,
        exit: Arc<ExitSignal>,
    ) -> Self {
        Self {
            containers: Containers::new(
                runtimes,
                Store::new(address, &namespace),
                NodePolicy::from_env(),
                Arc::new(events),
            ),
            namespace,
            exit,
        }
    }
}

/// The exec a request names: `None` (its empty id) for the init process.
fn exec(exec_id: &str) -> Option<&str> {
    (!exec_id.is_empty()).then_some(exec_id)
}

fn stdio(stdin: &str, stdout: &str, stderr: &str) -> StdioPaths {
    StdioPaths {
        stdin: stdin.to_string(),
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    }
}

impl From<ShimError> for ttrpc::Error {
    fn from(e: ShimError) -> Self {
        let code = match &e {
            ShimError::NotFound(_) => Code::NOT_FOUND,
            ShimError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            ShimError::InvalidSpec(_)
            | ShimError::Annotation { .. }
            | ShimError::ModuleNotFound { .. }
            | ShimError::LoadModule { .. } => Code::INVALID_ARGUMENT,
            ShimError::Bundle(b) => match b {
                wasmpod_bundle::BundleError::Io { .. } => Code::INTERNAL,
                _ => Code::INVALID_ARGUMENT,
            },
            ShimError::AlreadyStarted(_) | ShimError::Exited(_) | ShimError::StillRunning(_) => {
                Code::FAILED_PRECONDITION
            }
            ShimError::Unsupported(_) => Code::UNIMPLEMENTED,
            ShimError::NotAdmitted { .. } => Code::PERMISSION_DENIED,
            ShimError::Task(_)
            | ShimError::Metrics(_)
            | ShimError::Io { .. }
            | ShimError::Mount { .. } => Code::INTERNAL,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, wasmpod_engine::one_line(&e)))
    }
}

#[async_trait]
impl Task for TaskService {
    async fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        self.containers
            .create(NewContainer {
                id: req.id,
                bundle: req.bundle,
                rootfs: req.rootfs,
                stdio: stdio(&req.stdin, &req.stdout, &req.stderr),
                terminal: req.terminal,
            })
            .await?;
        Ok(CreateTaskResponse {
            pid: pid(),
            ..Default::default()
        })
    }

    async fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        self.containers.start(&req.id, exec(&req.exec_id)).await?;
        Ok(StartResponse {
            pid: pid(),
            ..Default::default()
        })
    }

    async fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        let p = self.containers.state(&req.id, exec(&req.exec_id)).await?;
        let (status, exit) = match p.status {
            ProcessStatus::Created => (Status::CREATED, None),
            ProcessStatus::Running => (Status::RUNNING, None),
            ProcessStatus::Exited(e) | ProcessStatus::Deleted(e) => (Status::STOPPED, Some(e)),
        };
        Ok(StateResponse {
            id: req.id,
            bundle: p.bundle,
            pid: pid(),
            status: status.into(),
            stdin: p.stdio.stdin,
            stdout: p.stdio.stdout,
            stderr: p.stdio.stderr,
            exit_status: exit.map(|e| e.status).unwrap_or(0),
            exited_at: match exit {
                Some(e) => MessageField::some(timestamp(e.at)),
                None => MessageField::none(),
            },
            exec_id: req.exec_id,
            ..Default::default()
        })
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        self.containers
            .kill(&req.id, exec(&req.exec_id), req.signal, req.all)
            .await?;
        Ok(Empty::new())
    }

    async fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let Exit { status, at } = self.containers.wait(&req.id, exec(&req.exec_id)).await?;
        Ok(WaitResponse {
            exit_status: status,
            exited_at: MessageField::some(timestamp(at)),
            ..Default::default()
        })
    }

    async fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let Exit { status, at } = self.containers.delete(&req.id, exec(&req.exec_id)).await?;
        Ok(DeleteResponse {
            pid: pid(),
            exit_status: status,
            exited_at: MessageField::some(timestamp(at)),
            ..Default::default()
        })
    }

    async fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        let process: spec::Process = serde_json::from_slice(&req.spec.value)
            .map_err(|e| ShimError::InvalidSpec(format!("exec process spec: {e}")))?;
        self.containers
            .exec(
                &req.id,
                &req.exec_id,
                process,
                stdio(&req.stdin, &req.stdout, &req.stderr),
                req.terminal,
            )
            .await?;
        Ok(Empty::new())
    }

    async fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        self.containers.ensure_exists(&req.id).await?;
        let mut info = containerd_shim::protos::types::task::ProcessInfo::new();
        info.pid = pid();
        Ok(PidsResponse {
            processes: vec![info],
            ..Default::default()
        })
    }

    async fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        // Guests read stdin from the FIFO until its writer closes it, which
        // containerd does; nothing is held open here to close.
        self.containers.ensure_exists(&req.id).await?;
        Ok(Empty::new())
    }

    async fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: ConnectRequest,
    ) -> TtrpcResult<ConnectResponse> {
        self.containers.ensure_exists(&req.id).await?;
        Ok(ConnectResponse {
            shim_pid: pid(),
            task_pid: pid(),
            ..Default::default()
        })
    }

    async fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let u = self.containers.usage(&req.id).await?;
        let metrics =
            crate::stats::container_metrics(u.memory_bytes, u.peak_memory_bytes, u.cpu_nanos);
        let any =
            containerd_shim::util::convert_to_any(Box::new(metrics)).map_err(ShimError::Metrics)?;
        Ok(StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    async fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        if self.containers.is_empty().await {
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
