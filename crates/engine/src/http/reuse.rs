//! Instances that serve more than one request: the opt-in
//! [`HttpOptions::max_instance_reuse_count`](super::HttpOptions::max_instance_reuse_count).
//!
//! By default every request gets a fresh instance (`http.rs`). With reuse,
//! a request goes to a *worker*: a task that owns one store and one
//! instance and serves requests from its queue until it has taken
//! `max_instance_reuse_count` of them, or has been idle for
//! `idle_instance_timeout`. A WASI 0.3 instance handles up to
//! `max_instance_concurrent_reuse_count` requests at once, as concurrent
//! tasks in its store's event loop; a WASI 0.2 instance handles one at a
//! time. This is what `wasmtime serve` does by default for WASI 0.3.
//!
//! What reuse gives up: requests served by one instance share its memory
//! and globals, so a guest can carry state (or a leak) from one caller's
//! request to the next. It stays inside the one workload; nothing crosses
//! to another pod, and every grant and limit of the spec still applies
//! to the instance as a whole.
//!
//! What stays as with a fresh instance:
//! - a request without a response by its deadline gets 504 (`http.rs`);
//!   the instance itself may run until the latest deadline of the requests
//!   it took, then the epoch callback interrupts it, ending the requests
//!   still in it;
//! - a trap ends the instance and every request in it (500), and the next
//!   request gets a new one;
//! - a SIGKILL drops every worker that is waiting, and interrupts one
//!   that computes at its next epoch check; a drain lets workers finish
//!   the requests they took, then they end (the server returns without
//!   waiting for them);
//! - but a request's body is bounded too: a reused instance ends once
//!   every request it took is past its deadline, bodies still streaming
//!   included, where a fresh instance may stream on after its head;
//! - CPU time is counted for the worker's whole task, so a CPU quota holds.
//!
//! [`Pool::dispatch`] picks the worker under one lock: the first with room
//! for another request, else a new one. A worker that closes its queue
//! (idle) still serves what was already in it, and a request sent to a
//! queue that is closed is given to another worker. A request still in
//! the queue of an instance that ended (a trap, or every request it held
//! overdue) is handed on to another worker once, while its caller waits:
//! it never reached that instance, so it does not fail with it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use wasmtime::component::Accessor;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p3::bindings::Service;

use super::{Handler, Head, P2Code, P3Code, Server, handle_p2, handle_p3};
use crate::host::ComponentHost;
use crate::usage::count_cpu;

/// Where one request's response head goes, by WASI version.
pub(super) enum Reply {
    P2(tokio::sync::oneshot::Sender<Head<P2Code>>),
    P3(tokio::sync::oneshot::Sender<Head<P3Code>>),
}

/// One request waiting for a worker.
pub(super) struct Pending {
    req: hyper::Request<hyper::body::Incoming>,
    reply: Reply,
    /// When its caller stops waiting.
    deadline: Instant,
    /// Its place among the server's requests at once, until it is served.
    slot: tokio::sync::OwnedSemaphorePermit,
    /// Whether a worker that ended before taking it handed it on already;
    /// a request is handed on at most once.
    handed_on: bool,
}

impl Pending {
    pub(super) fn new(
        req: hyper::Request<hyper::body::Incoming>,
        reply: Reply,
        deadline: Instant,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Self {
        Self {
            req,
            reply,
            deadline,
            slot,
            handed_on: false,
        }
    }
}

/// One request in a worker's queue.
pub(super) struct Job {
    pending: Pending,
    /// Counts the request against its worker's concurrency until dropped.
    _taken: Taken,
}

/// A request a worker holds; dropping it frees the place.
struct Taken(Arc<AtomicUsize>);

impl Drop for Taken {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The workers of one server.
pub(super) struct Pool {
    workers: Mutex<Vec<Worker>>,
    /// Most requests one instance takes in its life.
    reuse: usize,
    /// Most requests one instance holds at once.
    concurrency: usize,
    /// When the server started; deadlines are kept as nanoseconds since.
    base: Instant,
    /// How long an idle worker keeps its instance.
    idle: Duration,
}

/// The dispatcher's view of one worker.
struct Worker {
    queue: mpsc::UnboundedSender<Job>,
    taken: usize,
    in_flight: Arc<AtomicUsize>,
    deadline: Deadline,
}

/// The latest deadline of the requests a worker took. Once it passes,
/// every request the instance holds is overdue (its caller got 504), and
/// the instance ends: at its next epoch check if it computes, at once if
/// it waits.
#[derive(Clone)]
struct Deadline {
    /// Nanoseconds since `base`.
    latest: Arc<AtomicU64>,
    base: Instant,
}

impl Deadline {
    fn new(base: Instant) -> Self {
        Self {
            latest: Arc::new(AtomicU64::new(0)),
            base,
        }
    }

