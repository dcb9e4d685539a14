//! `pause ID` and `resume ID`: every process of the container stopped
//! with SIGSTOP and continued with SIGCONT. A guest runs in one process,
//! so stopping it stops all of its instance's threads at once.

use anyhow::{Context as _, bail};

use crate::args::{Global, Sub};
use crate::proc::send;
use crate::state::{Root, Status};

pub fn pause(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    set_paused(global, sub, true)
}

pub fn resume(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    set_paused(global, sub, false)
}

fn set_paused(global: &Global, sub: &Sub, pause: bool) -> anyhow::Result<()> {
    let id = sub.id()?;
    let root = Root::new(&global.root);
    let mut record = root.load(id)?;
    let status = root.status(&record);
    match (pause, status) {
        (true, Status::Running) | (false, Status::Paused) => {}
        (true, _) => bail!("cannot pause container {id}: it is {}", status.as_str()),
        (false, _) => bail!("cannot resume container {id}: it is {}", status.as_str()),
    }
    let init = record.init.context("the container has no process")?;
    let signal = if pause { libc::SIGSTOP } else { libc::SIGCONT };
    // Marked first: a paused container whose mark was not saved would read
    // as running while stopped.
    record.paused = pause;
    root.save(&record)?;
    for pid in wasmpod_bundle::cgroup::procs(&record.cgroups) {
        if pid != init.pid {
            let _ = send(pid, signal);
        }
    }
    init.signal(signal)?;
    Ok(())
}
