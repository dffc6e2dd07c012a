//! The demo service: `POST /work` on a graceful endpoint, CPU work on the compute pool, the
//! status server, and an exit code from the [`Worker`].
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
//!    addresses (see [`protocol`](crate::protocol)), and serves the endpoint
//!    [`ENDPOINT_NAME`] with axum until the shutdown.
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
//! | the same, once the shutdown has started | 503 [`ErrorBody`] `shutting_down` |
//! | `GET /stats` | 200 [`ServiceStats`] |
//! | anything else | 404 [`ErrorBody`] `not_found` |
//!
//! # The drain, and why nothing admitted is lost
//!
//! Each `POST /work` takes an [`InFlightGuard`] from the endpoint
//! before it does any work, and holds it until its answer is built. From phase 1 on,
//! `begin_request` refuses, and the request is answered 503 at once; the listener **stays
//! open** during the drain, so that late clients get that explicit 503 rather than a reset.
//! When the last admitted request is done, axum's graceful shutdown closes the listener and
//! waits until every open connection has written its answer and closed. Only then does the
//! endpoint's future return, and only then does the endpoint release its registration in the
//! shutdown tracker: phase 2 cannot end while an admitted answer is still unwritten.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use rt_core::config::RuntimeConfig;
use rt_core::{EndpointContext, InFlightGuard, Runtime, RuntimeError, Worker, WorkerOutcome};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::protocol::{
    ErrorBody, PhaseTimings, ReportLine, ServiceStats, WorkRequest, WorkResponse, LISTENING_PREFIX,
    STATUS_PREFIX,
};
use crate::{cpu, DemoError};

/// The endpoint's name: in the registry, in the shutdown tracker as `endpoint work`, and so in
/// the report when it is still busy at the deadline.
pub const ENDPOINT_NAME: &str = "work";

/// Exit code when the configuration is invalid (`EX_CONFIG` from `sysexits.h`).
pub const EXIT_CODE_CONFIG: i32 = 78;

/// Runs the service to its end and returns the process exit code (see the
/// [module docs](self)). Logs go to stderr through `tracing` (`RUST_LOG`, default `info`).
pub fn run() -> i32 {
    init_tracing();
    let config = match RuntimeConfig::from_settings() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("demo-service: invalid configuration: {error}");
            return EXIT_CODE_CONFIG;
        }
    };
    tracing::info!(%config, "configuration loaded");
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

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Prints a line on stdout and flushes it, so that a reader of the pipe sees it at once.
fn announce(line: &str) {
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
        requests: counters.snapshot(),
    };
    announce(&line.to_line());
}

/// The application run by the worker.
async fn app(runtime: Runtime, counters: Arc<Counters>) -> Result<(), DemoError> {
    let config = runtime.config().clone();
    let status = rt_status::StatusServer::start(&runtime)?;
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

    let rt = runtime.clone();
    let started = runtime
        .endpoint(ENDPOINT_NAME)
        .graceful_shutdown(true)
        .start(move |ctx| serve(ctx, listener, rt, counters));
    let endpoint = match started {
        Ok(endpoint) => endpoint,
        // Asked to stop before serving anything: nothing to drain.
        Err(RuntimeError::ShuttingDown { .. }) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    endpoint.stopped().await?;
    Ok(())
}

/// What the handlers share.
struct App {
    runtime: Runtime,
    ctx: EndpointContext,
    counters: Arc<Counters>,
}

/// The endpoint's future: axum until the drain is over.
async fn serve(
    ctx: EndpointContext,
    listener: TcpListener,
    runtime: Runtime,
    counters: Arc<Counters>,
) -> Result<(), DemoError> {
    let app = Arc::new(App {
        runtime,
        ctx: ctx.clone(),
        counters: Arc::clone(&counters),
    });
    let router = Router::new()
        .route("/work", post(work))
        .route("/stats", get(stats))
        .fallback(not_found)
        .with_state(app);
    let tap = Arc::clone(&counters);
    let listener = listener.tap_io(move |_conn| {
        tap.connections.fetch_add(1, Ordering::SeqCst);
    });
    // Phase 1 (the token) starts the drain, but the listener stays open and answers 503 until
    // the admitted requests are done; then axum stops accepting and finishes every open
    // connection before `serve` returns.
    let drained = async move {
        ctx.cancelled().await;
        tracing::info!(
            endpoint = ENDPOINT_NAME,
            in_flight = counters.in_flight.load(Ordering::SeqCst),
            "draining: new requests get 503, admitted requests finish"
        );
        counters.wait_idle().await;
        tracing::info!(
            endpoint = ENDPOINT_NAME,
            "admitted requests done: closing the listener"
        );
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(drained)
        .await
        .map_err(|source| DemoError::Io {
            what: "serving HTTP".to_owned(),
            source,
        })
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
    let admitted = match app.ctx.begin_request() {
        Ok(guard) => Admitted::new(guard, counters),
        Err(e) => {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            );
        }
    };
    let begin = Instant::now();
    let cpu = Duration::from_millis(request.cpu_ms);
    let submitted = Instant::now();
    let job = app.runtime.compute(move || cpu::burn(cpu)).await;
    let resumed = Instant::now();
    let burnt = match job {
        Ok(burnt) => burnt,
        Err(e) => {
            counters.failed.fetch_add(1, Ordering::SeqCst);
            drop(admitted);
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
    drop(admitted);
    (StatusCode::OK, Json(response)).into_response()
}

async fn stats(State(app): State<Arc<App>>) -> Json<ServiceStats> {
    Json(app.counters.snapshot())
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

/// The service's counters.
#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    admitted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    bad_request: AtomicU64,
    in_flight: AtomicU64,
    idle: Notify,
}

impl Counters {
    fn snapshot(&self) -> ServiceStats {
        ServiceStats {
            connections: self.connections.load(Ordering::SeqCst),
            admitted: self.admitted.load(Ordering::SeqCst),
            completed: self.completed.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
            bad_request: self.bad_request.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
        }
    }

    /// Resolves once no admitted request is in flight. Only meaningful once admissions have
    /// stopped (phase 1), when the count can only go down.
    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// An admitted request: the endpoint's guard plus the service's own count (which the drain
/// waits on to close the listener).
struct Admitted<'a> {
    _guard: InFlightGuard,
    counters: &'a Counters,
}

impl<'a> Admitted<'a> {
    fn new(guard: InFlightGuard, counters: &'a Counters) -> Self {
        counters.admitted.fetch_add(1, Ordering::SeqCst);
        counters.in_flight.fetch_add(1, Ordering::SeqCst);
        Admitted {
            _guard: guard,
            counters,
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if self.counters.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.counters.idle.notify_waiters();
        }
    }
}