    /// Moves the deadline to `at`, if that is later.
    fn extend(&self, at: Instant) {
        let nanos =
            u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX);
        self.latest.fetch_max(nanos, Ordering::AcqRel);
    }

    fn at(&self) -> Instant {
        self.base + Duration::from_nanos(self.latest.load(Ordering::Acquire))
    }

    fn is_past(&self) -> bool {
        Instant::now() >= self.at()
    }
}

impl Pool {
    /// A pool for `handler` that gives one instance `reuse` requests in
    /// all, `concurrency` at once (always one for WASI 0.2).
    pub(super) fn new(handler: &Handler, reuse: usize, concurrency: usize, idle: Duration) -> Self {
        let concurrency = match handler {
            Handler::P2(_) => 1,
            Handler::P3(_) => concurrency.max(1),
        };
        Self {
            workers: Mutex::new(Vec::new()),
            reuse: reuse.max(1),
            concurrency,
            base: Instant::now(),
            idle,
        }
    }

    /// Gives `pending` to a worker with room for it, starting one if none
    /// has.
    pub(super) fn dispatch(server: &Arc<Server>, pool: &Pool, mut pending: Pending) {
        let deadline = pending.deadline;
        let mut workers = pool.workers.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            workers.retain(|w| !w.queue.is_closed());
            let index = match workers
                .iter()
                .position(|w| w.in_flight.load(Ordering::Acquire) < pool.concurrency)
            {
                Some(i) => i,
                None => {
                    workers.push(Worker::start(server, pool, deadline));
                    workers.len() - 1
                }
            };
            let worker = &mut workers[index];
            worker.taken += 1;
            worker.in_flight.fetch_add(1, Ordering::AcqRel);
            worker.deadline.extend(deadline);
            let sent = worker.queue.send(Job {
                pending,
                _taken: Taken(worker.in_flight.clone()),
            });
            match sent {
                Ok(()) => {
                    if worker.taken >= pool.reuse {
                        // Its last request: the worker ends once it has
                        // served what it holds.
                        workers.swap_remove(index);
                    }
                    return;
                }
                // It closed its queue (idle) just now: try the others.
                Err(mpsc::error::SendError(back)) => {
                    pending = back.pending;
                    workers.swap_remove(index);
                }
            }
        }
    }

    /// Lets every worker end once it has served what it holds.
    pub(super) fn close(&self) {
        self.workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Worker {
    /// Spawns a worker task with an empty queue, for a first request due
    /// by `first` (so that the instance is not overdue while it starts).
    fn start(server: &Arc<Server>, pool: &Pool, first: Instant) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let deadline = Deadline::new(pool.base);
        deadline.extend(first);
        let server = server.clone();
        let theirs = deadline.clone();
        let idle = pool.idle;
        tokio::spawn(async move {
            let stop = server.stop.clone();
            let usage = server.spec.usage.clone();
            let mut rx = rx;
            let work = count_cpu(&usage, serve_queue(&server, &mut rx, theirs, idle));
            tokio::select! {
                biased;
                // A SIGKILL drops the instance wherever it is.
                _ = stop.killed() => return,
                done = work => match done {
                    Ok(()) => {}
                    Err(e) if e.downcast_ref::<Overdue>().is_some() => {
                        debug!("an instance whose requests were all overdue ended");
                    }
                    Err(e) => warn!(error = format!("{e:#}"), "an instance serving requests ended"),
                }
            }
            hand_on(&server, &mut rx);
        });
        Self {
            queue,
            taken: 0,
            in_flight: Arc::new(AtomicUsize::new(0)),
            deadline,
        }
    }
}

/// Gives the jobs a worker's queue still holds, which its instance never
/// took (it ended: a trap, its requests overdue), to other workers, so
/// that no request fails for an instance it never reached. The queue is
/// closed first, so the dispatcher sends nothing more to it. A job is
/// handed on once at most, and only while its caller still waits.
fn hand_on(server: &Arc<Server>, rx: &mut mpsc::UnboundedReceiver<Job>) {
    rx.close();
    let Some(pool) = &server.pool else {
        return;
    };
    while let Ok(Job { pending, _taken }) = rx.try_recv() {
        if pending.handed_on || Instant::now() >= pending.deadline {
            continue;
        }
        debug!("a request the ended instance never took goes to another");
        Pool::dispatch(
            server,
            pool,
            Pending {
                handed_on: true,
                ..pending
            },
        );
    }
}

/// One worker's life: an instance, then the requests of `rx` until the
/// dispatcher lets it go or it has been idle for `idle`.
async fn serve_queue(
    server: &Server,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    deadline: Deadline,
    idle: Duration,
) -> wasmtime::Result<()> {
    let past = deadline.clone();
    let mut store = server.store_until(move || past.is_past())?;
    match &server.handler {
        Handler::P2(pre) => {
            let proxy = pre.instantiate_async(&mut store).await?;
            while let Some(job) = next_job(rx, Some(idle)).await {
                let at = deadline.at();
                tokio::time::timeout_at(at.into(), serve_p2(&mut store, &proxy, job))
                    .await
                    .map_err(|_| overdue())??;
            }
            Ok(())
        }
        Handler::P3(pre) => {
            let service = pre.instantiate_async(&mut store).await?;
            let network = server.spec.network;
            store
                .run_concurrent(async |accessor| {
                    serve_p3_queue(accessor, &service, network, rx, &deadline, idle).await
                })
                .await?
        }
    }
}

/// Why a worker ended its instance when every request it held was past
/// its deadline: each caller already got 504 (and a warning), so the
/// worker only notes it.
#[derive(Debug)]
struct Overdue;

impl std::fmt::Display for Overdue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the requests in the instance are past their deadline")
    }
}

