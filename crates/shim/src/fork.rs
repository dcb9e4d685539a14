//! Forking without an exec: `start` forks the pod's server, which goes on
//! running this binary's Rust code. That is sound only while the process
//! has a single thread (a child of a multi-threaded process may call only
//! async-signal-safe functions: another thread may have held the
//! allocator's lock at the fork). This module checks the thread count
//! before the fork instead of trusting that nothing started a thread.

use std::io;

use rustix::process::Pid;

/// Which side of [`fork_single_threaded`] this is.
#[derive(Debug)]
pub(crate) enum Forked {
    Child,
    Parent(Pid),
}

/// Why a fork was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to fork: this process runs {threads} threads, and only a single-threaded process may fork and go on running Rust code in the child"
)]
pub(crate) struct NotSingleThreaded {
    threads: usize,
}

/// Forks, after checking that this process has exactly one thread. Only
/// the calling thread could start another, so the check holds at the fork.
pub(crate) fn fork_single_threaded() -> io::Result<Forked> {
    ensure_single_thread(thread_count()?)?;
    // SAFETY: the process has a single thread (checked just above, and no
    // other thread can have started since: only this one could start it),
    // so no lock is held by a thread that the child would not have, and
    // the child may go on running Rust code.
    #[allow(unsafe_code)]
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Pid::from_raw(pid)
            .map(Forked::Parent)
            .ok_or_else(|| io::Error::other("fork returned a bad pid")),
    }
}

/// Refuses any thread count but one.
fn ensure_single_thread(threads: usize) -> io::Result<()> {
    if threads == 1 {
        Ok(())
    } else {
        Err(io::Error::other(NotSingleThreaded { threads }))
    }
}

/// How many threads this process runs, from `/proc/self/status`.
fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    threads_in_status(&status)
        .ok_or_else(|| io::Error::other("/proc/self/status has no Threads: line"))
}

/// The `Threads:` field of a `/proc/PID/status` text.
fn threads_in_status(status: &str) -> Option<usize> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == "Threads").then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_count_is_read_from_the_status_text() {
        let status = "Name:\tshim\nUmask:\t0022\nThreads:\t1\nSigQ:\t0/31\n";
        assert_eq!(threads_in_status(status), Some(1));
        assert_eq!(threads_in_status("Threads:\t17\n"), Some(17));
        assert_eq!(threads_in_status("Name:\tshim\n"), None);
        assert_eq!(threads_in_status("Threads:\tmany\n"), None);
        // Not a prefix match.
        assert_eq!(threads_in_status("ThreadsX:\t1\n"), None);
    }

    #[test]
    fn only_a_single_thread_may_fork() {
        ensure_single_thread(1).expect("one thread");
        let err = ensure_single_thread(3).expect_err("three threads");
        assert_eq!(
            err.to_string(),
            "refusing to fork: this process runs 3 threads, and only a single-threaded process may fork and go on running Rust code in the child"
        );
        assert!(err.get_ref().is_some_and(|e| e.is::<NotSingleThreaded>()));
    }

    /// The test harness runs this test on a thread of its own beside the
    /// main one: the real count is above one, and the fork is refused
    /// before anything is forked.
    #[test]
    fn a_fork_from_a_multi_threaded_process_is_refused() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let extra = std::thread::spawn(move || stopped.recv());
        let threads = thread_count().expect("thread count");
        assert!(threads >= 2, "{threads}");
        let err = match fork_single_threaded() {
            Ok(Forked::Child) => std::process::exit(0),
            Ok(Forked::Parent(pid)) => panic!("forked {pid:?}"),
            Err(e) => e,
        };
        assert!(
            err.get_ref().is_some_and(|e| e.is::<NotSingleThreaded>()),
            "{err}"
        );
        drop(stop);
        let _ = extra.join();
    }
}
