//! [`StatusServer`]: the HTTP listener, its routes and its place in the shutdown.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rt_core::config::HealthStatus;
use rt_core::drain::{DrainReport, DrainState};
use rt_core::shutdown::ShutdownPhase;
use rt_core::{Runtime, RuntimeError};
use tokio_util::sync::CancellationToken;

use crate::admin::{read_token, Admin};
use crate::health::{readiness, HealthBody, LiveBody};
use crate::sources::Sources;
use crate::{metrics, StatusError, StatusOptions};

/// The name of the status server's phase-3 teardown task in the
/// [`ShutdownReport`](rt_core::ShutdownReport).
pub const TEARDOWN_NAME: &str = "status server";

/// The `server` label of the status server's own HTTP metrics on `/metrics`.
pub const STATUS_HTTP_NAME: &str = "status";

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
/// | `POST` drain path (`/drain`) | 200 once drained, 202 when still draining after [`StatusOptions::drain_wait`], 403 when not allowed, 409 during a shutdown | JSON: the [`DrainReport`] |
/// | `POST` resume path (`/resume`) | 200, 403 when not allowed, 409 during a shutdown | JSON: the [`DrainReport`] |
/// | another method on these paths | 405, with `Allow: GET, HEAD` (`Allow: POST` on the admin paths) | text |
/// | another path | 404 | text |
/// | a request that is not HTTP | 400 (from the HTTP stack), the connection is closed | |
///
/// `HEAD` is answered like `GET`, without the body. Readiness: not ready from phase 1 of the
/// shutdown on, and while drained or draining without exit; otherwise, with no component or endpoint registered, the starting health
/// status (or what [`set_health_status`](Self::set_health_status) set); otherwise ready only
/// when every registry entry is `running` (a `registered`, `initialised`, `draining`,
/// `stopped` or `failed` entry makes it 503; a finished entry stays until its name is
/// registered again).
///
/// # Shutdown
///
/// The server registers a teardown task ([`TEARDOWN_NAME`]) with the runtime's shutdown
/// coordinator. It therefore keeps answering through phases 1 and 2, so that probes see the
/// drain (health 503, liveness 200), and stops in phase 3 as an [`rt_http`] server drains:
/// a request that arrives then is answered 503, the requests in progress are finished, the
/// listener is closed, and every accepted connection is answered and closed. A connection
/// without a complete request (a stalled client) is given the shutdown grace of
/// [`StatusOptions::serve`] (250 ms by default) and then closed, so stalled clients cannot
/// hold the teardown. With [`StatusOptions::stop_on_teardown`] set to `false` it keeps
/// answering (every probe 503) until [`stop`](Self::stop).
///
/// Served through [`rt_http::serve_until`], it also has rt-http's header, body, idle and write
/// timeouts and limits: a client that connects and sends half a request holds a connection at
/// most the header read timeout (10 s), and cannot stop the probes from being answered.
///
/// Dropping the `StatusServer` does not stop the server. The server holds no clone of the
/// [`Runtime`]: when the runtime is dropped without a shutdown, the secondary runtime's end
/// ends the server too.
pub struct StatusServer {
    local_addr: SocketAddr,
    sources: Arc<Sources>,
    server: rt_http::Server,
}

/// What every request handler shares.
struct App {
    sources: Arc<Sources>,
    registry: prometheus_client::registry::Registry,
    health_path: String,
    live_path: String,
    metrics_path: String,
    drain_path: String,
    resume_path: String,
    drain_wait: std::time::Duration,
    admin: Admin,
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
        let coordinator = runtime.shutdown_coordinator();
        if options.stop_on_teardown && coordinator.phase() >= ShutdownPhase::Stopping {
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
        let token = match &options.admin_token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        };
        let admin = Admin::new(token, local_addr.ip().is_loopback());

        let sources = Arc::new(Sources::new(runtime, options.starting_health_status));
        let app = Arc::new(App {
            registry: metrics::registry(Arc::clone(&sources)),
            sources: Arc::clone(&sources),
            health_path: options.health_path.clone(),
            live_path: options.live_path.clone(),
            metrics_path: options.metrics_path.clone(),
            drain_path: options.drain_path.clone(),
            resume_path: options.resume_path.clone(),
            drain_wait: options.drain_wait,
            admin,
        });
        let admin_calls = if app.admin.has_token() {
            "with the admin token"
        } else if local_addr.ip().is_loopback() {
            "open (loopback bind, no token)"
        } else {
            "refused (no admin token and not a loopback bind)"
        };
        let router = Router::new().fallback(dispatch).with_state(app);
        // Served through rt-http on the secondary runtime: bounded header, body, idle and
        // write timeouts, and a drain that no stalled client can hold past the grace.
        let server = {
            let _entered = runtime.secondary().enter();
            let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
            rt_http::serve_until(
                CancellationToken::new(),
                listener,
                router,
                options.serve.clone(),
            )
            .map_err(|source| StatusError::Serve { source })?
        };
        if options.stop_on_teardown {
            let stopping = server.clone();
            let added = coordinator.try_add_teardown(TEARDOWN_NAME, move || async move {
                stopping.stop();
                stopping.stopped().await;
            });
            if added.is_err() {
                server.stop();
                return Err(StatusError::TooLate);
            }
        }
        sources.add_http(STATUS_HTTP_NAME.to_owned(), server.clone());
        tracing::info!(
            addr = %local_addr,
            health = %options.health_path,
            live = %options.live_path,
            metrics = %options.metrics_path,
            drain = %options.drain_path,
            resume = %options.resume_path,
            admin_calls,
            stop_on_teardown = options.stop_on_teardown,
            "status server listening"
        );
        Ok(Self {
            local_addr,
            sources,
            server,
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
            self.sources.drain.state(),
            &self.sources.registry.snapshot(),
            self.sources.health_status_when_empty(),
        )
    }

