//! How a guest's run ended, as a value: exited, trapped or stopped, and the
//! shell exit code that stands for each, and how an error out of guest
//! code becomes one.

use wasmtime::Trap;

use crate::stop::{StopHandle, StopReason};

/// How a guest's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The guest exited with this WASI exit code (0 when `_start` or
    /// `wasi:cli/run` returned normally, 1 when `run` returned an error).
    Exited(i32),
    /// The guest trapped (or a host call failed fatally on its behalf).
    Trapped {
        /// What happened, e.g. `wasm trap: integer divide by zero`.
        message: String,
        /// The Wasm backtrace, with function names from the name section.
        backtrace: Option<String>,
    },
    /// The guest was stopped from outside.
    Stopped(StopReason),
}

impl ExitStatus {
    /// The process exit code that stands for this status, following the
    /// shell's conventions: the guest's own code; 134 (SIGABRT) for a trap;
    /// 124 for a timeout (like `timeout(1)`); 128+N for signal N.
    pub fn code(&self) -> i32 {
        match self {
            Self::Exited(code) => *code,
            Self::Trapped { .. } => 134,
            Self::Stopped(StopReason::Timeout(_)) => 124,
            Self::Stopped(StopReason::Signal(n)) => 128 + n,
        }
    }
}

/// Instantiation failures are host errors, unless the guest was being stopped
/// or ran its own code (a start function) and exited or trapped.
pub(crate) fn instantiate_failure(
    err: wasmtime::Error,
    stop: &StopHandle,
) -> Result<ExitStatus, crate::EngineError> {
    if err.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
        || err.downcast_ref::<Trap>().is_some()
        || stop.reason().is_some()
    {
        return Ok(classify(err, stop));
    }
    Err(crate::EngineError::Instantiate(err.into()))
}

/// Turns an error out of guest code into the status a user sees.
/// A backtrace one frame a line, every name's control characters escaped.
fn escaped_backtrace(bt: &wasmtime::WasmBacktrace) -> String {
    let clean = |s: &str| -> String { s.chars().flat_map(char::escape_default).collect() };
    let mut text = String::from("wasm backtrace:");
    for (i, f) in bt.frames().iter().enumerate() {
        let module = f
            .module()
            .name()
            .map(clean)
            .unwrap_or_else(|| "<module>".into());
        let func = f
            .func_name()
            .map(clean)
            .unwrap_or_else(|| format!("<wasm function {}>", f.func_index()));
        text.push_str(&format!("\n  {i:>3}: {module}!{func}"));
    }
    text
}

pub(crate) fn classify(err: wasmtime::Error, stop: &StopHandle) -> ExitStatus {
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return ExitStatus::Exited(exit.0);
    }
    if let (Some(Trap::Interrupt), Some(reason)) = (err.downcast_ref::<Trap>(), stop.reason()) {
        return ExitStatus::Stopped(reason);
    }
    let backtrace = err
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| {
            // Names come from the module's name section, written by the
            // guest's author: one with a control character (a newline, an
            // escape sequence) would forge lines or drive the terminal, so
            // such a backtrace is written by us, escaped.
            let named = |name: Option<&str>| name.is_some_and(|n| n.chars().any(char::is_control));
            if bt
                .frames()
                .iter()
                .any(|f| named(f.func_name()) || named(f.module().name()))
            {
                return escaped_backtrace(bt);
            }
            // wasmtime's header reads as if the trap were an error of ours.
            let text = bt.to_string();
            match text.split_once('\n') {
                Some((_, frames)) => format!("wasm backtrace:\n{frames}"),
                None => text,
            }
        })
        .filter(|bt| bt.lines().count() > 1);
    let message = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => err
            .chain()
            .last()
            .map(|root| root.to_string())
            .unwrap_or_else(|| err.to_string()),
    };
    ExitStatus::Trapped { message, backtrace }
}
