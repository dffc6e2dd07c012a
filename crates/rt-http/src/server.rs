//! [`serve`], [`serve_until`] and the [`Server`] they return: the accept loop, the drain
//! sequence and one task per connection.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use rt_core::Runtime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::admission::Gate;
use crate::io::ConnIo;
use crate::metrics::bump;
use crate::service::ConnService;
use crate::state::{ConnState, Shared};
use crate::{HttpError, HttpMetrics, ServeOptions};

/// How long accepting pauses after an error such as "too many open files".
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A running HTTP server; see the [crate docs](crate) for what it guarantees.
///
/// Dropping the handle does not stop the server: it stops with its endpoint (phase 1 of the
/// runtime's shutdown), its token ([`serve_until`]) or [`stop`](Self::stop). Clones are
/// handles on the same server (for example one kept by a status server to show its
/// [`metrics`](Self::metrics)).
#[derive(Clone)]
pub struct Server {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    gate: Arc<Gate>,
    done: CancellationToken,
    name: String,
}

/// Serves `router` on `listener` as the graceful endpoint `endpoint` of `runtime`, on the
/// runtime's primary tokio runtime, until phase 1 of the runtime's shutdown (or
/// [`Server::stop`]) and the drain that follows.
///
/// The endpoint is started here, and its future is the server's whole life: the endpoint
/// releases its registration in the shutdown tracker only once the last accepted connection
/// has been answered and closed, so phase 2 of the shutdown waits for exactly that, and a
/// shutdown report that hits the deadline names `endpoint <name>`. (Taking an
/// [`EndpointContext`](rt_core::EndpointContext) instead would let the caller's endpoint
/// future return before the server is done, and the tracker would then release the
/// shutdown with answers still unwritten.)
///
/// Callable from synchronous and asynchronous code; the listener may come from either
/// runtime of `runtime`.
///
/// # Errors
///
/// - [`HttpError::InvalidOption`] when `options` has a value out of range;
/// - [`HttpError::LocalAddr`] when the listener's address cannot be read;
/// - [`HttpError::Endpoint`] when the name is taken by a live endpoint or component, or the
///   shutdown has already started.
pub fn serve(
    runtime: &Runtime,
    endpoint: impl Into<String>,
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
) -> Result<Server, HttpError> {
    options.validate()?;
    let name = endpoint.into();
    let local_addr = listener
        .local_addr()
        .map_err(|source| HttpError::LocalAddr { source })?;
    let tracked = options.endpoint_metrics;
    let shared = Arc::new(Shared::new(options));
    let done = CancellationToken::new();
    let mut gate_slot = None;
    let run_shared = Arc::clone(&shared);
    let finished = done.clone().drop_guard();
    runtime
        .endpoint(name.clone())
        .graceful_shutdown(true)
        .start(|ctx| {
            let gate = Arc::new(Gate::endpoint(ctx, tracked));
            gate_slot = Some(Arc::clone(&gate));
            async move {
                run(run_shared, gate, listener, router, finished).await;
                Ok::<(), HttpError>(())
            }
        })
        .map_err(|source| HttpError::Endpoint {
            endpoint: name.clone(),
            source: Box::new(source),
        })?;
    let Some(gate) = gate_slot else {
        // `start` calls its closure before returning Ok: unreachable in practice, and an
        // error rather than a panic if that ever changed.
        return Err(HttpError::Endpoint {
            endpoint: name,
            source: Box::new(rt_core::RuntimeError::ShuttingDown {
                what: "starting the HTTP endpoint".to_owned(),
            }),
        });
    };
    tracing::info!(endpoint = %name, addr = %local_addr, "HTTP server listening");
    Ok(Server {
        local_addr,
        shared,
        gate,
        done,
        name,
    })
}

