//! Runtimes that differ only in their wasm stack.
//!
//! wasmtime's stack limit is a setting of the engine, not of a store, and
//! a compiled program belongs to the engine that compiled it. Front ends
//! that run workloads asking for different stacks (pods with the
//! `wasmpod.dev/max-wasm-stack` annotation) take one [`Runtime`] per
//! stack from here, built on first use with every other option shared.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{EngineError, EngineOptions, Runtime};

/// One [`Runtime`] per distinct `max_wasm_stack`, built on demand.
#[derive(Debug)]
pub struct Runtimes {
    options: EngineOptions,
    default: Arc<Runtime>,
    by_stack: Mutex<BTreeMap<u64, Arc<Runtime>>>,
}

impl Runtimes {
    /// Builds the runtime for `options` at once (so that a bad option fails
    /// here); others are built by [`Self::get`].
    pub fn new(options: EngineOptions) -> Result<Self, EngineError> {
        let default = Arc::new(Runtime::new(options.clone())?);
        Ok(Self {
            by_stack: Mutex::new(BTreeMap::from([(options.max_wasm_stack, default.clone())])),
            default,
            options,
        })
    }

    /// The runtime with the default stack of these options.
    pub fn default_runtime(&self) -> Arc<Runtime> {
        self.default.clone()
    }

    /// The runtime whose guests may use `max_wasm_stack` bytes of stack
    /// (`None`: the default).
    pub fn get(&self, max_wasm_stack: Option<u64>) -> Result<Arc<Runtime>, EngineError> {
        let stack = max_wasm_stack.unwrap_or(self.options.max_wasm_stack);
        let mut by_stack = self.lock();
        if let Some(runtime) = by_stack.get(&stack) {
            return Ok(runtime.clone());
        }
        let runtime = Arc::new(Runtime::new(EngineOptions {
            max_wasm_stack: stack,
            ..self.options.clone()
        })?);
        by_stack.insert(stack, runtime.clone());
        Ok(runtime)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Runtime>>> {
        self.by_stack.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Runtimes;
    use crate::EngineOptions;

    #[test]
    fn one_runtime_per_stack_and_bad_stacks_refused() {
        let runtimes = Runtimes::new(EngineOptions::default()).expect("runtimes");
        let default = runtimes.default_runtime();
        assert!(Arc::ptr_eq(&default, &runtimes.get(None).expect("none")));
        let big = runtimes.get(Some(16 << 20)).expect("16 MiB");
        assert!(!Arc::ptr_eq(&default, &big));
        assert!(Arc::ptr_eq(
            &big,
            &runtimes.get(Some(16 << 20)).expect("again")
        ));
        let err = runtimes.get(Some(1)).expect_err("1 byte");
        assert!(err.to_string().contains("outside 64 KiB to 1 GiB"), "{err}");
    }
}
