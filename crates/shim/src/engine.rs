//! The pod's engine, built on a blocking thread while the server already
//! answers containerd. Building it (the pooling allocator's reservations,
//! the compile cache) takes about a millisecond; a container's create
//! waits for it only once it has read the spec and mounted the rootfs.

use std::sync::Arc;

use tokio::sync::watch;
use wasmpod_engine::Runtime;

use crate::ShimError;

/// A handle on the engine, which may still be being built.
#[derive(Clone, Debug)]
pub struct EngineHandle(watch::Receiver<Option<Arc<Runtime>>>);

impl EngineHandle {
    /// Starts building the engine with `build` on a blocking thread. Must
    /// be called inside the async runtime.
    pub fn spawn(build: impl FnOnce() -> Runtime + Send + 'static) -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(Some(Arc::new(build())));
        });
        Self(rx)
    }

    /// The engine, once built.
    pub async fn get(&self) -> Result<Arc<Runtime>, ShimError> {
        let mut rx = self.0.clone();
        let built = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ShimError::Engine("the engine could not be built".into()))?;
        built
            .clone()
            .ok_or_else(|| ShimError::Engine("the engine could not be built".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn get_waits_for_the_build_and_every_clone_sees_one_engine() {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let handle = EngineHandle::spawn(move || {
            let _ = go_rx.recv();
            Runtime::new(wasmpod_engine::EngineOptions::default()).expect("engine")
        });
        let other = handle.clone();
        let waiting = tokio::spawn(async move { other.get().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "get returned before the engine was built"
        );
        go_tx.send(()).expect("release the build");
        let a = waiting.await.expect("join").expect("engine");
        let b = handle.get().await.expect("engine");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[tokio::test]
    async fn a_build_that_panics_is_an_error_not_a_hang() {
        let handle = EngineHandle::spawn(|| panic!("no engine"));
        let e = handle.get().await.expect_err("no engine");
        assert!(e.to_string().contains("could not be built"), "{e}");
    }
}
