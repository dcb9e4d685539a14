//! Processes named by pid and start time, so that a recorded pid that the
//! kernel gave to another process since is never signalled.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// A process: its pid and its start time (clock ticks after boot, field 22
/// of `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    pub start_time: u64,
}

/// The fields of `/proc/PID/stat` after the command name: state first.
fn stat_fields(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall is the 20th after the command name.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

impl ProcessRef {
    /// The live process `pid`.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let (_, start_time) = stat_fields(pid).with_context(|| format!("process {pid} is gone"))?;
        Ok(Self { pid, start_time })
    }

    /// Whether the process still runs: it exists, is not a zombie, and is
    /// the one recorded.
    pub fn is_alive(&self) -> bool {
        matches!(stat_fields(self.pid), Some((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    /// Whether the process is stopped (`SIGSTOP`).
    pub fn is_stopped(&self) -> bool {
        matches!(stat_fields(self.pid), Some((state, start)) if start == self.start_time && state == 'T')
    }

    /// Sends `signal`, if the process is still the one recorded.
    pub fn signal(&self, signal: i32) -> anyhow::Result<()> {
        if !self.is_alive() {
            bail!("process {} is not running", self.pid);
        }
        send(self.pid, signal)
    }

    /// Waits until the process is gone, at most `limit`.
    pub fn wait_gone(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.is_alive() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// `kill(pid, signal)`.
pub fn send(pid: u32, signal: i32) -> anyhow::Result<()> {
    let target = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .with_context(|| format!("invalid pid {pid}"))?;
    let signal = rustix::process::Signal::from_named_raw(signal)
        .with_context(|| format!("invalid signal {signal}"))?;
    rustix::process::kill_process(target, signal)
        .with_context(|| format!("signal process {pid}"))?;
    Ok(())
}

/// A signal by name (`TERM`, `SIGTERM`, `sigterm`) or number.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s}");
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => bail!("invalid signal {s}"),
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("TERM").expect("term"), 15);
        assert_eq!(parse_signal("SIGKILL").expect("kill"), 9);
        assert_eq!(parse_signal("sigusr1").expect("usr1"), 10);
        assert_eq!(parse_signal("2").expect("2"), 2);
        for bad in ["0", "65", "-1", "SIGNOPE", ""] {
            let err = parse_signal(bad).expect_err(bad);
            assert_eq!(err.to_string(), format!("invalid signal {bad}"));
        }
    }

    #[test]
    fn a_process_is_known_by_pid_and_start_time() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let p = ProcessRef::of(child.id()).expect("of");
        assert!(p.is_alive());
        let other = ProcessRef {
            start_time: p.start_time + 1,
            ..p
        };
        assert!(!other.is_alive());
        assert!(other.signal(libc::SIGKILL).is_err());
        p.signal(libc::SIGSTOP).expect("stop");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !p.is_stopped() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(p.is_stopped());
        p.signal(libc::SIGKILL).expect("kill");
        // A zombie (not reaped yet) counts as gone.
        assert!(p.wait_gone(Duration::from_secs(5)));
        let _ = child.wait();
        assert!(ProcessRef::of(child.id()).is_err());
    }
}
