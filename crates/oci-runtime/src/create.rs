//! `create`: the container's process, prepared and waiting for `start`.
//!
//! `create` checks the bundle, claims the container's folder, makes the
//! fifo, and starts this binary again as `init` with the caller's stdio
//! (or a new terminal, sent to the console socket). `init` joins the
//! container's cgroup and sets its limits, enters its network namespace,
//! opens the rootfs and compiles the entrypoint, reports back, and then
//! blocks opening the fifo until `start` opens the other end. `create`
//! records the process and writes the pid file once `init` is ready; if
//! anything fails, it removes what it made and the container never
//! existed.

use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use tracing::{debug, warn};
use wasmpod_bundle::Spec;

use crate::args::{Global, Sub};
use crate::launch::Launch;
use crate::proc::ProcessRef;
use crate::ready::{Reporter, Waiter};
use crate::state::{Record, Root};

/// `create --bundle DIR [--pid-file F] [--console-socket S] ID`.
pub fn create(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let id = sub.id()?;
    crate::state::check_id(id)?;
    let bundle = absolute(Path::new(sub.value("bundle").unwrap_or(".")))?;
    // Everything that can be checked before anything is made.
    let spec = Spec::load(&bundle)?;
    let Some(process) = spec.process.clone() else {
        bail!("invalid runtime spec: no process");
    };
    if process.args.is_empty() {
        bail!("invalid runtime spec: process.args is empty");
    }
    if crate::native::is_native(&spec, &bundle) {
        match crate::native::configured()? {
            Some(native) => return Err(crate::native::create(global, &native, id, &sub.raw)),
            None => bail!(
                "the entrypoint {} is a native program; wasmpod-oci runs only WebAssembly \
                 (set native-runtime in {} to run native containers with runc)",
                process.args[0],
                crate::native::DEFAULT_CONFIG
            ),
        }
    }
    let console = sub.value("console-socket").map(PathBuf::from);
    if process.terminal && console.is_none() {
        bail!("process.terminal is set, but no --console-socket was given");
    }
    let root = Root::new(&global.root);
    root.claim(id)?;
    let made = make(global, sub, id, &bundle, &spec, console.as_deref(), &root);
    if let Err(e) = made {
        if let Err(cleanup) = root.remove(id) {
            warn!(error = %format!("{cleanup:#}"), "cannot clean up after a failed create");
        }
        return Err(e);
    }
    Ok(())
}

fn make(
    global: &Global,
    sub: &Sub,
    id: &str,
    bundle: &Path,
    spec: &Spec,
    console: Option<&Path>,
    root: &Root,
) -> anyhow::Result<()> {
    let fifo = root.fifo(id);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .with_context(|| format!("make {}", fifo.display()))?;
    let terminal = console.map(crate::console::open_and_send).transpose()?;
    let mut command = reexec(global)?;
    command.arg("init").arg(id).arg(bundle);
    if let Some(t) = &terminal {
        let stdio = |fd: &OwnedFd| -> anyhow::Result<Stdio> { Ok(Stdio::from(fd.try_clone()?)) };
        command.stdin(stdio(t)?).stdout(stdio(t)?).stderr(stdio(t)?);
    }
    let waiter = Waiter::new()?;
    waiter.pass_to(&mut command)?;
    let mut child = command.spawn().context("start the container process")?;
    drop(command);
    drop(terminal);
    let pid = child.id();
    // The pid file too: a create that fails to write it fails whole,
    // leaving no process behind.
    let made = waiter
        .wait()
        .and_then(|(cgroups, grants)| record(id, pid, bundle, spec, cgroups, grants, root))
        .and_then(|()| match sub.value("pid-file") {
            Some(pid_file) => write_pid_file(Path::new(pid_file), pid),
            None => Ok(()),
        });
    if made.is_err() {
        let _ = crate::proc::send(pid, libc::SIGKILL);
        // The process may have made its cgroup before it failed: once it
        // is gone, so is the cgroup (an empty one; rmdir keeps any other).
        let _ = child.wait();
        wasmpod_bundle::cgroup::remove(&crate::cgroups::folders(spec));
    }
    made?;
    debug!(id, pid, "created");
    // The child is not waited for: it outlives this process, and the
    // caller (conmon, containerd's shim) reaps it as a subreaper.
    std::mem::forget(child);
    Ok(())
}

