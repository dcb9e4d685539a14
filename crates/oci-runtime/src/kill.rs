//! `kill ID [SIGNAL]` and `kill --all`: a signal to the container's
//! process (SIGTERM unless named), or to every process in its cgroup.

use anyhow::bail;

use crate::args::{Global, Sub};
use crate::proc::{parse_signal, send};
use crate::state::{Root, Status};

pub fn kill(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let (id, signal) = match sub.operands.as_slice() {
        [id] => (id.as_str(), libc::SIGTERM),
        [id, signal] => (id.as_str(), parse_signal(signal)?),
        [] => bail!("kill: a container ID is required"),
        _ => bail!("kill: too many arguments"),
    };
    let root = Root::new(&global.root);
    let record = root.load(id)?;
    let status = root.status(&record);
    let Some(init) = record.init.filter(|_| status != Status::Stopped) else {
        bail!("container {id} is not running");
    };
    if sub.is_set("all") {
        for pid in wasmpod_bundle::cgroup::procs(&record.cgroups) {
            if pid != init.pid {
                // One that exited meanwhile is fine.
                let _ = send(pid, signal);
            }
        }
    }
    init.signal(signal)?;
    // A paused process acts on the signal once it runs again, as a frozen
    // one does under runc when it is thawed to be killed.
    if status == Status::Paused && signal != libc::SIGKILL && signal != libc::SIGSTOP {
        let _ = init.signal(libc::SIGCONT);
    }
    Ok(())
}
