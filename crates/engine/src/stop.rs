//! Stopping a guest from outside: the [`StopHandle`] and its
//! [`StopReason`], the store's epoch callback that acts on it, and the
//! timeout thread that uses it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tracing::debug;
use wasmtime::{Store, UpdateDeadline};

use crate::limits::Throttle;

/// Why a guest was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The spec's timeout passed.
    Timeout(Duration),
    /// A signal was delivered to the workload (SIGTERM = 15, SIGINT = 2,
    /// SIGKILL = 9).
    Signal(i32),
}

/// Stops a running guest from another task or thread.
///
/// Cloning shares the handle. Stopping is idempotent: the first reason wins.
#[derive(Debug, Clone)]
pub struct StopHandle {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    reason: watch::Sender<Option<StopReason>>,
    /// Set by a SIGKILL stop even after another reason: it ends a drain.
    killed: watch::Sender<bool>,
    engine: OnceLock<wasmtime::Engine>,
}

impl Default for StopHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl StopHandle {
    /// A handle that has not been used.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(StopInner {
                reason: watch::Sender::new(None),
                killed: watch::Sender::new(false),
                engine: OnceLock::new(),
            }),
        }
    }

    /// Stops the guest: a guest running wasm code is interrupted at its next
    /// epoch check (loop back-edges and function entries), one blocked in a
    /// host call is dropped.
    ///
    /// A served HTTP component drains on its first stop; SIGKILL
    /// (`StopReason::Signal(9)`), first or later, ends it at once.
    pub fn stop(&self, reason: StopReason) {
        if reason == StopReason::Signal(libc::SIGKILL) {
            self.inner.killed.send_replace(true);
        }
        let first = self.inner.reason.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
        // A SIGKILL after another stop must still reach a guest that
        // computes: move the epoch for it too.
        if first || reason == StopReason::Signal(libc::SIGKILL) {
            debug!(?reason, "stopping guest");
            if let Some(engine) = self.inner.engine.get() {
                engine.increment_epoch();
            }
        }
    }

    /// Why the guest was stopped, if it was.
    pub fn reason(&self) -> Option<StopReason> {
        *self.inner.reason.borrow()
    }

    /// Waits until the handle is used, and returns why.
    pub async fn stopped(&self) -> StopReason {
        let mut rx = self.subscribe();
        wait_stopped(&mut rx).await
    }

    /// Whether the handle was used with SIGKILL.
    pub(crate) fn is_killed(&self) -> bool {
        *self.inner.killed.borrow()
    }

    /// Waits until the handle is used with SIGKILL.
    pub(crate) async fn killed(&self) {
        let mut rx = self.inner.killed.subscribe();
        if rx.wait_for(|k| *k).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    pub(crate) fn attach(&self, engine: &wasmtime::Engine) {
        let _ = self.inner.engine.set(engine.clone());
        // A stop that raced with attaching must still reach the guest.
        if self.reason().is_some() {
            engine.increment_epoch();
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<StopReason>> {
        self.inner.reason.subscribe()
    }

    /// Makes `store` check this handle (and the CPU quota, if any)
    /// whenever the engine's epoch moves.
    pub(crate) fn arm<T: 'static>(&self, store: &mut Store<T>, throttle: Option<Arc<Throttle>>) {
        let rx = self.subscribe();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if rx.borrow().is_some() {
                UpdateDeadline::Interrupt
            } else if let Some(t) = &throttle {
                t.deadline()
            } else {
                UpdateDeadline::Continue(1)
            })
        });
    }
}

pub(crate) async fn wait_stopped(rx: &mut watch::Receiver<Option<StopReason>>) -> StopReason {
    let reason = rx.wait_for(Option::is_some).await.ok().and_then(|r| *r);
    match reason {
        Some(r) => r,
        // The sender lives in the handle we borrow, so this cannot close
        // while we wait; never resolve if it somehow does.
        None => std::future::pending().await,
    }
}

/// Stops a guest after a deadline, from a thread of its own, so a guest that
/// never yields is still stopped. Dropping the guard cancels it.
pub(crate) struct TimeoutGuard {
    _cancel: std::sync::mpsc::Sender<()>,
}

impl TimeoutGuard {
    pub(crate) fn start(stop: StopHandle, after: Duration) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-timeout".into())
            .spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                    stop.stop(StopReason::Timeout(after));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the timeout thread; no timeout applies");
        }
        Self { _cancel: tx }
    }
}