/// Records the ready process and runs the hooks that follow creation.
fn record(
    id: &str,
    pid: u32,
    bundle: &Path,
    spec: &Spec,
    cgroups: Vec<PathBuf>,
    grants: Vec<crate::granted::Grant>,
    root: &Root,
) -> anyhow::Result<()> {
    let init = ProcessRef::of(pid)?;
    let record = Record {
        id: id.to_string(),
        init: Some(init),
        bundle: bundle.to_path_buf(),
        rootfs: spec.rootfs(bundle),
        created: now_rfc3339(),
        annotations: spec.annotations.clone(),
        cgroups,
        paused: false,
        owner: rustix::process::getuid().as_raw(),
        grants,
    };
    root.save(&record)?;
    let hooks = crate::hooks::of_bundle(bundle);
    let state = crate::state::state_json(root, &record);
    crate::hooks::run("prestart", &hooks.prestart, &state)?;
    crate::hooks::run("createRuntime", &hooks.create_runtime, &state)?;
    crate::hooks::run("createContainer", &hooks.create_container, &state)
}

/// This binary, with the global flags the child needs.
pub fn reexec(global: &Global) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("find this binary")?;
    let mut command = Command::new(exe);
    command.arg("--root").arg(&global.root);
    if let Some(log) = &global.log {
        command.arg("--log").arg(log);
    }
    if global.log_format == crate::args::LogFormat::Json {
        command.arg("--log-format").arg("json");
    }
    if global.debug {
        command.arg("--debug");
    }
    Ok(command)
}

/// `init ID BUNDLE`: the container's process (see the module docs).
/// Returns the exit code.
pub fn init(global: &Global, sub: &Sub) -> i32 {
    let reporter = Reporter::from_env();
    let (id, bundle) = match sub.operands.as_slice() {
        [id, bundle] => (id.clone(), PathBuf::from(bundle)),
        _ => {
            eprintln!("wasmpod-oci: init is started by create, not by hand");
            return 1;
        }
    };
    let root = Root::new(&global.root);
    let prepared = match setup(&bundle) {
        Ok((prepared, cgroups, grants)) => {
            if let Some(r) = reporter {
                r.ready(cgroups, grants);
            }
            prepared
        }
        Err(e) => {
            match reporter {
                Some(r) => r.failed(&e),
                None => eprintln!("wasmpod-oci: {e:#}"),
            }
            return 1;
        }
    };
    // Blocks until `start` opens the other end.
    let fifo = root.fifo(&id);
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .and_then(|mut f| f.write_all(b"0"));
    if let Err(e) = opened {
        warn!(fifo = %fifo.display(), error = %e, "cannot wait for start");
        return 1;
    }
    prepared.run()
}

/// The part of `init` that can fail before the guest runs.
fn setup(
    bundle: &Path,
) -> anyhow::Result<(
    crate::launch::Prepared,
    Vec<PathBuf>,
    Vec<crate::granted::Grant>,
)> {
    // A session of its own: a signal to the caller's process group does
    // not reach the container. With a terminal, it is the session's.
    if rustix::termios::isatty(std::io::stdin()) {
        crate::console::take_controlling_terminal()?;
    } else {
        let _ = rustix::process::setsid();
    }
    let spec = Spec::load(bundle)?;
    let cgroups = crate::cgroups::enter(&spec)?;
    wasmpod_bundle::netns::enter(spec.network())?;
    let launch = Launch {
        rootfs: spec.rootfs(bundle),
        process: spec.process.clone().unwrap_or_default(),
        spec,
        serve: true,
    };
    let prepared = launch.prepare()?;
    let grants = prepared.grants()?;
    Ok((prepared, cgroups, grants))
}

/// Writes `pid` to `path` through a temp file and a rename.
pub fn write_pid_file(path: &Path, pid: u32) -> anyhow::Result<()> {
    let path = absolute(path)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("write the pid file {}", path.display()))?;
    write!(tmp, "{pid}")?;
    tmp.persist(&path)
        .with_context(|| format!("write the pid file {}", path.display()))?;
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolve {}", path.display()))
}

/// Now, as RFC 3339 in UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert!(now_rfc3339().ends_with('Z'));
    }
}