    /// Shows the edge metrics of an HTTP server (from [`rt_http::serve`] or
    /// [`rt_http::serve_until`]) on `/metrics`, as the `dyn_runtime_http_*` series labelled
    /// `server="<name>"` (see the [metrics table](crate#metrics)); a server added under the
    /// same name replaces the earlier one. The status server's own server is there from the
    /// start as [`STATUS_HTTP_NAME`]. The status server keeps a handle (a clone) of `server`:
    /// the series stay, with their last values, after that server has stopped.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use rt_core::config::RuntimeConfig;
    /// use rt_core::Runtime;
    /// use rt_status::{StatusOptions, StatusServer};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = RuntimeConfig::builder().num_worker_threads(1).compute_threads(0).build()?;
    /// let runtime = Runtime::from_config(config)?;
    /// let status = StatusServer::start_with(&runtime, StatusOptions::new("127.0.0.1", 0))?;
    /// let rt = runtime.clone();
    /// runtime.primary().block_on(async move {
    ///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     let router = Router::new().route("/hello", get(|| async { "hello" }));
    ///     let options = rt_http::ServeOptions::default();
    ///     let server = rt_http::serve(&rt, "api", listener, router, options)?;
    ///     status.add_http_server("api", &server);
    ///     let text = status.render_metrics()?;
    ///     assert!(text.contains(r#"dyn_runtime_http_connections_accepted_total{server="api"} 0"#));
    ///     rt.shutdown_and_wait(None).await;
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })
    /// # }
    /// ```
    pub fn add_http_server(&self, name: impl Into<String>, server: &rt_http::Server) {
        self.sources.add_http(name.into(), server.clone());
    }

    /// The OpenMetrics text `/metrics` would answer now.
    ///
    /// # Errors
    ///
    /// [`StatusError::Metrics`] when the text cannot be encoded (a label value the format
    /// cannot carry).
    pub fn render_metrics(&self) -> Result<String, StatusError> {
        metrics::render(&metrics::registry(Arc::clone(&self.sources)), &self.sources)
    }

    /// The status server's own HTTP counters (also on `/metrics` as `server="status"`).
    pub fn http_metrics(&self) -> rt_http::HttpMetrics {
        self.server.metrics()
    }

    /// Stops the server now, as phase 3 would: no new requests (a request that arrives gets
    /// 503), requests in progress are finished, then the listener and the connections are
    /// closed, each connection bounded by the [shutdown grace](StatusOptions::serve). Returns
    /// at once; idempotent. Await [`stopped`](Self::stopped) for the end.
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Resolves once the server has stopped (after [`stop`](Self::stop), phase 3 of the
    /// shutdown, or the end of the secondary runtime).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing, and it can be awaited again.
    pub async fn stopped(&self) {
        self.server.stopped().await;
    }

    /// Whether the server has stopped.
    pub fn is_stopped(&self) -> bool {
        self.server.is_stopped()
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
async fn dispatch(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if path == app.drain_path || path == app.resume_path {
        return admin_call(&app, &method, path, &headers).await;
    }
    let known = [&app.health_path, &app.live_path, &app.metrics_path];
    if !known.iter().any(|p| p.as_str() == path) {
        let text = format!(
            "not found: the status server answers GET on {}, {} and {}, POST on {} and {}\n",
            app.health_path, app.live_path, app.metrics_path, app.drain_path, app.resume_path
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
        match metrics::render(&app.registry, &app.sources) {
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

/// `POST` on the drain or resume path: checks who asks, then drains (waiting up to
/// `drain_wait`) or resumes, and answers the report as JSON.
async fn admin_call(app: &App, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    if method != Method::POST {
        let text = format!("method {method} not allowed on {path}: use POST\n");
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            text,
        )
            .into_response();
    }
    if let Err(denied) = app.admin.check(headers) {
        tracing::warn!(
            path,
            reason = denied.as_str(),
            "status server: admin call refused"
        );
        let body = serde_json::json!({ "error": "forbidden", "detail": denied.as_str() });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let control = &app.sources.drain;
    let draining = path == app.drain_path;
    let result = if draining {
        tracing::info!(path, "status server: drain requested");
        control.drain_and_wait(Some(app.drain_wait)).await
    } else {
        tracing::info!(path, "status server: resume requested");
        control.resume().await
    };
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match result {
        Ok(report) => {
            // 202: the drain goes on past the wait (for a resume, whatever state concurrent
            // calls left, the resume itself was done: 200).
            let code = if draining && report.state == DrainState::Draining {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            tracing::info!(path, %report, "status server: admin call done");
            (code, no_store, Json(report_body(&report))).into_response()
        }
        Err(error @ RuntimeError::DrainDuringShutdown { .. }) => {
            let body = serde_json::json!({ "error": "shutting_down", "detail": error.to_string() });
            (StatusCode::CONFLICT, no_store, Json(body)).into_response()
        }
        Err(error) => {
            tracing::error!(path, %error, "status server: admin call failed");
            let body = serde_json::json!({ "error": "failed", "detail": error.to_string() });
            (StatusCode::INTERNAL_SERVER_ERROR, no_store, Json(body)).into_response()
        }
    }
}

/// The JSON body of an admin call's answer.
fn report_body(report: &DrainReport) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or_else(|_| serde_json::json!({ "state": report.state }))
}
