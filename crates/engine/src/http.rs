//! Serving `wasi:http` components over HTTP/1.1: WASI 0.2's
//! `wasi:http/incoming-handler` and WASI 0.3's `wasi:http/handler`.
//!
//! One pre-instantiated component ([`ProxyPre`] or [`ServicePre`]: imports
//! type-checked and resolved once) and a fresh instance per request, in its
//! own store, from the engine's pooling allocator, unless the options ask
//! for instances to be reused (`http/reuse.rs`). Every request gets the [`RunSpec`]'s
//! grants (env, preopens, stdout/stderr, limits) and nothing else; outgoing
//! `wasi:http` requests are denied unless the spec grants the network
//! (`host.rs`). A WASI 0.3 guest runs in its store's event loop
//! (`Store::run_concurrent`), which keeps running after the response head
//! is sent, while the guest streams the body.
//!
//! Stopping: the first stop through the [`StopHandle`] drains (no new
//! connections, keep-alive connections close after their current request,
//! requests in flight finish, each still bounded by the request timeout);
//! a SIGKILL stop ends everything at once.
//!
//! [`crate::Runtime::serve_http`] is the entry point; this module depends
//! only on the leaf modules (host, spec, limits, usage, stop, exit, epoch),
//! never on the runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tracing::{debug, warn};
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::EngineError;
use crate::epoch::{EpochHold, EpochTicker};
use crate::exit::ExitStatus;
use crate::host::ComponentHost;
use crate::limits::Throttle;
use crate::program::{Compiled, Program, WasiVersion};
use crate::spec::RunSpec;
use crate::stop::{StopHandle, StopReason};
use crate::usage::count_cpu;

mod reuse;

/// How long a client may take to send a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How a component is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Longest a request may run, from its arrival to the end of the
    /// guest's `handle`. A request that has no response by then gets 504.
    pub request_timeout: Duration,
    /// Most requests handled at once; more wait for a slot.
    pub max_concurrency: usize,
    /// Most requests one instance serves before it is dropped. Default 1:
    /// a fresh instance for every request, so no request sees another's
    /// state. More shares an instance's memory between the requests it
    /// serves (`http/reuse.rs` says what that gives up), as `wasmtime
    /// serve` does for WASI 0.3 by default (128).
    pub max_instance_reuse_count: usize,
    /// Most requests one reused WASI 0.3 instance handles at once, as
    /// concurrent tasks. Default 16, `wasmtime serve`'s. A WASI 0.2
    /// instance always handles one at a time.
    pub max_instance_concurrent_reuse_count: usize,
    /// How long a reused instance with nothing to do is kept. Default 1 s,
    /// `wasmtime serve`'s.
    pub idle_instance_timeout: Duration,
}

impl HttpOptions {
    /// These options with the reuse counts that are `Some` set, as a pod's
    /// annotations or a flag give them.
    pub fn with_reuse(mut self, count: Option<usize>, concurrent: Option<usize>) -> Self {
        if let Some(n) = count {
            self.max_instance_reuse_count = n;
        }
        if let Some(n) = concurrent {
            self.max_instance_concurrent_reuse_count = n;
        }
        self
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_concurrency: 1024,
            max_instance_reuse_count: 1,
            max_instance_concurrent_reuse_count: 16,
            idle_instance_timeout: Duration::from_secs(1),
        }
    }
}

/// The pause between failed `accept`s of a listener, so that a listener
/// that keeps failing (out of file descriptors: `EMFILE`, `ENFILE`,
/// `ENOBUFS`) does not spin: 5 ms, doubling up to 1 s, back to 5 ms after
/// the next connection is accepted. Errors of one connection (reset or
/// aborted before it was accepted) pass without a pause. A warning is
/// logged at most once every 10 s, with the number of failures since the
/// last one.
#[derive(Debug)]
pub struct AcceptBackoff {
    pause: Duration,
    last_warning: Option<Instant>,
    unreported: u64,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self::new()
    }
}

impl AcceptBackoff {
    /// The first pause.
    pub const MIN: Duration = Duration::from_millis(5);
    /// The longest pause.
    pub const MAX: Duration = Duration::from_secs(1);
    /// The least time between two warnings.
    pub const WARN_EVERY: Duration = Duration::from_secs(10);

