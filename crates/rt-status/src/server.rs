//! [`StatusServer`]: the HTTP listener, its routes and its place in the shutdown.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rt_core::config::HealthStatus;
use rt_core::shutdown::ShutdownPhase;
use rt_core::Runtime;
use tokio_util::sync::CancellationToken;

use crate::health::{readiness, HealthBody, LiveBody};
use crate::sources::Sources;
use crate::{metrics, StatusError, StatusOptions};

/// The name of the status server's phase-3 teardown task in the
/// [`ShutdownReport`](rt_core::ShutdownReport).
pub const TEARDOWN_NAME: &str = "status server";

/// The running status server: `GET` on the health, liveness and metrics paths, served on the
/// runtime's **secondary** tokio runtime.
///
/// Started by [`start`](Self::start) (from the runtime's configuration) or
/// [`start_with`](Self::start_with) (explicit options). Both bind the socket before they
/// return, so a taken port is an error at start-up, and the port the operating system picked
/// for port 0 is known at once ([`local_addr`](Self::local_addr), also in the `info` log line
/// `status server listening`).
///
/// # Answers
///
/// | request | status | body |
/// |---|---|---|
/// | `GET` health path | 200 when ready, 503 when not | JSON: `status`, `phase`, `runtime`, `uptime_seconds`, `in_flight`, `components` |
/// | `GET` live path | 200 until phase 3 of the shutdown, then 503 | JSON: `status` (`live` / `stopping`), `phase` |
/// | `GET` metrics path | 200 | OpenMetrics text (see the [`metrics`](crate#metrics) table) |
/// | another method on these paths | 405, with `Allow: GET, HEAD` | text |
/// | another path | 404 | text |
/// | a request that is not HTTP | 400 (from the HTTP stack), the connection is closed | |
///
/// `HEAD` is answered like `GET`, without the body. Readiness: not ready from phase 1 of the
/// shutdown on; otherwise, with no component or endpoint registered, the starting health
/// status (or what [`set_health_status`](Self::set_health_status) set); otherwise ready only
/// when every registry entry is `running` (a `registered`, `initialised`, `draining`,
/// `stopped` or `failed` entry makes it 503; a finished entry stays until its name is
/// registered again).
///
/// # Shutdown
///
/// The server registers a teardown task ([`TEARDOWN_NAME`]) with the runtime's shutdown
/// coordinator. It therefore keeps answering through phases 1 and 2, so that probes see the
/// drain (health 503, liveness 200), and stops in phase 3: it stops accepting connections,
/// finishes the requests in progress and closes the connections (bounded by the teardown
/// timeout). With [`StatusOptions::stop_on_teardown`] set to `false` it keeps answering (every
/// probe 503) until [`stop`](Self::stop).
///
/// Dropping the `StatusServer` does not stop the server. The server holds no clone of the
/// [`Runtime`]: when the runtime is dropped without a shutdown, the secondary runtime's end
/// ends the server too.
pub struct StatusServer {
    local_addr: SocketAddr,
    sources: Arc<Sources>,
    stop: CancellationToken,
    done: CancellationToken,
}

/// What every request handler shares.
struct App {
    sources: Arc<Sources>,
    registry: prometheus_client::registry::Registry,
    health_path: String,
    live_path: String,
    metrics_path: String,
}

impl StatusServer {
    /// Starts the status server the runtime's configuration describes (`system_host`,
    /// `system_port`, `system_health_path`, `system_live_path`,
    /// `system_starting_health_status`), or returns `Ok(None)` when `system_port`
    /// (`DYN_SYSTEM_PORT`) is not set, with an `info` log saying so.
    ///
    /// Callable from synchronous and asynchronous code; it does not block beyond binding the
    /// socket.
    ///
    /// # Errors
    ///
    /// As [`start_with`](Self::start_with).
    pub fn start(runtime: &Runtime) -> Result<Option<Self>, StatusError> {
        match StatusOptions::from_config(runtime.config()) {
            Some(options) => Self::start_with(runtime, options).map(Some),
            None => {
                tracing::info!(
                    "status server disabled: set DYN_SYSTEM_PORT (system_port) to serve \
                     health, liveness and metrics over HTTP"
                );
                Ok(None)
            }
        }
    }

    /// Starts the status server with explicit options: binds `host:port`, registers the
    /// phase-3 teardown (unless [`StatusOptions::stop_on_teardown`] is `false`) and spawns the
    /// server on [`Runtime::secondary`].
    ///
    /// # Errors
    ///
    /// - [`StatusError::InvalidOption`] when a path does not start with `/` or two paths are
    ///   the same;
    /// - [`StatusError::Bind`] when the socket cannot be bound (port taken, address not of
    ///   this host), naming the host and port;
    /// - [`StatusError::TooLate`] when the runtime's shutdown is already in phase 3.
    pub fn start_with(runtime: &Runtime, options: StatusOptions) -> Result<Self, StatusError> {
        options.validate()?;
        if options.stop_on_teardown
            && runtime.shutdown_coordinator().phase() >= ShutdownPhase::Stopping
        {
            return Err(StatusError::TooLate);
        }
        let bind_error = |source| StatusError::Bind {
            host: options.host.clone(),
            port: options.port,
            source,
        };
        let listener = std::net::TcpListener::bind((options.host.as_str(), options.port))
            .map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let secondary = runtime.secondary();
        let listener = {
            let _entered = secondary.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind_error)?
        };

