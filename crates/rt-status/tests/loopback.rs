//! The status server over real loopback HTTP: ephemeral ports on 127.0.0.1, a tiny blocking
//! HTTP/1.1 client, shutdown sequenced with channels and in-flight guards (no sleeps).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use rt_core::config::{HealthStatus, RuntimeConfig};
use rt_core::registry::ComponentKind;
use rt_core::registry::ComponentState;
use rt_core::{Runtime, RuntimeError};
use rt_status::{StatusError, StatusOptions, StatusServer, TEARDOWN_NAME};
use serde_json::Value;

/// A safety net so that a broken server fails the test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// One HTTP response: status code, head (status line and headers), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Sends `raw` on a fresh connection and reads until the server closes it.
fn send(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the status server");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {text:?}"));
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
    send(addr, raw.as_bytes())
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path)
}

fn config() -> rt_core::config::RuntimeConfigBuilder {
    RuntimeConfig::builder()
        .num_worker_threads(1)
        .compute_threads(1)
        .system_host("127.0.0.1")
        .system_port(0)
}

fn runtime() -> Runtime {
    Runtime::from_config(config().build().unwrap()).unwrap()
}

fn start(runtime: &Runtime) -> StatusServer {
    StatusServer::start(runtime)
        .unwrap()
        .expect("system_port is set")
}