    /// No failures yet.
    pub fn new() -> Self {
        Self {
            pause: Self::MIN,
            last_warning: None,
            unreported: 0,
        }
    }

    /// A connection was accepted: the next failure pauses [`Self::MIN`].
    pub fn succeeded(&mut self) {
        self.pause = Self::MIN;
    }

    /// `accept` failed with `error`: how long to pause before the next
    /// `accept`, if at all. `what` names the listener in the warning.
    pub fn failed(&mut self, error: &std::io::Error, what: &str) -> Option<Duration> {
        use std::io::ErrorKind;
        if matches!(
            error.kind(),
            ErrorKind::ConnectionAborted
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionRefused
        ) {
            debug!(error = %error, "{what}: a connection ended before it was accepted");
            return None;
        }
        let pause = self.pause;
        self.pause = self.pause.saturating_mul(2).min(Self::MAX);
        self.unreported = self.unreported.saturating_add(1);
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Self::WARN_EVERY)
        {
            warn!(
                error = %error,
                failures = self.unreported,
                "{what}: accept failed; pausing {} ms before the next",
                pause.as_millis()
            );
            self.last_warning = Some(now);
            self.unreported = 0;
        }
        Some(pause)
    }
}

/// What the server counts, readable while it serves.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Requests whose handling has started.
    pub started: std::sync::atomic::AtomicU64,
    /// Requests being handled now.
    pub in_flight: std::sync::atomic::AtomicU64,
    /// Instances made (one per request, unless instances are reused).
    pub instances: std::sync::atomic::AtomicU64,
}

/// The pre-instantiated handler, by WASI version.
enum Handler {
    P2(ProxyPre<ComponentHost>),
    P3(ServicePre<ComponentHost>),
}

type P2Code = wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
type P3Code = wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

/// A guest's response head, or the error code it answered with instead.
type Head<E> = Result<hyper::Response<HyperOutgoingBody>, E>;

/// Where a guest's response head arrives.
type Answer = std::pin::Pin<
    Box<
        dyn Future<
                Output = Result<
                    // The error code the guest answered with, for the log.
                    Result<hyper::Response<HyperOutgoingBody>, String>,
                    tokio::sync::oneshot::error::RecvError,
                >,
            > + Send,
    >,
>;

struct Server {
    handler: Handler,
    engine: wasmtime::Engine,
    spec: RunSpec,
    /// One CPU quota for every request's instance: the limit is the
    /// container's.
    throttle: Option<Arc<Throttle>>,
    options: HttpOptions,
    slots: Arc<Semaphore>,
    stats: Arc<HttpStats>,
    /// The server's stop: a SIGKILL ends the guests of requests in flight.
    stop: StopHandle,
    /// The working directory's host folder, resolved once.
    work_dir: Option<crate::preopen::WorkDir>,
    /// The workers that reuse instances, when
    /// [`HttpOptions::max_instance_reuse_count`] is above 1.
    pool: Option<reuse::Pool>,
    /// Keeps the engine's epoch thread running while this server lives:
    /// every request's task and every worker holds the server for as long
    /// as its store lives, so deadlines, the CPU quota and a SIGKILL reach
    /// a computing guest even after [`serve`] itself has returned. (One
    /// hold for all, not one per store: taking one locks the ticker.)
    _epoch: EpochHold,
}

/// What [`serve`] needs besides the spec: the linker with `wasi:http`, the
/// engine's epoch ticker, and how to serve.
pub(crate) struct ServeArgs<'a> {
    pub(crate) linker: &'a wasmtime::component::Linker<ComponentHost>,
    pub(crate) ticker: &'a EpochTicker,
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) options: HttpOptions,
    pub(crate) stats: Arc<HttpStats>,
}

