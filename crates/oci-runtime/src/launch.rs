//! One process of a container, from its spec to its exit code: the
//! container's own (started by `create`) and each `exec`.
//!
//! [`Launch::prepare`] does everything that can fail before the guest
//! runs (the rootfs and mounts opened as grants, the entrypoint read
//! beneath the rootfs and compiled, from the compile cache), so that
//! `create` can report a bad image at once. [`Prepared::run`] then runs
//! it: a command to its exit, a `wasi:http` component served until a
//! signal. SIGTERM, SIGINT, SIGHUP and SIGQUIT stop the guest (a server
//! drains first) and the process exits with 128 + the signal, as a
//! process killed by it would; SIGKILL ends it at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use tracing::{debug, info, warn};
use wasmpod_bundle::{Process, Spec};
use wasmpod_engine::{
    EngineOptions, ExitStatus, HostDir, Limits, Program, RunSpec, Runtime, Stdio, StopHandle,
    StopReason,
};

/// A process to start in a container: the container's spec (its grants
/// and limits) and the process (its own, or an exec's).
#[derive(Debug)]
pub struct Launch {
    pub spec: Spec,
    pub process: Process,
    pub rootfs: PathBuf,
    /// Whether a `wasi:http` component is served (the container's own
    /// process) or run like any module (an exec).
    pub serve: bool,
}

/// A compiled process, ready to run.
#[derive(Debug)]
pub struct Prepared {
    runtime: Runtime,
    program: Program,
    spec: RunSpec,
    /// Where a `wasi:http` component is served, and how (the reuse
    /// annotations); `None` for a command.
    listen: Option<(SocketAddr, wasmpod_engine::HttpOptions)>,
    /// Who the guest runs as.
    user: wasmpod_bundle::User,
}

impl Prepared {
    /// The directories the guest is given, by identity (`granted.rs`).
    pub fn grants(&self) -> anyhow::Result<Vec<crate::granted::Grant>> {
        crate::granted::of(&self.spec.preopens)
    }
}

/// The status of a process whose guest could not be started: 125, as
/// `wasmpod run` exits when wasmpod itself failed.
pub const NOT_STARTED: i32 = 125;

/// The compile cache every wasmpod runtime on the machine shares.
fn cache_dir() -> Option<PathBuf> {
    wasmpod_engine::home::default_home().map(|h| h.join("cache").join("compiled"))
}

impl Launch {
    /// Opens the grants, reads and compiles the entrypoint.
    pub fn prepare(&self) -> anyhow::Result<Prepared> {
        let stack = wasmpod_kube::annotations::max_wasm_stack(&self.spec.annotations)
            .with_context(|| {
                format!(
                    "invalid annotation {}",
                    wasmpod_kube::annotations::MAX_WASM_STACK
                )
            })?;
        // Checked for every container, served or not, as the shim does: a
        // bad value is refused at create, not ignored until it matters.
        let reuse =
            wasmpod_kube::annotations::instance_reuse(&self.spec.annotations).map_err(|e| {
                let name = e.annotation;
                anyhow::Error::new(e).context(format!("invalid annotation {name}"))
            })?;
        let mut options = EngineOptions {
            cache_dir: cache_dir(),
            ..EngineOptions::default()
        };
        if let Some(stack) = stack {
            options.max_wasm_stack = stack;
        }
        let runtime = Runtime::new(options).context("create the engine")?;
        let root = HostDir::open(&self.rootfs)
            .with_context(|| format!("open the rootfs {}", self.rootfs.display()))?;
        let cwd = if self.process.cwd.is_empty() {
            "/".to_string()
        } else {
            self.process.cwd.clone()
        };
        let args = self.process.args.clone();
        let bytes = wasmpod_bundle::entrypoint::read(&root, &cwd, &args)?;
        let first = args.first().map(String::as_str).unwrap_or_default();
        let Some(bytes) = bytes else {
            // The words runc uses: Docker and Podman turn them into 127.
            bail!(
                "the Wasm entrypoint {first} is not in the container's rootfs: no such file or directory"
            );
        };
        let program = runtime
            .load(&bytes)
            .with_context(|| format!("cannot load the Wasm entrypoint {first}"))?;
        let listen = if self.serve && runtime.is_http_handler(&program) {
            Some((
                self.spec.http_listen()?,
                wasmpod_engine::HttpOptions::default().with_reuse(reuse.count, reuse.concurrent),
            ))
        } else {
            None
        };
        let spec = RunSpec {
            args,
            env: wasmpod_engine::env_pairs(&self.process.env),
            preopens: self.spec.preopens(&root)?,
            cwd: Some(cwd),
            limits: Limits {
                memory: self.spec.memory_limit().map(guest_memory),
                timeout: None,
                cpu_millis: self.spec.cpu_millis(),
            },
            stdio: Stdio::inherit(),
            // The process is in the network namespace the spec asks for:
            // none (only lo) unless the caller gave it one.
            network: true,
            usage: Default::default(),
        };
        if let Err(e) = runtime.prepare_linker(&program) {
            warn!(error = %wasmpod_engine::one_line(&e), "cannot build the linker");
        }
        Ok(Prepared {
            runtime,
            program,
            spec,
            listen,
            user: self.process.user.clone(),
        })
    }
}