impl std::error::Error for Overdue {}

fn overdue() -> wasmtime::Error {
    wasmtime::Error::new(Overdue)
}

/// The next job of `rx`. With `idle` set and nothing coming for that
/// long, the queue is closed, and what was sent before that still comes
/// out; `None` when it is closed and empty.
async fn next_job(rx: &mut mpsc::UnboundedReceiver<Job>, idle: Option<Duration>) -> Option<Job> {
    let Some(idle) = idle else {
        return rx.recv().await;
    };
    tokio::select! {
        job = rx.recv() => job,
        _ = tokio::time::sleep(idle) => {
            debug!("idle instance ends");
            rx.close();
            rx.recv().await
        }
    }
}

/// One request in a WASI 0.2 instance that served others before.
async fn serve_p2(
    store: &mut wasmtime::Store<ComponentHost>,
    proxy: &Proxy,
    job: Job,
) -> wasmtime::Result<()> {
    let Reply::P2(reply) = job.pending.reply else {
        wasmtime::bail!("a WASI 0.3 reply for a WASI 0.2 handler");
    };
    handle_p2(store, proxy, job.pending.req, reply).await
}

type Serving<'a> = Pin<Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a>>;

/// A WASI 0.3 instance's event loop: requests of `rx` handled at once as
/// they come, until the queue is closed and empty; then the tasks the
/// guest left running (bodies still streaming) finish.
async fn serve_p3_queue(
    accessor: &Accessor<ComponentHost>,
    service: &Service,
    network: bool,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    deadline: &Deadline,
    idle_timeout: Duration,
) -> wasmtime::Result<()> {
    let mut running: FuturesUnordered<Serving<'_>> = FuturesUnordered::new();
    loop {
        let idle = running.is_empty();
        tokio::select! {
            Some(done) = running.next(), if !idle => done?,
            job = next_job(rx, idle.then_some(idle_timeout)) => match job {
                Some(job) => running.push(Box::pin(serve_p3(accessor, service, network, job))),
                None => break,
            },
            // Everything it holds is overdue (its callers got 504), unless
            // a request came in with a later deadline meanwhile.
            _ = tokio::time::sleep_until(deadline.at().into()), if !idle => {
                if deadline.is_past() {
                    return Err(overdue());
                }
            }
        }
    }
    let rest = async {
        while let Some(done) = running.next().await {
            done?;
        }
        // Bodies still streaming, and whatever else the guest left running.
        std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
        Ok(())
    };
    tokio::time::timeout_at(deadline.at().into(), rest)
        .await
        .map_err(|_| overdue())?
}

/// One request as a task of a WASI 0.3 instance.
async fn serve_p3(
    accessor: &Accessor<ComponentHost>,
    service: &Service,
    network: bool,
    job: Job,
) -> wasmtime::Result<()> {
    let Job {
        pending:
            Pending {
                req,
                reply,
                slot: _slot,
                ..
            },
        _taken,
    } = job;
    let Reply::P3(reply) = reply else {
        wasmtime::bail!("a WASI 0.2 reply for a WASI 0.3 handler");
    };
    handle_p3(accessor, service, network, req, reply).await
}
