//! The demo service: `POST /work` on a graceful endpoint served by [`rt_http`], CPU work on
//! the compute pool, the status server, and an exit code from the [`Worker`].
//!
//! # What it does
//!
//! 1. Loads [`RuntimeConfig::from_settings`] (defaults, TOML files, `DYN_*` variables). A bad
//!    value ends the process here with [`EXIT_CODE_CONFIG`] and the loader's message (which
//!    names the variable, the value and its source): nothing has been bound yet.
//! 2. Runs the application under [`Worker::execute`]: the worker installs the signal handlers
//!    (first SIGTERM/SIGINT: graceful shutdown; second: exit 130).
//! 3. The application starts the status server (`DYN_SYSTEM_PORT`; `/health` turns 503 in
//!    phase 1), binds `DYN_HTTP_HOST:DYN_HTTP_PORT` (port 0: a free port), prints the
//!    addresses (see [`protocol`](crate::protocol)), and serves the router with
//!    [`rt_http::serve`] as the graceful endpoint [`ENDPOINT_NAME`] until the shutdown. The
//!    server's edge metrics are added to the status server's `/metrics` as
//!    `dyn_runtime_http_*{server="work"}`.
//! 4. At the end it prints the [`ShutdownReport`](rt_core::ShutdownReport) and the
//!    `shutdown-report` JSON line, and returns the outcome's exit code: 0 clean, 1 application
//!    error, 70 graceful deadline passed, 130 forced by a second signal (that one exits from the
//!    signal handler, without a report).
//!
//! # Requests
//!
//! | request | answer |
//! |---|---|
//! | `POST /work` `{"cpu_ms": n, "wait_ms": m}` | 200 [`WorkResponse`]: `n` ms of CPU time burnt on the compute pool, then an async wait of `m` ms |
//! | the same, body not that JSON or out of range | 400 [`ErrorBody`] (`malformed_body` / `out_of_range`) |
//! | any request once the shutdown has started | 503 [`ErrorBody`] `shutting_down`, `Connection: close`, `Retry-After` (from rt-http) |
//! | `GET /stats` | 200 [`ServiceStats`] |
//! | another method on `/work` (e.g. `GET /work`) | 405 [`ErrorBody`] `method_not_allowed`, `Allow: POST` |
//! | another method on `/stats` | 405 [`ErrorBody`] `method_not_allowed`, `Allow: GET, HEAD` |
//! | any other path | 404 [`ErrorBody`] `not_found` |
//!
//! # The drain, and why nothing accepted is lost
//!
//! The service has no drain logic of its own: [`rt_http::serve`] gives it. Every request is
//! admitted (counted in flight on the endpoint) when its head arrives before phase 1, and
//! served to the end. From phase 1 on, a request (on a new or a kept-alive connection) is
//! answered 503 with `Connection: close`; the listener stays open until the last admitted
//! request is done, then it is closed, every accepted connection is answered and closed
//! (one without a complete request gets the shutdown grace, 5 s, to send one), and only then
//! does the endpoint end, so phase 2 cannot end while an answer is unwritten. The counters
//! of [`ServiceStats`] that concern connections, refusals and requests in flight are the
//! server's ([`rt_http::Server::metrics`]); the service counts only the outcomes of its
//! `POST /work` handler.
//!
//! The server's timeouts and limits come from the configuration ([`ServeOptions::from_config`]:
//! the `DYN_HTTP_*` keys, such as `DYN_HTTP_SHUTDOWN_GRACE_SECS`).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rt_core::config::RuntimeConfig;
use rt_core::{BoxError, Runtime, RuntimeError, Worker, WorkerOutcome};
use rt_http::{HttpError, ServeOptions, Server};
use tokio::net::TcpListener;

use rt_discovery::{Discovery, EndpointId, Registration};

use crate::protocol::{
    ErrorBody, PhaseTimings, ReportLine, ServiceStats, WorkRequest, WorkResponse, DEMO_ENDPOINT,
    LISTENING_PREFIX, REGISTERED_PREFIX, STATUS_PREFIX,
};
use crate::{cpu, DemoError};

/// The endpoint's name: in the registry, in the shutdown tracker as `endpoint work`, and so in
/// the report when it is still busy at the deadline; also the `server` label of the request
/// server's metrics on the status server.
pub const ENDPOINT_NAME: &str = "work";

/// Exit code when the configuration is invalid (`EX_CONFIG` from `sysexits.h`).
pub const EXIT_CODE_CONFIG: i32 = 78;

