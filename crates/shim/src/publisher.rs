//! What the container core tells containerd happened: the task events, and
//! the seam they leave the core through.
//!
//! The core ([`crate::containers`]) says what happened as a [`TaskEvent`];
//! a [`Publisher`] delivers it. The shim's publisher is the forwarder to
//! containerd ([`crate::events::EventForwarder`], which also turns each
//! event into containerd's message).

use containerd_shim::protos::topics;
use containerd_shim::protos::types::mount::Mount;

use crate::process::Exit;
use crate::stdio::StdioPaths;

/// Something containerd is told about a task, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TaskEvent {
    /// A container was created (not yet started).
    Create {
        container_id: String,
        bundle: String,
        rootfs: Vec<Mount>,
        stdio: StdioPaths,
        terminal: bool,
    },
    /// A container's init process started.
    Start { container_id: String },
    /// An exec process was added to a container (not yet started).
    ExecAdded {
        container_id: String,
        exec_id: String,
    },
    /// An exec process started.
    ExecStarted {
        container_id: String,
        exec_id: String,
    },
    /// A process that ran ended. `id` is the exec's id, or the container's
    /// for its init process.
    Exit {
        container_id: String,
        id: String,
        exit: Exit,
    },
    /// A container was deleted; `exit` is its init process's.
    Delete { container_id: String, exit: Exit },
}

impl TaskEvent {
    /// The topic containerd files the event under.
    pub(crate) fn topic(&self) -> &'static str {
        match self {
            Self::Create { .. } => topics::TASK_CREATE_EVENT_TOPIC,
            Self::Start { .. } => topics::TASK_START_EVENT_TOPIC,
            Self::ExecAdded { .. } => topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Self::ExecStarted { .. } => topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Self::Exit { .. } => topics::TASK_EXIT_EVENT_TOPIC,
            Self::Delete { .. } => topics::TASK_DELETE_EVENT_TOPIC,
        }
    }
}

/// Delivers task events, in the order they are given, without waiting for
/// their delivery.
pub(crate) trait Publisher: Send + Sync + 'static {
    fn publish(&self, event: TaskEvent);
}
