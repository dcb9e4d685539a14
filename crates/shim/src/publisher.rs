//! What the container core tells containerd happened: the task events, and
//! the seam they leave the core through.
//!
//! The core ([`crate::containers`]) says what happened as a [`TaskEvent`];
//! a [`Publisher`] delivers it. The shim's publisher is the forwarder to
//! containerd ([`crate::events::EventForwarder`], which also turns each
//! event into containerd's message); tests use [`Recorder`], which keeps
//! them in order so a lifecycle can be checked without containerd.

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

/// A publisher that records the events, for tests of the core.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    events: tokio::sync::watch::Sender<Vec<TaskEvent>>,
}

#[cfg(test)]
impl Publisher for Recorder {
    fn publish(&self, event: TaskEvent) {
        self.events.send_modify(|events| events.push(event));
    }
}

#[cfg(test)]
impl Recorder {
    /// The events so far.
    pub(crate) fn events(&self) -> Vec<TaskEvent> {
        self.events.borrow().clone()
    }

    /// The topics of the events so far, once there are at least `count`
    /// (an exit is published by the task that ran the process, just after
    /// its waiters are woken). Panics after 5 s.
    pub(crate) async fn topics_once(&self, count: usize) -> Vec<&'static str> {
        let mut rx = self.events.subscribe();
        let enough = rx.wait_for(|events| events.len() >= count);
        match tokio::time::timeout(std::time::Duration::from_secs(5), enough).await {
            Ok(Ok(events)) => events.iter().map(TaskEvent::topic).collect(),
            _ => panic!(
                "fewer than {count} events: {:?}",
                self.events
                    .borrow()
                    .iter()
                    .map(TaskEvent::topic)
                    .collect::<Vec<_>>()
            ),
        }
    }
}
