//! Forwarding task events to containerd, across containerd restarts: the
//! shim's [`Publisher`].
//!
//! The `containerd-shim` crate's publisher reconnects only on two kinds of
//! ttrpc error and gives up after five tries, so an exit that happens while
//! containerd restarts can be lost, leaving a task "running" forever. This
//! forwarder keeps events in order, bounds each call (3 s), reconnects after
//! any error or timeout, and retries with backoff (100 ms doubling to 5 s)
//! for about two minutes per event.

use std::time::Duration;

use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::shim_async::{Client, EventsClient};
use containerd_shim::protos::ttrpc::context::Context;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::publisher::{Publisher, TaskEvent};
use crate::reported::{pid, timestamp};

/// Attempts per event before it is dropped (with a warning).
const ATTEMPTS: u32 = 40;

/// Sends events to containerd's ttrpc address, in order.
#[derive(Debug, Clone)]
pub struct EventForwarder {
    tx: mpsc::UnboundedSender<Envelope>,
    namespace: String,
}

impl EventForwarder {
    /// Starts forwarding to `address` (containerd's ttrpc socket).
    pub fn start(address: String, namespace: String) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Envelope>();
        tokio::spawn(async move {
            // Connected now, while the server sets up, rather than on the
            // first event, which is on a container's start path.
            let mut client: Option<EventsClient> = connect(&address).await;
            while let Some(envelope) = rx.recv().await {
                let mut req = ForwardRequest::new();
                req.set_envelope(envelope);
                let mut delay = Duration::from_millis(100);
                let mut sent = false;
                for attempt in 1..=ATTEMPTS {
                    if client.is_none() {
                        client = connect(&address).await;
                    }
                    if let Some(c) = &client {
                        // A connection whose peer went away can leave a call
                        // waiting forever; bound it and reconnect.
                        let call = c.forward(Context::default(), &req);
                        match tokio::time::timeout(Duration::from_secs(3), call).await {
                            Ok(Ok(_)) => {
                                sent = true;
                                break;
                            }
                            Ok(Err(e)) => {
                                debug!(attempt, error = %e, "forwarding an event failed; reconnecting");
                                client = None;
                            }
                            Err(_) => {
                                debug!(attempt, "forwarding an event timed out; reconnecting");
                                client = None;
                            }
                        }
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                if !sent {
                    warn!(topic = %req.envelope.topic, "dropping an event containerd never accepted");
                }
            }
        });
        Self { tx, namespace }
    }

    /// Queues `event` for `topic`.
    fn forward<M: Message>(&self, topic: &str, event: &M) {
        let value = match event.write_to_bytes() {
            Ok(v) => v,
            Err(e) => {
                warn!(topic, error = %e, "cannot encode event");
                return;
            }
        };
        let mut any = Any::new();
        any.type_url = type_url::<M>();
        any.value = value;
        let mut envelope = Envelope::new();
        envelope.set_topic(topic.to_string());
        envelope.set_namespace(self.namespace.clone());
        if let Ok(ts) = containerd_shim::util::timestamp() {
            envelope.set_timestamp(ts);
        }
        envelope.set_event(any);
        if self.tx.send(envelope).is_err() {
            warn!(topic, "event forwarder stopped; event dropped");
        }
    }
}

impl Publisher for EventForwarder {
    fn publish(&self, event: TaskEvent) {
        let topic = event.topic();
        match event {
            TaskEvent::Create {
                container_id,
                bundle,
                rootfs,
                stdio,
                terminal,
            } => self.forward(
                topic,
                &TaskCreate {
                    container_id,
                    bundle,
                    rootfs,
                    io: MessageField::some(TaskIO {
                        stdin: stdio.stdin,
                        stdout: stdio.stdout,
                        stderr: stdio.stderr,
                        terminal,
                        ..Default::default()
                    }),
                    pid: pid(),
                    ..Default::default()
                },
            ),
            TaskEvent::Start { container_id } => self.forward(
                topic,
                &TaskStart {
                    container_id,
                    pid: pid(),
                    ..Default::default()
                },
            ),
            TaskEvent::ExecAdded {
                container_id,
                exec_id,
            } => self.forward(
                topic,
                &TaskExecAdded {
                    container_id,
                    exec_id,
                    ..Default::default()
                },
            ),
            TaskEvent::ExecStarted {
                container_id,
                exec_id,
            } => self.forward(
                topic,
                &TaskExecStarted {
                    container_id,
                    exec_id,
                    pid: pid(),
                    ..Default::default()
                },
            ),
            TaskEvent::Exit {
                container_id,
                id,
                exit,
            } => self.forward(
                topic,
                &TaskExit {
                    container_id,
                    id,
                    pid: pid(),
                    exit_status: exit.status,
                    exited_at: MessageField::some(timestamp(exit.at)),
                    ..Default::default()
                },
            ),
            TaskEvent::Delete { container_id, exit } => self.forward(
                topic,
                &TaskDelete {
                    id: container_id.clone(),
                    container_id,
                    pid: pid(),
                    exit_status: exit.status,
                    exited_at: MessageField::some(timestamp(exit.at)),
                    ..Default::default()
                },
            ),
        }
    }
}

/// The type URL containerd decodes a task event by: its full protobuf
/// name. Written out rather than asked of protobuf (`descriptor_dyn`), which
/// would build the reflection tables of every containerd proto on the first
/// event, a millisecond or more on the first container's start path.
fn type_url<M: Message>() -> String {
    format!("containerd.events.{}", M::NAME)
}

async fn connect(address: &str) -> Option<EventsClient> {
    let addr = address.to_string();
    let fd = tokio::task::spawn_blocking(move || containerd_shim::util::connect(addr))
        .await
        .ok()?
        .map_err(|e| debug!(error = %e, "cannot connect to containerd"))
        .ok()?;
    // SAFETY: `fd` is a connected socket that `connect` just opened and that
    // nothing else owns; the client takes ownership of it.
    #[allow(unsafe_code)]
    let client = unsafe { Client::from_raw_unix_socket_fd(fd) };
    Some(EventsClient::new(client))
}

#[cfg(test)]
mod tests {
    use containerd_shim::protos::events::task::{
        TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskStart,
    };
    use containerd_shim::protos::protobuf::MessageFull;

    use super::type_url;

    #[test]
    fn type_urls_are_the_full_protobuf_names() {
        assert_eq!(
            type_url::<TaskCreate>(),
            TaskCreate::descriptor().full_name()
        );
        assert_eq!(type_url::<TaskStart>(), TaskStart::descriptor().full_name());
        assert_eq!(type_url::<TaskExit>(), TaskExit::descriptor().full_name());
        assert_eq!(
            type_url::<TaskDelete>(),
            TaskDelete::descriptor().full_name()
        );
        assert_eq!(
            type_url::<TaskExecAdded>(),
            TaskExecAdded::descriptor().full_name()
        );
        assert_eq!(
            type_url::<TaskExecStarted>(),
            TaskExecStarted::descriptor().full_name()
        );
        assert_eq!(type_url::<TaskExit>(), "containerd.events.TaskExit");
    }
}
