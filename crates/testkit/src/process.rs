//! Child processes of tests: killed and reaped when dropped (also after a
//! failed assertion), with bounded waits for their end and their output.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::wait::Deadline;

/// A child process killed and reaped when dropped.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Spawns `cmd`.
    #[track_caller]
    pub fn spawn(cmd: &mut Command) -> Self {
        Self(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")))
    }

    /// The exit status if the process ends within `timeout`.
    pub fn wait_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Deadline::after(timeout);
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            if deadline.passed() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `from` line by line on a thread of its own, so that waiting for a
/// line can be bounded (`recv_timeout`). The channel closes at end of file.
pub fn lines_of(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Runs `cmd` to its end, feeding it `stdin`; panics with what it printed
/// if it does not end within `limit` (and kills it).
#[track_caller]
pub fn output_within(mut cmd: Command, stdin: Option<&str>, limit: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = KillOnDrop::spawn(&mut cmd);
    if let Some(text) = stdin {
        let mut input = child.0.stdin.take().expect("stdin");
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(child.0.stdout.take().map(|r| Box::new(r) as _));
    let err = reader(child.0.stderr.take().map(|r| Box::new(r) as _));
    let status = child.wait_within(limit);
    // Killed when it did not end, so that its pipes close.
    drop(child);
    let stdout = out.join().expect("join stdout");
    let stderr = err.join().expect("join stderr");
    let Some(status) = status else {
        panic!(
            "{cmd:?} did not end within {limit:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `cmd` with no stdio to its end, or kills it after `limit`; never
/// panics, for cleanups in `Drop` (where a panic would abort the test run).
pub(crate) fn run_quietly_within(mut cmd: Command, limit: Duration) -> Option<ExitStatus> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = KillOnDrop(cmd.spawn().ok()?);
    child.wait_within(limit)
}

/// Sends SIGKILL, by pid, to every process one of whose arguments contains
/// `needle` (a fixture's own socket or folder path, so that nothing else
/// matches): what a daemon that was stopped left behind (shims).
pub(crate) fn kill_processes_with_arg(needle: &str) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id().to_string();
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
            continue;
        };
        let matches = cmdline
            .split(|b| *b == 0)
            .any(|arg| String::from_utf8_lossy(arg).contains(needle));
        if matches {
            let _ = Command::new("kill")
                .args(["-9", &pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}
