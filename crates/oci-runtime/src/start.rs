//! `start ID`: lets the process `create` prepared run, by opening the
//! other end of the fifo it blocks on.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::args::{Global, Sub};
use crate::state::{Root, Status};

/// How long `start` waits for the process to take the fifo.
const LIMIT: Duration = Duration::from_secs(10);

pub fn start(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let id = sub.id()?;
    let root = Root::new(&global.root);
    let record = root.load(id)?;
    match root.status(&record) {
        Status::Created => {}
        Status::Stopped => bail!("cannot start container {id}: it has stopped"),
        Status::Running | Status::Paused => {
            bail!("cannot start container {id}: it was started already")
        }
    }
    let init = record.init.context("the container has no process")?;
    let fifo = root.fifo(id);
    // Opening without blocking gives the reading end at once; the
    // process's open for writing then returns, and it writes one byte.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("cannot start container {id}: open {}", fifo.display()))?;
    let deadline = Instant::now() + LIMIT;
    let mut byte = [0u8; 1];
    loop {
        match file.read(&mut byte) {
            Ok(1..) => break,
            // No writer yet, or no byte yet.
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("read the start fifo"),
        }
        if !init.is_alive() {
            bail!("cannot start container {id}: its process exited before it started");
        }
        if Instant::now() >= deadline {
            bail!("cannot start container {id}: its process did not answer within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::remove_file(&fifo).with_context(|| format!("remove {}", fifo.display()))?;
    let hooks = crate::hooks::of_bundle(&record.bundle);
    let state = crate::state::state_json(&root, &record);
    for (kind, list) in [
        ("startContainer", &hooks.start_container),
        ("poststart", &hooks.poststart),
    ] {
        if let Err(e) = crate::hooks::run(kind, list, &state) {
            tracing::warn!(error = %format!("{e:#}"), "hook failed");
        }
    }
    Ok(())
}