/// Runs the service to its end and returns the process exit code (see the
/// [module docs](self)). Logs go to stderr through the runtime's logging (`rt_core::logging`: `DYN_LOG`, else
/// `RUST_LOG`, default `info`; `DYN_LOGGING_JSONL` for JSON lines), set up by the `Worker`.
pub fn run() -> i32 {
    let config = match RuntimeConfig::from_settings() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("demo-service: invalid configuration: {error}");
            return EXIT_CODE_CONFIG;
        }
    };
    let worker = match Worker::from_config(config) {
        Ok(worker) => worker,
        Err(RuntimeError::Config(error)) => {
            eprintln!("demo-service: invalid configuration: {error}");
            return EXIT_CODE_CONFIG;
        }
        Err(error) => {
            eprintln!("demo-service: cannot start the runtime: {error}");
            return rt_core::EXIT_CODE_APP_ERROR;
        }
    };
    let counters = Arc::new(Counters::default());
    let app_counters = Arc::clone(&counters);
    let outcome = match worker.execute(move |runtime| app(runtime, app_counters)) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("demo-service: cannot run: {error}");
            return rt_core::EXIT_CODE_APP_ERROR;
        }
    };
    print_report(&outcome, &counters);
    outcome.exit_code()
}

/// Prints a line on stdout and flushes it, so that a reader of the pipe sees it at once.
pub(crate) fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn print_report(outcome: &WorkerOutcome, counters: &Counters) {
    let (name, error) = match outcome {
        WorkerOutcome::Clean { .. } => ("clean", None),
        WorkerOutcome::AppError { error, .. } => ("app_error", Some(error.to_string())),
        WorkerOutcome::DeadlineExceeded { .. } => ("deadline_exceeded", None),
        WorkerOutcome::Forced { .. } => ("forced", None),
        _ => ("other", None),
    };
    if let Some(report) = outcome.shutdown_report() {
        announce(&format!("shutdown: {report}"));
    }
    let line = ReportLine {
        exit_code: outcome.exit_code(),
        outcome: name.to_owned(),
        error,
        phases: outcome.shutdown_report().map(PhaseTimings::from_report),
        requests: counters.snapshot(0),
    };
    announce(&line.to_line());
}

