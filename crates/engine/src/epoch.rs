//! The engine's epoch clock: one thread per engine that moves the epoch
//! every 10 ms while anyone needs it.
//!
//! Request deadlines and CPU quotas are checked in epoch callbacks, so the
//! epoch must move for them to reach guests that compute without yielding.
//! Every CPU-limited run and every HTTP server needs that, and the epoch is
//! the engine's, so they share one [`EpochTicker`]: each takes an
//! [`EpochHold`], the thread runs while at least one hold is alive, and it
//! ends when the last one is dropped (a later hold starts it again). A
//! thread, not a task: a runtime whose workers are all busy in guests
//! still ticks.
//! Stopping a guest (`stop.rs`) moves the epoch itself and needs no ticker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the epoch moves while the ticker runs.
const TICK: Duration = Duration::from_millis(10);

/// One engine's shared epoch thread. Cloning shares it.
#[derive(Clone)]
pub(crate) struct EpochTicker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("EpochTicker")
            .field("holders", &state.holders)
            .finish_non_exhaustive()
    }
}

struct Inner {
    engine: wasmtime::Engine,
    state: Mutex<State>,
    /// Threads that are running now (one, or briefly two while a stopped
    /// one finishes its last tick as a new one starts).
    alive: Arc<AtomicUsize>,
    /// Threads ever started.
    started: AtomicUsize,
}

struct State {
    holders: usize,
    /// Dropping it ends the running thread; `None` when none runs.
    stop: Option<Sender<()>>,
}

/// Keeps the engine's epoch moving while alive.
#[derive(Debug)]
pub(crate) struct EpochHold {
    ticker: EpochTicker,
}

impl EpochTicker {
    /// A ticker for `engine`, not running until held.
    pub(crate) fn new(engine: wasmtime::Engine) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                state: Mutex::new(State {
                    holders: 0,
                    stop: None,
                }),
                alive: Arc::new(AtomicUsize::new(0)),
                started: AtomicUsize::new(0),
            }),
        }
    }

    /// Keeps the epoch moving until the returned hold is dropped, starting
    /// the thread if none runs.
    pub(crate) fn hold(&self) -> EpochHold {
        let mut state = self.lock();
        state.holders += 1;
        // Also retries a thread that could not be started for an earlier
        // holder.
        if state.stop.is_none() {
            state.stop = self.spawn();
        }
        EpochHold {
            ticker: self.clone(),
        }
    }

    fn spawn(&self) -> Option<Sender<()>> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let engine = self.inner.engine.clone();
        let alive = self.inner.alive.clone();
        alive.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("wasmpod-epoch".into())
            .spawn(move || {
                // Ticks until the sender is dropped (the last hold went).
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
                alive.fetch_sub(1, Ordering::SeqCst);
            });
        match spawned {
            Ok(_) => {
                self.inner.started.fetch_add(1, Ordering::SeqCst);
                Some(tx)
            }
            Err(e) => {
                self.inner.alive.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(error = %e, "cannot start the epoch thread; deadlines and CPU limits only apply to guests that yield");
                None
            }
        }
    }

    fn release(&self) {
        let mut state = self.lock();
        state.holders = state.holders.saturating_sub(1);
        if state.holders == 0 {
            state.stop = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds alive now.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> usize {
        self.lock().holders
    }

    /// Epoch threads running now.
    #[cfg(test)]
    pub(crate) fn threads_alive(&self) -> usize {
        self.inner.alive.load(Ordering::SeqCst)
    }

    /// Epoch threads started so far.
    #[cfg(test)]
    pub(crate) fn threads_started(&self) -> usize {
        self.inner.started.load(Ordering::SeqCst)
    }
}

impl Drop for EpochHold {
    fn drop(&mut self) {
        self.ticker.release();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::EpochTicker;

    fn ticker() -> EpochTicker {
        let engine = wasmtime::Engine::default();
        EpochTicker::new(engine)
    }

    /// Waits up to 5 s for the ticker's threads to end.
    fn wait_for_no_thread(ticker: &EpochTicker) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ticker.threads_alive() > 0 {
            assert!(Instant::now() < deadline, "the epoch thread did not end");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn no_thread_runs_until_held() {
        let t = ticker();
        assert_eq!((t.threads_started(), t.threads_alive()), (0, 0));
    }

    #[test]
    fn holders_share_one_thread_that_ends_with_the_last() {
        let t = ticker();
        let a = t.hold();
        let b = t.hold();
        assert_eq!(t.holders(), 2);
        assert_eq!((t.threads_started(), t.threads_alive()), (1, 1));
        drop(a);
        // One holder left: the thread keeps running.
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(t.threads_alive(), 1);
        drop(b);
        assert_eq!(t.holders(), 0);
        wait_for_no_thread(&t);
        assert_eq!(t.threads_started(), 1);
    }

    #[test]
    fn a_new_holder_restarts_the_thread() {
        let t = ticker();
        drop(t.hold());
        wait_for_no_thread(&t);
        let again = t.hold();
        assert_eq!((t.threads_started(), t.threads_alive()), (2, 1));
        drop(again);
        wait_for_no_thread(&t);
    }
}