/// Serves `router` on `listener` until `stop` is cancelled, then drains exactly as
/// [`serve`] does; for servers that are not an endpoint of the runtime, such as a status
/// server that must keep answering through phases 1 and 2 and stop in phase 3. Spawns on the
/// current tokio runtime.
///
/// # Errors
///
/// - [`HttpError::InvalidOption`] when `options` has a value out of range;
/// - [`HttpError::LocalAddr`] when the listener's address cannot be read;
/// - [`HttpError::NoRuntime`] when called outside a tokio runtime.
pub fn serve_until(
    stop: CancellationToken,
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
) -> Result<Server, HttpError> {
    options.validate()?;
    let handle = tokio::runtime::Handle::try_current().map_err(|_| HttpError::NoRuntime)?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| HttpError::LocalAddr { source })?;
    let shared = Arc::new(Shared::new(options));
    let done = CancellationToken::new();
    // A child, so that `Server::stop` stops this server alone.
    let gate = Arc::new(Gate::token(stop.child_token()));
    handle.spawn(run(
        Arc::clone(&shared),
        Arc::clone(&gate),
        listener,
        router,
        done.clone().drop_guard(),
    ));
    tracing::info!(addr = %local_addr, "HTTP server listening");
    Ok(Server {
        local_addr,
        shared,
        gate,
        done,
        name: String::new(),
    })
}

impl Server {
    /// The address the server listens on (with port 0, the port the system picked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A snapshot of the server's counters.
    pub fn metrics(&self) -> HttpMetrics {
        let mut metrics = self.shared.metrics.snapshot();
        metrics.connections_open = metrics.connections_open.min(metrics.connections_accepted);
        metrics
    }

    /// Requests admitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.gate.in_flight()
    }

    /// Whether the drain has started (new requests are answered 503).
    pub fn is_draining(&self) -> bool {
        self.shared.is_draining()
    }

    /// Starts the drain of this server now, as phase 1 would (for [`serve`]: stops its
    /// endpoint). Returns at once; idempotent. Await [`stopped`](Self::stopped) for the end.
    pub fn stop(&self) {
        self.gate.stop();
    }

    /// Resolves once the server has finished: the listener is closed and every accepted
    /// connection has been answered and closed (or the tokio runtime it ran on has gone).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing, and it can be awaited again.
    pub async fn stopped(&self) {
        self.done.cancelled().await;
    }

    /// Whether the server has finished.
    pub fn is_stopped(&self) -> bool {
        self.done.is_cancelled()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("endpoint", &self.name)
            .field("local_addr", &self.local_addr)
            .field("draining", &self.is_draining())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// The server's life: accept; on the drain's start keep accepting (new requests get 503)
/// until no admitted request is in flight and the drain linger has passed; then close the
/// listener and wait for every connection, each bounded by the shutdown grace.
async fn run(
    shared: Arc<Shared>,
    gate: Arc<Gate>,
    listener: TcpListener,
    router: Router,
    finished: DropGuard,
) {
    let mut connections = JoinSet::new();
    let permits = Arc::new(Semaphore::new(shared.options.max_connections));
    let paused_logged = AtomicBool::new(false);
    let mut http = http1::Builder::new();
    http.half_close(true)
        .keep_alive(true)
        .header_read_timeout(None)
        .max_header_size(shared.options.max_header_bytes);
    let addr = listener.local_addr().ok();
    let service = || {
        bump(&shared.metrics.connections_accepted);
        shared
            .metrics
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        ConnService {
            router: router.clone(),
            shared: Arc::clone(&shared),
            conn: Arc::new(ConnState::new()),
            gate: Arc::clone(&gate),
        }
    };
    let drained = async {
        gate.draining().await;
        shared.start_draining();
        let linger_until = tokio::time::Instant::now() + shared.options.drain_linger;
        tracing::info!(
            ?addr,
            in_flight = gate.in_flight(),
            "HTTP drain started: new requests get 503, admitted requests finish"
        );
        gate.drained().await;
        // Routers learn of the drain through discovery a few milliseconds after it started:
        // until then they may still connect here, and get the 503 rather than a closed port.
        if !shared.options.drain_linger.is_zero() {
            tokio::time::sleep_until(linger_until).await;
        }
    };
    tokio::pin!(drained);
    loop {
        tokio::select! {
            biased;
            () = &mut drained => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join(joined);
            }
            accepted = accept(&listener, &permits, &shared, &paused_logged) => {
                let (stream, permit) = accepted;
                connections.spawn(connection(stream, permit, http.clone(), service()));
            }
        }
    }
    // Closing the listener resets the connections the kernel completed and nobody accepted:
    // a client cannot tell that from a crash. Take them (they get the 503), then close.
    let mut queued = 0_usize;
    match listener.into_std() {
        Ok(listener) => {
            while let Some((stream, permit)) = accept_queued(&listener, &permits) {
                queued += 1;
                connections.spawn(connection(stream, permit, http.clone(), service()));
            }
        }
        Err(error) => tracing::debug!(%error, "HTTP drain: the accept queue could not be read"),
    }
    // The listener is closed: kept-alive connections with no request close now.
    shared.listener_closed.cancel();
    if queued > 0 {
        tracing::debug!(
            queued,
            "HTTP drain: answered the connections left in the accept queue"
        );
    }
    tracing::info!(
        open = connections.len(),
        grace = ?shared.options.shutdown_grace,
        "HTTP listener closed: finishing the accepted connections"
    );
    while let Some(joined) = connections.join_next().await {
        log_join(joined);
    }
    tracing::info!("HTTP server stopped: every accepted connection was answered and closed");
    drop(finished);
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined {
        tracing::error!(%error, "an HTTP connection task ended abnormally");
    }
}

