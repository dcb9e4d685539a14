//! How a guest's run ended, as a value: exited, trapped or stopped, and the
//! shell exit code that stands for each.

use crate::stop::StopReason;

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
