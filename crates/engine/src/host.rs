//! The store data of every component instance ([`ComponentHost`]): its
//! WASI and `wasi:http` contexts, its resource table, its limiter, and the
//! network grant that outgoing `wasi:http` requests go through
//! ([`Hooks`]).
//!
//! One type for WASI 0.2 commands, WASI 0.3 commands and HTTP services of
//! both versions, so each version's host functions see the same grants.
//! Building linkers and running guests is elsewhere (`runtime.rs`,
//! `p3.rs`, `http.rs`).

use http_body_util::BodyExt;
use tracing::debug;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::limits::{Limiter, guest_table};
use crate::path_with_query::RawPaths;

/// What one component instance's store holds.
pub(crate) struct ComponentHost {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    pub(crate) limits: Limiter,
    /// Relative `wasi:http@0.3` request paths (`path_with_query.rs`).
    pub(crate) raw_paths: RawPaths,
}

impl ComponentHost {
    /// A host for one instance with the WASI context `ctx`; outgoing HTTP
    /// requests are sent only when `network` is granted.
    pub(crate) fn new(ctx: WasiCtx, network: bool, limits: Limiter) -> Self {
        Self {
            ctx,
            http: WasiHttpCtx::new(),
            table: guest_table(),
            hooks: Hooks::new(network),
            limits,
            raw_paths: RawPaths::default(),
        }
    }
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Outgoing requests only with the network granted. WASI 0.2's
/// `outgoing-handler.handle` and WASI 0.3's `client.send` both end here.
pub(crate) struct Hooks {
    network: bool,
}

impl Hooks {
    /// Hooks that send outgoing requests only when `network` is granted.
    pub(crate) fn new(network: bool) -> Self {
        Self { network }
    }
}

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        drop(fut);
        if !self.network {
            debug!(uri = %request.uri(), "outgoing request denied: no network grant");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
