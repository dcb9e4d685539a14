//! Running a started process: a tokio task that runs its plan to an exit
//! status, records the exit and publishes it.

use std::sync::Arc;

use tracing::{info, warn};
use wasmpod_engine::{ExitStatus, Limits, RunSpec};

use crate::process::{Base, Exit, Plan, Running};
use crate::publisher::{Publisher, TaskEvent};

/// The status of a process whose guest could not be started (its stdio
/// could not be opened, or the engine refused it): 125, as `wasmpod run`
/// exits when wasmpod itself failed.
const NOT_STARTED: u32 = 125;

/// Runs `process` in a task of its own; `exec_id` is `None` for the
/// container's init process.
pub(crate) fn launch(
    publisher: Arc<dyn Publisher>,
    container_id: String,
    exec_id: Option<String>,
    process: Running,
) {
    tokio::spawn(async move {
        let Running {
            plan,
            stdio,
            usage,
            stop,
            state,
        } = process;
        let exec = exec_id.as_deref().unwrap_or_default();
        let status: u32 = match plan {
            Plan::Sandbox => ExitStatus::Stopped(stop.stopped().await).code() as u32,
            Plan::Wasm {
                program,
                args,
                base,
            } => match stdio.open().await {
                Err(e) => {
                    warn!(container = %container_id, exec, error = %e, "cannot open stdio");
                    NOT_STARTED
                }
                Ok(stdio) => {
                    let base = *base;
                    let (listen, runtime) = (base.http_listen, base.runtime.clone());
                    let http_options = base.http_options.clone();
                    let spec = run_spec(args, base, stdio, usage);
                    // The container's own wasi:http component is served
                    // (in the pod's network namespace, where this shim
                    // runs); an exec of one is run like any module.
                    let result = if exec_id.is_none() && runtime.is_http_handler(&program) {
                        runtime
                            .serve_http_at(&program, spec, listen, http_options, &stop)
                            .await
                    } else {
                        runtime.run(&program, spec, &stop).await
                    };
                    match result {
                        Ok(status) => {
                            if let ExitStatus::Trapped { message, backtrace } = &status {
                                warn!(container = %container_id, %message, backtrace = backtrace.as_deref().unwrap_or(""), "guest trapped");
                            }
                            status.code() as u32
                        }
                        Err(e) => {
                            warn!(container = %container_id, exec, error = %wasmpod_engine::one_line(&e), "guest failed to start");
                            NOT_STARTED
                        }
                    }
                }
            },
        };
        let exit = Exit::now(status);
        info!(container = %container_id, exec, status, "exited");
        let id = exec_id.unwrap_or_else(|| container_id.clone());
        // Published before waiters learn of the exit: containerd deletes a
        // task once its Wait returns, and its TaskExit must come before
        // the TaskDelete (as the runc shim orders them).
        publisher.publish(TaskEvent::Exit {
            container_id,
            id,
            exit,
        });
        state.exited(exit);
    });
}

/// What the engine runs for a process of a container with `base`.
fn run_spec(
    args: Vec<String>,
    base: Base,
    stdio: wasmpod_engine::Stdio,
    usage: Arc<wasmpod_engine::Usage>,
) -> RunSpec {
    RunSpec {
        args,
        env: base.env,
        preopens: base.preopens,
        cwd: Some(base.cwd),
        limits: Limits {
            memory: base.memory,
            timeout: None,
            // The pod cgroup holds the CPU limit.
            cpu_millis: None,
        },
        stdio,
        network: true,
        usage,
    }
}