/// Accepts one connection under the connection limit. Cancel-safe: a permit taken for a
/// connection not yet accepted is returned when the future is dropped.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    shared: &Shared,
    paused_logged: &AtomicBool,
) -> (TcpStream, OwnedSemaphorePermit) {
    let permit = match Arc::clone(permits).try_acquire_owned() {
        Ok(permit) => {
            paused_logged.store(false, Ordering::Relaxed);
            permit
        }
        Err(_) => {
            if !paused_logged.swap(true, Ordering::Relaxed) {
                bump(&shared.metrics.accept_paused);
                tracing::warn!(
                    max_connections = shared.options.max_connections,
                    "HTTP connection limit reached: accepting paused until a connection closes"
                );
            }
            match Arc::clone(permits).acquire_owned().await {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => std::future::pending().await,
            }
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => return (stream, permit),
            Err(error) => {
                tracing::warn!(%error, "accepting an HTTP connection failed; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// A connection already completed by the kernel, if any, under the connection limit; never
/// waits. Asks the socket itself (an `accept` that fails with `WouldBlock` when the queue is
/// empty) rather than tokio's readiness, which may not have seen the latest arrivals yet.
/// (Beyond the limit the rest are left to the close, as they would have waited anyway.)
fn accept_queued(
    listener: &std::net::TcpListener,
    permits: &Arc<Semaphore>,
) -> Option<(TcpStream, OwnedSemaphorePermit)> {
    let permit = Arc::clone(permits).try_acquire_owned().ok()?;
    let accepted = listener.accept().and_then(|(stream, _peer)| {
        stream.set_nonblocking(true)?;
        TcpStream::from_std(stream)
    });
    match accepted {
        Ok(stream) => Some((stream, permit)),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(error) => {
            tracing::debug!(%error, "accepting a queued HTTP connection failed");
            None
        }
    }
}

/// One connection: hyper over the deadline-enforcing socket, polled again when the drain
/// starts and when the listener closes, so that its deadlines are computed again (they shrink
/// to the grace, and to now for a kept-alive connection waiting for its next request).
async fn connection(
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
    http: http1::Builder,
    service: ConnService,
) {
    let _open = OpenConnection {
        shared: Arc::clone(&service.shared),
        _permit: permit,
    };
    let _ = stream.set_nodelay(true);
    let shared = Arc::clone(&service.shared);
    let io = TokioIo::new(ConnIo::new(
        stream,
        Arc::clone(&service.conn),
        Arc::clone(&shared),
    ));
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let (mut saw_drain, mut saw_close) = (false, false);
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "HTTP connection ended with an error");
                }
                return;
            }
            () = shared.draining.cancelled(), if !saw_drain => saw_drain = true,
            () = shared.listener_closed.cancelled(), if !saw_close => saw_close = true,
        }
    }
}

/// Counts an open connection and holds its permit; released on any end of the task.
struct OpenConnection {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.shared
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}
