//! The server process of the `http` benchmark's memory case: one router served either through
//! `rt_http::serve` or through plain `axum::serve`, on the same runtime shape (an owned
//! `rt_core::Runtime`, 2 workers, no compute pool), and nothing else, so that its resident
//! memory is the server's.
//!
//! Usage: `http_probe <rt-http|axum> <connections>`. It raises its open-file limit to
//! `connections` plus a margin (and fails with a message saying what to change when it
//! cannot), binds `127.0.0.1:0`, prints `ready <port>` on stdout, and serves until it is
//! killed (the bench sends `SIGTERM` to its pid and reaps it). Routes, the same for both:
//!
//! - `GET /`: `hello` (the warm-up);
//! - `GET /hold`: counts the request as held, then waits until `/release` is called, then
//!   answers `released`;
//! - `GET /held`: the number of requests that have entered `/hold`;
//! - `GET /release`: releases every held request (and any later one).

use std::error::Error;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use rt_http::ServeOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Open files beyond the connections: the listener, the runtime's own descriptors, the
/// bench's control connections.
const FD_MARGIN: usize = 256;

/// The router: the same `Router` value is given to either server.
fn router() -> Router {
    let (release, released) = watch::channel(false);
    let release = Arc::new(release);
    let held = Arc::new(AtomicUsize::new(0));
    let hold = {
        let held = Arc::clone(&held);
        move || {
            let mut released = released.clone();
            let held = Arc::clone(&held);
            async move {
                held.fetch_add(1, Ordering::SeqCst);
                // An error means the sender is gone: the process is ending anyway.
                let _ = released.wait_for(|r| *r).await;
                "released"
            }
        }
    };
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/hold", get(hold))
        .route(
            "/held",
            get(move || {
                let n = held.load(Ordering::SeqCst);
                async move { n.to_string() }
            }),
        )
        .route(
            "/release",
            get(move || {
                release.send_replace(true);
                async { "ok" }
            }),
        )
}

fn main() -> Result<(), Box<dyn Error>> {
    let usage = "usage: http_probe <rt-http|axum> <connections>";
    let mut args = std::env::args().skip(1);
    let kind = args.next().ok_or(usage)?;
    let connections: usize = args.next().ok_or(usage)?.parse()?;
    if kind != "rt-http" && kind != "axum" {
        return Err(usage.into());
    }
    rt_benches::raise_nofile(u64::try_from(connections + FD_MARGIN)?)?;
    let runtime = rt_benches::server_runtime().map_err(|e| e.to_string())?;
    let rt = runtime.clone();
    runtime.primary().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        // Held to the end of the process: dropping the handle would not stop the server, but
        // keeping it makes the intent plain.
        let _server = if kind == "rt-http" {
            let options = ServeOptions::default().with_max_connections(connections + FD_MARGIN);
            Some(rt_http::serve(
                &rt,
                "http-probe",
                listener,
                router(),
                options,
            )?)
        } else {
            tokio::spawn(async move { axum::serve(listener, router()).await });
            None
        };
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready {port}")?;
            out.flush()?;
        }
        std::future::pending::<()>().await;
        Ok(())
    })
}