/// Starts an endpoint that takes one request at once and hands its in-flight guard back, so
/// that the drain (phase 2) lasts until the test drops it.
fn endpoint_with_one_request(
    runtime: &Runtime,
    name: &str,
) -> (rt_core::EndpointHandle, rt_core::InFlightGuard) {
    let (tx, rx) = mpsc::channel();
    let handle = runtime
        .endpoint(name)
        .start(move |ctx| async move {
            tx.send(ctx.begin_request()?).ok();
            ctx.cancelled().await;
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    let guard = rx
        .recv_timeout(IO_TIMEOUT)
        .expect("the endpoint took its request");
    (handle, guard)
}

#[test]
fn probes_follow_the_shutdown_sequence() {
    let runtime = runtime();
    let server = start(&runtime);
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // Nothing registered: the starting status (notready by default) decides.
    let health = get(addr, "/health");
    assert_eq!(health.status, 503, "{health:?}");
    assert_eq!(health.json()["status"], "notready");
    assert_eq!(health.json()["components"], Value::Array(vec![]));
    assert!(health
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    assert_eq!(get(addr, "/live").status, 200);

    // Running, with one request in flight.
    let (endpoint, guard) = endpoint_with_one_request(&runtime, "generate");
    let health = get(addr, "/health");
    assert_eq!(health.status, 200, "{health:?}");
    let body = health.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["phase"], "running");
    assert_eq!(body["runtime"], runtime.id());
    assert_eq!(body["in_flight"], 1, "the endpoint is tracked");
    assert_eq!(body["components"][0]["name"], "generate");
    assert_eq!(body["components"][0]["kind"], "endpoint");
    assert_eq!(body["components"][0]["state"], "running");
    assert_eq!(body["components"][0]["in_flight"], 1);
    assert!(body["uptime_seconds"].as_f64().is_some_and(|s| s >= 0.0));
    assert_eq!(server.readiness(), HealthStatus::Ready);

    let live = get(addr, "/live");
    assert_eq!(
        (live.status, live.json()["status"].as_str()),
        (200, Some("live"))
    );

    let metrics = get(addr, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/openmetrics-text"));
    for line in [
        r#"dyn_runtime_endpoint_in_flight_requests{endpoint="generate"} 1"#,
        r#"dyn_runtime_shutdown_phase{phase="running"} 1"#,
        r#"dyn_runtime_shutdown_phase{phase="draining"} 0"#,
        "dyn_runtime_shutdown_tracker_active 1",
        r#"dyn_runtime_components{kind="endpoint",state="running"} 1"#,
        "dyn_runtime_compute_threads 1",
        "dyn_runtime_compute_tasks_total 0",
        "# TYPE dyn_runtime_compute_tasks counter",
        "# TYPE dyn_runtime_uptime_seconds gauge",
        "# UNIT dyn_runtime_uptime_seconds seconds",
        "# EOF",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            metrics.body
        );
    }

    // Phase 1: not ready at once, still live, the body still lists the endpoint. The guard
    // keeps the shutdown in phase 2 while we probe.
    runtime.shutdown();
    for _ in 0..2 {
        let health = get(addr, "/health");
        assert_eq!(health.status, 503, "{health:?}");
        let body = health.json();
        assert_eq!(body["status"], "notready");
        assert_eq!(body["phase"], "draining");
        assert_eq!(body["components"][0]["name"], "generate");
        assert_eq!(body["components"][0]["in_flight"], 1);
        let live = get(addr, "/live");
        assert_eq!(live.status, 200, "{live:?}");
        assert_eq!(live.json()["phase"], "draining");
    }
    let metrics = get(addr, "/metrics").body;
    assert!(
        metrics.contains(r#"dyn_runtime_shutdown_phase{phase="draining"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"dyn_runtime_shutdown_phase{phase="running"} 0"#),
        "{metrics}"
    );

    // The request ends: the drain ends, phase 3 stops the server.
    drop(guard);
    let report = runtime
        .primary()
        .block_on(runtime.shutdown_and_wait(Some(IO_TIMEOUT)));
    assert!(!report.deadline_hit, "{report}");
    assert!(
        report.teardown_completed.iter().any(|t| t == TEARDOWN_NAME),
        "{report}"
    );
    assert!(server.is_stopped());
    assert_eq!(endpoint.state(), ComponentState::Stopped);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed after phase 3"
    );
}

#[test]
fn liveness_fails_from_phase_three() {
    let runtime = runtime();
    // Kept alive past its teardown so that phase 3 can be probed.
    let options = StatusOptions::from_config(runtime.config())
        .unwrap()
        .with_stop_on_teardown(false);
    let server = StatusServer::start_with(&runtime, options).unwrap();
    let addr = server.local_addr();

    // A teardown task that holds phase 3 open until the test has probed it.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    runtime
        .shutdown_coordinator()
        .add_teardown("hold phase 3", move || async move {
            entered_tx.send(()).ok();
            release_rx.await.ok();
        });
    runtime.shutdown();
    entered_rx
        .recv_timeout(IO_TIMEOUT)
        .expect("phase 3 started");

    let live = get(addr, "/live");
    assert_eq!(live.status, 503, "{live:?}");
    assert_eq!(live.json()["status"], "stopping");
    assert_eq!(live.json()["phase"], "stopping");
    assert_eq!(get(addr, "/health").status, 503);

    release_tx.send(()).ok();
    let report = runtime
        .primary()
        .block_on(runtime.shutdown_and_wait(Some(IO_TIMEOUT)));
    assert!(
        !report.teardown_completed.iter().any(|t| t == TEARDOWN_NAME),
        "{report}"
    );
    let live = get(addr, "/live");
    assert_eq!(
        (live.status, live.json()["phase"].as_str()),
        (503, Some("stopped"))
    );
    let metrics = get(addr, "/metrics").body;
    assert!(
        metrics.contains(r#"dyn_runtime_shutdown_phase{phase="stopped"} 1"#),
        "{metrics}"
    );

    server.stop();
    runtime.primary().block_on(server.stopped());
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn a_port_in_use_is_a_startup_error_naming_host_and_port() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let runtime = Runtime::from_config(config().system_port(port).build().unwrap()).unwrap();

    let error = StatusServer::start(&runtime).unwrap_err();
    match &error {
        StatusError::Bind {
            host,
            port: p,
            source,
        } => {
            assert_eq!((host.as_str(), *p), ("127.0.0.1", port));
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("DYN_SYSTEM_PORT"), "{message}");

    // Nothing was left behind: the shutdown has no status-server teardown.
    let report = runtime
        .primary()
        .block_on(runtime.shutdown_and_wait(Some(IO_TIMEOUT)));
    assert!(report.teardown_completed.is_empty(), "{report}");
}

#[test]
fn malformed_requests_get_4xx_and_the_server_keeps_serving() {
    let runtime = runtime();
    let server = start(&runtime);
    let addr = server.local_addr();

    let bad: [(&[u8], u16); 6] = [
        (b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n", 400),
        (b"THIS IS NOT HTTP\r\n\r\n", 400),
        (b"GET /live HTTP/1.1\r\nHost: probe\r\nbroken header line\r\n\r\n", 400),
        (b"DELETE /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n", 405),
        (b"POST /metrics HTTP/1.1\r\nHost: probe\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", 405),
        (b"GET /no/such/path HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n", 404),
    ];
    for (raw, expected) in bad {
        let reply = send(addr, raw);
        assert_eq!(
            reply.status,
            expected,
            "{:?} -> {reply:?}",
            String::from_utf8_lossy(raw)
        );
        if expected == 405 {
            assert!(
                reply.head.to_ascii_lowercase().contains("allow: get, head"),
                "{reply:?}"
            );
        }
        // The server keeps serving.
        assert_eq!(get(addr, "/live").status, 200);
    }

    // A client that sends half a request and hangs up.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /hea").unwrap();
    drop(half);
    assert_eq!(get(addr, "/live").status, 200);

    // HEAD is answered like GET, without a body.
    let head = request(addr, "HEAD", "/live");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn invalid_paths_are_refused_before_binding() {
    let runtime = runtime();
    let options = StatusOptions::new("127.0.0.1", 0).with_health_path("health");
    let error = StatusServer::start_with(&runtime, options).unwrap_err();
    assert!(
        matches!(
            error,
            StatusError::InvalidOption {
                option: "health_path",
                ..
            }
        ),
        "{error:?}"
    );
    let options = StatusOptions::new("127.0.0.1", 0).with_metrics_path("/live");
    let error = StatusServer::start_with(&runtime, options).unwrap_err();
    assert!(error.to_string().contains("metrics_path"), "{error}");
}

#[test]
fn no_port_no_server() {
    let runtime = Runtime::from_config(config().system_port(None).build().unwrap()).unwrap();
    assert!(StatusServer::start(&runtime).unwrap().is_none());
}

#[test]
fn the_starting_status_and_the_application_decide_while_nothing_is_registered() {
    let runtime = Runtime::from_config(
        config()
            .system_starting_health_status(HealthStatus::Ready)
            .build()
            .unwrap(),
    )
    .unwrap();
    let server = start(&runtime);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/health").status, 200);
    server.set_health_status(HealthStatus::NotReady);
    assert_eq!(get(addr, "/health").status, 503);
    server.set_health_status(HealthStatus::Ready);
    assert_eq!(get(addr, "/health").status, 200);

    // Once something is registered, the registry decides.
    let cache = runtime
        .registry()
        .register("kv-cache", ComponentKind::Component)
        .unwrap();
    let health = get(addr, "/health");
    assert_eq!(
        health.status, 503,
        "registered, not running yet: {health:?}"
    );
    assert_eq!(health.json()["components"][0]["state"], "registered");
    cache.set_state(ComponentState::Running).unwrap();
    assert_eq!(get(addr, "/health").status, 200);
    cache.fail("backend unreachable").unwrap();
    let health = get(addr, "/health");
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["components"][0]["state"], "failed");
    assert_eq!(
        health.json()["components"][0]["error"],
        "backend unreachable"
    );
    assert!(health.body.contains("backend unreachable"));
    let metrics = get(addr, "/metrics").body;
    assert!(metrics.contains(r#"dyn_runtime_components{kind="component",state="failed"} 1"#));
}

#[test]
fn probes_answer_while_the_primary_runtime_is_saturated() {
    // One primary worker, blocked by a task until the probes are done.
    let runtime = runtime();
    let server = start(&runtime);
    let addr = server.local_addr();
    let (blocked_tx, blocked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = runtime.primary().spawn(async move {
        blocked_tx.send(()).ok();
        // Blocks the primary's only worker thread on purpose.
        release_rx.recv().ok();
    });
    blocked_rx
        .recv_timeout(IO_TIMEOUT)
        .expect("the primary worker is blocked");

    assert_eq!(get(addr, "/live").status, 200);
    assert_eq!(get(addr, "/health").status, 503);
    assert_eq!(get(addr, "/metrics").status, 200);

    release_tx.send(()).unwrap();
    runtime.primary().block_on(blocker).unwrap();
}

#[test]
fn an_endpoint_name_registered_again_has_one_in_flight_series() {
    let runtime = runtime();
    let server = start(&runtime);
    let registry = runtime.registry();
    let first = registry
        .register("generate", ComponentKind::Endpoint)
        .unwrap();
    first.set_state(ComponentState::Stopped).unwrap();
    let second = registry
        .register("generate", ComponentKind::Endpoint)
        .unwrap();
    second.set_state(ComponentState::Running).unwrap();
    let metrics = get(server.local_addr(), "/metrics").body;
    let series = r#"dyn_runtime_endpoint_in_flight_requests{endpoint="generate"}"#;
    assert_eq!(metrics.matches(series).count(), 1, "{metrics}");
    assert!(metrics.contains(r#"dyn_runtime_components{kind="endpoint",state="running"} 1"#));
    assert!(metrics.contains(r#"dyn_runtime_components{kind="endpoint",state="stopped"} 0"#));
}
