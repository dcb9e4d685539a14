//! Bounded waiting: every wait in a test has a deadline and fails with what
//! it was waiting for, instead of hanging the test run.

use std::time::{Duration, Instant};

/// How often the polling waits look again.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `f` is true, or panics with `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    wait_for(timeout, what, || f().then_some(()))
}

/// Waits until `f` returns a value and returns it, or panics with `what`
/// after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Deadline::after(timeout);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if deadline.passed() {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// A point in time a series of bounded waits shares, for waits that block
/// on something else than polling (`recv_timeout`, read timeouts).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Self(Instant::now() + timeout)
    }

    /// The time left, zero once passed.
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}
