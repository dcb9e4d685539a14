//! The container core: this shim's table of containers and what each task
//! call does to it.
//!
//! A container has an init process and any number of execs, each a
//! [`Process`] with an explicit state. Calls that come in the wrong order
//! (starting twice, deleting a running process, exec in a container that
//! has exited or does not exist) are errors of their own kind; an unknown
//! or deleted container or exec is [`ShimError::NotFound`], which
//! containerd expects of a kill after delete. What happened is told to a
//! [`Publisher`]. Nothing here speaks ttrpc: [`crate::task`] turns requests
//! into these calls and their results into responses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use containerd_shim::protos::types::mount::Mount;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};
use wasmpod_engine::{HostDir, Runtime, Runtimes, StopReason};
use wasmpod_kube::annotations;

use crate::ShimError;
use crate::admission::NodePolicy;
use crate::content::Store;
use crate::launch::launch;
use crate::module::{ImageSource, Modules};
use crate::process::{Base, Exit, Plan, Process, Status};
use crate::publisher::{Publisher, TaskEvent};
use crate::stdio::StdioPaths;
use wasmpod_bundle::{self as spec, Spec};

/// How long after a container starts the shim releases its start-up pages.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// A container to create: containerd's Create, as the core reads it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewContainer {
    pub(crate) id: String,
    /// The bundle folder, with `config.json`.
    pub(crate) bundle: String,
    /// Mounts that make up the rootfs; none if it is already in place.
    pub(crate) rootfs: Vec<Mount>,
    pub(crate) stdio: StdioPaths,
    pub(crate) terminal: bool,
}

/// A process's state as the State call reports it.
#[derive(Debug, Clone)]
pub(crate) struct ProcessInfo {
    pub(crate) bundle: String,
    pub(crate) stdio: StdioPaths,
    pub(crate) status: Status,
}

/// What a container's processes use, summed over them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ContainerUsage {
    pub(crate) memory_bytes: u64,
    pub(crate) peak_memory_bytes: u64,
    pub(crate) cpu_nanos: u64,
}

struct Container {
    bundle: String,
    rootfs_mounted: Option<PathBuf>,
    /// `None` for a pod sandbox, which runs nothing and takes no exec.
    base: Option<Base>,
    /// The image the node's trust policy admitted, and its Wasm layers.
    image: ImageSource,
    init: Process,
    execs: HashMap<String, Process>,
}

impl Container {
    /// The init process (`exec` `None`) or an exec.
    fn process(&self, id: &str, exec: Option<&str>) -> Result<&Process, ShimError> {
        match exec {
            None => Ok(&self.init),
            Some(e) => self
                .execs
                .get(e)
                .ok_or_else(|| ShimError::NotFound(name(id, exec))),
        }
    }
}

/// How errors and logs name a process.
fn name(id: &str, exec: Option<&str>) -> String {
    match exec {
        None => id.to_string(),
        Some(e) => format!("{id} exec {e}"),
    }
}

/// The containers of one shim (one pod, or one container).
pub(crate) struct Containers {
    /// One engine per wasm stack the containers ask for.
    runtimes: Arc<Runtimes>,
    modules: Modules,
    /// The node's trust policy.
    policy: NodePolicy,
    publisher: Arc<dyn Publisher>,
    table: Mutex<HashMap<String, Container>>,
    /// Whether a release of the binary's start-up pages is due.
    release_due: Arc<AtomicBool>,
}