/// What this process itself needs beside the guest's memory (runtime,
/// engine, stacks): the cgroup's limit covers both, so the guest gets the
/// rest, and running out is an allocation the guest sees fail, not the
/// kernel's OOM kill of the whole container.
const RUNTIME_RESERVE: u64 = 12 << 20;

/// The guest's share of a container memory limit of `limit` bytes: the
/// limit less [`RUNTIME_RESERVE`], and never less than half the limit.
fn guest_memory(limit: u64) -> u64 {
    limit.saturating_sub(RUNTIME_RESERVE).max(limit / 2)
}

/// How long after the guest starts the binary's start-up pages go back.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The signals that stop a guest; any other keeps its default action.
const STOP_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

impl Prepared {
    /// Runs the guest to its end and returns the process's exit code.
    pub fn run(self) -> i32 {
        // `prepare` compiled a guest the cache lacked and writes its entry
        // in the background (between `create` and `start`, as a rule):
        // finish it while this process still has the credentials of the
        // cache's owner, not the guest's user's.
        self.runtime.finish_cache_writes();
        // Taken before the user changes: then this process's /proc files
        // become root's.
        let startup_pages = wasmpod_bundle::startup_pages::StartupPages::open()
            .map_err(|e| debug!(error = %e, "cannot read this process's mappings"))
            .ok();
        if let Err(e) = crate::user::become_user(&self.user) {
            warn!(error = %format!("{e:#}"), "cannot run as the process's user");
            return NOT_STARTED;
        }
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                warn!(error = %e, "cannot start the async runtime");
                return NOT_STARTED;
            }
        };
        rt.block_on(async move {
            // An idle container keeps only what its guest runs: the pages
            // of this large binary that start-up touched go back a moment
            // after the guest starts (they stay in the page cache).
            if let Some(pages) = startup_pages {
                tokio::spawn(async move {
                    tokio::time::sleep(RELEASE_AFTER).await;
                    match tokio::task::spawn_blocking(move || pages.release()).await {
                        Ok(Ok(kib)) => debug!(kib, "released start-up pages"),
                        Ok(Err(e)) => debug!(error = %e, "cannot release start-up pages"),
                        Err(e) => debug!(error = %e, "cannot release start-up pages"),
                    }
                });
            }
            let stop = StopHandle::new();
            for signal in STOP_SIGNALS {
                let kind = tokio::signal::unix::SignalKind::from_raw(signal);
                let Ok(mut stream) = tokio::signal::unix::signal(kind) else {
                    continue;
                };
                let stop = stop.clone();
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        info!(signal, "stopping the guest");
                        // A second signal while a server drains ends it.
                        let reason = match stop.reason() {
                            Some(_) => StopReason::Signal(libc::SIGKILL),
                            None => StopReason::Signal(signal),
                        };
                        stop.stop(reason);
                    }
                });
            }
            let result = match self.listen {
                Some((addr, options)) => {
                    self.runtime
                        .serve_http_at(&self.program, self.spec, addr, options, &stop)
                        .await
                }
                None => self.runtime.run(&self.program, self.spec, &stop).await,
            };
            match result {
                Ok(status) => code(&status, &stop),
                Err(e) => {
                    warn!(error = %wasmpod_engine::one_line(&e), "the guest failed to start");
                    NOT_STARTED
                }
            }
        })
    }
}

/// The exit code for `status`: a server that drained after SIGTERM still
/// ends as a process the signal ended would (143).
fn code(status: &ExitStatus, stop: &StopHandle) -> i32 {
    if let ExitStatus::Trapped { message, .. } = status {
        warn!(%message, "the guest trapped");
    }
    match (status, stop.reason()) {
        (ExitStatus::Stopped(StopReason::Signal(n)), _) => 128 + n,
        (ExitStatus::Exited(0), Some(StopReason::Signal(n))) => 128 + n,
        _ => status.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_gets_the_limit_less_the_runtimes_reserve() {
        assert_eq!(guest_memory(64 << 20), 52 << 20);
        assert_eq!(guest_memory(1 << 30), (1 << 30) - (12 << 20));
        // A small limit still leaves the guest half.
        assert_eq!(guest_memory(16 << 20), 8 << 20);
    }
}
