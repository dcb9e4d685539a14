//! Helpers shared by the engine's test binaries.
#![allow(dead_code)]

use wasmpod_engine::{EngineOptions, Runtime};

/// A runtime with a compile cache in a temp folder (kept alive by the
/// returned guard), pooled or not.
pub fn runtime(pooling: bool) -> (tempfile::TempDir, Runtime) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EngineOptions {
        cache_dir: Some(dir.path().join("cache")),
        pooling,
        pooling_max_instances: 16,
        pooling_max_memory_bytes: 256 << 20,
        ..EngineOptions::default()
    };
    (dir, Runtime::new(options).expect("runtime"))
}

/// Runs `f` on a two-thread tokio runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(f)
}

/// The messages of `err` and its causes, outer first.
pub fn messages(err: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(err), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
