//! `delete [--force] ID`: removes a stopped container's state and cgroup.
//! A container that was created and never started is killed first (it
//! never ran); a running one only with `--force`.

use std::time::Duration;

use anyhow::bail;
use tracing::warn;

use crate::args::{Global, Sub};
use crate::proc::send;
use crate::state::{Root, Status};

/// How long `delete` waits for killed processes to go.
const LIMIT: Duration = Duration::from_secs(10);

pub fn delete(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let id = sub.id()?;
    let force = sub.is_set("force");
    let root = Root::new(&global.root);
    crate::state::check_id(id)?;
    if !root.dir(id).is_dir() {
        if force {
            return Ok(());
        }
        bail!("container {id} does not exist");
    }
    let record = root.load(id)?;
    let status = root.status(&record);
    match status {
        Status::Stopped | Status::Created => {}
        Status::Running | Status::Paused if force => {}
        Status::Running | Status::Paused => {
            bail!(
                "cannot delete container {id}: it is {}; stop it first or use --force",
                status.as_str()
            )
        }
    }
    // Whatever still runs in the container (its process, execs) goes.
    if let Some(init) = record.init.filter(|i| i.is_alive()) {
        let _ = init.signal(libc::SIGKILL);
        if !init.wait_gone(LIMIT) {
            bail!(
                "cannot delete container {id}: its process {} did not exit",
                init.pid
            );
        }
    }
    // Detached execs, which a cgroup may not hold.
    for exec in root.execs(id) {
        let _ = exec.signal(libc::SIGKILL);
    }
    for pid in wasmpod_bundle::cgroup::procs(&record.cgroups) {
        let _ = send(pid, libc::SIGKILL);
    }
    remove_cgroups(&record.cgroups);
    if record.init.is_some() {
        let hooks = crate::hooks::of_bundle(&record.bundle);
        let state = crate::state::state_json(&root, &record);
        if let Err(e) = crate::hooks::run("poststop", &hooks.poststop, &state) {
            warn!(error = %format!("{e:#}"), "hook failed");
        }
    }
    root.remove(id)
}

/// Removes the cgroups once the processes killed in them have left.
fn remove_cgroups(dirs: &[std::path::PathBuf]) {
    let deadline = std::time::Instant::now() + LIMIT;
    while !wasmpod_bundle::cgroup::procs(dirs).is_empty() {
        if std::time::Instant::now() >= deadline {
            warn!("processes are still in the container's cgroup; leaving it");
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    wasmpod_bundle::cgroup::remove(dirs);
}
