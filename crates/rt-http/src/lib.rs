//! Serve an axum [`Router`](axum::Router) under the runtime's graceful shutdown, losing
//! nothing: every connection the server accepts gets an answer.
//!
//! [`serve`] runs the router as a graceful endpoint of a [`Runtime`](rt_core::Runtime);
//! [`serve_until`] runs it until a token is cancelled (for servers that are not endpoints,
//! such as a status server). Both return a [`Server`]: its address, its
//! [`metrics`](Server::metrics), and [`stopped`](Server::stopped) to await its end.
//!
//! # Guarantees
//!
//! - A request admitted before the drain (phase 1 of the shutdown, or [`Server::stop`]) is
//!   served to the end: it is counted in flight on the endpoint from its head until hyper has
//!   taken the last byte of its answer, so the runtime's phase 2 waits for it and a report at
//!   the deadline names the endpoint.
//! - A request that arrives once the drain has started, on a new or a kept-alive connection,
//!   is answered `503 Service Unavailable` with `Connection: close` and `Retry-After`. Every
//!   answer written during the drain carries `Connection: close`.
//! - The listener stays open through the drain, answering 503, until no admitted request is in
//!   flight (and the [drain linger](ServeOptions::drain_linger) has passed). Then, in this
//!   order: the connections the kernel completed and left in the accept queue are taken (they
//!   get the 503 rather than the reset that closing the listener over them would send), the
//!   listener is closed, every accepted connection is finished, and only then does the server
//!   (and so the endpoint) end.
//! - A connection without a complete request once the drain has started (accepted, part of
//!   a head received, or kept alive between requests) gets the
//!   [shutdown grace](ServeOptions::shutdown_grace) (5 s), counted from the drain's start or
//!   from its accept (or last answer) if later, to send it: a request that arrives gets its
//!   503; a connection holding part of a request head when the grace ends is answered a raw
//!   503 and closed; one that sent nothing is closed (counted in
//!   [`HttpMetrics::connections_closed_unanswered`]). Except: a kept-alive connection still
//!   waiting for its next request when the listener closes is closed then (all its requests
//!   were answered, and its client had the drain and its linger to send one), so that a
//!   router's pooled connections do not hold a drained server for the grace.
//! - A request whose client shut down its write side after sending it (half-close) is
//!   answered.
//! - No client can hold the shutdown longer than the grace: once the drain has started, a
//!   request body still arriving, a write the client does not read, and a connection without
//!   a complete request are each cut at the grace. A body cut this way makes the answer 503
//!   (`Connection: close`) when the handler answered with a 4xx.
//!
//! # Request ids
//!
//! Each request is served under an id: its `x-request-id` when that is 1 to
//! [`MAX_REQUEST_ID_LEN`] visible ASCII characters, else the trace id of its W3C
//! `traceparent`, else a new UUID v4. The handler sees it as the request's `x-request-id`,
//! the answer carries it back, and the request is served inside a `tracing` span with a
//! `request_id` field (target [`rt_core::logging::REQUEST_SPAN_TARGET`]), so that every line
//! logged while serving it carries the id, lines from the compute jobs it starts included. An
//! unusable id is replaced, never logged. [`ServeOptions::request_ids`] turns all of it off.
//!
//! # Timeouts and limits
//!
//! See [`ServeOptions`]: header read (10 s), body read (30 s), idle keep-alive (60 s), write
//! (30 s); at most 4096 open connections (accepting pauses at the limit, logged once), 2 MiB
//! of body (413), 64 KiB of request line and headers (431). A handler that panics is answered
//! 500 and the server keeps serving.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use axum::{routing::get, Router};
//! use rt_core::{config::RuntimeConfig, Runtime};
//! use rt_http::ServeOptions;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RuntimeConfig::builder().num_worker_threads(2).compute_threads(0).build()?;
//! let runtime = Runtime::from_config(config)?;
//! let rt = runtime.clone();
//! runtime.primary().block_on(async move {
//!     let router = Router::new().route("/hello", get(|| async { "hello" }));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let server = rt_http::serve(&rt, "hello", listener, router, ServeOptions::default())?;
//!
//!     // A client (blocking, on its own thread).
//!     let addr = server.local_addr();
//!     let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
//!         let mut stream = std::net::TcpStream::connect(addr)?;
//!         stream.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
//!         let mut answer = String::new();
//!         stream.read_to_string(&mut answer)?;
//!         Ok(answer)
//!     })
//!     .await??;
//!     assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
//!
//!     // SIGTERM would do this: phase 1 starts the server's drain, phase 2 waits for it.
//!     let report = rt.shutdown_and_wait(None).await;
//!     assert!(report.is_clean(), "{report}");
//!     assert!(server.is_stopped());
//!     assert_eq!(server.metrics().responses.success, 1);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod admission;
mod body;
mod error;
mod io;
mod metrics;
mod options;
mod request_id;
mod server;
mod service;
mod state;

pub use error::HttpError;
pub use metrics::{HttpMetrics, StatusClasses, Timeouts};
pub use options::{
    ServeOptions, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_LINGER, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES, DEFAULT_RETRY_AFTER, DEFAULT_SHUTDOWN_GRACE, DEFAULT_WRITE_TIMEOUT,
    MAX_HEADER_BYTES_LIMIT,
};
pub use request_id::{MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER};
pub use server::{serve, serve_until, Server};