/// Serves `program` on `args.listener` until `stop` is used, then drains
/// (see the module docs). [`crate::Runtime::serve_http`] is the public
/// entry.
pub(crate) async fn serve(
    program: &Program,
    spec: RunSpec,
    args: ServeArgs<'_>,
    stop: &StopHandle,
) -> Result<ExitStatus, EngineError> {
    let ServeArgs {
        linker,
        ticker,
        listener,
        options,
        stats,
    } = args;
    let Compiled::Component(component) = &program.compiled else {
        return Err(EngineError::NotHttp(
            "a core module cannot export wasi:http/incoming-handler".into(),
        ));
    };
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| EngineError::Link(e.into()))?;
    let handler = match program.wasi() {
        WasiVersion::P3 => {
            Handler::P3(ServicePre::new(pre).map_err(|e| EngineError::NotHttp(e.into()))?)
        }
        WasiVersion::P2 | WasiVersion::Preview1 => {
            Handler::P2(ProxyPre::new(pre).map_err(|e| EngineError::NotHttp(e.into()))?)
        }
    };
    // Build one context now, so a bad preopen fails here and not per
    // request.
    crate::preopen::check_modes(&spec.preopens)?;
    let work_dir = crate::preopen::work_dir(&spec.preopens, spec.cwd.as_deref());
    spec.shared_wasi_builder(work_dir.as_ref())?;
    let pool = (options.max_instance_reuse_count > 1).then(|| {
        reuse::Pool::new(
            &handler,
            options.max_instance_reuse_count,
            options.max_instance_concurrent_reuse_count,
            options.idle_instance_timeout,
        )
    });
    let server = Arc::new(Server {
        pool,
        _epoch: ticker.hold(),
        handler,
        engine: linker.engine().clone(),
        throttle: spec.limits.throttle(&spec.usage),
        spec,
        slots: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
        options,
        stats,
        stop: stop.clone(),
        work_dir,
    });
    stop.attach(linker.engine());

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = AcceptBackoff::new();
    let reason = loop {
        tokio::select! {
            biased;
            reason = stop.stopped() => break reason,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => {
                        backoff.succeeded();
                        a
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: keep
                        // serving what is open, try again later (a stop
                        // ends the pause; the loop then sees it).
                        if let Some(pause) = backoff.failed(&e, "HTTP server") {
                            tokio::select! {
                                _ = tokio::time::sleep(pause) => {}
                                _ = stop.stopped() => {}
                            }
                        }
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                // A timer, or hyper drops its header-read timeout: a client
                // that sends half a request head (slowloris) would hold its
                // connection for ever.
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                    }),
                );
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
                // Reap finished connection tasks as we go.
                while connections.try_join_next().is_some() {}
            }
        }
    };
    drop(listener);
    let mut reason = reason;
    if reason != StopReason::Signal(libc::SIGKILL) {
        debug!(?reason, "draining");
        tokio::select! {
            _ = graceful.shutdown() => {}
            // Killed before the drain ended: that is how it stopped.
            _ = stop.killed() => reason = StopReason::Signal(libc::SIGKILL),
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    if let Some(pool) = &server.pool {
        pool.close();
    }
    Ok(ExitStatus::Stopped(reason))
}

impl Server {
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = Instant::now() + self.options.request_timeout;
        // Held by the request's instance until it is gone, body streamed
        // or not: a client that stops reading a streamed body keeps its
        // slot, so such clients cannot pile up instances without bound.
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return plain(503, "server is shutting down\n");
        };
        self.stats.started.fetch_add(1, Relaxed);
        self.stats.in_flight.fetch_add(1, Relaxed);
        let _in_flight = InFlight(self.stats.clone());

        let (receiver, task) = self.clone().start(req, deadline, slot);
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, receiver).await {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(code))) => {
                debug!(%code, "the guest answered with an error");
                plain(500, "internal error\n")
            }
            // Killed: the connection is being cut; answer nothing.
            Ok(Err(_)) if self.stop.is_killed() => std::future::pending().await,
            // A reused instance ended as the request's deadline passed
            // (it holds only overdue requests then): a timeout.
            Ok(Err(_)) if Instant::now() >= deadline => {
                if let Some(task) = task {
                    task.abort();
                }
                warn!(timeout = ?self.options.request_timeout, "request timed out");
                plain(504, "request timed out\n")
            }
            // The guest ended without setting a response: say why (a
            // reused instance's worker says it itself).
            Ok(Err(_)) => {
                match task {
                    // A guest that dropped its response and goes on (a
                    // sleep) is waited for only until the deadline.
                    Some(mut task) => match tokio::time::timeout_at(deadline.into(), &mut task)
                        .await
                    {
                        Ok(Ok(Ok(()))) => warn!("the guest returned without setting a response"),
                        Ok(Ok(Err(e))) => warn!(error = format!("{e:#}"), "the guest failed"),
                        Ok(Err(e)) => warn!(error = %e, "the request task failed"),
                        Err(_) => {
                            task.abort();
                            warn!("the guest dropped its response and ran on past the deadline");
                        }
                    },
                    None => debug!("the instance serving the request ended without a response"),
                }
                plain(500, "internal error\n")
            }
            Err(_) => {
                if let Some(task) = task {
                    task.abort();
                }
                warn!(timeout = ?self.options.request_timeout, "request timed out");
                plain(504, "request timed out\n")
            }
        }
    }

    /// Starts the guest's work on `req`: a fresh instance in a task of its
    /// own (returned), or a job for a reused instance's worker. The guest
    /// may keep streaming the body after the response head is sent.
    fn start(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
        deadline: Instant,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> (
        Answer,
        Option<tokio::task::JoinHandle<wasmtime::Result<()>>>,
    ) {
        fn answer<E: std::fmt::Debug + Send + 'static>(
            receiver: tokio::sync::oneshot::Receiver<Head<E>>,
        ) -> Answer {
            Box::pin(async {
                receiver
                    .await
                    .map(|r| r.map_err(|code| format!("{code:?}")))
            })
        }
        let (receiver, reply) = match &self.handler {
            Handler::P2(_) => {
                let (sender, receiver) = tokio::sync::oneshot::channel::<Head<P2Code>>();
                (answer(receiver), reuse::Reply::P2(sender))
            }
            Handler::P3(_) => {
                let (sender, receiver) = tokio::sync::oneshot::channel::<Head<P3Code>>();
                (answer(receiver), reuse::Reply::P3(sender))
            }
        };
        if let Some(pool) = &self.pool {
            reuse::Pool::dispatch(&self, pool, reuse::Pending::new(req, reply, deadline, slot));
            return (receiver, None);
        }
        let stop = self.stop.clone();
        let guest: std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<()>> + Send>> =
            match reply {
                reuse::Reply::P2(sender) => Box::pin(self.run_guest(deadline, req, sender)),
                reuse::Reply::P3(sender) => Box::pin(self.run_guest_p3(deadline, req, sender)),
            };
        let task = tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                biased;
                // A SIGKILL drops the instance wherever it is.
                _ = stop.killed() => Ok(()),
                done = guest => done,
            }
        });
        (receiver, Some(task))
    }

    /// One request in a fresh instance of a WASI 0.2 handler.
    async fn run_guest(
        self: Arc<Self>,
        deadline: Instant,
        req: hyper::Request<hyper::body::Incoming>,
        sender: tokio::sync::oneshot::Sender<Head<P2Code>>,
    ) -> wasmtime::Result<()> {
        let Handler::P2(pre) = &self.handler else {
            wasmtime::bail!("not a WASI 0.2 handler");
        };
        let mut store = self.store(deadline)?;
        let usage = self.spec.usage.clone();
        count_cpu(&usage, async {
            let proxy = pre.instantiate_async(&mut store).await?;
            handle_p2(&mut store, &proxy, req, sender).await
        })
        .await
    }

    /// One request in a fresh instance of a WASI 0.3 handler. The store's
    /// event loop runs until the guest's tasks (the body it streams) are
    /// done, after the response head went out through `sender`.
    async fn run_guest_p3(
        self: Arc<Self>,
        deadline: Instant,
        req: hyper::Request<hyper::body::Incoming>,
        sender: tokio::sync::oneshot::Sender<Head<P3Code>>,
    ) -> wasmtime::Result<()> {
        let Handler::P3(pre) = &self.handler else {
            wasmtime::bail!("not a WASI 0.3 handler");
        };
        let mut store = self.store(deadline)?;
        let usage = self.spec.usage.clone();
        let network = self.spec.network;
        count_cpu(&usage, async {
            let service = pre.instantiate_async(&mut store).await?;
            store
                .run_concurrent(async |accessor| -> wasmtime::Result<()> {
                    handle_p3(accessor, &service, network, req, sender).await?;
                    std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                    Ok(())
                })
                .await?
        })
        .await
    }

    fn store(&self, deadline: Instant) -> wasmtime::Result<Store<ComponentHost>> {
        self.store_until(move || Instant::now() >= deadline)
    }

    /// A store for one instance, interrupted at its next epoch check once
    /// `past_deadline` says so.
    fn store_until(
        &self,
        past_deadline: impl Fn() -> bool + Send + Sync + 'static,
    ) -> wasmtime::Result<Store<ComponentHost>> {
        let ctx = self
            .spec
            .shared_wasi_builder(self.work_dir.as_ref())?
            .build();
        self.stats
            .instances
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let host = ComponentHost::new(
            ctx,
            self.spec.network,
            self.spec.limits.limiter(self.spec.usage.clone()),
        );
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limits);
        // The ticker moves the epoch; a guest past its deadline is
        // interrupted at its next check even if it never yields.
        store.set_epoch_deadline(1);
        let throttle = self.throttle.clone();
        let stop = self.stop.clone();
        store.epoch_deadline_callback(move |_| {
            Ok(if past_deadline() || stop.is_killed() {
                wasmtime::UpdateDeadline::Interrupt
            } else if let Some(t) = &throttle {
                t.deadline()
            } else {
                wasmtime::UpdateDeadline::Continue(1)
            })
        });
        Ok(store)
    }
}

