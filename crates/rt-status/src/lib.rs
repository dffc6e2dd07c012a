//! The system status server: readiness (`/health`), liveness (`/live`) and Prometheus metrics
//! (`/metrics`) over HTTP, for orchestrators such as Kubernetes.
//!
//! An orchestrator decides from HTTP probes whether to send traffic to a process and whether to
//! restart it. A process that drains but keeps answering "ready" still receives requests it
//! will refuse; this server turns the runtime's state into the answers the probes need:
//!
//! - **readiness** (`GET /health`): 200 while every registered component and endpoint is
//!   `running` and the shutdown has not begun; 503 from phase 1 of the shutdown on, or while
//!   an entry is not yet running, draining, stopped or failed. With nothing registered it
//!   answers the starting health status (`DYN_SYSTEM_STARTING_HEALTH_STATUS`: `ready` → 200,
//!   `notready`, the default, → 503), which the application can change with
//!   [`StatusServer::set_health_status`]. The JSON body lists every entry with its state.
//! - **liveness** (`GET /live`): 200 until phase 3 of the shutdown, then 503.
//! - **metrics** (`GET /metrics`): OpenMetrics text, read from the runtime at each scrape.
//! - **admin calls** (`POST /drain`, `POST /resume`): a drain without exit
//!   ([`rt_core::drain`]): the process leaves the rotation (endpoints answer 503, discovery
//!   deletes its keys), finishes what it admitted and stays alive, `/health` answering 503
//!   with `"drain": "drained"`; the resume puts it back (a new instance id in discovery).
//!   Answered without a token only when the server is bound to a loopback address; otherwise
//!   only with `Authorization: Bearer <token>`, the token of `DYN_SYSTEM_ADMIN_TOKEN_FILE`
//!   (compared in constant time). Refused calls get 403 and a `warn` log line.
//!
//! It lives in its own crate above `rt-core`, so that a service that does not want an HTTP
//! stack (axum, hyper) does not build one, and serves through [`rt_http`]: header, body, idle
//! and write timeouts, connection limits, and a drain that stalled clients cannot hold.
//!
//! # Where it runs and when it stops
//!
//! [`StatusServer::start`] binds the socket at once (a taken port is a start-up error that
//! names host and port) and serves on the runtime's **secondary** tokio runtime, so probes
//! keep getting answers while the primary runtime is saturated with requests. It stops in
//! **phase 3** of the shutdown, through a teardown task: during the drain (phases 1 and 2) it
//! still answers, so that the orchestrator sees the process go not-ready and stops sending
//! traffic before it goes away.
//!
//! # Configuration
//!
//! | key | variable | default | |
//! |---|---|---|---|
//! | `system_host` | `DYN_SYSTEM_HOST` | `0.0.0.0` | address to bind |
//! | `system_port` | `DYN_SYSTEM_PORT` | unset: no server | port; 0 picks a free one ([`StatusServer::local_addr`], logged) |
//! | `system_health_path` | `DYN_SYSTEM_HEALTH_PATH` | `/health` | readiness path |
//! | `system_live_path` | `DYN_SYSTEM_LIVE_PATH` | `/live` | liveness path |
//! | `system_starting_health_status` | `DYN_SYSTEM_STARTING_HEALTH_STATUS` | `notready` | readiness while nothing is registered |
//! | `system_admin_token_file` | `DYN_SYSTEM_ADMIN_TOKEN_FILE` | unset | file with the bearer token of the admin calls |
//!
//! # Example: probes through a shutdown
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{SocketAddr, TcpStream};
//!
//! use rt_core::config::RuntimeConfig;
//! use rt_core::{Runtime, RuntimeError};
//! use rt_status::StatusServer;
//!
//! /// What a probe does: one GET, the status line and body back.
//! fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
//!     let mut stream = TcpStream::connect(addr)?;
//!     write!(stream, "GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")?;
//!     let mut response = String::new();
//!     stream.read_to_string(&mut response)?;
//!     Ok(response)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually from DYN_SYSTEM_HOST / DYN_SYSTEM_PORT; port 0 picks a free port.
//! let config = RuntimeConfig::builder()
//!     .num_worker_threads(1)
//!     .compute_threads(1)
//!     .system_host("127.0.0.1")
//!     .system_port(0)
//!     .build()?;
//! let runtime = Runtime::from_config(config)?;
//! let server = StatusServer::start(&runtime)?.ok_or("DYN_SYSTEM_PORT is not set")?;
//! let addr = server.local_addr();
//!
//! // Nothing registered yet: the starting status, `notready` by default.
//! assert!(get(addr, "/health")?.starts_with("HTTP/1.1 503"));
//!
//! // An endpoint that serves until the shutdown: once it runs, the process is ready.
//! let endpoint = runtime.endpoint("generate").start(|ctx| async move {
//!     ctx.cancelled().await;
//!     Ok::<(), RuntimeError>(())
//! })?;
//! let health = get(addr, "/health")?;
//! assert!(health.starts_with("HTTP/1.1 200"), "{health}");
//! assert!(health.contains(r#""name":"generate","kind":"endpoint","state":"running""#));
//! assert!(get(addr, "/live")?.starts_with("HTTP/1.1 200"));
//! let metrics = get(addr, "/metrics")?;
//! assert!(metrics.contains(r#"dyn_runtime_endpoint_in_flight_requests{endpoint="generate"} 0"#));
//! assert!(metrics.contains(r#"dyn_runtime_shutdown_phase{phase="running"} 1"#));
//!
//! // SIGTERM would do this: drain, then phase 3 stops the server.
//! let report = runtime.primary().block_on(runtime.shutdown_and_wait(None));
//! assert!(report.teardown_completed.iter().any(|t| t == rt_status::TEARDOWN_NAME));
//! assert!(server.is_stopped());
//! assert!(TcpStream::connect(addr).is_err());
//! # drop(endpoint);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! `/metrics` renders the runtime's [`MetricsRegistry`](rt_core::metrics::MetricsRegistry)
//! ([`Runtime::metrics`](rt_core::Runtime::metrics)): the runtime's own families (uptime,
//! shutdown phase and tracker, components, the compute pool, tokio's runtime metrics, the
//! event-loop stall detector), every endpoint's `dyn_runtime_endpoint_*` families (requests by
//! outcome, duration, in flight, errors, bytes), and whatever the application and other crates
//! registered there. `docs/observability.md` lists every family. Before them come the HTTP
//! edge families of this crate:
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `dyn_runtime_http_connections_open` | gauge | `server` | HTTP connections open now |
//! | `dyn_runtime_http_connections_accepted_total` | counter | `server` | HTTP connections accepted |
//! | `dyn_runtime_http_connections_closed_unanswered_total` | counter | `server` | connections closed with no request to answer (timeouts before any byte of a request) |
//! | `dyn_runtime_http_accept_paused_total` | counter | `server` | times accepting paused at the connection limit |
//! | `dyn_runtime_http_requests_admitted_total` | counter | `server` | requests admitted (counted in flight) |
//! | `dyn_runtime_http_requests_refused_total` | counter | `server` | requests refused with 503 because the drain had started |
//! | `dyn_runtime_http_requests_in_flight` | gauge | `server` | requests admitted and not yet answered |
//! | `dyn_runtime_http_responses_total` | counter | `server`, `class` (`1xx` … `5xx`) | responses by status class |
//! | `dyn_runtime_http_timeouts_total` | counter | `server`, `kind` (`header`, `body`, `idle`, `write`, `shutdown_grace`) | timeouts that fired |
//!
//! The compute series other than `dyn_runtime_compute_threads` are absent when the runtime has
//! no compute pool. The `dyn_runtime_http_*` series come from [`rt_http`]'s
//! [`HttpMetrics`](rt_http::HttpMetrics): one set for the status server's own HTTP server
//! (`server="status"`, [`STATUS_HTTP_NAME`]) and one for each server added with
//! [`StatusServer::add_http_server`] (the demo service adds its request server as
//! `server="work"`). They are counts, without a unit. The response's content type is
//! `application/openmetrics-text; version=1.0.0`, which Prometheus scrapes.
#![forbid(unsafe_code)]

mod admin;
mod error;
mod health;
mod metrics;
mod options;
mod server;
mod sources;

pub use error::StatusError;
pub use options::{
    StatusOptions, DEFAULT_DRAIN_PATH, DEFAULT_DRAIN_WAIT, DEFAULT_METRICS_PATH,
    DEFAULT_RESUME_PATH, DEFAULT_STATUS_SHUTDOWN_GRACE,
};
pub use server::{StatusServer, STATUS_HTTP_NAME, TEARDOWN_NAME};
