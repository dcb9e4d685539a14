//! One process of a container (its init process or an exec): what it will
//! run, its state, and the transitions between states.
//!
//! The transitions:
//! - Created → Running: start;
//! - Running → Exited: the guest ended (a kill makes it end);
//! - Created → Exited: a kill before it ever ran;
//! - Created or Exited → Deleted: delete.
//!
//! Every other call is a wrong order and an error: starting twice or after
//! an exit, deleting a running process. A deleted process has left its
//! container's table, so any later call names an unknown process.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use wasmpod_engine::{
    ExitStatus, HostDir, Preopen, Program, Runtime, StopHandle, StopReason, Usage,
};

use crate::ShimError;
use crate::stdio::StdioPaths;

/// How a process ended: its exit status and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    pub(crate) status: u32,
    pub(crate) at: SystemTime,
}

impl Exit {
    /// An exit with `status`, now.
    pub(crate) fn now(status: u32) -> Self {
        Self {
            status,
            at: SystemTime::now(),
        }
    }
}

/// Where a process is in its life.
pub(crate) enum ProcessState {
    /// Created, with what it will run once started.
    Created(Plan),
    Running,
    Exited(Exit),
    /// Deleted, with the exit its delete reported.
    Deleted(Exit),
}

/// [`ProcessState`] without the plan: what a caller may look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Created,
    Running,
    Exited(Exit),
    Deleted(Exit),
}

impl ProcessState {
    fn status(&self) -> Status {
        match self {
            Self::Created(_) => Status::Created,
            Self::Running => Status::Running,
            Self::Exited(e) => Status::Exited(*e),
            Self::Deleted(e) => Status::Deleted(*e),
        }
    }
}

/// What a process will run.
pub(crate) enum Plan {
    /// The pause container: nothing runs; it lives until killed.
    Sandbox,
    Wasm {
        program: Program,
        args: Vec<String>,
        base: Box<Base>,
    },
}

/// What a container's processes share.
#[derive(Clone)]
pub(crate) struct Base {
    /// The engine of the container's wasm stack: its programs were
    /// compiled by it and run in it.
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: String,
    pub(crate) preopens: Vec<Preopen>,
    pub(crate) memory: Option<u64>,
    /// The rootfs, open: modules are looked up beneath it, so nothing the
    /// guest does to the rootfs can make an exec read outside it.
    pub(crate) root: HostDir,
    /// Where the init process is served if it is a wasi:http component.
    pub(crate) http_listen: std::net::SocketAddr,
    /// How it is served (the pod's reuse annotations).
    pub(crate) http_options: wasmpod_engine::HttpOptions,
}

/// One process. Its state is shared with the task that runs it, which
/// records the exit, and with callers waiting for that exit.
pub(crate) struct Process {
    pub(crate) stdio: StdioPaths,
    pub(crate) usage: Arc<Usage>,
    pub(crate) stop: StopHandle,
    state: watch::Sender<ProcessState>,
}

/// What the task running a process needs of it.
pub(crate) struct Running {
    pub(crate) plan: Plan,
    pub(crate) stdio: StdioPaths,
    pub(crate) usage: Arc<Usage>,
    pub(crate) stop: StopHandle,
    pub(crate) state: ExitRecorder,
}

/// Records a running process's exit.
pub(crate) struct ExitRecorder(watch::Sender<ProcessState>);

impl ExitRecorder {
    /// Running → Exited. A process deleted meanwhile (an exec of a
    /// container that was deleted) stays deleted.
    pub(crate) fn exited(&self, exit: Exit) {
        self.0.send_if_modified(|s| match s {
            ProcessState::Running => {
                *s = ProcessState::Exited(exit);
                true
            }
            _ => false,
        });
    }
}

impl Process {
    pub(crate) fn new(stdio: StdioPaths, plan: Plan) -> Self {
        Self {
            stdio,
            usage: Arc::default(),
            stop: StopHandle::new(),
            state: watch::Sender::new(ProcessState::Created(plan)),
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.state.borrow().status()
    }

    /// Created → Running: hands over what the task that runs it needs.
    /// `name` names the process in errors.
    pub(crate) fn start(&self, name: &str) -> Result<Running, ShimError> {
        let mut result = Err(ShimError::NotFound(name.to_string()));
        self.state.send_if_modified(|s| {
            match std::mem::replace(s, ProcessState::Running) {
                ProcessState::Created(plan) => {
                    result = Ok(plan);
                    return true;
                }
                ProcessState::Running => {
                    result = Err(ShimError::AlreadyStarted(name.to_string()));
                }
                ProcessState::Exited(e) => {
                    result = Err(ShimError::Exited(name.to_string()));
                    *s = ProcessState::Exited(e);
                }
                ProcessState::Deleted(e) => *s = ProcessState::Deleted(e),
            }
            false
        });
        result.map(|plan| Running {
            plan,
            stdio: self.stdio.clone(),
            usage: self.usage.clone(),
            stop: self.stop.clone(),
            state: ExitRecorder(self.state.clone()),
        })
    }

    /// Stops the process for `reason`. One that never started exits now,
    /// with the status the signal gives; one that ended stays as it was.
    pub(crate) fn kill(&self, reason: StopReason) {
        self.stop.stop(reason);
        self.state.send_if_modified(|s| match s {
            ProcessState::Created(_) => {
                *s = ProcessState::Exited(Exit::now(ExitStatus::Stopped(reason).code() as u32));
                true
            }
            _ => false,
        });
    }

    /// Created or Exited → Deleted, with the exit to report (status 0, now,
    /// for a process that never ran). A running process must be killed
    /// first.
    pub(crate) fn delete(&self, name: &str) -> Result<Exit, ShimError> {
        let mut result = Err(ShimError::NotFound(name.to_string()));
        self.state.send_if_modified(|s| {
            let exit = match s {
                ProcessState::Created(_) => Exit::now(0),
                ProcessState::Exited(e) => *e,
                ProcessState::Running => {
                    result = Err(ShimError::StillRunning(name.to_string()));
                    return false;
                }
                ProcessState::Deleted(_) => return false,
            };
            *s = ProcessState::Deleted(exit);
            result = Ok(exit);
            true
        });
        result
    }

    /// A future that resolves when the process has exited (or was deleted
    /// before it did), with the exit. It does not borrow the process.
    pub(crate) fn exit(&self) -> impl Future<Output = Exit> + Send + 'static {
        let mut rx = self.state.subscribe();
        async move {
            loop {
                match rx.borrow_and_update().status() {
                    Status::Exited(e) | Status::Deleted(e) => return e,
                    Status::Created | Status::Running => {}
                }
                if rx.changed().await.is_err() {
                    // The process and its task are gone without an exit.
                    return Exit::now(255);
                }
            }
        }
    }
}