/// Hands `req` to a WASI 0.2 instance (fresh or reused); its response
/// head goes to `reply`, its body streams on through the store.
async fn handle_p2(
    store: &mut Store<ComponentHost>,
    proxy: &wasmtime_wasi_http::p2::bindings::Proxy,
    req: hyper::Request<hyper::body::Incoming>,
    reply: tokio::sync::oneshot::Sender<Head<P2Code>>,
) -> wasmtime::Result<()> {
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(reply)?;
    proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, req, out)
        .await
}

/// Hands `req` to a WASI 0.3 instance (fresh or reused) as one task of its
/// event loop; its response head goes to `reply`, and its body is left
/// streaming in the loop.
async fn handle_p3(
    accessor: &wasmtime::component::Accessor<ComponentHost>,
    service: &wasmtime_wasi_http::p3::bindings::Service,
    network: bool,
    req: hyper::Request<hyper::body::Incoming>,
    reply: tokio::sync::oneshot::Sender<Head<P3Code>>,
) -> wasmtime::Result<()> {
    // The same hooks as the store's (they only read the grant), so that
    // the body's future borrows nothing of the store.
    let mut hooks = crate::host::Hooks::new(network);
    let (req, io) = wasmtime_wasi_http::p3::Request::from_http(&mut hooks, absolute(req));
    match service.handle(accessor, req).await? {
        Ok(response) => {
            let response = accessor.with(|mut store| response.into_http(&mut store, io))?;
            let _ = reply.send(Ok(response));
        }
        Err(code) => {
            let _ = reply.send(Err(code));
        }
    }
    Ok(())
}