impl Containers {
    /// `store` is containerd's content store, for images whose module is
    /// a layer rather than a file of the rootfs.
    pub(crate) fn new(
        runtimes: Arc<Runtimes>,
        store: Option<Store>,
        policy: NodePolicy,
        publisher: Arc<dyn Publisher>,
    ) -> Self {
        let modules = Modules::new(store);
        // Every container will ask containerd about its image: the
        // connection is made while containerd is still on its way to the
        // first Create.
        if policy.is_set()
            && let Some(store) = modules.store().cloned()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = store.connect().await {
                    debug!(error = %e, "cannot connect to containerd ahead of Create");
                }
            });
        }
        Self {
            modules,
            policy,
            runtimes,
            publisher,
            table: Mutex::default(),
            release_due: Arc::default(),
        }
    }

    /// Creates a container: reads its spec, refuses a network other than
    /// the shim's, mounts its rootfs and loads its module.
    pub(crate) async fn create(&self, new: NewContainer) -> Result<(), ShimError> {
        let id = new.id.clone();
        info!(container = %id, bundle = %new.bundle, "create");
        // The lock is not held while the container is prepared (mounting,
        // asking containerd for Wasm layers, loading the module): the
        // pod's other containers keep answering meanwhile.
        let first = {
            let table = self.table.lock().await;
            if table.contains_key(&id) {
                return Err(ShimError::AlreadyExists(id));
            }
            table.is_empty()
        };
        let bundle = PathBuf::from(&new.bundle);
        let spec = Spec::load(&bundle)?;
        crate::netns::admit(spec.network())?;
        let rootfs = spec.rootfs(&bundle);
        let mounted = if new.rootfs.is_empty() {
            None
        } else {
            crate::rootfs::mount(&new.rootfs, &rootfs).await?;
            Some(rootfs.clone())
        };
        // The first container of a pod (its sandbox, under CRI) puts this
        // process in the pod's cgroup. A container outside a pod (plain
        // ctr) has no pod cgroup to join, and moving a process between v1
        // cgroups costs tens of milliseconds of start-up.
        if first
            && (spec.is_sandbox() || spec.sandbox_id().is_some())
            && let Some(pod) = spec
                .linux
                .as_ref()
                .and_then(|l| wasmpod_bundle::cgroup::pod_cgroup(&l.cgroups_path))
        {
            wasmpod_bundle::cgroup::join(Path::new("/sys/fs/cgroup"), &pod);
        }
        let mut image = ImageSource::default();
        let prepared = self.prepare(&id, &spec, &rootfs, &mut image).await;
        let mut table = self.table.lock().await;
        let prepared = prepared.and_then(|p| {
            if table.contains_key(&id) {
                Err(ShimError::AlreadyExists(id.clone()))
            } else {
                Ok(p)
            }
        });
        let (plan, base) = match prepared {
            Ok(p) => p,
            Err(e) => {
                drop(table);
                if let Some(root) = &mounted {
                    crate::rootfs::unmount_or_warn(root);
                }
                return Err(e);
            }
        };
        table.insert(
            id.clone(),
            Container {
                bundle: new.bundle.clone(),
                rootfs_mounted: mounted,
                base,
                image,
                init: Process::new(new.stdio.clone(), plan),
                execs: HashMap::new(),
            },
        );
        drop(table);
        self.publisher.publish(TaskEvent::Create {
            container_id: id,
            bundle: new.bundle,
            rootfs: new.rootfs,
            stdio: new.stdio,
            terminal: new.terminal,
        });
        Ok(())
    }

    /// What a new container will run: nothing for a pod sandbox, else its
    /// module with the spec's env, mounts and limits.
    async fn prepare(
        &self,
        id: &str,
        spec: &Spec,
        rootfs: &Path,
        image: &mut ImageSource,
    ) -> Result<(Plan, Option<Base>), ShimError> {
        if spec.is_sandbox() {
            return Ok((Plan::Sandbox, None));
        }
        // Before anything of the image is read or compiled.
        image.admitted = self.admit(id).await?;
        let root = HostDir::open(rootfs).map_err(|e| ShimError::io(rootfs, e))?;
        let runtime = self.runtime_for(spec)?;
        let base = Base {
            runtime: runtime.clone(),
            env: spec.env(),
            cwd: spec.cwd(),
            preopens: spec.preopens(&root)?,
            memory: spec.memory_limit(),
            root,
            http_listen: spec.http_listen()?,
            http_options: http_options(spec)?,
        };
        let args = spec
            .process
            .as_ref()
            .map(|p| p.args.clone())
            .unwrap_or_default();
        let program = self
            .modules
            .load(&runtime, id, &base.root, &base.cwd, &args, image)
            .await?;
        debug!(container = %id, digest = %program.digest(), cache = program.cache_outcome().as_str(), "module loaded");
        // The linker it runs with is built while containerd goes back and
        // forth before Start, rather than when Start waits for it.
        let p = program.clone();
        drop(tokio::task::spawn_blocking(move || {
            if let Err(e) = runtime.prepare_linker(&p) {
                warn!(error = %e, "cannot build the linker");
            }
        }));
        Ok((
            Plan::Wasm {
                program,
                args,
                base: Box::new(base.clone()),
            },
            Some(base),
        ))
    }

    /// Container `id`'s image checked against the node's policy: the image
    /// admitted, or `None` without a policy (or an image).
    async fn admit(&self, id: &str) -> Result<Option<crate::content::ContainerImage>, ShimError> {
        self.policy
            .admit(id, self.modules.store().map(|s| &**s))
            .await
            .map_err(|source| ShimError::NotAdmitted {
                path: self.policy.path().to_path_buf(),
                source: Box::new(source),
            })
    }

    /// The engine for the wasm stack the container asks for with the
    /// `wasmpod.dev/max-wasm-stack` annotation (containerd passes a pod's
    /// annotations on when its runtime lists them in `pod_annotations`).
    fn runtime_for(&self, spec: &Spec) -> Result<Arc<Runtime>, ShimError> {
        let invalid = |source: wasmpod_engine::Cause| ShimError::Annotation {
            name: annotations::MAX_WASM_STACK,
            source,
        };
        let stack =
            annotations::max_wasm_stack(&spec.annotations).map_err(|e| invalid(e.into()))?;
        self.runtimes.get(stack).map_err(|e| invalid(e.into()))
    }

    /// Starts the init process (`exec` `None`) or an exec.
    pub(crate) async fn start(&self, id: &str, exec: Option<&str>) -> Result<(), ShimError> {
        let table = self.table.lock().await;
        let c = table
            .get(id)
            .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
        let running = c.process(id, exec)?.start(&name(id, exec))?;
        // Published before the process runs, so that its exit, however
        // soon, comes after.
        let container_id = id.to_string();
        self.publisher.publish(match exec {
            None => TaskEvent::Start { container_id },
            Some(e) => TaskEvent::ExecStarted {
                container_id,
                exec_id: e.to_string(),
            },
        });
        launch(
            self.publisher.clone(),
            id.to_string(),
            exec.map(str::to_string),
            running,
        );
        drop(table);
        if exec.is_none() {
            // Not for execs: an exec probe every second would undo and
            // redo the release each time.
            self.release_startup_pages_soon();
        }
        Ok(())
    }

    /// A second after a container starts (once for a burst of starts), gives
    /// back the pages of the binary that start-up touched: see
    /// [`crate::memory`].
    fn release_startup_pages_soon(&self) {
        if self.release_due.swap(true, Ordering::AcqRel) {
            return;
        }
        let due = self.release_due.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RELEASE_AFTER).await;
            due.store(false, Ordering::Release);
            match tokio::task::spawn_blocking(wasmpod_bundle::startup_pages::release_binary_pages)
                .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => debug!(error = %e, "cannot release start-up pages"),
                Err(e) => debug!(error = %e, "release task"),
            }
        });
    }

    /// The state of the init process or an exec.
    pub(crate) async fn state(
        &self,
        id: &str,
        exec: Option<&str>,
    ) -> Result<ProcessInfo, ShimError> {
        let table = self.table.lock().await;
        let c = table
            .get(id)
            .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
        let p = c.process(id, exec)?;
        Ok(ProcessInfo {
            bundle: c.bundle.clone(),
            stdio: p.stdio.clone(),
            status: p.status(),
        })
    }

    /// Delivers `signal` to the init process (and with `all` to every
    /// exec too) or to an exec. Guests cannot handle signals: every signal
    /// stops the process, and its exit status says which one it was.
    pub(crate) async fn kill(
        &self,
        id: &str,
        exec: Option<&str>,
        signal: u32,
        all: bool,
    ) -> Result<(), ShimError> {
        let table = self.table.lock().await;
        let c = table
            .get(id)
            .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
        let reason = StopReason::Signal(i32::try_from(signal).unwrap_or(libc::SIGKILL));
        info!(container = %id, exec = exec.unwrap_or_default(), signal, "kill");
        c.process(id, exec)?.kill(reason);
        if all && exec.is_none() {
            for e in c.execs.values() {
                e.kill(reason);
            }
        }
        Ok(())
    }

    /// Waits until the init process or an exec has exited.
    pub(crate) async fn wait(&self, id: &str, exec: Option<&str>) -> Result<Exit, ShimError> {
        let exit = {
            let table = self.table.lock().await;
            let c = table
                .get(id)
                .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
            c.process(id, exec)?.exit()
        };
        Ok(exit.await)
    }

    /// Deletes a container that is not running, stopping its execs, or an
    /// exec that is not running. Returns the exit to report.
    pub(crate) async fn delete(&self, id: &str, exec: Option<&str>) -> Result<Exit, ShimError> {
        let mut table = self.table.lock().await;
        let c = table
            .get_mut(id)
            .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
        let Some(exec_id) = exec else {
            let exit = c.init.delete(id)?;
            let c = table
                .remove(id)
                .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
            drop(table);
            for e in c.execs.values() {
                e.kill(StopReason::Signal(libc::SIGKILL));
                e.stdio.release_stdin();
            }
            c.init.stdio.release_stdin();
            if let Some(root) = &c.rootfs_mounted {
                crate::rootfs::unmount_or_warn(root);
            }
            self.publisher.publish(TaskEvent::Delete {
                container_id: id.to_string(),
                exit,
            });
            return Ok(exit);
        };
        let e = c.process(id, exec)?;
        let exit = e.delete(&name(id, exec))?;
        let e = c
            .execs
            .remove(exec_id)
            .ok_or_else(|| ShimError::NotFound(name(id, exec)))?;
        // Its CPU time stays in the container's total (as a finished
        // process's stays in a cgroup's), so the counter never goes back.
        c.init.usage.add_cpu_nanos(e.usage.cpu_nanos());
        e.stdio.release_stdin();
        Ok(exit)
    }

    /// Adds exec `exec_id` to container `id`, running `process` (whose
    /// own env and cwd replace the container's, as with runc). A container
    /// that has exited takes no exec.
    pub(crate) async fn exec(
        &self,
        id: &str,
        exec_id: &str,
        process: spec::Process,
        stdio: StdioPaths,
        terminal: bool,
    ) -> Result<(), ShimError> {
        if terminal {
            return Err(ShimError::Unsupported("a terminal (tty) for exec".into()));
        }
        let (mut base, mut image) = {
            let table = self.table.lock().await;
            let c = table
                .get(id)
                .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
            let base = admit_exec(c, id, exec_id)?;
            (base, c.image.clone())
        };
        // A container created before the node had a policy is checked at
        // its first exec under one.
        if image.admitted.is_none() && self.policy.is_set() {
            image.admitted = self.admit(id).await?;
        }
        if !process.env.is_empty() {
            base.env = wasmpod_engine::env_pairs(&process.env);
        }
        if !process.cwd.is_empty() {
            base.cwd = process.cwd.clone();
        }
        // Loaded without the lock, as in create.
        let program = self
            .modules
            .load(
                &base.runtime,
                id,
                &base.root,
                &base.cwd,
                &process.args,
                &mut image,
            )
            .await;
        let mut table = self.table.lock().await;
        let c = table
            .get_mut(id)
            .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
        if c.image.layers.is_none() {
            c.image.layers = image.layers;
        }
        let program = program?;
        admit_exec(c, id, exec_id)?;
        c.execs.insert(
            exec_id.to_string(),
            Process::new(
                stdio,
                Plan::Wasm {
                    program,
                    args: process.args,
                    base: Box::new(base),
                },
            ),
        );
        drop(table);
        self.publisher.publish(TaskEvent::ExecAdded {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
        });
        Ok(())
    }

    /// Whether container `id` exists.
    pub(crate) async fn ensure_exists(&self, id: &str) -> Result<(), ShimError> {
        let table = self.table.lock().await;
        table
            .get(id)
            .map(|_| ())
            .ok_or_else(|| ShimError::NotFound(id.to_string()))
    }

    /// What container `id`'s processes use, summed (the Stats call's input).
    pub(crate) async fn usage(&self, id: &str) -> Result<ContainerUsage, ShimError> {
        let table = self.table.lock().await;
        let c = table
            .get(id)
            .ok_or_else(|| ShimError::NotFound(id.to_string()))?;
        let procs = std::iter::once(&c.init).chain(c.execs.values());
        Ok(
            procs.fold(ContainerUsage::default(), |sum, p| ContainerUsage {
                memory_bytes: sum.memory_bytes + p.usage.memory_bytes(),
                peak_memory_bytes: sum.peak_memory_bytes + p.usage.peak_memory_bytes(),
                cpu_nanos: sum.cpu_nanos + p.usage.cpu_nanos(),
            }),
        )
    }

    /// Whether no container is left (the shim may then shut down).
    pub(crate) async fn is_empty(&self) -> bool {
        self.table.lock().await.is_empty()
    }
}

/// Whether container `c` takes exec `exec_id`; if so, what the exec
/// shares with it.
fn admit_exec(c: &Container, id: &str, exec_id: &str) -> Result<Base, ShimError> {
    if c.execs.contains_key(exec_id) {
        return Err(ShimError::AlreadyExists(name(id, Some(exec_id))));
    }
    let base = c
        .base
        .clone()
        .ok_or_else(|| ShimError::Unsupported("exec in a pod sandbox container".into()))?;
    if let Status::Exited(_) = c.init.status() {
        return Err(ShimError::Exited(id.to_string()));
    }
    Ok(base)
}

/// How the container's component is served, if it is one: the engine's
/// defaults with the pod's reuse annotations.
fn http_options(spec: &Spec) -> Result<wasmpod_engine::HttpOptions, ShimError> {
    let reuse =
        annotations::instance_reuse(&spec.annotations).map_err(|e| ShimError::Annotation {
            name: e.annotation,
            source: e.into(),
        })?;
    Ok(wasmpod_engine::HttpOptions::default().with_reuse(reuse.count, reuse.concurrent))
}

#[cfg(test)]
mod tests;
