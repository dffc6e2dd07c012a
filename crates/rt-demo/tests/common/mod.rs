//! Helpers shared by the end-to-end tests of the demo service: start the real `demo-service`
//! binary on ephemeral loopback ports, wait for it, read its counters.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use rt_demo::client;
use rt_demo::process::{Addresses, ServiceProcess};
use rt_demo::protocol::ServiceStats;

/// Bound of every wait for something that should take well under a second.
pub const EVENT: Duration = Duration::from_secs(30);

/// Starts `demo-service` with only the `DYN_*` settings given here (none from the
/// environment running the tests): loopback, ephemeral ports for both servers, 2 worker and
/// 2 compute threads, a 30 s shutdown budget, then `env`.
pub fn service(env: &[(&str, &str)]) -> ServiceProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo-service"));
    for (key, _) in std::env::vars() {
        if key.starts_with("DYN_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info")
        .env("DYN_HTTP_HOST", "127.0.0.1")
        .env("DYN_HTTP_PORT", "0")
        .env("DYN_SYSTEM_HOST", "127.0.0.1")
        .env("DYN_SYSTEM_PORT", "0")
        .env("DYN_RUNTIME_NUM_WORKER_THREADS", "2")
        .env("DYN_COMPUTE_THREADS", "2")
        .env("DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT", "30");
    for (k, v) in env {
        cmd.env(k, v);
    }
    ServiceProcess::spawn(cmd).expect("start demo-service")
}

/// [`service`], then waits until it is bound and `/health` says ready.
pub fn ready_service(env: &[(&str, &str)]) -> (ServiceProcess, Addresses) {
    let svc = service(env);
    let addrs = svc
        .wait_for_addresses(EVENT)
        .unwrap_or_else(|e| panic!("{e}\n{}", svc.output_text()));
    let status = addrs.status.expect("status server address");
    wait_until("/health to answer 200", || {
        client::get(status, "/health", EVENT).is_ok_and(|r| r.status == 200)
    });
    (svc, addrs)
}

/// Polls `cond` every 10 ms until it holds; fails the test after [`EVENT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < EVENT, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The service's `GET /stats`.
pub fn stats(http: SocketAddr) -> ServiceStats {
    client::get(http, "/stats", EVENT)
        .expect("GET /stats")
        .json()
        .expect("stats JSON")
}
