//! What a run uses: linear memory as it grows, and CPU time as the
//! polling threads' CPU clocks count it.
//!
//! This module owns the counters ([`Usage`]) and the CPU clock accounting
//! around every poll of an instance ([`count_cpu`]). It knows nothing of
//! limits: the limiter and the CPU throttle (`limits.rs`) read it.

use std::sync::{Mutex, PoisonError};

/// What one instance uses, readable while it runs (for metrics).
///
/// Linear memory is counted as it is allocated and grown; it drops to zero
/// when the run ends, while the high-water mark stays.
///
/// CPU time is the CPU clock of the threads that ran the instance, counted
/// only while they ran it: [`Runtime::run`](crate::Runtime::run) reads the polling thread's clock
/// around every poll of the instance, so time the worker thread spends on
/// other tasks is not counted. Work wasmtime-wasi hands to tokio's blocking
/// pool (some file operations) is not counted either. Instances that share
/// one `Usage` add up. Linux only; elsewhere it stays zero.
#[derive(Debug, Default)]
pub struct Usage {
    memory: std::sync::atomic::AtomicU64,
    peak: std::sync::atomic::AtomicU64,
    cpu: Mutex<CpuTime>,
}

/// CPU time of finished polls, and the polls under way.
#[derive(Debug, Default)]
struct CpuTime {
    done: u64,
    next_key: u64,
    running: Vec<RunningPoll>,
}

/// A poll under way: the polling thread's clock, and its reading when the
/// poll began.
#[derive(Debug)]
struct RunningPoll {
    key: u64,
    clock: ThreadClock,
    start: u64,
}

impl Usage {
    /// Bytes of linear memory the instance has now.
    pub fn memory_bytes(&self) -> u64 {
        self.memory.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most linear memory the instance has had.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Nanoseconds of CPU the instance has used, including the poll under way
    /// (a guest computing without a host call is one long poll). Never
    /// decreases.
    pub fn cpu_nanos(&self) -> u64 {
        // Clocks are read under the lock on both sides, so a poll that ends
        // between two reads never makes the second one smaller.
        let cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let running: u64 = cpu
            .running
            .iter()
            .filter_map(|p| Some(p.clock.now()?.saturating_sub(p.start)))
            .sum();
        cpu.done + running
    }

    /// Adds CPU time used elsewhere, for a caller that keeps the time of
    /// instances whose own `Usage` it drops (a container's deleted execs).
    pub fn add_cpu_nanos(&self, nanos: u64) {
        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        cpu.done = cpu.done.saturating_add(nanos);
    }

    fn poll_started(&self) -> CpuPoll<'_> {
        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((clock, start)) = ThreadClock::current().and_then(|c| Some((c, c.now()?))) else {
            return CpuPoll {
                usage: self,
                key: None,
            };
        };
        let key = cpu.next_key;
        cpu.next_key += 1;
        cpu.running.push(RunningPoll { key, clock, start });
        CpuPoll {
            usage: self,
            key: Some(key),
        }
    }

    fn poll_ended(&self, key: u64) {
        let mut cpu = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = cpu.running.iter().position(|p| p.key == key) {
            let p = cpu.running.swap_remove(i);
            // A failed read drops this poll's time rather than inventing one.
            let used = p.clock.now().map_or(0, |end| end.saturating_sub(p.start));
            cpu.done += used;
        }
    }

    pub(crate) fn grew(&self, by: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.memory.fetch_add(by, Relaxed) + by;
        self.peak.fetch_max(now, Relaxed);
    }

    pub(crate) fn released(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self
            .memory
            .fetch_update(Relaxed, Relaxed, |m| Some(m.saturating_sub(bytes)));
    }
}

/// Runs `fut`, counting the CPU time of every poll into `usage`.
pub(crate) async fn count_cpu<F: Future>(usage: &Usage, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let _poll = usage.poll_started();
        fut.as_mut().poll(cx)
    })
    .await
}

/// One poll being counted; ends the count when dropped, even by a panic.
struct CpuPoll<'a> {
    usage: &'a Usage,
    key: Option<u64>,
}

impl Drop for CpuPoll<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.usage.poll_ended(key);
        }
    }
}

/// A thread's CPU clock, which any thread of the process can read.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
struct ThreadClock(libc::clockid_t);

#[cfg(target_os = "linux")]
impl ThreadClock {
    /// The calling thread's clock.
    fn current() -> Option<Self> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `pthread_self()` is the calling thread, alive during the
        // call, and `id` is valid for the one write.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
        (rc == 0).then_some(Self(id))
    }

    /// Nanoseconds of CPU the thread has used. Usage reads it only while the
    /// thread is inside a poll, so the thread is alive.
    fn now(self) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for the one write; any clock id is sound to
        // pass (an unknown one fails with EINVAL).
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u64::try_from(ts.tv_nsec).ok()?;
        (rc == 0).then(|| secs * 1_000_000_000 + nanos)
    }
}

/// Elsewhere instance CPU time is not counted.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy)]
struct ThreadClock;

#[cfg(not(target_os = "linux"))]
impl ThreadClock {
    fn current() -> Option<Self> {
        None
    }

    fn now(self) -> Option<u64> {
        None
    }
}