/// The application run by the worker.
async fn app(runtime: Runtime, counters: Arc<Counters>) -> Result<(), BoxError> {
    let config = runtime.config().clone();
    let status = rt_status::StatusServer::start(&runtime).map_err(DemoError::from)?;
    if let Some(status) = &status {
        announce(&format!("{STATUS_PREFIX}{}", status.local_addr()));
    }
    let bind_error = |source| DemoError::Bind {
        addr: format!("{}:{}", config.http_host, config.http_port),
        source,
    };
    let listener = TcpListener::bind((config.http_host.as_str(), config.http_port))
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    tracing::info!(%addr, "request listener bound");
    announce(&format!("{LISTENING_PREFIX}{addr}"));

    let app = Arc::new(App {
        runtime: runtime.clone(),
        counters: Arc::clone(&counters),
    });
    let router = Router::new()
        .route("/work", post(work).fallback(work_method_not_allowed))
        .route("/stats", get(stats).fallback(stats_method_not_allowed))
        // The same work on the request plane's path, for routers (see `crate::gateway`).
        .route(&rpc_path(), post(rpc_work))
        .fallback(not_found)
        .with_state(app);
    // The HTTP timeouts and limits: the `DYN_HTTP_*` keys of the configuration.
    let mut options = ServeOptions::from_config(&config);
    if registers(&config) {
        // Routers reach it through discovery: they get the drain's 503 until they have seen
        // the deregistration.
        options = rt_discovery::routed_serve_options(options);
    }
    let server = match rt_http::serve(&runtime, ENDPOINT_NAME, listener, router, options) {
        Ok(server) => server,
        // Asked to stop before serving anything: nothing to drain.
        Err(HttpError::Endpoint { source, .. })
            if matches!(*source, RuntimeError::ShuttingDown { .. }) =>
        {
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(status) = &status {
        status.add_http_server(ENDPOINT_NAME, &server);
    }
    let _ = counters.server.set(server.clone());
    // With a discovery backend configured (not the in-process default), publish the
    // request-plane route; phase 1 deletes it before the drain.
    let _registration = register(&runtime, addr).await?;
    // Phase 1 starts the server's drain; it ends once every accepted connection is answered.
    server.stopped().await;
    Ok(())
}

/// Whether the service registers in discovery: any backend but the in-process `memory`.
fn registers(config: &RuntimeConfig) -> bool {
    config.discovery_backend.trim() != "memory"
}

/// The request plane's path of the demo endpoint: `/v1/rpc/work`.
fn rpc_path() -> String {
    format!("{}{}", rt_discovery::RPC_PATH_PREFIX, DEMO_ENDPOINT.2)
}

/// Registers `/v1/rpc/work` at `addr` in discovery when `discovery_backend` is not `memory`
/// (the default keeps the single-process demo as it was), and prints
/// [`REGISTERED_PREFIX`]`{instance id in hex}`.
async fn register(
    runtime: &Runtime,
    addr: std::net::SocketAddr,
) -> Result<Option<(Discovery, Registration)>, BoxError> {
    if !registers(runtime.config()) {
        return Ok(None);
    }
    let discovery = Discovery::from_config(runtime).await?;
    let (ns, component, endpoint) = DEMO_ENDPOINT;
    let id = EndpointId::new(ns, component, endpoint)?;
    let transport = discovery.http_transport(addr, &rpc_path())?;
    let registration = discovery.register(id, transport).await?;
    announce(&format!(
        "{REGISTERED_PREFIX}{}",
        registration.instance_id()
    ));
    Ok(Some((discovery, registration)))
}

/// `POST /v1/rpc/work`: [`work`], marked as admitted for routers.
async fn rpc_work(state: State<Arc<App>>, body: Bytes) -> Response {
    let mut response = work(state, body).await;
    response.headers_mut().insert(
        rt_discovery::ADMITTED_HEADER,
        HeaderValue::from_static(rt_discovery::ADMITTED_VALUE),
    );
    response
}

/// What the handlers share.
struct App {
    runtime: Runtime,
    counters: Arc<Counters>,
}

async fn work(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let counters = &app.counters;
    let request: WorkRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            counters.bad_request.fetch_add(1, Ordering::SeqCst);
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("the body must be JSON like {{\"cpu_ms\": 5, \"wait_ms\": 100}}: {e}"),
            );
        }
    };
    if let Err(detail) = request.validate() {
        counters.bad_request.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::BAD_REQUEST, "out_of_range", detail);
    }
    counters.admitted.fetch_add(1, Ordering::SeqCst);
    let begin = Instant::now();
    let cpu = Duration::from_millis(request.cpu_ms);
    let submitted = Instant::now();
    let job = app.runtime.compute(move || cpu::burn(cpu)).await;
    let resumed = Instant::now();
    let burnt = match job {
        Ok(burnt) => burnt,
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::SeqCst);
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "compute_failed",
                e.to_string(),
            );
        }
    };
    let wait_start = Instant::now();
    tokio::time::sleep(Duration::from_millis(request.wait_ms)).await;
    let waited = wait_start.elapsed();
    let submit_to_start = burnt.started.saturating_duration_since(submitted);
    let end_to_resume = resumed.saturating_duration_since(burnt.ended);
    let response = WorkResponse {
        cpu_ms: request.cpu_ms,
        wait_ms: request.wait_ms,
        cpu_us: us(burnt.cpu),
        job_us: us(burnt.ended.saturating_duration_since(burnt.started)),
        submit_to_start_us: us(submit_to_start),
        end_to_resume_us: us(end_to_resume),
        bridge_overhead_us: us(submit_to_start + end_to_resume),
        wait_us: us(waited),
        total_us: us(begin.elapsed()),
        compute_thread: burnt.thread,
        checksum: burnt.checksum,
    };
    tracing::debug!(?request, total_us = response.total_us, "request done");
    counters.completed.fetch_add(1, Ordering::SeqCst);
    (StatusCode::OK, Json(response)).into_response()
}

async fn stats(State(app): State<Arc<App>>) -> Json<ServiceStats> {
    // This request is itself in flight: it does not count itself.
    Json(app.counters.snapshot(1))
}

async fn work_method_not_allowed(method: Method) -> Response {
    method_not_allowed(&method, "/work", "POST")
}

async fn stats_method_not_allowed(method: Method) -> Response {
    method_not_allowed(&method, "/stats", "GET, HEAD")
}

/// 405 with the `Allow` header HTTP asks for (RFC 9110, 15.5.6) and the JSON error body.
fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {path}: use {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route: use POST /work or GET /stats".to_owned(),
    )
}

fn error(status: StatusCode, code: &str, detail: String) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code.to_owned(),
            detail,
        }),
    )
        .into_response()
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The outcomes of the `POST /work` handler, and the server whose metrics give the rest of
/// [`ServiceStats`]. No in-flight count: the server's is the one.
#[derive(Default)]
struct Counters {
    server: OnceLock<Server>,
    admitted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    bad_request: AtomicU64,
}

impl Counters {
    /// The stats now; `own` requests in flight (the caller's own) are not counted in flight.
    fn snapshot(&self, own: usize) -> ServiceStats {
        let (http, in_flight) = self
            .server
            .get()
            .map(|server| (server.metrics(), server.in_flight()))
            .unwrap_or_default();
        ServiceStats {
            connections: http.connections_accepted,
            admitted: self.admitted.load(Ordering::SeqCst),
            completed: self.completed.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            refused: http.requests_refused,
            bad_request: self.bad_request.load(Ordering::SeqCst),
            in_flight: u64::try_from(in_flight.saturating_sub(own)).unwrap_or(u64::MAX),
            responses_2xx: http.responses.success,
        }
    }
}
