//! `exec ID [COMMAND ARG...]` or `exec --process FILE ID`: another Wasm
//! process in a running container, with the container's grants (its
//! rootfs, mounts and limits), in its cgroup and network namespace.
//!
//! In the foreground, this process becomes the exec'd one and exits with
//! its code. With `--detach`, it starts this binary again for it (with a
//! terminal on the console socket if asked), waits until it is ready,
//! writes the pid file and returns, as runc does for conmon.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use wasmpod_bundle::{Network, Process, Spec};

use crate::args::{Global, Sub};
use crate::launch::Launch;
use crate::ready::{Reporter, Waiter};
use crate::state::{Root, Status};

/// Runs the exec; returns the exit code (the guest's, in the foreground).
pub fn exec(global: &Global, sub: &Sub) -> anyhow::Result<i32> {
    let reporter = Reporter::from_env();
    let Some((id, command)) = sub.operands.split_first() else {
        bail!("exec: a container ID is required");
    };
    let root = Root::new(&global.root);
    let record = root.load(id)?;
    let status = root.status(&record);
    match status {
        Status::Running => {}
        Status::Paused if sub.is_set("ignore-paused") => {}
        _ => bail!("cannot exec in container {id}: it is {}", status.as_str()),
    }
    let spec = Spec::load(&record.bundle)?;
    let process = process(sub, command, &spec)?;
    if sub.is_set("detach") {
        return detach(global, sub, id, &root, &process).map(|()| 0);
    }
    let init = record.init.context("the container has no process")?;
    let prepared = (|| {
        if rustix::termios::isatty(std::io::stdin()) && reporter.is_some() {
            crate::console::take_controlling_terminal()?;
        }
        crate::cgroups::join(&record.cgroups)?;
        let netns = format!("/proc/{}/ns/net", init.pid);
        if !same_file(&netns, "/proc/self/ns/net") {
            wasmpod_bundle::netns::enter(Network::Join(&netns))?;
        }
        let prepared = Launch {
            spec,
            process,
            rootfs: record.rootfs.clone(),
            serve: false,
        }
        .prepare()?;
        // Only the directories create gave the container, wherever their
        // paths lead now. A record older than this check has none.
        if !record.grants.is_empty() {
            crate::granted::check(&record.grants, &prepared.grants()?)?;
        }
        anyhow::Ok(prepared)
    })();
    let prepared = match (prepared, reporter) {
        (Ok(p), Some(r)) => {
            r.ready(Vec::new(), Vec::new());
            p
        }
        (Ok(p), None) => p,
        (Err(e), Some(r)) => {
            r.failed(&e);
            return Ok(1);
        }
        (Err(e), None) => return Err(e),
    };
    if let Some(pid_file) = sub.value("pid-file") {
        crate::create::write_pid_file(Path::new(pid_file), std::process::id())?;
    }
    Ok(prepared.run())
}

/// Whether two paths name the same file (a namespace, here): joining the
/// namespace this process is in already needs no privilege.
fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The exec's process: from `--process`, or from the command and flags,
/// with the container's env and cwd as the base.
fn process(sub: &Sub, command: &[String], spec: &Spec) -> anyhow::Result<Process> {
    let process = match sub.value("process") {
        Some(path) => {
            if !command.is_empty() {
                bail!("exec: give the command in --process or after the ID, not both");
            }
            wasmpod_bundle::read_json::<Process>(Path::new(path))?
        }
        None => {
            let base = spec.process.clone().unwrap_or_default();
            let mut env = base.env;
            for e in sub.values("env") {
                let name = e.split_once('=').map_or(e, |(n, _)| n);
                env.retain(|old| old.split_once('=').map_or(old.as_str(), |(n, _)| n) != name);
                env.push(e.to_string());
            }
            Process {
                args: command.to_vec(),
                env,
                cwd: sub.value("cwd").map_or(base.cwd, str::to_string),
                terminal: sub.is_set("tty"),
                user: match sub.value("user") {
                    Some(u) => crate::user::parse(u)?,
                    None => base.user,
                },
            }
        }
    };
    if process.args.is_empty() {
        bail!("exec: no command given");
    }
    if process.terminal && sub.value("console-socket").is_none() && sub.is_set("detach") {
        bail!("exec: a terminal needs --console-socket with --detach");
    }
    Ok(process)
}

/// Starts the exec'd process in the background (see the module docs).
fn detach(
    global: &Global,
    sub: &Sub,
    id: &str,
    root: &Root,
    process: &Process,
) -> anyhow::Result<()> {
    // The process goes to the child as a file in the container's folder.
    let file = tempfile::Builder::new()
        .prefix("exec-")
        .suffix(".json")
        .tempfile_in(root.dir(id))
        .context("write the exec's process")?;
    serde_json::to_writer(file.as_file(), process)?;
    let mut command = crate::create::reexec(global)?;
    command
        .arg("exec")
        .arg("--process")
        .arg(file.path())
        .arg(id);
    let terminal = match (process.terminal, sub.value("console-socket")) {
        (true, Some(socket)) => Some(crate::console::open_and_send(&PathBuf::from(socket))?),
        _ => None,
    };
    if let Some(t) = &terminal {
        command
            .stdin(Stdio::from(t.try_clone()?))
            .stdout(Stdio::from(t.try_clone()?))
            .stderr(Stdio::from(t.try_clone()?));
    }
    let waiter = Waiter::new()?;
    waiter.pass_to(&mut command)?;
    let child = command.spawn().context("start the exec's process")?;
    drop(command);
    drop(terminal);
    let pid = child.id();
    waiter.wait()?;
    let noted = crate::proc::ProcessRef::of(pid)
        .and_then(|p| root.note_exec(id, &p))
        .and_then(|()| match sub.value("pid-file") {
            Some(pid_file) => crate::create::write_pid_file(Path::new(pid_file), pid),
            None => Ok(()),
        });
    if let Err(e) = noted {
        // Nobody would know of it: it goes.
        let _ = crate::proc::send(pid, libc::SIGKILL);
        return Err(e);
    }
    // Reaped by the caller, a subreaper.
    std::mem::forget(child);
    Ok(())
}