        let sources = Arc::new(Sources::new(runtime, options.starting_health_status));
        let stop = CancellationToken::new();
        let done = CancellationToken::new();
        if options.stop_on_teardown {
            let (stop, done) = (stop.clone(), done.clone());
            runtime
                .shutdown_coordinator()
                .try_add_teardown(TEARDOWN_NAME, move || async move {
                    stop.cancel();
                    done.cancelled().await;
                })
                .map_err(|_| StatusError::TooLate)?;
        }

        let app = Arc::new(App {
            registry: metrics::registry(Arc::clone(&sources)),
            sources: Arc::clone(&sources),
            health_path: options.health_path.clone(),
            live_path: options.live_path.clone(),
            metrics_path: options.metrics_path.clone(),
        });
        let router = Router::new().fallback(dispatch).with_state(app);
        // Cancelled when the serving task ends, also when it is dropped with its runtime.
        let finished = done.clone().drop_guard();
        let shutdown = stop.clone().cancelled_owned();
        secondary.spawn(async move {
            let _finished = finished;
            match axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                Ok(()) => tracing::info!(addr = %local_addr, "status server stopped"),
                Err(error) => {
                    tracing::error!(addr = %local_addr, %error, "status server stopped with an error");
                }
            }
        });
        tracing::info!(
            addr = %local_addr,
            health = %options.health_path,
            live = %options.live_path,
            metrics = %options.metrics_path,
            stop_on_teardown = options.stop_on_teardown,
            "status server listening"
        );
        Ok(Self {
            local_addr,
            sources,
            stop,
            done,
        })
    }

    /// The address the server listens on; with port 0 in the options, the port the operating
    /// system picked.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sets the readiness reported while no component or endpoint is registered (it starts
    /// as [`StatusOptions::starting_health_status`]). A process whose readiness is not
    /// modelled by registry entries reports it here. Has no effect once entries exist, or
    /// from phase 1 of the shutdown on.
    pub fn set_health_status(&self, status: HealthStatus) {
        tracing::info!(%status, "status server: health status set");
        self.sources.set_health_status_when_empty(status);
    }

    /// What the health probe would answer now: [`HealthStatus::Ready`] for 200,
    /// [`HealthStatus::NotReady`] for 503.
    pub fn readiness(&self) -> HealthStatus {
        readiness(
            self.sources.coordinator.phase(),
            &self.sources.registry.snapshot(),
            self.sources.health_status_when_empty(),
        )
    }

    /// Stops the server now, as phase 3 would: no new connections, requests in progress are
    /// finished. Returns at once; idempotent. Await [`stopped`](Self::stopped) for the end.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Resolves once the server has stopped (after [`stop`](Self::stop), phase 3 of the
    /// shutdown, or the end of the secondary runtime). Cancel-safe.
    pub async fn stopped(&self) {
        self.done.cancelled().await;
    }

    /// Whether the server has stopped.
    pub fn is_stopped(&self) -> bool {
        self.done.is_cancelled()
    }
}

impl fmt::Debug for StatusServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusServer")
            .field("local_addr", &self.local_addr)
            .field("runtime", &self.sources.runtime_id)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// Routes by exact path; never panics on odd configured paths (they are compared, not
/// parsed as route patterns).
async fn dispatch(State(app): State<Arc<App>>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let known = [&app.health_path, &app.live_path, &app.metrics_path];
    if !known.iter().any(|p| p.as_str() == path) {
        let text = format!(
            "not found: the status server answers GET on {}, {} and {}\n",
            app.health_path, app.live_path, app.metrics_path
        );
        return (StatusCode::NOT_FOUND, text).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let text = format!("method {method} not allowed on {path}: use GET\n");
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            text,
        )
            .into_response();
    }
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    if path == app.health_path {
        let body = HealthBody::read(&app.sources);
        let code = match body.status {
            HealthStatus::Ready => StatusCode::OK,
            HealthStatus::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        };
        (code, no_store, Json(body)).into_response()
    } else if path == app.live_path {
        let body = LiveBody::read(&app.sources);
        let code = if body.status == "live" {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, no_store, Json(body)).into_response()
    } else {
        match metrics::render(&app.registry) {
            Ok(text) => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, metrics::CONTENT_TYPE),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                text,
            )
                .into_response(),
            Err(error) => {
                tracing::error!(%error, "status server: encoding the metrics failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "encoding the metrics failed\n",
                )
                    .into_response()
            }
        }
    }
}
