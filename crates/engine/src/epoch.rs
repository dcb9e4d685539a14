//! The engine's epoch clock: a thread that moves the epoch every 10 ms, so
//! request deadlines and CPU quotas (checked in epoch callbacks) reach
//! guests that compute without yielding. Stopping a guest (`stop.rs`) moves
//! the epoch itself and needs no ticker.

use std::time::Duration;

/// Moves the engine's epoch every 10 ms while alive, so request deadlines
/// and CPU quotas reach guests that compute without yielding. A thread, not
/// a task: a runtime whose workers are all busy in guests still ticks.
pub(crate) struct EpochTicker {
    _stop: std::sync::mpsc::Sender<()>,
}

impl EpochTicker {
    pub(crate) fn start(engine: wasmtime::Engine) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-epoch".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(Duration::from_millis(10))
                {
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the epoch thread; deadlines and CPU limits only apply to guests that yield");
        }
        Self { _stop: tx }
    }
}
