//! Finding and compiling the module a process runs: `args[0]` beneath the
//! container's open rootfs, or else a Wasm layer of its image in
//! containerd's content store.

use std::sync::Arc;

use wasmpod_engine::{HostDir, Program, Runtime};

use crate::ShimError;
use crate::content::{ContainerImage, ContentError, Store, WasmLayers};

/// What a container knows of its image: the one the node's trust policy
/// admitted (whose layers execs read too, whatever its name points to by
/// then), and its Wasm layers once the content store was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageSource {
    pub(crate) admitted: Option<ContainerImage>,
    pub(crate) layers: Option<WasmLayers>,
}

/// Where modules come from: the rootfs, and containerd's content store for
/// images whose module is a layer.
pub(crate) struct Modules {
    /// `None` when containerd's address is unknown.
    store: Option<Arc<Store>>,
}

impl Modules {
    pub(crate) fn new(store: Option<Store>) -> Self {
        Self {
            store: store.map(Arc::new),
        }
    }

    /// containerd's API, when its address is known.
    pub(crate) fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// The program `args[0]` names: a file beneath `root` (a relative name
    /// is taken from `cwd`), or else a Wasm layer of container `id`'s image,
    /// read from containerd's content store (`image` remembers which the
    /// image has, and which image the trust policy admitted), compiled by
    /// `runtime`.
    pub(crate) async fn load(
        &self,
        runtime: &Arc<Runtime>,
        id: &str,
        root: &HostDir,
        cwd: &str,
        args: &[String],
        image: &mut ImageSource,
    ) -> Result<Program, ShimError> {
        // Reading a file of the rootfs and compiling it are one trip off
        // the async threads.
        let (root, cwd, a, engine) = (
            root.clone(),
            cwd.to_string(),
            args.to_vec(),
            runtime.clone(),
        );
        let found = tokio::task::spawn_blocking(move || {
            wasmpod_bundle::entrypoint::read(&root, &cwd, &a)?
                .map(|bytes| {
                    let first = a.first().map(String::as_str).unwrap_or_default();
                    load_bytes(&engine, first, &bytes)
                })
                .transpose()
        })
        .await??;
        if let Some(program) = found {
            return Ok(program);
        }
        let first = args.first().map(String::as_str).unwrap_or_default();
        let missing = |reason: ContentError| ShimError::ModuleNotFound {
            module: first.to_string(),
            reason,
        };
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| missing(ContentError::NoAddress))?;
        let known = match &mut image.layers {
            Some(known) => &*known,
            None => {
                let from = match &image.admitted {
                    Some(admitted) => admitted.clone(),
                    None => store.image(id).await.map_err(missing)?,
                };
                &*image
                    .layers
                    .insert(store.wasm_layers(&from).await.map_err(missing)?)
            }
        };
        let layer = known.select(first).map_err(missing)?;
        // A layer's digest is the module's: compiled code cached
        // under it needs no read of the layer at all.
        let digest = layer.digest.to_bytes();
        let cached = {
            let runtime = runtime.clone();
            tokio::task::spawn_blocking(move || runtime.load_cached(digest)).await?
        };
        if let Some(program) = cached {
            return Ok(program);
        }
        let bytes = store.read_layer(known, layer).await.map_err(missing)?;
        compile(runtime, first, bytes).await
    }
}

/// Compiles `bytes` (or finds them in the compile cache); `first` names
/// them in errors.
fn load_bytes(runtime: &Runtime, first: &str, bytes: &[u8]) -> Result<Program, ShimError> {
    runtime.load(bytes).map_err(|source| ShimError::LoadModule {
        module: first.to_string(),
        source,
    })
}

/// [`load_bytes`] off the async threads.
async fn compile(
    runtime: &Arc<Runtime>,
    first: &str,
    bytes: Vec<u8>,
) -> Result<Program, ShimError> {
    let runtime = runtime.clone();
    let first = first.to_string();
    tokio::task::spawn_blocking(move || load_bytes(&runtime, &first, &bytes)).await?
}