/// `req` with the scheme and authority a WASI 0.3 guest reads from its
/// request (`http`, and the `Host` header), which a server-side URI lacks:
/// WASI 0.2 guests get the same through `new_incoming_request`.
fn absolute(
    mut req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Request<hyper::body::Incoming> {
    if req.uri().scheme().is_some() {
        return req;
    }
    let authority = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let mut parts = req.uri().clone().into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    if parts.authority.is_none() {
        parts.authority = authority;
    }
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    // Without an authority the URI cannot be absolute: keep it as it was.
    if parts.authority.is_some()
        && let Ok(uri) = http::Uri::from_parts(parts)
    {
        *req.uri_mut() = uri;
    }
    req
}

struct InFlight(Arc<HttpStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn plain(status: u16, body: &'static str) -> hyper::Response<HyperOutgoingBody> {
    let body = http_body_util::Full::new(bytes::Bytes::from_static(body.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::AcceptBackoff;
    use std::io::{Error, ErrorKind};
    use std::time::Duration;

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets_on_success() {
        let mut b = AcceptBackoff::new();
        let emfile = Error::from_raw_os_error(libc::EMFILE);
        let pauses: Vec<u64> = (0..10)
            .map(|_| {
                b.failed(&emfile, "test")
                    .map_or(0, |d| d.as_millis() as u64)
            })
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(&emfile, "test"), Some(Duration::from_millis(5)));
    }

    #[test]
    fn accept_backoff_does_not_pause_for_one_connection_s_error() {
        let mut b = AcceptBackoff::new();
        for kind in [ErrorKind::ConnectionAborted, ErrorKind::ConnectionReset] {
            assert_eq!(b.failed(&Error::from(kind), "test"), None);
        }
        // And they do not grow the next pause.
        let emfile = Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(b.failed(&emfile, "test"), Some(AcceptBackoff::MIN));
    }
}
