//! How a process that `create` or `exec --detach` starts says it is ready
//! (or why it is not): one JSON line on a pipe whose write end it
//! inherits, named by an env var. The parent reads until the pipe closes,
//! so a child that dies without a word is an error too.

use std::io::{BufRead as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _, FromRawFd as _, OwnedFd};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::granted::Grant;

/// The env var holding the number of the write end.
const ENV: &str = "_WASMPOD_OCI_READY_FD";

/// The largest report read.
const MAX_REPORT: u64 = 64 << 10;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Report {
    Ready {
        cgroups: Vec<PathBuf>,
        /// The directories the process was given (`granted.rs`).
        #[serde(default)]
        grants: Vec<Grant>,
    },
    Failed {
        error: String,
    },
}

/// The parent's end, before the child is spawned.
#[derive(Debug)]
pub struct Waiter {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl Waiter {
    /// A new pipe.
    pub fn new() -> anyhow::Result<Self> {
        let (read, write) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
        Ok(Self {
            read,
            write: Some(write),
        })
    }

    /// Lets the child `command` inherit the write end. The calling process
    /// must not spawn anything else meanwhile (it has one thread).
    pub fn pass_to(&self, command: &mut Command) -> anyhow::Result<()> {
        let write = self
            .write
            .as_ref()
            .context("the pipe was passed on already")?;
        rustix::io::fcntl_setfd(write, rustix::io::FdFlags::empty()).context("fcntl")?;
        command.env(ENV, write.as_raw_fd().to_string());
        Ok(())
    }

    /// After the spawn: closes this process's write end and waits for the
    /// child's report. Returns the cgroups it joined and the directories
    /// it was given.
    pub fn wait(mut self) -> anyhow::Result<(Vec<PathBuf>, Vec<Grant>)> {
        drop(self.write.take());
        let mut line = String::new();
        std::io::BufReader::new(std::io::Read::take(
            std::fs::File::from(self.read),
            MAX_REPORT,
        ))
        .read_line(&mut line)
        .context("read the process's report")?;
        if line.trim().is_empty() {
            bail!("the container process exited before it was ready");
        }
        match serde_json::from_str(&line).context("read the process's report")? {
            Report::Ready { cgroups, grants } => Ok((cgroups, grants)),
            Report::Failed { error } => bail!("{error}"),
        }
    }
}

/// The child's end, if this process was started with one.
#[derive(Debug)]
pub struct Reporter {
    write: OwnedFd,
}

impl Reporter {
    /// Takes the write end named in the environment (and removes the
    /// variable, so a guest never sees it).
    pub fn from_env() -> Option<Self> {
        let fd: i32 = std::env::var(ENV).ok()?.parse().ok()?;
        // SAFETY: only the env var set by our own parent, which passed this
        // descriptor as the write end of a pipe, names it; nothing else in
        // this process owns it.
        #[allow(unsafe_code)]
        let write = unsafe { OwnedFd::from_raw_fd(fd) };
        let _ = rustix::io::fcntl_setfd(write.as_fd(), rustix::io::FdFlags::CLOEXEC);
        // SAFETY: called while the process has one thread (at start-up,
        // before any runtime starts).
        #[allow(unsafe_code)]
        unsafe {
            std::env::remove_var(ENV);
        }
        Some(Self { write })
    }

    /// Says the process is ready, having joined `cgroups`.
    pub fn ready(self, cgroups: Vec<PathBuf>, grants: Vec<Grant>) {
        self.send(&Report::Ready { cgroups, grants });
    }

    /// Says why it is not.
    pub fn failed(self, error: &anyhow::Error) {
        self.send(&Report::Failed {
            error: format!("{error:#}"),
        });
    }

    fn send(self, report: &Report) {
        let mut file = std::fs::File::from(self.write);
        if let Ok(mut line) = serde_json::to_string(report) {
            line.push('\n');
            let _ = file.write_all(line.as_bytes());
        }
    }
}
