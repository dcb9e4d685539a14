//! Running WASI 0.3 commands: components exporting `wasi:cli/run@0.3`,
//! whose `run` is an async export called inside the store's event loop
//! (`Store::run_concurrent`).
//!
//! The grants, limits and stopping are the same as for WASI 0.2: the
//! store gets the spec's WASI context, the limiter, and the
//! [`StopHandle`]'s epoch callback (with the CPU throttle); the caller
//! ([`crate::Runtime::run`]) counts CPU around the whole future and drops
//! it when the handle is used. Serving WASI 0.3 `wasi:http` is `http.rs`.

use tracing::debug;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::EngineError;
use crate::exit::{ExitStatus, classify, instantiate_failure};
use crate::host::ComponentHost;
use crate::spec::RunSpec;
use crate::stop::StopHandle;

/// Runs `component`, a WASI 0.3 command, to its end with `linker` (WASI
/// 0.2 and 0.3 and `wasi:http` 0.3 types: 0.3 toolchains import some 0.2
/// interfaces too).
pub(crate) async fn run_command(
    linker: &Linker<ComponentHost>,
    component: &Component,
    mut spec: RunSpec,
    stop: &StopHandle,
) -> Result<ExitStatus, EngineError> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| EngineError::Link(e.into()))?;
    let pre = wasmtime_wasi::p3::bindings::CommandPre::new(pre)
        .map_err(|e| EngineError::NotACommand(e.into()))?;
    let limits = spec.limits.limiter(spec.usage.clone());
    let host = ComponentHost::new(spec.wasi_builder()?.build(), spec.network, limits);
    let mut store = Store::new(linker.engine(), host);
    store.limiter(|h| &mut h.limits);
    stop.arm(&mut store, spec.limits.throttle(&spec.usage));

    let command = match pre.instantiate_async(&mut store).await {
        Ok(c) => c,
        Err(e) => return instantiate_failure(e, stop),
    };
    debug!("calling wasi:cli/run@0.3");
    let ran = store
        .run_concurrent(async |accessor| {
            let result = command.wasi_cli_run().call_run(accessor).await;
            // `run` may return before the tasks it started (a stdout
            // writer) are done: let them finish, as wasmtime's own CLI
            // does. A guest that never does is ended by its stop or
            // timeout. After an exit or a trap there is nothing to wait
            // for.
            if result.is_ok() {
                std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
            }
            result
        })
        .await;
    Ok(match ran {
        Ok(Ok(Ok(()))) => ExitStatus::Exited(0),
        Ok(Ok(Err(()))) => ExitStatus::Exited(1),
        Ok(Err(e)) | Err(e) => classify(e, stop),
    })
}
